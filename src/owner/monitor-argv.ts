// The native owner monitor's command line, in one table: each option, what it means and how it
// is rendered. This table is its documentation; native/monitor/args.c parses the same names.
// The API version comes first, and a monitor that speaks another one refuses to run.
import type { MachineHandover } from "../backends/types.js";
import { STOP_COMMAND_TIMEOUT_MS, STOP_FORCE_WAIT_MS } from "../shared/owner-protocol.js";
import type { GitSyncTrigger } from "./git-watch.js";

/**
 * The version of the contract between the Node owner and the native monitor: this argv, the
 * descriptors it hands over, owner.sock's protocol and the records the monitor writes. Bump it
 * here on any change to them (the monitor's C gets it from here: scripts/native-constants.mjs);
 * a test checks that the built monitor speaks this one.
 */
export const MONITOR_API_VERSION = 4;

/** How the monitor exits when it is given another API version (before it touches anything). */
export const MONITOR_WRONG_VERSION_EXIT_CODE = 3;

/** Everything the hand-over tells the monitor. */
export interface MonitorInvocation {
  id: string;
  logPath: string;
  ownerPath: string;
  exitPath: string;
  liveMarker: string;
  changedMarker: string;
  /** When the sandbox's TTL runs out (Date.now() scale), if it has one. */
  deadlineEpochMs: number | undefined;
  socketPath: string;
  listenFd: number;
  readyFd: number | undefined;
  attached: boolean;
  machine: MachineHandover;
  stopCommand: readonly string[];
  /** The git sync of a sandbox with its own git store (owner/git-watch.ts), if it has one. */
  gitSync?: GitSyncTrigger;
}

type Flag = `--${string}`;
type Value<T> = (invocation: MonitorInvocation) => T;

/**
 * required/optional: `--flag value` (optional ones are left out when undefined); repeated:
 * `--flag value` once per item; switch: `--flag` when true; rest: `-- ITEMS...`, last.
 */
export type MonitorOption = { flag: Flag; meaning: string } & (
  | { kind: "required"; value: Value<string | number> }
  | { kind: "optional"; value: Value<string | number | undefined> }
  | { kind: "repeated"; value: Value<readonly (number | string)[]> }
  | { kind: "switch"; value: Value<boolean> }
  | { kind: "rest"; value: Value<readonly string[]> }
);

