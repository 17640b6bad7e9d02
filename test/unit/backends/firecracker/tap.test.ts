// Whether heyvm may make a TAP device is read from its effective capabilities, not its uid: root
// with its capabilities dropped (as in many containers) cannot make one either.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const TAP_MODULE = fileURLToPath(new URL("../../../../src/backends/firecracker/tap.js", import.meta.url));
const ASK = `import(${JSON.stringify(TAP_MODULE)}).then((m) => console.log(m.mayMakeTap(), m.tapUnavailable() ?? "none"))`;

function hasNetAdmin(): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0";
  return (BigInt(`0x${hex}`) >> 12n) % 2n === 1n;
}

const setprivMissing = spawnSync("sh", ["-c", "command -v setpriv"]).status !== 0;

describe("the TAP privilege check", { skip: process.platform !== "linux" ? "Linux only" : false }, () => {
  test("it follows CAP_NET_ADMIN in the effective set", () => {
    const asked = spawnSync(process.execPath, ["-e", ASK], { encoding: "utf8" });
    assert.equal(asked.status, 0, asked.stderr);
    assert.equal(asked.stdout.split(" ")[0], String(hasNetAdmin()));
  });

  test("every capability dropped (root or not): no TAP, and the reason says what is needed", { skip: setprivMissing ? "setpriv (util-linux) is not installed" : false }, () => {
    // dropping the bounding set takes CAP_SETPCAP; without it there is nothing to drop there anyway
    const drop = process.getuid?.() === 0 ? ["--inh-caps=-all", "--bounding-set=-all"] : ["--inh-caps=-all"];
    const asked = spawnSync("setpriv", [...drop, "--", process.execPath, "-e", ASK], { encoding: "utf8" });
    assert.equal(asked.status, 0, asked.stderr);
    assert.equal(asked.stdout.trim(), "false heyvm has no privilege to make a TAP device (it needs root or CAP_NET_ADMIN)");
  });
});
