/**
 * UAT u3 of 2026-11-27, batch verification findings:
 * F3  a manifest root re-pinned at another run's manifest is refused (E_STORE_CORRUPT naming both
 *     runs) by every reader — reuse by run/resume, streamOutputs, loadManifest, replay, listRuns —
 *     and stays a plan_mismatch finding for verify; replay re-executes with the plan's function.
 * F16 an output artifact that is not the engine's bytes (final newline missing, truncated, a line
 *     that is not JSON): verify reports it, streamOutputs fails instead of ending short.
 * F9  a plan or run report that is not JSON, or not a plan/report: E_STORE_CORRUPT naming the run.
 * F12 verify with an unusable TMPDIR: E_STORE_IO naming the scratch path, not E_INTERNAL.
 * F5  a corrupt contains edge of the manifest is a finding in verify's report, not a thrown error.
 * F4  pulses renumbered inside a partition (read order broken) are an input_mismatch.
 * F15 JSON text of values nested deeper than JSON.stringify recurses (json-text.ts).
 */
import Database from "better-sqlite3";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ErrorCode, isCairnError, openStore, type Store } from "../../src/index.js";
import { resume, run, streamOutputs } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { loadManifest, OUTPUT_MEDIA_TYPE, type Manifest } from "../../src/batch/manifest.js";
import { loadPlan, manifestRoot, planRoot, reportRoot } from "../../src/batch/plan.js";
import { listRuns, loadRunReport } from "../../src/batch/runs.js";
import { compactJson, jsonText } from "../../src/batch/json-text.js";
import { canonicalize } from "../../src/core/canonical.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, expectCairnError, manifestOf, repinManifest } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN_A = { code: "export default (x) => ({ v: x.n * 2 });\n", name: "fnA.mjs" };
const FN_B = { code: "export default (x) => ({ v: x.n * 3 });\n", name: "fnB.mjs" };
const DATA = Array.from({ length: 40 }, (_, n) => ({ n }));
const CONFIG = { partitions: 2, pulseSize: 8, workers: 1 };

async function drain(store: Store, runId: string): Promise<number> {
  let n = 0;
  for await (const r of streamOutputs(store, runId)) {
    void r;
    n++;
  }
  return n;
}

function repinRoot(store: Store, name: string, bytes: string): string {
  const d = store.putBytes(Buffer.from(bytes, "utf8")).digest;
  if (store.findRoot(name) !== undefined) store.unpin(name);
  store.pin(name, d, "run");
  return d;
}

