/**
 * `verifyRun(..., { signal })` and `replay(..., { signal })` (2026-11-28): before, neither took
 * an abort signal, and a `reexecute` verify or a replay re-running user code that never settles
 * (or a module whose import blocks) could not be stopped by a library caller. Now an abort —
 * given before the call, or during it: while a worker imports the module, while it runs user
 * code that never settles or spins, while the reduce is folded again, or between the pulses a
 * plain verify checks — rejects at once with E_INTERRUPTED, terminates the worker threads the
 * call started (a child process exits by itself), leaves no scratch database and writes nothing
 * to the store. The options are checked like the others (E_USAGE naming the field).
 *
 * The function's behaviour on re-execution is switched by marker files (the run itself completes
 * without them): `<mark>.hang` (an EU awaits a promise that never settles), `<mark>.spin` (an EU
 * busy-loops), `<mark>.import` (the import blocks, Atomics.wait in a loop: Date is frozen in the
 * sandbox), `<mark>.reduce` (reduce busy-loops).
 */
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";
import { runProbe } from "./fixtures/probe-child.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** The most an abort may take to reject (it takes milliseconds on an idle machine). */
const ABORT_LIMIT_MS = 5_000;
/** How long after the call the abort comes: the worker is importing or running user code by then. */
const ABORT_AFTER_MS = 300;
/** Far beyond ABORT_LIMIT_MS, so that a rejection waiting for the EU (or the import) cannot pass. */
const EU_TIMEOUT_MS = 600_000;
const SLOW_IMPORT_MS = 20_000;

function moduleCode(mark: string): string {
  const m = JSON.stringify(mark);
  return `import { existsSync } from "node:fs";
if (existsSync(${m} + ".import")) { const ia = new Int32Array(new SharedArrayBuffer(4)); for (let i = 0; i < ${SLOW_IMPORT_MS / 10}; i++) Atomics.wait(ia, 0, 0, 10); }
export const initial = 0;
export default async (x) => {
  if (existsSync(${m} + ".hang")) await new Promise(() => {});
  if (existsSync(${m} + ".spin")) for (;;) {}
  return x + 1;
};
export function reduce(acc, n) {
  if (existsSync(${m} + ".reduce")) for (;;) {}
  return acc + n;
}
`;
}

interface Fixture {
  store: Store;
  runId: string;
  mark: string;
}

/** A finished run of 3 records in 3 pulses (one partition), its function switched by `mark`'s marker files. */
async function finishedRun(): Promise<Fixture> {
  const { store } = scratch.store();
  const mark = join(scratch.dir(), "mark");
  const r = await run(store, [1, 2, 3], { code: moduleCode(mark), name: "switch.mjs" }, { workers: 1, partitions: 1, pulseSize: 1, euTimeoutMs: EU_TIMEOUT_MS });
  expect(r.status).toBe("completed");
  return { store, runId: r.runId, mark };
}

/** Verify's scratch databases of this process in the OS temp directory (verify-input.ts names them with the pid). */
function ownScratch(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith("cairn-verify-") && n.includes(`-${process.pid}-`));
}

/** `p`'s rejection, and how long after the abort (made `after` ms from now) it came. */
async function abortAfter(p: (signal: AbortSignal) => Promise<unknown>, after: number, reason: unknown = new Error("stop")): Promise<{ err: unknown; ms: number }> {
  const ac = new AbortController();
  let at = Number.NaN;
  const timer = setTimeout(() => {
    at = performance.now();
    ac.abort(reason);
  }, after);
  const err = await p(ac.signal).then(
    () => new Error("expected a rejection"),
    (e: unknown) => e,
  );
  clearTimeout(timer);
  return { err, ms: performance.now() - at };
}

const verifyMessage = (runId: string, why = "stop"): string => `verify aborted (run ${runId}: nothing was written to the store): ${why}`;
const replayMessage = (runId: string, pulse: string, why = "stop"): string => `replay aborted (run ${runId}, pulse ${pulse}: nothing was written to the store): ${why}`;

