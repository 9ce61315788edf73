/**
 * Audit 3, verify: a manifest, slice or records artifact that is missing or malformed is a
 * finding (exit 1), never a crash (E_INTERNAL "m.pulses is not iterable", a thrown E_NOT_FOUND
 * or E_DIGEST_INVALID); forged manifest fields that cost nothing to check are checked
 * (output.records, kind/version, the pulses' order and numbering, the attempt log against the
 * records), and `--reexecute` compares the attempt log it rebuilds.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, type Store } from "../../src/index.js";
import { run, type ExecutionResult } from "../../src/batch/engine.js";
import { replay, verifyRun, type VerifyReport } from "../../src/batch/verify.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { canonicalBytes } from "../../src/core/canonical.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, expectCairnError, manifestOf, pinForgedManifest } from "./fixtures/engine-helpers.js";
import { cairn } from "../cli/helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

// EU v: v % 7 === 3 fails its first attempt, v % 11 === 5 always fails (3 attempts with 2 retries).
const FN = {
  code: [
    "export default (x, ctx) => {",
    "  if (x.v % 7 === 3 && ctx.attempt === 1) throw new Error(`first attempt fails ${x.v}`);",
    "  if (x.v % 11 === 5) throw new Error(`always fails ${x.v}`);",
    "  return { sq: x.v * x.v };",
    "};",
    "",
  ].join("\n"),
  name: "flaky.mjs",
};
const DATA = Array.from({ length: 40 }, (_, v) => ({ v }));
const CONFIG = { partitions: 2, pulseSize: 8, workers: 1, retries: 2, allowFailures: true };

type Pulse = Manifest["pulses"][number];

async function goodRun(): Promise<{ store: Store; dir: string; r: ExecutionResult; m: Manifest }> {
  const { store, dir } = scratch.store();
  const r = await run(store, DATA, FN, CONFIG);
  expect(r.counts).toEqual({ total: 40, completed: 36, failed: 4, retried: 9 });
  expect((await verifyRun(store, r.runId)).problems).toEqual([]);
  return { store, dir, r, m: manifestOf(store, r.runId) };
}

/**
 * Stores `body` (a manifest object, or raw text) and pins it as the run's manifest, re-recording
 * the run receipt for it (an attacker with write access: the run receipt's own check is not what
 * these tests are about); returns its digest.
 */
function repin(store: Store, runId: string, body: unknown): Digest {
  return pinForgedManifest(store, runId, body);
}

const nameOf = (p: Pulse): string => `${p.partition}/${p.index}`;

/** The first pulse with an attempt log entry. */
function retriedPulse(m: Manifest): Pulse {
  const p = m.pulses.find((x) => x.attempts.length > 0);
  if (p === undefined) throw new Error("no pulse has an attempt log");
  return p;
}

