/**
 * Injected id minting. Ids look like `<prefix>-<ms>-<seq>` (the reference model's shape), or
 * `<prefix>-<ms>-<tag>-<seq>` with a tag that tells id sources apart; the time comes from an
 * injected Clock, never Date.now, and the tag is given, never drawn here, so a test can pin
 * every byte.
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../../core/clock.js";
import { describeArgument } from "../../core/describe.js";
import { UsageError } from "../../core/errors.js";

export type IdPrefix = "adm" | "exec" | "event" | "ev";

/** A source of fresh ids. */
export interface IdSource {
  next(prefix: IdPrefix): string;
}

/**
 * Checks that `v` (the option `option` of `where`) is a Clock (an object with a `now` method):
 * E_USAGE naming the option otherwise, at construction rather than at the first request.
 */
export function checkClockOption(v: unknown, where: string, option = "clock"): asserts v is Clock {
  if (v === null || typeof v !== "object" || typeof (v as { now?: unknown }).now !== "function") {
    throw new UsageError(`${where}: ${option} must be a Clock (an object with a now() method), got ${describeArgument(v)}`, { field: option });
  }
}

/** As `checkClockOption`, for an IdSource (an object with a `next` method). */
export function checkIdsOption(v: unknown, where: string, option = "ids"): asserts v is IdSource {
  if (v === null || typeof v !== "object" || typeof (v as { next?: unknown }).next !== "function") {
    throw new UsageError(`${where}: ${option} must be an IdSource (an object with a next(prefix) method, e.g. sequentialIds(clock)), got ${describeArgument(v)}`, { field: option });
  }
}

/** `<prefix>-<clock.now()>-<seq>` with one counter shared by all prefixes, starting at 1. */
export function sequentialIds(clock: Clock): IdSource {
  checkClockOption(clock, "sequentialIds");
  let seq = 0;
  return { next: (prefix) => `${prefix}-${clock.now()}-${++seq}` };
}

/** What a tag of `taggedIds` may be: lower-case letters and digits, so ids stay safe identifiers. */
const ID_TAG_RE = /^[0-9a-z]{1,32}$/;

/** Random bytes in a tag from `randomIdTag` (64 bits: 16 hex digits). */
export const ID_TAG_BYTES = 8;

/**
 * `<prefix>-<clock.now()>-<tag>-<seq>`: `sequentialIds` with `tag` after the time. Two sources
 * with different tags never mint the same id, even in the same millisecond with the same
 * counter — which `sequentialIds` of two processes do (each counter starts at 1). The command
 * line gives each node it builds a `randomIdTag()`, so executions of parallel `cairn plane exec`
 * processes sharing one evidence file keep distinct execution refs and evidence ids.
 */
export function taggedIds(clock: Clock, tag: string): IdSource {
  checkClockOption(clock, "taggedIds");
  if (!ID_TAG_RE.test(tag)) throw new UsageError(`id tag ${JSON.stringify(tag)} must match ${ID_TAG_RE.source}`, { tag });
  let seq = 0;
  return { next: (prefix) => `${prefix}-${clock.now()}-${tag}-${++seq}` };
}

/** A fresh random tag for `taggedIds`: `ID_TAG_BYTES` random bytes as lower-case hex. */
export function randomIdTag(): string {
  return randomBytes(ID_TAG_BYTES).toString("hex");
}
