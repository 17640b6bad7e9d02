// One operation at a time per deployment: a stop waits for a start under way, the sweep passes
// over a deployment that is busy, and shutdown waits for every operation to finish.

export class OperationQueue {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly inflight = new Set<Promise<unknown>>();

  /** Runs fn after every earlier operation on the same deployment has finished. */
  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.chains.set(id, settled);
    this.inflight.add(settled);
    void settled.then(() => {
      this.inflight.delete(settled);
      if (this.chains.get(id) === settled) this.chains.delete(id);
    });
    return next;
  }

  /** Whether an operation on this deployment is queued or under way. */
  busy(id: string): boolean {
    return this.chains.has(id);
  }

  /** Waits for every queued operation (server shutdown). */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }
}
