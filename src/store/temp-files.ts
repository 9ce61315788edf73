/**
 * Temp files of atomic writes (temp file beside the target, renamed over it): ONE naming rule
 * and ONE test of whether a leftover temp file's writer is provably gone, shared by every site
 * that writes such files and sweeps them — `--out` files (out-file.ts), the store's `FORMAT`
 * (fsutil.ts `writeFileAtomicSync`, swept by artifact-recovery.ts `recoverArtifacts`), `Store.getToFile`'s
 * copies (artifact-reads.ts: `<dest>.`, swept by the next copy to that destination), the data root's
 * mutable documents (workflow/effects/fsio.ts) and trace directories (workflow/pgs/trace.ts).
 * ARCHITECTURE.md §5.16 describes the rule.
 *
 * Name: `<prefix><pid>-<pid space>-<16 hex>.tmp` — the site's own prefix (it keeps each site's
 * file and location), the writer's pid (decimal, no leading zero, 1..MAX_WRITER_PID), the tag
 * of the space that pid is meaningful in (`pidSpace`, 8 hex digits) and 16 random hex digits.
 * A prefix over MAX_TEMP_PREFIX_BYTES (200) is cut and hashed (`boundedTempPrefix`), so the temp
 * name of a file whose own name is near the 255-byte limit still fits. A writer that cannot tell
 * its pid space names its temp file `<prefix><16 hex>.tmp`: no pid, never swept by anyone.
 *
 * Dead writer (`writerIsGone`): the name carries this process's pid space and a pid that is not
 * this process's and that no process has (`processRuns`). A temp of another pid space (another
 * container or host sharing the directory, or from before a reboot) is never removed: its pid
 * says nothing here. Names without a tag (`TempWriter.space` null) come from older builds:
 * a site that swept such names by their pid alone before still does (the data root's
 * documents, `FORMAT`); the others (`--out`, trace directories, `getToFile`) leave them alone.
 *
 * Temp files not yet renamed into place (`--out` / `-o`, out-file.ts) and scratch files named
 * by the same rule (`cairn verify`'s SQLite databases in the OS temp directory,
 * batch/verify-input.ts), and a batch run's scratch files in the store's `tmp/` (ordering index,
 * leaf spill, failures temp file) and a streamed put's `.part` (artifacts.ts) are registered
 * while they exist (`trackExitTemp`): removed at process exit and by the signal handler of the
 * CLI commands that end through `exitOnSignal` (`removeExitTemps`), since a signal's default
 * action runs no `finally`.
 */
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

/** Hex digits of a pid space's tag. */
export const PID_SPACE_HEX = 8;
/** Hex digits of the random part of a temp file's name. */
export const TEMP_RANDOM_HEX = 16;
/** Largest pid a temp file's name can carry (`pid_t` is a signed 32-bit integer); a larger number is not a temp name. */
export const MAX_WRITER_PID = 2 ** 31 - 1;
/** How every temp file's name ends. */
export const TEMP_SUFFIX = ".tmp";

/** What follows the prefix in a tagged name: pid, pid space, random part. */
const TAGGED_RE = new RegExp(`^([1-9][0-9]*)-([0-9a-f]{${PID_SPACE_HEX}})-[0-9a-f]{${TEMP_RANDOM_HEX}}\\.tmp$`);

let pidSpaceTag: string | null | undefined;

/**
 * A tag of the space this process's pid is meaningful in: on Linux the boot (its boot_id) and the
 * pid namespace (`/proc/self/ns/pid`), elsewhere the host name (one pid space per host). A temp
 * file of a writer in another container, on another host sharing the directory, or from before a
 * reboot carries another tag, and its pid says nothing here. Null when it cannot be told (Linux
 * without a readable /proc): temp files are then named without a pid and no tagged name is removed.
 */
export function pidSpace(): string | null {
  if (pidSpaceTag !== undefined) return pidSpaceTag;
  let id: string;
  try {
    id =
      process.platform === "linux"
        ? `linux\n${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}\n${readlinkSync("/proc/self/ns/pid")}`
        : `${process.platform}\n${hostname()}`;
  } catch {
    pidSpaceTag = null;
    return null;
  }
  pidSpaceTag = createHash("sha256").update(id).digest("hex").slice(0, PID_SPACE_HEX);
  return pidSpaceTag;
}

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The temp name with `prefix` for writer `pid` of pid space `space` (null: unknown, the name then
 * has no pid) and the random part `random` (TEMP_RANDOM_HEX hex digits).
 */
export function writerTempName(prefix: string, pid: number, space: string | null, random: string): string {
  const cut = prefix.lastIndexOf("/") + 1; // a prefix may start with the directory: only the name is bounded
  const p = prefix.slice(0, cut) + boundedTempPrefix(prefix.slice(cut));
  return space === null ? `${p}${random}${TEMP_SUFFIX}` : `${p}${pid}-${space}-${random}${TEMP_SUFFIX}`;
}

/**
 * Most UTF-8 bytes of the name prefix a temp file's name keeps (`boundedTempPrefix`): a name is
 * at most 255 bytes on common file systems, and the tagged part after the prefix
 * (`<pid>-<space>-<16 hex>.tmp`) takes at most 40.
 */
export const MAX_TEMP_PREFIX_BYTES = 200;
/** Bytes of a long prefix kept before its hash (`boundedTempPrefix`). */
const LONG_PREFIX_KEPT_BYTES = 160;