describe("F3: a manifest root re-pinned at another run's manifest", () => {
  it("is refused by every reader (E_STORE_CORRUPT naming both runs); verify reports plan_mismatch", async () => {
    const { store } = scratch.store();
    const a = await run(store, DATA, FN_A, CONFIG);
    const b = await run(store, DATA, FN_B, CONFIG);
    const mb = store.findRoot(manifestRoot(b.runId))?.digest as Digest;
    store.unpin(manifestRoot(a.runId));
    store.pin(manifestRoot(a.runId), mb, "run");
    const both = [a.runId, `describes run ${b.runId}`];
    expect(() => loadManifest(store, a.runId)).toThrow(`describes run ${b.runId}`);
    try {
      loadManifest(store, a.runId);
    } catch (err) {
      expect(isCairnError(err, ErrorCode.STORE_CORRUPT)).toBe(true);
    }
    await expectCairnError(drain(store, a.runId), ErrorCode.STORE_CORRUPT, ...both);
    await expectCairnError(replay(store, a.runId, "0/0"), ErrorCode.STORE_CORRUPT, ...both);
    // The engine's reuse path: the same command again, and resume.
    await expectCairnError(run(store, DATA, FN_A, CONFIG), ErrorCode.STORE_CORRUPT, ...both);
    await expectCairnError(resume(store, a.runId), ErrorCode.STORE_CORRUPT, ...both);
    const listed = listRuns(store).find((s) => s.runId === a.runId);
    expect(listed?.error?.code).toBe(ErrorCode.STORE_CORRUPT);
    expect(listed?.counts).toBeUndefined();
    const report = await verifyRun(store, a.runId);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain("plan_mismatch");
    // Run B itself is untouched.
    expect(await drain(store, b.runId)).toBe(DATA.length);
  });

  it("a manifest naming another plan than the one hashing to the run id is refused", async () => {
    const { store } = scratch.store();
    const a = await run(store, DATA, FN_A, CONFIG);
    const b = await run(store, DATA, FN_B, CONFIG);
    repinManifest(store, a.runId, { ...manifestOf(store, a.runId), plan: manifestOf(store, b.runId).plan });
    expect(() => loadManifest(store, a.runId)).toThrow(/names the plan sha256:[0-9a-f]+, which is not run [0-9a-f]{16}'s/);
    await expectCairnError(replay(store, a.runId, "0/0"), ErrorCode.STORE_CORRUPT, "names the plan");
    expect((await verifyRun(store, a.runId)).problems.map((p) => p.code)).toContain("plan_mismatch");
  });

  it("replay refuses a manifest naming another function than the run's plan (it re-executed it and said matches)", async () => {
    const { store } = scratch.store();
    const a = await run(store, DATA, FN_A, CONFIG);
    const b = await run(store, DATA, FN_B, CONFIG);
    const mb = manifestOf(store, b.runId);
    // Run A's identity, run B's function and pulses: every pulse "matches" B's stored checksums.
    repinManifest(store, a.runId, { ...mb, runId: a.runId, plan: manifestOf(store, a.runId).plan });
    await expectCairnError(replay(store, a.runId, "0/0"), ErrorCode.STORE_CORRUPT, "differs from its pinned plan", "function");
  });
});

describe("F16: an output artifact that is not the engine's bytes", () => {
  async function withOutput(edit: (text: string) => string): Promise<{ store: Store; runId: string; m: Manifest }> {
    const { store } = scratch.store();
    const r = await run(store, DATA, FN_A, CONFIG);
    const m = manifestOf(store, r.runId);
    const text = edit(store.get(m.output.artifact).toString("utf8"));
    const artifact = store.putBytes(Buffer.from(text, "utf8"), { mediaType: OUTPUT_MEDIA_TYPE }).digest;
    repinManifest(store, r.runId, { ...m, output: { ...m.output, artifact } });
    return { store, runId: r.runId, m };
  }

  it("without its final newline: verify reports output_mismatch, streamOutputs fails rather than drop the last record", async () => {
    const { store, runId } = await withOutput((t) => t.slice(0, -1));
    const report = await verifyRun(store, runId);
    expect(report.problems).toEqual([expect.objectContaining({ code: "output_mismatch", message: expect.stringContaining("does not end with a newline") })]);
    await expectCairnError(drain(store, runId), ErrorCode.STORE_CORRUPT, runId, "does not end with a newline after record 39");
  });

  it("truncated: streamOutputs fails once it has yielded fewer records than the manifest's output.records", async () => {
    const { store, runId } = await withOutput((t) => t.split("\n").slice(0, 10).join("\n") + "\n");
    await expectCairnError(drain(store, runId), ErrorCode.STORE_CORRUPT, "holds 10 records, the manifest says 40");
  });

  it("a line that is not JSON is E_STORE_CORRUPT naming the record, not a raw SyntaxError", async () => {
    const { store, runId } = await withOutput((t) => t.replace(/^[^\n]*\n[^\n]*/, (s) => `${s.split("\n")[0] as string}\nnot json`));
    await expectCairnError(drain(store, runId), ErrorCode.STORE_CORRUPT, "not JSON at record 1");
  });

  it("an intact run streams all its records and verifies (the exact-bytes check accepts the engine's output)", async () => {
    const { store } = scratch.store();
    const r = await run(store, [...DATA, { n: "x" }], { code: "export default (x) => { if (typeof x.n !== 'number') throw new Error('nan'); return x.n; };\n", name: "f.mjs" }, { ...CONFIG, allowFailures: true });
    expect(await drain(store, r.runId)).toBe(DATA.length + 1);
    expect((await verifyRun(store, r.runId, { reexecute: true })).problems).toEqual([]);
  });
});

describe("F9: a plan or run report that is not one", () => {
  it("a plan root holding bytes that are not JSON: loadPlan and resume are E_STORE_CORRUPT naming the run and the plan", async () => {
    const { store } = scratch.store();
    const id = "0123456789abcdef";
    const d = repinRoot(store, planRoot(id), "hi\n");
    expect(() => loadPlan(store, id)).toThrow(`run ${id}: its plan ${d} is not JSON`);
    await expectCairnError(resume(store, id), ErrorCode.STORE_CORRUPT, `run ${id}: its plan ${d} is not JSON`);
    repinRoot(store, planRoot(id), "null");
    await expectCairnError(resume(store, id), ErrorCode.STORE_CORRUPT, `does not describe run ${id}`);
  });

  it("a report root that is not JSON, not a report, or another run's: E_STORE_CORRUPT; the run's own report reads back", async () => {
    const { store } = scratch.store();
    const a = await run(store, DATA, FN_A, CONFIG);
    const b = await run(store, DATA, FN_B, CONFIG);
    const own = loadRunReport(store, a.runId);
    expect(own?.report.kind).toBe("cairn.batch.report");
    const cases: Array<[string, string]> = [
      ["hi", "is not JSON"],
      ["[1]", "is not a run report: it is not a JSON object"],
      ['{"kind":"x"}', 'its kind is "x"'],
      [store.get(store.findRoot(reportRoot(b.runId))?.digest as Digest).toString("utf8"), `it is the report of run "${b.runId}"`],
      [JSON.stringify({ ...own?.report, wallMs: "1" }), "its wallMs is not a finite number"],
      [JSON.stringify({ ...own?.report, cpuUserMs: -1 }), "its cpuUserMs is not a non-negative number"],
    ];
    for (const [body, says] of cases) {
      const d = repinRoot(store, reportRoot(a.runId), body);
      let err: unknown;
      try {
        loadRunReport(store, a.runId);
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err, ErrorCode.STORE_CORRUPT), body).toBe(true);
      expect((err as Error).message).toContain(`run ${a.runId}: its run report ${d}`);
      expect((err as Error).message).toContain(says);
      expect(listRuns(store).find((s) => s.runId === a.runId)?.error?.code).toBe(ErrorCode.STORE_CORRUPT);
    }
    // wallMs is a difference of wall-clock readings: negative when the clock stepped back during the run (review 2026-11-27).
    repinRoot(store, reportRoot(a.runId), JSON.stringify({ ...own?.report, wallMs: -3 }));
    expect(loadRunReport(store, a.runId)?.report.wallMs).toBe(-3);
  });
});

