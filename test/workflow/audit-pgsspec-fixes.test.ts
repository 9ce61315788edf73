/**
 * Fixes of the SEMANTICS audit (/tmp/audit-pgsspec):
 *  1. GET_SINCE (Cairn append-only stores) compares instants, not text;
 *  2. no path scrubbing of payload / atom text in traces (replay stays byte-identical), and
 *     the messages that could carry a host path are path-free where they are made;
 *  3. `cairn examine` reports a reference v0 trace (no `seq`/`prev`) as unchained, not broken;
 *  4. the inactivity atom's ISO parser is Python 3.11 `datetime.fromisoformat` (C implementation);
 *  5. the Collatz budget message names the remaining budget; registry / mutable BACKEND_ERROR
 *     is bare under the reference dialect.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { CT_PURE_COLLATZ_STEP_V0 } from "../../src/workflow/atoms/pgs-collatz.js";
import { parseIsoInstant } from "../../src/workflow/atoms/isodate.js";
import { AtomViolation } from "../../src/workflow/atoms/violation.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { runCairnWorkflow } from "../../src/workflow/cairn/run.js";
import {
  APPENDONLY_RUNTIME, MUTABLE_RUNTIME, REGISTRY_RUNTIME, confineAbsolute, confineRelative, createEffectContext, expandPolicy, type CsResult, type EffectContext,
} from "../../src/workflow/effects/index.js";
import { examineTrace, renderReport } from "../../src/workflow/examine/index.js";
import { replayPgsRun } from "../../src/workflow/pgs/replay.js";
import { runErrorMessage } from "../../src/workflow/pgs/run.js";
import type { PgsRunResult } from "../../src/workflow/pgs/index.js";
import { baseDecl, payload as cairnPayload, prepared, tempDir, traceText } from "./cairn-fixture.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";
import { dict, type PyLiteral } from "./py-literal.js";

const boxes: Sandbox[] = [];
const stores: Store[] = [];
const temps: string[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-audit-"));
  temps.push(d);
  return d;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

const pgsTrace = (r: PgsRunResult): string => readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8");
const MD = new Map([["capability", new Map()]]);

describe("1. GET_SINCE compares instants (Cairn stores)", () => {
  const LOG = "audit/audit.jsonl";
  let root: string;
  let declared: EffectContext;
  const log = (op: string, p: Record<string, PyLiteral>, c: EffectContext = declared): CsResult =>
    APPENDONLY_RUNTIME.execute(
      { op, payload: dict(p), config: dict({ path: `${c.dataRoot}/${LOG}` }), metadata: dict({ capability: "CS_APPENDONLY_JSONL_V0", operations: { operations: { GET_SINCE: { handler: "read_since" } } } }) },
      c,
    );
  const since = (timestamp: PyLiteral, c?: EffectContext): unknown[] | string => {
    const r = log("GET_SINCE", { timestamp }, c);
    if (r.outcome !== "SUCCESS") return `${r.outcome}: ${String(r.result.get("message"))}`;
    return (r.result.get("entries") as Array<Map<string, unknown>>).map((e) => e.get("timestamp"));
  };
  const setup = (): void => {
    root = temp();
    declared = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    log("APPEND", { record: 1n }); // stamped 2025-01-01T00:00:00.000001 (naive UTC)
  };

  it("an aware instant before the record selects it; text order no longer decides", () => {
    setup();
    const rec = ["2025-01-01T00:00:00.000001"];
    expect(since("2025-01-01T00:00:00Z")).toEqual(rec); // was [] ("Z" sorts after ".")
    expect(since("2025-01-01T00:00:00+00:00")).toEqual(rec);
    expect(since("2024-12-31T19:00:00-05:00")).toEqual(rec); // the same instant as 00:00:00Z
    expect(since("2025-01-01T00:00:00-05:00")).toEqual([]); // 05:00 UTC, after the record (was included)
    expect(since("2025-01-01T00:00:00.000001")).toEqual([]); // strictly after
    expect(since("2025-01-01T00:00:00.0000009")).toEqual(rec); // µs precision: .000000
    expect(since("2025-01-01")).toEqual(rec);
    expect(since("2025-01-01 00:00:00")).toEqual(rec);
  });

  it("an unparseable timestamp is VIOLATION naming it; a record that does not parse is BACKEND_ERROR naming its line", () => {
    setup();
    const not = "is not an ISO 8601 date-time (as Python 3.11 datetime.fromisoformat reads it)";
    expect(since("")).toBe(`VIOLATION: GET_SINCE timestamp "" ${not}`);
    expect(since("yesterday")).toBe(`VIOLATION: GET_SINCE timestamp "yesterday" ${not}`);
    expect(since(5n)).toBe("VIOLATION: GET_SINCE needs a string timestamp, got int");
    writeFileSync(join(root, LOG), `${readFileSync(join(root, LOG), "utf8")}{"timestamp": "soon", "record": 2}\n{"record": 3}\n`);
    expect(since("2025-01-01")).toBe(`BACKEND_ERROR: "${LOG}" line 2: timestamp "soon" ${not}`);
    writeFileSync(join(root, LOG), '{"record": 3}\n');
    expect(since("2025-01-01")).toBe(`BACKEND_ERROR: "${LOG}" line 1: no string timestamp (NoneType)`);
  });

  it("under the reference dialect GET_SINCE stays the reference's BACKEND_ERROR", () => {
    setup();
    const ref = createEffectContext({ dataRoot: root, traceId: "T" });
    expect(since("2025-01-01T00:00:00Z", ref)).toBe("BACKEND_ERROR: No backend handler for op: GET_SINCE");
  });

  it("end to end: the audit's repro (GET_SINCE \"2025-01-01T00:00:00Z\" after one APPEND) returns the record", async () => {
    const decl = baseDecl({
      entry: "log",
      stores: { audit: { kind: "appendonly", path: LOG } },
      nodes: {
        log: {
          steps: [
            { id: "a", cs: "audit", op: "APPEND", inputs: { record: { const: { n: 1 } } } },
            { id: "q", cs: "audit", op: "GET_SINCE", inputs: { timestamp: "$.payload.since" } },
          ],
          routes: { SUCCESS: { exit: "DONE", reason: "done" }, default: { exit: "FAILED", reason: "failed" } },
        },
      },
    });
    const { snap } = await prepared(decl);
    const dir = tempDir();
    const r = runCairnWorkflow({ snapshot: snap, payload: cairnPayload({ since: "2025-01-01T00:00:00Z" }), dataRoot: join(dir, "data"), baseDir: dir });
    expect(r.status).toBe("SUCCESS");
    expect((r.surface.get("entries") as unknown[]).length).toBe(1);
  });
});

describe("2. traces keep payload and atom text verbatim, and carry no host path", () => {
  it("PGS: a rejected payload value naming the data root is recorded as given, and replays identically", () => {
    const b = box(true);
    const store = openStore({ dir: join(b.root, "store") });
    stores.push(store);
    const p = join(b.root, "p.json");
    writeFileSync(p, JSON.stringify({ tool_name: b.dataRoot, requesting_user_id: "u" }));
    const r = b.run(WF.govern, p, { store });
    const step = pgsTrace(r).split("\n").map((l) => (l === "" ? null : (JSON.parse(l) as { detail: { error?: string } }))).find((e) => e?.detail.error !== undefined);
    expect(step?.detail.error).toContain(b.dataRoot); // was "{{module_data_root}}"
    expect(step?.detail.error).not.toContain("{{module_data_root}}");
    expect(r.violations.map((v) => v.reason).join("\n")).toContain(b.dataRoot);
    const rep = replayPgsRun(store, r.traceId);
    expect(rep.firstDifference).toBeUndefined(); // was DIFFERENT at line 6 (the replay's temp data root)
    expect(rep.identical).toBe(true);
  });

  it("Cairn: a store message and an atom message quoting the data root / workspace are verbatim; replay is identical", async () => {
    const decl = baseDecl({
      entry: "q",
      stores: { audit: { kind: "appendonly", path: "a/log.jsonl" } },
      nodes: {
        q: {
          steps: [{ id: "s", cs: "audit", op: "GET_SINCE", inputs: { timestamp: "$.payload.since" } }],
          routes: { SUCCESS: { exit: "DONE", reason: "done" }, default: { exit: "FAILED", reason: "failed" } },
        },
      },
    });
    const { snap } = await prepared(decl);
    const dir = tempDir();
    const storeDir = join(dir, "store");
    const since = `${join(dir, "data")} and ${dir}`;
    const store = openStore({ dir: storeDir, create: true });
    let r;
    try {
      r = runCairnWorkflow({ snapshot: snap, payload: cairnPayload({ since }), dataRoot: join(dir, "data"), baseDir: dir, store });
    } finally {
      store.close();
    }
    expect(r.status).toBe("VIOLATION");
    const step = traceText(r).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { event_type: string; detail: { error?: string } }).find((e) => e.event_type === "CC_STEP");
    expect(step?.detail.error).toBe(`GET_SINCE timestamp ${JSON.stringify(since)} is not an ISO 8601 date-time (as Python 3.11 datetime.fromisoformat reads it)`);
    const ro = openStore({ dir: storeDir, readOnly: true });
    stores.push(ro);
    const rep = replayCairnRun(ro, r.traceId);
    expect(rep.firstDifference).toBeUndefined();
    expect(rep.identical).toBe(true);
  });

  it("confinement refusals name a configured path with the data root as {{module_data_root}}, never the data root itself", () => {
    const root = temp();
    const msg = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(CairnError);
        return (err as CairnError).message;
      }
      throw new Error("expected a refusal");
    };
    expect(msg(() => confineAbsolute(root, `${root}/../escape.jsonl`))).toBe(`path confinement: "{{module_data_root}}/../escape.jsonl" contains a '..' segment`);
    expect(msg(() => confineAbsolute(root, "/elsewhere/x.jsonl"))).toBe('path confinement: "/elsewhere/x.jsonl" is outside the data root');
    expect(msg(() => confineAbsolute(root, root))).toBe('path confinement: "{{module_data_root}}" names the data root itself, not a file');
    expect(msg(() => confineAbsolute(root, `${root}/a\0b`))).toBe('path confinement: "{{module_data_root}}/a\\u0000b" contains a NUL byte');
    expect(msg(() => confineRelative(root, `${root}/x\0`, "e.json"))).toBe('path confinement: "{{module_data_root}}/x\\u0000" contains a NUL byte');
    expect(msg(() => expandPolicy(dict({ path: "x" }), `${root}/"q`))).toBe('the data root contains "\\"", a character the policy expansion cannot carry');
  });

  it("PGS: a policy path outside the data root aborts the run; neither the trace nor the summary names the data root or the workspace", () => {
    const b = box();
    const f = join(b.workspace, "tokenized_snapshot/ai_governance/handlers.json");
    const d = JSON.parse(readFileSync(f, "utf8")) as { rb_policy: Record<string, Record<string, { policy: { path: string } }>> };
    (d.rb_policy["38"] as Record<string, { policy: { path: string } }>)["46"]!.policy.path = join(b.root, "outside.jsonl");
    writeFileSync(f, JSON.stringify(d));
    const r = b.run(WF.deny, payload("ai_licensing/deny_provision_payload.json"));
    expect(r.error).toMatchObject({ code: "E_PATH_CONFINEMENT", message: `path confinement: ${JSON.stringify(join(b.root, "outside.jsonl"))} is outside the data root` });
    const text = pgsTrace(r) + readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8");
    expect(text).not.toContain(b.dataRoot);
    expect(text).not.toContain(b.workspace);
  });

  it("an OS error that is not a Cairn error loses its path in an ERROR message", () => {
    const missing = join(temp(), "no", "such.json");
    let err: unknown;
    try {
      readFileSync(missing);
    } catch (e) {
      err = e;
    }
    expect(runErrorMessage(err)).toBe("ENOENT: no such file or directory");
    expect(runErrorMessage(new CairnError("E_INVALID_INPUT", "kept as is: /x"))).toBe("kept as is: /x");
  });
});

describe("3. examine: a reference v0 trace is unchained, not broken", () => {
  const REF_ID = "20260524T151422183Z__WF_GOVERN_AGENT_ACTION_V0__23F0";
  /** A run's trace rewritten as the reference writes it: no seq/prev, a wall-clock trace id, no summary. */
  function referenceTrace(b: Sandbox, file: string, keep: (i: number) => boolean = () => false, id = REF_ID): string[] {
    const lines = readFileSync(file, "utf8").slice(0, -1).split("\n").map((l, i) => {
      const ev = JSON.parse(l) as Record<string, unknown>;
      ev.trace_id = id;
      ev.ts_ns = 406238541710 + i;
      if (!keep(i)) {
        delete ev.seq;
        delete ev.prev;
      }
      return JSON.stringify(ev);
    });
    writeFileSync(file, `${lines.join("\n")}\n`);
    unlinkSync(`${file.slice(0, -".jsonl".length)}.md`);
    void b;
    return lines;
  }

  it("is reported unchained (integrity not verified) and classified and exited by its outcome", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    const file = join(r.traceDirAbs, `${r.traceId}.jsonl`);
    referenceTrace(b, file);
    const x = examineTrace(file);
    expect(x.chain).toEqual({ ok: false, status: "unchained", events: 12, head: null, anchor: "none" });
    expect([x.outcome.class, x.exitCode]).toEqual(["business_violation", 0]); // was BROKEN at line 1 (bad_seq), exit 1
    expect(renderReport(x)).toContain("chain:       unchained (a v0 trace without a hash chain: not verifiable): 12 events, integrity NOT verified");
    expect(x.notes).toContain("the trace has no hash chain (no line carries seq/prev: a reference v0 trace): its integrity was NOT verified, and the outcome is read from its events as they are");
    expect(x.hint).not.toMatch(/hash chain is broken/);
  });

  it("an unchained trace of a failed run still exits 1", () => {
    const b = box(); // no license facts: the governed action is denied (not found) — use an ERROR run instead
    const f = join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json");
    const d = JSON.parse(readFileSync(f, "utf8")) as { pipeline: Record<string, Array<{ addr: number }>> };
    d.pipeline["8"]![0]!.addr = 9999;
    writeFileSync(f, JSON.stringify(d));
    const r = b.run(WF.collatz, payload("collatz_conjecture/02_single_number.json"));
    expect(r.status).toBe("ERROR");
    const file = join(r.traceDirAbs, `${r.traceId}.jsonl`);
    referenceTrace(b, file, () => false, "20260524T151422183Z__WF_DEMO_COLLATZ_CONJECTURE_V0__B95E");
    const x = examineTrace(file);
    expect(x.chain.status).toBe("unchained");
    expect(x.exitCode).toBe(1);
  });

  it("stays BROKEN when some lines carry seq/prev, when a summary records a head, for a Cairn trace id, and when torn", () => {
    const cases: Array<[string, (b: Sandbox, file: string) => void, string]> = [
      ["mixed", (b, file) => void referenceTrace(b, file, (i) => i === 3), "bad_seq"],
      ["summary", (_b, file) => {
        const text = readFileSync(file, "utf8").slice(0, -1).split("\n").map((l) => {
          const ev = JSON.parse(l) as Record<string, unknown>;
          delete ev.seq;
          delete ev.prev;
          ev.trace_id = REF_ID;
          return JSON.stringify(ev);
        });
        writeFileSync(file, `${text.join("\n")}\n`); // the .md (with its chain head) stays
      }, "bad_seq"],
      ["cairn id", (b, file) => {
        const id = (JSON.parse(readFileSync(file, "utf8").split("\n")[0] as string) as { trace_id: string }).trace_id;
        referenceTrace(b, file, () => false, id);
      }, "bad_seq"],
      ["torn", (b, file) => {
        const lines = referenceTrace(b, file);
        writeFileSync(file, `${lines.join("\n")}`);
      }, "torn_line"],
      ["other id", (b, file) => {
        const lines = referenceTrace(b, file);
        lines[4] = lines[4]!.replace(REF_ID, "20260524T151422184Z__WF_GOVERN_AGENT_ACTION_V0__23F0");
        writeFileSync(file, `${lines.join("\n")}\n`);
      }, "changed_line"],
    ];
    for (const [name, tamper, kind] of cases) {
      const b = box(true);
      const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
      const file = join(r.traceDirAbs, `${r.traceId}.jsonl`);
      tamper(b, file);
      const x = examineTrace(file);
      expect([name, x.chain.status, x.chain.ok, x.chain.brokenAt?.kind, x.exitCode]).toEqual([name, "broken", false, kind, 1]);
    }
  });
});

