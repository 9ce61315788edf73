/**
 * verify and the run's receipts (2026-11-27):
 * - the run receipt recordManifest records is compared with the pinned manifest: its outputs
 *   (the output artifact and the manifest) and its status. A manifest forged and re-pinned
 *   without re-recording the run receipt verified before whenever it changed only what nothing
 *   else re-derives without --reexecute (here: the reduce value, a failure message);
 * - an attempt log over MAX_ATTEMPT_LOG_BYTES is a finding, not read (before: read whole up to
 *   the store's 256 MiB read limit, and one over that ended verify with E_LIMIT_EXCEEDED);
 * - --reexecute reports a deleted records artifact once (before: twice);
 * - a deleted pulse receipt's finding names what to do, and the remedy it names works;
 * - the coverage check turns the store's errors into findings, and rethrows a bug's.
 * 2026-11-28:
 * - --reexecute still reports a pulse whose slice it cannot read when the coverage check read
 *   no slice (the input cannot be read back);
 * - an inline attempt log's stored artifact deleted is that finding with its remedy;
 * - a deleted run receipt artifact, and a manifest pinned in place of the run's, name the
 *   remedy, and it works; a deleted pulse receipt's remedy says when it restores the run.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CairnError, ErrorCode, openStore, type Store } from "../../src/index.js";
import { resume, run } from "../../src/batch/engine.js";
import { MAX_UNREADABLE_LEAF_BYTES, verifyRun, verifyRunCapped, type VerifyProblem } from "../../src/batch/verify.js";
import { checkInputCoverage } from "../../src/batch/verify-input.js";
import { RUN_RECEIPT_KIND, type Manifest } from "../../src/batch/manifest.js";
import { loadPlan } from "../../src/batch/plan.js";
import { canonicalize } from "../../src/core/canonical.js";
import { digestToBytes, sha256, type Digest } from "../../src/core/digest.js";
import { actionKey, type Params } from "../../src/store/receipts.js";
import { Scratch, expectCairnError, fixture, manifestOf, repinManifest, tamperCatalog } from "./fixtures/engine-helpers.js";
import { cairn, json } from "../cli/helpers.js";

const scratch = new Scratch();
const reopened: Store[] = [];
afterAll(() => {
  for (const s of reopened) s.close();
  scratch.cleanup();
});

type Pulse = Manifest["pulses"][number];

/** The remedy a deleted run receipt artifact and a manifest pinned in place of the run's name. */
const RUN_RECEIPT_REMEDY = (id: string): string =>
  `cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id} (resume rebuilds the manifest from the run's committed pulses and records the run receipt again)`;
const nameOf = (p: Pulse): string => `${p.partition}/${p.index}`;

// Odd n fails (allowed) with a long message: failures, and attempt logs over the inline limit.
const FN = {
  code: "export default (x) => { if (x.n % 2 === 1) throw new Error(`odd ${x.n} ${'x'.repeat(200)}`); return x.n * 2; };\nexport const initial = 0;\nexport function reduce(acc, o) { return acc + o; }\n",
  name: "odd.mjs",
};
const DATA = Array.from({ length: 60 }, (_, n) => ({ n }));
const CONFIG = { partitions: 2, pulseSize: 15, workers: 1, maxPulsesInFlight: 1, allowFailures: true };

async function finished(): Promise<{ store: Store; dir: string; id: string; m: Manifest; manifestDigest: Digest; runReceipt: Digest }> {
  const { store, dir } = scratch.store();
  const r = await run(store, DATA, FN, CONFIG);
  const m = manifestOf(store, r.runId);
  const rr = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
  expect(rr?.outputs).toEqual([m.output.artifact, r.manifestDigest]);
  expect((await verifyRun(store, r.runId)).problems).toEqual([]);
  return { store, dir, id: r.runId, m, manifestDigest: r.manifestDigest, runReceipt: (rr as { digest: Digest }).digest };
}

