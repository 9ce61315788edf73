/** Parsing of the CLI's numeric arguments: durations, lifetimes in seconds, counts and type tags. */
import { CairnError, ErrorCode } from "../core/errors.js";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const SECOND_MS = UNIT_MS.s as number;
/** Digits of Number.MAX_SAFE_INTEGER (16): a duration with a longer whole part is over it in any unit. */
const MAX_SAFE_MS_DIGITS = String(Number.MAX_SAFE_INTEGER).length;
/**
 * Most decimals (after trailing zeros) a whole number of milliseconds can have: the day's
 * 86 400 000 ms = 2^10 × 3^3 × 5^5 absorbs at most 10 (`0.0000003125d` is 27 ms); with more, the
 * digits would have to end in 0.
 */
const MAX_WHOLE_MS_DECIMALS = 10;

/**
 * Parses a duration into milliseconds: `0`, `1500` (plain ms), `500ms`, `30s`, `10m`, `1h`,
 * `2d`, `1.5h`. Every duration flag (`--wait`, `--data-root-wait`, `--grace`, `--eu-timeout`,
 * and `--ttl` through `parseSecondsOrDuration`) takes whole milliseconds: a value that is not one
 * (`0.5ms`, `1.9`, `0.0001s`) is refused, never rounded. Throws E_USAGE naming `what`.
 */
export function parseDuration(text: string, what = "duration"): number {
  const m = DURATION_RE.exec(text.trim());
  const ms = m === null ? undefined : wholeMs(text, what, m[1] as string, m[2] ?? "ms");
  if (ms === undefined) {
    throw new CairnError(
      ErrorCode.USAGE,
      `invalid ${what} ${JSON.stringify(text)}: expected a number of milliseconds or a number with a unit (ms, s, m, h, d), e.g. 30s, 10m, 2d`,
      { value: text },
    );
  }
  return ms;
}

/**
 * `number` (decimal digits, maybe a fraction) `unit`s in milliseconds, computed exactly (no
 * floating point: `1.001s` is 1001 ms); undefined above Number.MAX_SAFE_INTEGER; E_USAGE naming
 * `what` when it is not a whole number of milliseconds.
 */
function wholeMs(text: string, what: string, number: string, unit: string): number | undefined {
  const [rawWhole, rawFraction = ""] = number.split(".") as [string, string?];
  // Without leading and trailing zeros the digits are few for any value accepted, so the BigInt
  // work stays small: a longer whole part is over the limit in any unit, and more decimals are
  // never a whole number of milliseconds in any unit.
  const whole = rawWhole.replace(/^0+(?=\d)/, "");
  const fraction = rawFraction.replace(/0+$/, "");
  if (whole.length > MAX_SAFE_MS_DIGITS) return undefined;
  const notWhole = (): CairnError =>
    new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: not a whole number of milliseconds (durations are not rounded)`, { value: text });
  if (fraction.length > MAX_WHOLE_MS_DECIMALS) throw notWhole();
  const scaled = BigInt(whole + fraction) * BigInt(UNIT_MS[unit] as number);
  const divisor = 10n ** BigInt(fraction.length);
  if (scaled % divisor !== 0n) throw notWhole();
  const ms = scaled / divisor;
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(ms);
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
  const ms = wholeMs(text, what, m[1] as string, unit);
  const min = minSeconds * SECOND_MS;
  const max = maxSeconds * SECOND_MS;
  if (ms === undefined || !(ms >= min && ms <= max)) {
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
    throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: expected an integer in ${min}..${max}`, { field: what, value: text });
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
