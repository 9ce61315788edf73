/**
 * CLI conventions (the BUILT cli, test/cli/helpers.ts): an empty path is a usage error naming the
 * argument or flag; `--store`'s help tells which commands use a store only when one is named;
 * plane request JSON errors are one line naming the file, line and column; `wf compile --out`
 * replaces the previous snapshot atomically; `plane sign --ttl` takes durations; `plane keygen`
 * names its temp files by the shared rule, sweeps a killed keygen's, and recovers a `.key`
 * left without its `.pub`.
 */
import { spawnSync } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/core/errors.js";
import { parseLosslessJson, textPosition } from "../../src/core/json-parse.js";
import { nonEmptyArg, requireNonEmpty } from "../../src/cli/args.js";
import { parseSecondsOrDuration } from "../../src/cli/duration.js";
import { pidSpace, writerTempName } from "../../src/store/temp-files.js";
import { parsePyJson } from "../../src/workflow/py/json-parse.js";
import { CLI, TempDirs, cairn, json, type RunResult, PLANE_PROCESS_REQUEST } from "./helpers.js";

const temps = new TempDirs();
let dir: string;
afterAll(() => temps.cleanup());

function run(args: string[], cwd = dir): RunResult {
  return cairn(args, { cwd });
}

/** The whole stderr is exactly one line, the exit status `status`, stdout empty. */
function fails(r: RunResult, status: number, line: string): void {
  expect(r.err).toBe(`${line}\n`);
  expect(r.status).toBe(status);
  expect(r.out).toBe("");
}

const DECL = "cairn: cairn.workflow/v1\nnamespace: conv\ncode: WF_CONV_V0\nentry: a\nstores:\n  mu: { kind: mutable, path: st/mu.json }\nnodes:\n  a:\n    steps:\n      - { id: get, cs: mu, op: READ, inputs: { key: $.payload.k } }\n    routes:\n      default: { exit: DONE, reason: read }\n";

const NODE_CONFIG = `node_id: local-1
authority: { audience: cairn-local, trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }],
             policy: [{ subject: alice, lanes: [process], operations: ["*"] }] }
lanes: [process]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: { jsonl: evidence.jsonl }
`;

/** The request file: a missing value on line 3 (column 7), a trailing comma after it. */
const BROKEN_REQUEST = '{\n "a": 1,\n "b": ,\n}\n';

beforeAll(() => {
  dir = temps.make();
  expect(run(["plane", "keygen", "--out", "keys", "--id", "ops"]).status).toBe(0);
  writeFileSync(join(dir, "node.yaml"), NODE_CONFIG);
  writeFileSync(join(dir, "req.json"), JSON.stringify(PLANE_PROCESS_REQUEST));
  writeFileSync(join(dir, "br.json"), BROKEN_REQUEST);
  writeFileSync(join(dir, "wf.yaml"), DECL);
  writeFileSync(join(dir, "t.jsonl"), "");
  writeFileSync(join(dir, "p.json"), '{"k": "x"}');
  expect(run(["wf", "compile", "wf.yaml", "--out", "snap.json"]).status).toBe(0);
});

