// What the cloud answered, turned into one UserError subclass per kind of failure, each with the
// exit code scripts branch on and a message that carries the server's own words.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cloudConnectionError, cloudHttpError, messageFromBody } from "../../../src/cloud/errors.js";
import { AuthError, ConflictError, ExitCode, NotFoundError, OperationFailedError, UnavailableError, UserError } from "../../../src/shared/errors.js";

describe("messageFromBody", () => {
  test("takes error, else message, from a JSON body", () => {
    assert.equal(messageFromBody(`{"error": "no such archive", "message": "ignored"}`), "no such archive");
    assert.equal(messageFromBody(`{"message": "quota reached"}`), "quota reached");
  });

  test("falls back to short plain text, trimmed; nothing for long or empty bodies", () => {
    assert.equal(messageFromBody("  Bad Gateway\n"), "Bad Gateway");
    assert.equal(messageFromBody(`{"error": 5}`), `{"error": 5}`, "JSON of the wrong shape is shown as text");
    assert.equal(messageFromBody(`{}`), undefined, "a JSON error body without error or message has no detail");
    assert.equal(messageFromBody(`{"code": "E_QUOTA"}`), undefined);
    assert.equal(messageFromBody(""), undefined);
    assert.equal(messageFromBody("   \n"), undefined);
    assert.equal(messageFromBody("<html>".padEnd(300, "x")), undefined);
    assert.equal(messageFromBody("x".repeat(299)), "x".repeat(299));
  });
});

describe("cloudHttpError", () => {
  const body = JSON.stringify({ error: "the detail" });
  const cases: Array<[number, new (...args: never[]) => UserError, number, string]> = [
    [400, UserError, ExitCode.usage, "create the cloud sandbox: the cloud rejected the request: the detail"],
    [401, AuthError, ExitCode.auth, "the cloud refused the credentials (the detail)"],
    [402, OperationFailedError, ExitCode.failed, "create the cloud sandbox: quota exceeded (the detail)"],
    [403, AuthError, ExitCode.auth, "not allowed to create the cloud sandbox: the detail"],
    [404, NotFoundError, ExitCode.notFound, "create the cloud sandbox: the detail"],
    [409, ConflictError, ExitCode.conflict, "create the cloud sandbox: the detail"],
    [413, UserError, ExitCode.usage, "create the cloud sandbox: the detail"],
    [422, UserError, ExitCode.usage, "create the cloud sandbox: the cloud rejected the request: the detail"],
    [429, OperationFailedError, ExitCode.failed, "create the cloud sandbox: quota exceeded (the detail)"],
    [500, OperationFailedError, ExitCode.failed, "create the cloud sandbox: the cloud failed (HTTP 500: the detail)"],
    [503, OperationFailedError, ExitCode.failed, "create the cloud sandbox: the cloud failed (HTTP 503: the detail)"],
    [418, OperationFailedError, ExitCode.failed, "create the cloud sandbox: unexpected HTTP 418 from the cloud (the detail)"],
  ];
  for (const [status, kind, exitCode, message] of cases) {
    test(`HTTP ${status} is ${kind.name} (exit ${exitCode})`, () => {
      const error = cloudHttpError(status, body, "create the cloud sandbox");
      assert.ok(error instanceof kind);
      assert.equal(error.exitCode, exitCode);
      assert.equal(error.message, message);
    });
  }

  test("400 and 413 are plain usage errors, not a subclass", () => {
    assert.equal(cloudHttpError(400, "", "x").constructor, UserError);
    assert.equal(cloudHttpError(413, "", "x").constructor, UserError);
  });

  test("hints say what to do next", () => {
    assert.equal(cloudHttpError(401, "", "x").hint, "run `heyvm login` again, or check HEYO_API_KEY");
    assert.equal(cloudHttpError(404, "", "x").hint, "see `heyvm list --cloud`");
    assert.match(cloudHttpError(413, "", "x").hint ?? "", /\.gitignore/);
    assert.match(cloudHttpError(429, "", "x").hint ?? "", /heyvm stop dep-/);
    assert.match(cloudHttpError(502, "", "x").hint ?? "", /try again/);
  });

  test("without a usable body the detail is the status", () => {
    assert.equal(cloudHttpError(404, "", "stop dep-1").message, "stop dep-1: HTTP 404");
    assert.equal(cloudHttpError(500, "x".repeat(400), "stop dep-1").message, "stop dep-1: the cloud failed (HTTP 500: HTTP 500)");
  });
});

describe("cloudConnectionError", () => {
  test("names the address and the system error code found in the cause chain (exit 5)", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    const error = cloudConnectionError("http://127.0.0.1:9", new TypeError("fetch failed", { cause: refused }));
    assert.ok(error instanceof UnavailableError);
    assert.equal(error.exitCode, 5);
    assert.equal(error.message, "cannot reach the cloud at http://127.0.0.1:9 (ECONNREFUSED)");
    assert.match(error.hint ?? "", /--cloud-url/);
  });

  test("without a code, the message of what was thrown", () => {
    assert.equal(cloudConnectionError("http://c", new Error("socket hang up")).message, "cannot reach the cloud at http://c (socket hang up)");
    assert.equal(cloudConnectionError("http://c", "boom").message, "cannot reach the cloud at http://c (boom)");
  });
});
