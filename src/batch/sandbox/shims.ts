/**
 * Determinism shims for sandbox workers: replace the clock and entropy sources a user
 * function can reach with fixed values and a seeded PRNG. See worker.ts's header for exactly
 * what is and is not neutralised. Timers are fenced separately (timers.ts).
 *
 * MUST only be installed inside a sandbox worker thread (it rewrites globals and the
 * `node:crypto` module object of the whole isolate), and before the user module is imported.
 */
import cryptoModule from "node:crypto";
import { createRequire, isBuiltin, syncBuiltinESMExports } from "node:module";
import { Xoshiro128 } from "../../core/prng.js";
import { pinDateStrings } from "../../core/date-strings.js";

/** Browsers' (and Node's) per-call limit for getRandomValues. */
const GET_RANDOM_VALUES_MAX_BYTES = 65_536;
/** Node's randomInt range limit: max - min must be at most 2^48 - 1. */
const RANDOM_INT_RANGE_LIMIT = 2 ** 48 - 1;
/** Node's buffer.constants.MAX_LENGTH on 64-bit platforms (randomBytes' upper bound). */
const RANDOM_BYTES_MAX = 2 ** 31 - 1;

export interface DeterminismShims {
  /**
   * Starts a new entropy stream. `seed` is called lazily, on the first draw, so EUs that
   * never use randomness do not pay for deriving a seed.
   */
  reseed(seed: () => bigint): void;
}

type Callback<T> = (err: Error | null, value: T) => void;

function rangeError(message: string, code = "ERR_OUT_OF_RANGE"): RangeError {
  return Object.assign(new RangeError(message), { code });
}

function typeError(message: string, code = "ERR_INVALID_ARG_TYPE"): TypeError {
  return Object.assign(new TypeError(message), { code });
}

/** Integer typed arrays: the only views getRandomValues accepts (Web Crypto §10.1.1). */
function isIntegerTypedArray(v: unknown): v is Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array {
  return (
    v instanceof Int8Array || v instanceof Uint8Array || v instanceof Uint8ClampedArray ||
    v instanceof Int16Array || v instanceof Uint16Array || v instanceof Int32Array ||
    v instanceof Uint32Array || v instanceof BigInt64Array || v instanceof BigUint64Array
  );
}

function bytesOf(buf: unknown, what: string): { bytes: Uint8Array; elementSize: number } {
  if (buf instanceof ArrayBuffer || buf instanceof SharedArrayBuffer) return { bytes: new Uint8Array(buf), elementSize: 1 };
  if (ArrayBuffer.isView(buf)) {
    const elementSize = (buf as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    return { bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), elementSize };
  }
  throw typeError(`The "${what}" argument must be an instance of ArrayBuffer or ArrayBufferView`);
}

function checkCallback(cb: unknown): asserts cb is Callback<unknown> {
  if (typeof cb !== "function") throw typeError('The "callback" argument must be of type function');
}

/**
 * `Error.stackTraceLimit` in a sandbox worker: Node's default. V8 flags are process-wide, so
 * `NODE_OPTIONS=--stack-trace-limit=N` (or `node --stack-trace-limit=N`) would otherwise set
 * it in every worker too, and a function that outputs `err.stack` (or an error with a long
 * chain) would give another output under the same run id. The module may set it itself.
 */
export const SANDBOX_STACK_TRACE_LIMIT = 10;

