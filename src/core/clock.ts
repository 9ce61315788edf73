/**
 * An injectable source of wall-clock time.
 *
 * Deterministic code paths (anything whose output is hashed, recorded or replayed) must take
 * a `Clock` parameter and never call `Date.now()` or `new Date()` directly, so tests and
 * replays can substitute `fixedClock` or `steppingClock` and get identical results.
 * Only the outermost layer (CLI, server wiring) should pass `systemClock`.
 */

/** A source of time. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real wall clock (`Date.now()`). Not deterministic: use only at the edges. */
export const systemClock: Clock = {
  now: () => Date.now(),
};

/** A clock frozen at `ms`: every call returns the same value. */
export function fixedClock(ms: number): Clock {
  return { now: () => ms };
}

/** A clock that returns `startMs`, then `startMs + stepMs`, `startMs + 2*stepMs`, … on successive calls. */
export function steppingClock(startMs: number, stepMs: number): Clock {
  let calls = 0;
  return {
    now: () => startMs + stepMs * calls++,
  };
}
