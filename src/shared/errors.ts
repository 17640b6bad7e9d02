// Errors a user can act on are kept apart from bugs: the CLI prints a UserError as one line
// (with its hint) and exits with its code; anything else is unexpected and keeps its stack.

/** Exit codes, one per error kind, so scripts and agents can branch on them. */
export const ExitCode = {
  usage: 2,
  notFound: 3,
  conflict: 4,
  unavailable: 5,
  failed: 6,
  auth: 7,
  timeout: 8,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class UserError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  constructor(message: string, options: { hint?: string; exitCode?: ExitCodeValue; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UserError";
    this.exitCode = options.exitCode ?? ExitCode.usage;
    this.hint = options.hint;
  }
}

export class NotFoundError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: ExitCode.notFound });
    this.name = "NotFoundError";
  }
}

export class ConflictError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: ExitCode.conflict });
    this.name = "ConflictError";
  }
}

/** A backend, binary or service that the request needs is not usable on this host. */
export class UnavailableError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: ExitCode.unavailable });
    this.name = "UnavailableError";
  }
}

/** Something the user asked for ran and failed (a boot, a git command); the message says what. */
export class OperationFailedError extends UserError {
  constructor(message: string, hint?: string, cause?: unknown) {
    super(message, { hint, exitCode: ExitCode.failed, cause });
    this.name = "OperationFailedError";
  }
}

export class AuthError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: ExitCode.auth });
    this.name = "AuthError";
  }
}

export class TimeoutError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: ExitCode.timeout });
    this.name = "TimeoutError";
  }
}

/** Narrows an unknown caught value to a Node system error with a code (ENOENT…). */
export function isErrnoError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string";
}

/** The message of anything thrown, for one-line reports and logs. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
