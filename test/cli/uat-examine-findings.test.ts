/**
 * UAT findings on `cairn examine` (and F7, `wf run --snapshot` over a torn store file), through
 * the BUILT cli (CAIRN_TEST_CLI):
 *  - F3: a first "no" routed onward and a later node ending the run with another "no": the
 *    failing node is the one that ended the run (as the run's own .md "Failure point" says),
 *    with its missing-payload note; the earlier "no" is named in the hint;
 *  - F4: no `step 0: ? ?` placeholder when the trace does not say which step raised;
 *  - F6: the hint for an unmapped CT handler names the real field path in handlers.json;
 *  - F7: a Cairn run over a registry file with a torn last line prints the repair `note:` and
 *    `tornFiles` in --json, as the PGS path does;
 *  - F8: events after the run's end (after WF_COMPLETE / ERROR) are a structural problem (exit 1).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, TempDirs } from "./helpers.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const temps = new TempDirs();
const boxes: Sandbox[] = [];
afterEach(() => {
  temps.cleanup();
  for (const b of boxes.splice(0)) b.cleanup();
});

interface ExamineJson {
  outcome: { class: string; status: string | null };
  failure?: { node: string; message: string; step?: { id: string | null; index: number } };
  hint: string;
  afterEnd?: { end: { line: number; type: string }; first: { line: number; type: string }; events: number };
  notes: string[];
  exitCode: number;
}

/** A temp dir with `w.yaml` compiled to `s.json`. */
function compiled(yaml: string): string {
  const d = temps.make();
  writeFileSync(join(d, "w.yaml"), yaml);
  const c = cairn(["wf", "compile", "w.yaml", "--out", "s.json"], { cwd: d });
  expect(c.status, c.err).toBe(0);
  mkdirSync(join(d, "w")); // the runs' --workspace: wf run --snapshot refuses a missing one
  return d;
}

/** The only trace directory of workflow `code` under `<d>/w/traces/t/`. */
function traceDir(d: string, code: string): string {
  const base = join(d, "w", "traces", "t", code);
  const ids = readdirSync(base);
  expect(ids).toHaveLength(1);
  return join(base, ids[0] as string);
}

const X2 = `cairn: cairn.workflow/v1
namespace: t
code: WF_X2_V0
entry: a
stores:
  reg: { kind: registry, path: r.jsonl }
nodes:
  a:
    steps:
      - { id: h, ct: hash, inputs: { value: $.payload.name } }
    routes: { SUCCESS: reg, VIOLATION: reg }
  reg:
    steps:
      - { id: r, cs: reg, op: REGISTER, inputs: { key: $.payload.k } }
    routes:
      SUCCESS: { exit: OK, reason: ok }
      default: { exit: NO, reason: no key }
`;

describe("F3: a governed no routed onward, then another no that ends the run", () => {
  it("names the node that ended the run (as the summary does), with its payload note; the earlier no is in the hint", () => {
    const d = compiled(X2);
    // An integer beyond ±(2^53-1): hash says VIOLATION (a lone surrogate, used before, is now refused up front).
    writeFileSync(join(d, "p.json"), '{"name":9007199254740993}');
    const r = cairn(["wf", "run", "--snapshot", "s.json", "--payload", "p.json", "--workspace", "w", "--no-render"], { cwd: d });
    expect(r.status).toBe(1);
    const t = traceDir(d, "WF_X2_V0");
    const md = readFileSync(join(t, `${relative(join(t, ".."), t)}.md`), "utf8");
    expect(md).toContain("`t::WF_X2_V0::reg` ended with VIOLATION");
    const x = cairn(["examine", relative(d, t), "--snapshot", "s.json", "--json"], { cwd: d });
    const j = json<ExamineJson>(x);
    expect(j.outcome.class).toBe("business_violation");
    expect(j.failure?.node).toBe("t::WF_X2_V0::reg");
    expect(j.failure?.step?.id).toBe("r");
    expect(j.failure?.message).toMatch(/^VIOLATION from step r .*REGISTER needs a key/);
    expect(j.hint).toContain('Note: input "key" ← $.payload.k: the payload has no member "k"');
    expect(j.hint).toContain("Earlier \"no\" routed onward: t::WF_X2_V0::a returned VIOLATION (VIOLATION from step h");
    expect(j.hint).toContain("Route taken: a=VIOLATION → reg=VIOLATION → NO (no key).");
    expect(x.status).toBe(0);
  });
});

