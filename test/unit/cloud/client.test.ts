// How the cloud client turns answers into results or errors, with fetch replaced by a stub so no
// request leaves the process: the request it sends, each HTTP failure's error class, and answers
// that are not JSON or not of the expected shape.
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CloudClient } from "../../../src/cloud/client.js";
import { AuthError, ConflictError, NotFoundError, OperationFailedError, UnavailableError, UserError } from "../../../src/shared/errors.js";

interface SeenRequest {
  url: string;
  method: string;
  headers: Headers;
  body: string | undefined;
}

const realFetch = globalThis.fetch;
let seen: SeenRequest[] = [];

/** Makes every fetch answer with this status and body (or fail like a refused connection). */
function answer(status: number, body: string): void;
function answer(failure: Error): void;
function answer(statusOrFailure: number | Error, body = ""): void {
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(input), method: init?.method ?? "GET", headers: new Headers(init?.headers), body: typeof init?.body === "string" ? init.body : undefined });
    if (statusOrFailure instanceof Error) throw statusOrFailure;
    return new Response(statusOrFailure === 204 ? null : body, { status: statusOrFailure });
  };
}

const client = new CloudClient({ baseUrl: "http://127.0.0.1:9", token: "hv_secret" });

describe("CloudClient", () => {
  beforeEach(() => {
    seen = [];
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  test("sends JSON with the bearer token to the route under the base URL, and returns the checked answer", async () => {
    answer(200, JSON.stringify({ id: "dep-abc", status: "provisioning", extra: "a newer cloud's field" }));
    const result = await client.deploy({ region: "EU", image: "ubuntu:24.04", open_ports: [3000] });
    assert.deepEqual(result, { id: "dep-abc", status: "provisioning" });
    assert.equal(seen.length, 1);
    const [request] = seen;
    assert.equal(request?.url, "http://127.0.0.1:9/sandbox-deploy");
    assert.equal(request?.method, "POST");
    assert.equal(request?.headers.get("authorization"), "Bearer hv_secret");
    assert.equal(request?.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(request?.body ?? ""), { region: "EU", image: "ubuntu:24.04", open_ports: [3000] });
  });

  test("ids are escaped into the path, and a request without a body has no content type", async () => {
    answer(204, "");
    await client.remove("dep-a/b");
    assert.equal(seen[0]?.url, "http://127.0.0.1:9/deployed-sandboxes/dep-a%2Fb");
    assert.equal(seen[0]?.method, "DELETE");
    assert.equal(seen[0]?.headers.get("content-type"), null);
  });

  const failures: Array<[number, new (...args: never[]) => UserError]> = [
    [401, AuthError],
    [403, AuthError],
    [404, NotFoundError],
    [409, ConflictError],
    [429, OperationFailedError],
    [500, OperationFailedError],
  ];
  for (const [status, kind] of failures) {
    test(`HTTP ${status} from the cloud rejects with ${kind.name}, carrying the server's message`, async () => {
      answer(status, JSON.stringify({ error: "said the server" }));
      await assert.rejects(client.stop("dep-abc"), (error: unknown) => {
        assert.ok(error instanceof kind, String(error));
        assert.match((error as Error).message, /said the server/);
        return true;
      });
    });
  }

  test("the request's description is in the error", async () => {
    answer(404, JSON.stringify({ error: "no such sandbox" }));
    await assert.rejects(client.getDeployment("dep-zzz"), { message: "cloud sandbox dep-zzz: no such sandbox" });
    await assert.rejects(client.remove("dep-zzz"), { message: "delete dep-zzz: no such sandbox" });
  });

  test("a refused connection is UnavailableError naming the address", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    answer(new TypeError("fetch failed", { cause: refused }));
    await assert.rejects(client.listDeployments(), (error: unknown) => {
      assert.ok(error instanceof UnavailableError);
      assert.equal(error.message, "cannot reach the cloud at http://127.0.0.1:9 (ECONNREFUSED)");
      return true;
    });
  });

  test("an answer that is not JSON, or not of the expected shape, is OperationFailedError", async () => {
    answer(200, "<html>proxy login</html>");
    await assert.rejects(client.listDeployments(), { name: "OperationFailedError", message: "list cloud sandboxes: the cloud answered something that is not JSON" });
    answer(200, JSON.stringify({ id: "dep-abc", status: "exploded" }));
    await assert.rejects(client.deploy({ region: "US", image: "x" }), (error: unknown) => {
      assert.ok(error instanceof OperationFailedError);
      assert.match(error.message, /^create the cloud sandbox: unexpected answer from the cloud \(status: /);
      return true;
    });
  });

  test("a GET whose connection was reset is sent again; a POST is not, and a third reset is an error", async () => {
    const reset = () => new TypeError("fetch failed", { cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }) });
    let failures = 1;
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
      seen.push({ url: String(input), method: init?.method ?? "GET", headers: new Headers(init?.headers), body: undefined });
      if (failures-- > 0) throw reset();
      return new Response(JSON.stringify([]), { status: 200 });
    };
    assert.deepEqual(await client.listDeployments(), []);
    assert.equal(seen.length, 2, "sent again once");
    seen = [];
    failures = 1;
    await assert.rejects(client.stop("dep-abc"), (error: unknown) => error instanceof UnavailableError && /ECONNRESET/.test(error.message));
    assert.equal(seen.length, 1, "a POST is not repeated");
    seen = [];
    failures = 3;
    await assert.rejects(client.listDeployments(), UnavailableError);
    assert.equal(seen.length, 3);
  });

  test("the shell URL is ws:// for http and wss:// for https", () => {
    assert.equal(client.shellUrl("dep-abc"), "ws://127.0.0.1:9/deployed-sandboxes/dep-abc/shell-stream");
    assert.equal(new CloudClient({ baseUrl: "https://cloud.example", token: "t" }).shellUrl("dep-abc"), "wss://cloud.example/deployed-sandboxes/dep-abc/shell-stream");
  });
});
