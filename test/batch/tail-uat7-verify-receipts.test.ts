/**
 * verify reads every receipt the run has: each pulse's (named and contained by the manifest) and
 * the run receipt recordManifest records beside it. A receipt whose stored artifact copy is
 * corrupt (the catalog row's body intact) is a `receipt_mismatch` finding, also with
 * --reexecute; before, it verified (UAT: fsck caught it). A run receipt that is not in the store
 * is a `run_receipt_not_recorded` note (runs finished before 2026-11-26 recorded none).
 */
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type Store } from "../../src/index.js";
import { run, type ExecutionResult } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { digestToBytes, type Digest } from "../../src/core/digest.js";
import { RUN_RECEIPT_KIND, type Manifest } from "../../src/batch/manifest.js";
import { Scratch, manifestOf, tamperCatalog } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
const reopened: Store[] = [];
afterAll(() => {
  for (const s of reopened) s.close();
  scratch.cleanup();
});

const FN = { code: "export default (x) => x;\n", name: "id.mjs" };
const DATA = Array.from({ length: 10 }, (_, v) => ({ v }));
const CONFIG = { partitions: 2, pulseSize: 3, workers: 1 };

async function goodRun(): Promise<{ store: Store; dir: string; r: ExecutionResult; m: Manifest; runReceipt: Digest }> {
  const { store, dir } = scratch.store();
  const r = await run(store, DATA, FN, CONFIG);
  const m = manifestOf(store, r.runId);
  expect((await verifyRun(store, r.runId, { reexecute: true })).problems).toEqual([]);
  const rr = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
  expect(rr).toBeDefined();
  return { store, dir, r, m, runReceipt: (rr as { digest: Digest }).digest };
}

function tamper(store: Store, dir: string, edit: (db: Database.Database) => void): Store {
  return tamperCatalog(store, dir, edit, reopened);
}

/** Flips one hex digit of the receipt artifact `d`'s packed bytes (its catalog row body stays). */
function corruptArtifact(db: Database.Database, d: Digest): void {
  const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(d)) as { bytes: Buffer | null };
  expect(row.bytes).not.toBeNull();
  const text = (row.bytes as Buffer).toString("utf8");
  const at = text.indexOf("sha256:") + 7;
  const flipped = text.slice(0, at) + (text[at] === "0" ? "1" : "0") + text.slice(at + 1);
  expect(db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(Buffer.from(flipped, "utf8"), digestToBytes(d)).changes).toBe(1);
}

describe("verify checks every receipt of the run", () => {
  it("a pulse receipt whose stored artifact is corrupt is receipt_mismatch naming the pulse and receipt, with --reexecute too", async () => {
    const { store, dir, r, m } = await goodRun();
    const p = m.pulses[1] as Manifest["pulses"][number];
    const name = `${p.partition}/${p.index}`;
    const s = tamper(store, dir, (db) => corruptArtifact(db, p.receipt));
    for (const reexecute of [false, true]) {
      const rep = await verifyRun(s, r.runId, { reexecute });
      expect(rep.ok).toBe(false);
      expect(rep.problems).toHaveLength(1);
      expect(rep.problems[0]).toMatchObject({ code: "receipt_mismatch", pulse: name });
      expect(rep.problems[0]?.message).toContain(`pulse ${name}: the stored artifact of receipt ${p.receipt} cannot be read: `);
    }
  });

  it("a run receipt not in the store (a run finished before 2026-11-26 recorded none) is a run_receipt_not_recorded note, not a problem", async () => {
    // Nothing tells such a run apart from one whose receipt was deleted (engine version "1"
    // before and after): receipt_mismatch for it failed valid old runs (2026-11-27 review).
    const { store, dir, r, runReceipt } = await goodRun();
    const s = tamper(store, dir, (db) => {
      expect(db.prepare("DELETE FROM receipts WHERE digest = ?").run(digestToBytes(runReceipt)).changes).toBe(1);
    });
    for (const reexecute of [false, true]) {
      const rep = await verifyRun(s, r.runId, { reexecute });
      expect(rep.problems).toEqual([]);
      expect(rep.ok).toBe(true);
      expect(rep.unchecked).toHaveLength(1);
      expect(rep.unchecked[0]).toMatchObject({ code: "run_receipt_not_recorded", reason: "E_NOT_FOUND" });
      expect(rep.unchecked[0]?.message).toMatch(/^the run receipt \(function sha256:.* is not in the store: a run finished before 2026-11-26 recorded none/);
    }
  });

  it("a run receipt whose catalog body is corrupt is receipt_mismatch (present but unreadable)", async () => {
    const { store, dir, r, runReceipt } = await goodRun();
    const s = tamper(store, dir, (db) => {
      const row = db.prepare("SELECT body FROM receipts WHERE digest = ?").get(digestToBytes(runReceipt)) as { body: string };
      const at = row.body.indexOf("sha256:") + 7;
      const flipped = row.body.slice(0, at) + (row.body[at] === "0" ? "1" : "0") + row.body.slice(at + 1);
      expect(db.prepare("UPDATE receipts SET body = ? WHERE digest = ?").run(flipped, digestToBytes(runReceipt)).changes).toBe(1);
    });
    const rep = await verifyRun(s, r.runId);
    expect(rep.ok).toBe(false);
    expect(rep.problems.map((x) => x.code)).toEqual(["receipt_mismatch"]);
    expect(rep.problems[0]?.message).toMatch(/^the run receipt \(function sha256:.* cannot be read: /);
    expect(rep.unchecked).toEqual([]);
  });

  it("a run receipt whose stored artifact is corrupt is receipt_mismatch naming it", async () => {
    const { store, dir, r, runReceipt } = await goodRun();
    const s = tamper(store, dir, (db) => corruptArtifact(db, runReceipt));
    const rep = await verifyRun(s, r.runId);
    expect(rep.problems.map((x) => x.code)).toEqual(["receipt_mismatch"]);
    expect(rep.problems[0]?.message).toContain(`the stored artifact of the run receipt ${runReceipt} cannot be read: `);
  });
});
