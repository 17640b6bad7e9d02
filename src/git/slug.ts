// Branch names become folder and sandbox names: "feature/My Change" → "feature-my-change".
// Lower case, so two branches never get folders that differ only in case (macOS would merge them).
export function slugify(branch: string): string {
  return branch
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "");
}
