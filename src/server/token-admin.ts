// The operator's token commands (`heyvm server token create|list|revoke`) against the server's
// database, opened and closed around each call.
import { ServerData, defaultDataDir } from "./config.js";
import { Store } from "./store.js";
import { createToken, revokeToken, type CreatedToken } from "./tokens.js";

export interface TokenSummary {
  id: string;
  name: string;
  createdAt: string;
  revokedAt: string | null;
}

function withStore<T>(dataDir: string | undefined, use: (store: Store) => T): T {
  const data = new ServerData(dataDir ?? defaultDataDir());
  data.ensure();
  const store = new Store(data.database);
  try {
    return use(store);
  } finally {
    store.close();
  }
}

export function createServerToken(dataDir: string | undefined, name: string): CreatedToken {
  return withStore(dataDir, (store) => createToken(store, name));
}

export function listServerTokens(dataDir: string | undefined): TokenSummary[] {
  return withStore(dataDir, (store) => store.tokens().map((t) => ({ id: t.id, name: t.name, createdAt: t.created_at, revokedAt: t.revoked_at })));
}

export function revokeServerToken(dataDir: string | undefined, query: string): { id: string; name: string } {
  return withStore(dataDir, (store) => {
    const revoked = revokeToken(store, query);
    return { id: revoked.id, name: revoked.name };
  });
}
