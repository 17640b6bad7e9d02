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
  // the archive worker is its own entry: the server starts it as ./archive-worker.js next to itself
  entryPoints: { heyvm: "dist/src/cli/main.js", "archive-worker": "dist/src/server/archives/archive-worker.js" },
  splitting: true,
  format: "esm",
  // CommonJS dependencies (commander) call require() for node builtins
  banner: { js: "import { createRequire as __heyvmRequire } from 'node:module'; const require = __heyvmRequire(import.meta.url);" },
});

/**
 * The modules that build, fetch or verify images. The backends import them lazily, only while
 * preparing a start, which the fast path never does (it execs into and lists running sandboxes;
 * starts go through the full CLI and the owner). A CommonJS bundle has no chunks, so esbuild would
 * inline them anyway (a third of fast.cjs): in the fast bundle they are placeholders that say so.
 * So is a bubblewrap sandbox's home image (made and mounted by a start, unmounted by a stop).
 */
const START_ONLY = /\/images\/(vm\/(build|prepare|verify)|firecracker\/build)\.js$|(^|\/)home-image\.js$/;

const startOnlyOutOfFastPath = {
  name: "start-only-out-of-fast-path",
  setup(b) {
    b.onResolve({ filter: START_ONLY }, (args) => (args.kind === "dynamic-import" ? { path: args.path, namespace: "start-only" } : undefined));
    b.onLoad({ filter: /.*/, namespace: "start-only" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`internal error: ${args.path} is not in the fast-path bundle (only starts need it, and they run the full CLI)`)});`,
      loader: "js",
    }));
  },
};

await build({
  ...common,
  entryPoints: { fast: "dist/src/cli/fast-path.js" },
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  plugins: [startOnlyOutOfFastPath],
});

// heyvm's own commands (the owner, its stop and git sync) without commander: bin/heyvm loads it for them
await build({
  ...common,
  entryPoints: { internal: "dist/src/cli/internal-entry.js" },
  format: "cjs",
  // heyvm-bin.ts reads import.meta only when called in-process (tests); here argv[1] is bin/heyvm
  logOverride: { "empty-import-meta": "silent" },
  outExtension: { ".js": ".cjs" },
});

// V8's code cache for the fast path (bin/heyvm reads it): made by running the commands agents
// loop on once, so the functions they use are in it.
const warm = mkdtempSync(join(tmpdir(), "heyvm-warm-"));
try {
  for (const args of [["list", "--all", "--json"], ["exec", "sb-00000000", "--", "true"], ["__git_sync", "sb-00000000"]]) {
    spawnSync(process.execPath, ["bin/heyvm", ...args], { env: { ...process.env, HEYO_HOME: warm }, stdio: "ignore" });
  }
} finally {
  rmSync(warm, { recursive: true, force: true });
}
