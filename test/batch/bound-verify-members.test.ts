/**
 * `verify` checks that the artifacts a manifest names beside its pulses' slices, records and
 * receipts — its failures artifact (`failuresArtifact`, a run with more than 100 failures) and
 * each pulse's attempts artifact (`attemptsArtifact`, an attempt log over 4 KiB) — are
 * `contains` members of the manifest, as `recordManifest` links them: gc keeps a pinned
 * manifest's `contains` members (and nothing else keeps a failures artifact). Before, a manifest
 * whose edges did not contain them verified, and a later gc swept its failures artifact (the run
 * then no longer verified). A finished run keeps both through a real gc (a reopened store: a store handle
 * never sweeps what it wrote itself) and still verifies.
 */
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import type { Manifest } from "../../src/batch/manifest.js";
import type { Digest } from "../../src/core/digest.js";
import { cairn } from "../cli/helpers.js";
import { Scratch, manifestOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

// 135 of 150 EUs fail (over MAX_MANIFEST_FAILURES), each attempt with a 5,000-character message:
// every pulse's attempt log (45 EUs × 3 errors) is over MAX_INLINE_ATTEMPTS_BYTES.
const FAILING = { code: 'export default (x) => { if (x.v % 10 === 1) return x.v; throw new Error("E".repeat(5000) + x.v); };\n', name: "fail.mjs" };
const DATA = Array.from({ length: 150 }, (_, v) => ({ v }));
const CONFIG = { partitions: 1, pulseSize: 50, workers: 1, retries: 2, allowFailures: true };

/** The artifacts the manifest names by digest beside its pulses' slices, records and receipts. */
function named(m: Manifest): Digest[] {
  return [m.failuresArtifact as Digest, ...m.pulses.map((p) => p.attemptsArtifact as Digest)];
}

function members(store: Store, manifest: Digest): Digest[] {
  return store.edgesOfType(manifest, "contains").flatMap((e) => e.to);
}

/** Re-links the manifest's `contains` edges without `drop` (as a build that did not link them would have left them). */
function unlink(store: Store, manifest: Digest, drop: ReadonlySet<Digest>): void {
  for (const e of store.edgesOfType(manifest, "contains")) {
    store.pruneEdge(e.edgeId);
    store.addEdge({ from: e.from, to: e.to.filter((t) => !drop.has(t)), type: e.type, role: e.role });
  }
}

/** gc (grace 0) on a new handle (a handle never sweeps what it wrote itself); returns a fresh handle and what gc swept. */
function afterGc(dir: string): { after: Store; swept: Digest[] } {
  const writer = openStore({ dir, durability: "normal" });
  let swept: Digest[];
  try {
    swept = writer.gc({ graceMs: 0 }).swept.map((s) => s.digest);
  } finally {
    writer.close();
  }
  return { after: openStore({ dir, durability: "normal" }), swept };
}

describe("verify: the failures artifact and the attempts artifacts are members of the run", () => {
  it("a finished run contains them; gc keeps them; the run still verifies", async () => {
    const { store, dir } = scratch.store();
    const r = await run(store, DATA, FAILING, CONFIG);
    const m = manifestOf(store, r.runId);
    expect(m.failuresArtifact).toBeDefined();
    expect(m.pulses.map((p) => p.attemptsArtifact === undefined)).toEqual([false, false, false]);
    const all = members(store, r.manifestDigest);
    for (const d of named(m)) expect(all).toContain(d);
    const junk = store.putBytes(Buffer.from("x".repeat(70_000))).digest; // unreachable: shows that gc sweeps
    store.close();
    const { after, swept } = afterGc(dir);
    try {
      expect(swept).toEqual([junk]);
      for (const d of named(m)) expect(after.stat(d).state).toBe("present");
      const rep = await verifyRun(after, r.runId);
      expect([rep.ok, rep.problems]).toEqual([true, []]);
    } finally {
      after.close();
    }
  }, 120_000);

  it("one the manifest's edges do not contain is not_contained (exit 1); gc then sweeps it", async () => {
    const { store, dir } = scratch.store();
    const r = await run(store, DATA, FAILING, CONFIG);
    const m = manifestOf(store, r.runId);
    const failures = m.failuresArtifact as Digest;
    const attempts = m.pulses[1]?.attemptsArtifact as Digest;
    unlink(store, r.manifestDigest, new Set([failures, attempts]));
    expect(members(store, r.manifestDigest)).not.toContain(failures);
    const expected = [
      {
        code: "not_contained",
        message: `the failures artifact ${failures} is not a member of the run: manifest ${r.manifestDigest} has no contains edge to it (a finished run's manifest contains every artifact it names, so that gc keeps them with the run)`,
      },
      {
        code: "not_contained",
        pulse: "0/1",
        message: `pulse 0/1: its attempts artifact ${attempts} is not a member of the run: manifest ${r.manifestDigest} has no contains edge to it (a finished run's manifest contains every artifact it names, so that gc keeps them with the run)`,
      },
    ];
    const rep = await verifyRun(store, r.runId);
    expect([rep.ok, rep.problems]).toEqual([false, expected]);
    store.close();

    const cli = cairn(["--store", dir, "verify", r.runId], { cwd: dir });
    expect(cli.status).toBe(1);
    expect(cli.out).toBe(
      `not_contained  ${expected[0]?.message}\nnot_contained  ${expected[1]?.message}\nMISMATCH: 2 problems in run ${r.runId} (checked 3 pulses, 150 records)\n`,
    );
    expect(cairn(["verify", "--help"], { cwd: dir }).out).toContain("is a mismatch: not_contained.");
    const json = cairn(["--store", dir, "--json", "verify", r.runId], { cwd: dir });
    expect(json.status).toBe(1);
    expect((JSON.parse(json.out) as { problems: unknown[] }).problems).toEqual(expected);

    // What the check is for: gc sweeps a failures artifact the manifest does not contain (an
    // attempts artifact is also contained by the run's plan), and the run no longer verifies.
    const { after, swept } = afterGc(dir);
    try {
      expect(swept).toEqual([failures]);
      expect([after.stat(failures).state, after.stat(attempts).state]).toEqual(["swept", "present"]);
      const problems = (await verifyRun(after, r.runId)).problems;
      expect(problems.map((p) => p.code)).toEqual(["artifact_tampered", "not_contained", "not_contained"]);
      // Named as collected, with the remedy, since 2026-11-27 (before: the store's bare not-found after "…: ").
      expect(problems[0]?.message).toBe(
        `failures artifact ${failures} is deleted from the store (its bytes were collected by gc). To write it again from the run's committed pulses: cairn store unpin run:${r.runId}:manifest and cairn store unpin run:${r.runId}:report, then cairn resume ${r.runId}`,
      );
    } finally {
      after.close();
    }
  }, 120_000);
});
