/**
 * CLI audit fixes (the BUILT cli): empty flag values are usage errors naming the flag, `help`
 * with an unknown name, one-line YAML errors of a node config, the --key file named in a key
 * error, `lineage --depth` parsed against its limit.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LINEAGE_DEPTH } from "../../src/store/edges.js";
import { TempDirs, cairn, type RunResult, PLANE_PROCESS_REQUEST } from "./helpers.js";

const temps = new TempDirs();
let dir: string;

const REQUEST = PLANE_PROCESS_REQUEST;

function run(args: string[]): RunResult {
  return cairn(args, { cwd: dir, env: { CAIRN_STORE: join(dir, "store") } });
}

/** The whole stderr is exactly one usage error line (or one JSON error). */
function usage(r: RunResult, line: string): void {
  expect(r.err).toBe(`${line}\n`);
  expect(r.status).toBe(2);
  expect(r.out).toBe("");
}

beforeAll(() => {
  dir = temps.make();
  expect(run(["plane", "keygen", "--out", "keys", "--id", "ops"]).status).toBe(0);
  writeFileSync(join(dir, "req.json"), JSON.stringify(REQUEST));
  writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
  writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n');
});
afterAll(() => temps.cleanup());

describe("plane sign: empty --subject / --audience", () => {
  const sign = (subject: string, audience: string, extra: string[] = []) =>
    run(["plane", "sign", "--key", "keys/ops.key", "--subject", subject, "--audience", audience, "--ttl", "5", "--request", "req.json", ...extra]);

  it("an empty --subject or --audience is E_USAGE naming the flag, exit 2", () => {
    usage(sign("", "aud"), "cairn: --subject must not be empty [E_USAGE]");
    usage(sign("alice", ""), "cairn: --audience must not be empty [E_USAGE]");
    const j = sign("alice", "", ["--json"]);
    expect(j.status).toBe(2);
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_USAGE", message: "--audience must not be empty", details: { field: "--audience" } } });
    expect(sign("alice", "aud").status).toBe(0);
  });
});

