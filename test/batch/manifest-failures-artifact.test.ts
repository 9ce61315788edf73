/**
 * A run with more than MAX_MANIFEST_FAILURES failures: its manifest lists the first 100 and names
 * its failures artifact (`failuresArtifact`), a canonical JSON-lines artifact holding every
 * failure `{"code","id","message"}` in EU-id order, streamed to a temp file during the ordered
 * merge. Before, such a manifest named only its first 100 failures (issue 3: every failed EU is in
 * the manifest with its code and message). A run with at most 100 failures writes the same bytes
 * as before (digests pinned from the build of commit 6d7471c). The artifact is a `contains`
 * member of the manifest (kept by gc with the run), the same on resume, and checked by verify.
 */
import Database from "better-sqlite3";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, openStore, type Store } from "../../src/index.js";
import { resume, run, type Progress } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { FAILURES_MEDIA_TYPE, MAX_MANIFEST_FAILURES, type Manifest } from "../../src/batch/manifest.js";
import { canonicalBytes } from "../../src/core/canonical.js";
import { digestToBytes, type Digest } from "../../src/core/digest.js";
import { TMP_DIR } from "../../src/store/layout.js";
import { Scratch, expectCairnError, manifestOf, repinManifest } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const N = 150;
const DATA = Array.from({ length: N }, (_, v) => ({ v }));
// Every EU fails but v % 10 === 1: 135 failures, over MAX_MANIFEST_FAILURES.
const FAILING = { code: 'export default (x) => { if (x.v % 10 === 1) return x.v; throw new Error("bad " + x.v); };\n', name: "fail.mjs" };
const CONFIG = { partitions: 2, pulseSize: 25, workers: 1, retries: 0, allowFailures: true };
const FAILED_IDS = DATA.map((d) => d.v).filter((v) => v % 10 !== 1);
/** The failures artifact's exact bytes: one canonical failure per line, in EU-id order. */
const EXPECTED = FAILED_IDS.map((v) => `{"code":"${ErrorCode.EU_THREW}","id":${v},"message":"bad ${v}"}\n`).join("");

/** Pins `m` as the run's manifest (as a forger would). */
function putLines(store: Store, text: string): Digest {
  return store.putBytes(Buffer.from(text), { mediaType: FAILURES_MEDIA_TYPE }).digest;
}

