import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../../src/index.js";
import { cairn, CLI, sha256Hex, TempDirs, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;
const UNKNOWN = `sha256:${"ab".repeat(32)}`;

function run(args: string[], input?: Buffer | string): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir, input });
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
});
afterEach(() => temps.cleanup());

describe("help, version and usage errors", () => {
  it("--help and --version exit 0 on stdout", () => {
    const help = cairn(["--help"], { cwd: dir });
    expect(help.status).toBe(0);
    expect(help.out).toContain("Usage: cairn");
    const ALL = ["init", "store", "snapshot", "gc", "fsck", "lineage", "run", "resume", "verify", "replay", "runs", "wf", "serve", "examine", "plane"];
    for (const cmd of ALL) expect(help.out).toContain(`  ${cmd}`);
    // Command modules load on demand; the top-level help lists every command however it is asked for.
    for (const args of [["--help", "wf"], ["-h", "run"], ["--json", "--help"]]) {
      const h = cairn(args, { cwd: dir });
      expect(h.status).toBe(0);
      for (const cmd of ALL) expect(h.out).toContain(`  ${cmd}`);
    }
    const sub = cairn(["store", "put", "--help"], { cwd: dir });
    expect(sub.status).toBe(0);
    expect(sub.out).toContain("--media-type");
    expect(sub.out).toContain("--json");
    expect(cairn(["help", "gc"], { cwd: dir }).out).toContain("--dry-run");
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    // --version alone loads no command module; with a command it is that command's.
    for (const args of [["--version"], ["-V"], ["--json", "--version"]]) {
      const v = cairn(args, { cwd: dir });
      expect(v.status).toBe(0);
      expect(v.out).toBe(`${pkg.version}\n`);
    }
    // Global options alone are no command (the --version shortcut must not take them).
    const bare = cairn(["--json"], { cwd: dir });
    expect([bare.status, bare.out]).toEqual([2, ""]);
    expect(JSON.parse(bare.err)).toEqual({ error: { code: "E_USAGE", message: "missing command (--help lists them)" } });
    expect(cairn(["-q"], { cwd: dir }).status).not.toBe(0);
  });

  it.each([
    ["unknown option", ["store", "ls", "--bogus"], "unknown option '--bogus'"],
    ["unknown global-position option", ["--bogus", "store", "ls"], "unknown option '--bogus'"],
    ["missing argument", ["store", "get"], "missing required argument 'digest'"],
    ["missing argument (pin)", ["store", "pin", UNKNOWN], "missing required argument 'name'"],
    ["excess argument", ["store", "stat", UNKNOWN, "extra"], "too many arguments"],
    ["unknown command", ["frobnicate"], "unknown command 'frobnicate'"],
    ["unknown subcommand", ["store", "frobnicate"], "unknown command 'frobnicate'"],
    ["missing option value", ["store", "ls", "--limit"], "argument missing"],
    ["bad --wait", ["--wait", "later", "init"], "--wait"],
  ])("%s exits 2", (_name, args, message) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.err).toContain(message);
    expect(r.err).toContain("[E_USAGE]");
    expect(r.out).toBe("");
    expect(existsSync(store)).toBe(false);
  });

  it("a missing subcommand prints help to stderr and a coded usage error, and exits 2", () => {
    for (const args of [[], ["store"], ["snapshot"]]) {
      const r = cairn(args, { cwd: dir });
      expect(r.status).toBe(2);
      expect(r.err).toContain("Usage: cairn");
      expect(r.err.trimEnd().split("\n").at(-1)).toBe("cairn: missing command (--help lists them) [E_USAGE]");
      expect(r.out).toBe("");
    }
    // With --json, stderr is the one JSON error (no help text).
    const j = cairn(["--json", "wf"], { cwd: dir });
    expect(j.status).toBe(2);
    expect(j.out).toBe("");
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_USAGE", message: "missing command (--help lists them)" } });
  });

  it("a --wait beyond the lock's 32-bit limit is a usage error naming --wait, before the store is touched", () => {
    const store = join(dir, "w-store");
    const r = cairn(["--store", store, "--wait", "30d", "init"], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.err).toBe("cairn: --wait must be at most 2147483647 ms (about 24.8 days), got 2592000000 [E_USAGE]\n");
    expect(existsSync(store)).toBe(false);
    expect(cairn(["--store", store, "--wait", "2147483647", "init"], { cwd: dir }).status).toBe(0);
  });

  it("usage errors are one JSON object on stderr with --json", () => {
    const r = run(["store", "ls", "--bogus", "--json"]);
    expect(r.status).toBe(2);
    expect(r.out).toBe("");
    expect(JSON.parse(r.err)).toEqual({ error: { code: "E_USAGE", message: "unknown option '--bogus'" } });
  });
});