export const MONITOR_OPTIONS: readonly MonitorOption[] = [
  { flag: "--api-version", kind: "required", meaning: `the version of this contract; a monitor that speaks another one exits with code ${MONITOR_WRONG_VERSION_EXIT_CODE} at once`, value: () => MONITOR_API_VERSION },
  { flag: "--log", kind: "required", meaning: "owner.log: the monitor's lines and the machine's console are appended to it", value: (i) => i.logPath },
  { flag: "--owner-json", kind: "required", meaning: "owner.json, removed when the owner ends", value: (i) => i.ownerPath },
  { flag: "--exit-json", kind: "required", meaning: "exit.json, written with why the owner ended", value: (i) => i.exitPath },
  { flag: "--live", kind: "required", meaning: "the sandbox's live marker, removed when the owner ends", value: (i) => i.liveMarker },
  { flag: "--changed", kind: "required", meaning: "the sandbox's change marker for the catalog index, created after exit.json is written", value: (i) => i.changedMarker },
  { flag: "--deadline-epoch-ms", kind: "optional", meaning: "when the sandbox's TTL runs out (milliseconds since the epoch): the monitor stops it then", value: (i) => i.deadlineEpochMs },
  { flag: "--socket", kind: "required", meaning: "owner.sock's path, removed when the owner ends", value: (i) => i.socketPath },
  { flag: "--listen-fd", kind: "required", meaning: "owner.sock's listening socket, already listening; the monitor answers on it", value: (i) => i.listenFd },
  { flag: "--ready-fd", kind: "optional", meaning: "the pipe to the heyvm command waiting for readiness: `ready` or `failed: …` is written to it once the monitor runs", value: (i) => i.readyFd },
  { flag: "--child", kind: "required", meaning: "the machine's pid, the owner's child: its end is the sandbox's end, and a forced stop kills it", value: (i) => i.machine.child.pid },
  { flag: "--child-name", kind: "required", meaning: "what the child is called in exit reasons (`bwrap was ended by SIGKILL`)", value: (i) => i.machine.child.name },
  { flag: "--keep-fd", kind: "repeated", meaning: "a pipe to keep open and never touch (virsh's stdin: closing it ends the domain)", value: (i) => i.machine.keepFds },
  { flag: "--console-fd", kind: "repeated", meaning: "a pipe carrying the machine's console, logged line by line", value: (i) => i.machine.consoleFds },
  { flag: "--drain-fd", kind: "repeated", meaning: "a pipe read and discarded, so that the child never blocks on it", value: (i) => i.machine.drainFds },
  { flag: "--watch-pid", kind: "optional", meaning: "a process that is the machine without being the child (QEMU under libvirtd): its end is the sandbox's end too", value: (i) => i.machine.watch?.pid },
  { flag: "--watch-reason", kind: "optional", meaning: "the exit reason when the watched process ends (given with --watch-pid)", value: (i) => i.machine.watch?.reason },
  { flag: "--follow", kind: "optional", meaning: "a file the machine's console goes to, followed into owner.log", value: (i) => i.machine.follow?.path },
  { flag: "--follow-offset", kind: "optional", meaning: "how many bytes of the followed file are logged already (given with --follow)", value: (i) => i.machine.follow?.offset },
  { flag: "--clean-up-after-end", kind: "switch", meaning: "when the machine ends on its own, run the stop command with --ended appended (within --stop-timeout-ms) before finishing, so that what the machine leaves on the host (a TAP device) goes at once", value: (i) => i.machine.cleanUpAfterEnd === true },
  { flag: "--attached", kind: "switch", meaning: "stdin is the attached heyvm command's pipe: its end is a stop", value: (i) => i.attached },
  { flag: "--stop-timeout-ms", kind: "required", meaning: "how long the stop command may run before it and the machine are ended by force", value: () => STOP_COMMAND_TIMEOUT_MS },
  { flag: "--force-wait-ms", kind: "required", meaning: "how long, after the forced end, to wait for a watched process to end", value: () => STOP_FORCE_WAIT_MS },
  { flag: "--git-watch", kind: "repeated", meaning: "a file whose change (in its folder: created, renamed onto, written, removed; `*`: any file there) runs the git sync: the branch in the sandbox's store and the host's branches and tags, packed-refs on both sides, the worktree's .git", value: (i) => i.gitSync?.watch ?? [] },
  { flag: "--git-sync-arg", kind: "repeated", meaning: "the git sync command, one word each (`heyvm __git_sync <id>`); none: no git sync", value: (i) => i.gitSync?.command ?? [] },
  { flag: "--git-sync-interval-ms", kind: "optional", meaning: "the git sync also runs this often, whatever was seen (given with --git-sync-arg)", value: (i) => i.gitSync?.intervalMs },
  { flag: "--", kind: "rest", meaning: "the stop command and its arguments (the backend's graceful shutdown), run on a stop request", value: (i) => i.stopCommand },
];

function render(option: MonitorOption, invocation: MonitorInvocation): string[] {
  switch (option.kind) {
    case "required":
      return [option.flag, String(option.value(invocation))];
    case "optional": {
      const value = option.value(invocation);
      return value === undefined ? [] : [option.flag, String(value)];
    }
    case "repeated":
      return option.value(invocation).flatMap((item) => [option.flag, String(item)]);
    case "switch":
      return option.value(invocation) ? [option.flag] : [];
    case "rest":
      return [option.flag, ...option.value(invocation)];
  }
}

/** The monitor's argv; argv[0..3] keep the process looking like `heyvm __sandbox_owner <id>` in ps. */
export function monitorArgv(invocation: MonitorInvocation): string[] {
  return ["heyvm", "__sandbox_owner", invocation.id, "--monitor", ...MONITOR_OPTIONS.flatMap((option) => render(option, invocation))];
}
