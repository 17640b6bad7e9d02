// The one way heyvm runs git on the host. A repository's config and hooks can name programs
// (core.fsmonitor, hooks, core.sshCommand, a pager, credential helpers…); heyvm's own git calls
// never run them: every call gets the settings below on its command line (which outranks every
// config file) and an environment without the caller's GIT_* variables. Filters (.gitattributes
// naming a filter the user configured, such as git-lfs) stay the user's own tools and do run.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { run, type RunOptions, type RunResult } from "../shared/run.js";

/**
 * `-c` settings that turn off every config key that makes git start a program on its own
 * (git-config(1): core.fsmonitor, core.hooksPath, core.sshCommand, core.gitProxy, core.askPass,
 * core.editor, core.pager, sequence.editor, credential.helper, diff.external, gpg.program,
 * core.alternateRefsCommand; protocol.allow: no transport at all, so no remote helper runs).
 */
export const HARDENED_GIT_CONFIG: readonly string[] = [
  "core.hooksPath=/dev/null",
  "core.fsmonitor=false",
  "core.sshCommand=false",
  "core.gitProxy=",
  "core.askPass=false",
  "core.editor=false",
  "core.pager=cat",
  "sequence.editor=false",
  "credential.helper=",
  "diff.external=",
  "gpg.program=false",
  "gpg.ssh.program=false",
  "gpg.x509.program=false",
  "core.alternateRefsCommand=",
  "protocol.allow=never",
  "uploadpack.packObjectsHook=",
  "maintenance.auto=false",
  "gc.auto=0",
];

/** The -c arguments that go before the subcommand. */
export function hardenedGitArgs(args: readonly string[]): string[] {
  return [...HARDENED_GIT_CONFIG.flatMap((setting) => ["-c", setting]), ...args];
}

/** The caller's environment without GIT_* (GIT_DIR, GIT_SSH_COMMAND…), with git told to ask and show nothing. */
export function hardenedGitEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!key.startsWith("GIT_") && key !== "PAGER" && key !== "EDITOR" && key !== "VISUAL" && key !== "SSH_ASKPASS") env[key] = value;
  return {
    ...env,
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_PAGER: "cat",
    GIT_EDITOR: "false",
    GIT_ASKPASS: "false",
    GIT_NO_REPLACE_OBJECTS: "1",
    GIT_OPTIONAL_LOCKS: "0",
  };
}

/** Runs `git <args>` hardened, collecting its output. */
export function runGit(args: readonly string[], options: Omit<RunOptions, "env"> = {}): Promise<RunResult> {
  return run("git", hardenedGitArgs(args), { ...options, env: hardenedGitEnv() });
}

/** Starts `git <args>` hardened, for streaming (a pack on stdin). */
export function spawnGit(args: readonly string[], options: { cwd?: string; stdio: StdioOptions }): ChildProcess {
  return spawn("git", hardenedGitArgs(args), { cwd: options.cwd, env: hardenedGitEnv(), stdio: options.stdio });
}
