// What a token may touch: its own archives and deployments. Another token's are answered 404,
// exactly as ones that do not exist, so that ids reveal nothing.
import { HttpError } from "./http/messages.js";
import type { ArchiveRow, DeploymentRow, Store } from "./store.js";

export function ownedArchive(store: Store, tokenId: string, id: string): ArchiveRow {
  const row = store.archive(id);
  if (!row || row.token_id !== tokenId) throw new HttpError(404, `no archive ${id}`, "not_found");
  return row;
}

/** A token's archive that can be unpacked: uploaded and finalized (409 before that). */
export function readyArchive(store: Store, tokenId: string, id: string): ArchiveRow {
  const row = ownedArchive(store, tokenId, id);
  if (row.status !== "ready") throw new HttpError(409, `archive ${id} is not finalized yet`, "not_ready");
  return row;
}

export function ownedDeployment(store: Store, tokenId: string, id: string): DeploymentRow {
  const row = store.deployment(id);
  if (!row || row.token_id !== tokenId) throw new HttpError(404, `no cloud sandbox ${id}`, "not_found");
  return row;
}