describe("verifyRun and replay stop on their abort signal", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await finishedRun();
  }, 60_000);
  afterEach(() => {
    for (const s of ["hang", "spin", "import", "reduce"]) rmSync(`${f.mark}.${s}`, { force: true });
  });

  it("verify --reexecute of an EU that never settles: E_INTERRUPTED at once, nothing written, no scratch left", async () => {
    writeFileSync(`${f.mark}.hang`, "");
    const seq = f.store.headLogseq();
    const reason = new Error("stop");
    const { err, ms } = await abortAfter((signal) => verifyRun(f.store, f.runId, { reexecute: true, signal }), ABORT_AFTER_MS, reason);
    const e = await expectCairnError(Promise.reject(err), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details, cause: e.cause }).toEqual({ message: verifyMessage(f.runId), details: { runId: f.runId }, cause: reason });
    expect(ms).toBeLessThan(ABORT_LIMIT_MS);
    expect(f.store.headLogseq()).toBe(seq);
    expect(ownScratch()).toEqual([]);
  }, 60_000);

  it("verify --reexecute while the worker imports a slow module, and while the reduce spins: E_INTERRUPTED at once", async () => {
    writeFileSync(`${f.mark}.import`, "");
    const a = await abortAfter((signal) => verifyRun(f.store, f.runId, { reexecute: true, signal }), ABORT_AFTER_MS);
    const e = await expectCairnError(Promise.reject(a.err), ErrorCode.INTERRUPTED);
    expect(e.message).toBe(verifyMessage(f.runId));
    expect(a.ms).toBeLessThan(ABORT_LIMIT_MS);
    rmSync(`${f.mark}.import`);

    writeFileSync(`${f.mark}.reduce`, "");
    const b = await abortAfter((signal) => verifyRun(f.store, f.runId, { reexecute: true, sample: 0, signal }), ABORT_AFTER_MS, "enough");
    const e2 = await expectCairnError(Promise.reject(b.err), ErrorCode.INTERRUPTED);
    expect({ message: e2.message, cause: e2.cause }).toEqual({ message: verifyMessage(f.runId, "enough"), cause: "enough" });
    expect(b.ms).toBeLessThan(ABORT_LIMIT_MS);
  }, 60_000);

  it("replay of a pulse whose EU spins: E_INTERRUPTED at once naming the run and the pulse; without the marker it replays", async () => {
    writeFileSync(`${f.mark}.spin`, "");
    const seq = f.store.headLogseq();
    const { err, ms } = await abortAfter((signal) => replay(f.store, f.runId, "0/1", { signal }), ABORT_AFTER_MS);
    const e = await expectCairnError(Promise.reject(err), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details }).toEqual({ message: replayMessage(f.runId, "0/1"), details: { runId: f.runId, pulse: "0/1" } });
    expect(ms).toBeLessThan(ABORT_LIMIT_MS);
    expect(f.store.headLogseq()).toBe(seq);
    rmSync(`${f.mark}.spin`);
    // A signal given and never aborted changes nothing.
    const r = await replay(f.store, f.runId, "0/1", { signal: new AbortController().signal });
    expect({ records: r.records, matches: r.matches }).toEqual({ records: ['{"id":1,"output":3}'], matches: true });
    const v = await verifyRun(f.store, f.runId, { reexecute: true, signal: new AbortController().signal });
    expect({ ok: v.ok, pulsesReexecuted: v.pulsesReexecuted, reduceCheck: v.reduceCheck }).toEqual({ ok: true, pulsesReexecuted: 3, reduceCheck: "refolded" });
  }, 60_000);

  it("an already-aborted signal: E_INTERRUPTED before anything is read or started (also for plain verify)", async () => {
    writeFileSync(`${f.mark}.hang`, ""); // would never settle if anything ran
    const signal = AbortSignal.abort(new Error("early"));
    const v = await expectCairnError(verifyRun(f.store, f.runId, { signal }), ErrorCode.INTERRUPTED);
    expect(v.message).toBe(verifyMessage(f.runId, "early"));
    const x = await expectCairnError(verifyRun(f.store, f.runId, { reexecute: true, signal }), ErrorCode.INTERRUPTED);
    expect(x.message).toBe(verifyMessage(f.runId, "early"));
    const r = await expectCairnError(replay(f.store, f.runId, "0", { signal }), ErrorCode.INTERRUPTED);
    expect({ message: r.message, details: r.details }).toEqual({ message: replayMessage(f.runId, "0", "early"), details: { runId: f.runId, pulse: "0" } });
    // Checked before the store is read: even an unknown run is the abort's error.
    await expectCairnError(verifyRun(f.store, "0123456789abcdef", { signal }), ErrorCode.INTERRUPTED, "verify aborted (run 0123456789abcdef");
  });

  it("plain verify aborted between pulses stops there: no further pulse read, scratch databases removed", async () => {
    const ac = new AbortController();
    const store = f.store as Store & { openReader: Store["openReader"] };
    const original = store.openReader;
    let reads = 0;
    // The second pulse's records are opened: the abort comes while that pulse is checked.
    store.openReader = function (this: Store, ...args: Parameters<Store["openReader"]>) {
      reads++;
      if (reads === 2) ac.abort(new Error("stop"));
      return original.apply(this, args);
    } as Store["openReader"];
    try {
      const e = await expectCairnError(verifyRun(f.store, f.runId, { signal: ac.signal }), ErrorCode.INTERRUPTED);
      expect(e.message).toBe(verifyMessage(f.runId));
    } finally {
      store.openReader = original;
    }
    expect(reads).toBe(2);
    expect(ownScratch()).toEqual([]);
    // Unaborted, the same verify passes.
    expect((await verifyRun(f.store, f.runId, { signal: new AbortController().signal })).ok).toBe(true);
  });

  it("plain verify aborted while it reads the output artifact closes that read (its file descriptor stayed open for the process's life: review finding)", async () => {
    const { store } = scratch.store();
    // An output of several MiB: the read is still under way when the abort comes.
    const r = await run(store, Array.from({ length: 20_000 }, (_, n) => n), { code: 'export default (x) => ({ x, pad: "p".repeat(200) });' }, { workers: 1, partitions: 2, pulseSize: 5_000 });
    const ac = new AbortController();
    const s = store as Store & { openReadStream: Store["openReadStream"] };
    const original = s.openReadStream;
    let outputStream: Readable | undefined;
    // The output's stream, tapped: its first chunk read aborts the verify.
    s.openReadStream = function (this: Store, ...args: Parameters<Store["openReadStream"]>) {
      const stream = original.apply(this, args);
      if (args[0] !== r.outputArtifact) return stream;
      outputStream = stream;
      async function* tap(): AsyncGenerator<Buffer> {
        for await (const chunk of stream) {
          ac.abort(new Error("stop"));
          yield chunk as Buffer;
        }
      }
      return Readable.from(tap());
    } as Store["openReadStream"];
    try {
      const e = await expectCairnError(verifyRun(store, r.runId, { signal: ac.signal }), ErrorCode.INTERRUPTED);
      expect(e.message).toBe(verifyMessage(r.runId));
    } finally {
      s.openReadStream = original;
    }
    expect(outputStream).toBeDefined();
    expect(outputStream?.readableEnded).toBe(false); // the abort came mid-read…
    // …and the read was closed (the tap passes the close on once its pending chunk is in: a few turns).
    for (let i = 0; i < 200 && outputStream?.destroyed !== true; i++) await new Promise((res) => setTimeout(res, 10));
    expect(outputStream?.destroyed).toBe(true);
    expect(ownScratch()).toEqual([]);
  }, 60_000);
});

