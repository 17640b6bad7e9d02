// Where the cloud's address and the API token come from: flags, then the environment, then the
// files `heyvm login` writes (token.json is mode 0600: it is a secret).
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { AuthError, UserError } from "../shared/errors.js";
import { readJsonFile, str, writeJsonFile } from "../shared/json.js";
import type { HeyoHome } from "../state/home.js";

export interface StoredToken {
  token: string;
  savedAt: string;
}

export function readStoredToken(home: HeyoHome): StoredToken | undefined {
  const raw = readJsonFile(home.tokenFile);
  const token = raw ? (str(raw, "token") ?? str(raw, "api_key")) : undefined;
  return raw && token ? { token, savedAt: str(raw, "savedAt") ?? "" } : undefined;
}

export function saveToken(home: HeyoHome, token: string): void {
  mkdirSync(dirname(home.tokenFile), { recursive: true, mode: 0o700 });
  writeJsonFile(home.tokenFile, { token, savedAt: new Date().toISOString() }, 0o600);
  chmodSync(home.tokenFile, 0o600); // an older file may have had a looser mode
}

/** Removes the stored token; false when there was none. */
export function forgetToken(home: HeyoHome): boolean {
  const had = readStoredToken(home) !== undefined;
  rmSync(home.tokenFile, { force: true });
  return had;
}

/**
 * The one credential rule of every cloud command (deploy, publish, exec, sh, stop, logs, list):
 * HEYO_API_KEY, else HEYO_ARCHIVE_TOKEN (the product guide's name), else what `heyvm login` stored.
 */
export function resolveToken(home: HeyoHome, env: NodeJS.ProcessEnv = process.env): string {
  const token = env.HEYO_API_KEY || env.HEYO_ARCHIVE_TOKEN || readStoredToken(home)?.token;
  if (!token) throw new AuthError("Not authenticated — run `heyvm login` first, or set HEYO_ARCHIVE_TOKEN (or HEYO_API_KEY)");
  return token;
}

/** Checks and normalises a cloud address (no trailing slash). */
export function normalizeCloudUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new UserError(`"${input}" is not a URL`, { hint: "give the cloud's address, e.g. http://127.0.0.1:8787" });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UserError(`the cloud address must be http:// or https://, not ${url.protocol}`);
  return url.toString().replace(/\/+$/, "");
}

export function readConfiguredCloudUrl(home: HeyoHome): string | undefined {
  const raw = readJsonFile(home.configFile);
  return raw ? (str(raw, "cloud_url") ?? str(raw, "cloudUrl")) : undefined;
}

/** Remembers the cloud address in config.json, keeping the config's other settings. */
export function saveCloudUrl(home: HeyoHome, url: string): void {
  mkdirSync(dirname(home.configFile), { recursive: true });
  writeJsonFile(home.configFile, { ...(readJsonFile(home.configFile) ?? {}), cloud_url: url });
}

/**
 * `login --auth-url`: the sign-in address other heyvm clients use, accepted and kept in
 * config.json (auth_url) for them; this heyvm signs in with API tokens only and never calls it.
 */
export function saveAuthUrl(home: HeyoHome, url: string): void {
  mkdirSync(dirname(home.configFile), { recursive: true });
  writeJsonFile(home.configFile, { ...(readJsonFile(home.configFile) ?? {}), auth_url: url });
}

export function resolveCloudUrl(home: HeyoHome, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const url = flag || env.HEYO_CLOUD_URL || readConfiguredCloudUrl(home);
  if (!url) {
    throw new UserError("no cloud address is configured", {
      hint: "pass --cloud-url, set HEYO_CLOUD_URL, or run `heyvm login --cloud-url <url>` once (run your own with `heyvm server`)",
    });
  }
  return normalizeCloudUrl(url);
}

/**
 * Whether a cloud is configured (a token and an address, from the environment or `heyvm login`):
 * `heyvm list` then shows its sandboxes beside the local ones. The native launcher hands `list`
 * to Node when any of these may be set (native/launcher/list.c).
 */
export function cloudConfigured(home: HeyoHome, env: NodeJS.ProcessEnv = process.env): boolean {
  const token = env.HEYO_API_KEY || env.HEYO_ARCHIVE_TOKEN || readStoredToken(home)?.token;
  return Boolean(token && (env.HEYO_CLOUD_URL || readConfiguredCloudUrl(home)));
}
