/**
 * verify, against the run's plan and input: the manifest must describe the pinned plan (run id,
 * plan digest, engine, config, input, function), and the pulses' slices must hold exactly the
 * records of the input artifact — every record once, with the input the reader gives for it,
 * in the partition its id hashes to. Without this a manifest rebuilt without some pulses (and
 * its counts and output recomputed to match) would verify: it is self-consistent.
 *
 * The input's records are keyed in a temporary SQLite database in the OS temp directory (id →
 * SHA-256 of its slice entry), so memory does not grow with the input.
 *
 * Verify's scratch databases (this one, and the ordering index of verify.ts) are named by the
 * shared temp-file rule (store/temp-files.ts, ARCHITECTURE §5.16): `cairn-verify-input-` and
 * `cairn-verify-order-` + `<pid>-<pid space>-<16 hex>.tmp` in the OS temp directory. While one
 * exists it is registered (`trackExitTemp`), so the CLI's signal handler (^C, SIGTERM, SIGHUP)
 * and process exit remove it; a SIGKILLed verify's are removed by the next verify
 * (`sweepVerifyScratch`) once their writer provably no longer runs.
 */
import type Database from "better-sqlite3";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canonicalize } from "../core/canonical.js";
import { sha256, type Digest } from "../core/digest.js";
import { ErrorCode, isCairnError } from "../core/errors.js";
import { tempDirError } from "../core/temp-dir-error.js";
import type { Store } from "../store/store.js";
import { sweepDeadWriterTemps, taggedTempWriter, tempFileName, trackExitTemp, untrackExitTemp, type TempWriter } from "../store/temp-files.js";
import { canonicalText } from "./canonical-text.js";
import { storedRecordBatches } from "./ingest.js";
import type { EUId, InputFormat } from "./input/types.js";
import type { Manifest } from "./manifest.js";
import { partitionOf } from "./partition.js";
import { loadPlan, lostRunArtifactFinding, type RunPlan } from "./plan.js";
import type { RunConfig } from "./config.js";
import { openScratchDatabase } from "./order-index.js";
import { sliceEntryText } from "./pulse.js";
import type { AbortPoint } from "./abort.js";

export type CoverageProblem = { code: "plan_mismatch" | "input_mismatch"; message: string; pulse?: string };

/** Page cache of the scratch database (KiB). */
const COVERAGE_CACHE_KIB = 4 * 1024;
/** Input records inserted per transaction. */
const COVERAGE_BATCH_ROWS = 4096;

/** Prefix of the input-coverage scratch database's name (temp-files.ts `tempFileName`). */
export const VERIFY_INPUT_TEMP_PREFIX = "cairn-verify-input-";
/** Prefix of verify's ordering index's name (temp-files.ts `tempFileName`). */
export const VERIFY_ORDER_TEMP_PREFIX = "cairn-verify-order-";
/** The side files SQLite may put beside a database (none with the journal in memory, order-index.ts `openScratchDatabase`; older builds made a `-journal`). */
const SQLITE_SIDE_SUFFIXES = ["", "-journal"] as const;

/**
 * A new scratch database path in the OS temp directory, `<prefix><pid>-<pid space>-<16 hex>.tmp`
 * (temp-files.ts), registered with its journal for removal at exit and on a signal
 * (`trackExitTemp`) before it exists. `removeScratch` removes and forgets it.
 */
export function scratchPath(prefix: string): string {
  const path = join(tmpdir(), tempFileName(prefix));
  for (const s of SQLITE_SIDE_SUFFIXES) trackExitTemp(`${path}${s}`);
  return path;
}

/**
 * Removes a scratch database made by `scratchPath` (and its journal) and forgets it. Best effort:
 * a path that cannot be removed (a TMPDIR that is a file, ENOTDIR) stays registered for the exit
 * hooks and never hides verify's own result or error.
 */
export function removeScratch(path: string): void {
  for (const s of SQLITE_SIDE_SUFFIXES) {
    try {
      rmSync(`${path}${s}`, { force: true });
    } catch {
      continue; // left registered: the exit hooks try again
    }
    untrackExitTemp(`${path}${s}`);
  }
}

/** An error of the SQLite driver (better-sqlite3's SqliteError: disk full, I/O error…). */
export function isSqliteError(err: unknown): boolean {
  return err instanceof Error && err.name === "SqliteError";
}

