// Loads a command's declaration by name; each lives in its own file and is imported only when
// that command runs (the record's type makes every name in names.ts have a loader).
import type { CommandSpec } from "../command.js";
import type { CommandName } from "./names.js";

export const COMMAND_LOADERS: Record<CommandName, () => Promise<CommandSpec<never>>> = {
  wt: async () => (await import("./wt.js")).wtCommand,
  create: async () => (await import("./create.js")).createCommand,
  get: async () => (await import("./get.js")).getCommand,
  start: async () => (await import("./start.js")).startCommand,
  restart: async () => (await import("./restart.js")).restartCommand,
  rm: async () => (await import("./rm.js")).rmCommand,
  prune: async () => (await import("./prune.js")).pruneCommand,
  sh: async () => (await import("./sh.js")).shCommand,
  exec: async () => (await import("./exec.js")).execCommand,
  stop: async () => (await import("./stop.js")).stopCommand,
  logs: async () => (await import("./logs.js")).logsCommand,
  list: async () => (await import("./list.js")).listCommand,
  bind: async () => (await import("./bind.js")).bindCommand,
  unbind: async () => (await import("./unbind.js")).unbindCommand,
  "port-forward": async () => (await import("./port-forward.js")).portForwardCommand,
  "wait-for": async () => (await import("./wait-for.js")).waitForCommand,
  images: async () => (await import("./images.js")).imagesCommand,
  backends: async () => (await import("./backends.js")).backendsCommand,
  "test-firecracker": async () => (await import("./test-firecracker.js")).testFirecrackerCommand,
  "test-libvirt": async () => (await import("./test-libvirt.js")).testLibvirtCommand,
  "test-kvm": async () => (await import("./test-kvm.js")).testKvmCommand,
  login: async () => (await import("./login.js")).loginCommand,
  logout: async () => (await import("./logout.js")).logoutCommand,
  server: async () => (await import("./server.js")).serverCommand,
  __sandbox_owner: async () => (await import("./sandbox-owner.js")).sandboxOwnerCommand,
  __sandbox_stop: async () => (await import("./sandbox-stop.js")).sandboxStopCommand,
  __git_sync: async () => (await import("./git-sync.js")).gitSyncCommand,
  __port_relay: async () => (await import("./port-relay.js")).portRelayCommand,
};
