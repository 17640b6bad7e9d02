// `heyvm login`: store a cloud API token (checked against the cloud when its address is known).
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, type CliIO } from "../io.js";

/** Reads a secret from the terminal without echoing it; from piped stdin, the first line. */
function promptSecret(io: CliIO, question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((resolve) => {
      let text = "";
      stdin.setEncoding("utf8");
      stdin.on("data", (chunk: string) => (text += chunk));
      stdin.on("end", () => resolve(text.split("\n")[0]?.trim() ?? ""));
    });
  }
  io.stderr.write(question);
  return new Promise((resolve, reject) => {
    let text = "";
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    const done = (error?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write("\n");
      if (error) reject(error);
      else resolve(text.trim());
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n" || char === "\u0004") return done();
        if (char === "\u0003") return done(new UserError("login cancelled"));
        if (char === "\u007f" || char === "\b") text = text.slice(0, -1);
        else text += char;
      }
    };
    stdin.on("data", onData);
    stdin.resume();
  });
}

export const loginCommand = defineCommand<{ apiKey?: string; cloudUrl?: string; authUrl?: string; verify: boolean }>({
  name: "login",
  description: "store a cloud API token (~/.heyo/token.json, mode 0600); prompts for it unless given",
  options: [
    { flags: "--api-key <token>", description: "the API token (default: $HEYO_API_KEY, else a prompt)" },
    { flags: "--cloud-url <url>", description: "the cloud's address, remembered in the config" },
    { flags: "--auth-url <url>", description: "a sign-in address (accepted and stored in the config for compatibility; heyvm uses API tokens)" },
    { flags: "--no-verify", description: "store the token without checking it against the cloud" },
  ],
  async run({ io, flags }) {
    const { login } = await import("../../core/login.js");
    const token = flags.apiKey ?? process.env.HEYO_API_KEY ?? (await promptSecret(io, "API token: "));
    const result = await login(heyoHome(), { token, cloudUrl: flags.cloudUrl, verify: flags.verify, authUrl: flags.authUrl });
    print(io, `logged in${result.verified ? "" : " (token not checked: no cloud address yet)"}; token saved to ${result.tokenFile}`);
  },
});
