// API tokens: made and revoked by the operator (`heyvm server token …`); the database keeps
// only their SHA-256, so a copy of it does not hand out working tokens.
import { createHash, randomBytes } from "node:crypto";
import { NotFoundError, ConflictError } from "../shared/errors.js";
import type { Store, TokenRow } from "./store.js";

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export interface CreatedToken {
  id: string;
  name: string;
  /** The secret itself: shown once, never stored. */
  token: string;
}

export function createToken(store: Store, name: string): CreatedToken {
  const id = `tok-${randomBytes(4).toString("hex")}`;
  const token = `heyvm_${randomBytes(24).toString("base64url")}`;
  store.insertToken({ id, name, hash: hashToken(token), created_at: new Date().toISOString(), revoked_at: null });
  return { id, name, token };
}

/** The live token a bearer secret belongs to, or undefined (unknown or revoked). */
export function authenticate(store: Store, token: string): TokenRow | undefined {
  const row = store.tokenByHash(hashToken(token));
  return row && row.revoked_at === null ? row : undefined;
}

/** Revokes by id (or a unique id prefix, or the name); effective on the next request. */
export function revokeToken(store: Store, query: string): TokenRow {
  const all = store.tokens();
  const matches = all.filter((t) => t.id === query || t.name === query);
  const candidates = matches.length > 0 ? matches : all.filter((t) => t.id.startsWith(query) && query.length >= 5);
  if (candidates.length === 0) throw new NotFoundError(`no token matches "${query}"`, "see `heyvm server token list`");
  if (candidates.length > 1) throw new ConflictError(`"${query}" matches ${candidates.length} tokens`, "use the token id (tok-…)");
  const [token] = candidates as [TokenRow];
  store.revokeToken(token.id, new Date().toISOString());
  return { ...token, revoked_at: token.revoked_at ?? new Date().toISOString() };
}
