/**
 * A run whose pinned manifest is over MAX_MANIFEST_BYTES (256 MiB: what builds before 2026-11-26
 * could store, listing every failure and inlining every attempt log) cannot be read back into
 * memory. `runs show`, `verify`, `replay` and `run`/`resume` of it now fail with E_LIMIT_EXCEEDED
 * naming the run, the manifest, its size and the remedy (unpin the manifest root, resume the run:
 * its manifest is written again, bounded, from its committed pulses); `runs ls` lists it as
 * unreadable with the same message. Before, `runs show` said only the store's "artifact … is N
 * bytes, above the in-memory limit …; stream it instead", and `verify` reported it as
 * `artifact_tampered`.
 *
 * A 256 MiB manifest is out of a test's reach: the oversized manifest here is a 70 KB artifact
 * (stored as a file) whose recorded size in the catalog is set past the limit. Readers take an
 * artifact's size from the catalog and refuse it before reading a byte, so to every reader it is
 * exactly what an oversized manifest is. `loadManifest` also takes a lower limit directly.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, MAX_BUFFERED_GET_BYTES, openStore, type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { listRuns } from "../../src/batch/runs.js";
import { loadManifest, MANIFEST_MEDIA_TYPE, MAX_MANIFEST_BYTES } from "../../src/batch/manifest.js";
import { manifestRoot, reportRoot } from "../../src/batch/plan.js";
import { canonicalBytes } from "../../src/core/canonical.js";
import { digestToBytes, type Digest } from "../../src/core/digest.js";
import { cairn } from "../cli/helpers.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN = { code: "export default (x) => x * 2;\n", name: "double.mjs" };
const CONFIG = { partitions: 1, pulseSize: 2, workers: 1 };
/** The recorded size of the faked manifest: just over the limit. */
const SIZE = MAX_MANIFEST_BYTES + 1;

function message(runId: string, digest: Digest, size = SIZE, limit = MAX_MANIFEST_BYTES): string {
  return `run ${runId}: its manifest ${digest} is ${size} bytes, more than the ${limit}-byte limit of a manifest (what can be read back into memory); builds before 2026-11-26 stored manifests of any size. To write it again, bounded, from the run's committed pulses: cairn store unpin run:${runId}:manifest and cairn store unpin run:${runId}:report, then cairn resume ${runId}`;
}

/** Pins, as the run's manifest, an artifact whose catalog size says `size` bytes (the store is closed after). */
function pinOversized(store: Store, dir: string, runId: string, size = SIZE): Digest {
  const d = store.putBytes(Buffer.from(`{"padding":"${"p".repeat(70_000)}"}`), { mediaType: MANIFEST_MEDIA_TYPE }).digest;
  store.unpin(manifestRoot(runId));
  store.pin(manifestRoot(runId), d, "run");
  store.close();
  const db = new Database(join(dir, "catalog.sqlite"));
  try {
    expect(db.prepare("UPDATE artifacts SET size = ? WHERE digest = ? AND storage = 1").run(size, digestToBytes(d)).changes).toBe(1);
  } finally {
    db.close();
  }
  return d;
}

describe("a run whose manifest is over MAX_MANIFEST_BYTES (an older build's)", () => {
  it("loadManifest refuses one over its limit, naming the run, the manifest, its size and the remedy", async () => {
    const { store } = scratch.store();
    const r = await run(store, [1, 2, 3], FN, CONFIG);
    const size = canonicalBytes(loadManifest(store, r.runId)?.manifest).length;
    expect(loadManifest(store, r.runId, size)?.digest).toBe(r.manifestDigest);
    const err = await expectCairnError(Promise.resolve().then(() => loadManifest(store, r.runId, size - 1)), ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe(message(r.runId, r.manifestDigest, size, size - 1));
    expect(err.details).toEqual({ runId: r.runId, digest: r.manifestDigest, bytes: size, limit: size - 1, root: manifestRoot(r.runId) });
  });

  it("runs show, verify, replay and run fail with that error; runs ls lists it as unreadable; the remedy restores the run", async () => {
    expect(MAX_MANIFEST_BYTES).toBe(MAX_BUFFERED_GET_BYTES); // what the store's reads refuse above
    const { store, dir } = scratch.store();
    const input = [1, 2, 3, 4, 5];
    const r = await run(store, input, FN, CONFIG);
    const other = (await run(store, [7], FN, CONFIG)).runId;
    const big = pinOversized(store, dir, r.runId);
    const text = message(r.runId, big);

    const reader = openStore({ dir, readOnly: true });
    try {
      for (const p of [verifyRun(reader, r.runId), replay(reader, r.runId, "0/0")]) {
        const err = await expectCairnError(p, ErrorCode.LIMIT_EXCEEDED);
        expect([err.message, err.details]).toEqual([text, { runId: r.runId, digest: big, bytes: SIZE, limit: MAX_MANIFEST_BYTES, root: manifestRoot(r.runId) }]);
      }
      const [listed, second] = listRuns(reader);
      expect([listed?.runId, listed?.state, listed?.manifest, listed?.error]).toEqual([r.runId, "completed", big, { code: ErrorCode.LIMIT_EXCEEDED, message: `its manifest cannot be read: ${text}` }]);
      expect([second?.runId, second?.error]).toEqual([other, undefined]);
    } finally {
      reader.close();
    }
    const writer = openStore({ dir, durability: "normal" });
    try {
      await expectCairnError(run(writer, input, FN, CONFIG), ErrorCode.LIMIT_EXCEEDED, text);
    } finally {
      writer.close();
    }

    const cli = (args: string[]): ReturnType<typeof cairn> => cairn(["--store", dir, ...args], { cwd: dir });
    const show = cli(["runs", "show", r.runId]);
    expect([show.status, show.out, show.err]).toEqual([1, "", `cairn: ${text} [E_LIMIT_EXCEEDED]\n`]);
    const verify = cli(["verify", r.runId]);
    expect([verify.status, verify.out, verify.err]).toEqual([1, "", `cairn: ${text} [E_LIMIT_EXCEEDED]\n`]);
    const json = cli(["--json", "verify", r.runId]);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.err)).toMatchObject({ error: { code: "E_LIMIT_EXCEEDED", message: text } });
    const ls = cli(["runs", "ls"]);
    expect([ls.status, ls.err]).toEqual([0, `cairn: run ${r.runId}: its manifest cannot be read: ${text} [E_LIMIT_EXCEEDED]\n`]);
    expect(ls.out.split("\n")[1]).toMatch(new RegExp(`^${r.runId}  completed +unreadable +- `));

    // The remedy the message names: the same manifest as before, written from the committed pulses.
    expect(cli(["store", "unpin", manifestRoot(r.runId)]).status).toBe(0);
    const reportOf = (): string | undefined => (JSON.parse(cli(["--json", "store", "roots"]).out) as Array<{ name: string; digest: string }>).find((x) => x.name === reportRoot(r.runId))?.digest;
    const oldReport = reportOf();
    expect(oldReport).toBeDefined();
    expect(cli(["store", "unpin", reportRoot(r.runId)]).status).toBe(0);
    const resumed = cli(["--json", "resume", r.runId]);
    expect(resumed.status).toBe(0);
    expect(JSON.parse(resumed.out)).toMatchObject({ runId: r.runId, manifestDigest: r.manifestDigest, reused: false });
    expect(cli(["verify", r.runId]).status).toBe(0);
    expect(cli(["runs", "show", r.runId]).status).toBe(0);
    // The resume's report is pinned in place of the old one.
    expect(reportOf()).toBeDefined();
    expect(reportOf()).not.toBe(oldReport);
  }, 120_000);
});
