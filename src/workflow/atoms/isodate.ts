/**
 * ISO-8601 date-time parsing exactly as Python 3.11 `datetime.fromisoformat` does it — the C
 * implementation CPython runs (`Modules/_datetimemodule.c`: `datetime_fromisoformat`,
 * `_find_isoformat_datetime_separator`, `parse_isoformat_date`, `parse_isoformat_time`,
 * `parse_hh_mm_ss_ff`), ported step for step over the string's UTF-8 bytes (with the C
 * string's terminating NUL), then the range checks of the `datetime` and `timezone`
 * constructors. The inactivity atom (B.7) relies on it; GET_SINCE of Cairn append-only stores
 * reuses it (effects/appendonly.ts).
 *
 * What that accepts, in short:
 *  - at least 7 characters; a date `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www`, `YYYYWww`,
 *    `YYYY-Www-D` or `YYYYWwwD` (where the date ends is decided from characters 4, 5, 8 and 10
 *    and the run of digits after `YYYYWww`, before parsing: `2025-W03-2011:00` is the week
 *    date `2025-W03` with separator `-` and time `2011:00`, which fails);
 *  - then, optionally, ONE separator character (any character; a lone surrogate is allowed
 *    only there) and a time `HH[[:]MM[[:]SS]]` with an optional fraction after `.` or `,` (the
 *    first six digits count, further digits are skipped; a `:` instead of `.` after the
 *    seconds also starts a fraction);
 *  - then, optionally, an offset starting at the first `Z`, `+` or `-` after the separator: `Z`
 *    alone, or `±HH[[:]MM[[:]SS[.ffffff]]]` with the time's rules. Before the offset the time
 *    may end with one stray ASCII character (`11:00:00 +02:00`, `11:00:00.+02:00`) or carry
 *    trailing characters after six fraction digits; without an offset it may not. The offset's
 *    minutes and seconds are not range-checked (`+02:99` is 3 h 39 min); its absolute value must
 *    be below 24 h; an offset whose whole seconds are 0 is UTC whatever its fraction (a CPython
 *    quirk: `+00:00:00.5` → +00:00);
 *  - a NUL character ends the C string: a NUL where the parser expects the end is accepted
 *    (`2025-01-20T11:00:00\u0000`).
 * Year 1..9999, a real calendar day (a week date must stay within 0001-01-01..9999-12-31; week
 * 53 only in years that have one), hour 0..23, minute and second 0..59 (no leap second, no
 * `24:00`).
 *
 * A value without an offset is taken as UTC (what the atom does with naive values).
 */

const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400n * MICROS_PER_SECOND;
const MIN_YEAR = 1;
const MAX_YEAR = 9999;
/** Digits of a fraction of a second that carry meaning (microseconds). */
const FRACTION_DIGITS = 6;
/** Every valid string has at least this many characters (`YYYYWww`). */
const MIN_LENGTH = 7;
/** The character positions where a surrogate separator is replaced by `T` (`_sanitize_isoformat_str`). */
const SEPARATOR_POSITIONS = [7, 8, 10] as const;
const DAYS_PER_WEEK = 7;
/** January 4th is always in ISO week 1. */
const WEEK_ONE_ANCHOR_DAY = 4;
/** |offset| must be below one day (`timezone` constructor). */
const MAX_OFFSET_MICROS = MICROS_PER_DAY;

const NUL = 0x00;
const DASH = 0x2d;
const COLON = 0x3a;
const DOT = 0x2e;
const COMMA = 0x2c;
const PLUS = 0x2b;
const ZED = 0x5a;
const WEE = 0x57;
const DIGIT_0 = 0x30;

/** The UTF-8 bytes of the string and a reader that sees NUL at and after the end (the C terminator). */
class CString {
  constructor(readonly bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.length;
  }
  at(i: number): number {
    return i >= 0 && i < this.bytes.length ? (this.bytes[i] as number) : NUL;
  }
  isDigit(i: number): boolean {
    const b = this.at(i);
    return b >= DIGIT_0 && b <= DIGIT_0 + 9;
  }
  /** `parse_digits`: `n` digits at `p` as a number and the position after them, or undefined. */
  digits(p: number, n: number): { value: number; next: number } | undefined {
    let value = 0;
    for (let i = 0; i < n; i++) {
      if (!this.isDigit(p + i)) return undefined;
      value = value * 10 + (this.at(p + i) - DIGIT_0);
    }
    return { value, next: p + n };
  }
}

