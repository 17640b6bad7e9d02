// Which world a sandbox query belongs to: cloud deployments are dep-…, everything else is local.
// The one place this is decided; the fast path imports only this, not the cloud client.
import { isCloudId } from "../../shared/ids.js";

export type TargetKind = "local" | "cloud";

export function targetKind(query: string): TargetKind {
  return isCloudId(query) ? "cloud" : "local";
}
