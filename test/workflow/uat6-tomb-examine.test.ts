/**
 * UAT u5 F1: `cairn examine` of a Cairn-snapshot trace with a store whose copy of the run's
 * snapshot is tombstoned (`cairn store rm`) or collected by gc aborted (exit 1, the store's bare
 * E_NOT_FOUND) instead of examining the trace. Now the chain is checked and the run classified
 * from its events, as for a store that holds no snapshot, with a note naming the snapshot, that
 * it is deleted, and how to proceed. `--snapshot sha256:…` naming such a snapshot stays an error
 * that says it is the one given by --snapshot; a changed snapshot still fails its integrity check.
 */
import Database from "better-sqlite3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { digestToBytes, type Digest } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, storeSnapshot, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { examineTrace, type ExamineOptions, type ExamineReport } from "../../src/workflow/examine/index.js";
import { cairnErrorOf } from "../cairn-error-of.js";
import { cairn, jsonError } from "../cli/helpers.js";
import { EXAMPLES, payload, tempDir } from "./cairn-fixture.js";

const BAD_EMAIL = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-bad-email.json"), "utf8")) as Record<string, unknown>;
const traceFile = (r: CairnRunResult): string => join(r.traceDirAbs, `${r.traceId}.jsonl`);
const REMEDY = "give --snapshot FILE (the sealed file the run used), or store the snapshot again: cairn wf compile of its unchanged declarations with this store stores the same snapshot, which restores it";
const notRecorded = (id: string): string => `the store holds no recorded run of trace ${id} (no root cairn-wf:${id} with its receipt): the trace was not compared with a recorded one`;
const note = (d: string, why: string): string => `the run's snapshot ${d} is deleted from the store (${why}): routes were not checked against the declaration. To check them, ${REMEDY}`;

/** The example compiled, sealed to `<dir>/snap.json`, and run over the bad-email payload (recorded into `<dir>/store` when `record`). */
async function exampleRun(record: boolean): Promise<{ dir: string; storeDir: string; bytes: Buffer; digest: Digest; r: CairnRunResult }> {
  const c = await compileWorkflows([EXAMPLES]);
  const { bytes, digest } = sealedFileBytes(c.content!);
  const dir = tempDir();
  writeFileSync(join(dir, "snap.json"), bytes);
  const storeDir = join(dir, "store");
  const store = openStore({ dir: storeDir, create: true });
  try {
    if (!record) storeSnapshot(store, c.content!); // as `wf compile --store` does
    const r = runCairnWorkflow({ snapshot: prepareSnapshot(verifySealedBytes(bytes, "snap")), payload: payload(BAD_EMAIL), dataRoot: join(dir, "data"), baseDir: dir, ...(record ? { store } : {}) });
    return { dir, storeDir, bytes, digest, r };
  } finally {
    store.close();
  }
}

function withStore<T>(dir: string, f: (s: Store) => T): T {
  const s = openStore({ dir });
  try {
    return f(s);
  } finally {
    s.close();
  }
}

const readOnly = (storeDir: string): ExamineOptions => ({ openStore: () => openStore({ dir: storeDir, readOnly: true }) });

/** What examine found, without the notes (which differ by where the snapshot was looked for). */
function verdict(x: ExamineReport): unknown {
  return { outcome: x.outcome, exitCode: x.exitCode, chain: x.chain, path: x.path, failureNode: x.failure?.node, message: x.failure?.message };
}

