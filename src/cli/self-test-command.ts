// The three self-test commands (test-firecracker, test-libvirt, test-kvm) differ only in what
// they test: one declaration made here, and one report format a user can paste into a bug report.
import type { SelfTestReport, SelfTestSubject } from "../core/self-test.js";
import { heyoHome } from "../state/home.js";
import { defineCommand, type CommandSpec } from "./command.js";
import { print, printJson, stderrReporter } from "./io.js";

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

/** The plain-text report: a header with the host, one line per step, the verdict. */
export function renderSelfTest(report: SelfTestReport): string {
  const width = Math.max(...report.steps.map((step) => step.name.length), 4);
  const lines = [
    `heyvm test-${report.subject}: ${report.passed ? "PASS" : "FAIL"}`,
    `  host ${report.host}, kernel ${report.kernel}, heyvm ${report.heyvm}, ${report.at}`,
    `  backend ${report.backend}${report.notes.length ? ` (${report.notes.join(", ")})` : ""}`,
    ...report.steps.map((step) => `  ${step.ok ? "ok  " : "FAIL"} ${step.name.padEnd(width)}  ${formatMs(step.ms).padStart(8)}  ${step.detail}`),
  ];
  if (!report.passed) lines.push("", "Paste this report into a bug report; `heyvm backends` says what each backend needs.");
  return lines.join("\n");
}

export function selfTestCommand(subject: SelfTestSubject, description: string): CommandSpec<never> {
  return defineCommand<{ format: string; json?: boolean }>({
    name: `test-${subject}`,
    description,
    options: [
      { flags: "--format <format>", description: "text or json", default: "text", choices: ["text", "json"] },
      { flags: "--json", description: "same as --format json", hidden: true },
    ],
    async run({ io, flags }) {
      const { runSelfTest } = await import("../core/self-test.js");
      const json = flags.json || flags.format === "json";
      const report = await runSelfTest(heyoHome(), subject, stderrReporter(io, json));
      if (json) printJson(io, report);
      else print(io, renderSelfTest(report));
      return report.passed ? 0 : 1;
    },
  });
}
