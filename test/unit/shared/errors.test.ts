// Each user-facing error kind carries its own exit code and hint; errors from the system are
// told apart from bugs.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AuthError,
  ConflictError,
  ExitCode,
  NotFoundError,
  OperationFailedError,
  TimeoutError,
  UnavailableError,
  UserError,
  errorMessage,
  isErrnoError,
} from "../../../src/shared/errors.js";

test("every kind has its own exit code, and all are UserErrors", () => {
  const kinds: Array<[UserError, string, number]> = [
    [new UserError("u"), "UserError", 2],
    [new NotFoundError("n"), "NotFoundError", 3],
    [new ConflictError("c"), "ConflictError", 4],
    [new UnavailableError("u"), "UnavailableError", 5],
    [new OperationFailedError("f"), "OperationFailedError", 6],
    [new AuthError("a"), "AuthError", 7],
    [new TimeoutError("t"), "TimeoutError", 8],
  ];
  for (const [error, name, code] of kinds) {
    assert.ok(error instanceof UserError);
    assert.equal(error.name, name);
    assert.equal(error.exitCode, code);
  }
  assert.equal(new Set(Object.values(ExitCode)).size, Object.values(ExitCode).length, "no two kinds share a code");
});

test("hint, custom exit code and cause are kept", () => {
  const cause = new Error("root");
  const error = new UserError("m", { hint: "do this", exitCode: ExitCode.timeout, cause });
  assert.equal(error.hint, "do this");
  assert.equal(error.exitCode, 8);
  assert.equal(error.cause, cause);
  assert.equal(new NotFoundError("m", "h").hint, "h");
  assert.equal(new OperationFailedError("m", undefined, cause).cause, cause);
  assert.ok(!("cause" in new UserError("m")), "no cause property when none was given");
});

test("isErrnoError is true only for errors with a string code", () => {
  assert.equal(isErrnoError(Object.assign(new Error("x"), { code: "ENOENT" })), true);
  assert.equal(isErrnoError(Object.assign(new Error("x"), { code: 2 })), false);
  assert.equal(isErrnoError(new Error("x")), false);
  assert.equal(isErrnoError({ code: "ENOENT" }), false, "a plain object is not an Error");
});

test("errorMessage of anything thrown", () => {
  assert.equal(errorMessage(new TypeError("bad")), "bad");
  assert.equal(errorMessage("text"), "text");
  assert.equal(errorMessage(42), "42");
  assert.equal(errorMessage(undefined), "undefined");
});
