/**
 * UAT u5 F5 (workflows): `wf replay` of a run whose recorded snapshot (a Cairn snapshot, a PGS
 * snapshot manifest or one of its files) or prior-state file is tombstoned (`cairn store rm`) or
 * collected by gc. It gave the store's bare "artifact … not found (deleted: tombstoned)" — not
 * saying it was the run's program — and for a tombstoned prior-state file "is not in the store
 * (neither whole nor chunked …)" though it was there, tombstoned. Now E_NOT_FOUND (same code)
 * "Recorded run <id> cannot be replayed: its <role> … is deleted from the store (tombstoned)"
 * with the remedy where there is one; details {traceId, role, digest, reason, path?}. Each remedy
 * is checked to work.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalBytes } from "../../src/core/canonical.js";
import { sha256, type Digest } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, storeSnapshot, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { putFiles, STATE_CHUNK_BYTES, stateFileBytes } from "../../src/workflow/pgs/record.js";
import { replayPgsRun } from "../../src/workflow/pgs/replay.js";
import { ACTOR_PAYLOAD, cairnErrorOf, sandbox, WF, type Sandbox } from "./pgs-fixture.js";
import { EXAMPLES, payload, tempDir } from "./cairn-fixture.js";

const OK = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-ok.json"), "utf8")) as Record<string, unknown>;
const CAIRN_REMEDY = "To replay the run, store the snapshot again: cairn wf compile of its unchanged declarations with this store stores the same snapshot, which restores it";
const PGS_REMEDY = "A recorded run (cairn wf run with this store) of the same, unchanged workspace stores the same snapshot again, which restores it";
const fileRemedy = (d: string): string => `A file with exactly its bytes (SHA-256 ${d.slice(7)}), stored with cairn store put FILE, makes it readable again`;

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

function withStore<T>(dir: string, f: (s: Store) => T): T {
  const s = openStore({ dir, create: true });
  try {
    return f(s);
  } finally {
    s.close();
  }
}

/** The example workflow compiled; `runOnce` runs it in one directory, recorded into its store. */
async function cairnExample(): Promise<{ storeDir: string; content: NonNullable<Awaited<ReturnType<typeof compileWorkflows>>["content"]>; runOnce: (p: Record<string, unknown>) => CairnRunResult }> {
  const c = await compileWorkflows([EXAMPLES]);
  const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap"));
  const dir = tempDir();
  const storeDir = join(dir, "store");
  return {
    storeDir,
    content: c.content!,
    runOnce: (p) => withStore(storeDir, (store) => runCairnWorkflow({ snapshot: snap, payload: payload(p), dataRoot: join(dir, "data"), baseDir: dir, store })),
  };
}

describe("wf replay of a Cairn snapshot run", () => {
  it("its snapshot tombstoned: names the run, its snapshot and the remedy; compiling the declarations into the store again restores it", async () => {
    const ex = await cairnExample();
    const r = ex.runOnce(OK);
    const digest = r.digests.snapshot as Digest;
    withStore(ex.storeDir, (s) => s.delete(digest));
    const e = withStore(ex.storeDir, (s) => cairnErrorOf(() => replayCairnRun(s, r.traceId)));
    expect([e.code, e.message]).toEqual(["E_NOT_FOUND", `Recorded run ${r.traceId} cannot be replayed: its snapshot ${digest} is deleted from the store (tombstoned). ${CAIRN_REMEDY}`]);
    expect(e.details).toEqual({ traceId: r.traceId, role: "snapshot", digest, reason: "tombstoned" });
    withStore(ex.storeDir, (s) => expect(storeSnapshot(s, ex.content)).toBe(digest));
    expect(withStore(ex.storeDir, (s) => replayCairnRun(s, r.traceId)).identical).toBe(true);
  });

  it("a prior-state file tombstoned: names the run and the file (it said 'not in the store'); storing the same bytes again restores it", async () => {
    const ex = await cairnExample();
    ex.runOnce(OK);
    const second = ex.runOnce(OK); // its prior state holds the files the first run wrote
    const prior = withStore(ex.storeDir, (s) => JSON.parse(s.get(second.recorded!.priorState).toString("utf8")) as { files: Array<{ path: string; digest: Digest | null }> });
    const file = prior.files.find((f) => f.digest !== null)!;
    const bytes = withStore(ex.storeDir, (s) => s.get(file.digest as Digest));
    withStore(ex.storeDir, (s) => s.delete(file.digest as Digest));
    const e = withStore(ex.storeDir, (s) => cairnErrorOf(() => replayCairnRun(s, second.traceId)));
    expect([e.code, e.message]).toEqual([
      "E_NOT_FOUND",
      `Recorded run ${second.traceId} cannot be replayed: its prior-state file ${JSON.stringify(file.path)}: state file ${file.digest} is deleted from the store (tombstoned). ${fileRemedy(file.digest as string)}`,
    ]);
    expect(e.details).toEqual({ traceId: second.traceId, role: "prior-state file", path: file.path, digest: file.digest, manifest: second.recorded!.priorState, reason: "tombstoned" });
    withStore(ex.storeDir, (s) => s.putBytes(bytes));
    expect(withStore(ex.storeDir, (s) => replayCairnRun(s, second.traceId)).identical).toBe(true);
  });
});

