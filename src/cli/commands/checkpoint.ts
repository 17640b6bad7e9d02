// `heyvm checkpoint <dep-…>` and `heyvm restore <dep-…>`: cold-store a cloud sandbox (stopped,
// its disk and workspace kept, its host resources freed; status cold-stored) and bring it back
// under the same id.
import type { Deployment } from "../../cloud/schema.js";
import type { HeyoHome } from "../../state/home.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand, type CommandSpec } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

function coldStoreCommand(name: string, description: string, operate: (home: HeyoHome, id: string) => Promise<Deployment>): CommandSpec<never> {
  return defineCommand<FormatFlags>({
    name,
    description,
    arguments: [{ name: "<id>", description: "the cloud sandbox (dep-…)" }],
    options: FORMAT_OPTIONS,
    async run({ io, args: [id], flags }) {
      const deployment = await operate(heyoHome(), String(id));
      if (wantsJson(flags)) return printJson(io, deployment);
      print(io, `${deployment.id}: ${deployment.status}`);
    },
  });
}

export const checkpointCommand = coldStoreCommand("checkpoint", "cold-store a cloud sandbox: stop it, keep its disk and workspace, free the host's resources (status cold-stored)", async (home, id) =>
  (await import("../../core/cloud-cold-store.js")).checkpointCloudSandbox(home, id),
);

export const restoreCommand = coldStoreCommand("restore", "bring a cold-stored cloud sandbox back, under the same id", async (home, id) =>
  (await import("../../core/cloud-cold-store.js")).restoreCloudSandbox(home, id),
);
