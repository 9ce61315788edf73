/**
 * User-acceptance findings of 2026-11-28 on `examine` and the Cairn pictures: the exit WF_COMPLETE
 * records checked against the snapshot (F2), an unserialisable value raised in a CT step (F3), the
 * failing node of a limit error painted by the picture as examine names it, and the hop-limit
 * hint with a bound already declared (F8), a node aborted mid-pipeline after an effect (F5).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CairnRunResult, PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { examineTrace, renderReport, type ExamineReport } from "../../src/workflow/examine/index.js";
import { cairnTraceDot } from "../../src/workflow/render/index.js";
import { baseDecl, prepared, run, tempDir } from "./cairn-fixture.js";

const WF = "test::WF_TEST_V0";
const traceFile = (r: CairnRunResult) => join(r.traceDirAbs, `${r.traceId}.jsonl`);
const FAILED = 'fillcolor="#f4a0a0"';

async function snapFile(decl: unknown, extra: Record<string, string> = {}): Promise<{ snap: PreparedSnapshot; file: string; dir: string }> {
  const { snap, bytes, dir } = await prepared(decl, extra);
  const file = join(dir, "snap.json");
  writeFileSync(file, bytes);
  return { snap, file, dir };
}

/** Rewrites the trace's WF_COMPLETE detail with `edit`, recomputes the hash chain and deletes the summary (a forgery nothing anchors). */
function forgeEnd(r: CairnRunResult, edit: (detail: Record<string, unknown>) => void): string {
  const file = traceFile(r);
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
  let prev: string | null = null;
  const out: string[] = [];
  for (const line of lines) {
    const ev = JSON.parse(line) as Record<string, unknown>;
    if (ev.event_type === "WF_COMPLETE") edit(ev.detail as Record<string, unknown>);
    ev.prev = prev;
    const text = JSON.stringify(ev);
    out.push(text);
    prev = `sha256:${createHash("sha256").update(text).digest("hex")}`;
  }
  writeFileSync(file, `${out.join("\n")}\n`);
  rmSync(join(r.traceDirAbs, `${r.traceId}.md`));
  return file;
}

const pathLine = (x: ExamineReport) => renderReport(x).find((l) => l.startsWith("path:"));

