// Runs a process with the user's terminal attached and returns its exit status the way a shell
// would (128 + signal number when it was killed). heyvm itself ignores the terminal's SIGINT
// and SIGQUIT meanwhile (the child receives them too) and passes SIGTERM/SIGHUP on.
import { spawn } from "node:child_process";
import { exitStatus } from "../shared/exit-status.js";
import { UnavailableError, isErrnoError } from "../shared/errors.js";
import type { SpawnSpec } from "../backends/types.js";

export function runInteractive(command: SpawnSpec): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command.file, command.args, { stdio: "inherit", env: command.env ?? process.env });
    const ignore = () => undefined;
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers: Array<[NodeJS.Signals, () => void]> = [
      ["SIGINT", ignore],
      ["SIGQUIT", ignore],
      ["SIGTERM", forward("SIGTERM")],
      ["SIGHUP", forward("SIGHUP")],
    ];
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const cleanup = () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    };
    child.on("error", (error) => {
      cleanup();
      if (isErrnoError(error) && error.code === "ENOENT") reject(new UnavailableError(`${command.file} is not installed`));
      else reject(error);
    });
    child.on("exit", (code, signal) => {
      cleanup();
      resolve(exitStatus(code, signal));
    });
  });
}