describe("wf replay of a PGS run", () => {
  function recordedPgs(): { b: Sandbox; storeDir: string; run: () => ReturnType<Sandbox["run"]> } {
    const b = sandbox();
    boxes.push(b);
    const storeDir = join(b.root, "store");
    return { b, storeDir, run: () => withStore(storeDir, (store) => b.run(WF.actor, ACTOR_PAYLOAD, { store })) };
  }

  it("its snapshot manifest tombstoned: names the run, its snapshot and the remedy; a recorded run of the unchanged workspace restores it", () => {
    const { storeDir, run } = recordedPgs();
    const r = run();
    const snapshot = r.recorded!.snapshot;
    withStore(storeDir, (s) => s.delete(snapshot));
    const e = withStore(storeDir, (s) => cairnErrorOf(() => replayPgsRun(s, r.traceId)));
    expect([e.code, e.message]).toEqual(["E_NOT_FOUND", `Recorded run ${r.traceId} cannot be replayed: its snapshot ${snapshot} is deleted from the store (tombstoned). ${PGS_REMEDY}`]);
    expect(e.details).toEqual({ traceId: r.traceId, role: "snapshot", digest: snapshot, reason: "tombstoned" });
    expect(run().recorded!.snapshot).toBe(snapshot);
    expect(withStore(storeDir, (s) => replayPgsRun(s, r.traceId)).identical).toBe(true);
  });

  it("a snapshot file tombstoned: names the run, the file's path and the remedy", () => {
    const { storeDir, run } = recordedPgs();
    const r = run();
    const files = withStore(storeDir, (s) => (JSON.parse(s.get(r.recorded!.snapshot).toString("utf8")) as { files: Array<{ path: string; digest: Digest }> }).files);
    const f = files[0]!;
    withStore(storeDir, (s) => s.delete(f.digest));
    const e = withStore(storeDir, (s) => cairnErrorOf(() => replayPgsRun(s, r.traceId)));
    expect([e.code, e.message]).toEqual(["E_NOT_FOUND", `Recorded run ${r.traceId} cannot be replayed: its snapshot file ${JSON.stringify(f.path)} (${f.digest}) is deleted from the store (tombstoned). ${PGS_REMEDY}`]);
    expect(e.details).toEqual({ traceId: r.traceId, role: "snapshot file", digest: f.digest, path: f.path, reason: "tombstoned" });
    run();
    expect(withStore(storeDir, (s) => replayPgsRun(s, r.traceId)).identical).toBe(true);
  });
});

describe("stateFileBytes (the prior-state loader) and a chunked state file", () => {
  /** A state manifest `contains` one chunked file (3 chunks and a state-file manifest). */
  function chunked(s: Store): { manifest: Digest; digest: Digest; bytes: Buffer; fileManifest: Digest; chunks: Digest[] } {
    const bytes = Buffer.alloc(STATE_CHUNK_BYTES * 4 + 7, 0x61);
    bytes.write("chunked state file", 0);
    const digest = sha256(bytes);
    const manifest = s.putBytes(canonicalBytes({ kind: "test.state", files: [{ path: "big.log", digest }] })).digest;
    putFiles(s, manifest, [{ path: "big.log", digest, bytes }], "test.state");
    const fileManifest = s.edgesOfType(manifest, "contains")[0]!.to[0] as Digest;
    const chunks = (JSON.parse(s.get(fileManifest).toString("utf8")) as { chunks: Digest[] }).chunks;
    return { manifest, digest, bytes, fileManifest, chunks };
  }

  it("reads it back; a tombstoned chunk names the file and the chunk; a tombstoned chunk manifest is said to be deleted", () => {
    const dir = join(tempDir(), "store");
    withStore(dir, (s) => {
      const c = chunked(s);
      expect(stateFileBytes(s, c.manifest, c.digest).equals(c.bytes)).toBe(true);
      const last = c.chunks[c.chunks.length - 1]!;
      s.delete(last);
      const e = cairnErrorOf(() => stateFileBytes(s, c.manifest, c.digest));
      expect([e.code, e.message]).toEqual(["E_NOT_FOUND", `state file ${c.digest}: its chunk ${last} (state-file manifest ${c.fileManifest}) is deleted from the store (tombstoned)`]);
      expect(e.details).toEqual({ digest: c.digest, manifest: c.fileManifest, chunk: last, reason: "tombstoned" });
      s.putBytes(c.bytes.subarray((c.chunks.length - 1) * STATE_CHUNK_BYTES)); // revives the chunk
      s.delete(c.fileManifest);
      const m = cairnErrorOf(() => stateFileBytes(s, c.manifest, c.digest));
      expect([m.code, m.message]).toEqual([
        "E_NOT_FOUND",
        `state file ${c.digest} is not in the store (neither whole nor chunked under ${c.manifest}); the state-file manifest ${c.fileManifest} it contains is deleted from the store (tombstoned or collected by gc), which may have held the file's chunked copy`,
      ]);
      expect(m.details).toEqual({ digest: c.digest, manifest: c.manifest, lost: [c.fileManifest] });
      // The remedy replay gives: the file's bytes, stored whole, are found first.
      s.putBytes(c.bytes);
      expect(stateFileBytes(s, c.manifest, c.digest).equals(c.bytes)).toBe(true);
    });
  });

  it("a file the store never held keeps its message", () => {
    const dir = join(tempDir(), "store");
    withStore(dir, (s) => {
      const manifest = s.putBytes(canonicalBytes({ kind: "test.state", files: [] })).digest;
      const never = sha256(Buffer.from("never stored"));
      const e = cairnErrorOf(() => stateFileBytes(s, manifest, never));
      expect([e.code, e.message, e.details]).toEqual(["E_NOT_FOUND", `state file ${never} is not in the store (neither whole nor chunked under ${manifest})`, { digest: never, manifest }]);
    });
  });
});
