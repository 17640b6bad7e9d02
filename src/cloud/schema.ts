// The cloud API (ARCHITECTURE.md §5) as one typed schema: the server validates requests with it and the
// client checks answers with it, so the two cannot drift apart. Request schemas are strict
// (unknown fields are an error); answer schemas tolerate extra fields a newer cloud may send.
import { z } from "zod";

export const REGIONS = ["US", "EU"] as const;
export const SIZE_CLASSES = ["micro", "mini", "small", "medium", "large", "xlarge"] as const;
/** cold-stored: checkpointed (stopped, its disk and workspace kept, its host resources freed) until restored. */
export const DEPLOYMENT_STATES = ["provisioning", "running", "stopped", "failed", "cold-stored"] as const;
export type Region = (typeof REGIONS)[number];
export type SizeClass = (typeof SIZE_CLASSES)[number];
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

/** The states in which a deployment holds, or is getting, a machine (what the quota counts). */
export const ACTIVE_DEPLOYMENT_STATES = ["provisioning", "running"] as const satisfies readonly DeploymentState[];

export function isActiveDeployment(state: DeploymentState): boolean {
  return (ACTIVE_DEPLOYMENT_STATES as readonly DeploymentState[]).includes(state);
}

export { ARCHIVE_ROOT, SANDBOX_WORKSPACE } from "./archive-layout.js";
import { SANDBOX_WORKSPACE } from "./archive-layout.js";

/** Route paths, spelled once for client and server. */
export const API = {
  presign: "/sandbox-archives/presign",
  archives: "/sandbox-archives",
  archive: (id: string) => `/sandbox-archives/${encodeURIComponent(id)}`,
  finalize: (id: string) => `/sandbox-archives/${encodeURIComponent(id)}/finalize`,
  upload: (id: string) => `/sandbox-archives/${encodeURIComponent(id)}/upload`,
  archiveDownload: (id: string) => `/sandbox-archives/${encodeURIComponent(id)}/download`,
  deploy: "/sandbox-deploy",
  deployments: "/deployed-sandboxes",
  deployment: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}`,
  ttl: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/ttl`,
  replaceMount: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/replace-mount`,
  resize: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/resize`,
  logs: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/logs`,
  shell: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/shell-stream`,
  portTunnel: (id: string, port: number) => `/deployed-sandboxes/${encodeURIComponent(id)}/ports/${port}/tunnel`,
  checkpoint: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/checkpoint`,
  restore: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/restore`,
  fork: (id: string) => `/deployed-sandboxes/${encodeURIComponent(id)}/fork`,
  stop: (id: string) => `/sandbox/${encodeURIComponent(id)}/stop`,
  start: (id: string) => `/sandbox/${encodeURIComponent(id)}/start`,
  exec: (id: string) => `/sandbox/${encodeURIComponent(id)}/exec`,
  proxyForDeployed: "/proxy-endpoints/for-deployed",
  capabilities: "/capabilities",
  usage: "/usage",
} as const;

/** Text that reaches a command line, a path or the environment: a NUL byte there cannot be passed on (422, not a crash). */
const NO_NUL: [RegExp, string] = [/^[^\0]*$/, "must not contain NUL bytes"];
const name = z.string().min(1).max(200).regex(...NO_NUL);
const port = z.number().int().min(1).max(65535);
const envVars = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "environment variable names are letters, digits and _"), z.string().max(65536).regex(...NO_NUL));
const absolutePath = z.string().max(4096).startsWith("/", "must be an absolute path").regex(...NO_NUL);
const commandLine = (max: number) => z.string().min(1).max(max).regex(...NO_NUL);

/** How long exec lets a command run when the request does not say (Heyo's default), and the most it may ask for. */
export const EXEC_TIMEOUT_DEFAULT_SECONDS = 120;
export const EXEC_TIMEOUT_MAX_SECONDS = 24 * 3600;

export const PresignRequest = z.strictObject({ name: name.optional(), size_bytes: z.number().int().nonnegative().optional() });
export const PresignResponse = z.object({ archive_id: z.string(), upload_url: z.string(), expires_at: z.string().optional() });

