/**
 * UAT F9 / F10 / F1, end to end (the built CLI):
 * - `wf compile --json --out <stdout>` is a usage error (E_USAGE, exit 2) with stdout empty:
 *   --json keeps exactly one JSON value on stdout; `--out /dev/stdout` without --json, and
 *   --json with --out /dev/stderr or a file, still work. So are `run`, `resume` and
 *   `store get` with --json and an output file naming stdout.
 * - a YAML key that is not a string is a compile error naming file, line and column, and the
 *   yaml library's warning never reaches stderr.
 * - `wf run --snapshot` of a re-sealed snapshot whose handler name is not its ref's atom does
 *   not run (E_SNAPSHOT_INTEGRITY, check structure) and writes no trace.
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, cairn, jsonError } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function box(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-uatwf-"));
  dirs.push(d);
  return d;
}

const DECL = "cairn: cairn.workflow/v1\nnamespace: t\ncode: WF_F1_V0\nentry: a\nnodes:\n  a:\n    steps: [ { id: h, ct: hash, inputs: { value: $.payload } } ]\n    routes: { default: { exit: OK, reason: ok } }\n";

describe("wf compile --json with --out naming stdout (UAT F9)", () => {
  for (const out of ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]) {
    it(`--out ${out} --json: E_USAGE, exit 2, nothing on stdout`, () => {
      const cwd = box();
      writeFileSync(join(cwd, "w.yaml"), DECL);
      const r = cairn(["wf", "compile", "w.yaml", "--out", out, "--json"], { cwd });
      expect(r.status).toBe(2);
      expect(r.out).toBe("");
      const e = jsonError(r);
      expect(e.code).toBe("E_USAGE");
      expect(e.message).toContain(`--out ${out} names stdout`);
    });
  }

  it("another path to the file stdout is redirected to is refused too; stdout keeps one JSON value otherwise", () => {
    const cwd = box();
    writeFileSync(join(cwd, "w.yaml"), DECL);
    const target = join(cwd, "stdout.txt");
    writeFileSync(target, "");
    const fd = spawnSync("sh", ["-c", `exec "${process.execPath}" "${CLI}" wf compile w.yaml --out "${target}" --json > "${target}"`], { cwd, env: { ...process.env, NO_COLOR: "1", CAIRN_STORE: "" } });
    expect(fd.status).toBe(2);
    expect(fd.stderr.toString()).toContain("E_USAGE");
    // --json with --out elsewhere: one JSON value on stdout.
    const ok = cairn(["wf", "compile", "w.yaml", "--out", "snap.json", "--json"], { cwd });
    expect(ok.status).toBe(0);
    expect((JSON.parse(ok.out) as { ok: boolean; out: string }).out).toBe("snap.json");
    const toErr = cairn(["wf", "compile", "w.yaml", "--out", "/dev/stderr", "--json"], { cwd });
    expect(toErr.status).toBe(0);
    expect((JSON.parse(toErr.out) as { ok: boolean }).ok).toBe(true);
    expect(toErr.err).toContain('"format":"cairn.workflow.sealed/v1"');
    // Without --json, --out /dev/stdout still writes the sealed file to stdout.
    const plain = cairn(["wf", "compile", "w.yaml", "--out", "/dev/stdout", "-q"], { cwd });
    expect(plain.status).toBe(0);
    expect(plain.out.startsWith(readFileSync(join(cwd, "snap.json"), "utf8"))).toBe(true);
  });
});

describe("run, resume and store get with --json and an output file naming stdout (UAT pass 4)", () => {
  it("E_USAGE, exit 2, stdout empty, before the store is created; without --json the records still go to stdout", () => {
    const cwd = box();
    writeFileSync(join(cwd, "in.jsonl"), '{"v":1}\n{"v":2}\n');
    writeFileSync(join(cwd, "e.mjs"), "export default (x) => x.v;\n");
    // Before: the records, then the result document, both on stdout (exit 0).
    for (const out of ["/dev/stdout", "/proc/self/fd/1"]) {
      const r = cairn(["--store", "s", "--json", "run", "e.mjs", "--input", "in.jsonl", "--out", out], { cwd });
      expect(r.status).toBe(2);
      expect(r.out).toBe("");
      expect(jsonError(r).message).toBe(`--out ${out} names stdout, where --json prints its document: give --out another file, or drop --json`);
    }
    expect(existsSync(join(cwd, "s"))).toBe(false);
    const plain = cairn(["--store", "s", "run", "e.mjs", "--input", "in.jsonl", "--out", "/dev/stdout", "-q"], { cwd });
    expect(plain.status).toBe(0);
    expect(plain.out.startsWith('{"id":0,"output":1}\n{"id":1,"output":2}\n')).toBe(true);
    const ok = cairn(["--store", "s", "--json", "run", "e.mjs", "--input", "in.jsonl"], { cwd });
    const { runId } = JSON.parse(ok.out) as { runId: string };
    const resumed = cairn(["--store", "s", "--json", "resume", runId, "--out", "/dev/stdout"], { cwd });
    expect(resumed.status).toBe(2);
    expect(resumed.out).toBe("");
    expect(jsonError(resumed).code).toBe("E_USAGE");
    const put = cairn(["--store", "s", "-q", "store", "put", "in.jsonl"], { cwd });
    const got = cairn(["--store", "s", "--json", "store", "get", put.out.trim(), "-o", "/dev/stdout"], { cwd });
    expect(got.status).toBe(2);
    expect(got.out).toBe("");
    expect(jsonError(got).message).toContain("--out /dev/stdout names stdout");
  });
});

describe("YAML keys that are not strings, on the command line (UAT F10)", () => {
  it("exit 1 with E_COMPILE_SCHEMA naming file, line and column; no Node warning on stderr", () => {
    const cwd = box();
    writeFileSync(join(cwd, "w.yaml"), DECL.replace("inputs: { value: $.payload }", "inputs: { value: { const: { 1: a, \"1\": b, ? [a, b] : x } } }"));
    const r = cairn(["wf", "compile", "w.yaml", "--out", "s.json"], { cwd });
    expect(r.status).toBe(1);
    expect(r.err).not.toMatch(/Warning|stringified/);
    expect(r.err).toContain("w.yaml: node a: steps[0].inputs.value.const: not JSON data, which a sealed snapshot cannot hold unchanged (line 7, column 61): the mapping key 1 is an integer");
    expect(r.err).toContain("the mapping key [a, b] is a sequence");
    expect(existsSync(join(cwd, "s.json"))).toBe(false);
  });
});

describe("wf run --snapshot of a re-sealed snapshot whose step names another atom (UAT F1)", () => {
  it("E_SNAPSHOT_INTEGRITY (structure) naming the handler; no trace", () => {
    const cwd = box();
    writeFileSync(join(cwd, "w.yaml"), DECL);
    expect(cairn(["wf", "compile", "w.yaml", "--out", "s.json", "-q"], { cwd }).status).toBe(0);
    const sealed = JSON.parse(readFileSync(join(cwd, "s.json"), "utf8")) as { content: { workflows: Record<string, { nodes: Record<string, { steps: Array<{ handler: { ref: string } }> }> }> } };
    sealed.content.workflows["t::WF_F1_V0"]!.nodes.a!.steps[0]!.handler.ref = "cairn.workflow.atoms.general:equals";
    // Re-sealed: canonical JSON (sorted keys, no spaces; ASCII only here) with the digest recomputed.
    const canon = (v: unknown): string => (Array.isArray(v) ? `[${v.map(canon).join(",")}]` : v !== null && typeof v === "object" ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(",")}}` : JSON.stringify(v));
    const content = canon(sealed.content);
    const digest = `sha256:${createHash("sha256").update(content).digest("hex")}`;
    writeFileSync(join(cwd, "s2.json"), `{"content":${content},"digest":${JSON.stringify(digest)},"format":"cairn.workflow.sealed/v1"}`);
    writeFileSync(join(cwd, "p.json"), '{"x":1}');
    const r = cairn(["wf", "run", "--snapshot", "s2.json", "--payload", "p.json", "--workspace", "w", "--no-render", "--json"], { cwd });
    expect(r.status).toBe(1);
    const e = jsonError(r);
    expect(e.code).toBe("E_SNAPSHOT_INTEGRITY");
    expect(e.details?.check).toBe("structure");
    expect(e.message).toContain('handler.name "hash" is not the atom its ref cairn.workflow.atoms.general:equals runs ("equals")');
    expect(existsSync(join(cwd, "w", "traces"))).toBe(false);
  });
});

describe("wf run --snapshot: a payload member written twice (UAT F11)", () => {
  it("is E_INVALID_INPUT naming the member and both places, from a file and from stdin; written once it runs", () => {
    const cwd = box();
    writeFileSync(join(cwd, "w.yaml"), DECL);
    expect(cairn(["wf", "compile", "w.yaml", "--out", "s.json", "-q"], { cwd }).status).toBe(0);
    writeFileSync(join(cwd, "dup.json"), '{"k":"d2",\n "k":"d3"}');
    const r = cairn(["wf", "run", "--snapshot", "s.json", "--payload", "dup.json", "--workspace", "w", "--no-render", "--json"], { cwd });
    expect(r.status).toBe(1);
    expect(jsonError(r)).toMatchObject({
      code: "E_INVALID_INPUT",
      message: 'Payload file has a member written twice: "k" at line 2, column 2 (first at line 1, column 2): a sealed snapshot\'s payload must name each member once (dup.json)',
      details: { field: "--payload", path: "dup.json", key: "k", line: 2, column: 2 },
    });
    expect(existsSync(join(cwd, "w", "traces"))).toBe(false);
    // Columns in code points (as the file's JSON errors count them): the two emoji are 2 columns, not 4.
    const piped = cairn(["wf", "run", "--snapshot", "s.json", "--payload", "-", "--workspace", "w", "--no-render", "--json"], { cwd, input: '{"😀😀":1,"k":1,"k":2}' });
    expect(piped.status).toBe(1);
    expect(jsonError(piped).message).toContain('member written twice: "k" at line 1, column 15 (first at line 1, column 9)');
    writeFileSync(join(cwd, "one.json"), '{"k":"d3"}');
    mkdirSync(join(cwd, "w")); // --workspace must exist
    expect(cairn(["wf", "run", "--snapshot", "s.json", "--payload", "one.json", "--workspace", "w", "--no-render", "-q"], { cwd }).status).toBe(0);
  });
});
