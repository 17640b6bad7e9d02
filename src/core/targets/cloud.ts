// A cloud sandbox (dep-…) behind the SandboxTarget operations, over the cloud client: the same
// shapes as the local ones.
import { resolveCloudUrl, resolveToken } from "../../cloud/credentials.js";
import { CloudClient } from "../../cloud/client.js";
import { renderLogText } from "../../shared/log-lines.js";
import { shellQuote } from "../../shared/shell-quote.js";
import { escapeControls } from "../../shared/terminal-text.js";
import { EXEC_TIMEOUT_MAX_SECONDS, isActiveDeployment, type Deployment } from "../../cloud/schema.js";
import type { HeyoHome } from "../../state/home.js";
import { timedOut, wrapCommand } from "../exec-wrap.js";
import type { SandboxTarget, UserTerminal } from "./types.js";

const LOG_POLL_MS = 500;

async function cloudShell(client: CloudClient, token: string, id: string, terminal: UserTerminal): Promise<number> {
  const { CloudShell } = await import("../../cloud/shell-client.js");
  const shell = new CloudShell(
    { url: client.shellUrl(id), token, ...terminal.size() },
    {
      output: (data) => terminal.output.write(data),
      reconnecting: (attempt) => terminal.notices.write(`\r\n[heyvm: connection to ${id} lost, reconnecting (attempt ${attempt})…]\r\n`),
      reconnected: () => terminal.notices.write(`[heyvm: reconnected]\r\n`),
    },
  );
  await shell.open();
  const { input } = terminal;
  const onData = (chunk: Buffer) => shell.write(chunk);
  const onEnd = () => {
    if (!terminal.tty) shell.write(Buffer.from([4])); // end of piped input: ^D to the remote shell
  };
  if (terminal.tty) terminal.setRawMode(true);
  input.on("data", onData);
  input.on("end", onEnd);
  input.resume();
  const stopResizing = terminal.onResize(() => {
    const { cols, rows } = terminal.size();
    shell.resize(cols, rows);
  });
  try {
    return await shell.done;
  } finally {
    stopResizing();
    input.off("data", onData);
    input.off("end", onEnd);
    if (terminal.tty) terminal.setRawMode(false);
    input.pause();
  }
}

export function cloudTarget(home: HeyoHome, id: string): SandboxTarget {
  const token = resolveToken(home);
  const client = new CloudClient({ baseUrl: resolveCloudUrl(home, undefined), token });
  return {
    id,
    async exec(argv, request) {
      const wrapped = wrapCommand(argv, request.env, request);
      const started = performance.now();
      const result = await client.execStreamed(id, {
        command: wrapped.argv.map(shellQuote).join(" "), // the cloud runs it with sh -c
        ...(request.cwd ? { cwd: request.cwd } : {}),
        ...(Object.keys(wrapped.env).length ? { env: wrapped.env } : {}),
        // the server ends a command after 120 s unless told otherwise; --timeout ends it first itself
        ...(request.timeoutMs !== undefined ? { timeout_seconds: Math.min(EXEC_TIMEOUT_MAX_SECONDS, Math.ceil(request.timeoutMs / 1000) + 10) } : {}),
      });
      const exitCode = result.exit_code;
      return { exitCode, stdout: result.stdout, stderr: result.stderr, timedOut: timedOut(exitCode, performance.now() - started, request.timeoutMs) };
    },
    describe: () => client.getDeployment(id),
    shell: (terminal) => cloudShell(client, token, id, terminal),
    async stop() {
      const before = await client.getDeployment(id);
      const after = await client.stop(id);
      return { id: after.id, name: after.name, wasRunning: isActiveDeployment(before.status), status: after.status };
    },
    async *logs(request) {
      let offset = 0;
      for (let first = true; ; first = false) {
        const chunk = await client.logs(id, offset, first ? request.lines : 0);
        // the server sends it escaped and marked; the same again here costs nothing and trusts no server
        if (chunk.text) yield renderLogText(escapeControls(chunk.text));
        offset = chunk.offset;
        if (!request.follow || (!chunk.running && !chunk.text)) return;
        await new Promise((resolve) => setTimeout(resolve, LOG_POLL_MS));
      }
    },
  };
}

/** `heyvm list --cloud`: every cloud sandbox this token can see. */
export function listCloudSandboxes(home: HeyoHome): Promise<Deployment[]> {
  return new CloudClient({ baseUrl: resolveCloudUrl(home, undefined), token: resolveToken(home) }).listDeployments();
}
