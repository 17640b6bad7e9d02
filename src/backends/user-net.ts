// Starting a user-mode network helper (pasta for bubblewrap, passt for VMs; both from Debian's
// `passt` package) the one way both need: as the owner's child with a parent-death signal, so
// it ends with the owner or the native monitor the owner becomes; its output in a log file,
// never a pipe the hand-over would close; ready once it has written its pid file.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { OperationFailedError, UnavailableError } from "../shared/errors.js";
import { findSystemExecutable } from "../shared/run.js";

/** What to say when pasta or passt is missing: the package, or the two modes that need neither. */
export const PASST_PACKAGE_HINT = "install it with `apt-get install passt` (Debian/Ubuntu) or `dnf install passt`, or start the sandbox with --no-network or --network host";

const READY_TIMEOUT_MS = 10_000;

export interface UserNetHelper {
  /** How errors name it, e.g. "the sandbox's network (pasta)". */
  what: string;
  executable: string;
  args: string[];
  /** The helper writes it when it is ready (its --pid option; or the socket it makes). */
  pidFile: string;
  /** Also wait for this text in its log (a helper that has no pid file of its own). */
  readyText?: string;
  logPath: string;
  /** Who it runs as when heyvm is root; undefined keeps heyvm's own user. */
  runAs?: { uid: number; gid: number };
  /** Words that run first, as root: joining the sandbox's cgroup (vm-host-limits.ts); then setpriv drops to runAs. */
  entryStep?: readonly string[];
}

/**
 * The line of a helper's log that says why it ended: its last one, leaving out what is not an error —
 * syslog complaints, blank lines and passt's start-up banner (the socket it bound, how to start
 * QEMU with it, indented command examples), which it prints before failing on, say, its pid file.
 */
export function lastErrorLine(log: string): string {
  const banner = /syslog|^\s|^$|^UNIX domain socket bound|^You can now start qemu|^or qrap|^Don't run as root|^Template interface|^MAC:|^DHCP|^DNS|^NDP|^Outbound interface/;
  return log.split("\n").filter((line) => !banner.test(line)).pop() ?? "";
}

function logHas(path: string, text: string): boolean {
  try {
    return readFileSync(path, "utf8").includes(text);
  } catch {
    return false;
  }
}

/** Starts the helper and resolves once it is ready; fails with its last log lines. */
export async function startUserNetHelper(helper: UserNetHelper, signal: AbortSignal): Promise<ChildProcess> {
  const setpriv = findSystemExecutable("setpriv");
  if (!setpriv) throw new UnavailableError("setpriv is not installed", "install util-linux");
  const log = openSync(helper.logPath, "a");
  let child: ChildProcess;
  try {
    const entry = helper.entryStep ?? [];
    // with an entry step, the step joins as root and setpriv drops to runAs; else spawn drops
    const drop = entry.length > 0 && helper.runAs ? [`--reuid=${helper.runAs.uid}`, `--regid=${helper.runAs.gid}`, "--clear-groups"] : [];
    const [file = setpriv, ...args] = [...entry, setpriv, "--pdeathsig", "KILL", ...drop, "--", helper.executable, ...helper.args];
    child = spawn(file, args, {
      stdio: ["ignore", log, log],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      ...(helper.runAs && entry.length === 0 ? { uid: helper.runAs.uid, gid: helper.runAs.gid } : {}),
    });
  } finally {
    closeSync(log);
  }
  const failed = (why: string) => {
    let output = "";
    try {
      output = lastErrorLine(readFileSync(helper.logPath, "utf8"));
    } catch {
      // nothing logged yet
    }
    return new OperationFailedError(`${helper.what} did not start: ${why}${output ? `: ${output}` : ""}`, `see ${helper.logPath}; or start the sandbox with --no-network or --network host`);
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (existsSync(helper.pidFile) && (helper.readyText === undefined || logHas(helper.logPath, helper.readyText))) return child;
    if (child.exitCode !== null || child.signalCode !== null) throw failed(child.signalCode ? `ended by ${child.signalCode}` : `exited with code ${child.exitCode}`);
    if (signal.aborted || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw failed(signal.aborted ? "stopped while starting" : `not ready after ${READY_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((wake) => setTimeout(wake, 10));
  }
}