describe("F4: the trace does not say which step raised", () => {
  it("no `step 0: ? ?` line and no step in --json: a note says so plainly", () => {
    const d = compiled(
      "cairn: cairn.workflow/v1\nnamespace: t\ncode: WF_F4_V0\nentry: a\nstores:\n  reg: { kind: registry, path: r.jsonl }\nnodes:\n  a:\n" +
        "    steps: [ { id: r, cs: reg, op: REGISTER, inputs: { key: $.payload.k } } ]\n    routes: { SUCCESS: { exit: OK, reason: ok }, default: { exit: NO, reason: no } }\n",
    );
    writeFileSync(join(d, "p.json"), '{"k":[1]}');
    expect(cairn(["wf", "run", "--snapshot", "s.json", "--payload", "p.json", "--workspace", "w", "--no-render"], { cwd: d }).status).toBe(1);
    const t = relative(d, traceDir(d, "WF_F4_V0"));
    const human = cairn(["examine", t], { cwd: d });
    expect(human.status).toBe(1);
    expect(human.out).not.toContain("? ?");
    expect(human.out).not.toMatch(/step 0\b/);
    expect(human.out).toMatch(/note: +the trace does not say which step of t::WF_F4_V0::a raised/);
    const j = json<ExamineJson>(cairn(["examine", t, "--json"], { cwd: d }));
    expect(j.outcome.class).toBe("cs_runtime_error");
    expect(j.failure?.step).toBeUndefined();
    // with the snapshot the step is inferred and shown
    const withSnap = json<ExamineJson>(cairn(["examine", t, "--snapshot", "s.json", "--json"], { cwd: d }));
    expect(withSnap.failure?.step?.id).toBe("r");
    expect(withSnap.notes.some((n) => n.includes("does not say which step"))).toBe(false);
  });
});

describe("F6: unmapped CT handler_ref", () => {
  it("the hint names ct[\"N\"].ct_ir.atom_stream[i].handler_ref, a field that exists", () => {
    const b = sandbox({ seedLicenseFacts: true });
    boxes.push(b);
    const hp = join(b.workspace, "tokenized_snapshot/ai_governance/handlers.json");
    const h = JSON.parse(readFileSync(hp, "utf8")) as { ct: Record<string, { ct_ir: { atom_stream: Array<{ handler_ref: { callable: string } }> } }> };
    (h.ct["21"]?.ct_ir.atom_stream[0] as { handler_ref: { callable: string } }).handler_ref.callable = "nope";
    writeFileSync(hp, JSON.stringify(h));
    const r = b.run(WF.collatz, payload("collatz_conjecture/01_happy_path.json"));
    expect(r.error?.code).toBe("E_HANDLER_UNMAPPED");
    const x = cairn(["examine", relative(b.root, join(r.traceDirAbs, `${r.traceId}.jsonl`)), "--workspace", "workspace", "--json"], { cwd: b.root });
    const j = json<ExamineJson>(x);
    expect(j.outcome.class).toBe("admission_error");
    expect(j.hint).toContain('fix ct["21"].ct_ir.atom_stream[0].handler_ref in tokenized_snapshot/ai_governance/handlers.json');
    expect(j.hint).not.toContain('ct["21"].handler_ref');
  });
});