/** Installs every shim. Call once per worker, before importing the user module. */
export function installDeterminismShims(opts: { logicalTime: number; seed: () => bigint }): DeterminismShims {
  Error.stackTraceLimit = SANDBOX_STACK_TRACE_LIMIT;
  const fixedTime = opts.logicalTime;
  let seedOf: () => bigint = opts.seed;
  let gen: Xoshiro128 | undefined;
  const rng = (): Xoshiro128 => (gen ??= Xoshiro128.fromSeed(seedOf()));

  const fill = (bytes: Uint8Array): void => rng().fillBytes(bytes);

  // ---- clocks -------------------------------------------------------------------------
  const RealDate = globalThis.Date;
  // The time-zone name in Date#toString / #toTimeString / Date() in en-US, not in the host's
  // locale (locale.ts): before Intl.DateTimeFormat is wrapped, below and by pinLocale.
  const dateString = pinDateStrings(RealDate, Intl.DateTimeFormat);
  // A callable proxy, not a subclass: `instanceof Date`, `Date.prototype` and dates made by
  // Node itself (fs.Stats#mtime…) keep working, and `Date()` without `new` still works.
  const FixedDate = new Proxy(RealDate, {
    construct(target, args: unknown[], newTarget: (...a: unknown[]) => unknown) {
      return Reflect.construct(target, args.length === 0 ? [fixedTime] : args, newTarget) as object;
    },
    apply() {
      return dateString(fixedTime);
    },
  });
  RealDate.now = () => fixedTime;
  Object.defineProperty(RealDate.prototype, "constructor", { value: FixedDate, writable: true, enumerable: false, configurable: true });
  globalThis.Date = FixedDate;

  // Intl.DateTimeFormat#format() / formatToParts() without a date read the real clock.
  const dtfProto = Intl.DateTimeFormat.prototype;
  const formatGetter = Object.getOwnPropertyDescriptor(dtfProto, "format")?.get;
  if (formatGetter !== undefined) {
    const bound = new WeakMap<object, (date?: Date | number) => string>();
    Object.defineProperty(dtfProto, "format", {
      configurable: true,
      enumerable: false,
      get(this: Intl.DateTimeFormat) {
        let f = bound.get(this);
        if (f === undefined) {
          const inner = formatGetter.call(this) as (date?: Date | number) => string;
          f = (date?: Date | number) => inner(date === undefined ? fixedTime : date);
          bound.set(this, f);
        }
        return f;
      },
    });
  }
  const formatToParts = dtfProto.formatToParts;
  dtfProto.formatToParts = function (this: Intl.DateTimeFormat, date?: Date | number) {
    return formatToParts.call(this, date === undefined ? fixedTime : date);
  };

  // performance.now() is 0 and performance.timeOrigin the logical time, so that
  // timeOrigin + now() === Date.now(), as on a real clock.
  const perf = globalThis.performance;
  perf.now = () => 0;
  Object.defineProperty(perf, "timeOrigin", { value: fixedTime, writable: false, enumerable: true, configurable: true });

  const hrtime = (prev?: [number, number]): [number, number] => {
    if (prev === undefined) return [0, 0];
    if (!Array.isArray(prev) || prev.length !== 2) throw typeError('The "time" argument must be an instance of Array of length 2');
    let sec = -prev[0];
    let nsec = -prev[1];
    if (nsec < 0) {
      sec -= 1;
      nsec += 1e9;
    }
    return [sec, nsec];
  };
  process.hrtime = Object.assign(hrtime, { bigint: () => 0n });
  process.uptime = () => 0;

  // ---- entropy ------------------------------------------------------------------------
  Math.random = () => rng().nextFloat();

  const getRandomValues = <T extends ArrayBufferView | null>(array: T): T => {
    if (!isIntegerTypedArray(array)) {
      throw new DOMException("The data argument must be an integer-type TypedArray", "TypeMismatchError");
    }
    if (array.byteLength > GET_RANDOM_VALUES_MAX_BYTES) {
      throw new DOMException(
        `The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (${GET_RANDOM_VALUES_MAX_BYTES})`,
        "QuotaExceededError",
      );
    }
    fill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return array;
  };

  const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
  /** An RFC 9562 version-4 UUID whose 122 random bits come from the PRNG. */
  const randomUUID = (): `${string}-${string}-${string}-${string}-${string}` => {
    const b = new Uint8Array(16);
    fill(b);
    b[6] = ((b[6] as number) & 0x0f) | 0x40;
    b[8] = ((b[8] as number) & 0x3f) | 0x80;
    const h = (i: number): string => HEX[b[i] as number] as string;
    return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
  };

  // Callbacks of the async variants run on the next tick, in call order; the bytes are
  // drawn at call time, so the stream's consumption order is the program's call order.
  function randomBytes(size: number): Buffer;
  function randomBytes(size: number, cb: Callback<Buffer>): void;
  function randomBytes(size: number, cb?: Callback<Buffer>): Buffer | void {
    if (typeof size !== "number") throw typeError('The "size" argument must be of type number');
    if (!Number.isInteger(size) || size < 0 || size > RANDOM_BYTES_MAX) {
      throw rangeError(`The value of "size" is out of range. It must be >= 0 && <= ${RANDOM_BYTES_MAX}. Received ${String(size)}`);
    }
    if (cb !== undefined) checkCallback(cb);
    const buf = Buffer.alloc(size);
    fill(buf);
    if (cb === undefined) return buf;
    process.nextTick(cb, null, buf);
  }

  const fillRegion = <T>(buf: T, offset: unknown, size: unknown): T => {
    const { bytes, elementSize } = bytesOf(buf, "buf");
    const off = offset === undefined ? 0 : offset;
    if (typeof off !== "number" || !Number.isInteger(off) || off < 0 || off * elementSize > bytes.length) {
      throw rangeError(`The value of "offset" is out of range. Received ${String(off)}`);
    }
    const start = off * elementSize;
    const len = size === undefined ? bytes.length - start : (size as number) * elementSize;
    if (typeof len !== "number" || !Number.isInteger(len) || len < 0 || start + len > bytes.length) {
      throw rangeError(`The value of "size" is out of range. Received ${String(size)}`);
    }
    fill(bytes.subarray(start, start + len));
    return buf;
  };

  const randomFillSync = <T>(buf: T, offset?: number, size?: number): T => fillRegion(buf, offset, size);

  const randomFill = (buf: unknown, ...rest: unknown[]): void => {
    const cb = rest.pop();
    checkCallback(cb);
    const filled = fillRegion(buf, rest[0], rest[1]);
    process.nextTick(cb, null, filled);
  };

  const randomInt = (...args: unknown[]): number | undefined => {
    const cb = typeof args[args.length - 1] === "function" ? (args.pop() as Callback<number>) : undefined;
    const [min, max] = args.length === 1 ? [0, args[0]] : [args[0], args[1]];
    if (typeof min !== "number" || !Number.isSafeInteger(min)) throw typeError('The "min" argument must be a safe integer');
    if (typeof max !== "number" || !Number.isSafeInteger(max)) throw typeError('The "max" argument must be a safe integer');
    if (max <= min) throw rangeError(`The value of "max" is out of range. It must be greater than the value of "min" (${min}). Received ${max}`);
    if (max - min > RANDOM_INT_RANGE_LIMIT) throw rangeError(`The value of "max - min" is out of range. It must be <= ${RANDOM_INT_RANGE_LIMIT}. Received ${max - min}`);
    const n = min + rng().nextInt(max - min);
    if (cb === undefined) return n;
    process.nextTick(cb, null, n);
    return undefined;
  };

  // Web Crypto (globalThis.crypto === require("node:crypto").webcrypto). Own properties on the
  // instance shadow the prototype's; node:crypto's getRandomValues export looks the method up
  // on this instance at call time, so it is covered too.
  const web = globalThis.crypto as unknown as Record<string, unknown>;
  web.getRandomValues = getRandomValues;
  web.randomUUID = randomUUID;
  // And on Crypto.prototype: `Object.getPrototypeOf(crypto).getRandomValues.call(crypto, a)`
  // reached the real, unseeded method.
  const webProto = Object.getPrototypeOf(web) as Record<string, unknown> | null;
  if (webProto !== null && webProto !== Object.prototype) {
    for (const [name, f] of [["getRandomValues", getRandomValues], ["randomUUID", randomUUID]] as const) {
      const d = Object.getOwnPropertyDescriptor(webProto, name);
      if (d?.configurable === true) Object.defineProperty(webProto, name, { value: f, writable: true, enumerable: d.enumerable ?? true, configurable: true });
    }
  }

  // node:crypto: patch the CommonJS module object, then push the new values into the ESM
  // named-export bindings (`import { randomUUID } from "node:crypto"`).
  const nodeCrypto = cryptoModule as unknown as Record<string, unknown>;
  nodeCrypto.randomBytes = randomBytes;
  nodeCrypto.randomFill = randomFill;
  nodeCrypto.randomFillSync = randomFillSync;
  nodeCrypto.randomInt = randomInt;
  nodeCrypto.randomUUID = randomUUID;
  // Deprecated aliases of randomBytes (getters on the module object).
  for (const alias of ["pseudoRandomBytes", "prng", "rng"]) {
    const d = Object.getOwnPropertyDescriptor(nodeCrypto, alias);
    if (d === undefined || d.configurable) {
      Object.defineProperty(nodeCrypto, alias, { value: randomBytes, writable: true, enumerable: false, configurable: true });
    }
  }
  syncBuiltinESMExports();

  // esbuild turns `require("x")` in bundled CommonJS dependencies into a call that looks for
  // a global `require`. Provide one that serves Node builtins (including the patched
  // node:crypto) and nothing else: everything else must be bundled.
  const realRequire = createRequire(import.meta.url);
  const sandboxRequire = (id: string): unknown => {
    if (typeof id === "string" && isBuiltin(id)) return realRequire(id) as unknown;
    throw Object.assign(
      new Error(`cannot require ${JSON.stringify(id)} inside the Cairn sandbox: only Node builtins are available at run time; import the module so it is bundled`),
      { code: "MODULE_NOT_FOUND" },
    );
  };
  (globalThis as Record<string, unknown>).require = sandboxRequire;

  return {
    reseed(seed: () => bigint): void {
      seedOf = seed;
      gen = undefined;
    },
  };
}
