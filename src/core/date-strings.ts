/**
 * `pinDateStrings`: the time-zone name in `Date#toString` / `#toTimeString` / `Date()` in en-US
 * whatever the host's locale. Shared by the batch sandbox (src/batch/sandbox/shims.ts, in each
 * worker) and the workflow user-CT sandbox (src/workflow/cairn/usercts.ts, whose vm context
 * embeds its source text).
 */
import { runInThisContext } from "node:vm";

/** The source of `pinDateStrings` (a function expression), for another realm to evaluate. */
export const PIN_DATE_STRINGS_SOURCE = `function pinDateStrings(DateCtor, DTF) {
  const apply = Reflect.apply;
  const proto = DateCtor.prototype;
  const getTime = proto.getTime;
  const realToString = proto.toString;
  const indexOf = String.prototype.indexOf;
  const slice = String.prototype.slice;
  const formatToParts = DTF.prototype.formatToParts;
  const resolvedOptions = DTF.prototype.resolvedOptions;
  let names;
  function nameAt(t) {
    if (names === undefined) names = new DTF("en-US", { timeZoneName: "long" });
    const parts = apply(formatToParts, names, [t]);
    for (let i = 0; i < parts.length; i++) if (parts[i].type === "timeZoneName") return parts[i].value;
    return "";
  }
  // UTC has one name at every instant: formatted once (formatting costs ~4x the toString).
  // Looked up on the first use, not at install: a realm that never calls toString pays nothing.
  let utc = null;
  function zoneName(t) {
    if (utc === null) utc = apply(resolvedOptions, new DTF(), []).timeZone === "UTC" ? nameAt(0) : undefined;
    return utc === undefined ? nameAt(t) : utc;
  }
  // V8's s (a toString or toTimeString of the time value t) with the name pinned.
  function pin(s, t) {
    const i = apply(indexOf, s, [" ("]);
    if (i < 0) return s; // Invalid Date
    return apply(slice, s, [0, i]) + " (" + zoneName(t) + ")";
  }
  const realTimeString = proto.toTimeString;
  Object.defineProperty(proto, "toString", {
    value: { toString() { return pin(apply(realToString, this, []), apply(getTime, this, [])); } }.toString,
    writable: true, enumerable: false, configurable: true,
  });
  Object.defineProperty(proto, "toTimeString", {
    value: { toTimeString() { return pin(apply(realTimeString, this, []), apply(getTime, this, [])); } }.toTimeString,
    writable: true, enumerable: false, configurable: true,
  });
  return function dateString(t) { return pin(apply(realToString, new DateCtor(t), []), t); };
}`;

/**
 * Pins the time-zone name in `Date.prototype.toString` and `toTimeString` of `DateCtor`'s realm
 * (so also `String(d)`, `` `${d}` ``, `d + ""`, subclasses), and returns `dateString(t)`, the
 * pinned `toString` of the time value `t`, which is what `Date()` called as a function must
 * return. V8 writes `Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)` with the
 * parenthesised name in ICU's default locale, which comes from the host's LANG / LC_ALL
 * (`(Koordinierte Weltzeit)` under de_DE, `(協定世界時)` under ja_JP): the same run gave
 * different outputs on different machines, and no audit on one machine could see it. The
 * result keeps V8's text up to the name and replaces the name by the `en-US` long name
 * `DTF("en-US", {timeZoneName: "long"})` gives for the process's time zone at that instant
 * (the zone V8 uses for local time; under `TZ=UTC` always `Coordinated Universal Time`, as V8
 * under an English locale). Outside UTC it can differ from V8's English name for some zones
 * and dates (V8 asks ICU for the zone's standard or daylight name of today's rules,
 * `Intl.DateTimeFormat` for the name in force at the instant: `GMT-05:00` for New York in
 * 1899) — but it depends only on the zone, the instant and the ICU data, never on the host's
 * locale. `Invalid Date` (no name) is unchanged; what the real methods throw (a non-Date
 * `this`) they still throw.
 *
 * `DTF` must be the realm's real `Intl.DateTimeFormat` (not one that adds a `timeZone`: the
 * name must be that of the zone the local time is in). Call it once per realm, before user code
 * runs (it captures the methods it uses).
 *
 * Written once, as JavaScript source (`PIN_DATE_STRINGS_SOURCE`), because two realms need it:
 * `pinDateStrings` is that source evaluated in this realm, and a `node:vm` context's prelude
 * embeds the same text (`(${PIN_DATE_STRINGS_SOURCE})(Date, Intl.DateTimeFormat)`, usercts.ts).
 * A compiled function's own `toString()` would not do: a loader may add helpers to it (tsx's
 * `__name`) that the other realm does not have.
 */
export const pinDateStrings = runInThisContext(`(${PIN_DATE_STRINGS_SOURCE})`, { filename: "cairn:date-strings" }) as (
  DateCtor: DateConstructor,
  DTF: typeof Intl.DateTimeFormat,
) => (t: number) => string;