/** Re-records the run receipt with `outputs` and `status` (the old one pruned); returns its digest. */
function rerecord(store: Store, m: Manifest, outputs: Digest[], status: "succeeded" | "failed"): Digest {
  const old = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
  if (old === undefined) throw new Error("no run receipt");
  store.pruneReceipt(old.digest);
  return store.recordReceipt({ program: old.program, inputs: old.inputs, params: old.params, outputs, status }).digest;
}

describe("the run receipt against the pinned manifest", () => {
  it("a manifest forged (reduce value, failure message) and re-pinned without its run receipt is receipt_mismatch naming both manifests; cairn verify exits 1", async () => {
    const { store, dir, id, m, manifestDigest, runReceipt } = await finished();
    expect(m.failures.length).toBeGreaterThan(0);
    const forged = {
      ...m,
      reduce: { value: 1 },
      failures: m.failures.map((f, k) => (k === 0 ? { ...f, message: "a harmless message" } : f)),
    };
    // Linked as a finished run's manifest is, but the run receipt left as the run recorded it.
    const d = repinManifestKeepingReceipt(store, id, forged);
    const want: VerifyProblem = {
      code: "receipt_mismatch",
      message: `the run receipt ${runReceipt} records manifest ${manifestDigest} and output ${m.output.artifact}; the manifest pinned for run ${id} is ${d} (a manifest pinned in place of the one the run recorded). To pin the run's own again: ${RUN_RECEIPT_REMEDY(id)}`,
    };
    const rep = await verifyRun(store, id);
    // The failure message is also the failures list's count_mismatch; the reduce value only the run receipt's.
    expect(rep.problems.filter((p) => p.code === "receipt_mismatch")).toEqual([want]);
    expect(rep.ok).toBe(false);
    // Only the reduce value forged: the run receipt's finding alone (before: verified).
    const d2 = repinManifestKeepingReceipt(store, id, { ...m, reduce: { value: 1 } });
    const rep2 = await verifyRun(store, id);
    expect(rep2.problems).toEqual([{ ...want, message: want.message.replace(d, d2) }]);
    store.close();
    const cli = cairn(["verify", id, "--store", dir, "--json"], { cwd: dir });
    expect(cli.status).toBe(1);
    expect(json<{ problems: VerifyProblem[] }>(cli).problems).toEqual([{ ...want, message: want.message.replace(d, d2) }]);
    expect(JSON.parse(cli.err)).toMatchObject({ error: { code: "E_VERIFY_MISMATCH", message: `run ${id} does not verify: 1 problem (receipt_mismatch)` } });
    // The remedy named: the manifest the run recorded pinned again, and the run verifies.
    const again = openStore({ dir, durability: "normal" });
    try {
      again.unpin(`run:${id}:manifest`);
      again.unpin(`run:${id}:report`);
      expect((await resume(again, id)).manifestDigest).toBe(manifestDigest);
      expect((await verifyRun(again, id, { reexecute: true })).problems).toEqual([]);
    } finally {
      again.close();
    }
  });

  it("with its output changed too, the message names the pinned manifest's output", async () => {
    const { store, id, m, manifestDigest, runReceipt } = await finished();
    const other = store.putBytes(Buffer.from("not the output\n")).digest;
    const d = repinManifestKeepingReceipt(store, id, { ...m, output: { ...m.output, artifact: other } });
    const rep = await verifyRun(store, id);
    expect(rep.problems.filter((p) => p.code === "receipt_mismatch")).toEqual([
      {
        code: "receipt_mismatch",
        message: `the run receipt ${runReceipt} records manifest ${manifestDigest} and output ${m.output.artifact}; the manifest pinned for run ${id} is ${d}, whose output is ${other} (a manifest pinned in place of the one the run recorded). To pin the run's own again: ${RUN_RECEIPT_REMEDY(id)}`,
      },
    ]);
  });

  it("a run receipt re-recorded with another status is receipt_mismatch naming both statuses", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const rr = rerecord(store, m, [m.output.artifact, manifestDigest], "failed");
    const rep = await verifyRun(store, id);
    expect(rep.problems).toEqual([
      {
        code: "receipt_mismatch",
        message: `the run receipt ${rr} records status failed; the manifest ${manifestDigest} pinned for run ${id} gives status succeeded (${m.counts.failed} failed EUs, allowFailures true)`,
      },
    ]);
  });

  it("a run receipt re-recorded with another output beside the pinned manifest is receipt_mismatch", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const other = store.putBytes(Buffer.from("not the output\n")).digest;
    const rr = rerecord(store, m, [other, manifestDigest], "succeeded");
    expect((await verifyRun(store, id)).problems).toEqual([
      {
        code: "receipt_mismatch",
        message: `the run receipt ${rr} records manifest ${manifestDigest}, the one pinned for run ${id}, but the outputs ${other}, ${manifestDigest}, not the manifest's output ${m.output.artifact} and the manifest`,
      },
    ]);
  });

  it("re-pinned with the run receipt re-recorded for it (full write access), the forged reduce value passes plain verify, as documented", async () => {
    const { store, id, m } = await finished();
    repinManifest(store, id, { ...m, reduce: { value: 1 } });
    expect((await verifyRun(store, id)).problems).toEqual([]);
  });
});

