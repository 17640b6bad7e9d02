// The native launcher against the Node CLI, on real bubblewrap sandboxes: every exec and list
// case runs through both paths (HEYVM_FAST=0 forces Node) and stdout, stderr, the exit code and
// the signal must be the same bytes. Each case also says who must have answered it: the
// launcher (its trace says "native") or Node (the launcher handed it over: errors, options it
// does not take, records it cannot trust), so a launcher that falls back for everything fails.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HEYVM, hasCommand, idOf, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";

const LAUNCHER = fileURLToPath(new URL("../../build/Release/heyvm-launcher", import.meta.url));

let ptyAvailable = true;
try {
  await import("node-pty");
} catch {
  ptyAvailable = false;
}
const skip = !hasCommand("bwrap") ? "bubblewrap (bwrap) is not installed" : !existsSync(LAUNCHER) ? "the native launcher is not built (npm run build)" : false;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** latin1: one character per byte, so equal strings are equal bytes. */
  stdout: string;
  stderr: string;
}

interface Case {
  args: string[];
  /** Who must answer: the launcher itself, or Node after the launcher handed the command over. */
  by: "native" | "node";
  input?: Buffer;
  env?: NodeJS.ProcessEnv;
  /** Run before each of the runs (a case whose first run changes what the second sees). */
  setup?: () => void;
  /** A shell line run before heyvm, in the shell that then becomes it (ulimit…). */
  before?: string;
}

/** A list table with its AGE cells taken out (as seconds), for runs a second apart. */
function tableWithoutAges(text: string): { table: string; ages: number[] } {
  const ages: number[] = [];
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  const table = text.replace(/^(sb-[0-9a-f]{8}(?: {2,}\S+){4} {2,})(\d+)([smhd])/gm, (_, before: string, count: string, unit: string) => {
    ages.push(Number(count) * (units[unit] ?? 0));
    return `${before}AGE`;
  });
  return { table: table.replace(/ +(?=AGE)/g, " ").replace(/AGE +/g, "AGE "), ages };
}

