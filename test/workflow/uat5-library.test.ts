/**
 * UAT 5 (library API of the workflow runtimes): prepareSnapshot re-verifies a sealed snapshot
 * and keeps its own copy (F12); option checks of runPgsWorkflow, runCairnWorkflow,
 * examineTrace, acquireDataRootLock and compileWorkflows refuse empty paths, unknown keys,
 * ill-typed values and non-object payloads before anything is written (F1, F2, F3, F5, F14); a
 * PGS trace limit too small for a run's ERROR event is refused up front (F15); the declared
 * `digests.workflow` (F13).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CairnError } from "../../src/core/errors.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow, type PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes, type SealedSnapshot } from "../../src/workflow/cairn/seal.js";
import { acquireDataRootLock, acquireDataRootLockAsync } from "../../src/workflow/effects/data-root-lock.js";
import { examineTrace } from "../../src/workflow/examine/index.js";
import { MIN_TRACE_ERROR_RESERVE_BYTES, readPayloadFile, runPgsWorkflow, runRecordedPgsWorkflow, type RunPgsOptions } from "../../src/workflow/pgs/run.js";
import { fromPlain } from "../../src/workflow/pgs/value.js";
import { EXAMPLES } from "./cairn-fixture.js";
import { cairnErrorOf, payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();
const GOVERN_PAYLOAD = payload("agent_governance/01_valid_standard_action.json");
const EXIT_REASON = "agent registered, profiled and audited";

async function sealedExample(): Promise<SealedSnapshot> {
  const c = await compileWorkflows([EXAMPLES]);
  return verifySealedBytes(sealedFileBytes(c.content!).bytes, "x");
}

function okPayload() {
  return readPayloadFile(join(EXAMPLES, "payloads/register-ok.json"));
}

function usage(e: CairnError, field: string, text?: RegExp): void {
  expect(e.code).toBe("E_USAGE");
  expect(e.details.field).toBe(field);
  if (text !== undefined) expect(e.message).toMatch(text);
}

/** Nothing was written under `d` (no trace, no data-root file). */
function untouched(d: string): void {
  expect(readdirSync(d)).toEqual([]);
}

describe("prepareSnapshot re-verifies the sealed snapshot and keeps its own copy (F12)", () => {
  it("a snapshot whose content was changed after it was loaded is E_SNAPSHOT_INTEGRITY", async () => {
    const sealed = await sealedExample();
    sealed.content = JSON.parse(JSON.stringify(sealed.content).replace(EXIT_REASON, "TAMPERED REASON")) as SealedSnapshot["content"];
    const e = cairnErrorOf(() => prepareSnapshot(sealed));
    expect(e.code).toBe("E_SNAPSHOT_INTEGRITY");
    expect(e.message).toMatch(/integrity/);
    expect(e.details.check).toBe("digest");
  });

  it("a change to the caller's object after prepareSnapshot does not reach a run", async () => {
    const sealed = await sealedExample();
    const prepared = prepareSnapshot(sealed);
    const d1 = dir();
    const before = runCairnWorkflow({ snapshot: prepared, payload: okPayload(), dataRoot: join(d1, "data"), baseDir: d1 });
    expect(before.exit?.reason).toBe(EXIT_REASON);
    sealed.content = JSON.parse(JSON.stringify(sealed.content).replace(EXIT_REASON, "TAMPERED REASON")) as SealedSnapshot["content"];
    const d2 = dir();
    const after = runCairnWorkflow({ snapshot: prepared, payload: okPayload(), dataRoot: join(d2, "data"), baseDir: d2 });
    expect(after.exit?.reason).toBe(EXIT_REASON);
    expect(after.digests).toEqual(before.digests);
    expect(readFileSync(join(after.traceDirAbs, `${after.traceId}.jsonl`)).equals(readFileSync(join(before.traceDirAbs, `${before.traceId}.jsonl`)))).toBe(true);
    expect(prepared.sealed).not.toBe(sealed);
  });

  it("something that is not a sealed snapshot is E_USAGE naming it", () => {
    for (const bad of [{}, null, undefined, "snap.json", { digest: 5, content: {} }]) {
      usage(cairnErrorOf(() => prepareSnapshot(bad as unknown as SealedSnapshot)), "snapshot", /sealed Cairn snapshot/);
    }
  });
});