describe("4. the ISO parser is Python 3.11 datetime.fromisoformat", () => {
  // Expected values computed with CPython 3.11.7: fromisoformat(s), naive = UTC, µs since the epoch.
  it.each([
    ["2025-01-20T11:00:00 +02:00", 1737363600000000n], // a stray character before the offset
    ["2025-01-20T11:00:00.+02:00", 1737363600000000n],
    ["2025-01-20T11:00:00+02:00:30.1234567", 1737363569876544n], // offset fraction beyond 6 digits skipped
    ["2025-01-20T11:00:00+02:99", 1737357660000000n], // offset minutes are not range-checked
    ["2025-01-20T11:00:00:5", 1737370800500000n],
    ["2025-01-20T11000052+02:00", 1737363600520000n],
    ["2025-01-20T11x+02:00", 1737363600000000n],
    ["2025-01-20\ud80011:00", 1737370800000000n], // a lone surrogate as the separator
    ["2025-01-20T11:00:00\u0000", 1737370800000000n], // NUL ends the C string
    ["2025-01-20T11:00:00Z\u0000", 1737370800000000n],
    ["2025W031100", 1736726400000000n], // YYYYWwwD, separator "1", time "00"
    ["2025-01-20T11:00:00.123456x+02:00", 1737363600123456n],
    ["2025-01-20T11:00:00-00:00:01.5", 1737370801500000n],
    ["2025-01-20T11:00:00.1234567", 1737370800123456n],
  ])("%j = %s", (s, micros) => expect(parseIsoInstant(s)).toBe(micros));

  it.each([
    "2025-W03-2011:00:00,5+23:59", // the date is 2025-W03, "-" the separator: time "2011:00:00,5" fails
    "2025-W03-21100",
    "0000-W01",
    "2025-01-20T11:00:00.12x+02:00",
    "2025-01-20T11:00:00 ",
    "2025-01-20T11:00:00x",
    "2025-01-20\ud800\ud80011:00",
    "2025-01-20T11:00+23:99:99", // |offset| >= 24 h
  ])("%j is refused", (s) => expect(parseIsoInstant(s)).toBeUndefined());
});

