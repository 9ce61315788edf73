/**
 * verify's and replay's "run not found" and "has not completed" name the store, as resume's
 * does (plan.ts `loadPlan`); the pulse argument is one rule for the library and the CLI
 * (verify.ts `parsePulseSpec`): `P/I` or an ordinal, each a canonical decimal — the library
 * took `01` as ordinal 1 while the CLI refused it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import type { Store } from "../../src/index.js";
import { resume, run, type Progress } from "../../src/batch/engine.js";
import { parsePulseSpec, replay, verifyRun } from "../../src/batch/verify.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());
const FN = { code: "export default (x) => x * 2;\n", name: "double.mjs" };
const UNKNOWN = "0123456789abcdef";

describe("an unknown or unfinished run", () => {
  it("verify and replay say the run is not found in the store, as resume does", async () => {
    const { store } = scratch.store();
    const message = `run ${UNKNOWN} not found in store ${store.root}`;
    await expectCairnError(resume(store, UNKNOWN), ErrorCode.NOT_FOUND, message);
    for (const e of [await expectCairnError(verifyRun(store, UNKNOWN), ErrorCode.NOT_FOUND), await expectCairnError(replay(store, UNKNOWN, "0/0"), ErrorCode.NOT_FOUND)]) {
      expect(e.message).toBe(message);
      expect(e.details).toEqual({ runId: UNKNOWN });
    }
  });

  it("verify and replay of an unfinished run name the store too", async () => {
    const { store } = scratch.store();
    const ac = new AbortController();
    const onProgress = (p: Progress): void => {
      if (p.pulsesDone >= 1 && !ac.signal.aborted) ac.abort(new Error("stop"));
    };
    const e = await expectCairnError(run(store, Array.from({ length: 20 }, (_, n) => n), FN, { partitions: 1, pulseSize: 5, workers: 1, maxPulsesInFlight: 1 }, { signal: ac.signal, onProgress }), "E_INTERRUPTED");
    const id = e.details.runId as string;
    const message = `run ${id} in store ${store.root} has not completed (resume it first)`;
    expect((await expectCairnError(verifyRun(store, id), ErrorCode.NOT_FOUND)).message).toBe(message);
    expect((await expectCairnError(replay(store, id, "0"), ErrorCode.NOT_FOUND)).message).toBe(message);
  });
});

describe("the pulse argument", () => {
  let store: Store;
  let runId: string;
  beforeAll(async () => {
    ({ store } = scratch.store());
    runId = (await run(store, [1, 2, 3, 4], FN, { workers: 1, partitions: 1, pulseSize: 2 })).runId;
  });

  it("a canonical decimal P/I or ordinal parses", () => {
    expect(parsePulseSpec("0")).toEqual({ ordinal: 0 });
    expect(parsePulseSpec("10")).toEqual({ ordinal: 10 });
    expect(parsePulseSpec("0/0")).toEqual({ partition: 0, index: 0 });
    expect(parsePulseSpec("3/12")).toEqual({ partition: 3, index: 12 });
  });

  for (const bad of ["01", "0/01", "00/0", "00", "+1", " 1", "1 ", "1/", "0x1"]) {
    it(`${JSON.stringify(bad)} is E_USAGE in the library, as in the CLI (named by the field given)`, async () => {
      const e = await expectCairnError(replay(store, runId, bad), ErrorCode.USAGE);
      expect(e.message).toBe(`invalid pulse ${JSON.stringify(bad)}: expected partition/index (e.g. 0/0) or an ordinal in the manifest (0, 1, …), in decimal digits without leading zeros`);
      expect(e.details).toEqual({ field: "pulse", value: bad });
      expect(() => parsePulseSpec(bad, "--pulse")).toThrow(`invalid --pulse ${JSON.stringify(bad)}: expected`);
    });
  }

  it("ordinal 1 is still pulse 1", async () => {
    expect((await replay(store, runId, "1")).pulse).toEqual({ partition: 0, index: 1 });
  });
});