export const FinalizeRequest = z.strictObject({ sandbox_id: name, name: name.optional() });
export const ArchiveRecord = z.object({
  id: z.string(),
  size_bytes: z.number(),
  created_at: z.string(),
  name: z.string().nullable().optional(),
  sandbox_id: z.string().nullable().optional(),
});
export const ArchiveList = z.array(ArchiveRecord);

export const DeployRequest = z.strictObject({
  region: z.enum(REGIONS),
  image: name,
  size_class: z.enum(SIZE_CLASSES).default("small"),
  open_ports: z.array(port).max(32).default([]),
  driver: z.string().min(1).max(40).optional(),
  name: name.optional(),
  archive_id: z.string().min(1).max(100).optional(),
  start_command: commandLine(65536).optional(),
  ttl_seconds: z.number().int().min(1).max(30 * 86400).optional(),
  disk_size_gb: z.number().int().min(1).max(2048).optional(),
  working_directory: absolutePath.optional(),
  env_vars: envVars.optional(),
});
export const DeployResponse = z.object({ id: z.string(), status: z.enum(DEPLOYMENT_STATES) });

/** Where an exposed port answers: its URL, and the host name and subdomain it is served under. */
const EndpointAddress = { url: z.string(), hostname: z.string(), subdomain: z.string() };

/** One exposed port of a deployment, as heyvm's SDKs read it. */
export const DeploymentUrl = z.object({ url: EndpointAddress.url, port: z.number(), is_public: z.boolean(), hostname: EndpointAddress.hostname, subdomain: EndpointAddress.subdomain });

export const Deployment = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(DEPLOYMENT_STATES),
  image: z.string(),
  region: z.string(),
  size_class: z.string(),
  driver: z.string().nullable().optional(),
  ttl_seconds: z.number().nullable(),
  uptime_secs: z.number().nullable(),
  error_message: z.string().nullable(),
  urls: z.array(DeploymentUrl),
  created_at: z.string().optional(),
  started_at: z.string().nullable().optional(),
  expires_at: z.string().nullable().optional(),
  archive_id: z.string().nullable().optional(),
  /** Set when a published image runs under another driver than the one asked for (see server/registry/routes.ts). */
  requested_driver: z.string().optional(),
  image_id: z.string().optional(),
  /** The latest step of its provisioning while that is under way (e.g. the first boot's image build). */
  progress: z.string().nullable().optional(),
});
export const DeploymentList = z.array(Deployment);

/** POST …/fork: the fork's name (default: its id). */
export const ForkRequest = z.strictObject({ name: name.optional() });
export type ForkRequest = z.infer<typeof ForkRequest>;

export const TtlRequest = z.strictObject({ ttl_seconds: z.number().int().min(1).max(30 * 86400) });
/** A deployment's new machine size, taken at its next start (heyvm resize dep-…). */
export const ResizeRequest = z.strictObject({ size_class: z.enum(SIZE_CLASSES) });
export const ReplaceMountRequest = z.strictObject({ archive_id: z.string().min(1).max(100), sandbox_path: z.literal(SANDBOX_WORKSPACE) });

export const ExecRequest = z.strictObject({
  command: commandLine(1 << 20),
  cwd: absolutePath.optional(),
  env: envVars.optional(),
  /** The command (and everything it started) is ended after this long: exit code 124, timed_out true. */
  timeout_seconds: z.number().int().min(1).max(EXEC_TIMEOUT_MAX_SECONDS).default(EXEC_TIMEOUT_DEFAULT_SECONDS),
  /** heyvm's addition: answer with the output as it comes (ExecStreamFrame lines, NDJSON) instead of capturing it. */
  stream: z.boolean().optional(),
});
/** stdout_truncated/stderr_truncated (heyvm's addition): that stream was cut at the server's capture limit. */
export const ExecResponse = z.object({
  stdout: z.string(),
  stderr: z.string(),
  output: z.string(),
  exit_code: z.number().int(),
  timed_out: z.boolean().optional(),
  stdout_truncated: z.boolean().optional(),
  stderr_truncated: z.boolean().optional(),
});
/** One line of a streamed exec's answer: output as it came (base64), then the exit. */
export const ExecStreamFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("output"), stream: z.enum(["stdout", "stderr"]), data: z.string() }),
  z.object({ type: z.literal("exit"), exit_code: z.number().int(), timed_out: z.boolean() }),
]);

