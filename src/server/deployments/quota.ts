// The active-sandbox quota of a token (maxActivePerToken): provisioning and running deployments
// count, and so does a start under way, which takes its place before the sandbox boots. Neither
// a new deploy nor starting a stopped deployment may pass the quota, even at the same moment.
import { HttpError } from "../http/messages.js";
import type { Store } from "../store.js";

export class ActiveQuota {
  /** Starts under way per token: places taken before their rows say running. */
  private readonly starting = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly limit: number,
  ) {}

  private inUse(tokenId: string): number {
    return this.store.countActive(tokenId) + (this.starting.get(tokenId) ?? 0);
  }

  /** 429 when the token has no place left (for `what`, e.g. "deploy another"). */
  check(tokenId: string, what: string): void {
    if (this.inUse(tokenId) >= this.limit) {
      throw new HttpError(429, `this token already has ${this.limit} active sandboxes (the quota); stop or delete one to ${what}`, "quota");
    }
  }

  /** Takes a place for a start (429 when there is none); returns its release, once the row counts by itself. */
  reserve(tokenId: string, what: string): () => void {
    this.check(tokenId, what);
    this.starting.set(tokenId, (this.starting.get(tokenId) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.starting.get(tokenId) ?? 1) - 1;
      if (left > 0) this.starting.set(tokenId, left);
      else this.starting.delete(tokenId);
    };
  }
}