/** `repinManifest` without its re-recording of the run receipt: the receipt names the run's own manifest. */
function repinManifestKeepingReceipt(store: Store, id: string, forged: unknown): Digest {
  const m = manifestOf(store, id);
  const rr = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
  if (rr === undefined) throw new Error("no run receipt");
  const d = repinManifest(store, id, forged);
  // Put back the run receipt the run recorded (repinManifest re-recorded it for the forgery).
  const now = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
  if (now !== undefined) store.pruneReceipt(now.digest);
  expect(store.recordReceipt({ program: rr.program, inputs: rr.inputs, params: rr.params, outputs: rr.outputs, status: rr.status }).digest).toBe(rr.digest);
  return d;
}

describe("attempt logs over MAX_ATTEMPT_LOG_BYTES", () => {
  it("are an artifact_tampered finding each, not read, with --reexecute too (before: read whole; over the store's 256 MiB read limit, verify ended with E_LIMIT_EXCEEDED)", async () => {
    const { store, id, m } = await finished();
    const named = m.pulses.filter((p) => p.attemptsArtifact !== undefined);
    expect(named.length).toBeGreaterThan(0);
    const cap = 4096; // every named log is larger (a smaller one is inline)
    const want = named.map((p) => {
      const d = p.attemptsArtifact as Digest;
      const size = store.stat(d).size;
      expect(size).toBeGreaterThan(cap);
      return { code: "artifact_tampered", pulse: nameOf(p), message: `pulse ${nameOf(p)}: attempt log ${d} is ${size} bytes, more than the ${cap} an attempt log is read back (MAX_ATTEMPT_LOG_BYTES): it was not read` };
    });
    for (const reexecute of [false, true]) {
      const rep = await verifyRunCapped(store, id, { reexecute }, MAX_UNREADABLE_LEAF_BYTES, cap);
      expect(rep.problems).toEqual(want);
      expect(rep.pulsesReexecuted).toBe(reexecute ? m.pulses.length - named.length : 0);
    }
    // At the limit, read as before.
    const sizes = named.map((p) => store.stat(p.attemptsArtifact as Digest).size);
    expect((await verifyRunCapped(store, id, {}, MAX_UNREADABLE_LEAF_BYTES, Math.max(...sizes))).problems).toEqual([]);
  });
});

describe("one deleted records artifact under --reexecute", () => {
  it("is one finding (before: a second one, \"cannot re-execute: …\")", async () => {
    const { store, id, m } = await finished();
    const p = m.pulses[2] as Pulse;
    store.delete(p.records);
    const plain = await verifyRun(store, id);
    const rex = await verifyRun(store, id, { reexecute: true });
    expect(plain.problems).toHaveLength(1);
    expect(rex.problems).toEqual(plain.problems);
    expect(rex.pulsesReexecuted).toBe(m.pulses.length - 1);
  });
});

