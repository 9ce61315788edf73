/**
 * A committed pulse one of whose EUs failed an attempt and passed on retry, for a reason a
 * re-execution does not repeat (here: a marker file the function deletes as it fails), then
 * its records or attempt log deleted (`cairn store rm`). Before, resume executed the pulse again
 * from scratch: the EU now passed at once, and the new receipt (no attempt log, other records
 * when the output depends on ctx.attempt) ended the resume with the store's bare E_CONFLICT.
 *
 * Now: records deleted, attempt log kept → the records are rebuilt by running each EU once at
 * the attempt number that completed it (from the committed attempt log) and stored again only
 * when they are the committed bytes (the receipt's digest); the run then finishes with the same
 * manifest. Attempt log deleted → it cannot be made again (the failed attempt does not repeat):
 * E_NONDETERMINISTIC naming the pulse, the deleted artifact, what differed and the remedy.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { resume, run, type Progress } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import type { Manifest } from "../../src/batch/manifest.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, expectCairnError, manifestOf, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

type Pulse = Manifest["pulses"][number];
const DATA = Array.from({ length: 40 }, (_, n) => ({ n }));
const CONFIG = { partitions: 1, pulseSize: 10, workers: 1, maxPulsesInFlight: 1, retries: 2 };
/** The EU that fails its first attempt while the marker exists: in pulse 0/0. */
const FLAKY_N = 7;

/**
 * A function whose EU FLAKY_N fails once while `marker` exists (deleting it): a failure a
 * re-execution does not repeat. `withAttempt`: its output includes ctx.attempt (the retry
 * contract allows it), so a re-execution at attempt 1 gives other records.
 */
function flaky(marker: string, withAttempt: boolean, drift?: string): { code: string; name: string } {
  // `drift`: a file whose text is EU 3's output, changed by the test to make the pulse's records change.
  const v = drift === undefined ? "x.n * 2" : `x.n === 3 ? readFileSync(${JSON.stringify(drift)}, "utf8") : x.n * 2`;
  return {
    name: withAttempt ? "flaky-attempt.mjs" : "flaky.mjs",
    code:
      `import { existsSync, readFileSync, rmSync } from "node:fs";\n` +
      `export default (x, ctx) => {\n` +
      `  if (x.n === ${FLAKY_N} && existsSync(${JSON.stringify(marker)})) { rmSync(${JSON.stringify(marker)}); throw new Error("transient"); }\n` +
      `  return ${withAttempt ? `{ v: ${v}, attempt: ctx.attempt }` : `{ v: ${v} }`};\n` +
      `};\n`,
  };
}

interface Finished {
  store: Store;
  id: string;
  m: Manifest;
  manifestDigest: Digest;
  fn: { code: string; name: string };
  p: Pulse;
  output: string;
  /** verify --reexecute's findings on the run as it finished. */
  reexecuted: unknown[];
}

async function finished(withAttempt: boolean, drift?: string): Promise<Finished> {
  const { store } = scratch.store();
  const marker = join(scratch.dir(), "flaky");
  writeFileSync(marker, "");
  const fn = flaky(marker, withAttempt, drift);
  const r = await run(store, DATA, fn, CONFIG);
  expect(existsSync(marker)).toBe(false);
  expect(r.counts).toMatchObject({ failed: 0, retried: 1 });
  const m = manifestOf(store, r.runId);
  const p = m.pulses[0] as Pulse;
  expect([p.partition, p.index, store.getReceipt(p.receipt).resources]).toEqual([0, 0, { eus: 10, completed: 10, failed: 0, retried: 1 }]);
  const output = JSON.stringify(await outputsOf(store, r.runId));
  const reexecuted = (await verifyRun(store, r.runId, { reexecute: true })).problems;
  expect(reexecuted.map((x) => [x.code, x.pulse])).toEqual([["reexecution_mismatch", "0/0"]]);
  return { store, id: r.runId, m, manifestDigest: r.manifestDigest, fn, p, output, reexecuted };
}

function unpin(store: Store, id: string): void {
  store.unpin(`run:${id}:manifest`);
  store.unpin(`run:${id}:report`);
}

/** Resumes, counting the pulses executed (not reused). */
async function resumeCounting(store: Store, id: string): Promise<{ manifestDigest: Digest; executed: number }> {
  let executed = 0;
  const r = await resume(store, id, { onProgress: (pr: Progress) => (executed = pr.pulsesDone - pr.pulsesReused) });
  return { manifestDigest: r.manifestDigest, executed };
}