describe("runCairnWorkflow option checks (F2, F3, F5, F14)", () => {
  let prepared: PreparedSnapshot | undefined;
  const base = async (d: string) => {
    prepared ??= prepareSnapshot(await sealedExample());
    return { snapshot: prepared, payload: okPayload(), dataRoot: join(d, "data"), baseDir: d };
  };
  const refused = async (change: (o: Record<string, unknown>) => void): Promise<CairnError> => {
    const d = dir();
    const o: Record<string, unknown> = await base(d);
    change(o);
    const e = cairnErrorOf(() => runCairnWorkflow(o as never));
    untouched(d);
    return e;
  };

  it("unknown and typo'd keys are E_USAGE with a did-you-mean; PGS-only options are refused, not ignored", async () => {
    const e = await refused((o) => (o.worklow = "registry::WF_REGISTER_AGENT_V0"));
    usage(e, "worklow", /did you mean "workflow"/);
    expect(e.details.suggestion).toBe("workflow");
    usage(await refused((o) => (o.effectDurability = "no-fsync")), "effectDurability", /runPgsWorkflow/);
    usage(await refused((o) => (o.traceLimit = { maxBytes: 1000 })), "traceLimit", /runPgsWorkflow/);
  });

  it("missing, empty or ill-typed paths are E_USAGE naming the option; an empty one is never the current directory", async () => {
    usage(await refused((o) => delete o.baseDir), "baseDir");
    usage(await refused((o) => delete o.dataRoot), "dataRoot");
    usage(await refused((o) => (o.baseDir = "")), "baseDir", /empty/);
    usage(await refused((o) => (o.dataRoot = "")), "dataRoot", /empty/);
  });

  it("a payload that is not a JSON object is E_INVALID_INPUT before anything is written", async () => {
    for (const p of [[], null, { agent_name: "x" }, "x"]) {
      const e = await refused((o) => (o.payload = p));
      expect(e.code).toBe("E_INVALID_INPUT");
      expect(e.details.field).toBe("payload");
    }
  });

  it("a SealedSnapshot where a PreparedSnapshot is expected, and ill-typed options, are E_USAGE naming them", async () => {
    const sealed = await sealedExample();
    usage(await refused((o) => (o.snapshot = sealed)), "snapshot", /pass prepareSnapshot/);
    usage(await refused((o) => (o.render = "yes")), "render");
    usage(await refused((o) => (o.clock = {})), "clock");
    usage(await refused((o) => (o.store = {})), "store");
    usage(await refused((o) => (o.workflow = 5)), "workflow");
    usage(cairnErrorOf(() => runCairnWorkflow(null as never)), "options");
  });

  it("the accepted options still run", async () => {
    const d = dir();
    const r = runCairnWorkflow({ ...(await base(d)), payload: fromPlain({ agent_name: "ok", email: "a@b.c" }) as never });
    expect(["SUCCESS", "VIOLATION"]).toContain(r.status);
  });
});

describe("compileWorkflows argument check (F3)", () => {
  it("no argument or a string instead of a list is E_USAGE naming inputs", async () => {
    for (const bad of [undefined, join(EXAMPLES, "register-agent.yaml"), [5]]) {
      const e = await compileWorkflows(bad as never).then(() => undefined, (err: unknown) => err as CairnError);
      expect(e?.code).toBe("E_USAGE");
      expect(e?.details.field).toBe("inputs");
    }
  });
});

