/** Parsing of the CLI's numeric arguments: durations, lifetimes in seconds, counts and type tags. */
import { CairnError, ErrorCode } from "../core/errors.js";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const SECOND_MS = UNIT_MS.s as number;

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

/** `ms` as the text of its largest whole unit: `1s`, `90s`, `10m`, `366d`, `1500ms`. */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return "0";
  for (const unit of ["d", "h", "m", "s"] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Parses a lifetime given in seconds (`--ttl`): a bare integer is a number of seconds (`60`,
 * through `parseCount`: same texts and message as every integer flag), anything else a duration
 * with a unit as for `parseDuration` (`90s`, `10m`, `1.5h`, `2d`, `1500ms`; a unit is required).
 * Returns whole milliseconds in minSeconds..maxSeconds (seconds), else throws E_USAGE naming `what`.
 */
export function parseSecondsOrDuration(text: string, what: string, maxSeconds: number, minSeconds = 0): number {
  if (/^\d+$/.test(text.trim())) return parseCount(text, what, maxSeconds, minSeconds) * SECOND_MS;
  const m = DURATION_RE.exec(text.trim());
  const unit = m?.[2];
  if (m === null || unit === undefined) {
    throw new CairnError(
      ErrorCode.USAGE,
      `invalid ${what} ${JSON.stringify(text)}: expected a whole number of seconds in ${minSeconds}..${maxSeconds} or a duration with a unit (ms, s, m, h, d), e.g. 90s, 10m, 1d`,
      { value: text },
    );
  }
  const ms = Math.round(Number(m[1]) * (UNIT_MS[unit] as number));
  const min = minSeconds * SECOND_MS;
  const max = maxSeconds * SECOND_MS;
  if (!(ms >= min && ms <= max)) {
    throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: expected a duration in ${formatDurationMs(min)}..${formatDurationMs(max)}`, { value: text });
  }
  return ms;
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