describe("a run with more than MAX_MANIFEST_FAILURES failures names its failures artifact", () => {
  it("the artifact holds every failure in EU-id order; it is a member of the manifest, survives gc and verifies", async () => {
    expect(FAILED_IDS).toHaveLength(135);
    const { store, dir } = scratch.store();
    const r = await run(store, DATA, FAILING, CONFIG);
    expect(r.counts).toEqual({ total: N, completed: 15, failed: 135, retried: 0 });
    const m = manifestOf(store, r.runId);
    const digest = m.failuresArtifact as Digest;
    expect(store.get(digest).toString("utf8")).toBe(EXPECTED);
    expect(store.stat(digest).mediaType).toBe(FAILURES_MEDIA_TYPE);
    // The inline list is unchanged: the first 100, the artifact's first 100 lines.
    expect(m.failures).toHaveLength(MAX_MANIFEST_FAILURES);
    expect(m.failures.map((f) => `${canonicalBytes({ code: f.code, id: f.id, message: f.message }).toString("utf8")}\n`).join("")).toBe(
      EXPECTED.split("\n").slice(0, MAX_MANIFEST_FAILURES).map((l) => `${l}\n`).join(""),
    );
    expect(r.failures).toEqual(m.failures);
    // A `contains` member of the manifest, so gc keeps it with the run.
    const members = store.edgesOfType(r.manifestDigest, "contains").flatMap((e) => e.to);
    expect(members).toContain(digest);
    store.gc({ graceMs: 0 });
    expect(store.get(digest).toString("utf8")).toBe(EXPECTED);
    // The temp file is gone.
    expect(readdirSync(join(dir, TMP_DIR)).filter((n) => n.includes("failures"))).toEqual([]);
    const rep = await verifyRun(store, r.runId);
    expect([rep.ok, rep.problems]).toEqual([true, []]);
  }, 120_000);

  it("an interrupted and resumed run writes the same manifest and failures artifact", async () => {
    const ref = await (async () => {
      const { store } = scratch.store();
      const r = await run(store, DATA, FAILING, CONFIG);
      return { digest: r.manifestDigest, bytes: store.get(r.manifestDigest) };
    })();
    const { store } = scratch.store();
    const ac = new AbortController();
    const onProgress = (p: Progress): void => {
      if (p.pulsesDone === 2 && !ac.signal.aborted) ac.abort(new Error("stop"));
    };
    await expectCairnError(run(store, DATA, FAILING, CONFIG, { signal: ac.signal, onProgress }), ErrorCode.INTERRUPTED);
    const runId = [...store.listRoots()].map((x) => x.name).find((n) => /^run:[0-9a-f]{16}$/.test(n))?.slice(4) as string;
    const done = await resume(store, runId);
    expect(done.manifestDigest).toBe(ref.digest);
    expect(store.get(done.manifestDigest).equals(ref.bytes)).toBe(true);
    expect(store.get(manifestOf(store, runId).failuresArtifact as Digest).toString("utf8")).toBe(EXPECTED);
  }, 120_000);

  it("verify reports a forged, short, missing or corrupt failures artifact, and a manifest cut without one", async () => {
    const { store, dir } = scratch.store();
    const r = await run(store, DATA, FAILING, CONFIG);
    const m = manifestOf(store, r.runId);
    const digest = m.failuresArtifact as Digest;
    const problems = async (): Promise<unknown[]> => (await verifyRun(store, r.runId)).problems;

    // One failure's message changed (the 120th failure: past the inline list).
    const forgedText = EXPECTED.replace('"message":"bad 133"', '"message":"fine 133"');
    const forged = putLines(store, forgedText);
    repinManifest(store, r.runId, { ...m, failuresArtifact: forged });
    expect(await problems()).toEqual([
      {
        code: "count_mismatch",
        message: `failure 119 of the failures artifact ${forged}, {"code":"E_EU_THREW","id":133,"message":"fine 133"}, is not the output's failed record {"error":{"code":"E_EU_THREW","message":"bad 133"},"id":133}`,
      },
    ]);

    // The last line left out.
    const short = putLines(store, EXPECTED.split("\n").slice(0, -2).map((l) => `${l}\n`).join(""));
    repinManifest(store, r.runId, { ...m, failuresArtifact: short });
    expect(await problems()).toEqual([{ code: "count_mismatch", message: `the failures artifact ${short} holds 134 failures, the output 135 failed records (counts.failed 135)` }]);

    // An artifact the store does not hold.
    const missing = `sha256:${"ab".repeat(32)}` as Digest;
    repinManifest(store, r.runId, { ...m, failuresArtifact: missing });
    const [gone] = (await problems()) as Array<{ code: string; message: string }>;
    expect(gone?.code).toBe("artifact_tampered");
    expect(gone?.message.startsWith(`failures artifact ${missing}: `)).toBe(true);

    // Cut at 100 without naming the artifact (the form of 6d7471c); a malformed field.
    const { failuresArtifact, ...cut } = m;
    void failuresArtifact;
    repinManifest(store, r.runId, cut);
    expect(await problems()).toEqual([{ code: "manifest_invalid", message: "the manifest lists the first 100 of the output's 135 failures and names no failures artifact holding them all" }]);
    repinManifest(store, r.runId, { ...m, failuresArtifact: "nope" });
    expect((await verifyRun(store, r.runId)).problems).toEqual([{ code: "manifest_invalid", message: expect.stringContaining('is not a run manifest: failuresArtifact "nope" is not a digest') }]);

    // The real artifact, its bytes changed in the catalog: the store's re-hash finds it.
    repinManifest(store, r.runId, m);
    expect(await problems()).toEqual([]);
    store.close();
    const db = new Database(join(dir, "catalog.sqlite"));
    try {
      const changed = db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(Buffer.from(EXPECTED.replace("bad 133", "bad 134")), digestToBytes(digest)).changes;
      expect(changed).toBe(1);
    } finally {
      db.close();
    }
    const reopened = openStore({ dir, durability: "normal" });
    try {
      const [tampered, ...rest] = (await verifyRun(reopened, r.runId)).problems;
      expect(rest).toEqual([]);
      expect(tampered?.code).toBe("artifact_tampered");
      expect(tampered?.message.startsWith(`failures artifact ${digest}: `)).toBe(true);
    } finally {
      reopened.close();
    }
  }, 120_000);

  it("a manifest of at most 100 failures names no artifact and keeps its bytes (pinned from commit 6d7471c)", async () => {
    const cases: Array<[string, number, string]> = [
      ['export default (x) => { if (x.v % 3 === 0) throw new Error("bad " + x.v); return x.v; };\n', 50, "sha256:7feaa485f9d8735d31e445cbf3409db89d0da008d777dea454b1436a0fe07871"],
      ['export default (x) => { if (x.v < 100) throw new Error("bad " + x.v); return x.v; };\n', 100, "sha256:84f495fa1e539e4a9572084b4738f9493d1eb07b91858c379758e164e50b9195"],
    ];
    for (const [code, failed, pinned] of cases) {
      const { store } = scratch.store();
      const r = await run(store, DATA, { code, name: "f.mjs" }, { partitions: 1, pulseSize: 50, workers: 1, retries: 2, allowFailures: true });
      expect(r.counts.failed).toBe(failed);
      expect(r.manifestDigest).toBe(pinned);
      const m: Manifest = manifestOf(store, r.runId);
      expect("failuresArtifact" in m).toBe(false);
      expect([...store.list({ mediaType: FAILURES_MEDIA_TYPE })]).toEqual([]);
    }
  }, 120_000);
});