describe("a deleted pulse receipt", () => {
  it("deleted from the catalog: the finding names the remedy (unpin, resume), which records it again", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const p = m.pulses[1] as Pulse;
    const name = nameOf(p);
    store.pruneReceipt(p.receipt);
    const rep = await verifyRun(store, id);
    expect(rep.problems).toEqual([
      {
        code: "receipt_mismatch",
        pulse: name,
        message: `pulse ${name}: receipt ${p.receipt} is not in the store (deleted from its catalog, or never recorded): nothing records that the pulse's records came from its slice. To record it again, execute its pulse again: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id} (resume executes again a pulse whose receipt it does not find, and records its receipt; this restores the run when its pulse gives the same records again)`,
      },
    ]);
    store.unpin(`run:${id}:manifest`);
    store.unpin(`run:${id}:report`);
    expect((await resume(store, id)).manifestDigest).toBe(manifestDigest);
    expect(store.getReceipt(p.receipt).digest).toBe(p.receipt);
    expect((await verifyRun(store, id, { reexecute: true })).problems).toEqual([]);
  });

  it("its stored artifact deleted (cairn store rm): the finding says resume does not store it again (checked) and that the run made into a new store verifies (checked)", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const p = m.pulses[1] as Pulse;
    const name = nameOf(p);
    store.delete(p.receipt);
    const want = {
      code: "receipt_mismatch",
      pulse: name,
      message: `pulse ${name}: the stored artifact of receipt ${p.receipt} is deleted from the store (tombstoned): the catalog still holds the receipt, so resume reuses the pulse and does not store it again; for a run that verifies, run the same cairn run command into a new store (--store <dir>)`,
    };
    expect((await verifyRun(store, id)).problems).toEqual([want]);
    store.unpin(`run:${id}:manifest`);
    store.unpin(`run:${id}:report`);
    expect((await resume(store, id)).manifestDigest).toBe(manifestDigest);
    expect((await verifyRun(store, id)).problems).toEqual([want]);
    const fresh = scratch.store().store;
    const again = await run(fresh, DATA, FN, CONFIG);
    expect([again.runId, again.manifestDigest]).toEqual([id, manifestDigest]);
    expect((await verifyRun(fresh, id)).problems).toEqual([]);
  });
});

describe("the coverage check's slice reads (verify-input.ts)", () => {
  /** `store` with `get` of `slice` throwing `err`. */
  function failingSlice(store: Store, slice: Digest, err: unknown): Store {
    return new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === "get") {
          return (d: Digest) => {
            if (d === slice) throw err;
            return target.get(d);
          };
        }
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  it("a CairnError reading a slice is an input_mismatch finding; any other error (a bug) is thrown (before: a finding)", async () => {
    const { store, m } = await finished();
    const p = m.pulses[0] as Pulse;
    const found: VerifyProblem[] = [];
    const corrupt = new CairnError(ErrorCode.STORE_CORRUPT, `artifact ${p.slice} is corrupt: test`, { digest: p.slice });
    await checkInputCoverage(failingSlice(store, p.slice, corrupt), m, (x) => found.push(x as VerifyProblem));
    expect(found).toEqual([{ code: "input_mismatch", pulse: nameOf(p), message: `pulse ${nameOf(p)}: slice ${p.slice}: artifact ${p.slice} is corrupt: test` }]);
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    await expect(checkInputCoverage(failingSlice(store, p.slice, bug), m, () => undefined)).rejects.toBe(bug);
  });

  it("verify's own read of a slice (after the coverage check's) rethrows a bug's error (before 2026-11-28: swallowed, and the run verified)", async () => {
    const { store, id, m } = await finished();
    const p = m.pulses[0] as Pulse;
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    let reads = 0;
    const second = new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === "get") {
          return (d: Digest) => {
            if (d === p.slice && ++reads === 2) throw bug;
            return target.get(d);
          };
        }
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    await expect(verifyRun(second, id)).rejects.toBe(bug);
    expect(reads).toBe(2);
  });
});

