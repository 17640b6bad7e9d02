// `heyvm backends`: every backend with usable / degraded / missing on this host, and why.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { table } from "../render.js";

export const backendsCommand = defineCommand<{ format: string; json?: boolean }>({
  name: "backends",
  description: "show every backend with usable / degraded / missing on this host, why, and which one wt picks",
  options: [
    { flags: "--format <format>", description: "table or json", default: "table", choices: ["table", "json"] },
    { flags: "--json", description: "same as --format json", hidden: true },
  ],
  helpAfter: "\ndegraded: works, but in a slow or unproven mode, so it is used only when named with --backend.\nA self-test (`heyvm test-firecracker`, `test-libvirt`, `test-kvm`) boots a throwaway sandbox to check a backend here.",
  async run({ io, flags }) {
    const { backendRows } = await import("../../core/backends.js");
    const rows = await backendRows(heyoHome());
    if (flags.json || flags.format === "json") {
      return printJson(io, rows.map((r) => ({ name: r.name, status: r.status, reason: r.reason, hint: r.hint, notes: r.notes, workspace: r.workspace, virtual_machine: r.virtualMachine, default: r.isDefault, self_test: r.selfTest && { passed: r.selfTest.passed, at: r.selfTest.at, host: r.selfTest.host, version: r.selfTest.version } })));
    }
    print(io, table(["BACKEND", "STATUS", "DEFAULT", "/WORKSPACE", "SELF-TEST", "WHY / NOTES"], rows.map((r) => [
      r.name,
      r.status,
      r.isDefault ? "yes" : "",
      r.workspace ?? "-",
      r.selfTest ? `${r.selfTest.passed ? "passed" : "failed"} ${r.selfTest.at.slice(0, 10)}` : "-",
      [r.reason, r.hint ? `(${r.hint})` : null, r.status === "usable" ? r.notes.join(", ") : null].filter(Boolean).join(" "),
    ])));
  },
});
