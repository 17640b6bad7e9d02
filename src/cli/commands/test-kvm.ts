// `heyvm test-kvm`: checks that KVM really runs a guest here (a libvirt sandbox with accel kvm).
import { selfTestCommand } from "../self-test-command.js";

export const testKvmCommand = selfTestCommand("kvm", "self-test: check KVM (device, CPU flag, module), then boot a throwaway libvirt sandbox that must run with KVM");