function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

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
  return jan1 === 4 || (jan1 === 3 && isLeap(year));
}

/**
 * `iso_to_ymd` + the `date` constructor's checks: the epoch day of ISO week date
 * (year, week, weekday), or undefined. Year 0 always ends in an invalid month in CPython; a
 * day after 9999-12-31 is year 10000.
 */
function weekDateDay(year: number, week: number, weekday: number): number | undefined {
  if (year < MIN_YEAR || week < 1 || week > 53 || (week === 53 && !hasWeek53(year)) || weekday < 1 || weekday > DAYS_PER_WEEK) return undefined;
  const anchor = epochDay(year, 1, WEEK_ONE_ANCHOR_DAY);
  const mondayOfWeek1 = anchor - (isoWeekday(anchor) - 1);
  const day = mondayOfWeek1 + (week - 1) * DAYS_PER_WEEK + (weekday - 1);
  return day > epochDay(MAX_YEAR, 12, 31) ? undefined : day;
}

/** `_find_isoformat_datetime_separator`: the byte offset where the date ends (-1: invalid). */
function separatorLocation(s: CString): number {
  const len = s.length;
  if (len === MIN_LENGTH) return MIN_LENGTH;
  if (s.at(4) === DASH) {
    if (s.at(5) !== WEE) return 10; // YYYY-MM-DD
    if (len < 8) return -1;
    if (len > 8 && s.at(8) === DASH) {
      if (len === 9) return -1;
      // YYYY-Www-## : a `-` separator at 8 (YYYY-Www-HH…) rather than a digit one at 10.
      return len > 10 && s.isDigit(10) ? 8 : 10;
    }
    return 8; // YYYY-Www
  }
  if (s.at(4) === WEE) {
    // YYYYWww (7) or YYYYWwwD (8): time components come in pairs, so an odd run of digits
    // after the week number holds a weekday.
    let idx = 7;
    while (idx < len && s.isDigit(idx)) idx++;
    if (idx < 9) return idx;
    return idx % 2 === 0 ? 7 : 8;
  }
  return 8; // YYYYMMDD
}

/** `parse_isoformat_date` over the first `len` bytes + the `date` checks: the epoch day, or undefined. */
function parseDate(s: CString, len: number): number | undefined {
  const y = s.digits(0, 4);
  if (y === undefined) return undefined;
  let p = y.next;
  const usesSeparator = s.at(p) === DASH;
  if (usesSeparator) p++;
  if (s.at(p) === WEE) {
    p++;
    const w = s.digits(p, 2);
    if (w === undefined) return undefined;
    p = w.next;
    let weekday = 1;
    // `len` is -1 (SIZE_MAX in C) for a `YYYY-Www-` of 9 bytes: the weekday is then read and fails.
    if (len < 0 || p < len) {
      if (usesSeparator && s.at(p++) !== DASH) return undefined;
      const d = s.digits(p, 1);
      if (d === undefined) return undefined;
      weekday = d.value;
    }
    return weekDateDay(y.value, w.value, weekday);
  }
  const m = s.digits(p, 2);
  if (m === undefined) return undefined;
  p = m.next;
  if (usesSeparator && s.at(p++) !== DASH) return undefined;
  const d = s.digits(p, 2);
  if (d === undefined) return undefined;
  const [year, month, day] = [y.value, m.value, d.value];
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return epochDay(year, month, day);
}

interface Hms {
  /** 0: parsed to the end; 1: parsed, but not at the end of the C string (`*p != '\0'`). */
  readonly rv: 0 | 1;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly micro: number;
}

/** `parse_hh_mm_ss_ff(tstr, tstr_end)`: undefined for its negative return codes. */
function parseHms(s: CString, start: number, end: number): Hms | undefined {
  const vals = [0, 0, 0];
  let p = start;
  let hasSeparator = true;
  for (let i = 0; i < 3; i++) {
    const d = s.digits(p, 2);
    if (d === undefined) return undefined;
    vals[i] = d.value;
    p = d.next;
    const c = s.at(p++);
    if (i === 0) hasSeparator = c === COLON;
    if (p >= end) return { rv: c !== NUL ? 1 : 0, hour: vals[0] as number, minute: vals[1] as number, second: vals[2] as number, micro: 0 };
    if (hasSeparator && c === COLON) continue;
    if (c === DOT || c === COMMA) break;
    if (!hasSeparator) p--;
    else return undefined; // malformed time separator
  }
  // The fraction: after `.`/`,`, and also when the loop ran out (a third `:`, or a basic time
  // longer than HHMMSS).
  const toParse = Math.min(end - p, FRACTION_DIGITS);
  const f = s.digits(p, toParse);
  if (f === undefined) return undefined;
  p = f.next;
  const micro = f.value * 10 ** (FRACTION_DIGITS - toParse);
  while (s.isDigit(p)) p++; // digits beyond the sixth are skipped
  return { rv: s.at(p) !== NUL ? 1 : 0, hour: vals[0] as number, minute: vals[1] as number, second: vals[2] as number, micro };
}

