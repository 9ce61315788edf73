/**
 * Trace directories (ARCHITECTURE §11.7):
 *  1. the temp files killed re-runs of a trace id leave there (`.<id>.jsonl.<…>.tmp`, the trace a
 *     re-run writes beside the earlier one; `<id>.md|svg|png.<…>.tmp`, the summary and pictures
 *     it replaces) are removed by the next run of that trace id when their writer is provably
 *     gone — the shared rule of store/temp-files.ts (§5.16): never a live writer's, never one of
 *     another pid space, never outside that directory;
 *  2. a run recorded in a store under a trace limit other than the default records it in its
 *     receipt's params, and `wf replay` re-runs with it (so a run that hit it replays identical).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/store.js";
import { pidSpace, writerTempName } from "../../src/store/temp-files.js";
import { replayPgsRun } from "../../src/workflow/pgs/replay.js";
import { MAX_TRACE_BYTES, TRACE_ERROR_RESERVE_BYTES, TraceWriter } from "../../src/workflow/pgs/trace.js";
import { payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();
const SPACE = pidSpace() as string;
const OTHER = SPACE === "00000000" ? "00000001" : "00000000";
const HEX = "0123456789abcdef";

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid as number;
}

describe("1. a run of a trace id sweeps its trace directory's dead writers' temp files", () => {
  it("a re-run removes the killed re-runs' trace, summary and picture temps; live, other-space, legacy and other names stay; the trace is unchanged", () => {
    const p = payload("collatz_conjecture/01_happy_path.json");
    const b = box();
    b.run(WF.collatz, p); // from the second run on, collatz leaves the data as it found it: its trace id repeats
    const first = b.run(WF.collatz, p);
    const id = first.traceId;
    const traceDir = first.traceDirAbs;
    const before = { jsonl: readFileSync(join(traceDir, `${id}.jsonl`)), md: readFileSync(join(traceDir, `${id}.md`)) };
    const dead = deadPid();
    const swept = [
      writerTempName(`.${id}.jsonl.`, dead, SPACE, HEX),
      writerTempName(`${id}.md.`, dead, SPACE, HEX),
      writerTempName(`${id}.svg.`, dead, SPACE, HEX),
      writerTempName(`${id}.png.`, dead, SPACE, HEX),
    ];
    const kept = [
      writerTempName(`.${id}.jsonl.`, dead, OTHER, HEX), // another container sharing the workspace: its pid says nothing here
      writerTempName(`${id}.md.`, dead, OTHER, HEX),
      writerTempName(`.${id}.jsonl.`, process.ppid, SPACE, HEX), // runs
      `.${id}.jsonl.${dead}.0a1b2c3d4e5f.tmp`, // legacy pid-only name: never swept here
      writerTempName(".other.jsonl.", dead, SPACE, HEX), // not this trace's
    ];
    for (const n of [...swept, ...kept]) writeFileSync(join(traceDir, n), "{\"trace_schema_version\":");
    const asDir = writerTempName(`.${id}.jsonl.`, dead, SPACE, "00000000000000aa");
    mkdirSync(join(traceDir, asDir));
    // Bounded: the same names one level up (the workflow's directory of traces) are not looked at.
    const outside = writerTempName(`.${id}.jsonl.`, dead, SPACE, HEX);
    writeFileSync(join(traceDir, "..", outside), "x");

    const again = b.run(WF.collatz, p);
    expect(again.traceId).toBe(id);
    expect(readdirSync(traceDir).sort()).toEqual([`${id}.jsonl`, `${id}.md`, ...kept, asDir].sort());
    expect(existsSync(join(traceDir, "..", outside))).toBe(true);
    expect(readFileSync(join(traceDir, `${id}.jsonl`))).toEqual(before.jsonl);
    expect(readFileSync(join(traceDir, `${id}.md`))).toEqual(before.md);
    expect(again.digests).toEqual(first.digests);
  });

  it("TraceWriter (PGS and Cairn runs alike): sweeps a directory it did not make, not one made for the run", () => {
    const d = dir("cairn-trace-sweep-");
    const file = join(d, "T.jsonl");
    writeFileSync(file, "earlier\n");
    const dead = deadPid();
    const stale = [writerTempName(".T.jsonl.", dead, SPACE, HEX), writerTempName("T.md.", dead, SPACE, HEX)];
    const other = writerTempName(".T.jsonl.", dead, OTHER, HEX);
    for (const n of [...stale, other]) writeFileSync(join(d, n), "x");
    // freshDir: the caller made the directory for this run, so nothing can be left in it (not listed).
    new TraceWriter("T", "test", null, file, undefined, true).close();
    expect(readdirSync(d).sort()).toEqual(["T.jsonl", ...stale, other].sort());
    const w = new TraceWriter("T", "test", null, file);
    w.emit("WF_START", { detail: new Map() });
    w.close();
    expect(readdirSync(d).sort()).toEqual(["T.jsonl", other].sort());
    expect(readFileSync(file, "utf8")).toBe(`${w.lines[0]}\n`);
  });
});

describe("2. a trace limit other than the default is recorded, and replay uses it", () => {
  it("a recorded run that hit a lowered limit: the receipt names the limit, and the run replays identical", () => {
    const b = box();
    const store = openStore({ dir: join(b.root, "store") });
    try {
      const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store, traceLimit: { maxBytes: 4096 } });
      expect(r.status).toBe("ERROR");
      expect(r.error?.message).toContain("would exceed its size limit of 4096 bytes");
      const receipt = store.getReceipt((r.recorded as NonNullable<typeof r.recorded>).receipt);
      expect(receipt.params).toEqual({ kind: "cairn.pgs.run", workflow: WF.govern, engine: { name: "cairn.workflow", version: "7" }, traceLimit: { maxBytes: 4096, errorReserveBytes: 2048 } });
      const replay = replayPgsRun(store, r.traceId);
      expect(replay.identical).toBe(true);
    } finally {
      store.close();
    }
  });

  it("the default limit, given or not, records nothing: the receipt's params stay {kind, workflow}", () => {
    for (const traceLimit of [undefined, { maxBytes: MAX_TRACE_BYTES, errorReserveBytes: TRACE_ERROR_RESERVE_BYTES }]) {
      const b = box();
      const store = openStore({ dir: join(b.root, "store") });
      try {
        const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store, ...(traceLimit === undefined ? {} : { traceLimit }) });
        expect(r.status).toBe("SUCCESS");
        expect(store.getReceipt((r.recorded as NonNullable<typeof r.recorded>).receipt).params).toEqual({ kind: "cairn.pgs.run", workflow: WF.govern, engine: { name: "cairn.workflow", version: "7" } });
        expect(replayPgsRun(store, r.traceId).identical).toBe(true);
      } finally {
        store.close();
      }
    }
  });
});
