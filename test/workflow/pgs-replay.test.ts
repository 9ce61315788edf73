/** `cairn wf replay` (issue 4 §3.4): re-executing a recorded PGS run gives a byte-identical trace. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { openStore, type Store } from "../../src/store/store.js";
import { digestToBytes, type Digest } from "../../src/core/digest.js";
import { replayPgsRun } from "../../src/workflow/pgs/replay.js";
import { cairn } from "../cli/helpers.js";
import { ACTOR_PAYLOAD, cairnErrorOf, payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
const stores: Store[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
function storeOf(b: Sandbox): Store {
  const s = openStore({ dir: join(b.root, "store") });
  stores.push(s);
  return s;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
});

describe("replayPgsRun", () => {
  it("replays a recorded run by trace id and by trace file: identical", () => {
    const b = box(true);
    const store = storeOf(b);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store });
    expect(r.recorded).not.toBeNull();
    const byId = replayPgsRun(store, r.traceId);
    expect(byId).toMatchObject({ identical: true, traceId: r.traceId, workflow: WF.govern, status: r.status, recordedTrace: r.digests.trace, replayedTrace: r.digests.trace });
    expect(byId.firstDifference).toBeUndefined();
    const byPath = replayPgsRun(store, join(r.traceDirAbs, `${r.traceId}.jsonl`));
    expect(byPath.identical).toBe(true);
    expect(byPath.traceId).toBe(r.traceId);
  });

  it("restores the recorded prior state: the second (ALREADY_EXISTS) run replays identically", () => {
    const b = box();
    const store = storeOf(b);
    const first = b.run(WF.actor, ACTOR_PAYLOAD, { store });
    const second = b.run(WF.actor, ACTOR_PAYLOAD, { store });
    expect(second.path.map((p) => p.status)).toContain("ALREADY_EXISTS");
    expect(second.traceId).not.toBe(first.traceId);
    for (const r of [first, second]) {
      const rep = replayPgsRun(store, join(r.traceDirAbs, `${r.traceId}.jsonl`));
      expect(rep.firstDifference).toBeUndefined();
      expect(rep.identical).toBe(true);
      expect(rep.replayedTrace).toBe(r.digests.trace);
    }
    // The replay is not recorded into the user's store and leaves the sandbox untouched.
    expect(store.listRoots().filter((x) => x.name.startsWith("pgs:")).length).toBe(4);
  });

  it("the receipt names the workflow engine; a run recorded by another engine version is refused, also one recorded before the engine was named (version 1)", () => {
    const b = box();
    const store = storeOf(b);
    const r = b.run(WF.actor, ACTOR_PAYLOAD, { store });
    const original = store.getReceipt(r.recorded?.receipt as Digest);
    expect(original.params).toEqual({ kind: "cairn.pgs.run", workflow: WF.actor, engine: { name: "cairn.workflow", version: "7" } });
    const { kind: _k, workflow: _w, engine: _e, ...rest } = original.params as Record<string, unknown>;
    expect(rest).toEqual({});
    /** The same run, as if recorded with other receipt params (another Cairn build's). */
    const rerecord = (params: Record<string, unknown>): void => {
      for (const x of store.lineage(r.digests.trace, { direction: "up", depth: 1 }).edges) {
        if (x.type !== "execution") continue;
        for (const from of x.from) if (from !== r.digests.trace) store.pruneReceipt(from);
      }
      const { program, inputs, outputs, status, resources } = original;
      store.recordReceipt({ program, inputs, outputs, status, resources, params: params as never });
    };
    rerecord({ kind: "cairn.pgs.run", workflow: WF.actor, engine: { name: "cairn.workflow", version: "8" } });
    const err = cairnErrorOf(() => replayPgsRun(store, r.traceId));
    expect([err.code, err.message]).toEqual([
      "E_USAGE",
      `recorded run ${r.traceId} was made by cairn.workflow version 8; this is cairn.workflow version 7, so it cannot be replayed here: use the engine version that made it`,
    ]);
    expect(err.details).toEqual({ traceId: r.traceId, engine: { name: "cairn.workflow", version: "8" }, expected: { name: "cairn.workflow", version: "7" } });
    // Receipts recorded before the engine was named carry no `engine`: version 1's, refused too.
    rerecord({ kind: "cairn.pgs.run", workflow: WF.actor });
    expect(cairnErrorOf(() => replayPgsRun(store, r.traceId)).message).toBe(
      `recorded run ${r.traceId} was made by cairn.workflow version 1; this is cairn.workflow version 7, so it cannot be replayed here: use the engine version that made it`,
    );
    // The receipt this build records replays.
    rerecord({ kind: "cairn.pgs.run", workflow: WF.actor, engine: { name: "cairn.workflow", version: "7" } });
    expect(replayPgsRun(store, r.traceId).identical).toBe(true);
  });

  it("a receipt edited in the catalog is refused (E_STORE_CORRUPT naming it), never skipped as 'not a receipt'", () => {
    const b = box();
    let store = storeOf(b);
    const r = b.run(WF.actor, ACTOR_PAYLOAD, { store });
    const receipt = r.recorded?.receipt as string;
    store.close();
    const db = new Database(join(b.root, "store", "catalog.sqlite"));
    try {
      const row = db.prepare("SELECT body FROM receipts WHERE digest = ?").get(digestToBytes(receipt as Digest)) as { body: string };
      expect(db.prepare("UPDATE receipts SET body = ? WHERE digest = ?").run(row.body.replace('"status":"succeeded"', '"status":"failed"'), digestToBytes(receipt as Digest)).changes).toBe(1);
    } finally {
      db.close();
    }
    store = storeOf(b);
    let err: unknown;
    try {
      replayPgsRun(store, r.traceId);
    } catch (e) {
      err = e;
    }
    // Before: the receipt was skipped and the run reported as not recorded.
    expect(err).toMatchObject({ code: "E_STORE_CORRUPT", message: expect.stringContaining(`receipt ${receipt} is corrupt`) as unknown as string });
  });

  it("an edited trace file is different (the store's copy alone would replay identically)", () => {
    const b = box(true);
    const store = storeOf(b);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store });
    const file = join(r.traceDirAbs, `${r.traceId}.jsonl`);
    const lines = readFileSync(file, "utf8").split("\n");
    const edited = (lines[2] as string).replace(/"ts_ns":(\d+)/, (_m, n: string) => `"ts_ns":${Number(n) + 7}`);
    expect(edited).not.toBe(lines[2]);
    writeFileSync(file, [...lines.slice(0, 2), edited, ...lines.slice(3)].join("\n"));
    const rep = replayPgsRun(store, file);
    expect(rep).toMatchObject({ identical: false, replayedTrace: r.digests.trace, firstDifference: { artifact: "trace-file", line: 3, recorded: edited, replayed: lines[2] } });
    expect(replayPgsRun(store, r.traceId).identical).toBe(true);
  });

  it("an unknown trace id is E_NOT_FOUND naming the trace", () => {
    const b = box();
    const store = storeOf(b);
    const id = "0123456789abcdef__WF_X__ABCD";
    expect(() => replayPgsRun(store, id)).toThrow(id);
  });
});

