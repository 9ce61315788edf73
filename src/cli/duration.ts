/** Parsing of the CLI's numeric arguments: durations, counts and type tags. */
import { CairnError, ErrorCode } from "../core/errors.js";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/**
 * Parses a duration into whole milliseconds: `0`, `1500` (plain ms), `500ms`, `30s`, `10m`,
 * `1h`, `2d`, `1.5h`. Throws E_USAGE naming `what` for anything else.
 */
export function parseDuration(text: string, what = "duration"): number {
  const m = DURATION_RE.exec(text.trim());
  const ms = m === null ? Number.NaN : Number(m[1]) * (UNIT_MS[m[2] ?? "ms"] as number);
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) {
    throw new CairnError(
      ErrorCode.USAGE,
      `invalid ${what} ${JSON.stringify(text)}: expected a number of milliseconds or a number with a unit (ms, s, m, h, d), e.g. 30s, 10m, 2d`,
      { value: text },
    );
  }
  return Math.round(ms);
}

/**
 * Parses a decimal integer in min..max (no sign, no exponent, no unit; surrounding whitespace
 * ignored, as for every numeric option): every integer flag of the CLI (`--workers`, `--port`,
 * `--depth`, `--limit`, `--ttl`…) goes through it, so they accept and refuse the same texts.
 */
export function parseCount(text: string, what: string, max = Number.MAX_SAFE_INTEGER, min = 0): number {
  const t = text.trim();
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max || n < min) {
    throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: expected an integer in ${min}..${max}`, { value: text });
  }
  return n;
}

export const TYPE_TAG_LIMIT = 0xffff_ffff;

/** Parses a type tag: decimal (`42`) or hex (`0x2a`), in 0..2^32-1. */
export function parseTypeTag(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : /^0[xX][0-9a-fA-F]+$/.test(text) ? Number.parseInt(text.slice(2), 16) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > TYPE_TAG_LIMIT) {
    throw new CairnError(
      ErrorCode.USAGE,
      `invalid type tag ${JSON.stringify(text)}: expected a decimal or 0x-hex integer in 0..${TYPE_TAG_LIMIT}`,
      { value: text },
    );
  }
  return n;
}
