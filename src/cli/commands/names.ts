// The one list of heyvm's commands. main.ts registers only the one being run from it, the fast
// path answers the commands marked `fast` from it, and the CLI test walks it for --help. Plain
// data on purpose: the fast path imports it without loading any command.

export const COMMAND_NAMES = [
  "wt",
  "create",
  "get",
  "start",
  "restart",
  "sh",
  "exec",
  "stop",
  "rm",
  "fork",
  "snapshot",
  "checkpoint",
  "restore",
  "prune",
  "logs",
  "list",
  "bind",
  "unbind",
  "port-forward",
  "wait-for",
  "images",
  "backends",
  "test-firecracker",
  "test-libvirt",
  "test-kvm",
  "archive",
  "list-archives",
  "update",
  "volume",
  "mount-add",
  "run-host",
  "resize",
  "session",
  "login",
  "logout",
  "server",
  "__sandbox_owner",
  "__sandbox_stop",
  "__git_sync",
  "__port_relay",
] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];

/** Commands heyvm runs of itself (the owner, and the stop and git sync its native monitor runs). */
export const INTERNAL_COMMANDS: readonly CommandName[] = ["__sandbox_owner", "__sandbox_stop", "__git_sync", "__port_relay"];

/** Commands whose canonical forms the fast path (cli/fast-path.ts) answers without commander. */
export const FAST_COMMANDS = ["exec", "list"] as const satisfies readonly CommandName[];

export function isCommandName(word: string | undefined): word is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(word ?? "");
}
