// Which world an id belongs to: cloud deployments are dep-…, everything else is local.

/** A cloud deployment's id (dep-…), which the CLI routes to the cloud client. */
export function isCloudId(query: string): boolean {
  return /^dep-[0-9a-z]+$/i.test(query);
}
