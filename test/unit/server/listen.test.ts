// The server's listen address: held alone, and known as its own so the port proxy never
// forwards to it (issue 10, item 2's server part and item 9). The proxy's own-address guard is
// this isOwnAddress; with sandboxes on their own network no endpoint reaches it in the
// integration tests, so it is checked here against a real listening socket.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { listenExclusively } from "../../../src/server/http/listen.js";
import { UnavailableError } from "../../../src/shared/errors.js";

describe("listenExclusively", () => {
  test("every loopback spelling of its own port is its own address; other ports and hosts are not", async () => {
    const server = createServer();
    const listening = await listenExclusively(server, "127.0.0.1", 0);
    try {
      const { port } = listening;
      assert.ok(port > 0);
      for (const host of ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"]) {
        assert.equal(listening.isOwnAddress(host, port), true, host);
      }
      assert.equal(listening.isOwnAddress("127.0.0.1", port === 65535 ? 1 : port + 1), false, "another port");
      assert.equal(listening.isOwnAddress("192.0.2.1", port), false, "another host");
    } finally {
      await listening.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("a port already held is refused with what to do, and the refused server holds nothing", async () => {
    const first = createServer();
    const held = await listenExclusively(first, "127.0.0.1", 0);
    const second = createServer();
    try {
      await assert.rejects(listenExclusively(second, "127.0.0.1", held.port), (error: unknown) => {
        assert.ok(error instanceof UnavailableError);
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${held.port} is already in use`));
        return true;
      });
      assert.equal(second.listening, false);
    } finally {
      await held.close();
      await new Promise<void>((resolve) => first.close(() => resolve()));
    }
  });
});