describe("--reexecute and a slice nothing else reported (2026-11-28)", () => {
  it("a files input with a file deleted (the coverage check reads no slice) and another pulse's slice deleted: that pulse is still reported (before: reported nowhere)", async () => {
    const dir = join(scratch.dir(), "in");
    mkdirSync(dir);
    for (let k = 0; k < 8; k++) writeFileSync(join(dir, `f${k}.txt`), "x".repeat(k + 1));
    const { store } = scratch.store();
    const r = await run(store, dir, fixture("engine-bytelen.mjs"), { format: "files", partitions: 1, pulseSize: 2, workers: 1, maxPulsesInFlight: 1 });
    const m = manifestOf(store, r.runId);
    expect(m.pulses.map(nameOf)).toEqual(["0/0", "0/1", "0/2", "0/3"]);
    const input = loadPlan(store, r.runId).plan.input.artifact;
    const listing = JSON.parse(store.get(input).toString("utf8")) as { files: Array<[string, Digest]> };
    const file = (listing.files[0] as [string, Digest])[1];
    const slice = (m.pulses[2] as Pulse).slice;
    store.delete(file);
    store.delete(slice);
    const id = r.runId;
    const unpinResume = `cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id}`;
    const runAgain = "To store it again, run the same cairn run command again (it stores the same input and function bundle before anything else; the run goes on from its committed pulses, or is reported as finished)";
    const rep = await verifyRun(store, id, { reexecute: true });
    expect(rep.problems).toEqual([
      { code: "input_mismatch", message: `the input artifact ${input} cannot be read back: its input file ${file} is deleted from the store (tombstoned). ${runAgain}` },
      { code: "artifact_tampered", pulse: "0/0", message: `pulse 0/0: cannot re-execute: its input file ${file} is deleted from the store (tombstoned). ${runAgain}` },
      {
        code: "artifact_tampered",
        pulse: "0/2",
        message: `pulse 0/2: cannot re-execute: its slice ${slice} is deleted from the store (tombstoned). To store it again: ${unpinResume} (resume reads the input again and stores a reused pulse's missing slice again, executing nothing)`,
      },
    ]);
    expect(rep.pulsesReexecuted).toBe(2);
  });
});

describe("an inline attempt log's stored artifact deleted (2026-11-28)", () => {
  // n % 3 === 0 fails its first attempt: a short attempt log, held inline in the manifest, and
  // stored too as the attempts artifact the pulse receipt records.
  const RETRY = { code: "export default (x, ctx) => { if (x.n % 3 === 0 && ctx.attempt === 1) throw new Error('once'); return x.n; };\n", name: "once.mjs" };
  const ROWS = Array.from({ length: 8 }, (_, n) => ({ n }));
  const CFG = { partitions: 1, pulseSize: 4, retries: 2, workers: 1, maxPulsesInFlight: 1 };

  it("is one artifact_tampered finding naming it and the remedy, plain and --reexecute (before: receipt_mismatch \"… is not the one its receipt records\"); the remedy stores it again", async () => {
    const { store } = scratch.store();
    const r = await run(store, ROWS, RETRY, CFG);
    expect(r.counts.retried).toBeGreaterThan(0);
    const m = manifestOf(store, r.runId);
    const p = m.pulses[0] as Pulse;
    expect(p.attemptsArtifact).toBeUndefined();
    expect(p.attempts.length).toBeGreaterThan(0);
    const log = store.getReceipt(p.receipt).outputs[1] as Digest;
    expect(store.has(log)).toBe(true);
    store.delete(log);
    const id = r.runId;
    const want: VerifyProblem = {
      code: "artifact_tampered",
      pulse: "0/0",
      message: `pulse 0/0: attempt log ${log} is deleted from the store (tombstoned). To store it again, execute its pulse again: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id} (a pulse whose records or attempt log is missing is executed again, the others are reused; its attempt log is stored again only if its failed attempts fail again as they did, not one that failed for a reason that does not repeat, such as a timeout or a worker crash: resume then fails with E_NONDETERMINISTIC, and the run can only be run afresh in a new store)`,
    };
    expect((await verifyRun(store, id)).problems).toEqual([want]);
    expect((await verifyRun(store, id, { reexecute: true })).problems).toEqual([want]);
    store.unpin(`run:${id}:manifest`);
    store.unpin(`run:${id}:report`);
    expect((await resume(store, id)).manifestDigest).toBe(r.manifestDigest);
    expect(store.has(log)).toBe(true);
    expect((await verifyRun(store, id, { reexecute: true })).problems).toEqual([]);
  });
});

