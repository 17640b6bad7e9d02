// Starts the owner process of a sandbox and waits until it says the sandbox is ready (or fails,
// in which case the error carries the tail of owner.log so the user sees why).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { resolve } from "node:path";
import { lastLinesBytes, readBytesFrom } from "../shared/file-tail.js";
import { heyvmBin } from "../shared/heyvm-bin.js";
import { renderLogBytes } from "../shared/log-lines.js";
import { OperationFailedError, TimeoutError } from "../shared/errors.js";
import type { OwnerMode } from "../state/records.js";
import type { SandboxDir } from "../state/sandbox-dir.js";
import { parseTraceLine, traceStep } from "../shared/trace.js";

/** Node flags for the owner: small heaps (it boots, then normally becomes the native monitor). */
const OWNER_NODE_FLAGS = ["--max-semi-space-size=1", "--max-old-space-size=64"];

export interface StartedOwner {
  child: ChildProcess;
}

/** The last lines of owner.log as a terminal may show them (the sandbox's output is in it: shared/log-lines.ts). */
export function logTail(dir: SandboxDir, lines = 15): string {
  const chunk = readBytesFrom(dir.logPath, 0);
  const text = chunk ? renderLogBytes(lastLinesBytes(chunk.bytes, lines)).trimEnd() : "";
  return text || "(owner.log is empty)";
}

/** Spawns the owner detached from this terminal, with its output going to owner.log. */
export async function startOwner(dir: SandboxDir, mode: OwnerMode, timeoutMs: number): Promise<StartedOwner> {
  const log = openSync(dir.logPath, "a");
  const args = [...OWNER_NODE_FLAGS, heyvmBin(), "__sandbox_owner", dir.id];
  if (mode === "attached") args.push("--attached");
  const child = spawn(process.execPath, args, {
    cwd: "/",
    // the owner must use the HEYO_HOME this sandbox lives in (the cloud server keeps its own)
    env: { ...process.env, HEYO_HOME: resolve(dir.root, "..", "..") },
    detached: true,
    stdio: [mode === "attached" ? "pipe" : "ignore", log, log, "pipe"],
  });
  closeSync(log);
  traceStep(`start: owner process ${child.pid ?? "?"} spawned`);
  const readiness = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void } | null;
  if (!readiness) throw new OperationFailedError("could not open the owner's readiness pipe");
  let answer = "";
  readiness.setEncoding("utf8");
  readiness.on("data", (chunk: string) => (answer += chunk));

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGTERM");
        reject(new TimeoutError(`sandbox ${dir.id} was not ready after ${Math.round(timeoutMs / 1000)} s; last lines of owner.log:\n${logTail(dir)}`, `see \`heyvm logs ${dir.id}\``));
      }, timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        const lines = answer.split("\n").filter((line) => line !== "");
        for (const event of lines.map(parseTraceLine)) if (event) traceStep(`owner: ${event.step}`, event.at);
        const said = lines.filter((line) => !parseTraceLine(line)).join("\n");
        if (said.startsWith("ready")) resolve();
        else {
          const why = said.replace(/^failed: /, "").trim() || "the owner process exited";
          reject(new OperationFailedError(`sandbox ${dir.id} failed to start: ${why}\nlast lines of owner.log:\n${logTail(dir)}`, `see \`heyvm logs ${dir.id}\``));
        }
      };
      readiness.on("end", settle);
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } finally {
    readiness.destroy();
  }
  if (mode === "detached") child.unref();
  return { child };
}
