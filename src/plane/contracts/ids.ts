/**
 * Injected id minting. Ids look like `<prefix>-<ms>-<seq>` (the reference model's shape);
 * the time comes from an injected Clock, never Date.now, so a test can pin every byte.
 */
import type { Clock } from "../../core/clock.js";

export type IdPrefix = "adm" | "exec" | "event" | "ev";

/** A source of fresh ids. */
export interface IdSource {
  next(prefix: IdPrefix): string;
}

/** `<prefix>-<clock.now()>-<seq>` with one counter shared by all prefixes, starting at 1. */
export function sequentialIds(clock: Clock): IdSource {
  let seq = 0;
  return { next: (prefix) => `${prefix}-${clock.now()}-${++seq}` };
}