/**
 * A temp file's name prefix (a file name, no directory) as names carry it: unchanged up to
 * MAX_TEMP_PREFIX_BYTES, else its first LONG_PREFIX_KEPT_BYTES bytes (whole characters) + `~` +
 * 16 hex digits of its SHA-256 + `.`. So the temp name of a file whose own name is near the
 * 255-byte limit still fits (the temp's name would otherwise be too long to create, whatever the
 * pid), and a sweep that names the same prefix finds it (`taggedTempWriter` bounds it the same way).
 */
export function boundedTempPrefix(prefix: string): string {
  if (Buffer.byteLength(prefix, "utf8") <= MAX_TEMP_PREFIX_BYTES) return prefix;
  let kept = "";
  let bytes = 0;
  for (const ch of prefix) {
    const n = Buffer.byteLength(ch, "utf8");
    if (bytes + n > LONG_PREFIX_KEPT_BYTES) break;
    kept += ch;
    bytes += n;
  }
  return `${kept}~${createHash("sha256").update(prefix, "utf8").digest("hex").slice(0, 16)}.`;
}

/** The name of a new temp file of this process with `prefix` (which may include a directory): see the module comment. */
export function tempFileName(prefix: string): string {
  return writerTempName(prefix, process.pid, pidSpace(), randomBytes(TEMP_RANDOM_HEX / 2).toString("hex"));
}

/** The writer a temp file's name names: its pid, and its pid space (null: a legacy name without one). */
export interface TempWriter {
  pid: number;
  space: string | null;
}

/** The writer of `name` when it is exactly a tagged temp name with `prefix` (`tempFileName`; a long prefix bounded, `boundedTempPrefix`), else undefined. */
export function taggedTempWriter(name: string, prefix: string): TempWriter | undefined {
  const p = boundedTempPrefix(prefix);
  if (!name.startsWith(p)) return undefined;
  const m = TAGGED_RE.exec(name.slice(p.length));
  if (m === null) return undefined;
  const pid = Number(m[1]);
  return pid <= MAX_WRITER_PID ? { pid, space: m[2] as string } : undefined;
}

/**
 * The writer of a legacy (pid-only) name when `pidText` is a pid as older builds wrote it
 * (decimal, no leading zero, 1..MAX_WRITER_PID), else undefined.
 */
export function legacyTempWriter(pidText: string): TempWriter | undefined {
  if (!/^[1-9][0-9]*$/.test(pidText)) return undefined;
  const pid = Number(pidText);
  return pid <= MAX_WRITER_PID ? { pid, space: null } : undefined;
}

/**
 * Whether the writer of a temp file is provably gone (its temp file may be removed): not this
 * process, no process with its pid runs here, and — for a tagged name — its pid space is this
 * process's (a pid of another space says nothing here; an unknown own space removes nothing
 * tagged). A legacy name (space null) is judged by its pid alone, the rule of the older builds
 * (only the sites that swept such names before ask: see the module comment).
 */
export function writerIsGone(w: TempWriter): boolean {
  if (w.space !== null && w.space !== pidSpace()) return false;
  return w.pid !== process.pid && !processRuns(w.pid);
}

/**
 * Removes from `dir` the regular files that `writerOf` takes for temp files (a writer) and whose
 * writer is gone (`writerIsGone`); everything else is left alone. Best effort: a directory that
 * cannot be listed, or a file that cannot be removed, is skipped. Lists the directory with one
 * `readdirSync` (an `opendirSync` walk cost ~10 µs more per call in Node 20 — its `Dir` object
 * promisifies its methods — on the path of every workflow run that writes a document or re-runs
 * a trace id; the directories swept hold a document's or a trace's files, or the OS temp
 * directory). Returns the names removed.
 */
export function sweepDeadWriterTemps(dir: string, writerOf: (name: string) => TempWriter | undefined): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const w = writerOf(name);
    if (w === undefined || !writerIsGone(w)) continue;
    const path = join(dir, name);
    try {
      if (!lstatSync(path).isFile()) continue; // a directory, symlink, FIFO… of that name is not a temp file
      unlinkSync(path);
      removed.push(name);
    } catch {
      // gone already, or not removable: left as it is
    }
  }
  return removed;
}

/** Scratch paths this process is using (`trackExitTemp`): removed at exit and on a signal. */
const exitTemps = new Set<string>();
let exitTempsHooked = false;

/**
 * Registers `path` (a scratch file this process creates, or is about to create: register it
 * first, so an interruption while it is created still removes it) to be removed at process exit
 * and by `removeExitTemps` (the CLI's signal handler, cli/signals.ts). `untrackExitTemp` once
 * the owner has removed it.
 */
export function trackExitTemp(path: string): void {
  if (!exitTempsHooked) {
    exitTempsHooked = true;
    process.on("exit", removeExitTemps);
  }
  exitTemps.add(path);
}

/** Forgets `path` (its owner removed it). */
export function untrackExitTemp(path: string): void {
  exitTemps.delete(path);
}

/** Removes every registered scratch path (synchronously: also from a signal handler); one already gone is skipped. */
export function removeExitTemps(): void {
  for (const p of exitTemps) {
    try {
      unlinkSync(p);
    } catch {
      // already gone, or not removable
    }
  }
  exitTemps.clear();
}
