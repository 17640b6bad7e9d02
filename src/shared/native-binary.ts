// Where heyvm's own native programs are: build/Release/<name> of the checkout or package,
// searched upward from the script node runs (bin/heyvm, a test file). The same code also runs
// from the CommonJS fast-path bundle, where import.meta is empty, hence argv[1].
import { existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";

export function nativeBinary(name: string): string | undefined {
  const script = process.argv[1];
  if (!script) return undefined;
  let dir: string;
  try {
    dir = dirname(realpathSync(script));
  } catch {
    return undefined;
  }
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, "build", "Release", name);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}
