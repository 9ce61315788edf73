/**
 * The resume path for a committed pulse (pulse.ts `findCommittedPulse`, `committedAttempts`,
 * `checkLostPulseReexecution`), from a review of 2026-11-27:
 * - one receipt lookup per pulse says committed / lost / none (a fresh run's pulses had two);
 * - a pulse whose attempt log was deleted and whose re-execution repeats its records compares
 *   them by digest, not by reading the committed records whole inside the group commit;
 * - a committed attempt log is checked before it is used: a non-numeric count used to become
 *   NaN as the first `ctx.attempt` of a rebuilt EU, and `executePulse` retried it forever.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import type { Digest } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/index.js";
import { normalizeConfig } from "../../src/batch/config.js";
import { resume, run } from "../../src/batch/engine.js";
import { ATTEMPTS_MEDIA_TYPE, committedAttempts, findCommittedPulse, MAX_ATTEMPT_LOG_BYTES, pulseParams, RECORDS_MEDIA_TYPE, type PulseSpec } from "../../src/batch/pulse.js";
import { Scratch, manifestOf, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
const dir = mkdtempSync(join(tmpdir(), "cairn-a3-lookup-"));
afterAll(() => {
  scratch.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** EU 3 of every pulse fails its first attempt and passes its second: a retry that repeats. */
const RETRY_ONCE = { name: "retry-once.mjs", code: 'export default (x, ctx) => { if (x.n % 10 === 3 && ctx.attempt === 1) throw new Error("first"); return x.n * 2; };\n' };
const DATA = Array.from({ length: 40 }, (_, n) => ({ n }));
const CONFIG = { partitions: 1, pulseSize: 10, workers: 1, maxPulsesInFlight: 1, retries: 2 };

describe("one receipt lookup per pulse", () => {
  it("a fresh run looks each pulse's receipt up once", async () => {
    const { store } = scratch.store();
    const find = vi.spyOn(store, "findReceipt");
    const r = await run(store, DATA, RETRY_ONCE, CONFIG);
    const slices = manifestOf(store, r.runId).pulses.map((p) => p.slice);
    expect(slices.length).toBe(4);
    const perSlice = slices.map((s) => find.mock.calls.filter(([, inputs]) => inputs.length === 1 && inputs[0] === s).length);
    expect(perSlice).toEqual([1, 1, 1, 1]);
  });
});

describe("a deleted attempt log that the re-execution repeats", () => {
  it("is stored again without reading the present records back (their digest is compared)", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, RETRY_ONCE, CONFIG);
    const m = manifestOf(store, r.runId);
    const p = m.pulses[0] as (typeof m.pulses)[number];
    const log = store.getReceipt(p.receipt).outputs[1] as Digest;
    const output = JSON.stringify(await outputsOf(store, r.runId));
    store.delete(log);
    store.unpin(`run:${r.runId}:manifest`);
    store.unpin(`run:${r.runId}:report`);
    const readers = vi.spyOn(store, "openReader");
    const again = await resume(store, r.runId);
    expect(again.manifestDigest).toBe(r.manifestDigest);
    expect(store.stat(log).state).toBe("present");
    // The final merge reads each pulse's records once; the check of the re-execution did not.
    expect(readers.mock.calls.filter(([d]) => d === p.records).length).toBe(1);
    readers.mockRestore();
    expect(JSON.stringify(await outputsOf(store, r.runId))).toBe(output);
  });
});

