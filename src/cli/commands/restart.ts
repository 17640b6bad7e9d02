// `heyvm restart <id>`: stop a sandbox (if it runs) and boot it again from its record.
import { bootCommand } from "./start.js";

export const restartCommand = bootCommand(
  "restart",
  "stop a sandbox and boot it again from its record",
  async (home, query, reporter) => (await import("../../core/lifecycle.js")).restartSandbox(home, query, reporter),
  async (home, id) => (await import("../../core/cloud-sandboxes.js")).restartCloudSandbox(home, id),
);