/**
 * `parse_isoformat_time` + the `datetime`/`timezone` checks for the time at byte `start`
 * (`len` bytes): microseconds since midnight minus the offset, or undefined.
 */
function parseTime(s: CString, start: number, len: number): bigint | undefined {
  const end = start + len;
  let tz = start;
  do {
    const b = s.at(tz);
    if (b === ZED || b === PLUS || b === DASH) break;
  } while (++tz < end);
  const t = parseHms(s, start, tz);
  if (t === undefined) return undefined;
  let offset = 0n;
  if (tz === end) {
    if (t.rv === 1) return undefined;
  } else if (s.at(tz) === ZED) {
    if (s.at(tz + 1) !== NUL) return undefined;
  } else {
    const sign = s.at(tz) === DASH ? -1n : 1n;
    const o = parseHms(s, tz + 1, end);
    if (o === undefined || o.rv !== 0) return undefined;
    const seconds = o.hour * 3600 + o.minute * 60 + o.second;
    // CPython: an offset of 0 whole seconds is UTC, its fraction ignored.
    offset = seconds === 0 ? 0n : sign * (BigInt(seconds) * MICROS_PER_SECOND + BigInt(o.micro));
    if (offset >= MAX_OFFSET_MICROS || offset <= -MAX_OFFSET_MICROS) return undefined;
  }
  if (t.hour > 23 || t.minute > 59 || t.second > 59) return undefined;
  return BigInt((t.hour * 60 + t.minute) * 60 + t.second) * MICROS_PER_SECOND + BigInt(t.micro) - offset;
}

/** A code point that is a lone surrogate (a UTF-16 half without its partner). */
function isLoneSurrogate(cp: string): boolean {
  const u = cp.charCodeAt(0);
  return cp.length === 1 && u >= 0xd800 && u <= 0xdfff;
}

/**
 * The instant of an ISO-8601 string as microseconds since the Unix epoch (naive = UTC), or
 * `undefined` when Python 3.11 `datetime.fromisoformat` raises ValueError.
 */
export function parseIsoInstant(text: string): bigint | undefined {
  const cps = Array.from(text);
  if (cps.length < MIN_LENGTH) return undefined;
  // `_sanitize_isoformat_str`: a surrogate separator becomes `T`; any other surrogate makes the
  // UTF-8 encoding (and so the parse) fail.
  for (const pos of SEPARATOR_POSITIONS) {
    if (pos >= cps.length) break;
    if (isLoneSurrogate(cps[pos] as string)) {
      cps[pos] = "T";
      break;
    }
  }
  if (cps.some(isLoneSurrogate)) return undefined;
  const s = new CString(Buffer.from(cps.join(""), "utf8"));
  const sep = separatorLocation(s);
  const day = parseDate(s, sep);
  if (day === undefined) return undefined;
  const dayMicros = BigInt(day) * MICROS_PER_DAY;
  if (s.length <= sep) return dayMicros;
  // The separator is one character: 1 to 4 bytes, by its lead byte.
  const lead = s.at(sep);
  const sepBytes = (lead & 0x80) === 0 ? 1 : (lead & 0xf0) === 0xe0 ? 3 : (lead & 0xf0) === 0xf0 ? 4 : 2;
  const start = sep + sepBytes;
  const t = parseTime(s, start, s.length - start);
  return t === undefined ? undefined : dayMicros + t;
}

/** Python `timedelta.days` of `later - earlier` (floored toward −∞). */
export function wholeDaysBetween(earlierMicros: bigint, laterMicros: bigint): bigint {
  const diff = laterMicros - earlierMicros;
  const q = diff / MICROS_PER_DAY;
  return diff % MICROS_PER_DAY !== 0n && diff < 0n ? q - 1n : q;
}