/** The attempt log of pulse `p`: its artifact (the receipt's second output). */
function attemptLogOf(store: Store, p: Pulse): Digest {
  const rc = store.getReceipt(p.receipt);
  expect(rc.outputs.length).toBe(2);
  return rc.outputs[1] as Digest;
}

function hasReceipt(store: Store, d: Digest): boolean {
  try {
    store.getReceipt(d);
    return true;
  } catch {
    return false;
  }
}

/** The remedy when the lost artifact cannot be stored again ("no remedy" is preceded by an "otherwise" when the records differ). */
const NO_REMEDY =
  `remedy exists in this store: the pulse's receipt commits it to that attempt log, which only its original execution made. To run it afresh, run the same cairn run command with another --store (a new store)`;
const OUTPUT_CHANGED =
  "an EU's output is not what it was: the function is nondeterministic or reads something that changed since, or an EU failed an attempt for a reason that does not repeat, a timeout, a worker crash";
const RETRY_GONE = "an EU failed an attempt for a reason that does not repeat: a timeout, a worker crash, a nondeterministic failure";
const RESUME_AGAIN = "If the function can give its committed outputs again (what it reads restored), resume again; otherwise no";

for (const withAttempt of [false, true]) {
  describe(`a finished run, output ${withAttempt ? "with" : "without"} ctx.attempt`, () => {
    it("records deleted: resume rebuilds them at the committed attempt numbers, stores the same bytes and the same manifest", async () => {
      const f = await finished(withAttempt);
      f.store.delete(f.p.records);
      unpin(f.store, f.id);
      const again = await resumeCounting(f.store, f.id);
      expect(again).toEqual({ manifestDigest: f.manifestDigest, executed: 1 });
      expect(f.store.stat(f.p.records).state).toBe("present");
      expect(JSON.stringify(await outputsOf(f.store, f.id))).toBe(f.output);
      // verify: the run checks as before the deletion (--reexecute reports the retry that does
      // not repeat, as it did before: the rebuild changed nothing).
      expect((await verifyRun(f.store, f.id)).ok).toBe(true);
      expect((await verifyRun(f.store, f.id, { reexecute: true })).problems).toEqual(f.reexecuted);
    });

    it("attempt log deleted: resume fails closed with E_NONDETERMINISTIC naming the pulse, the log, what differed and the remedy", async () => {
      const f = await finished(withAttempt);
      const log = attemptLogOf(f.store, f.p);
      f.store.delete(log);
      unpin(f.store, f.id);
      const e = await expectCairnError(resume(f.store, f.id), "E_NONDETERMINISTIC");
      const differed = withAttempt
        ? `executing it again gave other records, first at EU ${FLAKY_N}:\n  committed:   {"id":${FLAKY_N},"output":{"attempt":2,"v":14}}\n  re-executed: {"id":${FLAKY_N},"output":{"attempt":1,"v":14}}`
        : `executing it again retried no EU, where its receipt ${f.p.receipt} records 1 retried EU`;
      expect(e.message).toBe(
        `run ${f.id}: pulse 0/0: its attempt log ${log} is deleted from the store (tombstoned) and cannot be stored again: ${differed} (${withAttempt ? `${OUTPUT_CHANGED}). ${RESUME_AGAIN}` : `${RETRY_GONE}). No`} ${NO_REMEDY}`,
      );
      expect(e.details).toMatchObject({ runId: f.id, partition: 0, pulse: 0, role: "attempt log", digest: log, reason: "tombstoned", receipt: f.p.receipt });
      // Nothing of the failed re-execution is left behind: the log stays deleted, the records as they were.
      expect(f.store.has(log)).toBe(false);
      expect(f.store.stat(f.p.records).state).toBe("present");
      // The remedy: the same command in a new store runs to the end.
      const { store: fresh } = scratch.store();
      const r = await run(fresh, DATA, f.fn, CONFIG);
      expect(r.runId).toBe(f.id);
      expect(r.counts).toMatchObject({ failed: 0 });
    });

    it("records and attempt log deleted: resume fails closed the same way", async () => {
      const f = await finished(withAttempt);
      const log = attemptLogOf(f.store, f.p);
      f.store.delete(log);
      f.store.delete(f.p.records);
      unpin(f.store, f.id);
      const e = await expectCairnError(resume(f.store, f.id), "E_NONDETERMINISTIC", `run ${f.id}: pulse 0/0: its attempt log ${log} is deleted from the store (tombstoned) and cannot be stored again: `, `. Its records ${f.p.records} are deleted too. `, NO_REMEDY);
      expect(e.details).toMatchObject({ partition: 0, pulse: 0, role: "attempt log", digest: log });
    });
  });
}

