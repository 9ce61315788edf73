/**
 * `RunHooks.signal`: an AbortSignal stops a batch run from outside (the library's counterpart of
 * the CLI's SIGINT). The run rejects with E_INTERRUPTED; pulses committed before the abort are
 * kept, and `resume` completes the run with the same output and manifest as an uninterrupted
 * run. A signal that is not an AbortSignal is E_USAGE.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, listRuns, resume, run, type Progress } from "../../src/index.js";
import { Scratch, expectCairnError, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const fn = { code: "export default (x) => ({ twice: x.n * 2 });" };
const records = Array.from({ length: 3000 }, (_, n) => ({ n }));
const config = { workers: 1, partitions: 2, pulseSize: 100, maxPulsesInFlight: 1 };

describe("run(…, { signal })", () => {
  it("an abort after some pulses rejects with E_INTERRUPTED naming the run; resume completes it byte-identically", async () => {
    const { store: plain } = scratch.store();
    const reference = await run(plain, records, fn, config);

    const { store } = scratch.store();
    const ac = new AbortController();
    let pulses = 0;
    const onProgress = (p: Progress): void => {
      if (p.pulsesDone > pulses) pulses = p.pulsesDone;
      if (pulses === 5 && !ac.signal.aborted) ac.abort(new Error("operator asked"));
    };
    const e = await expectCairnError(run(store, records, fn, config, { signal: ac.signal, onProgress }), ErrorCode.INTERRUPTED);
    expect(e.message).toBe(`run aborted (run ${reference.runId}: committed pulses are kept, resume it): operator asked`);
    expect(e.details).toEqual({ runId: reference.runId });
    // The run is listed as unfinished; at least the 5 pulses before the abort are committed, not all 30.
    const listed = listRuns(store).find((r) => r.runId === reference.runId);
    expect(listed?.state).toBe("incomplete");
    let reused = 0;
    const done = await resume(store, reference.runId, { onProgress: (p) => (reused = p.pulsesReused) });
    expect(reused).toBeGreaterThanOrEqual(5);
    expect(reused).toBeLessThan(30);
    expect(done.outputDigest).toBe(reference.outputDigest);
    expect(done.manifestDigest).toBe(reference.manifestDigest);
    expect(await outputsOf(store, done.runId)).toEqual(await outputsOf(plain, reference.runId));
    // Finished by resume, which has no input path as typed: listed by its input artifact's digest,
    // as while unfinished (its run report said "input sha256:…").
    expect(listed?.input).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(listRuns(store).find((r) => r.runId === reference.runId)).toMatchObject({ state: "completed", input: listed?.input });
  });

  it("an abort near the end never rejects a run that is recorded as finished (it did while the pool closed)", async () => {
    // Aborts at 0–11 ms after the merge began: before the fix, an abort during the pool's close
    // was thrown by the final progress report, after the manifest was recorded.
    for (let delay = 0; delay < 12; delay++) {
      const { store } = scratch.store();
      const ac = new AbortController();
      let armed = false;
      const onProgress = (p: Progress): void => {
        if (p.phase === "merge" && !armed) {
          armed = true;
          setTimeout(() => ac.abort(new Error("late")), delay);
        }
      };
      let outcome: "resolved" | "interrupted";
      let runId: string | undefined;
      try {
        runId = (await run(store, records, fn, config, { signal: ac.signal, onProgress })).runId;
        outcome = "resolved";
      } catch (err) {
        expect((err as { code?: string }).code, String(err)).toBe(ErrorCode.INTERRUPTED);
        runId = (err as { details: { runId: string } }).details.runId;
        outcome = "interrupted";
      }
      const state = listRuns(store).find((x) => x.runId === runId)?.state;
      expect(`${delay} ms: ${outcome}, ${state}`).toBe(`${delay} ms: ${outcome}, ${outcome === "resolved" ? "completed" : "incomplete"}`);
    }
  }, 60_000);

  it("resume checks the run id before the signal: malformed is E_USAGE, unknown E_NOT_FOUND", async () => {
    const { store } = scratch.store();
    await expectCairnError(resume(store, "zz", { signal: AbortSignal.abort("x") }), ErrorCode.USAGE);
    await expectCairnError(resume(store, "0123456789abcdef", { signal: AbortSignal.abort("x") }), ErrorCode.NOT_FOUND);
  });

  it("an already aborted signal rejects before anything is read or recorded", async () => {
    const { store } = scratch.store();
    const e = await expectCairnError(run(store, records, fn, config, { signal: AbortSignal.abort("not today") }), ErrorCode.INTERRUPTED);
    expect(e.message).toBe("run aborted (before its plan was recorded): not today");
    expect(e.details).toEqual({});
    expect(store.headLogseq()).toBe(0);
  });

  it("an abort while a file input is being ingested stops the ingest: nothing of the input is stored", async () => {
    const { store } = scratch.store();
    const input = scratch.text(`${'{"n":1}\n'.repeat(600_000)}`, "big.jsonl"); // 4.8 MB: dozens of read chunks
    const ac = new AbortController();
    const stdinLike = run(store, input, fn, config, { signal: ac.signal });
    ac.abort(new Error("stop reading"));
    const e = await expectCairnError(stdinLike, ErrorCode.INTERRUPTED);
    expect(e.message).toBe("run aborted (before its plan was recorded): stop reading");
    expect(listRuns(store)).toEqual([]);
    expect([...store.list()].filter((a) => a.size > 1_000_000)).toEqual([]);
  });

  it("a signal that is not an AbortSignal is E_USAGE", async () => {
    const { store } = scratch.store();
    for (const [signal, shown] of [[{ aborted: true }, "object"], [null, "null"], [true, "boolean"]] as const) {
      const e = await expectCairnError(run(store, records, fn, config, { signal: signal as unknown as AbortSignal }), ErrorCode.USAGE);
      expect(e.message).toBe(`hooks.signal must be an AbortSignal, got ${shown}`);
    }
  });
});
