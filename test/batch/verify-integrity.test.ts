/**
 * verify reads back, through the store (which re-hashes), everything a run depends on that
 * the manifest names only by digest: the function bundle and each pulse's receipt. A bundle or
 * a receipt edited in the catalog is a finding (exit 1), never "verified"; `--reexecute` reports
 * a tampered artifact instead of throwing; a run reusing committed pulses refuses a tampered
 * receipt (E_STORE_CORRUPT naming it).
 */
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, type Store } from "../../src/index.js";
import { run, type ExecutionResult } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { digestToBytes, sha256, type Digest } from "../../src/core/digest.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { Scratch, expectCairnError, manifestOf, pinForgedManifest, tamperCatalog } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
const reopened: Store[] = [];
afterAll(() => {
  for (const s of reopened) s.close();
  scratch.cleanup();
});

const FN = { code: "export default (x) => ({ sq: x.v * x.v });\n", name: "square.mjs" };
const DATA = Array.from({ length: 120 }, (_, v) => ({ v }));
const CONFIG = { partitions: 2, pulseSize: 20, workers: 1 };

async function goodRun(): Promise<{ store: Store; dir: string; r: ExecutionResult; m: Manifest }> {
  const { store, dir } = scratch.store();
  const r = await run(store, DATA, FN, CONFIG);
  expect(r.status).toBe("completed");
  expect((await verifyRun(store, r.runId)).problems).toEqual([]);
  return { store, dir, r, m: manifestOf(store, r.runId) };
}

/** Closes `store`, runs `edit` on its catalog file (as someone with write access could), reopens it. */
function tamper(store: Store, dir: string, edit: (db: Database.Database) => void): Store {
  return tamperCatalog(store, dir, edit, reopened);
}

/** Rewrites the packed bytes of artifact `d` with `f`; returns the old and new bytes. */
function rewriteArtifact(db: Database.Database, d: Digest, f: (b: Buffer) => Buffer): { before: Buffer; after: Buffer } {
  const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(d)) as { bytes: Buffer | null };
  if (row.bytes === null) throw new Error(`artifact ${d} is not packed`);
  const after = f(Buffer.from(row.bytes));
  expect(db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(after, digestToBytes(d)).changes).toBe(1);
  return { before: row.bytes, after };
}

function replaceIn(b: Buffer, from: string, to: string): Buffer {
  const text = b.toString("utf8");
  expect(text).toContain(from);
  return Buffer.from(text.replace(from, to), "utf8");
}

describe("the function bundle's bytes", () => {
  it("a bundle rewritten in the catalog (x.v * x.v → x.v * 2) is artifact_tampered naming the function artifact; --reexecute reports it instead of throwing", async () => {
    const { store, dir, r, m } = await goodRun();
    const fn = m.function.artifact;
    expect(store.stat(fn).mediaType).toBe("text/javascript");
    let sizes = { before: 0, after: 0 };
    const s = tamper(store, dir, (db) => {
      const { before, after } = rewriteArtifact(db, fn, (b) => replaceIn(b, "x.v * x.v", "x.v * 2"));
      sizes = { before: before.length, after: after.length };
    });
    const finding = { code: "artifact_tampered", message: `function artifact ${fn}: artifact ${fn} is corrupt: stored size ${sizes.after} differs from recorded size ${sizes.before}` };

    const plain = await verifyRun(s, r.runId);
    expect(plain.problems).toEqual([finding]);
    expect(plain.ok).toBe(false);
    expect(plain.pulsesChecked).toBe(m.pulses.length);

    const reexec = await verifyRun(s, r.runId, { reexecute: true });
    expect(reexec.problems).toEqual([finding]);
    expect(reexec.ok).toBe(false);
    expect(reexec.pulsesReexecuted).toBe(0);

    // replay has no report to put it in: it refuses the bundle.
    await expectCairnError(replay(s, r.runId, "0/0"), ErrorCode.STORE_CORRUPT, `artifact ${fn} is corrupt`);
  });

  it("a same-size rewrite of the bundle (x.v * x.v → x.v + x.v) is artifact_tampered: the bytes are re-hashed, not only their size", async () => {
    const { store, dir, r, m } = await goodRun();
    const fn = m.function.artifact;
    let after: Buffer = Buffer.alloc(0);
    const s = tamper(store, dir, (db) => {
      ({ after } = rewriteArtifact(db, fn, (b) => replaceIn(b, "x.v * x.v", "x.v + x.v")));
    });
    const finding = { code: "artifact_tampered", message: `function artifact ${fn}: artifact ${fn} is corrupt: stored bytes hash to ${sha256(after)}` };
    expect((await verifyRun(s, r.runId)).problems).toEqual([finding]);
    const reexec = await verifyRun(s, r.runId, { reexecute: true, sample: 2 });
    expect(reexec.problems).toEqual([finding]);
    expect(reexec.pulsesReexecuted).toBe(0);
  });

  it("--reexecute over a tampered pulse records artifact reports it once (artifact_tampered) and re-executes the other pulses", async () => {
    const { store, dir, r, m } = await goodRun();
    const victim = m.pulses[1] as Manifest["pulses"][number];
    const name = `${victim.partition}/${victim.index}`;
    let after: Buffer = Buffer.alloc(0);
    const s = tamper(store, dir, (db) => {
      ({ after } = rewriteArtifact(db, victim.records, (b) => replaceIn(b, '"sq":', '"SQ":')));
    });
    const rep = await verifyRun(s, r.runId, { reexecute: true });
    expect(rep.ok).toBe(false);
    const why = `artifact ${victim.records} is corrupt: stored bytes hash to ${sha256(after)}`;
    expect(rep.problems.filter((p) => p.code === "artifact_tampered")).toEqual([
      // Not again as "cannot re-execute: …" (a second finding for it before 2026-11-27).
      { code: "artifact_tampered", pulse: name, message: `pulse ${name}: records ${victim.records}: ${why}` },
    ]);
    expect(rep.pulsesReexecuted).toBe(m.pulses.length - 1);
    expect(rep.problems.map((p) => p.code)).not.toContain("reexecution_mismatch");
  });
});