describe("records deleted and not rebuilt as committed", () => {
  it("an EU's output changed since: resume fails closed with E_NONDETERMINISTIC naming the pulse, the records, both digests and the remedy", async () => {
    const drift = join(scratch.dir(), "drift.txt");
    writeFileSync(drift, "before");
    const f = await finished(false, drift);
    const log = attemptLogOf(f.store, f.p);
    writeFileSync(drift, "after");
    f.store.delete(f.p.records);
    unpin(f.store, f.id);
    const e = await expectCairnError(resume(f.store, f.id), "E_NONDETERMINISTIC");
    const rebuilt = e.details.actual as Digest;
    expect(rebuilt).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rebuilt).not.toBe(f.p.records);
    expect(e.message).toBe(
      `run ${f.id}: pulse 0/0: its records ${f.p.records} is deleted from the store (tombstoned) and cannot be stored again: executing each EU again at the attempt number that completed it (from its attempt log ${log}) gave the records ${rebuilt}, where its receipt ${f.p.receipt} commits to ${f.p.records} (the deleted records are not there to name the EU that differs) (${OUTPUT_CHANGED}). ${RESUME_AGAIN} remedy exists in this store: the pulse's receipt commits it to those records, which only its original execution made. To run it afresh, run the same cairn run command with another --store (a new store)`,
    );
    expect(e.details).toMatchObject({ runId: f.id, partition: 0, pulse: 0, role: "records", digest: f.p.records, reason: "tombstoned", receipt: f.p.receipt, expected: f.p.records });
    // The refused rebuild left nothing behind.
    expect(f.store.has(rebuilt)).toBe(false);
    expect(f.store.has(f.p.records)).toBe(false);
    // The remedy: the same command in a new store runs to the end.
    const { store: fresh } = scratch.store();
    expect((await run(fresh, DATA, f.fn, CONFIG)).counts).toMatchObject({ failed: 0, total: DATA.length });
    // And the other: what the function reads restored, resume rebuilds the committed records.
    writeFileSync(drift, "before");
    expect(await resumeCounting(f.store, f.id)).toEqual({ manifestDigest: f.manifestDigest, executed: 1 });
    expect(JSON.stringify(await outputsOf(f.store, f.id))).toBe(f.output);
  });
});

describe("an unfinished run", () => {
  /** A run interrupted after its first two pulses committed, and the same run uninterrupted in another store. */
  async function interrupted(): Promise<{ store: Store; id: string; reference: Finished; records: Digest; log: Digest; committed: number }> {
    const reference = await finished(true);
    const { store } = scratch.store();
    // The function's text names its marker: the same marker again, so that it is the same run.
    const marker = /existsSync\(("[^"]+")\)/.exec(reference.fn.code)?.[1];
    writeFileSync(JSON.parse(marker as string) as string, "");
    const ac = new AbortController();
    const onProgress = (p: Progress): void => {
      if (p.pulsesDone >= 2 && !ac.signal.aborted) ac.abort(new Error("stop"));
    };
    await expectCairnError(run(store, DATA, reference.fn, CONFIG, { signal: ac.signal, onProgress }), "E_INTERRUPTED");
    const receipt = store.getReceipt(reference.p.receipt);
    const committed = reference.m.pulses.filter((p) => hasReceipt(store, p.receipt)).length;
    expect(committed).toBeGreaterThanOrEqual(2);
    expect(committed).toBeLessThan(reference.m.pulses.length);
    return { store, id: reference.id, reference, records: receipt.outputs[0] as Digest, log: receipt.outputs[1] as Digest, committed };
  }

  it("records deleted: resume rebuilds them and finishes with the uninterrupted run's manifest", async () => {
    const u = await interrupted();
    u.store.delete(u.records);
    const again = await resumeCounting(u.store, u.id);
    // Pulse 0/0 (its records rebuilt) and the pulses the interrupted run had not committed.
    expect(again).toEqual({ manifestDigest: u.reference.manifestDigest, executed: 1 + u.reference.m.pulses.length - u.committed });
    expect(u.store.stat(u.records).state).toBe("present");
    expect(JSON.stringify(await outputsOf(u.store, u.id))).toBe(u.reference.output);
  });

  it("attempt log deleted: resume fails closed with E_NONDETERMINISTIC", async () => {
    const u = await interrupted();
    u.store.delete(u.log);
    const e = await expectCairnError(resume(u.store, u.id), "E_NONDETERMINISTIC", `run ${u.id}: pulse 0/0: its attempt log ${u.log} is deleted from the store (tombstoned) and cannot be stored again: `, NO_REMEDY);
    expect(e.details).toMatchObject({ runId: u.id, partition: 0, pulse: 0, role: "attempt log", digest: u.log });
  });
});