/**
 * E_STORE_IO for a verify scratch database that cannot be created or written in the OS temp
 * directory (TMPDIR missing, a file, not writable, full): it names the path and TMPDIR, as the
 * data-root lock does for its directory, never the driver's bare TypeError or SqliteError
 * (E_INTERNAL). A CairnError is returned as it is.
 */
export function scratchError(path: string, err: unknown): unknown {
  if (isCairnError(err) || !(err instanceof Error)) return err;
  return tempDirError("verify cannot use its scratch database", path, err);
}

/**
 * The writer of a verify scratch file: a tagged name of one of the two prefixes exactly
 * (temp-files.ts `taggedTempWriter`), or its `-journal`; undefined for every other name (the
 * names of builds before 2026-11-26, `cairn-verify-input-<runId>-<8 hex>.sqlite` and
 * `cairn-verify-<runId>-<8 hex>.order.sqlite`, carry no pid: never removed).
 */
function verifyScratchWriter(name: string): TempWriter | undefined {
  const base = name.endsWith("-journal") ? name.slice(0, -"-journal".length) : name;
  return taggedTempWriter(base, VERIFY_INPUT_TEMP_PREFIX) ?? taggedTempWriter(base, VERIFY_ORDER_TEMP_PREFIX);
}

/**
 * Removes from the OS temp directory the verify scratch files whose writer provably no longer
 * runs (a SIGKILLed verify's): the shared rule (temp-files.ts `writerIsGone`: this process's pid
 * space, a pid no process has); a live writer's, another pid space's and every other name are
 * left alone. Best effort. Returns the names removed.
 */
export function sweepVerifyScratch(): string[] {
  return sweepDeadWriterTemps(tmpdir(), verifyScratchWriter);
}

/**
 * Whether `err` is `sliceEntries`' refusal of bytes that are not a slice (not JSON, not
 * canonical, not a slice, an entry without a valid id): JSON.parse's SyntaxError, canonicalize's
 * E_CANONICAL or its own plain Error — not a bug's error (a TypeError).
 */
export function isSliceShapeError(err: unknown): boolean {
  return err instanceof SyntaxError || isCairnError(err, ErrorCode.CANONICAL) || (err instanceof Error && Object.getPrototypeOf(err) === Error.prototype);
}

/** A slice artifact's entries; throws (isSliceShapeError) unless it is a canonical slice whose entries have ids. */
export function sliceEntries(bytes: Buffer): ReadonlyArray<{ id: EUId }> {
  const text = bytes.toString("utf8");
  const body = JSON.parse(text) as unknown;
  if (canonicalize(body) !== text) throw new Error("not a canonical slice");
  const eus = (body as { kind?: unknown; eus?: unknown } | null)?.eus;
  if ((body as { kind?: unknown } | null)?.kind !== "cairn.batch.slice" || !Array.isArray(eus)) throw new Error("not a slice");
  for (const e of eus as unknown[]) {
    const id = (e as { id?: unknown } | null)?.id;
    if (typeof id !== "string" && !Number.isSafeInteger(id)) throw new Error("a slice entry without a valid id");
  }
  return eus as Array<{ id: EUId }>;
}

/**
 * The manifest against the pinned plan of `runId`, the run being verified. Returns the plan
 * (bound to the run id by its hash, so its config is the run's, whatever the manifest says),
 * or undefined when it cannot be read (reported).
 */
export function checkPlan(store: Store, runId: string, m: Manifest, add: (p: CoverageProblem) => void): RunPlan | undefined {
  let pinned: ReturnType<typeof loadPlan>;
  try {
    pinned = loadPlan(store, runId);
  } catch (err) {
    // A plan that is not JSON is as unreadable as one that does not verify.
    if (!isCairnError(err) && !(err instanceof SyntaxError)) throw err;
    add({ code: "plan_mismatch", message: `the plan of run ${runId} cannot be read: ${err.message}` });
    return undefined;
  }
  const { plan, planDigest } = pinned;
  const differs: string[] = [];
  if (m.plan !== planDigest) differs.push(`plan ${m.plan} (pinned: ${planDigest})`);
  const same = (a: unknown, b: unknown): boolean => canonicalize(a) === canonicalize(b);
  if (!same(m.engine, plan.engine)) differs.push("engine");
  if (!same(m.config, plan.config)) differs.push("config");
  if (m.input.artifact !== plan.input.artifact || m.input.format !== plan.input.format) differs.push("input");
  if (m.function.artifact !== plan.function.artifact) differs.push("function");
  if (differs.length > 0) add({ code: "plan_mismatch", message: `the manifest differs from the run's pinned plan ${planDigest} in: ${differs.join(", ")}` });
  return plan;
}

