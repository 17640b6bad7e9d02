// The cloud API's sandbox file, restart and shell-session routes (issue 21), in the same typed
// style as schema.ts: the server validates requests with these and the client checks answers.
import { z } from "zod";

export const SANDBOX_ROUTES = {
  readFile: (id: string) => `/sandbox/${encodeURIComponent(id)}/read-file`,
  writeFile: (id: string) => `/sandbox/${encodeURIComponent(id)}/write-file`,
  restart: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/restart`,
  shellSession: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/shell-session`,
  /** DELETE: the port's endpoints go (unbind); its URLs stop answering. */
  port: (id: string, port: number) => `/deployed-sandboxes/${encodeURIComponent(id)}/ports/${port}`,
} as const;

/** The largest file read-file returns (its base64 answer stays under a few MB). */
export const READ_FILE_MAX_BYTES = 1 << 20;

const sandboxPath = z.string().min(1).max(4096).startsWith("/", "must be an absolute path").regex(/^[^\0]*$/, "must not contain NUL bytes");
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");

export const ReadFileRequest = z.strictObject({ path: sandboxPath });
export const ReadFileResponse = z.object({ path: z.string(), content: z.string(), size_bytes: z.number() });
export const WriteFileRequest = z.strictObject({ path: sandboxPath, content: base64, mode: z.number().int().min(0).max(0o777).optional() });
export const WriteFileResponse = z.object({ path: z.string(), size_bytes: z.number() });

/** What a client needs to open a shell: the WebSocket URL (its short-lived token in the query) and the token alone. */
export const ShellSessionResponse = z.object({ sandbox_id: z.string(), url: z.string(), token: z.string(), expires_at: z.string() });

export const UnbindResponse = z.object({ sandbox_id: z.string(), port: z.number(), removed: z.number() });

export type ReadFileResponse = z.infer<typeof ReadFileResponse>;
export type WriteFileRequest = z.infer<typeof WriteFileRequest>;
export type WriteFileResponse = z.infer<typeof WriteFileResponse>;
export type ShellSessionResponse = z.infer<typeof ShellSessionResponse>;
