/**
 * E_NONDETERMINISTIC details are bounded like its message: each record is cut to the width the
 * message shows (2,000 characters) by the shared echo rule (`echoed`: `… (N characters)`), and a
 * cut record's length and SHA-256 are given (`firstLength`, `firstDigest`, `secondLength`,
 * `secondDigest`), beside the pulse and the EU id (a long string id quoted cut, as duplicate-id
 * errors give it). Before, both records were kept whole in `details` (a module-level counter in
 * a 1 MB output made an error of over 2 MB, printed whole by `--json`).
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { executePulse, type PulseRunner, type RunnerOutcome, type WorkEU } from "../../src/batch/pulse.js";
import { recordText, type EUResult } from "../../src/batch/records.js";
import { sha256 } from "../../src/core/digest.js";
import { echoed, echoedJson, MAX_ECHOED_CHARS } from "../../src/core/echo.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** Widest record kept in the details (pulse.ts MAX_SHOWN_OUTPUT_CHARS, the message's width). */
const SHOWN = 2000;
/** What bounded details of two cut records and an id take at most, as JSON (with room for the keys). */
const DETAILS_BOUND = 2 * (SHOWN + 64) + MAX_ECHOED_CHARS + 1000;
const BIG = 1 << 20;

describe("E_NONDETERMINISTIC details stay bounded", () => {
  it("an audit that finds a 1 MB output differing by a module-level counter", async () => {
    const { store } = scratch.store();
    // The first pulse runs on a fresh worker as its audit does (n = 0, 1); the second does not (n = 2, 3 vs 0, 1).
    const fn = { code: `let n = 0;\nexport default (x) => ({ n: n++, big: "x".repeat(${BIG}), v: x });\n`, name: "counter.mjs" };
    const err = await expectCairnError(
      run(store, [0, 1, 2, 3], fn, { partitions: 1, pulseSize: 2, workers: 1, auditRate: 1 }),
      ErrorCode.NONDETERMINISTIC,
      "audit of pulse 0/1 found a nondeterministic result at EU 2:",
    );
    const first = `{"id":2,"output":{"big":"${"x".repeat(BIG)}","n":2,"v":2}}`;
    const second = `{"id":2,"output":{"big":"${"x".repeat(BIG)}","n":0,"v":2}}`;
    expect(err.details).toEqual({
      runId: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown, // the run named (engine.ts withNondeterministicRun)
      partition: 0,
      pulse: 1,
      id: 2,
      first: `${first.slice(0, SHOWN)}… (${first.length} characters)`,
      second: `${second.slice(0, SHOWN)}… (${second.length} characters)`,
      firstLength: first.length,
      firstDigest: sha256(first),
      secondLength: second.length,
      secondDigest: sha256(second),
    });
    expect(JSON.stringify(err.details).length).toBeLessThan(DETAILS_BOUND);
    expect(JSON.stringify(err.details).length + err.message.length).toBeLessThan(2 * DETAILS_BOUND);
  }, 120_000);

  it("a crashed attempt and its re-execution that differ in a 1 MB record, under a long string id", async () => {
    const id = "k".repeat(100_000);
    const eus: WorkEU[] = [{ id, input: 0 }, { id: "b", input: 1 }];
    const big = (call: number): EUResult => ({ id, ok: true, bytes: false, json: JSON.stringify({ call, big: "y".repeat(BIG) }) });
    let call = 0;
    // Call 0 delivers the long-id EU, then crashes at "b"; call 1 (a fresh worker) finishes both, differently.
    const exec = (es: WorkEU[]): Promise<RunnerOutcome> => {
      const c = call++;
      const results = es.map((e): EUResult => (e.id === id ? big(c) : { id: e.id, ok: true, bytes: false, json: "1" }));
      if (c === 0) return Promise.resolve({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "worker exited with code 1" }, euIndex: 1, completed: results.slice(0, 1) });
      return Promise.resolve({ kind: "ok", results });
    };
    const runner: PulseRunner = { run: exec, runFresh: exec };
    const err = await expectCairnError(executePulse(runner, eus, 1, { partition: 3, index: 7 }), ErrorCode.NONDETERMINISTIC, "re-execution of pulse 3/7 after a worker crash");
    const first = recordText(big(0));
    const second = recordText(big(1));
    expect(err.details).toEqual({
      partition: 3,
      pulse: 7,
      attempt: 1,
      id: echoedJson(id),
      first: echoed(first, SHOWN),
      second: echoed(second, SHOWN),
      firstLength: first.length,
      firstDigest: sha256(first),
      secondLength: second.length,
      secondDigest: sha256(second),
    });
    expect(err.details.id).toBe(`"${"k".repeat(MAX_ECHOED_CHARS)}"… (100000 characters)`);
    expect(JSON.stringify(err.details).length).toBeLessThan(DETAILS_BOUND);
  });

  it("short records are kept whole, without lengths or digests (as before)", async () => {
    const eus: WorkEU[] = [{ id: "a", input: 0 }, { id: "b", input: 1 }];
    let call = 0;
    const exec = (es: WorkEU[]): Promise<RunnerOutcome> => {
      const c = call++;
      const results = es.map((e): EUResult => ({ id: e.id, ok: true, bytes: false, json: e.id === "a" ? String(c) : "1" }));
      if (c === 0) return Promise.resolve({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "worker exited with code 1" }, euIndex: 1, completed: results.slice(0, 1) });
      return Promise.resolve({ kind: "ok", results });
    };
    const err = await expectCairnError(executePulse({ run: exec, runFresh: exec }, eus, 1, { partition: 0, index: 0 }), ErrorCode.NONDETERMINISTIC);
    expect(err.details).toEqual({ partition: 0, pulse: 0, attempt: 1, id: "a", first: '{"id":"a","output":0}', second: '{"id":"a","output":1}' });
  });
});
