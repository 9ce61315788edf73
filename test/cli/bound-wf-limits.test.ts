/**
 * Bounds of `cairn wf run --snapshot` end to end (the built CLI): a run whose trace would pass
 * MAX_TRACE_BYTES ends with ERROR E_LIMIT_EXCEEDED in a trace examine and `wf replay` read; a
 * workflow graph over MAX_RENDER_NODES is run and not drawn (exit 0, no pictures).
 */
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_TRACE_BYTES } from "../../src/workflow/pgs/trace.js";
import { MAX_RENDER_NODES } from "../../src/workflow/render/render.js";
import { cairn, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterAll(() => temps.cleanup());
const box = (): string => temps.make();

interface RunDoc {
  status: string;
  traceId: string;
  traceDir: string;
  error?: { code: string; message: string };
}

/** One node visited up to 64 times; each visit hashes `$.payload` 16 times (each CC_STEP records it), then routes back while it lacks `stop`. */
function amplifierDecl(): string {
  const steps = Array.from({ length: 16 }, (_, i) => `      - { id: h${i}, ct: hash, inputs: { value: $.payload } }`).join("\n");
  return `cairn: cairn.workflow/v1
namespace: amp
code: WF_AMP_V0
entry: loop
nodes:
  loop:
    max_visits: 64
    steps:
${steps}
      - id: chk
        ct: json_schema_validate
        inputs:
          schema: { const: { type: object, required: [stop] } }
          value: $.payload
    routes:
      SUCCESS: { exit: DONE, reason: stop }
      VIOLATION: loop
`;
}

describe("cairn wf run --snapshot: trace limit", () => {
  it("a run whose trace would pass MAX_TRACE_BYTES ends with ERROR E_LIMIT_EXCEEDED; examine and wf replay read the trace", () => {
    const cwd = box();
    writeFileSync(join(cwd, "amp.yaml"), amplifierDecl());
    expect(cairn(["--store", "st", "wf", "compile", "amp.yaml", "--out", "snap.json"], { cwd }).status).toBe(0);
    writeFileSync(join(cwd, "p.json"), JSON.stringify({ blob: "x".repeat(128 * 1024) })); // 64 × 17 steps × 128 KiB ≫ 64 MiB
    const r = cairn(["--store", "st", "wf", "run", "--snapshot", "snap.json", "--payload", "p.json", "--no-render", "--json"], { cwd });
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.out) as RunDoc;
    expect(doc.status).toBe("ERROR");
    expect(doc.error?.code).toBe("E_LIMIT_EXCEEDED");
    expect(doc.error?.message).toMatch(new RegExp(`would exceed its size limit of ${MAX_TRACE_BYTES} bytes \\(MAX_TRACE_BYTES\\): event \\d+ \\(CC_STEP\\) does not fit`));
    const trace = join(cwd, doc.traceDir, `${doc.traceId}.jsonl`);
    expect(statSync(trace).size).toBeLessThanOrEqual(MAX_TRACE_BYTES);
    expect(statSync(trace).size).toBeGreaterThan(MAX_TRACE_BYTES - 512 * 1024);

    const ex = cairn(["examine", trace, "--snapshot", "snap.json", "--json"], { cwd });
    expect(ex.status).toBe(1);
    const report = JSON.parse(ex.out) as { chain: { ok: boolean; status: string }; outcome: { class: string }; hint: string };
    expect(report.chain).toMatchObject({ ok: true, status: "verified" });
    expect(report.outcome.class).toBe("graph_structure_error");
    expect(report.hint).toMatch(/^the run's trace reached its size limit at node loop of amp::WF_AMP_V0, step h\d+ .*or declare a lower max_visits in /);

    const rp = cairn(["--store", "st", "wf", "replay", doc.traceId, "--json"], { cwd });
    expect(rp.err).toBe("");
    expect(JSON.parse(rp.out)).toMatchObject({ identical: true, traceId: doc.traceId, status: "ERROR" });
  });
});

describe("cairn wf run --snapshot: pictures over MAX_RENDER_NODES", () => {
  it("runs the workflow, exits with its status's code and writes no pictures", () => {
    const cwd = box();
    const n = MAX_RENDER_NODES + 5;
    const nodes = Array.from({ length: n }, (_, i) => `  n${i}:
    steps:
      - { id: h, ct: hash, inputs: { value: $.payload } }
    routes:
      SUCCESS: ${i + 1 < n ? `n${i + 1}` : "{ exit: DONE, reason: done }"}
      VIOLATION: { exit: BAD, reason: bad }`).join("\n");
    writeFileSync(join(cwd, "big.yaml"), `cairn: cairn.workflow/v1\nnamespace: big\ncode: WF_BIG_V0\nentry: n0\nnodes:\n${nodes}\n`);
    expect(cairn(["wf", "compile", "big.yaml", "--out", "snap.json"], { cwd }).status).toBe(0);
    const r = cairn(["wf", "run", "--snapshot", "snap.json", "--json"], { cwd });
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out) as RunDoc;
    expect(doc.status).toBe("SUCCESS");
    expect(readdirSync(join(cwd, doc.traceDir)).sort()).toEqual([`${doc.traceId}.jsonl`, `${doc.traceId}.md`]);
    // The CLI says why there are no pictures: `picturesNote` in --json, a note line otherwise.
    const note = (doc as RunDoc & { picturesNote?: string }).picturesNote;
    expect(note).toMatch(new RegExp(`^trace pictures of ${doc.traceId} not drawn: the graph has \\d+ nodes, more than ${MAX_RENDER_NODES}`));
    const human = cairn(["wf", "run", "--snapshot", "snap.json"], { cwd });
    expect(human.status).toBe(0);
    expect(human.out.split("\n")).toContain(note);
  });
});
