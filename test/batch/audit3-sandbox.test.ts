/**
 * Audit 3, sandbox: the host's LANG / LC_ALL no longer reaches Date#toString / #toTimeString /
 * Date() (V8 names the time zone in ICU's default locale: "(Koordinierte Weltzeit)" under
 * de_DE); an uncaught exception from a leftover microtask or nextTick callback charges the EU
 * the worker was running when it was thrown, the same on every run (Node kept the worker's
 * microtasks running, later EUs and even the request's final message were accepted, and the EU
 * charged was whichever ran when the termination landed); Crypto.prototype.getRandomValues is
 * seeded.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { WorkerPool, type EUTask, type PulseOutcome } from "../../src/batch/sandbox/pool.js";
import { bundleModule } from "../../src/batch/sandbox/bundle.js";
import { PIN_DATE_STRINGS_SOURCE } from "../../src/core/date-strings.js";
import { runInNewContext } from "node:vm";
import { run } from "../../src/batch/engine.js";
import { ErrorCode } from "../../src/index.js";
import { Scratch } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

async function poolFor(code: string, name = "m.mjs"): Promise<WorkerPool> {
  const path = scratch.text(code, name);
  const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(path), seed: "seed-1", moduleName: name });
  pools.push(pool);
  return pool;
}

/** The outcome without the record texts (wire detail), outputs parsed. */
function plain(o: PulseOutcome): unknown {
  if (o.kind === "crashed") return { ...o, completed: o.completed.map((r) => r.id) };
  return o.results.map((r) => (r.ok ? (r.bytes ? r.output : JSON.parse(r.json)) : { id: r.id, error: r.error.code, message: r.error.message }));
}

describe("Date strings do not depend on the host's locale", () => {
  const MODULE = [
    "class D extends Date {}",
    "export default function (input) {",
    "  const d = new Date(input.t);",
    "  return {",
    "    toString: d.toString(), toTimeString: d.toTimeString(), string: String(d), template: `${d}`, plus: d + '',",
    "    call: Date(), subclass: new D(input.t).toString(), subclassString: String(new D(input.t)),",
    "    invalid: String(new Date(NaN)), invalidTime: new Date(NaN).toTimeString(),",
    "    toDateString: d.toDateString(), toUTCString: d.toUTCString(),",
    "    receiver: (() => { try { return Date.prototype.toString.call({}); } catch (e) { return e.constructor.name; } })(),",
    "  };",
    "}",
    "",
  ].join("\n");
  const PROBE = [
    `import { WorkerPool } from ${JSON.stringify(join(SRC, "batch/sandbox/pool.ts"))};`,
    `import { bundleModule } from ${JSON.stringify(join(SRC, "batch/sandbox/bundle.ts"))};`,
    "const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(process.argv[2]), seed: 's' });",
    "const r = await pool.runPulse(0, [{ id: 0, input: { t: 0 } }, { id: 1, input: { t: Date.UTC(2020, 6, 1) } }], { attempt: 1 });",
    "await pool.close();",
    "if (r.kind !== 'ok') throw new Error(JSON.stringify(r));",
    "process.stdout.write(JSON.stringify(r.results.map((x) => JSON.parse(x.json))));",
    "",
  ].join("\n");

  function runUnder(lang: string, tz: string): Array<Record<string, string>> {
    const dir = scratch.dir();
    const mod = join(dir, "dates.mjs");
    const probe = join(dir, "probe.mts");
    writeFileSync(mod, MODULE);
    writeFileSync(probe, PROBE);
    const p = spawnSync(process.execPath, ["--import", "tsx", probe, mod], { env: { ...process.env, LANG: lang, LC_ALL: lang, TZ: tz }, encoding: "utf8" });
    expect(p.stderr).toBe("");
    expect(p.status).toBe(0);
    return JSON.parse(p.stdout) as Array<Record<string, string>>;
  }

  it("under TZ=UTC: the same en-US strings under C.UTF-8, de_DE.UTF-8 and ja_JP.UTF-8 (before: \"(Koordinierte Weltzeit)\", \"(協定世界時)\")", () => {
    const utc = "GMT+0000 (Coordinated Universal Time)";
    const epoch = `Thu Jan 01 1970 00:00:00 ${utc}`;
    const july = `Wed Jul 01 2020 00:00:00 ${utc}`;
    const expected = [
      { toString: epoch, toTimeString: `00:00:00 ${utc}`, string: epoch, template: epoch, plus: epoch, call: epoch, subclass: epoch, subclassString: epoch, invalid: "Invalid Date", invalidTime: "Invalid Date", toDateString: "Thu Jan 01 1970", toUTCString: "Thu, 01 Jan 1970 00:00:00 GMT", receiver: "TypeError" },
      { toString: july, toTimeString: `00:00:00 ${utc}`, string: july, template: july, plus: july, call: epoch, subclass: july, subclassString: july, invalid: "Invalid Date", invalidTime: "Invalid Date", toDateString: "Wed Jul 01 2020", toUTCString: "Wed, 01 Jul 2020 00:00:00 GMT", receiver: "TypeError" },
    ];
    for (const lang of ["C.UTF-8", "de_DE.UTF-8", "ja_JP.UTF-8"]) expect([lang, runUnder(lang, "UTC")]).toEqual([lang, expected]);
  }, 60_000);

  it("under another TZ the offset is that zone's and the name its en-US one, whatever the locale", () => {
    const c = runUnder("C.UTF-8", "America/New_York");
    expect(runUnder("de_DE.UTF-8", "America/New_York")).toEqual(c);
    expect(c.map((o) => o.toString)).toEqual(["Wed Dec 31 1969 19:00:00 GMT-0500 (Eastern Standard Time)", "Tue Jun 30 2020 20:00:00 GMT-0400 (Eastern Daylight Time)"]);
    expect(c[0]?.call).toBe("Wed Dec 31 1969 19:00:00 GMT-0500 (Eastern Standard Time)");
  }, 60_000);
});