describe("runPgsWorkflow option checks (F1, F2, F3, F14, F15)", () => {
  const refused = (change: (o: Record<string, unknown>) => void): CairnError => {
    const b = box();
    const d = dir();
    const o: Record<string, unknown> = { workspace: b.workspace, workflow: WF.govern, payload: readPayloadFile(GOVERN_PAYLOAD), dataRoot: d };
    change(o);
    const e = cairnErrorOf(() => runPgsWorkflow(o as unknown as RunPgsOptions));
    untouched(d);
    expect(existsSync(join(b.workspace, "traces"))).toBe(false);
    return e;
  };

  it("unknown and typo'd keys (also inside traceLimit) are E_USAGE with a did-you-mean", () => {
    usage(refused((o) => (o.dataRoots = "x")), "dataRoots", /did you mean "dataRoot"/);
    usage(refused((o) => (o.effectdurability = "no-fsync")), "effectdurability", /did you mean "effectDurability"/);
    usage(refused((o) => (o.traceLimit = { maxbytes: 100_000 })), "maxbytes", /did you mean "maxBytes"/);
  });

  it("missing, empty or ill-typed paths are E_USAGE naming the option", () => {
    usage(refused((o) => delete o.dataRoot), "dataRoot");
    usage(refused((o) => (o.dataRoot = "")), "dataRoot", /empty/);
    usage(refused((o) => (o.workspace = "")), "workspace", /empty/);
    usage(refused((o) => (o.workspace = 42)), "workspace");
    usage(refused((o) => (o.workflow = undefined)), "workflow");
  });

  it("a payload that is not a JSON object is E_INVALID_INPUT before anything is written", () => {
    for (const p of [[], null, { a: 1 }]) {
      const e = refused((o) => (o.payload = p));
      expect(e.code).toBe("E_INVALID_INPUT");
      expect(e.details.field).toBe("payload");
    }
  });

  it("ill-typed store, clock, render, snapshot are E_USAGE naming them", () => {
    usage(refused((o) => (o.store = {})), "store");
    usage(refused((o) => (o.clock = {})), "clock");
    usage(refused((o) => (o.render = "yes")), "render");
    usage(refused((o) => (o.snapshot = {})), "snapshot");
    usage(cairnErrorOf(() => runPgsWorkflow(undefined as never)), "options");
  });

  it("a trace limit whose error reserve cannot hold the run's ERROR event is E_USAGE up front (F15)", () => {
    usage(refused((o) => (o.traceLimit = { maxBytes: 10 })), "maxBytes", /MIN_TRACE_ERROR_RESERVE_BYTES/);
    usage(refused((o) => (o.traceLimit = { maxBytes: 100_000, errorReserveBytes: MIN_TRACE_ERROR_RESERVE_BYTES - 1 })), "errorReserveBytes");
  });

  it("the smallest accepted limit ends a run with an ERROR event and a summary, not a throw", () => {
    const r = box().run(WF.govern, GOVERN_PAYLOAD, { traceLimit: { maxBytes: MIN_TRACE_ERROR_RESERVE_BYTES + 1, errorReserveBytes: MIN_TRACE_ERROR_RESERVE_BYTES } });
    expect(r.status).toBe("ERROR");
    expect(r.error?.code).toBe("E_LIMIT_EXCEEDED");
    const lines = readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0] as string) as { event_type: string }).event_type).toBe("ERROR");
    expect(existsSync(join(r.traceDirAbs, `${r.traceId}.md`))).toBe(true);
    const derived = box().run(WF.govern, GOVERN_PAYLOAD, { traceLimit: { maxBytes: 2 * MIN_TRACE_ERROR_RESERVE_BYTES } });
    expect(existsSync(join(derived.traceDirAbs, `${derived.traceId}.md`))).toBe(true);
  });

  it("a recorded run's limit below the minimum still runs through runRecordedPgsWorkflow (wf replay), byte for byte", () => {
    const full = box().run(WF.govern, GOVERN_PAYLOAD);
    const size = readFileSync(join(full.traceDirAbs, `${full.traceId}.jsonl`)).length;
    const limit = { maxBytes: size + 100, errorReserveBytes: 100 };
    usage(refused((o) => (o.traceLimit = limit)), "errorReserveBytes");
    const b = box();
    const r = runRecordedPgsWorkflow({ workspace: b.workspace, workflow: WF.govern, payload: readPayloadFile(GOVERN_PAYLOAD), dataRoot: b.dataRoot, traceLimit: limit });
    expect(r.status).toBe("SUCCESS");
    expect(r.digests).toEqual(full.digests);
    usage(cairnErrorOf(() => runRecordedPgsWorkflow({ workspace: b.workspace, workflow: WF.govern, payload: readPayloadFile(GOVERN_PAYLOAD), dataRoot: b.dataRoot, tracelimit: limit } as never)), "tracelimit");
  });

  it("digests.workflow is the workflow's FQDN (F13)", () => {
    const r = box().run(WF.govern, GOVERN_PAYLOAD);
    const w: string = r.digests.workflow;
    expect(w).toBe(WF.govern);
  });
});

describe("examineTrace and acquireDataRootLock argument checks (F1, F14)", () => {
  it("examineTrace refuses a typo'd option and an empty path", () => {
    const r = box().run(WF.govern, GOVERN_PAYLOAD);
    const trace = join(r.traceDirAbs, `${r.traceId}.jsonl`);
    usage(cairnErrorOf(() => examineTrace(trace, { worksapce: "x" } as never)), "worksapce", /did you mean "workspace"/);
    usage(cairnErrorOf(() => examineTrace("")), "trace");
    expect(examineTrace(trace).chain.ok).toBe(true);
  });

  it("acquireDataRootLock refuses an empty path and a typo'd option", async () => {
    const d = dir();
    mkdirSync(join(d, "data"));
    usage(cairnErrorOf(() => acquireDataRootLock("")), "dataRoot", /empty/);
    usage(cairnErrorOf(() => acquireDataRootLock(join(d, "data"), { wait: 5 } as never)), "wait", /did you mean "waitMs"/);
    const e = await acquireDataRootLockAsync("").then(() => undefined, (err: unknown) => err as CairnError);
    expect(e?.code).toBe("E_USAGE");
    const lock = acquireDataRootLock(join(d, "data"), { waitMs: 0 });
    lock.release();
  });
});