describe("receipt bodies", () => {
  it("a pulse receipt whose catalog body was edited (completed N → N-1) is receipt_mismatch naming the receipt", async () => {
    const { store, dir, r, m } = await goodRun();
    const p0 = m.pulses[0] as Manifest["pulses"][number];
    const name = `${p0.partition}/${p0.index}`;
    const s = tamper(store, dir, (db) => {
      const row = db.prepare("SELECT body FROM receipts WHERE digest = ?").get(digestToBytes(p0.receipt)) as { body: string };
      const body = row.body.replace(`"completed":${p0.completed}`, `"completed":${p0.completed - 1}`);
      expect(body).not.toBe(row.body);
      db.prepare("UPDATE receipts SET body = ? WHERE digest = ?").run(body, digestToBytes(p0.receipt));
    });
    const rep = await verifyRun(s, r.runId);
    expect(rep.problems).toEqual([
      { code: "receipt_mismatch", pulse: name, message: `pulse ${name}: receipt ${p0.receipt} cannot be read: receipt ${p0.receipt} is corrupt: body does not hash to the receipt digest` },
    ]);
    expect(rep.ok).toBe(false);
  });

  it("a run reusing committed pulses refuses a tampered receipt with E_STORE_CORRUPT naming it", async () => {
    const { store, dir, m } = await goodRun();
    const p0 = m.pulses[0] as Manifest["pulses"][number];
    const s = tamper(store, dir, (db) => {
      db.prepare("UPDATE receipts SET body = replace(body, ?, ?) WHERE digest = ?").run(`"completed":${p0.completed}`, `"completed":${p0.completed - 1}`, digestToBytes(p0.receipt));
    });
    // Another worker count is another run whose pulses are the same actions: it reuses them.
    await expectCairnError(run(s, DATA, FN, { ...CONFIG, workers: 2 }), ErrorCode.STORE_CORRUPT, `receipt ${p0.receipt} is corrupt: body does not hash to the receipt digest`);
  });
});

describe("verify --reexecute folds the reduce again", () => {
  const REDUCER = { code: "export default (x) => x.v;\nexport const initial = 0;\nexport function reduce(acc, o) { return acc + o; }\n", name: "sum.mjs" };

  it("a manifest re-pinned with a forged reduce value passes plain verify but not --reexecute (reduce_mismatch)", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, REDUCER, CONFIG);
    expect(r.reduce).toBe((119 * 120) / 2);
    const clean = await verifyRun(store, r.runId, { reexecute: true });
    expect([clean.ok, clean.reduceRefolded, clean.problems]).toEqual([true, true, []]);
    // Forge: the same manifest with another reduce value, stored and pinned in its place, and
    // the run receipt re-recorded for it (without that, the run receipt's receipt_mismatch
    // catches it in plain verify: s5-verify-run-receipt.test.ts).
    const m = manifestOf(store, r.runId);
    pinForgedManifest(store, r.runId, { ...m, reduce: { value: 123456 } });
    expect((await verifyRun(store, r.runId)).problems).toEqual([]); // plain verify trusts the manifest's reduce
    const re = await verifyRun(store, r.runId, { reexecute: true, sample: 1 });
    expect(re.ok).toBe(false);
    expect(re.problems).toEqual([{ code: "reduce_mismatch", message: "reduce folded again over the output gives 7140, the manifest says 123456" }]);
    // A run without reduce has nothing to fold.
    const plain = await goodRun();
    expect((await verifyRun(plain.store, plain.r.runId, { reexecute: true, sample: 1 })).reduceRefolded).toBe(false);
  });
});