describe("F8: events after the run's end", () => {
  it("a chained WF_COMPLETE after the terminal WF_COMPLETE (no summary) is a structural problem, exit 1", () => {
    const d = compiled(
      "cairn: cairn.workflow/v1\nnamespace: t\ncode: WF_F8_V0\nentry: a\nnodes:\n  a:\n    steps: [ { id: s, ct: hash, inputs: { value: $.payload } } ]\n" +
        "    routes: { default: { exit: OK, reason: ok } }\n",
    );
    expect(cairn(["wf", "run", "--snapshot", "s.json", "--workspace", "w", "--no-render"], { cwd: d }).status).toBe(0);
    const t = traceDir(d, "WF_F8_V0");
    const id = relative(join(t, ".."), t);
    const clean = json<ExamineJson>(cairn(["examine", relative(d, t), "--snapshot", "s.json", "--json"], { cwd: d }));
    expect(clean.exitCode).toBe(0);
    expect(clean.afterEnd).toBeUndefined();
    rmSync(join(t, `${id}.md`));
    const file = join(t, `${id}.jsonl`);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    const last = JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown> & { seq: number; detail: Record<string, unknown> };
    const forged = { ...last, seq: last.seq + 1, ts_ns: last.seq + 1, prev: `sha256:${createHash("sha256").update(lines[lines.length - 1] as string).digest("hex")}`, result_status: "VIOLATION", detail: { ...last.detail, exit: "FORGED", reason: "forged" } };
    writeFileSync(file, `${[...lines, JSON.stringify(forged)].join("\n")}\n`);
    const x = cairn(["examine", relative(d, t), "--snapshot", "s.json", "--json"], { cwd: d });
    expect(x.status).toBe(1);
    const j = json<ExamineJson>(x);
    expect(j.exitCode).toBe(1);
    expect(j.afterEnd).toEqual({ end: { line: lines.length, type: "WF_COMPLETE" }, first: { line: lines.length + 1, type: "WF_COMPLETE" }, events: 1 });
    expect(j.hint).toMatch(/^the trace continues after the run's end: 1 event follows its WF_COMPLETE at line \d+/);
    const human = cairn(["examine", relative(d, t), "--snapshot", "s.json"], { cwd: d });
    expect(human.status).toBe(1);
    expect(human.out).toMatch(/structure: +EVENTS AFTER THE END: 1 after the WF_COMPLETE/);
  });
});

describe("F7: wf run --snapshot over a store file with a torn last line", () => {
  it("prints the repair note and --json tornFiles, as the PGS path does", () => {
    const d = compiled(
      "cairn: cairn.workflow/v1\nnamespace: t\ncode: WF_F7_V0\nentry: a\nstores:\n  reg: { kind: registry, path: r/reg.jsonl }\nnodes:\n  a:\n" +
        "    steps: [ { id: r, cs: reg, op: REGISTER, inputs: { key: { const: x } } } ]\n    routes: { SUCCESS: { exit: OK, reason: ok }, default: { exit: NO, reason: no } }\n",
    );
    mkdirSync(join(d, "w/data/r"), { recursive: true });
    writeFileSync(join(d, "w/data/r/reg.jsonl"), '{"torn');
    const human = cairn(["wf", "run", "--snapshot", "s.json", "--workspace", "w", "--no-render"], { cwd: d });
    expect(human.status).toBe(1);
    const repair = "cairn wf repair-tail --data-root w/data r/reg.jsonl";
    expect(human.out).toContain(`note: "r/reg.jsonl" ends in a torn line (6 bytes after offset 0 without a newline, an interrupted append): runs refuse it until it is repaired with: ${repair}`);
    const j = json<{ status: string; tornFiles?: unknown }>(cairn(["wf", "run", "--snapshot", "s.json", "--workspace", "w", "--no-render", "--json"], { cwd: d }));
    expect(j.status).toBe("BACKEND_ERROR");
    expect(j.tornFiles).toEqual([{ path: "r/reg.jsonl", offset: 0, bytes: 6, repair }]);
    // an explicit --data-root is named as given
    const j2 = json<{ tornFiles?: unknown }>(cairn(["wf", "run", "--snapshot", "s.json", "--workspace", "w", "--data-root", "./w/data", "--no-render", "--json"], { cwd: d }));
    expect(j2.tornFiles).toEqual([{ path: "r/reg.jsonl", offset: 0, bytes: 6, repair: "cairn wf repair-tail --data-root ./w/data r/reg.jsonl" }]);
  });
});
