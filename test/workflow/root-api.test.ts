/**
 * The workflow engines and the HTTP gateway are public API: the package root exports them as
 * the namespaces `workflow` (`pgs`, `cairn`, `examine`, `render`, the data-root lock) and
 * `server`. A run, a replay, examine and a served request, all through the root alone.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openStore, server, workflow } from "../../src/index.js";
import { ACTOR_PAYLOAD, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

describe("the package root's workflow API", () => {
  it("exports the two runtimes, examine, the renderer, the lock and the gateway", () => {
    expect(typeof workflow.pgs.runPgsWorkflow).toBe("function");
    expect(typeof workflow.pgs.replayPgsRun).toBe("function");
    expect(typeof workflow.cairn.compileWorkflows).toBe("function");
    expect(typeof workflow.cairn.runCairnWorkflow).toBe("function");
    expect(typeof workflow.cairn.runCairnWorkflowWithPlane).toBe("function");
    expect(typeof workflow.examine.examineTrace).toBe("function");
    expect(typeof workflow.render.loadTraceRenderer).toBe("function");
    expect(typeof workflow.acquireDataRootLockAsync).toBe("function");
    expect(workflow.DEFAULT_DATA_ROOT_LOCK_WAIT_MS).toBe(5000);
    expect(typeof server.createServer).toBe("function");
  });

  it("runs, records, replays and examines a PGS workflow, and serves it, through the root alone", async () => {
    const b = sandbox();
    boxes.push(b);
    const store = openStore({ dir: `${b.root}/store`, create: true });
    try {
      const lock = workflow.acquireDataRootLock(b.dataRoot);
      let traceId: string;
      try {
        const r = workflow.pgs.runPgsWorkflow({
          workspace: b.workspace, workflow: WF.actor, payload: workflow.pgs.readPayloadFile(ACTOR_PAYLOAD), dataRoot: b.dataRoot, store, dataRootLock: lock,
        });
        expect(r.status).toBe("SUCCESS");
        traceId = r.traceId as string;
        const report = workflow.examine.examineTrace(`${b.workspace}/${r.traceDir}/${traceId}.jsonl`);
        expect(report.exitCode).toBe(0);
      } finally {
        lock.release();
      }
      expect(workflow.pgs.replayPgsRun(store, traceId).identical).toBe(true);
      // The runtime-neutral replay `cairn wf replay` uses (not exported before 2026-11-27).
      expect(workflow.replayRecordedRun(store, traceId).identical).toBe(true);
    } finally {
      store.close();
    }
    const s = server.createServer({ workspace: b.workspace, dataRoot: b.dataRoot });
    try {
      const url = await s.listen(0, "127.0.0.1");
      const res = await fetch(`${url}/api/run`, { method: "POST", body: JSON.stringify({ workflow_code: WF.actor, payload: {} }) });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { workflow_code: string }).workflow_code).toBe(WF.actor);
    } finally {
      await s.close();
    }
  });
});