describe("examine: the run's snapshot is deleted from the store", () => {
  it("tombstoned (recorded run): examined from its events, as without a store, with a note naming the snapshot and the remedy; the remedy works", async () => {
    const { dir, storeDir, digest, r } = await exampleRun(true);
    const before = examineTrace(traceFile(r), readOnly(storeDir));
    expect(before.snapshot?.current).toBe(digest);
    withStore(storeDir, (s) => s.delete(digest));
    const x = examineTrace(traceFile(r), readOnly(storeDir));
    const bare = examineTrace(traceFile(r));
    expect(x.outcome).toEqual({ class: "business_violation", status: "VIOLATION" });
    expect(x.exitCode).toBe(0);
    expect(x.chain.status).toBe("verified");
    // Only the snapshot is deleted: the store still holds the recorded trace, which anchors the file (without a store: the summary).
    expect(bare.chain.anchor).toBe("summary");
    expect(verdict(x)).toEqual(verdict({ ...bare, chain: { ...bare.chain, anchor: "store" } }));
    expect(x.store).toMatchObject({ root: `cairn-wf:${r.traceId}`, matches: true });
    expect(x.snapshot).toBeUndefined();
    expect(x.notes).toEqual([note(digest, "tombstoned")]);
    // The remedy: the same declarations compiled into the store bring the snapshot back.
    const c = await compileWorkflows([EXAMPLES]);
    withStore(storeDir, (s) => expect(storeSnapshot(s, c.content!)).toBe(digest));
    const revived = examineTrace(traceFile(r), readOnly(storeDir));
    expect(revived.snapshot).toEqual({ source: `store artifact ${digest}`, recorded: digest, current: digest, matches: true });
    expect(revived.notes).toEqual([]);
    // So is --snapshot FILE, the other remedy, while it is deleted.
    withStore(storeDir, (s) => s.delete(digest));
    expect(examineTrace(traceFile(r), { ...readOnly(storeDir), snapshot: join(dir, "snap.json") }).snapshot?.matches).toBe(true);
  });

  it("collected by gc (every root unpinned): the same, the note says so", async () => {
    const { storeDir, digest, r } = await exampleRun(true);
    withStore(storeDir, (s) => {
      for (const root of s.listRoots()) s.unpin(root.name);
    });
    withStore(storeDir, (s) => s.gc({ graceMs: 0 })); // a handle never sweeps what it wrote itself
    withStore(storeDir, (s) => expect(s.stat(digest).state).toBe("swept"));
    const x = examineTrace(traceFile(r), readOnly(storeDir));
    expect(verdict(x)).toEqual(verdict(examineTrace(traceFile(r))));
    expect(x.exitCode).toBe(0);
    // Every root unpinned: the store no longer holds the run's record (its root), which is said too.
    expect(x.notes).toEqual([notRecorded(r.traceId), note(digest, "its bytes were collected by gc")]);
  });

  it("tombstoned (a run that was not recorded, the snapshot stored by compile): the note says it is deleted, not that the store never held it", async () => {
    const { storeDir, digest, r } = await exampleRun(false);
    withStore(storeDir, (s) => s.delete(digest));
    const x = examineTrace(traceFile(r), readOnly(storeDir));
    expect(x.exitCode).toBe(0);
    // The run was never recorded in this store: said so, besides the deleted snapshot.
    expect(x.notes).toEqual([notRecorded(r.traceId), note(digest, "tombstoned")]);
  });

  it("--snapshot sha256:… naming a deleted snapshot is E_NOT_FOUND saying it is the snapshot given by --snapshot", async () => {
    const { storeDir, digest, r } = await exampleRun(true);
    withStore(storeDir, (s) => s.delete(digest));
    const e = cairnErrorOf(() => examineTrace(traceFile(r), { ...readOnly(storeDir), snapshot: digest }));
    expect([e.code, e.message]).toEqual(["E_NOT_FOUND", `--snapshot ${digest}: the snapshot given by --snapshot is deleted from the store (tombstoned). Instead, ${REMEDY}`]);
    expect(e.details).toEqual({ field: "--snapshot", role: "snapshot", digest, reason: "tombstoned" });
  });

  it("a snapshot changed in the store still fails its integrity check (E_SNAPSHOT_INTEGRITY), implicit or by --snapshot", async () => {
    const { storeDir, digest, r } = await exampleRun(true);
    const db = new Database(join(storeDir, "catalog.sqlite"));
    try {
      const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(digest)) as { bytes: Buffer };
      const bytes = Buffer.from(row.bytes);
      bytes[bytes.indexOf("malformed")] = "M".charCodeAt(0);
      expect(db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(bytes, digestToBytes(digest)).changes).toBe(1);
    } finally {
      db.close();
    }
    for (const opts of [readOnly(storeDir), { ...readOnly(storeDir), snapshot: digest }]) {
      const e = cairnErrorOf(() => examineTrace(traceFile(r), opts));
      expect(e.code).toBe("E_SNAPSHOT_INTEGRITY");
      expect(e.message).toContain(`snapshot ${digest} was changed in the store`);
    }
  });

  it("CLI: with $CAIRN_STORE set, exit 0 and the note (it was exit 1, E_NOT_FOUND); --snapshot sha256:… exit 1 naming --snapshot", async () => {
    const { dir, storeDir, digest, r } = await exampleRun(true);
    const env = { CAIRN_STORE: storeDir };
    expect(cairn(["store", "rm", digest], { cwd: dir, env }).status).toBe(0);
    const human = cairn(["examine", r.traceDirAbs], { cwd: dir, env });
    expect(human.status, human.err).toBe(0);
    expect(human.out).toContain("outcome:     business_violation");
    expect(human.out).toContain(`note:        ${note(digest, "tombstoned")}`);
    const asJson = cairn(["--json", "examine", r.traceDirAbs], { cwd: dir, env });
    expect(asJson.status).toBe(0);
    expect((JSON.parse(asJson.out) as { notes: string[] }).notes).toEqual([note(digest, "tombstoned")]);
    const given = cairn(["--json", "examine", r.traceDirAbs, "--snapshot", digest], { cwd: dir, env });
    expect(given.status).toBe(1);
    expect(jsonError(given)).toMatchObject({ code: "E_NOT_FOUND", details: { field: "--snapshot", role: "snapshot", digest, reason: "tombstoned" } });
    expect(jsonError(given).message).toContain("the snapshot given by --snapshot is deleted from the store (tombstoned)");
  });
});
