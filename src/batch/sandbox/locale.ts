/**
 * Pins the default locale and time zone of `Intl` in a sandbox worker, so the host's LANG /
 * LC_ALL / TZ cannot change an output: every `Intl.*` constructor, `Number`/`BigInt`/`Date`
 * `toLocale*String`, `String#localeCompare` and `toLocaleUpper/LowerCase` get `en-US` when
 * no locale is given, and the date formatters get the `UTC` time zone when none is given.
 * An explicit locale or `timeZone` is used as given. Local-time `Date` methods (`getHours`,
 * `toString`) follow the process's time zone, which a worker cannot change (the CLI sets
 * `TZ=UTC`; library callers must).
 *
 * MUST only be installed inside a sandbox worker thread (it rewrites `Intl` and builtin
 * prototypes of the isolate), before the user module is imported.
 */
export const SANDBOX_LOCALE = "en-US";
export const SANDBOX_TIME_ZONE = "UTC";

type AnyFn = (...args: unknown[]) => unknown;

const locale = (l: unknown): unknown => (l === undefined ? SANDBOX_LOCALE : l);
/** Options with `timeZone: UTC` added when absent (a derived object: the caller's is not modified). */
const withTimeZone = (o: unknown): unknown => {
  if (o === undefined) return { timeZone: SANDBOX_TIME_ZONE };
  if (o !== null && typeof o === "object" && (o as { timeZone?: unknown }).timeZone === undefined) {
    return Object.create(o as object, { timeZone: { value: SANDBOX_TIME_ZONE, enumerable: true } }) as unknown;
  }
  return o;
};

function pinned(args: unknown[], at: number, timeZone: boolean): unknown[] {
  const a = args.slice();
  a[at] = locale(a[at]);
  if (timeZone) a[at + 1] = withTimeZone(a[at + 1]);
  return a;
}

export function pinLocale(): void {
  const intl = Intl as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(Intl)) {
    const C = intl[name];
    // Constructors only (upper case); Intl.Locale takes a required tag.
    if (typeof C !== "function" || !/^[A-Z]/.test(name) || name === "Locale") continue;
    const timeZone = name === "DateTimeFormat";
    const P = new Proxy(C, {
      construct: (target, args, newTarget) => Reflect.construct(target, pinned(args, 0, timeZone), newTarget) as object,
      apply: (target, self, args) => Reflect.apply(target as AnyFn, self, pinned(args, 0, timeZone)),
    });
    Object.defineProperty(Intl, name, { value: P, writable: true, enumerable: false, configurable: true });
    const proto = (C as { prototype?: object }).prototype;
    if (proto !== undefined && Object.prototype.hasOwnProperty.call(proto, "constructor")) {
      Object.defineProperty(proto, "constructor", { value: P, writable: true, enumerable: false, configurable: true });
    }
  }
  const wrap = (proto: object, name: string, at: number, timeZone: boolean): void => {
    const f = (proto as Record<string, unknown>)[name];
    if (typeof f !== "function") return;
    const wrapped = {
      [name](this: unknown, ...args: unknown[]): unknown {
        return Reflect.apply(f as AnyFn, this, pinned(args, at, timeZone));
      },
    }[name] as AnyFn;
    Object.defineProperty(proto, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
  };
  wrap(Number.prototype, "toLocaleString", 0, false);
  wrap(BigInt.prototype, "toLocaleString", 0, false);
  for (const m of ["toLocaleString", "toLocaleDateString", "toLocaleTimeString"]) wrap(Date.prototype, m, 0, true);
  wrap(Array.prototype, "toLocaleString", 0, false);
  wrap(String.prototype, "localeCompare", 1, false);
  wrap(String.prototype, "toLocaleUpperCase", 0, false);
  wrap(String.prototype, "toLocaleLowerCase", 0, false);
}
