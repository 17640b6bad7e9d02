// Bundles the compiled CLI into dist/bundle/ (one entry plus lazily loaded chunks): node then
// resolves and compiles a handful of files instead of dozens, which is most of heyvm's
// start-up time for `exec` and `list`.
import { rmSync } from "node:fs";
import { build } from "esbuild";

rmSync("dist/bundle", { recursive: true, force: true });

await build({
  entryPoints: { heyvm: "dist/src/cli/main.js", fast: "dist/src/cli/fast-path.js" },
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  logLevel: "warning",
  // native modules and their loaders stay outside the bundle
  external: ["better-sqlite3", "node-pty", "ws", "bufferutil", "utf-8-validate"],
  // CommonJS dependencies (commander) call require() for node builtins
  banner: { js: "import { createRequire as __heyvmRequire } from 'node:module'; const require = __heyvmRequire(import.meta.url);" },
});