describe("F2: the exit WF_COMPLETE records is checked against the snapshot", () => {
  const decl = baseDecl({ nodes: { n: { steps: [{ id: "s", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: { exit: "DONE", reason: "hashed" }, VIOLATION: { exit: "NO", reason: "no" } } } }, entry: "n" });
  const renamed = baseDecl({ nodes: { n: { steps: [{ id: "s", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: { exit: "SOMETHING_ELSE", reason: "hashed" }, VIOLATION: { exit: "NO", reason: "no" } } } }, entry: "n" });

  it("the run's own snapshot, trace as written: success, the recorded exit", async () => {
    const { snap, file, dir } = await snapFile(decl);
    const r = run(snap, { x: 1 }, dir);
    const x = examineTrace(traceFile(r), { snapshot: file });
    expect([x.outcome.class, x.exitCode]).toEqual(["success", 0]);
    expect(x.terminal).toEqual({ declared: true, exit: "DONE", reason: "hashed" });
    expect(pathLine(x)).toBe("path:        n=SUCCESS → DONE (hashed)");
  });

  it("another snapshot that renames the exit: graph_structure_error (exit 1), the path shows what the trace recorded", async () => {
    const { snap, dir } = await snapFile(decl);
    const other = await snapFile(renamed);
    const r = run(snap, { x: 1 }, dir);
    const x = examineTrace(traceFile(r), { snapshot: other.file });
    expect([x.outcome.class, x.exitCode]).toEqual(["graph_structure_error", 1]);
    expect(x.terminal).toEqual({ declared: false, exit: "DONE", reason: "hashed" });
    expect(pathLine(x)).toBe("path:        n=SUCCESS → DONE (hashed)");
    expect(x.failure?.message).toBe("WF_COMPLETE records exit DONE (hashed), but the snapshot routes n=SUCCESS to exit SOMETHING_ELSE (hashed)");
    expect(x.hint).toContain("Check that it is the snapshot the run used");
  });

  it("a forged exit name (chain recomputed, summary deleted) with the run's own snapshot: graph_structure_error, the forged name shown", async () => {
    const { snap, file, dir } = await snapFile(decl);
    const r = run(snap, { x: 1 }, dir);
    const x = examineTrace(forgeEnd(r, (d) => { d.exit = "FORGED"; }), { snapshot: file });
    expect(x.chain.ok).toBe(true);
    expect([x.outcome.class, x.exitCode]).toEqual(["graph_structure_error", 1]);
    expect(pathLine(x)).toBe("path:        n=SUCCESS → FORGED (hashed)");
    expect(x.failure?.message).toBe("WF_COMPLETE records exit FORGED (hashed), but the snapshot routes n=SUCCESS to exit DONE (hashed)");
    expect(x.hint).toContain("It is the snapshot the run used");
  });

  it("a forged reason, and an exit removed: graph_structure_error", async () => {
    const { snap, file, dir } = await snapFile(decl);
    const r1 = run(snap, { x: 1 }, dir);
    const x1 = examineTrace(forgeEnd(r1, (d) => { d.reason = "forged"; }), { snapshot: file });
    expect([x1.outcome.class, x1.exitCode, x1.failure?.message]).toEqual(["graph_structure_error", 1, "WF_COMPLETE records exit DONE (forged), but the snapshot routes n=SUCCESS to exit DONE (hashed)"]);
    const r2 = run(snap, { x: 2 }, dir);
    const x2 = examineTrace(forgeEnd(r2, (d) => { delete d.exit; delete d.reason; }), { snapshot: file });
    expect([x2.outcome.class, x2.exitCode, x2.failure?.message]).toEqual(["graph_structure_error", 1, "WF_COMPLETE records no exit, but the snapshot routes n=SUCCESS to exit DONE (hashed)"]);
  });
});

describe("F3: a value too deep to serialise is classed by where it happened", () => {
  const DEEP = `exports.capabilities = { deep: { outputs: ["x"], run(i) { let v = 1; for (let k = 0; k < i.n; k++) v = [v]; return { x: v }; } } };\n`;

  it("raised in a CT step: ct_error, a hint without stores", async () => {
    const decl = baseDecl({
      entry: "n",
      modules: { m: "./m.js" },
      nodes: { n: { steps: [{ id: "a", ct: "m.deep", inputs: { n: "$.payload.n" } }, { id: "b", ct: "hash", inputs: { value: "$.steps.a.x" } }], routes: { default: { exit: "E", reason: "e" } } } },
    });
    const { snap, file, dir } = await snapFile(decl, { "m.js": DEEP });
    const r = run(snap, { n: 511 }, dir);
    expect(r.status).toBe("ERROR");
    const x = examineTrace(traceFile(r), { snapshot: file });
    expect([x.outcome.class, x.exitCode]).toEqual(["ct_error", 1]);
    expect(x.failure?.step).toMatchObject({ id: "b", kind: "CT" });
    expect(x.hint).not.toMatch(/store|data root/);
    expect(x.hint).toContain("cannot be serialised");
  });

  it("raised in a CS step: still cs_runtime_error", async () => {
    const decl = baseDecl({
      entry: "n",
      modules: { m: "./m.js" },
      stores: { st: { kind: "mutable", path: "st.json" } },
      nodes: { n: { steps: [{ id: "a", ct: "m.deep", inputs: { n: "$.payload.n" } }, { id: "w", cs: "st", op: "WRITE", inputs: { key: { const: "k" }, value: "$.steps.a.x" } }], routes: { default: { exit: "E", reason: "e" } } } },
    });
    const { snap, file, dir } = await snapFile(decl, { "m.js": DEEP });
    const r = run(snap, { n: 511 }, dir);
    expect(r.status).toBe("ERROR");
    const x = examineTrace(traceFile(r), { snapshot: file });
    expect(x.outcome.class).toBe("cs_runtime_error");
    expect(x.failure?.step).toMatchObject({ id: "w", kind: "CS" });
  });
});

describe("F8 / F5: the picture paints the node examine names", () => {
  const dotOf = (snap: PreparedSnapshot, r: CairnRunResult) =>
    cairnTraceDot({ workflow: snap.sealed.content.workflows[WF]!, wfFqdn: r.workflow, traceId: r.traceId, status: r.status, exitCode: r.exitCode, path: r.path, exit: r.exit, errorNode: r.error?.cc ?? null });
  const redNodes = (dot: string) => dot.split("\n").filter((l) => /^ {2}n\d+ \[/.test(l) && l.includes(FAILED)).map((l) => /label="([a-z]+)/.exec(l)?.[1]);
  const cycle = (a: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    baseDecl({
      entry: "a",
      ...extra,
      nodes: {
        a: { ...a, steps: [{ id: "v", ct: "json_schema_validate", inputs: { value: "$.payload", schema: { const: { type: "string" } } } }], routes: { VIOLATION: "b", default: { exit: "E", reason: "e" } } },
        b: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", default: { exit: "E", reason: "e" } } },
      },
    });

  it("max_visits: node a (about to run a 4th time) is red, not b (the last node run); the route into it is taken", async () => {
    const { snap, file, dir } = await snapFile(cycle({ max_visits: 3 }));
    const r = run(snap, {}, dir);
    const x = examineTrace(traceFile(r), { snapshot: file });
    expect(x.failure?.node).toBe(`${WF}::a`);
    const dot = dotOf(snap, r);
    expect(redNodes(dot)).toEqual(["a"]);
    expect(dot).toMatch(/ {2}n2 -> n1 \[label="SUCCESS", style="bold"/);
    expect(dot).toContain('label="a\\n#1, #3, #5"');
  });

  it("the hop limit: node b (named by the error) is red, not a; the hint says to lower a's bound", async () => {
    const { snap, file, dir } = await snapFile(cycle({ max_visits: 10 }, { max_hops: 5 }));
    const r = run(snap, {}, dir);
    const x = examineTrace(traceFile(r), { snapshot: file });
    expect(x.failure?.node).toBe(`${WF}::b`);
    expect(redNodes(dotOf(snap, r))).toEqual(["b"]);
    expect(x.hint).toContain("lower the max_visits of a (max_visits 10) so that it stops the run before the hop limit (max_hops 5) does");
    expect(x.hint).not.toContain("declare max_visits");
  });

  it("a node aborted after an effect: examine and the picture both say it was entered and aborted; the hint names the applied effect", async () => {
    const decl = baseDecl({
      entry: "w",
      stores: { a: { kind: "mutable", path: "a.json" }, b: { kind: "mutable", path: "link/b.json" } },
      nodes: {
        w: {
          steps: [{ id: "s1", cs: "a", op: "WRITE", inputs: { key: { const: "k" }, value: { const: 1 } } }, { id: "s2", cs: "b", op: "WRITE", inputs: { key: { const: "k" }, value: { const: 1 } } }],
          routes: { default: { exit: "E", reason: "e" } },
        },
      },
    });
    const { snap, file, dir } = await snapFile(decl);
    mkdirSync(join(dir, "data", "link"), { recursive: true });
    symlinkSync(join(tempDir(), "elsewhere.json"), join(dir, "data", "link", "b.json"));
    const r = run(snap, {}, dir);
    expect([r.status, r.error?.code]).toEqual(["ERROR", "E_PATH_CONFINEMENT"]);
    const x = examineTrace(traceFile(r), { snapshot: file });
    expect([x.outcome.class, x.failure?.node, x.failure?.step?.id]).toEqual(["cs_runtime_error", `${WF}::w`, "s2"]);
    expect(pathLine(x)).toBe("path:        w=(aborted)");
    expect(x.hint).toContain("The node was entered and aborted there, after step s1 (WRITE, SUCCESS) of it had run: that effect stays in the data root");
    const dot = dotOf(snap, r);
    expect(redNodes(dot)).toEqual(["w"]);
    expect(dot).toContain('label="w\\n#1 (aborted)"');
  });
});
