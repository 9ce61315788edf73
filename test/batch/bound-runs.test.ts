/**
 * `listRuns` / `iterateRuns` go on past a run whose manifest (or plan) cannot be read back,
 * listing it with `error` set (audit 6): a 282 MB manifest, over the store's in-memory read
 * limit, made `runs ls` fail with E_LIMIT_EXCEEDED for every run in the store. A manifest that
 * is not JSON, or not shaped like one, is marked the same way (E_STORE_CORRUPT). Other errors
 * (a closed store) still stop the listing.
 */
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { CairnError, ErrorCode, type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { iterateRuns, listRuns, type RunSummary } from "../../src/batch/runs.js";
import { loadManifest, MANIFEST_MEDIA_TYPE } from "../../src/batch/manifest.js";
import { manifestRoot } from "../../src/batch/plan.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());
afterEach(() => vi.restoreAllMocks());

const CONFIG = { partitions: 1, pulseSize: 4, workers: 1 };

/** Two finished runs (a: 3 records, b: 5) in one store, in that order. */
async function twoRuns(): Promise<{ store: Store; a: string; b: string; summaries: RunSummary[] }> {
  const { store } = scratch.store();
  const a = (await run(store, [1, 2, 3], { code: "export default (x) => x;\n", name: "a.mjs" }, CONFIG)).runId;
  const b = (await run(store, [1, 2, 3, 4, 5], { code: "export default (x) => x * 2;\n", name: "b.mjs" }, CONFIG)).runId;
  return { store, a, b, summaries: listRuns(store) };
}

function repinManifest(store: Store, runId: string, text: string): Digest {
  const d = store.putBytes(Buffer.from(text), { mediaType: MANIFEST_MEDIA_TYPE }).digest;
  store.unpin(manifestRoot(runId));
  store.pin(manifestRoot(runId), d, "run");
  return d;
}

describe("runs whose manifest cannot be read are listed with an error, and the listing goes on", () => {
  it("a manifest over the store's in-memory read limit (E_LIMIT_EXCEEDED)", async () => {
    const { store, a, b, summaries } = await twoRuns();
    const big = loadManifest(store, a)?.digest as Digest;
    const message = `artifact ${big} is 295698432 bytes, above the in-memory limit of 268435456; stream it instead`;
    const get = store.get.bind(store);
    vi.spyOn(store, "get").mockImplementation((d: Digest) => {
      if (d === big) throw new CairnError(ErrorCode.LIMIT_EXCEEDED, message, { digest: big });
      return get(d);
    });
    const listed = listRuns(store);
    const { status: _s, counts: _c, outputDigest: _o, ...rest } = summaries[0] as RunSummary;
    expect(listed).toEqual([{ ...rest, error: { code: ErrorCode.LIMIT_EXCEEDED, message: `its manifest cannot be read: ${message}` } }, summaries[1]]);
    expect(listed[1]?.runId).toBe(b);
    // The keys stay in the listing's order (runId, state, plan, input, function, [status], manifest, …).
    expect(Object.keys(listed[0] as object)).toEqual(["runId", "state", "plan", "input", "function", "manifest", "error"]);
  });

  it("a manifest that is not JSON, or not a manifest (E_STORE_CORRUPT)", async () => {
    const { store, a, b, summaries } = await twoRuns();
    const d = repinManifest(store, a, "{not json");
    const [first, second] = [...iterateRuns(store)];
    expect(first).toMatchObject({ runId: a, state: "completed", manifest: d, error: { code: ErrorCode.STORE_CORRUPT } });
    expect(first?.error?.message).toMatch(/^its manifest is not JSON: /);
    expect([first?.status, first?.counts]).toEqual([undefined, undefined]);
    expect(second).toEqual(summaries[1]);
    const e = repinManifest(store, b, '{"kind":"evil"}');
    expect(listRuns(store)[1]).toMatchObject({ runId: b, manifest: e, error: { code: ErrorCode.STORE_CORRUPT, message: `its manifest cannot be read: manifest ${e} is not a run manifest: it lacks config, counts, engine, failures, function, input, output, plan, pulses, reduce, runId, version` } });
  });

  it("an unreadable plan is marked too; a run that reads back has no error key", async () => {
    const { store, a, summaries } = await twoRuns();
    expect(summaries.every((s) => !("error" in s))).toBe(true);
    const plan = (summaries[0] as RunSummary).plan as Digest;
    const get = store.get.bind(store);
    vi.spyOn(store, "get").mockImplementation((d: Digest) => {
      if (d === plan) throw new CairnError(ErrorCode.STORE_CORRUPT, `artifact ${plan} does not verify`, { digest: plan });
      return get(d);
    });
    const [first] = listRuns(store);
    expect(first).toMatchObject({ runId: a, input: "-", function: "-", status: "completed", error: { code: ErrorCode.STORE_CORRUPT, message: `its plan or report cannot be read: artifact ${plan} does not verify` } });
  });

  it("other errors still stop the listing", async () => {
    const { store } = await twoRuns();
    vi.spyOn(store, "get").mockImplementation(() => {
      throw new Error("boom");
    });
    expect(() => listRuns(store)).toThrow("boom");
  });
});
