/**
 * Pins the default locale and time zone of `Intl` in a sandbox worker, so the host's LANG /
 * LC_ALL / TZ cannot change an output: every `Intl.*` constructor (but `Intl.Locale`),
 * `Number`/`BigInt`/`Date`/`Array` `toLocale*String`, `String#localeCompare` and
 * `toLocaleUpper/LowerCase` get `en-US` when no locale is given, and `en-US` is appended to a
 * given list as the last fallback: ICU falls back to the process's default locale when none of
 * the requested ones is available (`[]`, `"tlh"`, `"zz-ZZ"`), and that default is the host's.
 * The date formatters get the `UTC` time zone when no `timeZone` is given — unless the
 * process's own time zone already is UTC (the CLI sets `TZ=UTC`), in which case their options
 * are passed through untouched, which keeps V8's formatter cache (a fresh options object per
 * call made `toLocaleDateString()` ~65× slower). Local-time `Date` methods (`getHours`,
 * `toString`) follow the process's time zone, which a worker cannot change (library callers
 * must set `TZ=UTC`); the time-zone NAME in `Date#toString` / `#toTimeString` / `Date()`, which
 * V8 takes in the process's default locale, is pinned to en-US by `pinDateStrings` (core/date-strings.ts, installed
 * by shims.ts, which needs it for `Date()`).
 *
 * MUST only be installed inside a sandbox worker thread (it rewrites `Intl` and builtin
 * prototypes of the isolate), before the user module is imported.
 */
export const SANDBOX_LOCALE = "en-US";
export const SANDBOX_TIME_ZONE = "UTC";

type AnyFn = (...args: unknown[]) => unknown;

/** The locales argument with the fixed fallback: `en-US` alone, or appended to the requested ones. */
function pinnedLocales(l: unknown): unknown {
  if (l === undefined) return SANDBOX_LOCALE;
  if (typeof l === "string") return [l, SANDBOX_LOCALE];
  // A list (or an Intl.Locale, or anything getCanonicalLocales accepts or rejects as the
  // original call would: it throws the same RangeError/TypeError for a bad tag).
  return [...Intl.getCanonicalLocales(l as string[]), SANDBOX_LOCALE];
}

/** `toLocaleUpper/LowerCase` take one locale (the first of a list): an empty list is the default. */
function pinnedCaseLocale(l: unknown): unknown {
  if (l === undefined) return SANDBOX_LOCALE;
  if (Array.isArray(l) && l.length === 0) return SANDBOX_LOCALE;
  return l;
}

export function pinLocale(): void {
  const needsZone = new Intl.DateTimeFormat().resolvedOptions().timeZone !== SANDBOX_TIME_ZONE;
  /** Options with `timeZone: UTC` added when absent (a derived object: the caller's is not modified). */
  const zoned = (o: unknown): unknown => {
    if (!needsZone) return o;
    if (o === undefined) return { timeZone: SANDBOX_TIME_ZONE };
    if (o !== null && typeof o === "object" && (o as { timeZone?: unknown }).timeZone === undefined) {
      return Object.create(o as object, { timeZone: { value: SANDBOX_TIME_ZONE, enumerable: true } }) as unknown;
    }
    return o;
  };

  const intl = Intl as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(Intl)) {
    const C = intl[name];
    // Constructors only (upper case); Intl.Locale takes a required tag.
    if (typeof C !== "function" || !/^[A-Z]/.test(name) || name === "Locale") continue;
    const dates = name === "DateTimeFormat";
    const args = (a: unknown[]): unknown[] => {
      const out = a.slice();
      out[0] = pinnedLocales(a[0]);
      if (dates) out[1] = zoned(a[1]);
      return out;
    };
    const P = new Proxy(C, {
      construct: (target, a, newTarget) => Reflect.construct(target, args(a), newTarget) as object,
      apply: (target, self, a) => Reflect.apply(target as AnyFn, self, args(a)),
    });
    Object.defineProperty(Intl, name, { value: P, writable: true, enumerable: false, configurable: true });
    const proto = (C as { prototype?: object }).prototype;
    if (proto !== undefined && Object.prototype.hasOwnProperty.call(proto, "constructor")) {
      Object.defineProperty(proto, "constructor", { value: P, writable: true, enumerable: false, configurable: true });
    }
  }

  const define = (proto: object, name: string, f: AnyFn): void => {
    Object.defineProperty(proto, name, { value: f, writable: true, enumerable: false, configurable: true });
  };
  // Fixed-arity wrappers (no rest arguments): these are called per value in user code.
  const realNumber = Number.prototype.toLocaleString;
  define(Number.prototype, "toLocaleString", function toLocaleString(this: unknown, l?: unknown, o?: unknown) {
    return Reflect.apply(realNumber, this, [pinnedLocales(l), o]);
  });
  const realBigInt = BigInt.prototype.toLocaleString;
  define(BigInt.prototype, "toLocaleString", function toLocaleString(this: unknown, l?: unknown, o?: unknown) {
    return Reflect.apply(realBigInt, this, [pinnedLocales(l), o]);
  });
  for (const m of ["toLocaleString", "toLocaleDateString", "toLocaleTimeString"] as const) {
    const real = Date.prototype[m];
    define(Date.prototype, m, {
      [m](this: unknown, l?: unknown, o?: unknown) {
        return Reflect.apply(real, this, [pinnedLocales(l), zoned(o)]);
      },
    }[m] as AnyFn);
  }
  const realArray = Array.prototype.toLocaleString;
  define(Array.prototype, "toLocaleString", function toLocaleString(this: unknown, l?: unknown, o?: unknown) {
    return Reflect.apply(realArray, this, [pinnedLocales(l), o]);
  });
  const realCompare = String.prototype.localeCompare;
  define(String.prototype, "localeCompare", function localeCompare(this: unknown, that: unknown, l?: unknown, o?: unknown) {
    return Reflect.apply(realCompare, this, [that, pinnedLocales(l), o]);
  });
  for (const m of ["toLocaleUpperCase", "toLocaleLowerCase"] as const) {
    const real = String.prototype[m];
    define(String.prototype, m, {
      [m](this: unknown, l?: unknown) {
        return Reflect.apply(real, this, [pinnedCaseLocale(l)]);
      },
    }[m] as AnyFn);
  }
}