describe("F12: verify with an unusable TMPDIR", () => {
  const saved = process.env.TMPDIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  });

  it("a missing directory or a file is E_STORE_IO naming the scratch path and TMPDIR", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, FN_A, CONFIG);
    const file = join(scratch.dir(), "notadir");
    writeFileSync(file, "x");
    for (const dir of [join(scratch.dir(), "missing"), file]) {
      process.env.TMPDIR = dir;
      const err = await expectCairnError(verifyRun(store, r.runId), ErrorCode.STORE_IO, `verify cannot use its scratch database ${dir}/cairn-verify-`, "($TMPDIR)", "set TMPDIR to a writable directory");
      expect(err.details.tmpdir).toBe(dir);
    }
  });
});

describe("F5: a corrupt contains edge of the manifest", () => {
  it("is a not_contained finding in verify's report (it threw E_STORE_CORRUPT with no report)", async () => {
    const { store, dir } = scratch.store();
    const fn = { code: "export default (x) => { if (x.n % 3 === 0) throw new Error('bad ' + x.n); return x.n; };\n", name: "f.mjs" };
    const r = await run(store, Array.from({ length: 330 }, (_, n) => ({ n })), fn, { ...CONFIG, pulseSize: 64, retries: 0, allowFailures: true });
    const m = manifestOf(store, r.runId);
    expect(m.failuresArtifact).toBeDefined();
    store.close();
    const db = new Database(join(dir, "catalog.sqlite"));
    try {
      const md = Buffer.from(r.manifestDigest.slice(7), "hex");
      const row = db.prepare("SELECT e.logseq AS l FROM edges e JOIN edge_nodes n ON n.edge_logseq = e.logseq WHERE n.node = ? AND n.side = 0 AND e.edge_type = 'contains' LIMIT 1").get(md) as { l: number };
      const other = Buffer.from(m.output.artifact.slice(7), "hex");
      expect(db.prepare("UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 1 AND pos = 3").run(other, row.l).changes).toBe(1);
    } finally {
      db.close();
    }
    const s = openStore({ dir, readOnly: true });
    try {
      const report = await verifyRun(s, r.runId);
      expect(report.ok).toBe(false);
      expect(report.pulsesChecked).toBe(m.pulses.length);
      expect(report.problems).toEqual([expect.objectContaining({ code: "not_contained", message: expect.stringContaining("cannot be listed: the catalog is corrupt") })]);
    } finally {
      s.close();
    }
  });
});

