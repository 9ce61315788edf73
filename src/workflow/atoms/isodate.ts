/**
 * ISO-8601 date-time parsing with the rules of Python 3.11 `datetime.fromisoformat` that the
 * inactivity atom (B.7) relies on, written from the documented behaviour:
 *
 *  - date `YYYY-MM-DD` or `YYYYMMDD` (year 1..9999, a real calendar day);
 *  - optionally one separator character (any single character, `T` usually) and a time
 *    `HH`, `HH:MM`, `HH:MM:SS` or the basic forms `HHMM`, `HHMMSS`, seconds optionally with a
 *    fraction (`.` or `,`, one or more digits, the first six used);
 *  - optionally an offset `Z` or `±HH[:MM[:SS[.ffffff]]]` (basic `±HHMM…` too), less than 24 h.
 *
 * - or an ISO week date `YYYY-Www[-D]` / `YYYYWww[D]` (week 53 only in years that have one);
 *
 * A value without an offset is taken as UTC (what the atom does with naive values). One CPython
 * quirk is kept: an offset whose hours, minutes and seconds are all zero counts as UTC even with
 * a fraction (`+00:00:00.5` → +00:00).
 */

const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400n * MICROS_PER_SECOND;
/** Digits of a fraction of a second that carry meaning (microseconds). */
const FRACTION_DIGITS = 6;
const MAX_YEAR = 9999;

