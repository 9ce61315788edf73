/**
 * UAT of 2026-11-27 (findings A-F3, A-F5):
 *  - F3: a user CT that runs past its time limit is named as the declaration names it
 *    (`<module alias>.<capability>`, the step's `ct:`), not by its bundle digest's prefix, in the
 *    error and in the trace's ERROR event (the same bytes in every directory); `examine` says
 *    that a time-out aborts the run (no route takes it) and that the function must finish
 *    within the limit, with or without the sealed snapshot;
 *  - F5: a plain YAML `<<` key (a YAML 1.1 merge key; YAML 1.2 has none) is E_COMPILE_SCHEMA
 *    naming file, line and column, instead of being sealed as a member named "<<"; a quoted
 *    "<<" (or `!!str <<`) is a member named << and compiles.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { UserModuleRunner, USER_CT_TIMEOUT_MS } from "../../src/workflow/cairn/usercts.js";
import { examineTrace } from "../../src/workflow/examine/index.js";
import { fromPlain } from "../../src/workflow/pgs/value.js";
import { prepared, run, writeTree } from "./cairn-fixture.js";

const SLOW = 'export const capabilities = { slow: { outputs: ["a"], run() { while (true) {} } } };\n';

describe("a user CT time-out names the CT as the declaration does (A-F3)", () => {
  it("UserModuleRunner.call: the time-out error names the CT it is given, not the runner's (digest) name", () => {
    const runner = new UserModuleRunner("53799c166437", 'module.exports.capabilities = { slow: { outputs: ["a"], run() { for (;;) {} } } };');
    let err: unknown;
    try {
      runner.call("slow", fromPlain({}), "k", "s1", "m.slow");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe("E_LIMIT_EXCEEDED");
    expect((err as CairnError).message).toBe(`user CT m.slow ran longer than ${USER_CT_TIMEOUT_MS} ms`);
    expect((err as CairnError).details).toMatchObject({ reason: "ct_timeout", limit: USER_CT_TIMEOUT_MS });
  }, 15_000);

  it("a run: the error and the trace's ERROR event name alias.capability (same bytes in two directories); examine's hint says no route takes a time-out", async () => {
    // Two aliases of one module file: one bundle (one runner, keyed by digest); the step's alias is named.
    const decl = {
      cairn: "cairn.workflow/v1", namespace: "u", code: "WF_U_V0", entry: "a",
      modules: { m: "./m/caps.ts", other: "./m/caps.ts" },
      nodes: { a: { steps: [{ id: "s1", ct: "other.slow", inputs: {} }], routes: { default: { exit: "END", reason: "end" } } } },
    };
    const traces: string[] = [];
    const expected = `user CT other.slow ran longer than ${USER_CT_TIMEOUT_MS} ms`;
    let last: { file: string; dir: string; bytes: Buffer } | undefined;
    for (let i = 0; i < 2; i++) {
      const { snap, bytes, dir } = await prepared(decl, { "m/caps.ts": SLOW });
      const r = run(snap, {}, dir);
      expect(r.status).toBe("ERROR");
      expect(r.error).toMatchObject({ code: "E_LIMIT_EXCEEDED", message: expected });
      const file = join(r.traceDirAbs, `${r.traceId}.jsonl`);
      const text = readFileSync(file, "utf8");
      const events = text.trim().split("\n").map((l) => JSON.parse(l) as { event_type: string; detail: Record<string, unknown> });
      expect(events.at(-1)).toMatchObject({ event_type: "ERROR", detail: { message: expected, code: "E_LIMIT_EXCEEDED", reason: "ct_timeout" } });
      expect(text).not.toMatch(/[0-9a-f]{12}\.slow/);
      traces.push(text);
      last = { file, dir, bytes };
    }
    expect(traces[1]).toBe(traces[0]);

    const { file, dir, bytes } = last!;
    const bare = examineTrace(file, {});
    expect(bare.outcome.class).toBe("ct_error");
    expect(bare.hint).toContain(expected);
    expect(bare.hint).toContain("aborts the run: it is not an outcome, so no route");
    expect(bare.hint).toContain("finish within the limit");
    expect(bare.hint).not.toMatch(/route its VIOLATION/);

    const snapFile = join(dir, "snap.json");
    writeFileSync(snapFile, bytes);
    const withSnap = examineTrace(file, { snapshot: snapFile });
    expect(withSnap.outcome.class).toBe("ct_error");
    expect(withSnap.hint).toContain("no route (routes.VIOLATION or routes.default) can take it");
    expect(withSnap.hint).toContain("Make capability other.slow in module ./m/caps.ts finish within the limit");
    // Not the contract hint of a CT that returned the wrong thing.
    expect(withSnap.hint).not.toContain("must return, synchronously");
  }, 60_000);
});

const HEAD = "cairn: cairn.workflow/v1\nnamespace: sem\ncode: WF_AL_V0\nentry: a\n";
/** The finding's declaration, with `b`'s const written as `bConst` (line 12). */
const mergeDecl = (bConst: string): string =>
  `${HEAD}nodes:\n  a:\n    steps:\n      - id: s\n        ct: equals\n        inputs:\n          a: { const: &base { k: 1 } }\n          b: { const: ${bConst} }\n    routes: { default: { exit: END, reason: end } }\n`;