describe("F4: pulses renumbered inside a partition", () => {
  for (const idField of [undefined, "key"] as const) {
    it(`break the partition's read order: input_mismatch (${idField === undefined ? "index ids" : "--id-field"})`, async () => {
      const { store } = scratch.store();
      const data = DATA.map((x) => ({ ...x, key: `k${String(x.n).padStart(3, "0")}` }));
      const r = await run(store, data, FN_A, idField === undefined ? CONFIG : { ...CONFIG, idField });
      const m = manifestOf(store, r.runId);
      const ps = m.pulses.filter((p) => p.partition === 0);
      expect(ps.length).toBeGreaterThan(1);
      const first = ps[0] as Manifest["pulses"][number];
      const last = ps[ps.length - 1] as Manifest["pulses"][number];
      const swapped = m.pulses.map((p) => (p === first ? { ...last, index: first.index } : p === last ? { ...first, index: last.index } : p));
      repinManifest(store, r.runId, { ...m, pulses: swapped });
      const report = await verifyRun(store, r.runId, { reexecute: true });
      expect(report.problems).toEqual([expect.objectContaining({ code: "input_mismatch", pulse: `0/${first.index + 1}`, message: expect.stringContaining("a partition's pulses hold its EUs in read order") })]);
    });
  }
});

describe("F15: JSON text of deeply nested values", () => {
  it("compactJson is JSON.stringify on JSON values, and on objects with members JSON leaves out", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(compactJson(v)).toBe(JSON.stringify(v));
        expect(jsonText(v, 2)).toBe(JSON.stringify(v, null, 2));
      }),
      { numRuns: 500 },
    );
    const odd = { a: undefined, b: () => 1, c: [undefined, () => 1, Symbol("s"), NaN, -0, Infinity], d: { toJSON: () => ({ e: 1 }) }, "10": 1, "9": 2, f: {}, g: [] };
    expect(compactJson(odd)).toBe(JSON.stringify(odd));
    expect(compactJson(undefined)).toBe(JSON.stringify(undefined));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => compactJson(cyclic)).toThrow(TypeError);
  });

  it("a value nested 100 000 levels: JSON.stringify overflows, jsonText gives the compact text", () => {
    let v: unknown = 0;
    for (let i = 0; i < 100_000; i++) v = { k: [v] };
    expect(() => JSON.stringify(v)).toThrow(RangeError);
    const text = jsonText({ runId: "r", reduce: v }, 2) as string;
    expect(text.startsWith('{"runId":"r","reduce":{"k":[{"k":[')).toBe(true);
    expect(text).toBe(`{"runId":"r","reduce":${canonicalize(v)}}`);
  });
});
