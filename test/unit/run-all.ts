// Runs every unit test file under this folder in one process. `node --test <folder>` would start
// a Node process per file, and that start-up is most of the time of a pure suite (about 8 s
// against under 2 s here on a busy 2-core machine). node:test runs the imported files' tests one
// after another and sets a failing exit code if any fails; a file that cannot even be loaded
// fails the run too. `node --test dist/test/unit/` still works, one process per file.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { errorMessage } from "../../src/shared/errors.js";

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here, { recursive: true, encoding: "utf8" })
  .filter((file) => file.endsWith(".test.js"))
  .sort();
if (files.length === 0) {
  console.error(`no unit test files under ${here}: build first (tsc -p tsconfig.json)`);
  process.exitCode = 1;
}
console.error(`# ${files.length} unit test files under ${here}`);
for (const file of files) {
  try {
    await import(pathToFileURL(join(here, file)).href);
  } catch (error) {
    console.error(`cannot load ${file}: ${errorMessage(error)}`);
    process.exitCode = 1;
  }
}
