// `heyvm wait-for <id> <port> [--path P] [--timeout T]`: wait until a sandbox port answers (HTTP
// when --path, else TCP); exit 8 with a clear message on timeout.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { idAndPortArguments, parsePortNumber } from "./bind.js";

const DEFAULT_TIMEOUT_SECONDS = 60;

/** `30`, `30s`, `2m`, `500ms`. */
export function parseTimeout(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new UserError(`--timeout takes seconds (30, 30s, 2m or 500ms), not "${text}"`);
  const value = Number(match[1]);
  return match[2] === "ms" ? value : match[2] === "m" ? value * 60_000 : value * 1000;
}

export const waitForCommand = defineCommand<FormatFlags & { path?: string; timeout?: string }>({
  name: "wait-for",
  description: "wait until a sandbox port answers: an HTTP answer below 500 with --path, else a TCP connection",
  arguments: idAndPortArguments(true),
  options: [
    { flags: "--path <path>", description: "ask HTTP GET <path> (e.g. /health) instead of only connecting" },
    { flags: "--timeout <time>", description: `give up after this long (seconds, or 500ms / 2m; default ${DEFAULT_TIMEOUT_SECONDS})` },
    ...FORMAT_OPTIONS,
  ],
  async run({ io, args: [id, portText], flags }) {
    const port = parsePortNumber(String(portText), "wait-for");
    if (flags.path !== undefined && !/^\/[\x21-\x7e]*$/.test(flags.path)) throw new UserError(`--path takes an absolute URL path such as /health, not "${flags.path}"`);
    const request = { port, path: flags.path, timeoutMs: flags.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS * 1000 : parseTimeout(flags.timeout) };
    const query = String(id);
    const { targetKind } = await import("../../core/targets/kind.js");
    const { waitForCloudPort, waitForLocalPort } = await import("../../core/port-wait.js");
    let result;
    if (targetKind(query) === "cloud") result = await waitForCloudPort(heyoHome(), query, request);
    else {
      const { resolveSandbox } = await import("../../core/catalog.js");
      result = await waitForLocalPort(resolveSandbox(heyoHome(), query), request);
    }
    if (wantsJson(flags)) printJson(io, result);
    else print(io, `port ${port} of ${query} answers${result.http_status !== null ? ` (HTTP ${result.http_status})` : ""} after ${result.elapsed_ms} ms`);
  },
});