describe("5. limits and BACKEND_ERROR surface", () => {
  it("the Collatz budget message names the values left of COLLATZ_MAX_TOTAL_VALUES", () => {
    const numbers = Array.from({ length: 21465 }, (_, i) => BigInt(i + 1));
    let err: unknown;
    try {
      CT_PURE_COLLATZ_STEP_V0.execute(new Map([["numbers", numbers]]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AtomViolation);
    expect((err as AtomViolation).reason).toBe(
      "sequence of 21465 exceeds the 74 values left of Cairn's limit of 2000000 values for all sequences of one call (COLLATZ_MAX_TOTAL_VALUES; the sequences of the numbers before it hold 1999926)",
    );
    expect((err as AtomViolation).pyException).toBe("CairnLimit");
    // Sequences of one value (n = 1) count against the budget too: never "-1 values left".
    let ones: unknown;
    try {
      CT_PURE_COLLATZ_STEP_V0.execute(new Map([["numbers", [...Array.from({ length: 2_000_000 }, () => 1n), 1n]]]));
    } catch (e) {
      ones = e;
    }
    expect((ones as AtomViolation).reason).toBe(
      "sequence of 1 exceeds the 0 values left of Cairn's limit of 2000000 values for all sequences of one call (COLLATZ_MAX_TOTAL_VALUES; the sequences of the numbers before it hold 2000000)",
    );
  });

  it("the values of one call are bounded in digits too (COLLATZ_MAX_TOTAL_DIGITS): a 3,500-digit seed is refused", () => {
    const seed = 10n ** 3500n - 1n;
    let err: unknown;
    try {
      CT_PURE_COLLATZ_STEP_V0.execute(new Map([["numbers", [seed]]]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AtomViolation);
    expect((err as AtomViolation).reason).toBe(
      `sequence of ${"9".repeat(20)}… (3500 digits) exceeds Cairn's limit of 40000000 decimal digits for all values of one call (COLLATZ_MAX_TOTAL_DIGITS)`,
    );
    expect((err as AtomViolation).pyException).toBe("CairnLimit");
    // a 300-digit seed stays well inside it
    const ok = CT_PURE_COLLATZ_STEP_V0.execute(new Map([["numbers", [10n ** 300n - 1n]]])) as Map<string, Map<string, bigint[]>>;
    expect(ok.get("sequences")?.get("9".repeat(300))?.at(-1)).toBe(1n);
  });

  it("an unusable registry or mutable document is a bare BACKEND_ERROR under the reference dialect (C.2, C.4), with a message for Cairn stores", () => {
    const root = temp();
    mkdirSync(join(root, "s"));
    writeFileSync(join(root, "s/reg.jsonl"), "torn");
    writeFileSync(join(root, "s/doc.json"), "{not json");
    const reference = createEffectContext({ dataRoot: root, traceId: "T" });
    const declared = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    const reg = (c: EffectContext) => REGISTRY_RUNTIME.execute({ op: "REGISTER", payload: dict({ key: "k" }), config: dict({ path: `${root}/s/reg.jsonl` }), metadata: MD }, c).result;
    const mut = (c: EffectContext) =>
      MUTABLE_RUNTIME.execute({
        op: "READ", payload: dict({ __pgs_store_entity__: "E", key: "k" }),
        config: dict({ module_data_root: root, storage_structure_artifact: { frontmatter: { core: { entity_stores: { E: { path: "s/doc.json" } } } } } }),
        metadata: dict({ capability: "CS_MUTABLE_JSON_V0", operations: {} }),
      }, c).result;
    expect(reg(reference)).toEqual(dict({ result_status: "BACKEND_ERROR" }));
    expect(mut(reference)).toEqual(dict({ result_status: "BACKEND_ERROR" }));
    expect(String(reg(declared).get("message"))).toMatch(/^"s\/reg\.jsonl" ends in a torn line/);
    expect(String(mut(declared).get("message"))).toMatch(/^"s\/doc\.json" is not valid JSON/);
  });
});