describe("stdin redirected from a directory", () => {
  it("store put - and run --input - refuse it (E_INVALID_INPUT) instead of reading an empty input", () => {
    const fd = openSync(dir, "r"); // a directory as fd 0, as `cmd < dir` gives
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
      delete env.CAIRN_STORE;
      writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
      for (const args of [["store", "put", "-"], ["run", "id.mjs", "--input", "-"]]) {
        const r = spawnSync(process.execPath, [CLI, "--store", join(dir, "s"), "-q", ...args], { cwd: dir, env, stdio: [fd, "pipe", "pipe"], encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(/directory.*\[E_INVALID_INPUT\]\n$/);
      }
    } finally {
      closeSync(fd);
    }
  });
});

describe("bad digests", () => {
  it("a malformed digest is E_DIGEST_INVALID, exit 2, before the store is opened", () => {
    for (const args of [["store", "get", "nothex"], ["store", "rm", "sha256:XYZ"], ["store", "pin", "abc", "n"], ["lineage", "sha1:00"]]) {
      const r = run(args);
      expect(r.status).toBe(2);
      expect(r.err).toContain("E_DIGEST_INVALID");
      expect(existsSync(store)).toBe(false);
    }
    const j = run(["store", "stat", "bad", "--json"]);
    expect(j.status).toBe(2);
    expect(j.out).toBe("");
    expect((JSON.parse(j.err) as { error: { code: string } }).error.code).toBe("E_DIGEST_INVALID");
  });

  it("an unknown digest exits 1 with 'not found'", () => {
    run(["init"]);
    for (const args of [["store", "get", UNKNOWN], ["store", "stat", UNKNOWN], ["store", "rm", UNKNOWN], ["store", "pin", UNKNOWN, "p"]]) {
      const r = run(args);
      expect(r.status).toBe(1);
      expect(r.err).toContain("not found");
      expect(r.err).toContain("[E_NOT_FOUND]");
      expect(r.out).toBe("");
    }
  });
});

describe("store location problems", () => {
  it("reading a missing store is E_STORE_MISSING (exit 1) and creates nothing", () => {
    const r = run(["store", "ls"]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("E_STORE_MISSING");
    expect(r.err).toContain(store);
    expect(existsSync(store)).toBe(false);
  });

  it("commands that only change existing records do not create a missing store", () => {
    for (const args of [["gc"], ["fsck"], ["store", "rm", UNKNOWN], ["store", "pin", UNKNOWN, "p"], ["store", "unpin", "p"], ["snapshot", "rm", "s"]]) {
      const r = run(args);
      expect(r.status).toBe(1);
      expect(r.err).toContain("E_STORE_MISSING");
      expect(existsSync(store)).toBe(false);
    }
  });

  it("a store path under a regular file fails with exit 1 naming the path", () => {
    writeFileSync(join(dir, "afile"), "not a directory");
    const bad = join(dir, "afile", "store");
    for (const args of [["init"], ["store", "put", "-"]]) {
      const r = cairn(["--store", bad, ...args], { cwd: dir, input: "x" });
      expect(r.status).toBe(1);
      expect(r.err).toContain(bad);
      expect(r.err).toContain("E_STORE_IO");
    }
    const read = cairn(["store", "ls", "--store", bad], { cwd: dir });
    expect(read.status).toBe(1);
    expect(read.err).toContain(bad);
  });

  it.skipIf(!existsSync("/proc/self"))("a store under /proc fails with exit 1 instead of hanging (Node's recursive mkdir loops there)", () => {
    const r = spawnSync(process.execPath, [CLI, "--store", "/proc/self/cairn-store", "init"], { cwd: dir, encoding: "utf8", timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cannot create store directory /proc/self/cairn-store: ENOENT");
    expect(r.stderr).toContain("E_STORE_IO");
  });

  it.skipIf(process.getuid?.() === 0)("an unwritable directory fails with exit 1 naming the path", () => {
    const locked = join(dir, "locked");
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    try {
      const r = cairn(["--store", join(locked, "store"), "init"], { cwd: dir });
      expect(r.status).toBe(1);
      expect(r.err).toContain(join(locked, "store"));
    } finally {
      chmodSync(locked, 0o700);
    }
  });

  it("a store of format version 99 is refused (exit 1) naming both versions", () => {
    mkdirSync(store);
    writeFileSync(join(store, "FORMAT"), JSON.stringify({ format: "cairn-store", version: 99 }));
    for (const args of [["store", "ls"], ["store", "put", "-"], ["init"]]) {
      const r = run(args, "x");
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/format version 99.*format version 1\b/);
      expect(r.err).toContain("E_STORE_VERSION");
    }
    const j = run(["store", "ls", "--json"]);
    expect(j.status).toBe(1);
    expect(j.out).toBe("");
    const e = JSON.parse(j.err) as { error: { code: string; message: string; details: Record<string, unknown> } };
    expect(e.error.code).toBe("E_STORE_VERSION");
    expect(e.error.message).toContain("99");
    expect(e.error.details).toMatchObject({ found: 99, supported: 1 });
  });

  it("a missing input file is exit 1 naming it, and creates no store", () => {
    const r = run(["store", "put", "nope.txt"]);
    expect(r.status).toBe(1);
    expect(r.err).toBe("cairn: cannot read nope.txt: no such file or directory [E_NOT_FOUND]\n");
    expect(existsSync(store)).toBe(false);
  });
});

describe("files named by the user: one rule in every command (ARCHITECTURE §7)", () => {
  // A file to read that does not exist is E_NOT_FOUND; one that cannot be read E_INVALID_INPUT;
  // an output that cannot be written E_STORE_IO. Always exit 1, the path named.
  it.each([
    ["store put", ["store", "put", "nope.txt"], "E_NOT_FOUND", "cannot read nope.txt: no such file or directory"],
    ["store put of a directory", ["store", "put", "."], "E_INVALID_INPUT", "cannot read .: is a directory"],
    ["plane sign --key", ["plane", "sign", "--key", "nope.key", "--subject", "s", "--audience", "a", "--ttl", "60", "--request", "r.json"], "E_NOT_FOUND", "cannot read key nope.key: no such file or directory"],
    ["plane describe --config", ["plane", "describe", "--config", "nope.yaml"], "E_NOT_FOUND", "cannot read node config nope.yaml: no such file or directory"],
    ["run's module", ["run", "nope.mjs", "--input", "in.jsonl"], "E_NOT_FOUND", "module not found: nope.mjs"],
    ["run's input", ["run", "f.mjs", "--input", "nope.jsonl"], "E_NOT_FOUND", "input not found: nope.jsonl"],
    ["run --out", ["run", "f.mjs", "--input", "in.jsonl", "--out", "file/o.jsonl", "-q"], "E_STORE_IO", "cannot write file/o.jsonl: ENOTDIR: not a directory"],
    ["wf compile --out", ["wf", "compile", "wf.yaml", "--out", "file/snap.json", "-q"], "E_STORE_IO", "cannot write --out file/snap.json: ENOTDIR: not a directory"],
    ["plane keygen --out", ["plane", "keygen", "--out", "file/keys"], "E_STORE_IO", "cannot write key files in file/keys: ENOTDIR: not a directory, mkdir 'file/keys'"],
  ])("%s", (_name, args, code, message) => {
    writeFileSync(join(dir, "file"), "a regular file");
    writeFileSync(join(dir, "f.mjs"), "export default (x) => x;\n");
    writeFileSync(join(dir, "in.jsonl"), '{"a":1}\n');
    writeFileSync(join(dir, "r.json"), "{}");
    writeFileSync(
      join(dir, "wf.yaml"),
      "cairn: cairn.workflow/v1\nnamespace: t\ncode: WF_T_V0\nentry: a\nstores:\n  mu: { kind: mutable, path: st/mu.json }\nnodes:\n  a:\n    steps:\n      - { id: get, cs: mu, op: READ, inputs: { key: $.payload.k } }\n    routes:\n      default: { exit: DONE, reason: read }\n",
    );
    const r = run([...args, "--json"]);
    expect({ status: r.status, error: JSON.parse(r.err).error }).toMatchObject({ status: 1, error: { code, message } });
  });
});

describe("the writer lock", () => {
  it("a second writer gets E_STORE_LOCKED; readers still work; after close the write succeeds", () => {
    writeFileSync(join(dir, "f"), "payload");
    const held = openStore({ dir: store });
    try {
      const r = run(["store", "put", "f"]);
      expect(r.status).toBe(1);
      expect(r.err).toContain("E_STORE_LOCKED");
      expect(r.out).toBe("");

      const t0 = Date.now();
      const waited = run(["--wait", "300", "store", "put", "f"]);
      expect(waited.status).toBe(1);
      expect(waited.err).toContain("E_STORE_LOCKED");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);

      const ls = run(["store", "ls", "--json"]);
      expect(ls.status).toBe(0);
      expect(JSON.parse(ls.out)).toEqual([]);
    } finally {
      held.close();
    }
    const r = run(["store", "put", "f"]);
    expect(r.status).toBe(0);
    expect(r.out).toBe(`${sha256Hex("payload")}\n`);
  });
});
