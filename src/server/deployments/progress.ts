// The latest step of a deployment's provisioning or start (the same lines a local build or start
// prints: "building the root filesystem…", "starting sandbox…"), kept in memory so the
// deployment's view can carry it and a waiting client can show it instead of a bare "waiting…".
import type { Reporter } from "../../shared/reporter.js";
import type { LogLine } from "../context.js";

export class DeploymentProgress {
  private readonly latest = new Map<string, string>();

  /** A reporter for one deployment's provisioning: each step goes to the server log and becomes its latest. */
  reporter(id: string, log: LogLine): Reporter {
    return {
      progress: (message: string) => {
        log(`deployment ${id}: ${message}`);
        this.latest.set(id, message);
      },
      info: () => undefined,
    };
  }

  /** The latest step of a deployment still being provisioned or started, else null. */
  of(id: string): string | null {
    return this.latest.get(id) ?? null;
  }

  /** Forgets a deployment's steps once it runs, failed or is gone. */
  clear(id: string): void {
    this.latest.delete(id);
  }
}