describe("pinDateStrings is self-contained: it pins another realm's Date", () => {
  it("evaluated from its source text in a node:vm context, it pins that context's Date and leaves the host's alone", () => {
    const hostProto = Date.prototype.toString;
    const name = new Intl.DateTimeFormat("en-US", { timeZoneName: "long" }).formatToParts(0).find((p) => p.type === "timeZoneName")?.value;
    const out = runInNewContext(`const ds = (${PIN_DATE_STRINGS_SOURCE})(Date, Intl.DateTimeFormat); [String(new Date(0)), ds(0), new Date(NaN).toTimeString()]`) as string[];
    const prefix = new Date(0).toString().slice(0, new Date(0).toString().indexOf(" ("));
    expect(out).toEqual([`${prefix} (${name})`, `${prefix} (${name})`, "Invalid Date"]);
    expect(Date.prototype.toString).toBe(hostProto);
  });
});

describe("an uncaught exception charges the EU running when it is thrown, the same on every run", () => {
  // EU `micro` / `tick` leaves a throwing microtask / nextTick callback behind; EU `async`
  // awaits (so leftovers queued before it run during it: microtasks at its first await, nextTick
  // callbacks only once the worker is back in its event loop, for a timer); the others are
  // synchronous.
  const MODULE = [
    "export default function (x) {",
    "  if (x.leave === 'micro') queueMicrotask(() => { throw new Error(`leftover of EU ${x.n}`); });",
    "  if (x.leave === 'tick') process.nextTick(() => { throw new Error(`tick of EU ${x.n}`); });",
    "  if (x.async) return (async () => { await (x.async === 'timer' ? new Promise((r) => setTimeout(r, 5)) : null); return { n: x.n, async: true }; })();",
    "  return { n: x.n };",
    "}",
    "",
  ].join("\n");
  const eus = (n: number, leave: Record<number, string>, asyncAt: number[], wait: true | "timer" = true): EUTask[] =>
    Array.from({ length: n }, (_, i) => ({ id: i, input: { n: i, ...(leave[i] === undefined ? {} : { leave: leave[i] }), ...(asyncAt.includes(i) ? { async: wait } : {}) } }));

  it.each([
    ["microtask", "micro", true, "leftover of EU 100"],
    ["nextTick callback", "tick", "timer", "tick of EU 100"],
  ] as const)("a %s left by EU 100 throws while EU 101 awaits: EU 101 is charged, with the whole chunk before it and nothing after (5 runs)", async (_what, leave, wait, what) => {
    const pool = await poolFor(MODULE);
    const request = eus(200, { 100: leave }, [101], wait);
    for (let k = 0; k < 5; k++) {
      const out = await pool.runPulse(k, request, { attempt: 1 });
      // Before: the worker ran on; the request's final message was accepted ("ok") or the EU
      // charged was whichever ran when the termination landed.
      expect(plain(out)).toEqual({
        kind: "crashed",
        error: { code: ErrorCode.WORKER_CRASHED, message: `worker crashed with an uncaught Error: ${what} while running EU 101` },
        euIndex: 101,
        completed: Array.from({ length: 64 }, (_, i) => i), // chunk 0..63; chunk 64..127 was not finished
      });
    }
  });

  it("a leftover that throws after its request's last EU settled charges nobody: the results stand, the next request runs on a new worker", async () => {
    const pool = await poolFor(MODULE);
    expect(plain(await pool.runPulse(0, eus(3, { 1: "micro" }, []), { attempt: 1 }))).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    // A nextTick callback waits for the event loop, which an `await null` does not reach: it
    // throws after the request too.
    const pool2 = await poolFor(MODULE);
    expect(plain(await pool2.runPulse(0, eus(3, { 0: "tick" }, [1]), { attempt: 1 }))).toEqual([{ n: 0 }, { n: 1, async: true }, { n: 2 }]);
    // The next request: on the replacement, or (if it was already sent to the dying worker)
    // reported as a crash before any EU started, which charges nobody (pulse.ts re-runs it).
    const next = await pool.runPulse(1, eus(2, {}, [1]), { attempt: 1 });
    if (next.kind === "crashed") expect(next).toEqual({ kind: "crashed", error: { code: ErrorCode.WORKER_CRASHED, message: "worker crashed with an uncaught Error: leftover of EU 1" }, completed: [] });
    else expect(plain(next)).toEqual([{ n: 0 }, { n: 1, async: true }]);
  });

  it("through the engine: the same failures and output digest on every run (before: they changed from run to run)", async () => {
    const data = Array.from({ length: 20 }, (_, n) => ({ n, ...(n % 5 === 0 ? { leave: "micro" } : {}), ...(n % 5 === 1 ? { async: true } : {}) }));
    const fn = { code: MODULE, name: "micro.mjs" };
    const seen = new Set<string>();
    for (let k = 0; k < 3; k++) {
      const { store } = scratch.store();
      const r = await run(store, data, fn, { workers: 1, partitions: 1, pulseSize: 20, retries: 0, allowFailures: true });
      expect(r.failures).toEqual([1, 6, 11, 16].map((id) => ({ id, code: ErrorCode.WORKER_CRASHED, message: `worker crashed with an uncaught Error: leftover of EU 0 while running EU ${id}` })));
      seen.add(r.outputDigest);
    }
    expect(seen.size).toBe(1);
  });

  it("a module with its own uncaughtException listener handles its errors itself: no crash", async () => {
    const pool = await poolFor(`process.on("uncaughtException", () => {});\n${MODULE}`);
    expect(plain(await pool.runPulse(0, eus(3, { 0: "micro" }, [1]), { attempt: 1 }))).toEqual([{ n: 0 }, { n: 1, async: true }, { n: 2 }]);
  });

  it("an uncaught exception at import is still E_INVALID_INPUT naming it", async () => {
    const path = scratch.text("queueMicrotask(() => { throw new TypeError('at import'); });\nexport default (x) => x;\n", "imp.mjs");
    await expect(WorkerPool.create({ size: 1, bundle: await bundleModule(path), seed: "s", moduleName: "imp.mjs" })).rejects.toMatchObject({
      code: ErrorCode.INVALID_INPUT,
      message: "module imp.mjs crashed its worker while importing: TypeError: at import",
    });
  });
});

