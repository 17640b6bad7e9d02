// The file descriptor under a Node pipe, socket or server. Node keeps it in a private handle
// (stable on Unix for years); the owner needs the numbers to hand its open pipes and its control
// socket to the native monitor it turns into.
export function handleFd(object: unknown): number | undefined {
  if (typeof object !== "object" || object === null) return undefined;
  const handle = (object as { _handle?: { fd?: unknown } | null })._handle;
  return typeof handle?.fd === "number" && handle.fd >= 0 ? handle.fd : undefined;
}
