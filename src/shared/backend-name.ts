// The backends heyvm knows, shared by the state records and the backend registry.
export const BACKEND_NAMES = ["bubblewrap", "libvirt", "firecracker", "apple_virt"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function isBackendName(value: unknown): value is BackendName {
  return typeof value === "string" && (BACKEND_NAMES as readonly string[]).includes(value);
}
