// Whether another account (bubblewrap's unprivileged host user, QEMU's user) can reach a file
// heyvm made as root: every folder on the way must be searchable by it. One rule for both.
import { dirname } from "node:path";
import { statSync } from "node:fs";

export interface Account {
  uid: number;
  gid: number;
}

/** The folders above a path, from the root down. */
export function ancestors(path: string): string[] {
  const chain: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dir === dirname(dir)) break;
  }
  return chain;
}

/** Whether the account may search (pass through) the folder by its mode bits alone. */
export function canSearch(dir: string, account: Account): boolean {
  const stat = statSync(dir);
  if (stat.uid === account.uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === account.gid && (stat.mode & 0o010) !== 0) return true;
  return (stat.mode & 0o001) !== 0;
}

/** The folders on the way to any of the paths that the account cannot pass through. */
export function blockedFolders(paths: readonly string[], account: Account): Set<string> {
  const blocked = new Set<string>();
  for (const path of paths) for (const dir of ancestors(path)) if (!canSearch(dir, account)) blocked.add(dir);
  return blocked;
}
