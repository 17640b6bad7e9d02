// Bundles the compiled CLI into dist/bundle/: the full CLI as one ES module entry plus lazily
// loaded chunks, and the fast path (exec, list, --version) as a single CommonJS file that
// bin/heyvm require()s first. Node then reads and compiles one file instead of dozens, and
// CommonJS loads faster than ES modules: most of heyvm's start-up time for `exec` and `list`.
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

rmSync("dist/bundle", { recursive: true, force: true });

const common = {
  outdir: "dist/bundle",
  bundle: true,
  platform: "node",
  target: "node20",
  logLevel: "warning",
  // native modules and their loaders stay outside the bundle
  external: ["better-sqlite3", "node-pty", "ws", "bufferutil", "utf-8-validate"],
};

await build({
  ...common,
  entryPoints: { heyvm: "dist/src/cli/main.js" },
  splitting: true,
  format: "esm",
  // CommonJS dependencies (commander) call require() for node builtins
  banner: { js: "import { createRequire as __heyvmRequire } from 'node:module'; const require = __heyvmRequire(import.meta.url);" },
});

await build({
  ...common,
  entryPoints: { fast: "dist/src/cli/fast-path.js" },
  format: "cjs",
  outExtension: { ".js": ".cjs" },
});

// V8's code cache for the fast path (bin/heyvm reads it): made by running the commands agents
// loop on once, so the functions they use are in it.
const warm = mkdtempSync(join(tmpdir(), "heyvm-warm-"));
try {
  for (const args of [["list", "--all", "--json"], ["exec", "sb-00000000", "--", "true"]]) {
    spawnSync(process.execPath, ["bin/heyvm", ...args], { env: { ...process.env, HEYO_HOME: warm }, stdio: "ignore" });
  }
} finally {
  rmSync(warm, { recursive: true, force: true });
}
