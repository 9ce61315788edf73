/**
 * The start record of a workflow run (pgs/record-start.ts, ARCHITECTURE §11.9): with a store, a
 * run records its snapshot, inputs and intent before its first node, pinned as
 * `<prefix><trace_id>:started`, and its record removes that root. A process SIGKILLed after the
 * effects and before the record leaves the root: the store says which run started and never
 * finished, passes fsck, and `wf replay` names it.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalBytes } from "../../src/core/canonical.js";
import { sha256, type Digest } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { recordedRunKind, replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { CAIRN_RECORD_KIND } from "../../src/workflow/cairn/record.js";
import { compactPy, readPayloadFile } from "../../src/workflow/pgs/index.js";
import { PGS_RECORD_KIND, putPgsSnapshot } from "../../src/workflow/pgs/record.js";
import { recordRunStart, RUN_STARTED_MEDIA_TYPE } from "../../src/workflow/pgs/record-start.js";
import { replayPgsRun } from "../../src/workflow/pgs/replay.js";
import { captureState } from "../../src/workflow/pgs/state.js";
import { loadSnapshot } from "../../src/workflow/pgs/snapshot.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, storeSnapshot, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { EXAMPLES, payload, tempDir } from "./cairn-fixture.js";
import { ACTOR_PAYLOAD, cairnErrorOf, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
const stores: Store[] = [];
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}
function storeAt(dir: string, readOnly = false): Store {
  const s = openStore({ dir, ...(readOnly ? { readOnly } : {}) });
  stores.push(s);
  return s;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
});

const CHILD = join(import.meta.dirname, "fixtures", "killed-before-record.mts");

describe("a run killed after its effects, before its record", () => {
  it("leaves its start root (intent → snapshot, payload, prior state), a store that passes fsck, and a replay error naming it", async () => {
    const b = box();
    const dir = join(b.root, "store");
    const p = spawnSync(process.execPath, ["--import", "tsx", CHILD, b.workspace, b.dataRoot, dir, WF.actor, ACTOR_PAYLOAD], { encoding: "utf8" });
    expect([p.signal, p.stdout, p.stderr]).toEqual(["SIGKILL", "", ""]);
    // The effects were applied: the data root holds the registry the run wrote.
    expect(readdirSync(b.dataRoot, { recursive: true }).length).toBeGreaterThan(0);

    const store = storeAt(dir);
    const started = store.listRoots().filter((r) => r.name.endsWith(":started"));
    expect(started.length).toBe(1);
    const [root] = started as [typeof started[number]];
    const traceId = root.name.slice("pgs:".length, -":started".length);
    expect(root.kind).toBe("run");
    expect(store.listRoots().map((r) => r.name).filter((n) => n.startsWith("pgs:"))).toEqual([root.name]); // no record
    const intent = JSON.parse(store.get(root.digest).toString("utf8")) as Record<string, unknown>;
    const pkg = loadSnapshot(b.workspace, "blockchain");
    const payloadBytes = Buffer.from(compactPy(readPayloadFile(ACTOR_PAYLOAD)), "utf8");
    expect(intent).toEqual({
      kind: "cairn.workflow.run-started", version: 1, run: "cairn.pgs.run", workflow: WF.actor, traceId,
      program: pkg.digest, payload: sha256(payloadBytes), priorState: intent.priorState,
    });
    expect(store.stat(root.digest).mediaType).toBe(RUN_STARTED_MEDIA_TYPE);
    expect(store.get(root.digest).equals(canonicalBytes(intent))).toBe(true);
    expect(store.get(intent.payload as Digest).equals(payloadBytes)).toBe(true);
    expect(store.has(intent.priorState as Digest)).toBe(true);
    expect((await store.fsck()).problems).toEqual([]);

    const err = cairnErrorOf(() => replayPgsRun(store, traceId));
    expect([err.code, err.message, err.details]).toEqual([
      "E_NOT_FOUND",
      `Recorded run ${traceId} not found in the store: it started (root pgs:${traceId}:started → ${root.digest}) but was never recorded — the process was killed or its recording failed, possibly after effects were applied; the start record holds its snapshot, payload and prior state`,
      { traceId, started: root.digest },
    ]);
    store.close();
    stores.splice(stores.indexOf(store), 1);

    // Running it again is another run (the prior state changed: the actor is registered): it is
    // recorded, and the interrupted run's root stays.
    const again = b.run(WF.actor, ACTOR_PAYLOAD, { store: storeAt(dir) });
    expect(again.traceId).not.toBe(traceId);
    const after = storeAt(dir, true).listRoots().map((r) => r.name).filter((n) => n.startsWith("pgs:")).sort();
    expect(after).toEqual([`pgs:${again.traceId}`, `pgs:${again.traceId}:effects`, root.name].sort());
  });
});

describe("the start root of a recorded run", () => {
  it("is removed by the run's record, also one an interrupted run of the same trace id left (same inputs, same intent)", () => {
    const b = box();
    const dir = join(b.root, "store");
    const store = storeAt(dir);
    // What a run killed before its first effect leaves: the start record of the trace id the next run has.
    const payloadBytes = Buffer.from(compactPy(readPayloadFile(ACTOR_PAYLOAD)), "utf8");
    const pkg = loadSnapshot(b.workspace, "blockchain");
    const probeStore = storeAt(join(b.root, "probe"));
    const probe = b.run(WF.actor, ACTOR_PAYLOAD, { store: probeStore, dataRoot: join(b.root, "probe-data") });
    const files = (JSON.parse(probeStore.get(probe.recorded?.priorState as Digest).toString("utf8")) as { files: { path: string }[] }).files.map((f) => f.path);
    const left = recordRunStart(store, { workflow: WF.actor, traceId: probe.traceId, payloadBytes, before: captureState(b.dataRoot, files, true) }, PGS_RECORD_KIND, () => putPgsSnapshot(store, pkg));
    expect(store.findRoot(`pgs:${probe.traceId}:started`)?.digest).toBe(left.intent);

    const r = b.run(WF.actor, ACTOR_PAYLOAD, { store });
    expect(r.traceId).toBe(probe.traceId);
    const names = store.listRoots().map((x) => x.name).filter((n) => n.startsWith("pgs:")).sort();
    expect(names).toEqual([`pgs:${r.traceId}`, `pgs:${r.traceId}:effects`]);
    // The record reused the start record's inputs.
    expect(r.recorded?.payload).toBe(left.payload);
    expect(r.recorded?.snapshot).toBe(left.program);
  });

  it("Cairn snapshot runs too; a Cairn run that never finished is named by wf replay's dispatch", async () => {
    const c = await compileWorkflows([EXAMPLES]);
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap"));
    const dir = tempDir();
    const store = storeAt(join(dir, "store"));
    const ok = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-ok.json"), "utf8")) as Record<string, unknown>;
    const r = runCairnWorkflow({ snapshot: snap, payload: payload(ok), dataRoot: join(dir, "data"), baseDir: dir, store });
    expect(r.status).toBe("SUCCESS");
    expect(store.listRoots().map((x) => x.name).filter((n) => n.startsWith("cairn-wf:")).sort()).toEqual([`cairn-wf:${r.traceId}`, `cairn-wf:${r.traceId}:effects`]);
    // A start record without a record (as a kill would leave it), for a trace id of its own.
    const traceId = `${"0".repeat(16)}__${r.traceId.split("__")[1]}__0000`;
    const left = recordRunStart(store, { workflow: r.workflow, traceId, payloadBytes: Buffer.from("{}"), before: [] }, CAIRN_RECORD_KIND, () => storeSnapshot(store, snap.sealed.content));
    expect(recordedRunKind(store, traceId)).toBe("cairn");
    const err = cairnErrorOf(() => replayCairnRun(store, traceId));
    expect(err.code).toBe("E_NOT_FOUND");
    expect(err.message).toContain(`it started (root cairn-wf:${traceId}:started → ${left.intent}) but was never recorded`);
  });
});
