/**
 * The main thread's V8 heap has no limit of Cairn's choosing: Node sizes it, and V8 lets the
 * old generation fill with garbage before it collects (in a 10^7-EU run the main heap held
 * ~30 MiB of live data in up to ~140 MiB). The worker heaps are capped by `resourceLimits`;
 * this guard covers the main thread. The engine samples the process RSS (every
 * RSS_SAMPLE_MS) and, when it is above HEAP_GUARD_SHARE of `--max-memory`, forces a full
 * garbage collection, at most once every HEAP_GUARD_MIN_INTERVAL_MS.
 *
 * The collector is reached the documented-flag way: `--expose-gc` is switched on just long
 * enough to create one `node:vm` context (which then has a `gc` global) and switched off
 * again, so no other context — a workflow's user-CT sandbox, a worker — gains a `gc` global.
 * When that is not possible (a runtime without it), the guard does nothing.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Above this share of --max-memory (process RSS) the main thread's heap is collected. */
export const HEAP_GUARD_SHARE = 0.85;
/** At most one forced collection per this many milliseconds. */
export const HEAP_GUARD_MIN_INTERVAL_MS = 250;

let collector: (() => void) | null | undefined;

function obtainCollector(): (() => void) | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === "function") return own as () => void;
  try {
    setFlagsFromString("--expose-gc");
    try {
      const gc: unknown = runInNewContext("gc");
      return typeof gc === "function" ? (gc as () => void) : null;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  } catch {
    return null;
  }
}

export class HeapGuard {
  private last = -Infinity;
  /** Forced collections so far (for the run report). */
  collections = 0;

  constructor(private readonly maxMemoryBytes: number) {}

  /** Called with a fresh RSS sample; collects when it is over the guard line. */
  check(rssBytes: number, nowMs: number): void {
    if (rssBytes <= this.maxMemoryBytes * HEAP_GUARD_SHARE || nowMs - this.last < HEAP_GUARD_MIN_INTERVAL_MS) return;
    if (collector === undefined) collector = obtainCollector();
    if (collector === null) return;
    this.last = nowMs;
    this.collections++;
    collector();
  }
}