describe("the run receipt's stored artifact deleted (2026-11-28)", () => {
  it("names the remedy (unpin both roots, resume), which stores it again (before: the store's bare \"… not found (deleted: tombstoned)\")", async () => {
    const { store, id, manifestDigest, runReceipt } = await finished();
    store.delete(runReceipt);
    expect((await verifyRun(store, id)).problems).toEqual([
      {
        code: "receipt_mismatch",
        message: `the stored artifact of the run receipt ${runReceipt} is deleted from the store (tombstoned). To store it again: ${RUN_RECEIPT_REMEDY(id)}`,
      },
    ]);
    store.unpin(`run:${id}:manifest`);
    store.unpin(`run:${id}:report`);
    expect((await resume(store, id)).manifestDigest).toBe(manifestDigest);
    expect((await verifyRun(store, id, { reexecute: true })).problems).toEqual([]);
  });
});

/**
 * Rewrites the catalog row of receipt `d` with its body edited by `edit`: a forged but
 * self-consistent row (its digest the SHA-256 of the new canonical body, its action key the new
 * body's — unchanged unless `edit` changes program, inputs or params; the store's read checks
 * these, and since 2026-11-28 the body's shape too), and stores the new body as the
 * receipt's artifact too (so that only the body's shape is wrong). Returns the reopened store
 * and the new digest.
 */
function forgeReceiptRow(store: Store, dir: string, d: Digest, edit: (body: Record<string, unknown>) => void): { store: Store; digest: Digest } {
  let text = "";
  const s = tamperCatalog(
    store,
    dir,
    (db) => {
      const row = db.prepare("SELECT body FROM receipts WHERE digest = ?").get(digestToBytes(d)) as { body: string };
      const body = JSON.parse(row.body) as Record<string, unknown>;
      edit(body);
      text = canonicalize(body);
      const key = actionKey(body.program as Digest, body.inputs as Digest[], body.params as Params);
      expect(db.prepare("UPDATE receipts SET body = ?, digest = ?, action_key = ? WHERE digest = ?").run(text, digestToBytes(sha256(text)), digestToBytes(key), digestToBytes(d)).changes).toBe(1);
    },
    reopened,
  );
  const digest = s.putBytes(Buffer.from(text, "utf8")).digest;
  expect(digest).toBe(sha256(text));
  return { store: s, digest };
}