describe("an empty path is a usage error naming the argument or flag", () => {
  it("the shared helper (src/cli/args.ts)", () => {
    expect(requireNonEmpty("x", "--config")).toBe("x");
    expect(() => requireNonEmpty("", "--config")).toThrow(UsageError);
    expect(() => nonEmptyArg("argument <file>")("")).toThrow("argument <file> must not be empty");
    expect(nonEmptyArg("argument <file>")(" ")).toBe(" ");
  });

  it.each([
    [["examine", ""], "argument <trace>"],
    [["examine", "t.jsonl", "--workspace", ""], "--workspace"],
    [["examine", "t.jsonl", "--snapshot", ""], "--snapshot"],
    [["wf", "compile", ""], "argument <paths...>"],
    [["wf", "compile", "wf.yaml", ""], "argument <paths...> #2"],
    [["store", "put", ""], "argument <file>"],
    [["plane", "describe", "--config", ""], "--config"],
    [["plane", "exec", "--config", "", "--request", "req.json"], "--config"],
    [["plane", "exec", "--config", "node.yaml", "--request", ""], "--request"],
    [["plane", "sign", "--key", "", "--subject", "alice", "--audience", "a", "--ttl", "60", "--request", "req.json"], "--key"],
    [["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "a", "--ttl", "60", "--request", ""], "--request"],
    [["--store", "", "store", "ls"], "--store"],
    [["store", "ls", "--snapshot", ""], "--snapshot"],
    [["lineage", `sha256:${"0".repeat(64)}`, "--snapshot", ""], "--snapshot"],
    [["--store", "", "wf", "compile", "wf.yaml"], "--store"],
  ])("cairn %j: E_USAGE, exit 2", (args, what) => {
    fails(run(args), 2, `cairn: ${what} must not be empty [E_USAGE]`);
    const j = run([...args, "--json"]);
    expect(j.status).toBe(2);
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_USAGE", message: `${what} must not be empty`, details: { field: what } } });
  });

  it("an empty $CAIRN_STORE is named as such (it said only \"store directory must not be empty\")", () => {
    const cwd = temps.make();
    const r = cairn(["runs", "ls"], { cwd, env: { CAIRN_STORE: "" } });
    fails(r, 2, "cairn: $CAIRN_STORE is set but empty: name a store directory, or unset it for the default ./.cairn [E_USAGE]");
    const j = cairn(["runs", "ls", "--json"], { cwd, env: { CAIRN_STORE: "" } });
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_USAGE", message: "$CAIRN_STORE is set but empty: name a store directory, or unset it for the default ./.cairn", details: { field: "$CAIRN_STORE" } } });
    expect(readdirSync(cwd)).toEqual([]);
  });

  it("wf run --snapshot with an empty --workspace: E_USAGE, nothing written in the current directory", () => {
    const cwd = temps.make();
    fails(cairn(["wf", "run", "--snapshot", join(dir, "snap.json"), "--payload", join(dir, "p.json"), "--workspace", "", "--no-render"], { cwd }), 2, "cairn: --workspace must not be empty [E_USAGE]");
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe("--store's help", () => {
  it("says which commands use a store only when one is named, and they do", () => {
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.out.replace(/\s+/g, " ")).toContain(
      "--store <dir> store directory (default: $CAIRN_STORE, else ./.cairn; `wf run`, `wf compile`, `serve` and `examine` use a store only when --store or $CAIRN_STORE is set)",
    );
    const cwd = temps.make();
    writeFileSync(join(cwd, "wf.yaml"), DECL);
    expect(cairn(["wf", "compile", "wf.yaml"], { cwd }).status).toBe(0);
    expect(existsSync(join(cwd, ".cairn"))).toBe(false);
    expect(cairn(["init"], { cwd }).status).toBe(0);
    expect(existsSync(join(cwd, ".cairn"))).toBe(true);
  });
});

describe("plane request files that are not JSON: one line naming file, line and column", () => {
  const MESSAGE = "request br.json: not valid JSON: Expecting value: line 3 column 7 (char 17)";

  it("plane exec and plane sign", () => {
    fails(run(["plane", "exec", "--config", "node.yaml", "--request", "br.json"]), 1, `cairn: ${MESSAGE} [E_INVALID_INPUT]`);
    fails(run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "a", "--ttl", "60", "--request", "br.json"]), 1, `cairn: ${MESSAGE} [E_INVALID_INPUT]`);
    const j = run(["plane", "exec", "--config", "node.yaml", "--request", "br.json", "--json"]);
    expect(j.status).toBe(1);
    expect(j.err.split("\n")).toHaveLength(2); // one line and its newline
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_INVALID_INPUT", message: MESSAGE, details: { path: "br.json", line: 3, column: 7, char: 17 } } });
  });

  it("the same position as wf run --payload gives (one parser, src/core/json-parse.ts)", () => {
    const payload = run(["wf", "run", "--snapshot", "snap.json", "--payload", "br.json", "--no-render"]);
    expect(payload.err).toContain("Expecting value: line 3 column 7 (char 17)");
    // Columns count code points, as Python does; a text after a complete value is named too.
    writeFileSync(join(dir, "astral.json"), '{"k": "\u{1F600}" "v"}');
    fails(run(["plane", "exec", "--config", "node.yaml", "--request", "astral.json"]), 1, "cairn: request astral.json: not valid JSON: Expecting ',' delimiter: line 1 column 11 (char 10) [E_INVALID_INPUT]");
    writeFileSync(join(dir, "extra.json"), '{"k": 1}\n{"k": 2}\n');
    fails(run(["plane", "exec", "--config", "node.yaml", "--request", "extra.json"]), 1, "cairn: request extra.json: not valid JSON: Extra data: line 2 column 1 (char 9) [E_INVALID_INPUT]");
  });

  it("the parser moved to src/core keeps its old import (src/workflow/py/json-parse.ts)", () => {
    expect(() => parseLosslessJson(BROKEN_REQUEST)).toThrow("Expecting value: line 3 column 7 (char 17)");
    expect(() => parsePyJson(BROKEN_REQUEST)).toThrow("Expecting value: line 3 column 7 (char 17)");
    expect(parsePyJson('{"a": 1, "b": [2.5, null]}')).toEqual(new Map<string, unknown>([["a", 1n], ["b", [2.5, null]]]));
    expect(textPosition("ab\n\u{1F600}x", 5)).toEqual({ line: 2, column: 2, char: 4 });
  });
});

describe("wf compile --out replaces the previous snapshot atomically", () => {
  it("a write that fails midway (the file-size limit: a short write, then EFBIG) leaves the previous snapshot whole", () => {
    const cwd = temps.make();
    writeFileSync(join(cwd, "wf.yaml"), DECL);
    writeFileSync(join(cwd, "wf2.yaml"), DECL.replace("reason: read", "reason: read again"));
    expect(cairn(["wf", "compile", "wf.yaml", "--out", "snap.json", "-q"], { cwd }).status).toBe(0);
    chmodSync(join(cwd, "snap.json"), 0o640);
    const good = readFileSync(join(cwd, "snap.json"));
    // Larger than the limit below (512 or 1024 bytes, as the shell counts ulimit -f blocks).
    expect(good.length).toBeGreaterThan(1024);
    const r = spawnSync("sh", ["-c", 'ulimit -f 1 && exec "$0" "$@"', process.execPath, CLI, "wf", "compile", "wf2.yaml", "--out", "snap.json", "-q"], {
      cwd,
      env: { ...process.env, NO_COLOR: "1", CAIRN_STORE: "" },
    });
    expect(readFileSync(join(cwd, "snap.json")).equals(good)).toBe(true);
    expect(r.stderr.toString()).toBe("cairn: cannot write --out snap.json: EFBIG: file too large [E_STORE_IO]\n");
    expect(r.status).toBe(1);
    expect(readdirSync(cwd).sort()).toEqual(["snap.json", "wf.yaml", "wf2.yaml"]); // no temp file left

    // Without the limit it is replaced, keeping the file's mode.
    expect(cairn(["wf", "compile", "wf2.yaml", "--out", "snap.json", "-q"], { cwd }).status).toBe(0);
    expect(readFileSync(join(cwd, "snap.json")).equals(good)).toBe(false);
    expect(statSync(join(cwd, "snap.json")).mode & 0o777).toBe(0o640);
  });

  it("a temp file of a killed writer of that --out is removed by the next one; a live writer's stays", () => {
    const cwd = temps.make();
    writeFileSync(join(cwd, "wf.yaml"), DECL);
    const space = pidSpace();
    if (space === null) throw new Error("this test needs /proc (the pid space tag)");
    const dead = spawnSync(process.execPath, ["-e", ""]).pid as number;
    const deadTemp = writerTempName("snap.json.", dead, space, "0".repeat(16));
    const liveTemp = writerTempName("snap.json.", process.pid, space, "1".repeat(16));
    writeFileSync(join(cwd, deadTemp), "partial");
    writeFileSync(join(cwd, liveTemp), "partial");
    expect(cairn(["wf", "compile", "wf.yaml", "--out", "snap.json", "-q"], { cwd }).status).toBe(0);
    expect(readdirSync(cwd).sort()).toEqual([liveTemp, "snap.json", "wf.yaml"].sort());
  });

  it("--out /dev/stdout writes the snapshot to stdout, before the digest (also when stdout is a socket, which cannot be opened by name)", () => {
    const r = run(["wf", "compile", "wf.yaml", "--out", "/dev/stdout", "-q"]);
    expect(r.status).toBe(0);
    const sealed = readFileSync(join(dir, "snap.json"), "utf8");
    const digest = (JSON.parse(sealed) as { digest: string }).digest;
    expect(r.out).toBe(`${sealed}${digest}\n`);
  });
});

describe("plane sign --ttl takes a duration; a bare integer is seconds", () => {
  const sign = (ttl: string): RunResult => run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "a", "--ttl", ttl, "--request", "req.json"]);
  const lifetime = (r: RunResult): number => {
    expect(r.status, r.err).toBe(0);
    const ref = json<{ authority_ref: { issued_at: number; expires_at: number } }>(r).authority_ref;
    return ref.expires_at - ref.issued_at;
  };

  it("accepts 60, 60s, 1m, 1.5h, 366d", () => {
    expect(lifetime(sign("60"))).toBe(60_000);
    expect(lifetime(sign("60s"))).toBe(60_000);
    expect(lifetime(sign("1m"))).toBe(60_000);
    expect(lifetime(sign("1.5h"))).toBe(5_400_000);
    expect(lifetime(sign("366d"))).toBe(366 * 86_400_000);
  });

  it("keeps the range 1 s .. 366 d, and refuses other texts naming --ttl", () => {
    fails(sign("367d"), 2, 'cairn: invalid --ttl "367d": expected a duration in 1s..366d [E_USAGE]');
    fails(sign("999ms"), 2, 'cairn: invalid --ttl "999ms": expected a duration in 1s..366d [E_USAGE]');
    fails(sign("0"), 2, 'cairn: invalid --ttl "0": expected an integer in 1..31622400 [E_USAGE]');
    const bad = 'expected a whole number of seconds in 1..31622400 or a duration with a unit (ms, s, m, h, d), e.g. 90s, 10m, 1d [E_USAGE]';
    fails(sign("1.5"), 2, `cairn: invalid --ttl "1.5": ${bad}`);
    fails(sign("60x"), 2, `cairn: invalid --ttl "60x": ${bad}`);
    expect(parseSecondsOrDuration("1000ms", "--ttl", 10, 1)).toBe(1000);
  });
});

describe("plane keygen: temp files by the shared rule, a killed keygen recovered", () => {
  /** Runs `plane keygen` under a hook that SIGKILLs the process right after it links a file ending in `suffix` into place. */
  function keygenKilledAfterLink(cwd: string, suffix: string, args: string[]): void {
    const hook = join(cwd, "kill-after-link.mjs");
    writeFileSync(
      hook,
      'import fs from "node:fs";\nimport { syncBuiltinESMExports } from "node:module";\nconst link = fs.linkSync;\n' +
        `fs.linkSync = (from, to) => { link(from, to); if (String(to).endsWith(${JSON.stringify(suffix)})) process.kill(process.pid, "SIGKILL"); };\n` +
        "syncBuiltinESMExports();\n",
    );
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(hook).href, CLI, "plane", "keygen", "--out", "keys", ...args], { cwd });
    expect(r.signal).toBe("SIGKILL");
  }
  const temp = /^\.(.+)\.(key|pub)\.[1-9][0-9]*-[0-9a-f]{8}-[0-9a-f]{16}\.tmp$/;

  it("killed after linking <id>.key: the next keygen removes the temp link and writes <id>.pub from the key", () => {
    const cwd = temps.make();
    keygenKilledAfterLink(cwd, ".key", ["--id", "ops"]);
    const left = readdirSync(join(cwd, "keys")).sort();
    expect(left).toHaveLength(2);
    expect(left[0]).toMatch(temp); // `.ops.key.<pid>-<space>-<16 hex>.tmp`: a second link to the private key
    expect(left[1]).toBe("ops.key");
    const key = readFileSync(join(cwd, "keys", "ops.key"), "utf8");

    const r = cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd });
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect(r.out).toBe("ops\nkeys/ops.key had no ops.pub: wrote keys/ops.pub (public) from it; no new key was generated\n");
    expect(readdirSync(join(cwd, "keys")).sort()).toEqual(["ops.key", "ops.pub"]);
    expect(readFileSync(join(cwd, "keys", "ops.key"), "utf8")).toBe(key);
    expect(statSync(join(cwd, "keys", "ops.key")).nlink).toBe(1);
    expect(readFileSync(join(cwd, "keys", "ops.pub"), "utf8")).toBe(createPublicKey(key).export({ format: "pem", type: "spki" }).toString());
    // Complete now: a further keygen refuses as before.
    fails(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd }), 1, "cairn: keys/ops.key already exists (use --force to overwrite) [E_CONFLICT]");
  });

  it("--json says recovered; a key file that is no key is a conflict", () => {
    const cwd = temps.make();
    keygenKilledAfterLink(cwd, ".key", ["--id", "ops"]);
    const r = cairn(["plane", "keygen", "--out", "keys", "--id", "ops", "--json"], { cwd });
    expect(r.status).toBe(0);
    expect(json(r)).toEqual({ id: "ops", private_key_file: "keys/ops.key", public_key_file: "keys/ops.pub", ed25519: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), recovered: true });
    mkdirSync(join(cwd, "other"));
    writeFileSync(join(cwd, "other", "x.key"), "not a key\n");
    fails(
      cairn(["plane", "keygen", "--out", "other", "--id", "x"], { cwd }),
      1,
      "cairn: other/x.key already exists and x.pub is missing, but it is not an Ed25519 private key to derive it from (use --force to overwrite) [E_CONFLICT]",
    );
  });

  it("a killed keygen's temps of any key id are swept; a live writer's and legacy names stay", () => {
    const cwd = temps.make();
    keygenKilledAfterLink(cwd, ".key", []); // default id: key-<16 hex>
    const [left] = readdirSync(join(cwd, "keys")).filter((n) => temp.test(n));
    expect(left).toMatch(/^\.key-[0-9a-f]{16}\.key\./);
    const space = pidSpace() as string;
    const live = writerTempName(".ops.pub.", process.pid, space, "2".repeat(16));
    const legacy = `.ops.key.${spawnSync(process.execPath, ["-e", ""]).pid}.0123456789ab.tmp`;
    writeFileSync(join(cwd, "keys", live), "x");
    writeFileSync(join(cwd, "keys", legacy), "x");
    const r = cairn(["plane", "keygen", "--out", "keys", "--json"], { cwd });
    expect(r.status).toBe(0);
    const id = json<{ id: string }>(r).id;
    const names = readdirSync(join(cwd, "keys"));
    expect(names).not.toContain(left);
    expect(names).toEqual(expect.arrayContaining([live, legacy, `${id}.key`, `${id}.pub`]));
  });
});
