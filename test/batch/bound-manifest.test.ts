/**
 * The run manifest is bounded by the number of pulses, not by the number of failed or retried
 * EUs (audit 6): it lists the first MAX_MANIFEST_FAILURES failures (counts.failed counts them
 * all, the output holds every failed record), and names an attempt log over
 * MAX_INLINE_ATTEMPTS_BYTES by its attempts artifact instead of inlining it. Before, every
 * failure and every attempt error was repeated (~16.6 KB per EU failing with a 5,000-character
 * message): 17,000 such EUs stored a 282 MB manifest that `loadManifest` refuses, after which
 * `runs ls` failed for the whole store. A manifest that would still be over MAX_MANIFEST_BYTES
 * is refused (E_LIMIT_EXCEEDED) before anything is stored. Manifests of the earlier form (every
 * failure listed, every log inline) still load and verify.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { listRuns } from "../../src/batch/runs.js";
import {
  loadManifest, ManifestSizeGuard, MANIFEST_MEDIA_TYPE, MAX_INLINE_ATTEMPTS_BYTES, MAX_MANIFEST_FAILURES, recordManifest, type Manifest, type ManifestPulse,
} from "../../src/batch/manifest.js";
import type { AttemptLog } from "../../src/batch/pulse.js";
import { manifestRoot } from "../../src/batch/plan.js";
import { canonicalBytes } from "../../src/core/canonical.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, expectCairnError, manifestOf, repinManifest, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const LONG = 5000;
// Every EU throws a 5,000-character message (cut to 4,096 in its record), except v % 10 === 1, which completes.
const FAILING = { code: `export default (x) => { if (x.v % 10 === 1) return x.v; throw new Error("E".repeat(${LONG}) + x.v); };\n`, name: "fail.mjs" };
const N = 150;
const DATA = Array.from({ length: N }, (_, v) => ({ v }));
const CONFIG = { partitions: 1, pulseSize: 50, workers: 1, retries: 2, allowFailures: true };
const FAILED = N - N / 10;

function attemptLogOf(store: Store, d: Digest): AttemptLog[] {
  return JSON.parse(store.get(d).toString("utf8")) as AttemptLog[];
}

/** Pins `m` as the run's manifest (as an earlier engine, or a forger, would have stored it). */
describe("a run's manifest does not grow with its failed or retried EUs", () => {
  it("lists the first 100 failures and names large attempt logs by their artifacts; counts, output and verify cover them all", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, FAILING, CONFIG);
    expect(r.counts).toEqual({ total: N, completed: N - FAILED, failed: FAILED, retried: FAILED });
    const done = loadManifest(store, r.runId);
    const m = done?.manifest as Manifest;
    // The first MAX_MANIFEST_FAILURES failures, in EU-id order, as their records hold them.
    const failedRecords = (await outputsOf(store, r.runId)).filter((o) => o.error !== undefined);
    expect(failedRecords).toHaveLength(FAILED);
    expect(m.failures).toHaveLength(MAX_MANIFEST_FAILURES);
    expect(m.failures).toEqual(failedRecords.slice(0, MAX_MANIFEST_FAILURES).map((o) => ({ id: o.id, code: o.error?.code, message: o.error?.message })));
    expect(m.counts.failed).toBe(FAILED);
    expect(r.failures).toEqual(m.failures);
    // Each pulse's attempt log (45 EUs × 3 errors of 5,000 characters) is its receipt's artifact.
    for (const p of m.pulses) {
      expect(p.attempts).toEqual([]);
      const receipt = store.getReceipt(p.receipt);
      expect(receipt?.outputs).toEqual([p.records, p.attemptsArtifact]);
      const log = attemptLogOf(store, p.attemptsArtifact as Digest);
      expect(log).toHaveLength(45);
      expect(log[0]?.errors).toHaveLength(3);
    }
    // So the manifest is its 100 failures (≤ 4,097 characters each) and three small pulse entries.
    const size = store.stat(done?.digest as Digest).size;
    expect(size).toBeLessThan(MAX_MANIFEST_FAILURES * 4200 + 10_000);
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect([rep.ok, rep.problems, rep.unchecked, rep.pulsesReexecuted]).toEqual([true, [], [], 3]);
  }, 120_000);

  it("keeps a small attempt log inline, byte for byte as before", async () => {
    const { store } = scratch.store();
    const code = "export default (x, ctx) => { if (x.v === 2 && ctx.attempt === 1) throw new Error('flaky'); return x.v; };\n";
    const r = await run(store, DATA.slice(0, 5), { code, name: "flaky.mjs" }, { ...CONFIG, pulseSize: 5 });
    const [p] = manifestOf(store, r.runId).pulses as [ManifestPulse];
    expect(p.attempts).toEqual([{ id: 2, attempts: 2, errors: [{ code: ErrorCode.EU_THREW, message: "flaky" }] }]);
    expect("attemptsArtifact" in p).toBe(false);
    expect(canonicalBytes(p.attempts).length).toBeLessThanOrEqual(MAX_INLINE_ATTEMPTS_BYTES);
  });

  it("a manifest of the earlier form (every failure listed, every log inline) still loads, lists and verifies", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, FAILING, CONFIG);
    const m = manifestOf(store, r.runId);
    const all = (await outputsOf(store, r.runId)).filter((o) => o.error !== undefined).map((o) => ({ id: o.id, code: o.error?.code as string, message: o.error?.message as string }));
    const { failuresArtifact, ...earlier } = m; // that form names no failures artifact
    expect(failuresArtifact).toBeDefined();
    const legacy = {
      ...earlier,
      failures: all,
      pulses: m.pulses.map(({ attemptsArtifact, ...p }) => ({ ...p, attempts: attemptLogOf(store, attemptsArtifact as Digest) })),
    };
    const digest = repinManifest(store, r.runId, legacy);
    expect(loadManifest(store, r.runId)?.manifest.failures).toHaveLength(FAILED);
    expect(listRuns(store).map((s) => [s.runId, s.manifest, s.counts, s.error])).toEqual([[r.runId, digest, m.counts, undefined]]);
    const rep = await verifyRun(store, r.runId);
    expect([rep.ok, rep.problems]).toEqual([true, []]);
  }, 120_000);

  it("verify: a failures list cut elsewhere is count_mismatch; a log named by digest where it is small, or not its receipt's, is found", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, FAILING, CONFIG);
    const m = manifestOf(store, r.runId);
    repinManifest(store, r.runId, { ...m, failures: m.failures.slice(0, 99) });
    expect((await verifyRun(store, r.runId)).problems).toEqual([
      { code: "count_mismatch", message: `the manifest lists 99 failures, the output holds ${FAILED} failed records (a manifest lists the first ${MAX_MANIFEST_FAILURES}, or all of them)` },
    ]);
    // Another pulse's log named for pulse 0/0 (its receipt records its own).
    const [p0, p1] = m.pulses as [ManifestPulse, ManifestPulse];
    repinManifest(store, r.runId, { ...m, pulses: [{ ...p0, attemptsArtifact: p1.attemptsArtifact }, ...m.pulses.slice(1)] });
    const forged = (await verifyRun(store, r.runId)).problems;
    expect(forged[0]).toEqual({ code: "receipt_mismatch", pulse: "0/0", message: `pulse 0/0: its attempt log ${p1.attemptsArtifact as string} is not the one its receipt records` });
    // A small log named by digest: the engine inlines it.
    const small = store.putBytes(canonicalBytes([]), { mediaType: "application/vnd.cairn.batch.attempts+json" }).digest;
    repinManifest(store, r.runId, { ...m, pulses: [{ ...p0, attemptsArtifact: small }, ...m.pulses.slice(1)] });
    expect((await verifyRun(store, r.runId)).problems).toContainEqual({
      code: "manifest_invalid",
      pulse: "0/0",
      message: `pulse 0/0: its attempt log is named by its digest, but a log of at most ${MAX_INLINE_ATTEMPTS_BYTES} bytes is held inline`,
    });
  }, 120_000);
});

