/**
 * The timer fence of sandbox workers: timers the user's code arms after its module has been
 * imported do not outlive the EU (or reduce step) during which they were armed. Without it a
 * timer left behind by EU k fires while EU k+j runs — draws from ITS entropy stream, changes
 * module state under it, or crashes the worker with an uncaught error and so makes innocent
 * EUs fail — and which EU that is depends on the pulse layout, i.e. on the run's config.
 *
 * What is tracked: `setTimeout`, `setInterval` and `setImmediate` through the globals,
 * `node:timers` (default, namespace and named imports — `syncBuiltinESMExports` — and
 * `require("node:timers")` in bundled CommonJS), `util.promisify` of them, `Timeout#refresh()`
 * of a tracked timer, `node:timers/promises` (`setTimeout`, `setImmediate`, `setInterval`,
 * `scheduler.wait`, `scheduler.yield`, also reached as `require("node:timers").promises`) and
 * `AbortSignal.timeout`. `clearTimeout`/`clearInterval`/`clearImmediate` forget the timer they
 * clear, and a one-shot timer is forgotten when it fires, so an EU that arms and clears or
 * awaits many timers in a row holds no more than the ones pending.
 *
 * When: `startTracking()` is called once the module's import has settled. From then on every
 * timer armed through the functions above is tracked — while an EU runs, and also outside
 * EUs (continuations of an EU's unawaited promises run after a synchronous pulse has finished,
 * and a timer they arm must not escape either) — EXCEPT timers armed synchronously inside the
 * callback of an untracked timer. So timers armed while the module is imported keep today's
 * behaviour, and so do the timers their callbacks arm (a `setTimeout` chain or a
 * `setInterval` started at the top level keeps running across EUs, as before).
 *
 * `cancelPending()` cancels every tracked timer still pending: the worker calls it when an EU
 * or reduce step settles (after its result is built, before the next one starts) and when a
 * request starts (for timers armed while the worker was idle). A cancelled callback timer never
 * fires; a cancelled `timers/promises` promise never settles (it does not reject: nobody is
 * left to handle the rejection, which would crash the worker) and a cancelled
 * `timers/promises` interval iterator never yields again. Cost when nothing was tracked since
 * the previous call: one boolean test.
 *
 * NOT covered: microtasks and unawaited promises cannot be cancelled — their continuations run
 * whenever the event loop gets to them (during a later EU's await, or after the pulse) and a
 * timer they arm belongs to whatever runs then; timers armed by Node internally for I/O
 * (sockets, HTTP, child processes…) unless that module reaches them through `node:timers`
 * (Node modules loaded after the fence, such as `node:http`, do); `Atomics.waitAsync`
 * timeouts; the legacy `timers.enroll/active` APIs; continuations of an import-time
 * `await setTimeout(…)` loop (they run after the import, so the next timer they arm is tracked
 * and the loop stops at the next EU boundary).
 *
 * The engine code in the worker uses no timers; if it ever needs one it must use the
 * originals (`realTimers`), which the fence never touches.
 *
 * MUST only be installed inside a sandbox worker thread (it rewrites globals and the
 * `node:timers` module objects of the whole isolate), and before the user module is imported.
 */
import timersModule from "node:timers";
import timersPromisesModule from "node:timers/promises";
import { syncBuiltinESMExports } from "node:module";
import { promisify } from "node:util";

type Fn = (this: unknown, ...args: unknown[]) => unknown;
type Timer = object;

/** The functions as they were before the fence: for engine code that needs a timer. */
export const realTimers = {
  setTimeout: timersModule.setTimeout,
  clearTimeout: timersModule.clearTimeout,
  setInterval: timersModule.setInterval,
  clearInterval: timersModule.clearInterval,
  setImmediate: timersModule.setImmediate,
  clearImmediate: timersModule.clearImmediate,
} as const;

export interface TimerFence {
  /** Called once the user module's import has settled: from then on timers are tracked. */
  startTracking(): void;
  /** Cancels every tracked timer still pending. One boolean test when there is none. */
  cancelPending(): void;
}