describe("plane sign: a key that is not a private key", () => {
  it("names the --key file", () => {
    const r = run(["plane", "sign", "--key", "keys/ops.pub", "--subject", "alice", "--audience", "aud", "--ttl", "5", "--request", "req.json"]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toBe("cairn: --key keys/ops.pub: not a PEM private key [E_INVALID_INPUT]\n");
    const j = run(["plane", "sign", "--key", "keys/ops.pub", "--subject", "alice", "--audience", "aud", "--ttl", "5", "--request", "req.json", "--json"]);
    expect(j.status).toBe(1);
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_INVALID_INPUT", message: "--key keys/ops.pub: not a PEM private key", details: { path: "keys/ops.pub" } } });
  });
});

describe("empty output paths", () => {
  it("plane keygen --out '' is E_USAGE and writes nothing", () => {
    const before = readdirSync(dir).sort();
    usage(run(["plane", "keygen", "--out", ""]), "cairn: --out must not be empty [E_USAGE]");
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it("run --out '' and resume --out '' are E_USAGE before any work (no store is created)", () => {
    usage(run(["run", "id.mjs", "--input", "in.jsonl", "--out", ""]), "cairn: --out must not be empty [E_USAGE]");
    usage(run(["resume", "0123456789abcdef", "--out", ""]), "cairn: --out must not be empty [E_USAGE]");
    expect(existsSync(join(dir, "store"))).toBe(false);
  });

  it("store get -o '' / --out '' / --output '' is E_USAGE naming the flag; --out and --output together are E_USAGE", () => {
    const digest = run(["store", "put", "in.jsonl"]).out.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    usage(run(["store", "get", digest, "-o", ""]), "cairn: --out must not be empty [E_USAGE]");
    usage(run(["store", "get", digest, "--out", ""]), "cairn: --out must not be empty [E_USAGE]");
    usage(run(["store", "get", digest, "--output", ""]), "cairn: --output must not be empty [E_USAGE]");
    usage(run(["store", "get", digest, "--out", "a", "--output", "b"]), "cairn: give --out (-o) or --output, not both [E_USAGE]");
    expect(existsSync(join(dir, "a")) || existsSync(join(dir, "b"))).toBe(false);
  });

  it("store get --out and the older --output write the same verified bytes", () => {
    const digest = run(["store", "put", "in.jsonl"]).out.trim();
    expect(run(["store", "get", digest, "--out", "a.jsonl"]).status).toBe(0);
    expect(run(["store", "get", digest, "--output", "b.jsonl"]).status).toBe(0);
    expect(readFileSync(join(dir, "a.jsonl"))).toEqual(readFileSync(join(dir, "in.jsonl")));
    expect(readFileSync(join(dir, "b.jsonl"))).toEqual(readFileSync(join(dir, "in.jsonl")));
    const help = run(["store", "get", "--help"]).out.replace(/\s+/g, " ");
    expect(help).toContain("-o, --out <file> write to this file instead of stdout");
    expect(help).not.toContain("--output");
  });
});

describe("help with an unknown command name", () => {
  it("`cairn help bogus` and `cairn wf help bogus` fail like `cairn bogus`: no help, unknown command, exit 2", () => {
    usage(run(["help", "bogus"]), "cairn: unknown command 'bogus' [E_USAGE]");
    usage(run(["wf", "help", "bogus"]), "cairn: unknown command 'bogus' [E_USAGE]");
    usage(run(["bogus"]), "cairn: unknown command 'bogus' [E_USAGE]");
    usage(run(["--json", "help", "bogus"]), JSON.stringify({ error: { code: "E_USAGE", message: "unknown command 'bogus'" } }));
  });

  it("`help --help` / `help -h` describe the help command itself, exit 0", () => {
    for (const args of [["help", "--help"], ["help", "-h"], ["wf", "help", "--help"]]) {
      const r = run(args);
      expect(r.status).toBe(0);
      expect(r.out).toMatch(/^Usage: cairn (wf )?help \[options\] \[command\]\n/);
      expect(r.err).toBe("");
    }
  });

  it("`help <command path>` still prints that command's help on stdout, exit 0", () => {
    const top = run(["help"]);
    expect(top.status).toBe(0);
    expect(top.out).toContain("Usage: cairn [options] [command]");
    expect(top.out).toContain("  help [command]  ");
    const wf = run(["wf", "help"]);
    expect(wf.status).toBe(0);
    expect(wf.out).toMatch(/^Usage: cairn wf \[options\] \[command\]\n/);
    const gc = run(["help", "gc"]);
    expect(gc.status).toBe(0);
    expect(gc.out).toMatch(/^Usage: cairn gc \[options\]\n/);
    const compile = run(["help", "wf", "compile"]);
    expect(compile.status).toBe(0);
    expect(compile.out).toMatch(/^Usage: cairn wf compile \[options\] <paths\.\.\.>\n/);
    expect(compile.err).toBe("");
  });

  it("commander's suggestion stays on the error's one line", () => {
    usage(run(["rnu"]), "cairn: unknown command 'rnu' (Did you mean run?) [E_USAGE]");
  });
});

describe("plane describe: a node config that is not YAML", () => {
  it("is one line with the position and the parser's first message line", () => {
    writeFileSync(join(dir, "bad.yaml"), "node_id: [\n");
    const r = run(["plane", "describe", "--config", "bad.yaml"]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      "cairn: bad.yaml: not valid YAML (line 2, column 1): Flow sequence in block collection must be sufficiently indented and end with a ] [E_INVALID_INPUT]\n",
    );
    writeFileSync(join(dir, "dup.yaml"), "node_id: a\nnode_id: b\n");
    const d = run(["plane", "describe", "--config", "dup.yaml", "--json"]);
    expect(d.status).toBe(1);
    expect(JSON.parse(d.err)).toEqual({
      error: { code: "E_INVALID_INPUT", message: "dup.yaml: not valid YAML (line 2, column 1): Map keys must be unique", details: { path: "dup.yaml", line: 2, column: 1 } },
    });
  });
});

describe("lineage --depth", () => {
  it("a depth beyond the maximum is E_USAGE naming --depth and the range; --help says the range", () => {
    const digest = run(["store", "put", "in.jsonl"]).out.trim();
    usage(run(["lineage", digest, "--depth", "2000"]), `cairn: invalid --depth "2000": expected an integer in 0..${MAX_LINEAGE_DEPTH} [E_USAGE]`);
    expect(run(["lineage", digest, "--depth", String(MAX_LINEAGE_DEPTH)]).status).toBe(0);
    const help = run(["lineage", "--help"]);
    expect(help.status).toBe(0);
    expect(help.out).toMatch(new RegExp(`--depth <n> +stop after n steps, 0\\.\\.${MAX_LINEAGE_DEPTH} \\(default: ${MAX_LINEAGE_DEPTH}, the maximum\\)\\n`));
  });
});
