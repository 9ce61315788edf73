/**
 * The main thread's V8 heap has no limit of Cairn's choosing: Node sizes it, and V8 lets the
 * old generation fill with garbage before it collects (in a 10^7-EU run the main heap held
 * ~30 MiB of live data in up to ~140 MiB). The worker heaps are capped by `resourceLimits`;
 * this guard covers the main thread. The engine samples the process RSS (at most every
 * RSS_SAMPLE_MS, at progress events and merge chunks); when it is above HEAP_GUARD_SHARE of
 * `--max-memory` and the main thread's heap uses more than HEAP_GUARD_MAIN_HEAP_SHARE of it,
 * the engine forces a full garbage collection of that heap, at most every
 * HEAP_GUARD_MIN_INTERVAL_MS. When a collection leaves the heap above its share (live data,
 * not garbage), the interval doubles, up to HEAP_GUARD_MAX_INTERVAL_MS, and returns to the
 * minimum after a collection that brings it under.
 *
 * The collector: `--expose-gc` is switched on for the creation of one `node:vm` context (which
 * then has a `gc` global) and straight off again, **when this module loads**. V8 flags are
 * process-wide, so a context created during that moment by another thread would also get a
 * `gc` global; at load time Cairn has started no worker of its own (a worker thread the host
 * application starts at that very moment could). Node documents `v8.setFlagsFromString` after
 * start-up as unsupported territory; if it fails, the guard does nothing. A process started
 * with `--expose-gc` uses its own `gc`.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Above this share of --max-memory (process RSS)… */
export const HEAP_GUARD_SHARE = 0.85;
/** …and with more than this share of it used by the main thread's heap, that heap is collected. */
export const HEAP_GUARD_MAIN_HEAP_SHARE = 0.25;
/** At most one forced collection per this many milliseconds… */
export const HEAP_GUARD_MIN_INTERVAL_MS = 250;
/** …backing off up to this interval while a collection leaves the heap above its share (live data, not garbage). */
export const HEAP_GUARD_MAX_INTERVAL_MS = 8000;

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

const collector = obtainCollector();

/** Whether forced collections are available in this process. */
export const HEAP_GUARD_AVAILABLE = collector !== null;

export class HeapGuard {
  private last = -Infinity;
  private interval = HEAP_GUARD_MIN_INTERVAL_MS;
  /** Forced collections so far (for the run report). */
  collections = 0;

  /** `heapUsed` reads the main thread's used heap (injected for tests). */
  constructor(
    private readonly maxMemoryBytes: number,
    private readonly heapUsed: () => number = () => process.memoryUsage().heapUsed,
  ) {}

  /** Called with a fresh RSS sample; collects the main thread's heap when both are over their lines. */
  check(rssBytes: number, nowMs: number): void {
    if (collector === null || rssBytes <= this.maxMemoryBytes * HEAP_GUARD_SHARE || nowMs - this.last < this.interval) return;
    const line = this.maxMemoryBytes * HEAP_GUARD_MAIN_HEAP_SHARE;
    if (this.heapUsed() <= line) return; // the RSS is elsewhere: nothing to gain here
    this.last = nowMs;
    this.collections++;
    collector();
    this.interval = this.heapUsed() > line ? Math.min(2 * this.interval, HEAP_GUARD_MAX_INTERVAL_MS) : HEAP_GUARD_MIN_INTERVAL_MS;
  }
}