describe("the native launcher answers as the Node CLI does", { skip }, () => {
  let t: TestEnv;
  const trace = () => join(t.root, "launcher-trace");
  const ids: Record<string, string> = {};
  let sleeper: ChildProcess | undefined;

  function run(args: string[], fast: boolean, options: { input?: Buffer; env?: NodeJS.ProcessEnv; before?: string } = {}): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      const env = { ...t.env, ...options.env, HEYVM_LAUNCHER_TRACE: trace(), ...(fast ? {} : { HEYVM_FAST: "0" }) };
      const [file, words] = options.before ? ["sh", ["-c", `${options.before}; exec "$0" "$@"`, HEYVM, ...args]] : [HEYVM, args];
      const child = spawn(file, words, { cwd: t.repo, env, stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("error", reject);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out).toString("latin1"), stderr: Buffer.concat(err).toString("latin1") });
      });
      child.stdin.on("error", () => undefined); // a command that does not read its stdin
      child.stdin.end(options.input ?? Buffer.alloc(0));
    });
  }

  /** Runs a case through Node, then the launcher (then Node again if they differ: a table's AGE may have ticked). */
  async function conforms(c: Case): Promise<void> {
    c.setup?.();
    const node = await run(c.args, false, c);
    c.setup?.();
    rmSync(trace(), { force: true });
    const fast = await run(c.args, true, c);
    const answered = existsSync(trace()) ? readFileSync(trace(), "utf8").trim().split("\n").pop() ?? "" : "";
    if (JSON.stringify(fast) !== JSON.stringify(node)) {
      c.setup?.();
      const later = await run(c.args, false, c);
      if (JSON.stringify(fast) !== JSON.stringify(later)) {
        // a table whose AGE ticked over between the runs (twice): the same but for ages in between
        const [first, mine, last] = [node, fast, later].map((outcome) => ({ ...outcome, stdout: tableWithoutAges(outcome.stdout) }));
        assert.deepEqual(mine?.stdout.table, last?.stdout.table, `heyvm ${c.args.join(" ")}: the launcher and Node differ`);
        assert.deepEqual({ ...mine, stdout: "" }, { ...last, stdout: "" }, `heyvm ${c.args.join(" ")}: the launcher and Node differ`);
        mine?.stdout.ages.forEach((age, row) => {
          assert.ok((first?.stdout.ages[row] ?? Infinity) <= age && age <= (last?.stdout.ages[row] ?? -Infinity), `heyvm ${c.args.join(" ")}: the launcher's AGE is not between Node's`);
        });
      }
    }
    assert.ok(answered.startsWith(`${c.by}:`), `heyvm ${c.args.join(" ")} should be answered by ${c.by}; the launcher's trace says "${answered}"`);
  }

  const sandboxFile = (id: string, name: string) => join(t.home, "sandboxes", id, name);

  /** Makes the stopped sandbox's records say its owner is `pid` (with these facts), as a stale owner.json would. */
  function fakeOwner(facts: { startTime: string | null; bootId: string | null }): () => void {
    return () => {
      const id = ids.stopped ?? "";
      const pid = sleeper?.pid ?? 0;
      const record = JSON.parse(readFileSync(sandboxFile(id, "launch.json"), "utf8")) as { ownerText: string; owner: object };
      const owner = { ...(JSON.parse(record.ownerText) as object), pid, pidStartTime: facts.startTime, bootId: facts.bootId };
      record.ownerText = `${JSON.stringify(owner, null, 2)}\n`;
      record.owner = { pid, startTime: facts.startTime, bootId: facts.bootId };
      writeFileSync(sandboxFile(id, "owner.json"), record.ownerText);
      writeFileSync(sandboxFile(id, "launch.json"), JSON.stringify(record));
      writeFileSync(join(t.home, "live", id), "");
    };
  }

  function startTimeOf(pid: number): string {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  }

  const bootId = () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();

  before(async () => {
    t = makeTestEnv("heyvm-launcher-");
    for (const [key, branch] of [["a", "feat/a"], ["b", "feat/b"], ["stopped", "feat/stopped"]] as const) {
      const started = await t.run(["wt", branch, "--detach", "--backend", "bubblewrap"]);
      assert.equal(started.code, 0, started.stderr);
      ids[key] = idOf(started.stdout);
    }
    const tools = await t.run(["create", "--backend", "bubblewrap", "--name", "tools", "-e", "GREETING=hello there", "-e", "SHARED=from-sandbox", "--working-directory", "/tmp", "-q"]);
    assert.equal(tools.code, 0, tools.stderr);
    ids.tools = tools.stdout.trim();
    assert.equal((await t.run(["stop", ids.stopped ?? ""])).code, 0);
    await t.run(["list", "--all"]); // the catalog index and its keys, fresh
    sleeper = spawn("sleep", ["600"], { stdio: "ignore" });
  });

  after(async () => {
    sleeper?.kill("SIGKILL");
    await t?.cleanup();
  });

  test("exec: ids, prefixes, names, branches, stdio and exit codes", async () => {
    const a = ids.a ?? "";
    for (const args of [
      ["exec", a, "--", "sh", "-c", "echo out; echo err >&2; exit 7"],
      ["exec", a.slice(3, 7), "--", "pwd"],
      ["exec", a.slice(0, 6), "--", "pwd"],
      ["exec", "wt-feat-b", "--", "sh", "-c", 'echo "$HEYVM_SANDBOX_ID $HEYVM_SANDBOX_NAME $HOME $USER"; pwd'],
      ["exec", "feat/a", "--", "printf", "%s|", "a b", "", "'quoted'", "héllo ☃"],
      ["exec", a, "sh", "-c", "echo without a separator"],
      ["exec", a, "--", "echo", "-h", "--help", "--", "--version"],
      ["exec", a, "--", "no-such-command"],
      ["exec", "tools", "--", "sh", "-c", 'echo "$GREETING / $SHARED"; pwd'],
    ]) {
      await conforms({ args, by: "native" });
    }
    // node raises the soft open-files limit to the hard one, and the command inherits it
    await conforms({ args: ["exec", a, "--", "sh", "-c", "ulimit -Sn; ulimit -Hn"], by: "native", before: "ulimit -Sn 512" });
  });

  test("exec: -e/--env, -w/--workdir and --cwd before the id and between it and --", async () => {
    const a = ids.a ?? "";
    for (const args of [
      ["exec", a, "-e", "A=1", "--env", "B=2 two", "--env=C=3", "-eD=4=four", "-w", "/tmp", "--", "sh", "-c", 'echo "$A $B $C $D"; pwd'],
      ["exec", "-e", "A=1", a, "-e", "A=2", "-e", "Z=26", "--", "env"],
      ["exec", "-e", "A=1", a, "-e", "B=2", "--", "env"],
      ["exec", a, "--cwd=/etc", "--", "pwd"],
      ["exec", "-w", "/etc", a, "--workdir", "/tmp", "--", "pwd"],
      ["exec", "--cwd", "/etc", "-w", "/tmp", a, "--", "pwd"],
      ["exec", a, "-w/usr", "--", "pwd"],
      ["exec", a, "-w", "/no/such/folder", "--", "true"],
      ["exec", "tools", "-e", "SHARED=from-call", "-e", "NEW=x", "--workdir", "/", "--", "sh", "-c", 'echo "$GREETING / $SHARED / $NEW"; pwd'],
      ["exec", a, "-e", "A=1", "sh", "-c", "echo the options are the command"],
    ]) {
      await conforms({ args, by: "native" });
    }
    await conforms({ args: ["exec", a, "--", "env"], by: "native", env: { TERM: "xterm-test", LANG: "C.UTF-8", LC_ALL: "", COLORTERM: "truecolor", SECRET_TOKEN: "never-inside" } });
  });

  test("exec: every exec option, --cloud-url (accepted by every command) before the id and between it and --", async () => {
    const a = ids.a ?? "";
    const url = "http://127.0.0.1:9";
    // the options the launcher takes itself; --cloud-url means nothing to a local sandbox
    for (const args of [
      ["exec", a, "--cloud-url", url, "--", "pwd"],
      ["exec", "--cloud-url", url, a, "--", "pwd"],
      ["exec", a, `--cloud-url=${url}`, "-e", "A=1", "--", "sh", "-c", 'echo "$A"'],
      ["exec", "-w", "/tmp", a, "--cloud-url", url, "--cwd", "/etc", "--env", "B=2", "--", "sh", "-c", 'echo "$B"; pwd'],
      ["exec", a, "--workdir", "/usr", "--cloud-url", url, "--", "pwd"],
    ]) {
      await conforms({ args, by: "native" });
    }
    // the options Node answers (the launcher hands them over), each with --cloud-url beside it
    for (const args of [
      ["exec", a, "--format", "json", "--cloud-url", url, "--", "echo", "captured"],
      ["exec", a, "--cloud-url", url, "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
      ["exec", a, "--format", "table", "--cloud-url", url, "--", "echo", "table"],
      ["exec", a, "--timeout", "5s", "--cloud-url", url, "--", "true"],
      ["exec", a, "--cloud-url", url, "--timeout", "200ms", "--", "sleep", "5"],
      ["exec", a, "--cloud-url", url, "--session", "s2", "--", "pwd"],
      ["exec", "--cloud-url", url, "--format", "json", a, "-e", "A=1", "--", "sh", "-c", 'echo "$A"'],
      ["exec", a, "--cloud-url", url, "--no-such-option", "--", "true"],
      ["exec", a, "--format", "json", "--cloud-url", url, "--no-such-option", "--", "true"],
      ["exec", "sb-deadbeef", "--format", "json", "--cloud-url", url, "--", "true"],
    ]) {
      await conforms({ args, by: "node" });
    }
    // a cloud sandbox: the address after the id is the one used (nothing listens on port 9)
    for (const fast of [true, false]) {
      const outcome = await run(["exec", "dep-12345678", "--format", "json", "--cloud-url", url, "--", "true"], fast, { env: { HEYO_API_KEY: "heyvm_test", HEYO_CLOUD_URL: "" } });
      assert.equal(outcome.code, 5, outcome.stderr);
      assert.match(outcome.stderr, /cannot reach the cloud at http:\/\/127\.0\.0\.1:9 /);
      assert.equal((JSON.parse(outcome.stdout) as { error: { exit_code: number } }).error.exit_code, 5);
    }
  });

  test("exec --user/-u: Node answers it (the launcher hands it over), as the sandbox's user, before the id and between it and --", async () => {
    const a = ids.a ?? "";
    const url = "http://127.0.0.1:9";
    for (const args of [
      ["exec", a, "--user", "heyo", "--", "sh", "-c", 'id -un; echo "$HOME $USER"; pwd'],
      ["exec", "-u", "1000", a, "--cloud-url", url, "-e", "A=1", "--", "sh", "-c", 'id -u; echo "$A"'],
      ["exec", a, "--cloud-url", url, "--user=heyo", "--format", "json", "--", "id", "-un"],
      ["exec", a, "-u", "no-such-user", "--", "true"],
      ["exec", a, "--user", "root", "--", "id", "-u"],
      ["exec", a, "--user", "bad name", "--", "true"],
    ]) {
      await conforms({ args, by: "node" });
    }
    const own = await run(["exec", a, "--user", "heyo", "--", "sh", "-c", 'id -un; echo "$HOME $USER"'], true);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout, "heyo\n/home/heyo heyo\n");
    const missing = await run(["exec", a, "-u", "no-such-user", "--", "true"], true);
    assert.equal(missing.code, 125);
    assert.equal(missing.stderr, "heyvm: exec --user no-such-user: there is no such user in this sandbox\n");
    const other = await run(["exec", a, "--user", "root", "--", "id", "-u"], true);
    assert.equal(other.code, 125, "the command never ran as root");
    assert.equal(other.stdout, "");
    assert.match(other.stderr, /^heyvm: exec --user root: commands in this sandbox do not run as root in it, so they cannot become another user\n$/);
    const bad = await run(["exec", a, "--user", "bad name", "--", "true"], true);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--user takes a user name or a uid, not "bad name"/);
  });

  test("exec: a command killed by a signal, large stdin, large stdout", async () => {
    const a = ids.a ?? "";
    await conforms({ args: ["exec", a, "--", "sh", "-c", "kill -TERM $$"], by: "native" });
    await conforms({ args: ["exec", a, "--", "sh", "-c", "kill -KILL $$"], by: "native" });
    await conforms({ args: ["exec", a, "--", "sh", "-c", "wc -c; echo done"], by: "native", input: randomBytes(16 * 1024 * 1024) });
    await conforms({ args: ["exec", a, "--", "sha256sum"], by: "native", input: Buffer.alloc(3 * 1024 * 1024, "heyvm\n") });
    await conforms({ args: ["exec", a, "--", "seq", "1", "400000"], by: "native" });
  });

  test("exec: a SIGTERM to heyvm goes on to the command, and heyvm reports it", async () => {
    const a = ids.a ?? "";
    const codes: Array<number | null> = [];
    rmSync(trace(), { force: true });
    for (const fast of [false, true]) {
      const env = { ...t.env, HEYVM_LAUNCHER_TRACE: trace(), ...(fast ? {} : { HEYVM_FAST: "0" }) };
      const child = spawn(HEYVM, ["exec", a, "--", "sh", "-c", "echo started; exec sleep 30"], { cwd: t.repo, env, stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      child.kill("SIGTERM");
      // "exit", not "close": the sleep inside goes on holding the pipe after nsenter is ended
      codes.push(await new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code))));
      child.stdout.destroy();
    }
    assert.deepEqual({ codes, trace: readFileSync(trace(), "utf8") }, { codes: [143, 143], trace: "native: exec\n" });
  });

  test("exec: errors and forms the launcher hands to Node", async () => {
    const a = ids.a ?? "";
    for (const args of [
      ["exec", "sb-deadbeef", "--", "true"],
      ["exec", "no-such-sandbox", "--", "true"],
      ["exec", "sb", "--", "true"], // every id starts so: ambiguous
      ["exec", ids.stopped ?? "", "--", "true"],
      ["exec", "feat/stopped", "--", "true"],
      ["exec", a],
      ["exec", a, "--"],
      ["exec", a, "echo", "--", "-x"],
      ["exec", a, "-e", "NOEQUALS", "--", "true"],
      ["exec", a, "-e", "1BAD=x", "--", "true"],
      ["exec", a, "--timeout", "5s", "--", "true"],
      ["exec", a, "--format", "json", "--", "echo", "captured"],
      ["exec", a, "--session", "s1", "--", "pwd"],
      ["exec", "dep-abc123", "--", "true"],
      ["exec", "--help"],
    ]) {
      await conforms({ args, by: "node" });
    }
  });

  test("exec and list: a stale owner.json from another boot, a reused pid, an owner whose machine is gone", async () => {
    const stopped = ids.stopped ?? "";
    const pid = sleeper?.pid ?? 0;
    const cases = [
      fakeOwner({ startTime: startTimeOf(pid), bootId: "00000000-0000-0000-0000-another-boot" }),
      fakeOwner({ startTime: "1", bootId: bootId() }),
      fakeOwner({ startTime: startTimeOf(pid), bootId: bootId() }), // alive "owner", dead init: the backend's check
    ];
    try {
      for (const setup of cases) {
        await conforms({ args: ["exec", stopped, "--", "true"], by: "node", setup });
        await conforms({ args: ["list", "--json"], by: "node", setup });
      }
    } finally {
      rmSync(sandboxFile(stopped, "owner.json"), { force: true });
      rmSync(join(t.home, "live", stopped), { force: true });
    }
  });

  test("list, list --json and --version; other list forms go to Node", async () => {
    for (const args of [["list"], ["list", "--json"], ["list", "--json", "--json"], ["--version"], ["-V"]]) {
      await conforms({ args, by: "native" });
    }
    for (const args of [["list", "--all"], ["list", "-a", "--json"], ["list", "--format", "json"], ["--version", "list"], ["list", "--wt"]]) {
      await conforms({ args, by: "node" });
    }
    // a live-index entry an owner left when it died: Node removes it (so the launcher hands it over)
    await conforms({ args: ["list"], by: "node", setup: () => writeFileSync(join(t.home, "live", ids.stopped ?? ""), "") });
    await conforms({ args: ["list"], by: "native" });
  });

  test("exec in a terminal: the terminal settings are put back as Node puts them back", { skip: ptyAvailable ? false : "node-pty did not build on this machine" }, async () => {
    const pty = await import("node-pty");
    const outputs: string[] = [];
    for (const fast of [false, true]) {
      const env = { ...t.env, ...(fast ? {} : { HEYVM_FAST: "0" }) } as Record<string, string>;
      const script = `"${HEYVM}" exec ${ids.a ?? ""} -- sh -c 'test -t 0 && echo a terminal; stty size; stty -echo'; echo "exit $?"; stty -a | tr ' ' '\\n' | grep -x -e echo -e -echo`;
      const term = pty.spawn("sh", ["-c", script], { cols: 91, rows: 23, cwd: t.repo, env, name: "xterm" });
      let text = "";
      term.onData((data) => (text += data));
      await new Promise<void>((resolve) => term.onExit(() => resolve()));
      outputs.push(text);
    }
    assert.equal(outputs[1], outputs[0]);
    assert.match(outputs[0] ?? "", /a terminal\r\n23 91\r\nexit 0\r\n(-?echo)\r\n/);
  });

  test("with every sandbox stopped, list says so as Node does", async () => {
    for (const key of ["a", "b", "tools"]) assert.equal((await t.run(["stop", ids[key] ?? ""])).code, 0);
    await waitFor(() => !existsSync(join(t.home, "live", ids.a ?? "")), 10_000, "the live index to empty");
    for (const args of [["list"], ["list", "--json"]]) await conforms({ args, by: "native" });
    await conforms({ args: ["exec", ids.a ?? "", "--", "true"], by: "node" });
  });
});
