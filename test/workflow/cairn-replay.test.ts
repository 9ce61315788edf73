/** `replayCairnRun` (issue 4 §3.4 for Cairn snapshots): byte-identical replay from the recorded inputs; tamper refusal. */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { digestToBytes, type Digest } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { recordedRunKind, replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { baseDecl, EXAMPLES, payload, prepared, tempDir } from "./cairn-fixture.js";
import { cairnErrorOf } from "./pgs-fixture.js";

const OK = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-ok.json"), "utf8")) as Record<string, unknown>;
const BAD_EMAIL = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-bad-email.json"), "utf8")) as Record<string, unknown>;

/** The example workflow (user CT, registry, mutable, append-only), compiled and run in a fresh directory with a store. */
async function example(): Promise<{ dir: string; runOnce: (p: Record<string, unknown>) => CairnRunResult; store: () => Store }> {
  const c = await compileWorkflows([EXAMPLES]);
  const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap"));
  const dir = tempDir();
  const storeDir = join(dir, "store");
  return {
    dir,
    runOnce: (p) => {
      const store = openStore({ dir: storeDir, create: true });
      try {
        return runCairnWorkflow({ snapshot: snap, payload: payload(p), dataRoot: join(dir, "data"), baseDir: dir, store });
      } finally {
        store.close();
      }
    },
    store: () => openStore({ dir: storeDir, readOnly: true }),
  };
}

function withStore<T>(open: () => Store, f: (s: Store) => T): T {
  const s = open();
  try {
    return f(s);
  } finally {
    s.close();
  }
}

const traceFile = (r: CairnRunResult) => join(r.traceDirAbs, `${r.traceId}.jsonl`);

const errorOf = cairnErrorOf;

describe("replayCairnRun", () => {
  it("replays SUCCESS, ALREADY_EXISTS (prior state restored) and VIOLATION runs byte for byte, by id and by trace file", async () => {
    const ex = await example();
    const first = ex.runOnce(OK);
    const second = ex.runOnce(OK); // the agent is registered now: ALREADY_EXISTS, routed to an exit
    const bad = ex.runOnce(BAD_EMAIL);
    expect([first.status, second.status, bad.status]).toEqual(["SUCCESS", "ALREADY_EXISTS", "VIOLATION"]);
    expect(second.traceId).not.toBe(first.traceId);
    withStore(ex.store, (store) => {
      const rootsBefore = store.listRoots().map((r) => r.name).sort();
      for (const r of [first, second, bad]) {
        expect(recordedRunKind(store, r.traceId)).toBe("cairn");
        for (const arg of [r.traceId, traceFile(r)]) {
          expect(replayCairnRun(store, arg)).toEqual({
            identical: true, traceId: r.traceId, workflow: "registry::WF_REGISTER_AGENT_V0", status: r.status, recordedTrace: r.digests.trace, replayedTrace: r.digests.trace,
          });
        }
      }
      // The replay never writes to the user's store.
      expect(store.listRoots().map((r) => r.name).sort()).toEqual(rootsBefore);
    });
  });

  it("replays a run over a damaged prior state (BACKEND_ERROR routed to an exit) and a runtime error", async () => {
    const decl = baseDecl({
      entry: "read",
      stores: { log: { kind: "appendonly", path: "s/log.jsonl" } },
      nodes: {
        read: { steps: [{ id: "all", cs: "log", op: "GET_ALL", inputs: {} }], routes: { SUCCESS: { exit: "READ", reason: "read" }, BACKEND_ERROR: { exit: "BROKEN", reason: "log unreadable" } } },
      },
    });
    const { snap, dir } = await prepared(decl);
    mkdirSync(join(dir, "data/s"), { recursive: true });
    writeFileSync(join(dir, "data/s/log.jsonl"), "this is not json\n");
    const store = openStore({ dir: join(dir, "store"), create: true });
    try {
      const r = runCairnWorkflow({ snapshot: snap, payload: payload({ x: 1 }), dataRoot: join(dir, "data"), baseDir: dir, store });
      expect([r.status, r.exit?.name]).toEqual(["BACKEND_ERROR", "BROKEN"]);
      writeFileSync(join(dir, "data/s/log.jsonl"), '{"torn": tr'); // a torn tail: the next run aborts with a hard error
      const e = runCairnWorkflow({ snapshot: snap, payload: payload({ x: 1 }), dataRoot: join(dir, "data"), baseDir: dir, store });
      expect(e.status).toBe("ERROR");
      for (const x of [r, e]) expect(replayCairnRun(store, traceFile(x))).toMatchObject({ identical: true, status: x.status, replayedTrace: x.digests.trace });
    } finally {
      store.close();
    }
  });

  it("reports the first differing line of the summary next to a given trace file", async () => {
    const ex = await example();
    const r = ex.runOnce(OK);
    const md = join(r.traceDirAbs, `${r.traceId}.md`);
    const lines = readFileSync(md, "utf8").split("\n");
    appendFileSync(md, "edited by hand\n");
    const rep = withStore(ex.store, (s) => replayCairnRun(s, traceFile(r)));
    expect(rep).toEqual({
      identical: false, traceId: r.traceId, workflow: "registry::WF_REGISTER_AGENT_V0", status: "SUCCESS", recordedTrace: r.digests.trace, replayedTrace: r.digests.trace,
      firstDifference: { artifact: "summary", line: lines.length, recorded: "edited by hand", replayed: "" },
    });
    // By id, the summary is not compared: identical.
    expect(withStore(ex.store, (s) => replayCairnRun(s, r.traceId)).identical).toBe(true);
  });

  it("an edited trace file is different, although the store's copy replays identically", async () => {
    const ex = await example();
    const r = ex.runOnce(OK);
    const file = traceFile(r);
    const lines = readFileSync(file, "utf8").split("\n");
    const edited = (lines[1] as string).replace('"seq":1', '"seq":7');
    expect(edited).not.toBe(lines[1]);
    writeFileSync(file, [lines[0], edited, ...lines.slice(2)].join("\n"));
    const rep = withStore(ex.store, (s) => replayCairnRun(s, file));
    expect(rep).toMatchObject({ identical: false, recordedTrace: r.digests.trace, replayedTrace: r.digests.trace, firstDifference: { artifact: "trace-file", line: 2, recorded: edited, replayed: lines[1] } });
    expect(withStore(ex.store, (s) => replayCairnRun(s, r.traceId)).identical).toBe(true);
  });

  it("a run recorded by another workflow engine version is refused before anything runs", async () => {
    const ex = await example();
    const r = ex.runOnce(OK);
    const store = openStore({ dir: join(ex.dir, "store") });
    try {
      const original = store.getReceipt(r.recorded?.receipt as Digest);
      expect(original.params).toEqual({ kind: "cairn.workflow.run", workflow: "registry::WF_REGISTER_AGENT_V0", engine: { name: "cairn.workflow", version: "7" } });
      store.pruneReceipt(original.digest);
      const { program, inputs, outputs, status, resources } = original;
      store.recordReceipt({ program, inputs, outputs, status, resources, params: { ...(original.params as Record<string, never>), engine: { name: "cairn.workflow", version: "0" } } });
      const err = errorOf(() => replayCairnRun(store, r.traceId));
      expect([err.code, err.message]).toEqual([
        "E_USAGE",
        `recorded run ${r.traceId} was made by cairn.workflow version 0; this is cairn.workflow version 7, so it cannot be replayed here: use the engine version that made it`,
      ]);
    } finally {
      store.close();
    }
  });

  it("a changed recorded snapshot is refused with E_SNAPSHOT_INTEGRITY before anything runs", async () => {
    const ex = await example();
    const r = ex.runOnce(OK);
    const snapshotDigest = r.digests.snapshot as Digest;
    // Flip one byte of the snapshot artifact inside the store's catalog (small artifacts are packed there).
    const db = new Database(join(ex.dir, "store/catalog.sqlite"));
    try {
      const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(snapshotDigest)) as { bytes: Buffer };
      const bytes = Buffer.from(row.bytes);
      const i = bytes.indexOf("already registered");
      expect(i).toBeGreaterThan(0);
      bytes[i] = "A".charCodeAt(0);
      db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(bytes, digestToBytes(snapshotDigest));
    } finally {
      db.close();
    }
    const err = withStore(ex.store, (s) => errorOf(() => replayCairnRun(s, r.traceId)));
    expect(err.code).toBe("E_SNAPSHOT_INTEGRITY");
    expect(err.message).toContain("integrity");
    expect(err.message).toContain(`the recorded snapshot ${snapshotDigest} of run ${r.traceId} was changed in the store`);
    expect(err.details).toMatchObject({ reason: "snapshot_integrity", check: "digest", snapshot: snapshotDigest, traceId: r.traceId });
  });

  it("an unknown trace id is E_NOT_FOUND; a PGS-only id is not a Cairn run", async () => {
    const ex = await example();
    ex.runOnce(OK);
    const id = "0123456789abcdef__WF_REGISTER_AGENT_V0__ABCD";
    withStore(ex.store, (s) => {
      expect(recordedRunKind(s, id)).toBe("none");
      const err = errorOf(() => replayCairnRun(s, id));
      expect(err.code).toBe("E_NOT_FOUND");
      expect(err.message).toBe(`Recorded run ${id} not found in the store: no root cairn-wf:${id}`);
    });
  });
});