describe("a receipt row forged without what a receipt records (2026-11-28)", () => {
  // Since the store checks a receipt body's shape on load (checkedReceiptBody), such a receipt is
  // E_STORE_CORRUPT, which verify reports as a receipt it cannot read (before, verify's own guard
  // reported "does not record …").
  it("the run receipt without outputs, or with a status that is not a string: receipt_mismatch, not a TypeError (before: \"undefined is not iterable\")", async () => {
    const { store, dir, id, m, runReceipt } = await finished();
    const unreadable = (d: Digest, why: string): VerifyProblem[] => [
      { code: "receipt_mismatch", message: `the run receipt (function ${m.function.artifact} + input ${m.input.artifact}, plan ${m.plan}) cannot be read: receipt ${d} is corrupt: ${why}` },
    ];
    const a = forgeReceiptRow(store, dir, runReceipt, (b) => {
      delete b.outputs;
    });
    const repA = await verifyRun(a.store, id);
    expect(repA.problems).toEqual(unreadable(a.digest, "body has no outputs"));
    expect(repA.ok).toBe(false);
    const b = forgeReceiptRow(a.store, dir, a.digest, (body) => {
      body.outputs = [1, 2];
    });
    expect((await verifyRun(b.store, id)).problems).toEqual(unreadable(b.digest, "body outputs[0] is 1, not a digest"));
    const c = forgeReceiptRow(b.store, dir, b.digest, (body) => {
      body.outputs = [];
      body.status = 0;
    });
    expect((await verifyRun(c.store, id)).problems).toEqual(unreadable(c.digest, 'body status is 0, not "succeeded" or "failed"'));
  });

  it("a pulse receipt without inputs or outputs (named by a manifest re-pinned for it): receipt_mismatch, not a TypeError", async () => {
    const { store, dir, id, m } = await finished();
    const p = m.pulses[1] as Pulse;
    const name = nameOf(p);
    let s = store;
    const forgeries: Array<[string, string, (b: Record<string, unknown>) => void]> = [
      ["inputs", "body inputs is null, not an array of digests", (b) => (b.inputs = null)],
      ["outputs", "body has no outputs", (b) => {
        b.inputs = [p.slice];
        delete b.outputs;
      }],
    ];
    for (const [, why, edit] of forgeries) {
      const f = forgeReceiptRow(s, dir, (manifestOf(s, id).pulses[1] as Pulse).receipt, edit);
      s = f.store;
      const cur = manifestOf(f.store, id);
      repinManifest(f.store, id, { ...cur, pulses: cur.pulses.map((q, k) => (k === 1 ? { ...q, receipt: f.digest } : q)) });
      const rep = await verifyRun(f.store, id);
      expect(rep.problems.filter((x) => x.code === "receipt_mismatch")).toEqual([
        { code: "receipt_mismatch", pulse: name, message: `pulse ${name}: receipt ${f.digest} cannot be read: receipt ${f.digest} is corrupt: ${why}` },
      ]);
      expect(rep.ok).toBe(false);
    }
  });
});

describe("a run receipt re-recorded naming no manifest of the run (2026-11-28)", () => {
  it("naming the plan, or a digest not in the store: receipt_mismatch without the unpin remedy (following it would unpin the run's genuine manifest, and resume fail with E_CONFLICT)", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const plan = loadPlan(store, id).planDigest;
    const suspect = `so it is itself suspect (re-recorded or forged in the catalog) and no remedy unpins the pinned manifest: compare the pinned manifest with the run's own records; cairn verify ${id} --reexecute re-derives its outputs`;
    const rr = rerecord(store, m, [m.output.artifact, plan], "succeeded");
    const want = (r: Digest, named: Digest, why: string): VerifyProblem => ({
      code: "receipt_mismatch",
      message: `the run receipt ${r} records manifest ${named} and output ${m.output.artifact}; the manifest pinned for run ${id} is ${manifestDigest}; the run receipt names no manifest of run ${id} (${why}), ${suspect}`,
    });
    const rep = await verifyRun(store, id);
    expect(rep.problems).toEqual([want(rr, plan, `${plan} is not a run manifest: it lacks counts, failures, output, plan, pulses, reduce, runId, version`)]);
    expect(rep.problems[0]?.message).not.toContain("unpin run:");
    // An artifact deleted from the store (one never stored cannot be recorded).
    const gone = store.putBytes(Buffer.from("no manifest\n")).digest;
    const rr2 = rerecord(store, m, [m.output.artifact, gone], "succeeded");
    store.delete(gone);
    expect((await verifyRun(store, id)).problems).toEqual([want(rr2, gone, `${gone} is deleted from the store (tombstoned)`)]);
    // What the remedy would have done: the run's genuine manifest unpinned, and resume refused.
    store.unpin(`run:${id}:manifest`);
    store.unpin(`run:${id}:report`);
    await expectCairnError(resume(store, id), ErrorCode.CONFLICT);
  });
});
