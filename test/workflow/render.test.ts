/** Trace pictures (issue 4 §3.1): deterministic DOT with the visited path, SVG via Graphviz wasm, PNG via resvg, CLI files. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadSnapshot, type PgsRunResult } from "../../src/workflow/pgs/index.js";
import { loadTraceRenderer, traceDot } from "../../src/workflow/render/index.js";
import { cairn } from "../cli/helpers.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const boxes: Sandbox[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

function dotOf(b: Sandbox, r: PgsRunResult): string {
  const pkg = loadSnapshot(b.workspace, r.domain);
  const wf = pkg.vocab.addr(r.workflow);
  const start = pkg.entry.get(wf)?.start as number;
  return traceDot({ pkg, wf, wfFqdn: r.workflow, start, traceId: r.traceId, status: r.status, exitCode: r.exitCode, path: r.path, errorCc: r.error?.cc ?? null });
}

/** Node ids (`n<addr>`) whose attributes match `re`. */
function nodesWhere(dot: string, re: RegExp): number[] {
  return dot.split("\n").filter((l) => /^ {2}n\d+ \[/.test(l) && re.test(l)).map((l) => Number(/^ {2}n(\d+)/.exec(l)?.[1])).sort((a, b) => a - b);
}

const GOVERN_01 = () => payload("agent_governance/01_valid_standard_action.json");

describe("traceDot", () => {
  it("is byte-identical for the same run and highlights exactly the visited nodes and taken edges", () => {
    const b1 = box(true);
    const b2 = box(true);
    const r1 = b1.run(WF.govern, GOVERN_01());
    const r2 = b2.run(WF.govern, GOVERN_01());
    expect(r1.traceId).toBe(r2.traceId);
    const dot = dotOf(b1, r1);
    expect(dotOf(b2, r2)).toBe(dot);
    expect(dotOf(b1, r1)).toBe(dot);
    expect(dot.startsWith(`digraph "${WF.govern}" {\n`)).toBe(true);
    expect(dot.endsWith("}\n")).toBe(true);
    expect(dot).not.toMatch(/\d{4}-\d\d-\d\dT/); // no timestamps
    expect(dot).not.toContain(b1.root); // no absolute paths

    const visited = [...new Set(r1.path.map((p) => p.addr))].sort((a, b) => a - b);
    expect(r1.exitCode).toBe(0);
    expect(nodesWhere(dot, /style="filled/)).toEqual(visited);
    expect(nodesWhere(dot, /fillcolor="#f4a0a0"/)).toEqual([]); // nothing failed
    // every node of the graph is declared once, sorted by address
    const all = nodesWhere(dot, /./);
    expect(all.length).toBeGreaterThan(visited.length);
    expect(dot.split("\n").filter((l) => /^ {2}n\d+ \[/.test(l)).map((l) => Number(/^ {2}n(\d+)/.exec(l)?.[1]))).toEqual(all);
    // taken edges: one per hop after the first, in bold
    const bold = dot.split("\n").filter((l) => l.includes(" -> ") && l.includes('style="bold"'));
    const hops = new Set(r1.path.slice(1).map((p, i) => `n${(r1.path[i] as { addr: number }).addr} -> n${p.addr}`));
    expect(new Set(bold.map((l) => /^ {2}(n\d+ -> n\d+)/.exec(l)?.[1]))).toEqual(hops);
  });

  it("fills the failing node red when the run ends with exit 1", () => {
    const b = box();
    const r = b.run(WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"));
    expect(r.status).toBe("VIOLATION");
    const dot = dotOf(b, r);
    const last = r.path[r.path.length - 1]?.addr as number;
    expect(nodesWhere(dot, /fillcolor="#f4a0a0"/)).toEqual([last]);
    expect(nodesWhere(dot, /style="filled/)).toEqual([...new Set(r.path.map((p) => p.addr))].sort((a, c) => a - c));
  });
});

describe("runPgsWorkflow({ render })", () => {
  beforeAll(async () => {
    await loadTraceRenderer();
  });

  it("is off by default; with render: true writes an SVG naming the nodes and a PNG", () => {
    const off = box(true);
    const r0 = off.run(WF.govern, GOVERN_01());
    expect(r0.pictures).toBeNull();
    expect(readdirSync(r0.traceDirAbs).sort()).toEqual([`${r0.traceId}.jsonl`, `${r0.traceId}.md`]);

    const b = box(true);
    const r = b.run(WF.govern, GOVERN_01(), { render: true });
    expect(r.pictures).toEqual({ svg: `${r.traceId}.svg`, png: `${r.traceId}.png` });
    const svg = readFileSync(join(r.traceDirAbs, `${r.traceId}.svg`), "utf8");
    expect(svg).toContain("<svg");
    for (const p of r.path) expect(svg).toContain(p.node.slice(p.node.lastIndexOf("::") + 2));
    const png = readFileSync(join(r.traceDirAbs, `${r.traceId}.png`));
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    // the pictures change nothing in the trace or the summary
    expect(readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`))).toEqual(readFileSync(join(r0.traceDirAbs, `${r0.traceId}.jsonl`)));
    expect(r.digests).toEqual(r0.digests);
    // same run, same SVG bytes
    const again = box(true).run(WF.govern, GOVERN_01(), { render: true });
    expect(readFileSync(join(again.traceDirAbs, `${again.traceId}.svg`), "utf8")).toBe(svg);
  });
});

describe("render: true without a loaded renderer", () => {
  it("is refused with E_USAGE before anything runs", async () => {
    vi.resetModules(); // fresh module instances: no renderer loaded in them
    const fresh = await import("../../src/workflow/pgs/run.js");
    const b = box(true);
    let err: unknown;
    try {
      fresh.runPgsWorkflow({ workspace: b.workspace, workflow: WF.govern, payload: new Map(), dataRoot: b.dataRoot, render: true });
    } catch (e) {
      err = e;
    }
    expect((err as { code?: unknown }).code).toBe("E_USAGE");
    expect(existsSync(join(b.workspace, "traces"))).toBe(false);
  });
});

describe("cairn wf run pictures", () => {
  function wfRun(b: Sandbox, extra: string[]) {
    return cairn(["wf", "run", "--workspace", "workspace", "--wf", WF.govern, "--payload", GOVERN_01(), "--data-root", "data", "--json", ...extra], { cwd: b.root });
  }

  it("writes <trace_id>.svg and .png by default; --no-render writes neither", () => {
    const b = box(true);
    const r = wfRun(b, []);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.out) as { traceId: string; traceDir: string };
    const dir = join(b.root, j.traceDir);
    expect(readdirSync(dir).sort()).toEqual([`${j.traceId}.jsonl`, `${j.traceId}.md`, `${j.traceId}.png`, `${j.traceId}.svg`]);
    expect(readFileSync(join(dir, `${j.traceId}.svg`), "utf8")).toContain("CC_");
    expect(readFileSync(join(dir, `${j.traceId}.png`)).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);

    const n = box(true);
    const rn = wfRun(n, ["--no-render"]);
    expect(rn.status).toBe(0);
    const jn = JSON.parse(rn.out) as { traceId: string; traceDir: string };
    expect(jn.traceId).toBe(j.traceId);
    const dirN = join(n.root, jn.traceDir);
    expect(readdirSync(dirN).sort()).toEqual([`${jn.traceId}.jsonl`, `${jn.traceId}.md`]);
    expect(existsSync(join(dirN, `${jn.traceId}.svg`))).toBe(false);
    expect(existsSync(join(dirN, `${jn.traceId}.png`))).toBe(false);
    // the trace is the same with or without pictures
    expect(readFileSync(join(dirN, `${jn.traceId}.jsonl`))).toEqual(readFileSync(join(dir, `${j.traceId}.jsonl`)));
  });
});
