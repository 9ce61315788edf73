/**
 * A data root that grows does not make each run cost more (ARCHITECTURE §11.6, file cache):
 *  1. the append-only log's line summary and the registry's rebuilt state are carried through
 *     the runtime's own appends, and equal what a full read of the bytes gives (property tests,
 *     line terminators split across appends included);
 *  2. a log above FILE_CACHE_MAX_FILE_BYTES keeps a cache entry without its bytes: appends
 *     number their records right, prior/posterior digests are the files' SHA-256, and a change
 *     by someone else is still seen;
 *  3. a run recorded in no store does not read the bytes of such a log; a recorded one does;
 *  4. the 256 MiB limit on a data file holds even while the cache follows the file;
 *  5. a recorded run stores a large state file in chunks, so a growing log is not stored whole
 *     again on every run; replay and gc follow the chunks.
 */
import { appendFileSync, closeSync, cpSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { sha256, type Digest } from "../../src/core/digest.js";
import { LOG_SUMMARY } from "../../src/workflow/effects/appendonly.js";
import { REGISTRY_STATE } from "../../src/workflow/effects/registry.js";
import { FILE_CACHE_MAX_FILE_BYTES } from "../../src/workflow/effects/filecache.js";
import { MAX_DATA_FILE_BYTES } from "../../src/workflow/effects/fsio.js";
import { decodeUtf8, splitLines } from "../../src/workflow/effects/jsonl.js";
import { captureState, replayPgsRun } from "../../src/workflow/pgs/index.js";
import { STATE_CHUNK_BYTES, STATE_CHUNKED_ABOVE_BYTES, STATE_FILE_MEDIA_TYPE, stateFileBytes } from "../../src/workflow/pgs/record.js";
import { openStore } from "../../src/store/store.js";
import { payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();

const TERMS = ["\n", "\r", "\r\n"];
/** A chunk of whole lines (each ends with a terminator), as the runtimes append them. */
const lineChunk = fc
  .array(fc.tuple(fc.constantFrom("", " ", '{"key": "a", "address": "x"}', '{"key": "b", "n": 1}', '{"key": "a", "tombstone": true}', '{"key": null}', '{"key": "é€😀"}'), fc.constantFrom(...TERMS)), { minLength: 1, maxLength: 6 })
  .map((ls) => ls.map(([l, t]) => l + t).join(""));

function summaryOf(bytes: Buffer) {
  return LOG_SUMMARY.of(bytes);
}

describe("1. derived values follow appends exactly", () => {
  it("the log summary after appends equals the summary of the whole bytes", () => {
    fc.assert(
      fc.property(fc.array(lineChunk, { minLength: 1, maxLength: 8 }), (chunks) => {
        let acc = summaryOf(Buffer.alloc(0));
        let all = Buffer.alloc(0);
        for (const c of chunks) {
          const b = Buffer.from(c, "utf8");
          all = Buffer.concat([all, b]);
          const next = LOG_SUMMARY.extend(acc, b);
          expect(next).toBeDefined();
          acc = next!;
          expect(acc).toEqual(summaryOf(all));
          expect(acc.lines).toBe(splitLines(decodeUtf8(all)).length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a torn or invalid append is not carried: the summary is recomputed", () => {
    const s = summaryOf(Buffer.from("a\n"));
    expect(LOG_SUMMARY.extend(s, Buffer.from("b"))).toBeUndefined();
    expect(LOG_SUMMARY.extend(s, Buffer.from([0xff, 0x0a]))).toBeUndefined();
    expect(summaryOf(Buffer.from("a\nb")).usable).toBe(false);
    expect(LOG_SUMMARY.extend(summaryOf(Buffer.from("a\nb")), Buffer.from("\n"))).toBeUndefined();
  });

  it("the registry state after appends equals the state rebuilt from the whole bytes (order, counts, NaN keys)", () => {
    const body = (v: ReturnType<typeof REGISTRY_STATE.of>) =>
      "problem" in v ? { problem: v.problem("f") } : { entries: [...v.state.entries()].map(([k, r]) => [k, [...r.entries()]]), nonBlank: v.nonBlank, lines: v.lines, endsWithCR: v.endsWithCR };
    const withNan = lineChunk.map((c) => c.replace('{"key": null}', '{"key": NaN}'));
    fc.assert(
      fc.property(fc.array(withNan, { minLength: 1, maxLength: 8 }), (chunks) => {
        let all = Buffer.alloc(0);
        let acc = REGISTRY_STATE.of(all);
        for (const c of chunks) {
          const b = Buffer.from(c, "utf8");
          all = Buffer.concat([all, b]);
          const next = REGISTRY_STATE.extend(acc, b);
          acc = next ?? REGISTRY_STATE.of(all);
          expect(body(acc)).toEqual(body(REGISTRY_STATE.of(all)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a registry line that does not parse is reported with its line number, as from a full read", () => {
    const good = REGISTRY_STATE.of(Buffer.from('{"key": "a"}\r'));
    expect(REGISTRY_STATE.extend(good, Buffer.from("\nnot json\n"))).toBeUndefined();
    const full = REGISTRY_STATE.of(Buffer.from('{"key": "a"}\r\nnot json\n'));
    expect("problem" in full && full.problem("r.json")).toMatch(/^"r\.json" line 2: /);
  });
});

/** A GOVERN data root whose audit log already holds `bytes` bytes of valid records. */
function bigLog(dataRoot: string, bytes: number): { path: string; lines: number } {
  const d = join(dataRoot, "ai_governance/agent_governance");
  mkdirSync(d, { recursive: true });
  const line = `{"record_id": "x", "sequence_number": 1, "timestamp": "t", "actor_id": "a", "stream_id": "s", "record": {"pad": "${"p".repeat(1000)}"}}\n`;
  const n = Math.ceil(bytes / line.length);
  const path = join(d, "governance_audit.jsonl");
  writeFileSync(path, line.repeat(n));
  return { path, lines: n };
}

const seqOf = (path: string, fromEnd: number): number => {
  const lines = readFileSync(path, "utf8").trimEnd().split("\n");
  return (JSON.parse(lines[lines.length - fromEnd] as string) as { sequence_number: number }).sequence_number;
};

describe("2. a log above the cache's byte limit", () => {
  it("appends number their records right, digests are the file's SHA-256, and external changes are seen", () => {
    const b = box();
    const log = bigLog(b.dataRoot, FILE_CACHE_MAX_FILE_BYTES + 1024 * 1024);
    expect(statSync(log.path).size).toBeGreaterThan(FILE_CACHE_MAX_FILE_BYTES);
    const p = payload("agent_governance/01_valid_standard_action.json");
    const rel = "ai_governance/agent_governance/governance_audit.jsonl";
    const r1 = b.run(WF.govern, p);
    expect(r1.status).toBe("SUCCESS");
    expect(seqOf(log.path, 1)).toBe(log.lines + 1);
    const r2 = b.run(WF.govern, p);
    expect(seqOf(log.path, 1)).toBe(log.lines + 2);
    // The prior state of run 2 is the posterior state of run 1; both are the files' real digests.
    expect(r2.digests.priorState).toBe(r1.digests.posteriorState);
    const st = captureState(b.dataRoot, [rel], false);
    expect(st[0]?.digest).toBe(sha256(readFileSync(log.path)));
    // Someone else appends a line: the next run counts it.
    appendFileSync(log.path, '{"x": 1}\n');
    b.run(WF.govern, p);
    expect(seqOf(log.path, 1)).toBe(log.lines + 4);
    expect(captureState(b.dataRoot, [rel], false)[0]?.digest).toBe(sha256(readFileSync(log.path)));
    // A torn tail written by someone else is refused, not appended to.
    appendFileSync(log.path, '{"torn": ');
    const r4 = b.run(WF.govern, p);
    expect(r4.status).toBe("ERROR");
    expect(r4.error?.message).toMatch(/torn line/);
  });

  it("a recorded run stores the log's bytes (captured in full), an unrecorded one only its digest", () => {
    const b = box();
    const log = bigLog(b.dataRoot, FILE_CACHE_MAX_FILE_BYTES + 1024);
    const p = payload("agent_governance/01_valid_standard_action.json");
    b.run(WF.govern, p); // the cache now follows the log without its bytes
    const rel = "ai_governance/agent_governance/governance_audit.jsonl";
    expect(captureState(b.dataRoot, [rel], false)[0]?.bytes).toBeUndefined();
    const withBytes = captureState(b.dataRoot, [rel], true)[0];
    expect(withBytes?.bytes?.equals(readFileSync(log.path))).toBe(true);
    const store = openStore({ dir: join(dir(), "store"), create: true });
    try {
      const r = b.run(WF.govern, p, { store });
      expect(r.recorded).not.toBeNull();
      // The posterior log (chunked: above 1 MiB) is recorded under the effects artifact.
      // Found through the manifest's own `contains` edges (one query), not a lineage walk that
      // would cross every receipt sharing that state (E_LIMIT_EXCEEDED past MAX_LINEAGE_EDGES).
      const walks = vi.spyOn(store, "lineage");
      expect(stateFileBytes(store, r.recorded?.effects as Digest, sha256(readFileSync(log.path))).equals(readFileSync(log.path))).toBe(true);
      expect(walks).not.toHaveBeenCalled();
    } finally {
      store.close();
    }
  });
});

describe("4. the 256 MiB data-file limit holds for a log the cache follows", () => {
  it("a log that grows past MAX_DATA_FILE_BYTES through the runtime's own appends is refused by the next run, as a fresh process would", () => {
    const b = box();
    const d = join(b.dataRoot, "ai_governance/agent_governance");
    mkdirSync(d, { recursive: true });
    const path = join(d, "governance_audit.jsonl");
    // A sparse file: NUL bytes (valid UTF-8) ending with a newline, 300 bytes under the limit.
    const fd = openSync(path, "w");
    writeSync(fd, "\n", MAX_DATA_FILE_BYTES - 301);
    closeSync(fd);
    const p = payload("agent_governance/01_valid_standard_action.json");
    expect(b.run(WF.govern, p).status).toBe("SUCCESS"); // the append takes it past the limit
    expect(statSync(path).size).toBeGreaterThan(MAX_DATA_FILE_BYTES);
    const r = b.run(WF.govern, p);
    expect(r.status).toBe("ERROR");
    expect(r.error?.code).toBe("E_LIMIT_EXCEEDED");
    expect(r.error?.message).toContain(`above the ${MAX_DATA_FILE_BYTES}-byte limit`);
  }, 60_000);
});

describe("5. recording a growing state file in a store", () => {
  it("a file above 1 MiB is stored in chunks: the next run adds its last chunk and a manifest, not the whole file; replay and gc still work", () => {
    const b = box();
    const log = bigLog(b.dataRoot, 3 * 1024 * 1024);
    const p = payload("agent_governance/01_valid_standard_action.json");
    const store = openStore({ dir: join(dir(), "store"), create: true });
    const total = (): number => [...store.list()].reduce((n, a) => n + a.size, 0);
    try {
      const r1 = b.run(WF.govern, p, { store });
      const after1 = total();
      const r2 = b.run(WF.govern, p, { store });
      const added = total() - after1;
      // Run 2 stores its trace, summaries, manifests and the log's new last chunk: far less than the 3 MiB log.
      expect(added).toBeLessThan(STATE_CHUNK_BYTES + 256 * 1024);
      const logBytes = readFileSync(log.path);
      expect(logBytes.length).toBeGreaterThan(STATE_CHUNKED_ABOVE_BYTES);
      expect(store.has(sha256(logBytes))).toBe(false); // not stored whole
      const manifests = [...store.list()].filter((a) => a.mediaType === STATE_FILE_MEDIA_TYPE);
      expect(manifests.length).toBeGreaterThan(0);
      for (const r of [r1, r2]) expect(replayPgsRun(store, r.traceId).identical).toBe(true);
      store.gc({ graceMs: 0 });
      expect(replayPgsRun(store, r2.traceId).identical).toBe(true);
    } finally {
      store.close();
    }
  }, 60_000);

  it("replay uses the chunks when the whole file's own artifact was swept, and ignores other runs' deleted receipts", () => {
    const b = box();
    const log = bigLog(b.dataRoot, 2 * 1024 * 1024);
    const p = payload("agent_governance/01_valid_standard_action.json");
    const storeDir = join(dir(), "store");
    // The log's current bytes stored whole, then swept by gc (in a later writer session: gc
    // keeps what its own session created): its row stays, its bytes are gone.
    const first = openStore({ dir: storeDir, create: true });
    const whole = first.putBytes(readFileSync(log.path)).digest;
    first.close();
    const later = Date.now() + 5;
    while (Date.now() < later); // and what was created in the same millisecond
    const store = openStore({ dir: storeDir });
    try {
      expect(store.gc({ graceMs: 0 }).sweptCount).toBe(1);
      expect(() => store.get(whole)).toThrow(/collected by gc/);
      // Another run over the same prior state (a copy of the data root), with another payload.
      const c = box();
      cpSync(b.dataRoot, c.dataRoot, { recursive: true });
      const r1 = b.run(WF.govern, p, { store }); // prior state = those bytes, recorded chunked
      const denied = c.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"), { store });
      expect(denied.digests.priorState).toBe(r1.digests.priorState);
      expect(denied.recorded?.receipt).not.toBe(r1.recorded?.receipt);
      store.delete(denied.recorded?.receipt as Digest); // the other run's receipt, tombstoned
      expect(replayPgsRun(store, r1.traceId).identical).toBe(true);
    } finally {
      store.close();
    }
  }, 60_000);

  it("a file whose chunk would begin with the store's reserved typed-frame magic is stored whole, as before", () => {
    const b = box();
    const log = bigLog(b.dataRoot, 2 * 1024 * 1024);
    const bytes = readFileSync(log.path);
    // The reserved bytes inside a record, exactly at the second chunk's start (a JSON string may hold them).
    const at = STATE_CHUNK_BYTES;
    const lineStart = bytes.lastIndexOf(0x0a, at - 1) + 1;
    const padAt = bytes.indexOf(Buffer.from('"pad": "'), lineStart) + 8;
    expect(padAt).toBeLessThan(at);
    Buffer.from("cairn-asl-typed\\u0000".replace("\\u0000", "\u0000"), "latin1").copy(bytes, at);
    writeFileSync(log.path, bytes);
    const store = openStore({ dir: join(dir(), "store"), create: true });
    try {
      const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store });
      expect(r.recorded).not.toBeNull();
      expect(replayPgsRun(store, r.traceId).identical).toBe(true);
    } finally {
      store.close();
    }
  }, 60_000);

  it("gc after unpinning the oldest run frees its trace and the chunk only it held; later runs still replay", async () => {
    const b = box();
    const log = bigLog(b.dataRoot, 2 * 1024 * 1024);
    const first = readFileSync(log.path);
    const lastChunk = first.subarray(Math.floor((first.length - 1) / STATE_CHUNK_BYTES) * STATE_CHUNK_BYTES);
    const p = payload("agent_governance/01_valid_standard_action.json");
    const storeDir = join(dir(), "store");
    const s1 = openStore({ dir: storeDir, create: true });
    const runs = [b.run(WF.govern, p, { store: s1 }), b.run(WF.govern, p, { store: s1 }), b.run(WF.govern, p, { store: s1 })];
    s1.unpin(`pgs:${runs[0]?.traceId as string}`);
    s1.unpin(`pgs:${runs[0]?.traceId as string}:effects`);
    s1.close();
    const later = Date.now() + 5;
    while (Date.now() < later); // past the creation millisecond (gc keeps younger artifacts)
    const s2 = openStore({ dir: storeDir });
    try {
      const swept = new Set(s2.gc({ graceMs: 0 }).swept.map((x) => x.digest));
      expect(swept.has(runs[0]?.digests.trace as Digest)).toBe(true);
      // The first version's last (partial) chunk: only run 1's prior state held it. (Before gc
      // stopped following contains edges upstream, the shared chunks kept every state manifest.)
      expect(swept.has(sha256(lastChunk))).toBe(true);
      for (const r of runs.slice(1)) expect(replayPgsRun(s2, r.traceId).identical).toBe(true);
      expect((await s2.fsck()).problems).toEqual([]);
    } finally {
      s2.close();
    }
  }, 60_000);
});