/**
 * Every input record in exactly one pulse slice, with its input and partition (`cfg`: the run's
 * config, the plan's when it reads back), and each partition's EUs in read order across its
 * pulses — except in the partitions of `misnumbered`, whose pulses are already reported as
 * listed or numbered out of order. A slice, or a file of the input (`ownInput`: the manifest
 * names the pinned plan's input), that the store knows but cannot return (tombstoned, collected)
 * is named as run `runId`'s with its remedy (plan.ts `lostRunArtifactFinding`), in the same finding.
 * Returns the slices it reported as unreadable: none when the input cannot be read back (it
 * reads no slice then), so that verify's `--reexecute` still reports a pulse whose slice it
 * cannot read (verify.ts `verifyRunCapped`). `stop` (verify's signal) is checked between batches
 * of input records and between slices: its E_INTERRUPTED is thrown, the scratch database removed.
 */
export async function checkInputCoverage(
  store: Store,
  m: Manifest,
  add: (p: CoverageProblem) => void,
  cfg: RunConfig = m.config,
  misnumbered: ReadonlySet<number> = new Set(),
  runId: string = m.runId,
  ownInput = false,
  stop?: AbortPoint,
): Promise<Set<Digest>> {
  /** The slices reported here as unreadable (none when the input cannot be read back: no slice is read then). */
  const unreadableSlices = new Set<Digest>();
  const path = scratchPath(VERIFY_INPUT_TEMP_PREFIX);
  let db: Database.Database;
  try {
    db = openScratchDatabase(path, COVERAGE_CACHE_KIB);
  } catch (err) {
    removeScratch(path);
    throw scratchError(path, err);
  }
  try {
    // pos: the record's position in read order (the first one's, for an id read twice).
    db.exec("CREATE TABLE eus (id TEXT PRIMARY KEY, entry BLOB NOT NULL, pos INTEGER NOT NULL, seen INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID");
    const insert = db.prepare("INSERT OR IGNORE INTO eus(id, entry, pos) VALUES (?, ?, ?)");
    const find = db.prepare("SELECT entry, pos, seen FROM eus WHERE id = ?");
    const mark = db.prepare("UPDATE eus SET seen = 1 WHERE id = ?");

    let read = 0;
    let rows: Array<[string, Buffer, number]> = [];
    const flush = db.transaction((batch: Array<[string, Buffer, number]>) => {
      for (const [id, entry, pos] of batch) if (insert.run(id, entry, pos).changes === 0) add({ code: "input_mismatch", message: `the input holds EU id ${id} twice` });
    });
    try {
      // Duplicate keys allowed: verify checks the run against the input it read, whatever rule of
      // today's engine (a run made before duplicate keys were refused verifies as it was made).
      const input = { artifact: m.input.artifact, format: m.input.format as InputFormat, source: `input ${m.input.artifact}` };
      for await (const batch of storedRecordBatches(store, input, cfg.idField, undefined, undefined, true)) {
        if (stop?.due() === true) await stop.pause();
        for (const r of batch) {
          const entry = Buffer.isBuffer(r.input) ? sliceEntryText(r.id, { artifact: sha256(r.input) }) : sliceEntryText(r.id, { json: r.inputJson ?? canonicalText(r.input) });
          rows.push([canonicalText(r.id), Buffer.from(sha256(entry).slice(7), "hex"), read]);
          read++;
          if (rows.length >= COVERAGE_BATCH_ROWS) {
            flush(rows);
            rows = [];
          }
        }
      }
    } catch (err) {
      if (!isCairnError(err) || err.code === ErrorCode.INTERRUPTED) throw err; // an abort is verify's error, not a finding
      const inputFile = (d: string): "input file" | undefined => (ownInput && d !== m.input.artifact ? "input file" : undefined);
      add({ code: "input_mismatch", message: lostRunArtifactFinding(store, runId, err, `the input artifact ${m.input.artifact} cannot be read back`, inputFile) });
      return unreadableSlices;
    }
    flush(rows);
    if (read !== m.input.records) add({ code: "input_mismatch", message: `the input artifact holds ${read} records, the manifest says ${m.input.records}` });

    // A partition's pulses, in index order, hold its EUs in read order (§10.5: records join
    // their partition's buffer as they are read, and its pulses are numbered as they are cut):
    // the position of the last EU seen in each partition, and the first EU out of that order.
    const lastPos = new Map<number, { pos: number; id: string }>();
    const misordered = new Set<number>();
    const checkSlice = db.transaction((name: string, partition: number, entries: ReadonlyArray<{ id: EUId }>) => {
      for (const e of entries) {
        const id = canonicalText(e.id);
        const row = find.get(id) as { entry: Buffer; pos: number; seen: number } | undefined;
        if (row !== undefined && row.seen === 0) {
          const last = lastPos.get(partition);
          if (last !== undefined && row.pos <= last.pos && !misordered.has(partition) && !misnumbered.has(partition)) {
            misordered.add(partition); // the first one per partition
            add({ code: "input_mismatch", pulse: name, message: `pulse ${name} holds EU id ${id} (record ${row.pos} of the input) after EU id ${last.id} (record ${last.pos}): a partition's pulses hold its EUs in read order` });
          }
          lastPos.set(partition, { pos: row.pos, id });
        }
        if (row === undefined) add({ code: "input_mismatch", pulse: name, message: `pulse ${name} holds EU id ${id}, which is not in the input` });
        else if (row.seen !== 0) add({ code: "input_mismatch", pulse: name, message: `EU id ${id} is in more than one pulse (again in ${name})` });
        else if (!row.entry.equals(Buffer.from(sha256(canonicalize(e)).slice(7), "hex"))) add({ code: "input_mismatch", pulse: name, message: `pulse ${name}: the input of EU id ${id} differs from the input artifact's` });
        if (row !== undefined) mark.run(id);
        if (partitionOf(e.id, cfg.partitions) !== partition) add({ code: "input_mismatch", pulse: name, message: `pulse ${name} holds EU id ${id}, which belongs to partition ${partitionOf(e.id, cfg.partitions)}` });
      }
    });
    // In (partition, index) order whatever the manifest's listing order (a listing out of order
    // is manifest_invalid, checkPulseLayout), so that only the EUs' order is judged here.
    // EUs the manifest puts in pulses whose slice cannot be read (each already a finding): the
    // input records not seen in a readable slice may be theirs, so only more than that is missing.
    let unreadableEus = 0;
    for (const p of [...m.pulses].sort((a, b) => a.partition - b.partition || a.index - b.index)) {
      if (stop?.due() === true) await stop.pause();
      const name = `${p.partition}/${p.index}`;
      let entries: ReadonlyArray<{ id: EUId }>;
      try {
        entries = sliceEntries(store.get(p.slice));
      } catch (err) {
        // The store's errors (a slice deleted, corrupt, malformed) and sliceEntries' own (bytes
        // that are not a slice) are findings; anything else (a bug: a TypeError) is thrown.
        if (!isCairnError(err) && !isSliceShapeError(err)) throw err;
        const what = `pulse ${name}: slice ${p.slice}`;
        add({ code: "input_mismatch", pulse: name, message: isCairnError(err) ? lostRunArtifactFinding(store, runId, err, what, (d) => (d === p.slice ? "slice" : undefined)) : `${what}: ${(err as Error).message}` });
        unreadableSlices.add(p.slice);
        unreadableEus += Number.isSafeInteger(p.eus) && p.eus > 0 ? p.eus : 0;
        continue;
      }
      checkSlice(name, p.partition, entries);
    }
    const missing = db.prepare("SELECT count(*) AS n, min(id) AS first FROM eus WHERE seen = 0").get() as { n: number; first: string | null };
    if (missing.n > unreadableEus) {
      const beyond = unreadableEus === 0 ? "" : ` (beyond the ${unreadableEus} the manifest puts in the pulses whose slices cannot be read)`;
      add({ code: "input_mismatch", message: `${missing.n} input record(s) are in no pulse${beyond} (e.g. EU id ${missing.first})` });
    }
    return unreadableSlices;
  } catch (err) {
    throw isSqliteError(err) ? scratchError(path, err) : err; // a full or vanished TMPDIR
  } finally {
    db.close();
    removeScratch(path);
  }
}