describe("the signal option is checked like the other options", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await finishedRun();
  }, 60_000);

  it.each([
    [{ signal: "yes" }, "signal", "signal must be an AbortSignal, got string"],
    [{ signal: null }, "signal", "signal must be an AbortSignal, got null"],
    [{ signal: new AbortController() }, "signal", "signal must be an AbortSignal, got object"],
    [{ signa: AbortSignal.abort() }, "signa", 'unknown verifyRun option "signa" (did you mean "signal"?); the options are reexecute, sample, signal'],
  ])("verifyRun %j: E_USAGE naming the field", async (opts, field, message) => {
    const e = await expectCairnError(verifyRun(f.store, f.runId, opts as never), ErrorCode.USAGE);
    expect({ message: e.message, field: e.details.field }).toEqual({ message, field });
  });

  it.each([
    [{ signal: 1 }, "signal", "signal must be an AbortSignal, got number"],
    [{ sigal: new AbortController().signal }, "sigal", 'unknown replay option "sigal" (did you mean "signal"?); the options are signal'],
    [{ reexecute: true }, "reexecute", 'unknown replay option "reexecute"; the options are signal'],
    [5, "options", "replay options must be an object, got 5"],
  ])("replay %j: E_USAGE naming the field", async (opts, field, message) => {
    const e = await expectCairnError(replay(f.store, f.runId, "0", opts as never), ErrorCode.USAGE);
    expect({ message: e.message, field: e.details.field }).toEqual({ message, field });
  });
});

/**
 * A child process: a `reexecute` verify of an EU that never settles, aborted after a moment. It
 * prints `settled <json>` and must then exit by itself: a worker thread left running user code
 * would keep it alive.
 */
const PROBE = (mark: string): string => `
import { writeFileSync } from "node:fs";
import { openStore, run, verifyRun, replay } from ${JSON.stringify(pathToFileURL(join(REPO, "src/index.ts")).href)};
const [dir, what] = process.argv.slice(2);
const s = openStore({ dir });
const r = await run(s, [1, 2], { code: ${JSON.stringify(moduleCode(mark))}, name: "switch.mjs" }, { workers: 1, partitions: 1, pulseSize: 1, euTimeoutMs: ${EU_TIMEOUT_MS} });
writeFileSync(${JSON.stringify(mark)} + (what === "verify" ? ".hang" : ".spin"), "");
const ac = new AbortController();
setTimeout(() => ac.abort(new Error("stop")), ${ABORT_AFTER_MS});
const p = what === "verify" ? verifyRun(s, r.runId, { reexecute: true, signal: ac.signal }) : replay(s, r.runId, "0", { signal: ac.signal });
const e = await p.then(() => undefined, (err) => err);
process.stdout.write("settled " + JSON.stringify({ code: e?.code }) + "\\n");
s.close();
`;

describe("the process exits by itself after the abort", () => {
  it.each(["verify", "replay"])("%s: the child settles with E_INTERRUPTED and exits with no worker thread left", async (what) => {
    const dir = scratch.dir();
    const file = join(dir, "probe.mts");
    writeFileSync(file, PROBE(join(dir, "mark")));
    const end = await runProbe(file, [join(dir, "store"), what], { exitWithinMs: ABORT_LIMIT_MS });
    expect({ code: end.code, signal: end.signal, settled: end.settled, stderr: end.stderr }).toEqual({ code: 0, signal: null, settled: { code: "E_INTERRUPTED" }, stderr: "" });
    expect(end.exitMs).toBeLessThan(ABORT_LIMIT_MS);
  }, 120_000);
});