describe("a manifest that is not one is manifest_invalid, not a crash", () => {
  const cases: Array<[string, (m: Manifest) => unknown, (m: Manifest) => string]> = [
    ["not JSON", () => "{not json", () => "is not JSON: Expected property name or '}' in JSON at position 1"],
    ["null", () => "null", () => "is not a run manifest: it is not a JSON object"],
    ["without pulses", (m) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== "pulses")), () => "is not a run manifest: it lacks pulses"],
    ["with an extra key", (m) => ({ ...m, forged: true }), () => 'is not a run manifest: it has "forged", which a manifest has not'],
    [
      "with a null pulse",
      (m) => ({ ...m, pulses: [...m.pulses, null] }),
      (m) => `is not a run manifest: pulse ${m.pulses.length} (in manifest order) is not {attempts, checksum, completed, eus, failed, index, partition, receipt, records, slice}`,
    ],
    ["with failures: null", (m) => ({ ...m, failures: null }), () => "is not a run manifest: failures is not an array"],
    ["of another kind", (m) => ({ ...m, kind: "evil", version: 7 }), () => 'is not a run manifest: its kind is "evil", not "cairn.batch.manifest"'],
    ["of another version", (m) => ({ ...m, version: 2 }), () => "is not a run manifest: its version is 2, not 1"],
    ["naming a malformed digest", (m) => ({ ...m, pulses: m.pulses.map((p, i) => (i === 0 ? { ...p, records: "sha256:zz" } : p)) }), () => 'is not a run manifest: pulse 0 (in manifest order): records "sha256:zz" is not a digest'],
    [
      "with a malformed attempt log",
      (m) => ({ ...m, pulses: m.pulses.map((p) => (p === retriedPulse(m) ? { ...p, attempts: [{ id: 3, attempts: 2 }] } : p)) }),
      (m) => `is not a run manifest: pulse ${m.pulses.indexOf(retriedPulse(m))} (in manifest order): an attempt log entry is not {id, attempts, errors: [{code, message}]}`,
    ],
  ];

  it.each(cases)("a manifest %s: verify and --reexecute report it (ok false), replay refuses it with E_STORE_CORRUPT", async (_what, forge, whyOf) => {
    const { store, r, m } = await goodRun();
    const why = whyOf(m);
    const d = repin(store, r.runId, forge(m));
    const expected: VerifyReport = {
      ok: false,
      runId: r.runId,
      manifestDigest: d,
      pulsesChecked: 0,
      recordsChecked: 0,
      pulsesReexecuted: 0,
      reduceRefolded: false,
      problems: [{ code: "manifest_invalid", message: `manifest ${d} ${why}` }],
      unchecked: [],
    };
    expect(await verifyRun(store, r.runId)).toEqual(expected);
    expect(await verifyRun(store, r.runId, { reexecute: true })).toEqual(expected);
    await expectCairnError(replay(store, r.runId, "0/0"), ErrorCode.STORE_CORRUPT, `manifest ${d} ${why}`);
  });

  it("the CLI exits 1 with the report (before: E_INTERNAL \"m.pulses is not iterable\")", async () => {
    const { store, dir, r, m } = await goodRun();
    const d = repin(store, r.runId, Object.fromEntries(Object.entries(m).filter(([k]) => k !== "pulses")));
    store.close();
    for (const extra of [[], ["--reexecute"]]) {
      const p = cairn(["verify", r.runId, "--store", dir, "--json", ...extra], { cwd: dir });
      expect(p.status).toBe(1);
      // The mismatch's error on stderr (E_VERIFY_MISMATCH, test/cli/cli-batch-verify.test.ts), not an E_INTERNAL.
      expect(JSON.parse(p.err)).toEqual({
        error: { code: "E_VERIFY_MISMATCH", message: `run ${r.runId} does not verify: 1 problem (manifest_invalid)`, details: { runId: r.runId, manifestDigest: d, problems: 1, codes: ["manifest_invalid"] } },
      });
      expect(JSON.parse(p.out)).toMatchObject({ ok: false, manifestDigest: d, problems: [{ code: "manifest_invalid", message: `manifest ${d} is not a run manifest: it lacks pulses` }] });
    }
  });
});

describe("missing artifacts under --reexecute are findings", () => {
  it("a tombstoned records artifact: artifact_tampered for its pulse, the other pulses re-executed (before: a thrown E_NOT_FOUND)", async () => {
    const { store, r, m } = await goodRun();
    const victim = m.pulses[3] as Pulse;
    const name = nameOf(victim);
    store.delete(victim.records);
    // Named with the remedy since 2026-11-27 (test/batch/tail-tombstoned-pulse.test.ts); before, the store's bare "not found (deleted: tombstoned)".
    const id = r.runId;
    const why = `is deleted from the store (tombstoned). To store it again, execute its pulse again: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id} (a pulse whose records or attempt log is missing is executed again, the others are reused)`;
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect(rep.ok).toBe(false);
    expect(rep.problems.filter((p) => p.code === "artifact_tampered")).toEqual([
      // One finding: not again as "cannot re-execute: …" (two findings before 2026-11-27).
      { code: "artifact_tampered", pulse: name, message: `pulse ${name}: records ${victim.records} ${why}` },
    ]);
    expect(rep.pulsesReexecuted).toBe(m.pulses.length - 1);
    expect(rep.problems.map((p) => p.code)).not.toContain("reexecution_mismatch");
  });

  it("a tombstoned slice: input_mismatch, also under --reexecute (before: a thrown E_NOT_FOUND; then also artifact_tampered)", async () => {
    const { store, r, m } = await goodRun();
    const victim = m.pulses[0] as Pulse;
    const name = nameOf(victim);
    store.delete(victim.slice);
    // Named with the remedy since 2026-11-27 (test/batch/tail-tombstoned-pulse.test.ts); before, the store's bare "not found (deleted: tombstoned)".
    const id = r.runId;
    const why = `is deleted from the store (tombstoned). To store it again: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id} (resume reads the input again and stores a reused pulse's missing slice again, executing nothing)`;
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect(rep.problems.filter((p) => p.pulse === name)).toEqual([
      { code: "input_mismatch", pulse: name, message: `pulse ${name}: slice ${victim.slice} ${why}` },
    ]);
    expect(rep.pulsesReexecuted).toBe(m.pulses.length - 1);
  });
});

