// `heyvm test-firecracker`, `test-libvirt`, `test-kvm`: boot a throwaway sandbox on a backend,
// run a command, write /workspace both ways, stop it, and report each step with its timing, in
// a form a user can paste into a bug report. The outcome is remembered per host (state/
// self-tests.ts): firecracker is picked by default only where it has passed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { hostname, release, tmpdir } from "node:os";
import { join } from "node:path";
import { loadBackend } from "../backends/registry.js";
import { kvmModules, kvmStatus } from "../backends/kvm.js";
import { readLibvirtMachine } from "../backends/libvirt/machine.js";
import type { Reporter } from "../backends/types.js";
import type { BackendName } from "../shared/backend-name.js";
import { errorMessage } from "../shared/errors.js";
import { run } from "../shared/run.js";
import { VERSION } from "../shared/version.js";
import type { HeyoHome } from "../state/home.js";
import { readOwner } from "../state/records.js";
import { writeSelfTest } from "../state/self-tests.js";
import type { SandboxEntry } from "./catalog.js";
import { stopEntry } from "./stop.js";
import { captureInWorkspaceSandbox } from "./workspace-sandbox.js";
import { wtDetached } from "./wt.js";

export type SelfTestSubject = "firecracker" | "libvirt" | "kvm";

export interface SelfTestStep {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export interface SelfTestReport {
  subject: SelfTestSubject;
  backend: BackendName;
  passed: boolean;
  at: string;
  host: string;
  kernel: string;
  heyvm: string;
  /** What the backend's probe said (versions, KVM or not, a stand-in). */
  notes: string[];
  steps: SelfTestStep[];
}

class StepFailed extends Error {}

/** What a failed KVM check means for a user: which backends still work here, and how. */
const KVM_MISSING_MEANS = "No VM was booted. Without KVM, libvirt sandboxes run under QEMU's software emulation (TCG: slower; `heyvm test-libvirt` checks that here) and firecracker cannot run";

async function timed(steps: SelfTestStep[], name: string, body: () => Promise<string>): Promise<void> {
  const started = Date.now();
  try {
    const detail = await body();
    steps.push({ name, ok: true, detail, ms: Date.now() - started });
  } catch (error) {
    steps.push({ name, ok: false, detail: errorMessage(error), ms: Date.now() - started });
    throw new StepFailed(name);
  }
}

async function capture(entry: SandboxEntry, argv: string[]): Promise<string> {
  const result = await captureInWorkspaceSandbox(entry, argv, { maxOutputBytes: 64 * 1024 });
  if (result.exitCode !== 0) throw new Error(`\`${argv.join(" ")}\` exited with ${result.exitCode}: ${(result.stderr || result.stdout).trim().split("\n").pop() ?? ""}`);
  return result.stdout;
}

async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return check();
}

/** Runs the self-test; never throws for a failing step (the report says which one failed). */
export async function runSelfTest(home: HeyoHome, subject: SelfTestSubject, reporter: Reporter): Promise<SelfTestReport> {
  const backendName: BackendName = subject === "kvm" ? "libvirt" : subject;
  const steps: SelfTestStep[] = [];
  const notes: string[] = [];
  let version: string = subject;
  const root = mkdtempSync(join(tmpdir(), `heyvm-selftest-${subject}-`));
  let entry: SandboxEntry | undefined;
  try {
    if (subject === "kvm") {
      await timed(steps, "kvm", async () => {
        const kvm = kvmStatus();
        const modules = kvmModules();
        const loaded = modules.length > 0 ? ` (modules: ${modules.join(", ")})` : "";
        if (!kvm.usable) throw new Error(`${kvm.reason}${loaded}. ${KVM_MISSING_MEANS}`);
        return `${kvm.reason}${loaded}`;
      });
    }
    const backend = await loadBackend(backendName);
    await timed(steps, "probe", async () => {
      const availability = await backend.probe();
      if (!availability.usable) throw new Error(`${availability.reason} (${availability.hint})`);
      notes.push(...availability.notes);
      if (backendName === "firecracker") version = availability.notes[0] ?? subject;
      return availability.degraded ? `usable, degraded: ${availability.degraded}` : `usable (${availability.notes.join(", ")})`;
    });
    const repo = join(root, "repo");
    await timed(steps, "repository", async () => {
      await run("git", ["init", "-q", "-b", "main", repo]);
      writeFileSync(join(repo, "README.md"), "heyvm self-test\n");
      await run("git", ["-C", repo, "add", "."]);
      await run("git", ["-C", repo, "-c", "user.name=heyvm", "-c", "user.email=self-test@heyvm.local", "commit", "-qm", "self-test"]);
      return repo;
    });
    const worktree = join(root, "worktree");
    await timed(steps, "boot", async () => {
      const started = await wtDetached(home, { branch: `heyvm-self-test/${subject}`, cwd: repo, path: worktree, backend: backendName, network: "none", tty: false }, reporter);
      entry = started.entry;
      const owner = readOwner(entry.dir);
      const accel = owner ? (readLibvirtMachine(owner).accel ?? undefined) : undefined;
      if (subject === "kvm" && accel !== "kvm") throw new Error(`the VM ran with ${accel ?? "an unknown accelerator"}, not KVM`);
      return `${entry.spec.id} ready${accel ? ` (${accel})` : ""}`;
    });
    const sandbox = entry as SandboxEntry | undefined;
    if (!sandbox) throw new StepFailed("boot");
    await timed(steps, "exec", async () => (await capture(sandbox, ["uname", "-srm"])).trim());
    await timed(steps, "workspace host→guest", async () => {
      writeFileSync(join(worktree, "from-host.txt"), "written on the host\n");
      const seen = await eventually(async () => (await capture(sandbox, ["cat", "from-host.txt"]).catch(() => "")) === "written on the host\n", 10_000);
      if (!seen) throw new Error("a file written on the host did not show in /workspace within 10 s");
      return "a file written on the host reads the same inside";
    });
    await timed(steps, "workspace guest→host", async () => {
      await capture(sandbox, ["sh", "-c", "echo written in the guest > from-guest.txt"]);
      const path = join(worktree, "from-guest.txt");
      if (!existsSync(path) || readFileSync(path, "utf8") !== "written in the guest\n") throw new Error("a file written in /workspace did not appear in the worktree");
      return "a file written inside reads the same on the host";
    });
    await timed(steps, "stop", async () => {
      const stopped = await stopEntry(home, sandbox);
      if (!stopped.wasRunning) throw new Error("the sandbox was no longer running");
      return "stopped";
    });
  } catch (error) {
    if (!(error instanceof StepFailed)) steps.push({ name: "self-test", ok: false, detail: errorMessage(error), ms: 0 });
  } finally {
    if (entry) {
      await stopEntry(home, entry).catch(() => undefined);
      rmSync(entry.dir.root, { recursive: true, force: true });
    }
    rmSync(root, { recursive: true, force: true });
  }
  const report: SelfTestReport = {
    subject,
    backend: backendName,
    passed: steps.length > 0 && steps.every((step) => step.ok) && steps.some((step) => step.name === "stop"),
    at: new Date().toISOString(),
    host: hostname(),
    kernel: release(),
    heyvm: VERSION,
    notes,
    steps,
  };
  writeSelfTest(home, { subject, passed: report.passed, at: report.at, host: report.host, version });
  return report;
}
