// Where heyvm keeps its state. HEYO_HOME overrides ~/.heyo so tests (and users with several
// set-ups) get a folder of their own; keep it short, unix socket paths are limited in length.
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export interface HeyoHome {
  root: string;
  sandboxes: string;
  images: string;
  locks: string;
  /** One empty file per sandbox whose owner is (or was, if it crashed) running: a hint for list. */
  live: string;
  /** One empty file per sandbox whose records changed since the catalog index read them. */
  changed: string;
  /** The catalog index: every sandbox's records in one file, so list --all reads one file. */
  catalogIndex: string;
  /** Every sandbox's id, name and branch, one line each, written with the catalog index for the native launcher. */
  catalogKeys: string;
  tokenFile: string;
  configFile: string;
}

export function heyoHome(env: NodeJS.ProcessEnv = process.env): HeyoHome {
  const root = resolve(env.HEYO_HOME && env.HEYO_HOME.length > 0 ? env.HEYO_HOME : join(homedir(), ".heyo"));
  return {
    root,
    sandboxes: join(root, "sandboxes"),
    images: join(root, "images"),
    locks: join(root, "locks"),
    live: join(root, "live"),
    changed: join(root, "changed"),
    catalogIndex: join(root, "catalog.json"),
    catalogKeys: join(root, "catalog.keys"),
    tokenFile: join(root, "token.json"),
    configFile: join(root, "config.json"),
  };
}