const DATE_EXT_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})/;
const DATE_BASIC_RE = /^([0-9]{4})([0-9]{2})([0-9]{2})/;
const WEEK_EXT_RE = /^([0-9]{4})-W([0-9]{2})(?:-([0-9]))?/;
const WEEK_BASIC_RE = /^([0-9]{4})W([0-9]{2})([0-9])?/;
const DAYS_PER_WEEK = 7;
/** January 4th is always in ISO week 1. */
const WEEK_ONE_ANCHOR_DAY = 4;
const TIME_EXT_RE = /^([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?$/;
const TIME_BASIC_RE = /^([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:[.,]([0-9]+))?)?)?$/;
const OFFSET_EXT_RE = /^([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?$/;
const OFFSET_BASIC_RE = /^([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?$/;

/** Days from 1970-01-01 to the given proleptic-Gregorian date (no two-digit-year mapping). */
function epochDay(year: number, month: number, day: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  return Math.round(d.getTime() / 86_400_000);
}

/** ISO weekday of an epoch day: Monday 1 … Sunday 7 (1970-01-01 was a Thursday). */
function isoWeekday(epochDayNumber: number): number {
  return ((((epochDayNumber + 3) % DAYS_PER_WEEK) + DAYS_PER_WEEK) % DAYS_PER_WEEK) + 1;
}

/** Whether ISO year `year` has 53 weeks (it starts on a Thursday, or is a leap year starting on a Wednesday). */
function hasWeek53(year: number): boolean {
  const jan1 = isoWeekday(epochDay(year, 1, 1));
  return jan1 === 4 || (jan1 === 3 && daysInMonth(year, 2) === 29);
}

function parseWeekDate(s: string): { day: number; length: number } | undefined {
  const m = (s[4] === "-" ? WEEK_EXT_RE : WEEK_BASIC_RE).exec(s);
  if (m === null) return undefined;
  const [year, week, weekday] = [Number(m[1]), Number(m[2]), m[3] === undefined ? 1 : Number(m[3])];
  if (year < 1 || year > MAX_YEAR || week < 1 || week > (hasWeek53(year) ? 53 : 52) || weekday < 1 || weekday > DAYS_PER_WEEK) return undefined;
  const anchor = epochDay(year, 1, WEEK_ONE_ANCHOR_DAY);
  const mondayOfWeek1 = anchor - (isoWeekday(anchor) - 1);
  const day = mondayOfWeek1 + (week - 1) * DAYS_PER_WEEK + (weekday - 1);
  // Week 52/53 of year 9999 may end in year 10000, which Python cannot represent.
  if (day > epochDay(MAX_YEAR, 12, 31)) return undefined;
  return { day, length: m[0].length };
}

/** The calendar or week date at the start of `s`: its epoch day and its length in characters. */
function parseDate(s: string): { day: number; length: number } | undefined {
  if (s[4] === "W" || (s[4] === "-" && s[5] === "W")) return parseWeekDate(s);
  const dm = (s[4] === "-" ? DATE_EXT_RE : DATE_BASIC_RE).exec(s);
  if (dm === null) return undefined;
  const [year, month, day] = [Number(dm[1]), Number(dm[2]), Number(dm[3])];
  if (year < 1 || year > MAX_YEAR || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return { day: epochDay(year, month, day), length: dm[0].length };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function fractionMicros(f: string | undefined): bigint {
  if (f === undefined) return 0n;
  return BigInt(f.slice(0, FRACTION_DIGITS).padEnd(FRACTION_DIGITS, "0"));
}

/** `HH[:MM[:SS[.f]]]` as microseconds since midnight, or undefined (components out of range). */
function hmsMicros(m: RegExpExecArray): bigint | undefined {
  const h = Number(m[1]);
  const min = m[2] === undefined ? 0 : Number(m[2]);
  const sec = m[3] === undefined ? 0 : Number(m[3]);
  if (h > 23 || min > 59 || sec > 59) return undefined;
  return BigInt((h * 60 + min) * 60 + sec) * MICROS_PER_SECOND + fractionMicros(m[4]);
}

function parseOffset(tz: string): bigint | undefined {
  if (tz[0] === "Z") return tz === "Z" ? 0n : undefined;
  const sign = tz[0] === "-" ? -1n : 1n;
  const body = tz.slice(1);
  const m = (body.includes(":") ? OFFSET_EXT_RE : OFFSET_BASIC_RE).exec(body);
  if (m === null) return undefined;
  const micros = hmsMicros(m);
  if (micros === undefined) return undefined;
  // CPython ignores the fraction of an offset whose h/m/s are all zero.
  return micros < MICROS_PER_SECOND ? 0n : sign * micros;
}

/** Microseconds since midnight minus the offset, for the text after the separator. */
function parseTimeAndOffset(t: string): bigint | undefined {
  const tzAt = t.search(/[+\-Z]/);
  const time = tzAt < 0 ? t : t.slice(0, tzAt);
  const m = (time.includes(":") ? TIME_EXT_RE : TIME_BASIC_RE).exec(time);
  if (m === null) return undefined;
  const micros = hmsMicros(m);
  const offset = tzAt < 0 ? 0n : parseOffset(t.slice(tzAt));
  if (micros === undefined || offset === undefined) return undefined;
  return micros - offset;
}

/**
 * The instant of an ISO-8601 string as microseconds since the Unix epoch (naive = UTC), or
 * `undefined` when Python would raise ValueError.
 */
export function parseIsoInstant(s: string): bigint | undefined {
  const date = parseDate(s);
  if (date === undefined) return undefined;
  const dayMicros = BigInt(date.day) * MICROS_PER_DAY;
  const rest = s.slice(date.length);
  if (rest === "") return dayMicros;
  const sepLength = (rest.codePointAt(0) as number) > 0xffff ? 2 : 1;
  const tail = rest.slice(sepLength);
  if (tail === "") return undefined;
  const t = parseTimeAndOffset(tail);
  return t === undefined ? undefined : dayMicros + t;
}

/** Python `timedelta.days` of `later - earlier` (floored toward −∞). */
export function wholeDaysBetween(earlierMicros: bigint, laterMicros: bigint): bigint {
  const diff = laterMicros - earlierMicros;
  const q = diff / MICROS_PER_DAY;
  return diff % MICROS_PER_DAY !== 0n && diff < 0n ? q - 1n : q;
}