export const ProxyRequest = z.strictObject({ sandbox_id: z.string().min(1).max(100), port, is_public: z.boolean().default(false) });
export const ProxyEndpoint = z.object({ id: z.string(), ...EndpointAddress, port: z.number(), is_public: z.boolean(), sandbox_id: z.string() });

/**
 * What a server can run, asked before slow client-side work (--publish-image builds an image
 * first): each driver with its images, and where images published in each format would run.
 */
export const Capabilities = z.object({
  drivers: z.array(z.object({ name: z.string(), usable: z.boolean(), reason: z.string().nullable(), images: z.array(z.string()) })),
  published_images: z.array(z.object({ backend_type: z.string(), runs_on: z.string().nullable(), reason: z.string().nullable() })),
});
export type Capabilities = z.infer<typeof Capabilities>;

/** heyvm's own addition: what a token keeps on the server's disk, against its storage quota. */
export const UsageResponse = z.object({
  used_bytes: z.number(),
  quota_bytes: z.number(),
  archives_bytes: z.number(),
  images_bytes: z.number(),
  deployments_bytes: z.number(),
});

/** heyvm's own addition (not in the Heyo shape): owner.log read by offset, for `heyvm logs`. */
export const LogsResponse = z.object({ text: z.string(), offset: z.number(), running: z.boolean() });

export const ErrorBody = z.object({ error: z.string().optional(), message: z.string().optional(), code: z.string().optional() });

/** Shell stream: client→server control frames (text). Stdin goes as binary 0x01+bytes. */
export const ShellClientMessage = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("init"),
    cols: z.number().int().min(1).max(1000),
    rows: z.number().int().min(1).max(1000),
    env: envVars.optional(),
    cwd: absolutePath.optional(),
    sessionId: z.string().min(1).max(100).optional(),
  }),
  z.strictObject({ type: z.literal("resize"), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }),
  z.strictObject({ type: z.literal("ack"), seq: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal("close") }),
]);

/** Shell stream: server→client control frames (text). Stdout goes as binary 0x02+seq+bytes. */
export const ShellServerMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), sessionId: z.string() }),
  z.object({ type: z.literal("exit"), code: z.number().int() }),
  z.object({ type: z.literal("error"), code: z.string().optional(), message: z.string() }),
]);

export type PresignRequest = z.input<typeof PresignRequest>;
export type PresignResponse = z.infer<typeof PresignResponse>;
export type FinalizeRequest = z.infer<typeof FinalizeRequest>;
export type ArchiveRecord = z.infer<typeof ArchiveRecord>;
export type DeployRequest = z.input<typeof DeployRequest>;
export type DeployRequestParsed = z.infer<typeof DeployRequest>;
export type DeployResponse = z.infer<typeof DeployResponse>;
export type Deployment = z.infer<typeof Deployment>;
export type DeploymentUrl = z.infer<typeof DeploymentUrl>;
export type TtlRequest = z.infer<typeof TtlRequest>;
export type ReplaceMountRequest = z.infer<typeof ReplaceMountRequest>;
export type ResizeRequest = z.infer<typeof ResizeRequest>;
export type ExecRequest = z.input<typeof ExecRequest>;
export type ExecResponse = z.infer<typeof ExecResponse>;
export type ExecStreamFrame = z.infer<typeof ExecStreamFrame>;
export type UsageResponse = z.infer<typeof UsageResponse>;
export type ProxyRequest = z.input<typeof ProxyRequest>;
export type ProxyEndpoint = z.infer<typeof ProxyEndpoint>;
export type LogsResponse = z.infer<typeof LogsResponse>;
export type ShellClientMessage = z.infer<typeof ShellClientMessage>;
export type ShellServerMessage = z.infer<typeof ShellServerMessage>;

/** One line per problem, naming the field: what a 422 body and a client error say. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join(".") : "body";
      return `${where}: ${issue.message}`;
    })
    .join("; ");
}
