// `heyvm test-libvirt`: boots a throwaway libvirt sandbox and reports each step.
import { selfTestCommand } from "../self-test-command.js";

export const testLibvirtCommand = selfTestCommand("libvirt", "self-test: boot a throwaway libvirt sandbox, run a command, write /workspace both ways, stop it");
