// `heyvm test-firecracker`: boots a throwaway firecracker sandbox and reports each step.
import { selfTestCommand } from "../self-test-command.js";

export const testFirecrackerCommand = selfTestCommand(
  "firecracker",
  "self-test: boot a throwaway firecracker sandbox, run a command, write /workspace both ways, stop it; firecracker becomes the default only once this passed here",
);
