// Caps on what holds host resources while it runs (shell sessions hold a pty and two processes,
// execs a process and their output): per token, so one tenant cannot take everyone's share, and
// in all, so the host keeps its ptys and memory. Beyond a cap the answer is 429 with retry_after.
import { HttpError } from "../http/messages.js";

/** How long a refused client is told to wait before trying again (seconds). */
const RETRY_AFTER_SECONDS = 5;

export class ConcurrencyCap {
  private readonly perToken = new Map<string, number>();
  private total = 0;

  constructor(
    /** What is counted, for the message ("shell sessions", "execs"). */
    private readonly what: string,
    private readonly tokenLimit: number,
    private readonly globalLimit: number,
  ) {}

  /** Takes a place for tokenId (429 when there is none); returns its release (idempotent). */
  take(tokenId: string): () => void {
    const mine = this.perToken.get(tokenId) ?? 0;
    if (mine >= this.tokenLimit) throw this.refusal(`this token already has ${this.tokenLimit} ${this.what} open (its limit); end one or retry later`);
    if (this.total >= this.globalLimit) throw this.refusal(`this server already runs ${this.globalLimit} ${this.what} (its limit); retry later`);
    this.perToken.set(tokenId, mine + 1);
    this.total += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.perToken.get(tokenId) ?? 1) - 1;
      if (left > 0) this.perToken.set(tokenId, left);
      else this.perToken.delete(tokenId);
    };
  }

  private refusal(message: string): HttpError {
    return new HttpError(429, message, "too_many", { retry_after: RETRY_AFTER_SECONDS });
  }
}
