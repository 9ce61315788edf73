/**
 * Trace batching and the data-root file cache (issue 4 §7.1, ARCHITECTURE §11.6–§11.7): the
 * trace is on disk up to every CS call, and a change made to a data-root file between two runs
 * of one process is seen by the next run. No speed is asserted here.
 */
import { appendFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { DEFAULT_LOGICAL_EPOCH_MS } from "../../src/workflow/effects/index.js";
import { stateDigest, TraceWriter, verifyTraceChainText } from "../../src/workflow/pgs/index.js";
import { payload, scratchPerTest, WF, type Sandbox } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();

describe("TraceWriter batching", () => {
  it("writes buffered events on flush() and close(), the same bytes as bytes()", () => {
    const file = join(dir("cairn-tw-"), "t.jsonl");
    const w = new TraceWriter("0123456789abcdef__WF_T_V0__ABCD", "d", 1, file);
    w.emit("WF_START", { detail: new Map() });
    expect(readFileSync(file, "utf8")).toBe("");
    w.flush();
    expect(readFileSync(file, "utf8")).toBe(`${w.lines[0] as string}\n`);
    w.emit("CC_START", { ccAddr: 2, detail: new Map() });
    w.emit("WF_COMPLETE", { resultStatus: "SUCCESS", detail: new Map() });
    w.close();
    expect(readFileSync(file)).toEqual(w.bytes());
    expect(verifyTraceChainText(readFileSync(file, "utf8"))).toMatchObject({ ok: true, events: 3, head: w.head });
  });
});

describe("a run's trace at a CS call", () => {
  it("holds every event emitted before the call (read from the APPEND's clock)", () => {
    const p = payload("agent_governance/01_valid_standard_action.json");
    const first = box().run(WF.govern, p);
    const b = box(); // same seeded prior state: the same trace id
    const seen: string[] = [];
    // The append-only runtime reads the logical clock inside the APPEND call: look at the trace then.
    const clock = {
      now: (): number => {
        seen.push(readFileSync(join(b.workspace, first.traceDir, `${first.traceId}.jsonl`), "utf8"));
        return DEFAULT_LOGICAL_EPOCH_MS;
      },
    };
    const r = b.run(WF.govern, p, { clock });
    expect(r.traceId).toBe(first.traceId);
    expect(seen).toHaveLength(1);
    const atAppend = seen[0] as string;
    const report = verifyTraceChainText(atAppend);
    expect(report.ok).toBe(true);
    const all = readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8").split("\n");
    // Everything up to the CC_STEP of the REGISTER before the APPEND, nothing after it.
    expect(JSON.parse(all[report.events - 1] as string)).toMatchObject({ event_type: "CC_STEP", step_op: "REGISTER" });
    expect(atAppend).toBe(`${all.slice(0, report.events).join("\n")}\n`);
  });
});

describe("data-root file cache", () => {
  const AUDIT = "ai_governance/agent_governance/governance_audit.jsonl";
  const REGISTRY = "ai_governance/agent_governance/governance_actions.json";
  /** The state digest of the GOVERN RB files, read from disk without any cache. */
  function stateOnDisk(b: Sandbox): string {
    const files = [REGISTRY, AUDIT, "ai_governance/ai_licensing/license_facts.json"].sort().map((path) => {
      const bytes = readFileSync(join(b.dataRoot, path));
      return { path, digest: sha256(bytes), bytes };
    });
    return stateDigest(files);
  }

  it("sees an external append and an external replacement made right after a run", () => {
    const b = box();
    const p = payload("agent_governance/01_valid_standard_action.json");
    b.run(WF.govern, p);
    b.run(WF.govern, p);
    appendFileSync(join(b.dataRoot, AUDIT), `${b.read(AUDIT).split("\n")[0] as string}\n`);
    let prior = stateOnDisk(b);
    let r = b.run(WF.govern, p);
    expect(r.digests.priorState).toBe(prior);
    expect(r.digests.posteriorState).toBe(stateOnDisk(b));
    // A replacement of the same size (a new inode), right after the run.
    const tmp = join(b.dataRoot, "replacement");
    writeFileSync(tmp, b.read(REGISTRY).replace(/AGOV_/g, "AGOX_"));
    renameSync(tmp, join(b.dataRoot, REGISTRY));
    prior = stateOnDisk(b);
    r = b.run(WF.govern, p);
    expect(r.digests.priorState).toBe(prior);
    expect(r.effects.find((e) => e.op === "REGISTER")?.status).toBe("SUCCESS"); // the key is new to the replaced registry
    expect(r.digests.posteriorState).toBe(stateOnDisk(b));
  });
});
