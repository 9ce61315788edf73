/**
 * Naming the data-root files a run could not use because they end in a torn line (jsonl.ts: an
 * interrupted append), with the operator command that repairs each. The registry refuses such a
 * file with a bare BACKEND_ERROR under the reference dialect (as SEMANTICS C.2 returns it: no
 * message in the result or the trace), so the callers — `cairn wf run` and `cairn serve` — name
 * the file and its repair themselves. For hints only, never a decision: a file that cannot be
 * read is simply not named.
 */
import { shellWord } from "../../core/shell-word.js";
import { REPAIR_TAIL_COMMAND, tornTailOf, tornTailWhat } from "./jsonl.js";

/** A data-root file a run's BACKEND_ERROR call read that ends in a torn line. */
export interface TornFile {
  /** Relative to the data root. */
  path: string;
  /** Length of the file's last complete line's end (what the repair truncates to). */
  offset: number;
  /** Bytes after `offset` without a newline. */
  bytes: number;
  /** Present (true) when those bytes are a complete record missing only its newline (the repair adds it; jsonl.ts `TornTail`). */
  complete?: boolean;
}

/** The effect calls of a run, as far as this module reads them (pgs/engine.ts `EffectCall`). */
interface CallOnFile {
  readonly status: string;
  readonly file?: { readonly path: string };
}

/**
 * The files the run's BACKEND_ERROR calls read that end in a torn line, each once, in call
 * order. To be looked at while the data root's lock is still held where possible: a file
 * repaired in between (repair-tail takes the lock) is then simply not named.
 */
export function tornFilesOf(effects: readonly CallOnFile[], dataRoot: string): TornFile[] {
  const seen = new Set<string>();
  const torn: TornFile[] = [];
  for (const e of effects) {
    const path = e.file?.path;
    if (e.status !== "BACKEND_ERROR" || path === undefined || seen.has(path)) continue;
    seen.add(path);
    const t = tornTailOf(dataRoot, path);
    if (t !== undefined) torn.push({ path, offset: t.offset, bytes: t.bytes, ...(t.complete ? { complete: true } : {}) });
  }
  return torn;
}

/** The repair command line for a torn file (the data root as the user gave it). */
export function repairCommandFor(dataRootShown: string, path: string): string {
    // `--` first when the path could be read as an option.
  return `${REPAIR_TAIL_COMMAND} --data-root ${shellWord(dataRootShown)} ${path.startsWith("-") ? "-- " : ""}${shellWord(path)}`;
}

/** The human note naming a torn file and its repair. */
export function tornFileNote(t: TornFile, dataRootShown: string): string {
  return `note: ${JSON.stringify(t.path)} ends in a torn line (${tornTailWhat(t)}): runs refuse it until it is repaired with: ${repairCommandFor(dataRootShown, t.path)}`;
}