/** The abort reason of a fence cancellation: a promise whose timer was cancelled by it never settles. */
const CANCELLED: unknown = Object.freeze({ cancelledBy: "cairn timer fence" });

interface SignalLike {
  aborted: boolean;
  reason?: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** `timers/promises` options the fence can handle; undefined when the real function must see them (it rejects). */
function readOptions(options: unknown): { signal: SignalLike | undefined; ref: unknown } | undefined {
  if (options === undefined) return { signal: undefined, ref: undefined };
  if (options === null || typeof options !== "object" || Array.isArray(options)) return undefined;
  const { signal, ref } = options as { signal?: unknown; ref?: unknown };
  if (signal === undefined) return { signal: undefined, ref };
  if (signal === null || typeof signal !== "object") return undefined;
  const s = signal as Partial<SignalLike>;
  if (typeof s.addEventListener !== "function" || typeof s.removeEventListener !== "function" || s.aborted === true) return undefined;
  return { signal: s as SignalLike, ref };
}

/** Installs the fence. Call once per worker, before importing the user module. */
export function installTimerFence(): TimerFence {
  const real = {
    setTimeout: realTimers.setTimeout as unknown as Fn,
    clearTimeout: realTimers.clearTimeout as unknown as Fn,
    setInterval: realTimers.setInterval as unknown as Fn,
    clearInterval: realTimers.clearInterval as unknown as Fn,
    setImmediate: realTimers.setImmediate as unknown as Fn,
    clearImmediate: realTimers.clearImmediate as unknown as Fn,
  };
  const tp = timersPromisesModule as unknown as Record<string, unknown> & { scheduler?: Record<string, unknown> };
  const realP = {
    setTimeout: tp.setTimeout as (delay: unknown, value: unknown, options?: unknown) => Promise<unknown>,
    setImmediate: tp.setImmediate as (value: unknown, options?: unknown) => Promise<unknown>,
    setInterval: tp.setInterval as (delay: unknown, value: unknown, options?: unknown) => AsyncIterableIterator<unknown>,
  };

  let tracking = false;
  /** Something was tracked since the last cancelPending(). */
  let dirty = false;
  const timeouts = new Set<Timer>(); // Timeouts of setTimeout and setInterval
  const immediates = new Set<Timer>();
  const aborts = new Set<AbortController>(); // one per timers/promises timer
  /** Timeouts armed by tracked code: `refresh()` re-arms one, so it tracks it again. */
  const created = new WeakSet<Timer>();

  /** A callback of an untracked timer: what it arms synchronously is untracked too. */
  const untracked = (cb: Fn): Fn =>
    function (this: unknown, ...args: unknown[]): unknown {
      const prev = tracking;
      tracking = false;
      try {
        return Reflect.apply(cb, this, args);
      } finally {
        tracking = prev;
      }
    };

  // ---- callback timers ------------------------------------------------------------------
  // Node calls a timer's callback with `this` = the Timeout / Immediate.
  function setTimeout(this: unknown, callback: unknown, ...rest: unknown[]): unknown {
    if (typeof callback !== "function") return Reflect.apply(real.setTimeout, this, [callback, ...rest]); // the real error
    if (!tracking) return Reflect.apply(real.setTimeout, this, [untracked(callback as Fn), ...rest]);
    const t = Reflect.apply(real.setTimeout, this, [
      function (this: Timer, ...args: unknown[]): unknown {
        timeouts.delete(this);
        return Reflect.apply(callback as Fn, this, args);
      },
      ...rest,
    ]) as Timer;
    timeouts.add(t);
    created.add(t);
    dirty = true;
    return t;
  }

  function setInterval(this: unknown, callback: unknown, ...rest: unknown[]): unknown {
    if (typeof callback !== "function") return Reflect.apply(real.setInterval, this, [callback, ...rest]);
    if (!tracking) return Reflect.apply(real.setInterval, this, [untracked(callback as Fn), ...rest]);
    const t = Reflect.apply(real.setInterval, this, [callback, ...rest]) as Timer;
    timeouts.add(t);
    created.add(t);
    dirty = true;
    return t;
  }

  function setImmediate(this: unknown, callback: unknown, ...rest: unknown[]): unknown {
    if (typeof callback !== "function") return Reflect.apply(real.setImmediate, this, [callback, ...rest]);
    if (!tracking) return Reflect.apply(real.setImmediate, this, [untracked(callback as Fn), ...rest]);
    const i = Reflect.apply(real.setImmediate, this, [
      function (this: Timer, ...args: unknown[]): unknown {
        immediates.delete(this);
        return Reflect.apply(callback as Fn, this, args);
      },
      ...rest,
    ]) as Timer;
    immediates.add(i);
    dirty = true;
    return i;
  }

  // clearTimeout and clearInterval are interchangeable in Node; a numeric id clears the timer
  // but leaves it in the set, where cancelling it again is harmless.
  function clearTimeout(this: unknown, timer: unknown): unknown {
    if (dirty && typeof timer === "object" && timer !== null) timeouts.delete(timer);
    return Reflect.apply(real.clearTimeout, this, [timer]);
  }
  function clearInterval(this: unknown, timer: unknown): unknown {
    if (dirty && typeof timer === "object" && timer !== null) timeouts.delete(timer);
    return Reflect.apply(real.clearInterval, this, [timer]);
  }
  function clearImmediate(this: unknown, immediate: unknown): unknown {
    if (dirty && typeof immediate === "object" && immediate !== null) immediates.delete(immediate);
    return Reflect.apply(real.clearImmediate, this, [immediate]);
  }

  // refresh() re-arms a Timeout, even one that has fired (not one that was cleared).
  const probe = real.setTimeout(() => undefined, 0) as Timer;
  real.clearTimeout(probe);
  const timeoutProto = Object.getPrototypeOf(probe) as Record<string, unknown>;
  const realRefresh = timeoutProto.refresh as Fn;
  Object.defineProperty(timeoutProto, "refresh", {
    value: function refresh(this: Timer): unknown {
      const r = Reflect.apply(realRefresh, this, []);
      if (tracking && created.has(this)) {
        timeouts.add(this);
        dirty = true;
      }
      return r;
    },
    writable: true,
    enumerable: false,
    configurable: true,
  });

  // ---- timers/promises ------------------------------------------------------------------
  /**
   * Runs a real timers/promises function with a signal of the fence's own (linked to the
   * caller's), so that cancelPending() can clear its timer; the promise then never settles.
   */
  function fenced<T>(signal: SignalLike | undefined, start: (own: AbortSignal) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    let forward: (() => void) | undefined;
    if (signal !== undefined) {
      forward = () => ctl.abort(signal.reason);
      signal.addEventListener("abort", forward, { once: true });
    }
    const done = (): void => {
      aborts.delete(ctl);
      if (forward !== undefined) signal?.removeEventListener("abort", forward);
    };
    aborts.add(ctl);
    dirty = true;
    let inner: Promise<T>;
    try {
      inner = start(ctl.signal);
    } catch (err) {
      done();
      throw err;
    }
    return new Promise<T>((resolve, reject) => {
      inner.then(
        (v) => {
          done();
          resolve(v);
        },
        (err: unknown) => {
          done();
          if (ctl.signal.reason !== CANCELLED) reject(err);
        },
      );
    });
  }

  function setTimeoutP(delay?: unknown, value?: unknown, options?: unknown): Promise<unknown> {
    const o = tracking ? readOptions(options) : undefined;
    if (o === undefined) return realP.setTimeout(delay, value, options);
    return fenced(o.signal, (own) => realP.setTimeout(delay, value, { signal: own, ref: o.ref }));
  }

  function setImmediateP(value?: unknown, options?: unknown): Promise<unknown> {
    const o = tracking ? readOptions(options) : undefined;
    if (o === undefined) return realP.setImmediate(value, options);
    return fenced(o.signal, (own) => realP.setImmediate(value, { signal: own, ref: o.ref }));
  }

  /** Like the real one, an async generator: its interval is armed on the first next(). */
  async function* setIntervalP(delay?: unknown, value?: unknown, options?: unknown): AsyncGenerator<unknown, unknown, unknown> {
    const o = tracking ? readOptions(options) : undefined;
    if (o === undefined) return yield* realP.setInterval(delay, value, options);
    const ctl = new AbortController();
    const signal = o.signal;
    const forward = (): void => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", forward, { once: true });
    // Cancelled by the fence, the generator waits forever and its `finally` never runs: let go
    // of the caller's signal now.
    ctl.signal.addEventListener("abort", () => signal?.removeEventListener("abort", forward), { once: true });
    aborts.add(ctl);
    dirty = true;
    const it = realP.setInterval(delay, value, { signal: ctl.signal, ref: o.ref });
    try {
      for (;;) {
        const r = await new Promise<IteratorResult<unknown>>((resolve, reject) => {
          it.next().then(resolve, (err: unknown) => {
            if (ctl.signal.reason !== CANCELLED) reject(err);
          });
        });
        if (r.done === true) return r.value;
        yield r.value;
      }
    } finally {
      aborts.delete(ctl);
      signal?.removeEventListener("abort", forward);
      await it.return?.();
    }
  }

  // ---- AbortSignal.timeout --------------------------------------------------------------
  const realAbortTimeout = AbortSignal.timeout.bind(AbortSignal);
  const abortTimeout = function timeout(delay: number): AbortSignal {
    // Anything but a valid uint32 goes to the real function, for its error.
    if (!tracking || !Number.isInteger(delay) || delay < 0 || delay > 0xffff_ffff) return realAbortTimeout(delay);
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), delay) as { unref(): void };
    t.unref(); // like the real one, it does not keep the event loop alive
    return ctl.signal;
  };

  // ---- install --------------------------------------------------------------------------
  Object.defineProperty(setTimeout, promisify.custom, { value: setTimeoutP, enumerable: true, configurable: true, writable: true });
  Object.defineProperty(setImmediate, promisify.custom, { value: setImmediateP, enumerable: true, configurable: true, writable: true });

  const callbackApi = { setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate };
  Object.assign(globalThis, callbackApi);
  // The CommonJS module object (require, default import; `promises` is a getter of the same
  // timers/promises object), then the ESM named-export bindings.
  Object.assign(timersModule, callbackApi);
  tp.setTimeout = setTimeoutP;
  tp.setImmediate = setImmediateP;
  tp.setInterval = setIntervalP;
  const scheduler = tp.scheduler;
  if (scheduler !== undefined) {
    const realWait = scheduler.wait as Fn;
    const realYield = scheduler.yield as Fn;
    // Own properties shadow the prototype's methods; another `this` gets the real error.
    scheduler.wait = function wait(this: unknown, delay: unknown, options?: unknown): unknown {
      if (this !== scheduler) return Reflect.apply(realWait, this, [delay, options]);
      return setTimeoutP(delay, undefined, options);
    };
    scheduler.yield = function yield_(this: unknown): unknown {
      if (this !== scheduler) return Reflect.apply(realYield, this, []);
      return setImmediateP();
    };
  }
  (AbortSignal as unknown as { timeout: typeof abortTimeout }).timeout = abortTimeout;
  syncBuiltinESMExports();

  return {
    startTracking(): void {
      tracking = true;
    },
    cancelPending(): void {
      if (!dirty) return;
      dirty = false;
      for (const t of timeouts) real.clearTimeout(t);
      timeouts.clear();
      for (const i of immediates) real.clearImmediate(i);
      immediates.clear();
      // abort() runs the real functions' listeners synchronously: they clear their timers.
      for (const c of aborts) c.abort(CANCELLED);
      aborts.clear();
    },
  };
}
