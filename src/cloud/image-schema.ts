// The cloud's image registry as one typed schema, used by the client (`--publish-image`) and the
// server alike. Upload works like workspace archives: presign (name, backend, size, sha256) →
// PUT the bundle to the signed, expiring URL (no auth header: the URL is the credential) →
// register (the server checks the sha256 and the bundle) → deploy with `image: <name>`. Images
// are private to the token that published them. The listing has the Heyo cloud's shape:
// `GET /public-images?backend=` → `{images: [{id, name, description, backend_type, format,
// size_bytes, created_at}]}`, ids `im-…`.
import { z } from "zod";
import { BACKEND_NAMES } from "../shared/backend-name.js";

export const IMAGE_API = {
  presign: "/images/presign",
  upload: (id: string) => `/images/${encodeURIComponent(id)}/upload`,
  register: (id: string) => `/images/${encodeURIComponent(id)}/register`,
  image: (id: string) => `/images/${encodeURIComponent(id)}`,
  list: "/public-images",
} as const;

/** Image names: the same rule as local images (they become folder names on the server). */
export const IMAGE_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export const ImagePresignRequest = z.strictObject({
  name: z.string().regex(IMAGE_NAME_PATTERN, "lowercase letters, digits, '.', '_' and '-' (at most 63)"),
  backend_type: z.enum(BACKEND_NAMES),
  format: z.string().min(1).max(60).optional(),
  description: z.string().max(500).optional(),
  size_bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits"),
});
export const ImagePresignResponse = z.object({ image_id: z.string(), upload_url: z.string(), expires_at: z.string().optional() });

export const ImageRegisterRequest = z.strictObject({});

export const PublishedImage = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  backend_type: z.string(),
  format: z.string().nullable(),
  size_bytes: z.number(),
  created_at: z.string(),
});
export const ImageList = z.object({ images: z.array(PublishedImage) });

export type ImagePresignRequest = z.infer<typeof ImagePresignRequest>;
export type ImagePresignResponse = z.infer<typeof ImagePresignResponse>;
export type PublishedImage = z.infer<typeof PublishedImage>;
export type ImageList = z.infer<typeof ImageList>;