describe("Crypto.prototype.getRandomValues is seeded", () => {
  it("Object.getPrototypeOf(crypto).getRandomValues.call(crypto, …) draws from the EU's stream (before: the real, unseeded method)", async () => {
    const code = [
      "const hex = (a) => Buffer.from(a).toString('hex');",
      "export default (x) => x.proto",
      "  ? { v: hex(Object.getPrototypeOf(globalThis.crypto).getRandomValues.call(globalThis.crypto, new Uint8Array(8))), u: Object.getPrototypeOf(globalThis.crypto).randomUUID.call(globalThis.crypto) }",
      "  : { v: hex(globalThis.crypto.getRandomValues(new Uint8Array(8))), u: globalThis.crypto.randomUUID() };",
      "",
    ].join("\n");
    const a = await poolFor(code, "grv.mjs");
    const b = await poolFor(code, "grv.mjs");
    const viaProto = plain(await a.runPulse(0, [{ id: 7, input: { proto: true } }], { attempt: 1 }));
    expect(plain(await b.runPulse(0, [{ id: 7, input: { proto: true } }], { attempt: 1 }))).toEqual(viaProto);
    // The same draws as the instance's methods for the same EU id.
    expect(plain(await b.runPulse(1, [{ id: 7, input: { proto: false } }], { attempt: 1 }))).toEqual(viaProto);
  });
});
