// The operations every sandbox offers, local (sb-…) or cloud (dep-…), so that sh, exec, stop and
// logs are written once against this interface instead of branching on the id in each command.

/** Where a command's output goes when the sandbox cannot hand it the terminal (the cloud). */
export interface OutputSink {
  write(text: string | Uint8Array): unknown;
}

/** What an interactive shell needs of the user's terminal; the CLI provides it. */
export interface UserTerminal {
  /** stdin is a terminal (raw mode, window size) rather than a pipe. */
  tty: boolean;
  input: NodeJS.ReadableStream;
  output: OutputSink;
  /** Short notices (reconnecting…) that must not mix with the shell's own output. */
  notices: OutputSink;
  size(): { cols: number; rows: number };
  setRawMode(on: boolean): void;
  /** Calls listener on every window-size change; returns the function that stops it. */
  onResize(listener: () => void): () => void;
}

export interface ExecRequest {
  cwd?: string;
  env: Record<string, string>;
  /** End the command after this long (exit 124). */
  timeoutMs?: number;
  /** A named shell session whose folder and exported variables carry over between calls. */
  session?: string;
  /** Run as this user of the sandbox (a name or a uid) instead of its own. */
  user?: string;
  /** Collect stdout and stderr instead of passing them through (exec --format json). */
  capture: boolean;
}

export interface ExecResult {
  exitCode: number;
  /** With capture (the cloud always captures). */
  stdout?: string;
  stderr?: string;
  /** The --timeout ran out and ended the command. */
  timedOut: boolean;
}

export interface StopOutcome {
  id: string;
  name: string;
  wasRunning: boolean;
  /** Local: what a dead owner left behind and was removed. */
  cleaned?: string[];
  /** Cloud: the deployment's state afterwards. */
  status?: string;
}

export interface LogRequest {
  follow: boolean;
  /** How many lines from the end to start with; 0 means the whole log. */
  lines: number;
}

export interface SandboxTarget {
  readonly id: string;
  /** Runs argv in /workspace; stdio passes through unless captured (the cloud always captures). */
  exec(argv: readonly string[], request: ExecRequest): Promise<ExecResult>;
  /** The sandbox as data (local: the SandboxInfo of list; cloud: the deployment). */
  describe(): Promise<object>;
  /** An interactive shell; resolves with the shell's exit code. */
  shell(terminal: UserTerminal): Promise<number>;
  stop(): Promise<StopOutcome>;
  logs(request: LogRequest): AsyncGenerator<string>;
}