describe("forged manifest fields", () => {
  it("output.records forged to 999 is count_mismatch (before: verified)", async () => {
    const { store, r, m } = await goodRun();
    repin(store, r.runId, { ...m, output: { ...m.output, records: 999 } });
    expect((await verifyRun(store, r.runId)).problems).toEqual([
      { code: "count_mismatch", message: "counts do not add up: 36 completed + 4 failed (records: 4 failed), total 40, records in pulses 40, read 40, output 999, retried 9 (attempt logs: 9)" },
    ]);
  });

  it("a pulse index shifted by 100, or the pulses listed in reverse, is manifest_invalid (before: verified)", async () => {
    const { store, r, m } = await goodRun();
    const p0 = m.pulses[0] as Pulse;
    repin(store, r.runId, { ...m, pulses: m.pulses.map((p) => (p === p0 ? { ...p, index: p.index + 100 } : p)) });
    expect((await verifyRun(store, r.runId)).problems).toEqual([
      { code: "manifest_invalid", pulse: "0/100", message: "pulse 0/100: expected pulse 0/0 here (each partition's pulses are numbered from 0, in order)" },
      { code: "manifest_invalid", pulse: "0/1", message: "pulse 0/1: expected pulse 0/101 here (each partition's pulses are numbered from 0, in order)" },
    ]);
    repin(store, r.runId, { ...m, pulses: [...m.pulses].reverse() });
    const rev = await verifyRun(store, r.runId);
    const last = m.pulses[m.pulses.length - 1] as Pulse;
    const second = m.pulses[m.pulses.length - 2] as Pulse;
    expect(rev.problems[0]).toEqual({ code: "manifest_invalid", pulse: nameOf(last), message: `pulse ${nameOf(last)}: expected pulse ${last.partition}/0 here (each partition's pulses are numbered from 0, in order)` });
    expect(rev.problems[1]).toEqual({ code: "manifest_invalid", pulse: nameOf(second), message: `pulse ${nameOf(second)}: expected pulse ${second.partition}/${last.index + 1} here (each partition's pulses are numbered from 0, in order)` });
    expect(new Set(rev.problems.map((p) => p.code))).toEqual(new Set(["manifest_invalid"]));
  });

  it("a pulse holding more EUs than the pulse size, or in a partition the run does not have, is manifest_invalid", async () => {
    const { store, r, m } = await goodRun();
    const p0 = m.pulses[0] as Pulse;
    repin(store, r.runId, { ...m, pulses: m.pulses.map((p) => (p === p0 ? { ...p, eus: 9 } : p)) });
    expect((await verifyRun(store, r.runId)).problems).toContainEqual({ code: "manifest_invalid", pulse: "0/0", message: "pulse 0/0 has 9 EUs, not 1..8 (the pulse size)" });
    const lastP = m.pulses[m.pulses.length - 1] as Pulse;
    repin(store, r.runId, { ...m, pulses: [...m.pulses, { ...lastP, partition: 2, index: 0 }] });
    expect((await verifyRun(store, r.runId)).problems).toContainEqual({ code: "manifest_invalid", pulse: "2/0", message: "pulse 2/0: partition 2 is not one of the run's 2" });
  });
});

