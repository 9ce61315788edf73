/** Trace pictures of Cairn snapshot runs (issue 4 §3.1): exact DOT, SVG/PNG files, not part of the chain or the receipt. */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { openStore } from "../../src/store/store.js";
import type { CairnRunResult, PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { cairnTraceDot, loadTraceRenderer } from "../../src/workflow/render/index.js";
import { baseDecl, prepared, run, tempDir } from "./cairn-fixture.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const WF = "test::WF_TEST_V0";

/** check (JSON Schema) → save (registry REGISTER) → DONE; VIOLATION → REJECTED; save's other outcomes → FAILED. */
const DECL = baseDecl({
  entry: "check",
  stores: { reg: { kind: "registry", path: "s/reg.jsonl" } },
  nodes: {
    check: {
      steps: [{ id: "v", ct: "json_schema_validate", inputs: { schema: { const: { type: "object", required: ["name"] } }, value: "$.payload" } }],
      routes: { SUCCESS: "save", VIOLATION: { exit: "REJECTED", reason: "no name" } },
    },
    save: {
      steps: [{ id: "r", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.name" } }],
      routes: { SUCCESS: { exit: "DONE", reason: "saved" }, ALREADY_EXISTS: { exit: "DONE", reason: "saved" }, default: { exit: "FAILED", reason: "registry failed" } },
    },
  },
});

function dotOf(snap: PreparedSnapshot, r: CairnRunResult): string {
  const wf = snap.sealed.content.workflows[WF]!;
  return cairnTraceDot({ workflow: wf, wfFqdn: r.workflow, traceId: r.traceId, status: r.status, exitCode: r.exitCode, path: r.path, exit: r.exit, errorNode: r.error?.cc ?? null });
}

const HEAD = [
  '  node [fontname="Helvetica", fontsize="11", margin="0.2,0.06", color="#909090", fontcolor="#303030"];',
  '  edge [fontname="Helvetica", fontsize="9", color="#909090", fontcolor="#909090"];',
];
const VISITED = 'style="filled,bold", fillcolor="#c8f0c8", color="#208020", fontcolor="#000000"';
const FAILED = 'style="filled,bold", fillcolor="#f4a0a0", color="#c00000", fontcolor="#000000"';
const TAKEN = 'style="bold", penwidth="2.5", color="#1f6fd0", fontcolor="#1f6fd0"';

describe("render: true needs the renderer", () => {
  // Runs before any test of this file loads the renderer (vitest isolates files; tests run in order).
  it("is E_USAGE before anything runs", async () => {
    const { snap, dir } = await prepared(DECL);
    let err: unknown;
    try {
      run(snap, { name: "ada" }, dir, { render: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe("E_USAGE");
    expect(existsSync(join(dir, "traces"))).toBe(false);
  });
});

describe("cairnTraceDot", () => {
  it("a SUCCESS run: every node and exit, visited nodes numbered, taken edges bold, merged outcome labels", async () => {
    const { snap, dir } = await prepared(DECL);
    const r = run(snap, { name: "ada" }, dir);
    expect(r.exitCode).toBe(0);
    expect(dotOf(snap, r)).toBe(
      [
        `digraph "${WF}" {`,
        `  graph [rankdir="TB", nodesep="0.75", pad="0.3", fontname="Helvetica", fontsize="12", labelloc="t", label="${WF}\\nSUCCESS → DONE · ${r.traceId}"];`,
        ...HEAD,
        `  n1 [label="check\\n#1", tooltip="${WF}::check\\njson_schema_validate", shape="box", peripheries="2", ${VISITED}];`,
        `  n2 [label="save\\n#2", tooltip="${WF}::save\\nreg:REGISTER", shape="box", ${VISITED}];`,
        `  x1 [label="DONE", tooltip="exit DONE", shape="ellipse", ${VISITED}];`,
        '  x2 [label="FAILED", tooltip="exit FAILED", shape="ellipse", style="dashed"];',
        '  x3 [label="REJECTED", tooltip="exit REJECTED", shape="ellipse", style="dashed"];',
        `  n1 -> n2 [label="SUCCESS", ${TAKEN}];`,
        '  n1 -> x3 [label="VIOLATION", tooltip="no name"];',
        `  n2 -> x1 [label="SUCCESS\\nALREADY_EXISTS", tooltip="saved", ${TAKEN}];`,
        '  n2 -> x2 [label="VIOLATION\\nBACKEND_ERROR", tooltip="registry failed"];',
        "}",
        "",
      ].join("\n"),
    );
    // Same run in another directory: the same bytes (no paths, no times).
    const other = await prepared(DECL);
    expect(dotOf(other.snap, run(other.snap, { name: "ada" }, other.dir))).toBe(dotOf(snap, r));
  });

  it("a VIOLATION routed to an exit (exit 1): the failing node and the reached exit are red", async () => {
    const { snap, dir } = await prepared(DECL);
    const r = run(snap, { nom: "ada" }, dir);
    expect([r.status, r.exitCode, r.exit?.name]).toEqual(["VIOLATION", 1, "REJECTED"]);
    const lines = dotOf(snap, r).split("\n");
    expect(lines[1]).toBe(`  graph [rankdir="TB", nodesep="0.75", pad="0.3", fontname="Helvetica", fontsize="12", labelloc="t", label="${WF}\\nVIOLATION → REJECTED · ${r.traceId}"];`);
    expect(lines.slice(4)).toEqual([
      `  n1 [label="check\\n#1", tooltip="${WF}::check\\njson_schema_validate", shape="box", peripheries="2", ${FAILED}];`,
      `  n2 [label="save", tooltip="${WF}::save\\nreg:REGISTER", shape="box"];`,
      '  x1 [label="DONE", tooltip="exit DONE", shape="ellipse", style="dashed"];',
      '  x2 [label="FAILED", tooltip="exit FAILED", shape="ellipse", style="dashed"];',
      `  x3 [label="REJECTED", tooltip="exit REJECTED", shape="ellipse", ${FAILED}];`,
      '  n1 -> n2 [label="SUCCESS"];',
      `  n1 -> x3 [label="VIOLATION", tooltip="no name", ${TAKEN}];`,
      '  n2 -> x1 [label="SUCCESS\\nALREADY_EXISTS", tooltip="saved"];',
      '  n2 -> x2 [label="VIOLATION\\nBACKEND_ERROR", tooltip="registry failed"];',
      "}",
      "",
    ]);
  });

  it("a runtime error: the node that raised is red, no exit is filled", async () => {
    const { snap, dir } = await prepared(DECL);
    mkdirSync(join(dir, "data"), { recursive: true });
    symlinkSync(tempDir(), join(dir, "data", "s")); // the store's directory leads out of the data root
    const r = run(snap, { name: "ada" }, dir);
    expect([r.status, r.error?.code, r.error?.cc]).toEqual(["ERROR", "E_PATH_CONFINEMENT", `${WF}::save`]);
    const dot = dotOf(snap, r);
    expect(dot).toContain(`  n2 [label="save\\n#2 (aborted)", tooltip="${WF}::save\\nreg:REGISTER", shape="box", ${FAILED}];`);
    expect(dot).toContain(`  n1 [label="check\\n#1", tooltip="${WF}::check\\njson_schema_validate", shape="box", peripheries="2", ${VISITED}];`);
    expect(dot.split("\n").filter((l) => /^ {2}x\d/.test(l)).every((l) => l.endsWith('style="dashed"];'))).toBe(true);
    expect(dot).toContain(`  n1 -> n2 [label="SUCCESS", ${TAKEN}];`);
    expect(dot.split("\n").filter((l) => l.includes(TAKEN))).toHaveLength(1);
  });
});

describe("runCairnWorkflow({ render: true })", () => {
  it("writes <trace_id>.svg and .png next to the trace; trace, summary and receipt are those of an unrendered run", async () => {
    await loadTraceRenderer();
    const { snap, dir } = await prepared(DECL);
    const store = openStore({ dir: join(dir, "store"), create: true });
    let r: CairnRunResult;
    try {
      r = run(snap, { name: "ada" }, dir, { render: true, store });
    } finally {
      store.close();
    }
    const id = r.traceId;
    expect(r.pictures).toEqual({ svg: `${id}.svg`, png: `${id}.png` });
    expect(readdirSync(r.traceDirAbs).sort()).toEqual([`${id}.jsonl`, `${id}.md`, `${id}.png`, `${id}.svg`]);
    const svg = readFileSync(join(r.traceDirAbs, `${id}.svg`), "utf8");
    expect(svg).toContain("<svg");
    for (const t of ["<title>n1</title>", "<title>n2</title>", "<title>x1</title>", "<title>n1&#45;&gt;n2</title>", "<title>n2&#45;&gt;x1</title>"]) expect(svg).toContain(t);
    expect(readFileSync(join(r.traceDirAbs, `${id}.png`)).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);

    const plain = await prepared(DECL);
    const p = run(plain.snap, { name: "ada" }, plain.dir);
    expect(p.pictures).toBeNull();
    expect(readdirSync(p.traceDirAbs).sort()).toEqual([`${id}.jsonl`, `${id}.md`]);
    expect(p.traceId).toBe(id);
    expect(readFileSync(join(p.traceDirAbs, `${id}.jsonl`)).equals(readFileSync(join(r.traceDirAbs, `${id}.jsonl`)))).toBe(true);
    expect(readFileSync(join(p.traceDirAbs, `${id}.md`), "utf8")).toBe(readFileSync(join(r.traceDirAbs, `${id}.md`), "utf8"));
    expect(p.digests).toEqual(r.digests);
    // The receipt names the trace and effects only: no picture is an artifact of the run.
    const reopened = openStore({ dir: join(dir, "store"), readOnly: true });
    try {
      const rec = reopened.getReceipt(r.recorded!.receipt);
      expect(rec.outputs).toEqual([r.recorded!.trace, r.recorded!.effects]);
      const svgDigest = (await import("../../src/core/digest.js")).sha256(Buffer.from(svg, "utf8"));
      expect(reopened.has(svgDigest)).toBe(false);
    } finally {
      reopened.close();
    }
  });
});

describe("characters a picture cannot hold (UAT 2026-11-27 F5)", () => {
  it("a reason with NUL, ESC, U+0001 or U+FFFF is drawn with their \\uXXXX text; before, the pictures were not drawn", async () => {
    await loadTraceRenderer();
    const reason = "a\u0000b\u001bc\u0001d\uffffe\u{1f600}g\th";
    const decl = baseDecl({
      entry: "check",
      nodes: {
        check: {
          steps: [{ id: "v", ct: "json_schema_validate", inputs: { schema: { const: { type: "object", required: ["name"] } }, value: "$.payload" } }],
          routes: { SUCCESS: { exit: "OK", reason: "fine" }, VIOLATION: { exit: "BAD", reason } },
        },
      },
    });
    const { snap, dir } = await prepared(decl);
    const r = run(snap, { name: "ada" }, dir, { render: true });
    expect(r.pictures).toEqual({ svg: `${r.traceId}.svg`, png: `${r.traceId}.png` });
    const dot = dotOf(snap, r);
    expect(dot).toContain('"a\\\\u0000b\\\\u001bc\\\\u0001d\\\\uffffe\u{1f600}g\th"');
    const svg = readFileSync(join(r.traceDirAbs, `${r.traceId}.svg`), "utf8");
    expect(svg).toContain("a\\u0000b\\u001bc\\u0001d\\uffffe\u{1f600}g");
  });
});
