/**
 * A run whose pinned manifest is not JSON, or not shaped like a manifest, is E_STORE_CORRUPT
 * naming the run and the manifest from `runs show`, `run`/`resume` of that run and
 * `streamOutputs` (loadManifest). Before, a manifest that was not JSON came out as a bare
 * JSON.parse error (E_INTERNAL in the CLI).
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { resume, run } from "../../src/batch/engine.js";
import { loadManifest, MANIFEST_MEDIA_TYPE } from "../../src/batch/manifest.js";
import { manifestRoot } from "../../src/batch/plan.js";
import { Scratch, expectCairnError, fixture } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

describe("a corrupt manifest", () => {
  it("not JSON, or JSON that is not a manifest: E_STORE_CORRUPT naming the run and the manifest", async () => {
    const { store } = scratch.store();
    const input = scratch.jsonl([{ n: 1 }, { n: 2 }]);
    const r = await run(store, input, fixture("engine-pure.mjs"), { partitions: 2, workers: 1 });
    for (const [bytes, why] of [["not json", "is not JSON: "], ['{"kind":"cairn.batch.manifest"}', "is not a run manifest: "]] as const) {
      const d = store.putBytes(Buffer.from(bytes), { mediaType: MANIFEST_MEDIA_TYPE }).digest;
      store.unpin(manifestRoot(r.runId));
      store.pin(manifestRoot(r.runId), d, "run");
      const e = await expectCairnError(Promise.resolve().then(() => loadManifest(store, r.runId)), ErrorCode.STORE_CORRUPT, `run ${r.runId}: its manifest ${d} ${why}`);
      expect(e.details).toEqual({ runId: r.runId, digest: d });
      await expect(resume(store, r.runId)).rejects.toMatchObject({ code: ErrorCode.STORE_CORRUPT });
    }
  });
});