describe("attempt logs", () => {
  /** Replaces pulse `p`'s attempt log by `attempts`: a new attempts artifact and receipt (the old one pruned), the manifest re-pinned. */
  function forgeAttempts(store: Store, runId: string, m: Manifest, p: Pulse, attempts: Pulse["attempts"]): void {
    const old = store.getReceipt(p.receipt);
    expect(old).toBeDefined();
    if (old === undefined) return;
    store.pruneReceipt(p.receipt);
    const log = store.putBytes(canonicalBytes(attempts), { mediaType: "application/vnd.cairn.batch.attempts+json" }).digest;
    const rc = store.recordReceipt({ program: old.program, inputs: old.inputs, params: old.params, outputs: [old.outputs[0] as Digest, log], status: old.status, ...(old.resources === undefined ? {} : { resources: old.resources }) });
    const retried = m.pulses.reduce((n, x) => n + (x === p ? attempts.length : x.attempts.length), 0);
    repin(store, runId, { ...m, counts: { ...m.counts, retried }, pulses: m.pulses.map((x) => (x === p ? { ...x, receipt: rc.digest, attempts } : x)) });
  }

  it("a forged log that does not fit the records (attempts + 5) is count_mismatch in plain verify (before: verified, even with --reexecute)", async () => {
    const { store, r, m } = await goodRun();
    const p = retriedPulse(m);
    const first = p.attempts[0] as Pulse["attempts"][number];
    forgeAttempts(store, r.runId, m, p, p.attempts.map((a) => ({ ...a, attempts: a.attempts + 5 })));
    expect((await verifyRun(store, r.runId)).problems).toEqual([
      { code: "count_mismatch", pulse: nameOf(p), message: `pulse ${nameOf(p)}: its attempt log does not fit its records: EU ${first.id}: ${first.attempts + 5} attempts, not 2..3` },
    ]);
  });

  it.each([
    ["an extra error on a completed EU", (a: Pulse["attempts"][number]) => ({ ...a, errors: [...a.errors, { code: "E_EU_THREW", message: "x" }] }), "completed after 2 attempts but 2 errors are logged"],
    ["a failed EU whose last error is not its record's", (a: Pulse["attempts"][number]) => ({ ...a, errors: a.errors.map((e) => ({ ...e, message: "forged" })) }), "its last logged error is not its failure record's"],
  ])("%s is count_mismatch", async (_what, edit, why) => {
    const { store, r, m } = await goodRun();
    // Pulse 0/0 (EUs of partition 0): its log holds a completed EU (fails once) and a failed one.
    const p = retriedPulse(m);
    const completedEntry = p.attempts.find((a) => a.attempts === 2 && a.errors.length === 1);
    const failedEntry = p.attempts.find((a) => a.attempts === 3);
    expect(completedEntry).toBeDefined();
    expect(failedEntry).toBeDefined();
    const target = why.startsWith("completed") ? completedEntry : failedEntry;
    forgeAttempts(store, r.runId, m, p, p.attempts.map((a) => (a === target ? edit(a) : a)));
    const rep = await verifyRun(store, r.runId);
    expect(rep.problems).toEqual([{ code: "count_mismatch", pulse: nameOf(p), message: `pulse ${nameOf(p)}: its attempt log does not fit its records: EU ${String(target?.id)}: ${why}` }]);
  });

  it("a forged log that fits the records passes plain verify, and --reexecute compares it with the log it rebuilds: reexecution_mismatch (before: verified)", async () => {
    const { store, r, m } = await goodRun();
    const p = retriedPulse(m);
    const entry = p.attempts.find((a) => a.attempts === 2) as Pulse["attempts"][number];
    const forged = p.attempts.map((a) => (a === entry ? { ...a, errors: [{ code: "E_EU_THREW", message: "forged message" }] } : a));
    forgeAttempts(store, r.runId, m, p, forged);
    expect((await verifyRun(store, r.runId)).problems).toEqual([]);
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect(rep.problems).toEqual([
      {
        code: "reexecution_mismatch",
        pulse: nameOf(p),
        message: `pulse ${nameOf(p)}: the attempt log differs on re-execution:\n  stored:      ${JSON.stringify(forged.map((a) => ({ attempts: a.attempts, errors: a.errors, id: a.id })))}\n  re-executed: ${JSON.stringify(p.attempts.map((a) => ({ attempts: a.attempts, errors: a.errors, id: a.id })))}`,
      },
    ]);
    expect(rep.pulsesReexecuted).toBe(m.pulses.length);
  });

  it("an honest run's attempt logs re-execute equal", async () => {
    const { store, r, m } = await goodRun();
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect([rep.ok, rep.problems, rep.pulsesReexecuted]).toEqual([true, [], m.pulses.length]);
  });
});