describe("a manifest too large to read back is never stored", () => {
  it("recordManifest refuses a manifest over the limit with E_LIMIT_EXCEEDED, storing and pinning nothing", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA.slice(0, 20), { code: "export default (x) => x.v;\n" }, { ...CONFIG, pulseSize: 4 });
    const m = manifestOf(store, r.runId);
    const bytes = canonicalBytes(m).length;
    const other = { ...m, runId: "0123456789abcdef" };
    const otherBytes = canonicalBytes(other).length;
    const manifests = (): number => [...store.list({ mediaType: MANIFEST_MEDIA_TYPE })].length;
    expect(manifests()).toBe(1);
    const err = await expectCairnError(
      Promise.resolve().then(() => recordManifest(store, other, bytes - 1)),
      ErrorCode.LIMIT_EXCEEDED,
    );
    expect(err.message).toBe(
      `run 0123456789abcdef: its manifest is ${otherBytes} bytes (5 pulses), more than the ${bytes - 1}-byte limit of a manifest (what can be read back); run with a larger pulseSize (--pulse-size), so that there are fewer pulses`,
    );
    expect(err.details).toEqual({ runId: "0123456789abcdef", bytes: otherBytes, pulses: 5, limit: bytes - 1 });
    expect(store.findRoot(manifestRoot("0123456789abcdef"))).toBeUndefined();
    expect(manifests()).toBe(1);
    // A manifest of exactly the limit is stored (recording the run's own again is idempotent).
    expect(recordManifest(store, m, bytes)).toBe(loadManifest(store, r.runId)?.digest);
    await expectCairnError(Promise.resolve().then(() => recordManifest(store, m, bytes - 1)), ErrorCode.LIMIT_EXCEEDED);
  });

  it("ManifestSizeGuard refuses as soon as the pulses' entries alone are over the limit", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA.slice(0, 20), { code: "export default (x) => x.v;\n" }, { ...CONFIG, pulseSize: 4 });
    const pulses = manifestOf(store, r.runId).pulses;
    const entry = canonicalBytes(pulses[0]).length + 1;
    const guard = new ManifestSizeGuard(r.runId, 3 * entry);
    guard.add(pulses[0] as ManifestPulse);
    guard.add(pulses[0] as ManifestPulse);
    guard.add(pulses[0] as ManifestPulse);
    const err = await expectCairnError(Promise.resolve().then(() => guard.add(pulses[0] as ManifestPulse)), ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe(
      `run ${r.runId}: its manifest would be over ${4 * entry} bytes after 4 pulses, more than the ${3 * entry}-byte limit of a manifest (what can be read back); run with a larger pulseSize (--pulse-size), so that there are fewer pulses`,
    );
  });
});
