// The --deploy… flags: how commander parses them, and which values checkDeployFlags refuses
// (with which message) before anything is created.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DEPLOY_OPTIONS, checkDeployFlags, type DeployFlags } from "../../../../src/cli/commands/deploy-options.js";
import { parseOptionWords } from "../../../../src/cli/command.js";
import { ExitCode, UserError } from "../../../../src/shared/errors.js";

const defaults = { driver: "libvirt", image: "ubuntu:24.04", region: "US" as const };

function flags(overrides: Partial<DeployFlags> = {}): DeployFlags {
  return { ignore: true, ...overrides };
}

/** Asserts that checkDeployFlags refuses these flags as a usage error with exactly this message. */
function assertRefused(overrides: Partial<DeployFlags>, message: string): void {
  assert.throws(
    () => checkDeployFlags(flags(overrides), defaults),
    (error: unknown) => {
      assert.ok(error instanceof UserError, String(error));
      assert.equal(error.message, message);
      assert.equal(error.exitCode, ExitCode.usage);
      return true;
    },
  );
}

/** Parses argv with the declared deploy options, as `heyvm wt` does; mistakes are UserErrors. */
function parse(argv: string[]): DeployFlags {
  return parseOptionWords<DeployFlags>(DEPLOY_OPTIONS, argv);
}

describe("checkDeployFlags", () => {
  test("with no flags, the product's defaults", () => {
    assert.deepEqual(checkDeployFlags(flags(), defaults), { driver: "libvirt", image: "ubuntu:24.04", region: "US", ttlSeconds: undefined, ports: [] });
    assert.equal(checkDeployFlags(flags(), { ...defaults, region: "EU" }).region, "EU");
  });

  test("given flags win over the defaults", () => {
    const checked = checkDeployFlags(flags({ deployDriver: "firecracker", deployImage: "debian:12", deployRegion: "EU", deployTtlSeconds: "3600" }), defaults);
    assert.deepEqual(checked, { driver: "firecracker", image: "debian:12", region: "EU", ttlSeconds: 3600, ports: [] });
  });

  test("ports: repeated and comma-separated, duplicates dropped, first order kept", () => {
    assert.deepEqual(checkDeployFlags(flags({ deployPort: ["8080,443", "80", "443", "1", "65535"] }), defaults).ports, [8080, 443, 80, 1, 65535]);
  });

  test("a region other than US or EU is refused", () => {
    assertRefused({ deployRegion: "ASIA" }, `--deploy-region is US or EU, not "ASIA"`);
    assertRefused({ deployRegion: "us" }, `--deploy-region is US or EU, not "us"`);
  });

  test("an empty image or driver is refused with an example", () => {
    assertRefused({ deployImage: "" }, "--deploy-image needs an image name, e.g. ubuntu:24.04");
    assertRefused({ deployImage: "   " }, "--deploy-image needs an image name, e.g. ubuntu:24.04");
    assertRefused({ deployDriver: " " }, "--deploy-driver needs a driver name, e.g. libvirt");
  });

  test("ports outside 1-65535 or not whole numbers are refused, naming the bad value", () => {
    for (const bad of ["0", "65536", "-1", "1.5", "8o", "0x50", "1e3", ""]) {
      assertRefused({ deployPort: [bad] }, `--deploy-port takes a whole number from 1 to 65535, not "${bad}"`);
    }
    assertRefused({ deployPort: ["80,"] }, `--deploy-port takes a whole number from 1 to 65535, not ""`);
    assertRefused({ deployPort: ["80", "443,99999"] }, `--deploy-port takes a whole number from 1 to 65535, not "99999"`);
  });

  test("the TTL is 1 second to 30 days", () => {
    assert.equal(checkDeployFlags(flags({ deployTtlSeconds: "1" }), defaults).ttlSeconds, 1);
    assert.equal(checkDeployFlags(flags({ deployTtlSeconds: String(30 * 86400) }), defaults).ttlSeconds, 2592000);
    for (const bad of ["0", "2592001", "1h", "-5", "2.5"]) {
      assertRefused({ deployTtlSeconds: bad }, `--deploy-ttl-seconds takes a whole number from 1 to 2592000, not "${bad}"`);
    }
  });

  test("the region is checked before the ports", () => {
    assertRefused({ deployRegion: "MARS", deployPort: ["0"] }, `--deploy-region is US or EU, not "MARS"`);
  });
});

describe("DEPLOY_OPTIONS", () => {
  test("parses every flag into its camel-case option, --deploy-port taking several values", () => {
    const parsed = parse([
      "--deploy",
      "--deploy-driver", "libvirt",
      "--deploy-image", "ubuntu:24.04",
      "--deploy-region", "EU",
      "--deploy-ttl-seconds", "60",
      "--deploy-image-name", "mine",
      "--deploy-image-size-mb", "512",
      "--deploy-dockerfile", "Dockerfile",
      "--publish-image",
      "--cloud-url", "http://127.0.0.1:8080",
      "--no-ignore",
      "--deploy-port", "80", "443",
    ]);
    assert.deepEqual(parsed, {
      deploy: true,
      deployDriver: "libvirt",
      deployImage: "ubuntu:24.04",
      deployRegion: "EU",
      deployTtlSeconds: "60",
      deployImageName: "mine",
      deployImageSizeMb: "512",
      deployDockerfile: "Dockerfile",
      publishImage: true,
      cloudUrl: "http://127.0.0.1:8080",
      ignore: false,
      deployPort: ["80", "443"],
    });
  });

  test("ignore is on unless --no-ignore is given", () => {
    assert.deepEqual(parse([]), { ignore: true });
  });

  test("a region outside its choices is refused as a usage error", () => {
    assert.throws(() => parse(["--deploy-region", "ASIA"]), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, ExitCode.usage);
      assert.match(error.message, /Allowed choices are US, EU/);
      return true;
    });
  });
});
