// `heyvm bind <id> <port> [--private]`: keep a sandbox port reachable — locally on the host's
// 127.0.0.1 (core/port-binds.ts), in the cloud as a proxy URL (dep-…).
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand, type ArgumentSpec } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

/** A port number argument or option value, refused with the option's name. */
export function parsePortNumber(text: string, what: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new UserError(`${what} takes a port number from 1 to 65535, not "${text}"`);
  return port;
}

/** The `<id> <port>` arguments of bind, unbind, port-forward and wait-for. */
export function idAndPortArguments(cloudToo: boolean): ArgumentSpec[] {
  return [
    { name: "<id>", description: `sandbox id, unique id prefix, name or branch${cloudToo ? " (or dep-… for cloud)" : ""}` },
    { name: "<port>", description: "the port inside the sandbox" },
  ];
}

export const bindCommand = defineCommand<FormatFlags & { private?: boolean }>({
  name: "bind",
  description: "expose a sandbox port: locally on a free port of 127.0.0.1 (kept across restarts), in the cloud as a proxy URL",
  arguments: idAndPortArguments(true),
  options: [{ flags: "--private", description: "cloud: the URL answers only with your API token (locally every bind is on 127.0.0.1 only)" }, ...FORMAT_OPTIONS],
  helpAfter: "\nExamples:\n  heyvm bind wt-feature 3000            # http://127.0.0.1:<free port>\n  heyvm bind dep-1a2b 8080 --format json # {\"port\":8080,\"host_port\":null,\"url\":\"http://…\"}",
  async run({ io, args: [id, portText], flags }) {
    const port = parsePortNumber(String(portText), "bind");
    const query = String(id);
    const isPrivate = flags.private === true;
    const { targetKind } = await import("../../core/targets/kind.js");
    let result: { port: number; host_port: number | null; url: string; private: boolean };
    if (targetKind(query) === "cloud") {
      result = await (await import("../../core/cloud-sandboxes.js")).bindCloudPort(heyoHome(), query, port, isPrivate);
    } else {
      const [{ resolveSandbox }, { bindPort }] = await Promise.all([import("../../core/catalog.js"), import("../../core/port-binds.js")]);
      const home = heyoHome();
      const bound = await bindPort(home, resolveSandbox(home, query), { port, private: isPrivate });
      result = bound;
      if (!bound.active && !wantsJson(flags)) io.stderr.write(`heyvm: ${query} is stopped: the bind takes effect when it starts\n`);
    }
    if (wantsJson(flags)) printJson(io, result);
    else print(io, result.url);
  },
});