describe("a committed attempt log is checked before it is used", () => {
  const cfg = normalizeConfig({ workers: 1, retries: 2 });
  const records = ['{"id":0,"output":"a"}', '{"id":1,"output":"b"}'];
  let n = 0;

  /** A store holding a committed pulse 3/5 of EUs 0 and 1 whose attempt log is `log`; `lose` deletes its records. */
  function committed(log: string, opts: { lose?: boolean; logSize?: number } = {}): { err: unknown; found?: unknown; first?: number[] } {
    const store: Store = openStore({ dir: join(dir, `s${n++}`), durability: "normal" });
    try {
      const fn = store.putBytes(Buffer.from("export default (x) => x;")).digest;
      const slice = Buffer.from('{"eus":[{"id":0,"input":"a"},{"id":1,"input":"b"}],"kind":"test"}');
      const sliceDigest = store.putBytes(slice).digest;
      const out = store.putBytes(Buffer.from(`${records.join("\n")}\n`), { mediaType: RECORDS_MEDIA_TYPE }).digest;
      const attempts = store.putBytes(Buffer.from(log), { mediaType: ATTEMPTS_MEDIA_TYPE }).digest;
      store.recordReceipt({ program: fn, inputs: [sliceDigest], params: pulseParams(cfg), outputs: [out, attempts], status: "succeeded", resources: { eus: 2, completed: 2, failed: 0, retried: 1 } });
      if (opts.lose === true) store.delete(out);
      if (opts.logSize !== undefined) {
        const stat = store.stat.bind(store);
        vi.spyOn(store, "stat").mockImplementation((d, o) => (d === attempts ? { ...stat(d, o), size: opts.logSize as number } : stat(d, o)));
      }
      const spec = { partition: 3, index: 5, eus: [{ id: 0 }, { id: 1 }], slice, sliceDigest } as unknown as PulseSpec;
      try {
        const found = findCommittedPulse(store, fn, cfg, spec);
        if (found?.lost === undefined) return { err: undefined, found: found?.committed?.attemptLog };
        return { err: undefined, found: "lost", first: committedAttempts(store, spec, found.lost, cfg.retries).first };
      } catch (err) {
        return { err };
      }
    } finally {
      store.close();
    }
  }

  const GOOD = '[{"attempts":2,"errors":[{"code":"E_EU_THREW","message":"x"}],"id":1}]';

  it("a log of the pulse's EUs with 2..retries+1 attempts is used: reused, and as the rebuilt EUs' first attempts", () => {
    expect(committed(GOOD)).toEqual({ err: undefined, found: JSON.parse(GOOD) });
    expect(committed(GOOD, { lose: true })).toEqual({ err: undefined, found: "lost", first: [1, 2] });
  });

  for (const [what, log, why] of [
    ["a count that is not a number", '[{"attempts":"2","errors":[],"id":1}]', "is not an attempt log: an array of {id, attempts, errors: [{code, message}]}"],
    ["a fractional count", '[{"attempts":2.5,"errors":[],"id":1}]', "is not an attempt log: an array of {id, attempts, errors: [{code, message}]}"],
    ["not JSON", "[{", "is not JSON: "],
    ["an EU of another pulse", '[{"attempts":2,"errors":[],"id":7}]', "lists EU 7, which is not in the pulse"],
    ["an EU twice", '[{"attempts":2,"errors":[],"id":1},{"attempts":3,"errors":[],"id":1}]', "lists EU 1 twice"],
    ["one attempt", '[{"attempts":1,"errors":[],"id":1}]', "gives EU 1 1 attempts, where a logged EU has 2..3 (retries 2)"],
    ["more attempts than retries allow", '[{"attempts":4,"errors":[],"id":0}]', "gives EU 0 4 attempts, where a logged EU has 2..3 (retries 2)"],
  ] as const) {
    for (const lose of [false, true]) {
      it(`${what} is E_STORE_CORRUPT naming the pulse and the log (${lose ? "records deleted: before the rebuild" : "reused"})`, () => {
        const { err } = committed(log, { lose });
        expect(isCairnError(err) && err.code, String(err)).toBe("E_STORE_CORRUPT");
        const e = err as Error & { details: Record<string, unknown> };
        expect(e.message.startsWith("pulse 3/5: attempt log sha256:"), e.message).toBe(true);
        expect(e.message).toContain(why);
        expect(e.details).toMatchObject({ partition: 3, pulse: 5 });
        expect(e.message).toContain(String(e.details.digest));
      });
    }
  }

  it("a log larger than MAX_ATTEMPT_LOG_BYTES is E_LIMIT_EXCEEDED before it is read", () => {
    const { err } = committed(GOOD, { lose: true, logSize: MAX_ATTEMPT_LOG_BYTES + 1 });
    expect(isCairnError(err) && err.code, String(err)).toBe("E_LIMIT_EXCEEDED");
    expect((err as Error).message).toMatch(new RegExp(`^pulse 3/5: attempt log sha256:[0-9a-f]{64} is ${MAX_ATTEMPT_LOG_BYTES + 1} bytes, more than the ${MAX_ATTEMPT_LOG_BYTES} an attempt log is read back$`));
  });
});