async function compileText(text: string) {
  const dir = writeTree({ "al.yaml": text });
  const file = join(dir, "al.yaml");
  return { file, r: await compileWorkflows([file]) };
}

describe("a YAML merge key << is refused, a quoted \"<<\" is a member (A-F5)", () => {
  it("the finding's `{ <<: *base, x: 2 }`: E_COMPILE_SCHEMA naming file, line, column, and what to write instead", async () => {
    const { file, r } = await compileText(mergeDecl("{ <<: *base, x: 2 }"));
    expect(r.content).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0]!;
    // Line 12: `          b: { const: { <<: *base, x: 2 } }`; the key starts at column 25.
    expect(d).toMatchObject({ code: "E_COMPILE_SCHEMA", file, node: "a", field: "steps[0].inputs.b.const" });
    expect(d.message).toContain("(line 12, column 25)");
    expect(d.message).toContain("merge key");
    expect(d.message).toContain("YAML 1.2");
    expect(d.message).toContain('quote the key ("<<")');
  });

  it("a block mapping, a merge of an inline mapping, and a << among a node's members are refused at their mapping", async () => {
    const block = `${HEAD}nodes:\n  a:\n    steps:\n      - id: s\n        ct: equals\n        inputs:\n          a: { const: &base { k: 1 } }\n          b:\n            const:\n              <<: *base\n              x: 2\n    routes: { default: { exit: END, reason: end } }\n`;
    const b = await compileText(block);
    expect(b.r.diagnostics).toHaveLength(1);
    expect(b.r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", node: "a", field: "steps[0].inputs.b.const" });
    expect(b.r.diagnostics[0]!.message).toContain("(line 14, column 15)");

    const inline = await compileText(mergeDecl("{ <<: { k: 1 }, x: 2 }"));
    expect(inline.r.diagnostics.map((d) => d.field)).toEqual(["steps[0].inputs.b.const"]);
    expect(inline.r.diagnostics[0]!.message).toContain("merge key");

    // A node merged from another: reported as a merge key, not as the schema's "unknown member" a member "<<" would be.
    const node = `${HEAD}nodes:\n  b: &r\n    steps:\n      - { id: s, ct: equals, inputs: { a: 1, b: 1 } }\n    routes: { default: { exit: END, reason: end } }\n  a:\n    <<: *r\n`;
    const n = await compileText(node);
    expect(n.r.content).toBeUndefined();
    expect(n.r.diagnostics).toHaveLength(1);
    expect(n.r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", node: "a", field: "" });
    expect(n.r.diagnostics[0]!.message).toContain("merge key");
    expect(n.r.diagnostics[0]!.message).toContain("(line 11, column 5)");
  });

  it('a quoted "<<" (double or single quotes) and !!str << are members named <<, sealed as written', async () => {
    for (const key of ['"<<"', "'<<'", "!!str <<"]) {
      const { r } = await compileText(mergeDecl(`{ ${key}: *base, x: 2 }`));
      expect(r.diagnostics).toEqual([]);
      const step = (r.content as unknown as { workflows: Record<string, { nodes: Record<string, { steps: Array<{ inputs: Record<string, unknown> }> }> }> }).workflows["sem::WF_AL_V0"]!.nodes.a!.steps[0]!;
      expect(step.inputs.b).toEqual({ const: { "<<": { k: 1 }, x: 2 } });
    }
  });

  it("a key that merely starts with << and a << value are not merge keys", async () => {
    const { r } = await compileText(mergeDecl('{ "x": "<<", <<<: 1, a<<: 2 }'));
    expect(r.diagnostics).toEqual([]);
  });
});