describe("cairn wf replay", () => {
  it("exit 0 when identical (--json), 1 for an unknown trace id, 2 without an argument", () => {
    const b = box(true);
    const env = { CAIRN_STORE: join(b.root, "store") };
    const run = cairn(["wf", "run", "--workspace", "workspace", "--wf", WF.govern, "--payload", payload("agent_governance/01_valid_standard_action.json"), "--data-root", "data", "--json"], { cwd: b.root, env });
    expect(run.status).toBe(0);
    const traceId = (JSON.parse(run.out) as { traceId: string }).traceId;
    const ok = cairn(["wf", "replay", traceId, "--json"], { cwd: b.root, env });
    expect(ok.err).toBe("");
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ identical: true, traceId });
    const human = cairn(["wf", "replay", join("workspace", "traces", "ai_governance", "WF_GOVERN_AGENT_ACTION_V0", traceId, `${traceId}.jsonl`)], { cwd: b.root, env });
    expect(human.status).toBe(0);
    expect(human.out).toContain("replay: identical");

    const unknown = "0123456789abcdef__WF_GOVERN_AGENT_ACTION_V0__ABCD";
    const missing = cairn(["wf", "replay", unknown], { cwd: b.root, env });
    expect(missing.status).toBe(1);
    expect(missing.err).toContain(unknown);
    expect(cairn(["wf", "replay"], { cwd: b.root, env }).status).toBe(2);
    expect(existsSync(join(b.root, ".cairn"))).toBe(false);
  });
});
