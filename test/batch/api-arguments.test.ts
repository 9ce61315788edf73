/**
 * The batch library's arguments, checked fail-closed (UAT findings of 2026-11-27, T1: F1–F5,
 * F9, F10 and the replay note): every wrong argument is E_USAGE with `details.field` naming the
 * config key, option or argument, before any store work; nothing is coerced or ignored.
 * - normalizeConfig: `details.field` is the RunConfigInput key (it was "pulse size", "EU
 *   timeout"…), strings are quoted in messages, `null` is refused (it meant the default).
 * - run: a dataset that is not a path or an iterable, and a first argument that is not a Store
 *   (also for resume, streamOutputs, verifyRun, replay, listRuns), were raw TypeErrors.
 * - verifyRun's options: a typo'd or non-boolean `reexecute` skipped re-execution and reported ok.
 * - run/resume hooks: unknown keys, a non-function onProgress, a non-string or empty outFile, a
 *   stdin that is not a Readable.
 * - a malformed run id is E_USAGE for streamOutputs too (it was E_NOT_FOUND).
 * - a reused run sends the final `done` progress event (it ended at `ingest`).
 * - replay's message for a non-string pulse says to pass a string (it offered 0 and refused it).
 */
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ErrorCode, listRuns, loadManifest, normalizeConfig, replay, resume, run, streamOutputs, verifyRun, type Progress, type RunConfigInput, type RunHooks, type Store,
} from "../../src/index.js";
import { Scratch, expectCairnError, usage } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN = { code: "export default (x) => x;" };

/** Every artifact in the store (to show a refused call stored nothing). */
function artifactCount(store: Store): number {
  return [...store.list()].length;
}

describe("normalizeConfig: details.field is the config key; null is not the default", () => {
  const INT_KEYS: Array<[keyof RunConfigInput, number, string]> = [
    ["partitions", 0, "1..65536"],
    ["pulseSize", 0, "1..1000000"],
    ["workers", 0, "1..256"],
    ["maxPulsesInFlight", 0, "1..1024"],
    ["retries", -1, "0..100"],
    ["maxMemoryBytes", 1, `33554432..${Number.MAX_SAFE_INTEGER}`],
    ["euTimeoutMs", 0, "1..86400000"],
  ];

  it("an out-of-range or wrong-typed integer names its key, strings quoted", () => {
    for (const [key, bad, range] of INT_KEYS) {
      const e = usage(() => normalizeConfig({ [key]: bad }));
      expect(e.message).toBe(`${key} must be an integer in ${range}, got ${bad}`);
      expect(e.details).toEqual({ field: key });
      const s = usage(() => normalizeConfig({ [key]: "8" } as unknown as RunConfigInput));
      expect(s.message).toBe(`${key} must be an integer in ${range}, got "8"`);
      expect(s.details).toEqual({ field: key });
    }
    expect(usage(() => normalizeConfig({ auditRate: "0.5" } as unknown as RunConfigInput)).message).toBe('auditRate must be a number in [0, 1], got "0.5"');
    expect(usage(() => normalizeConfig({ format: 5 } as unknown as RunConfigInput)).message).toBe("format must be one of jsonl, csv, json, lines, files, got 5");
  });

  it("null for any key is E_USAGE naming it (partitions: null ran with 8)", () => {
    for (const key of ["format", "idField", "partitions", "pulseSize", "workers", "maxPulsesInFlight", "retries", "seed", "maxMemoryBytes", "allowFailures", "auditRate", "euTimeoutMs"]) {
      const e = usage(() => normalizeConfig({ [key]: null } as unknown as RunConfigInput));
      expect(e.details, key).toEqual({ field: key });
      expect(e.message, key).toMatch(new RegExp(`^${key} must .*got null$`));
    }
    // Absent and undefined stay the default.
    expect(normalizeConfig({ partitions: undefined, format: undefined, auditRate: undefined })).toEqual(normalizeConfig({}));
  });
});

describe("run: the dataset and the store argument", () => {
  it("a dataset that is not a path or an iterable is E_USAGE naming it, before the store is written", async () => {
    const { store } = scratch.store();
    const cases: Array<[unknown, string]> = [
      [5, "5"],
      [null, "null"],
      [{ a: 1 }, "an object"],
      [true, "true"],
      [undefined, "undefined"],
      [function* gen() {}, "a function"],
      ["", ""],
    ];
    for (const [d, shown] of cases) {
      const e = await expectCairnError(run(store, d as never, FN, { workers: 1 }), ErrorCode.USAGE);
      expect(e.details, String(d)).toEqual({ field: "dataset" });
      if (d !== "") expect(e.message).toContain(`got ${shown}`);
    }
    expect(artifactCount(store)).toBe(0);
    // Arrays, iterables, async iterables still run.
    async function* gen(): AsyncGenerator<number> {
      yield 1;
    }
    for (const d of [[1], new Set([1]), gen()]) expect((await run(store, d, FN, { workers: 1 })).counts.total).toBe(1);
  });

  it("a first argument that is not a Store is E_USAGE naming `store`, for every batch entry point", async () => {
    const { store } = scratch.store();
    const r = await run(store, [1, 2], FN, { workers: 1, partitions: 1 });
    for (const bad of [undefined, null, 5, "s", {}]) {
      const s = bad as unknown as Store;
      const calls: Array<[string, () => Promise<unknown>]> = [
        ["run", () => run(s, [1], FN)],
        ["resume", () => resume(s, r.runId)],
        ["streamOutputs", () => streamOutputs(s, r.runId).next()],
        ["verifyRun", () => verifyRun(s, r.runId)],
        ["replay", () => replay(s, r.runId, "0")],
        ["listRuns", async () => listRuns(s)],
        ["loadManifest", async () => loadManifest(s, r.runId)],
      ];
      for (const [name, call] of calls) {
        const e = await expectCairnError(call(), ErrorCode.USAGE, `${name}: store must be a Store`);
        expect(e.details).toEqual({ field: "store" });
      }
    }
  });
});

describe("run: config problems of the dataset name the config key", () => {
  it("idField with lines/files, a format with an in-memory dataset, files with stdin", async () => {
    const { store } = scratch.store();
    const path = scratch.text("a\n", "x.txt");
    const cases: Array<[unknown, RunConfigInput, string, string]> = [
      [path, { format: "lines", idField: "id" }, "idField", "the lines format has no fields"],
      [path, { format: "files", idField: "path" }, "idField", "the files format takes idField"],
      [[1], { format: "csv" }, "format", "in-memory dataset"],
      ["-", { format: "files" }, "dataset", "the files format reads a directory, not stdin"],
    ];
    for (const [d, cfg, field, text] of cases) {
      const e = await expectCairnError(run(store, d as string, FN, { workers: 1, ...cfg }), ErrorCode.USAGE, text);
      expect(e.details).toEqual({ field });
    }
    expect(artifactCount(store)).toBe(0);
  });
});

describe("run/resume hooks", () => {
  it("a hook of the wrong type, an unknown hook, hooks that are not an object: E_USAGE naming it", async () => {
    const { store } = scratch.store();
    const cases: Array<[unknown, string, string]> = [
      [{ onProgress: 5 }, "onProgress", "hooks.onProgress must be a function, got 5"],
      [{ outFile: 5 }, "outFile", "hooks.outFile must be a non-empty string (a file path), got 5"],
      [{ outFile: "" }, "outFile", 'hooks.outFile must be a non-empty string (a file path), got a string ""'],
      [{ stdin: "x" }, "stdin", 'hooks.stdin must be a Readable stream (read for the dataset "-"), got a string "x"'],
      [{ signal: 5 }, "signal", "hooks.signal must be an AbortSignal, got number"],
      [null, "hooks", "hooks must be an object, got null"],
      [5, "hooks", "hooks must be an object, got 5"],
      [() => {}, "hooks", "hooks must be an object, got a function"],
      [new Map(), "hooks", "hooks must be an object, got an instance of Map"],
    ];
    for (const [hooks, field, message] of cases) {
      for (const call of [() => run(store, [1], FN, { workers: 1 }, hooks as RunHooks), () => resume(store, "0123456789abcdef", hooks as RunHooks)]) {
        const e = await expectCairnError(call(), ErrorCode.USAGE);
        expect(e.message).toBe(message);
        expect(e.details).toEqual({ field });
      }
    }
    const typo = await expectCairnError(run(store, [1], FN, { workers: 1 }, { onprogress: () => {} } as unknown as RunHooks), ErrorCode.USAGE);
    expect(typo.message).toBe('unknown hook "onprogress" (did you mean "onProgress"?); the hooks are onProgress, signal, outFile, stdin');
    expect(typo.details).toEqual({ field: "onprogress", suggestion: "onProgress" });
    expect(artifactCount(store)).toBe(0);
    // A stdin stream is read for "-"; undefined hooks are absent.
    const r = await run(store, "-", FN, { workers: 1 }, { stdin: Readable.from(['{"a":1}\n']), onProgress: undefined, outFile: undefined });
    expect(r.counts.total).toBe(1);
    // ... and only then: with another dataset, or given to resume, it was silently ignored.
    const path = scratch.text('{"a":1}\n', "one.jsonl");
    const ignored: Array<[() => Promise<unknown>, string]> = [
      [() => run(store, path, FN, { workers: 1 }, { stdin: Readable.from(["{}\n"]) }), `the dataset is a string ${JSON.stringify(path)}`],
      [() => run(store, [1], FN, { workers: 1 }, { stdin: Readable.from(["{}\n"]) }), "the dataset is an array"],
      [() => resume(store, r.runId, { stdin: Readable.from(["{}\n"]) }), "resume reads the run's stored input"],
    ];
    for (const [call, why] of ignored) {
      const e = await expectCairnError(call(), ErrorCode.USAGE);
      expect(e.message).toBe(`hooks.stdin is read only for the dataset "-" (stdin), and ${why}: it would be ignored`);
      expect(e.details).toEqual({ field: "stdin" });
    }
    // Hooks as an instance of the caller's class (methods on its prototype) work as before the checks (review 2026-11-27).
    const phases: string[] = [];
    class Hooks {
      onProgress(p: Progress): void {
        phases.push(p.phase);
      }
    }
    await run(store, [7], FN, { workers: 1 }, new Hooks());
    expect(phases).toContain("done");
  });
});

describe("verifyRun options", () => {
  let store: Store;
  let runId: string;
  beforeAll(async () => {
    ({ store } = scratch.store());
    runId = (await run(store, [1, 2, 3, 4], FN, { partitions: 2, pulseSize: 1, workers: 1 })).runId;
  });

  it("a typo'd key, a non-boolean reexecute, options that are not an object: E_USAGE (they verified ok without re-executing)", async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ reExecute: true }, "reExecute", 'unknown verifyRun option "reExecute" (did you mean "reexecute"?); the options are reexecute, sample, signal'],
      [{ bogus: 1 }, "bogus", 'unknown verifyRun option "bogus"; the options are reexecute, sample, signal'],
      [{ reexecute: "yes" }, "reexecute", 'reexecute must be a boolean, got "yes"'],
      [{ reexecute: 1 }, "reexecute", "reexecute must be a boolean, got 1"],
      [{ reexecute: true, sample: -1 }, "sample", "sample must be a non-negative integer, got -1"],
      [{ reexecute: true, sample: 1.5 }, "sample", "sample must be a non-negative integer, got 1.5"],
      [{ reexecute: true, sample: "2" }, "sample", 'sample must be a non-negative integer, got "2"'],
      [{ sample: 2 }, "sample", "sample applies only with reexecute: true (the pulses to re-execute)"],
      [5, "options", "verifyRun options must be an object, got 5"],
      [null, "options", "verifyRun options must be an object, got null"],
    ];
    for (const [opts, field, message] of cases) {
      const e = await expectCairnError(verifyRun(store, runId, opts as never), ErrorCode.USAGE);
      expect(e.message).toBe(message);
      expect(e.details).toEqual(field === "reExecute" ? { field, suggestion: "reexecute" } : { field });
    }
  });

  it("valid options still verify, and re-execute as asked", async () => {
    expect((await verifyRun(store, runId)).pulsesReexecuted).toBe(0);
    expect((await verifyRun(store, runId, { reexecute: false })).pulsesReexecuted).toBe(0);
    const all = await verifyRun(store, runId, { reexecute: true });
    expect([all.ok, all.pulsesReexecuted]).toEqual([true, 4]);
    expect((await verifyRun(store, runId, { reexecute: true, sample: 2 })).pulsesReexecuted).toBe(2);
    expect((await verifyRun(store, runId, { reexecute: true, sample: 0 })).pulsesReexecuted).toBe(0);
  });

  it("a malformed run id is E_USAGE for streamOutputs and loadManifest too, as for verifyRun, replay and resume", async () => {
    for (const call of [() => streamOutputs(store, "zzz").next(), () => verifyRun(store, "zzz"), () => replay(store, "zzz", "0"), () => resume(store, "zzz"), async () => loadManifest(store, "zzz")]) {
      await expectCairnError(call(), ErrorCode.USAGE, 'malformed run id "zzz"');
    }
    // loadManifest said undefined (no such run) for a malformed id; a well-formed unknown one still does.
    expect(loadManifest(store, "0123456789abcdef")).toBeUndefined();
    // A well-formed unknown one stays E_NOT_FOUND.
    await expectCairnError(streamOutputs(store, "0123456789abcdef").next(), ErrorCode.NOT_FOUND);
  });

  it("replay: a pulse that is not a string says to pass a string; an absent pulse names the field", async () => {
    const e = await expectCairnError(replay(store, runId, 0 as unknown as string), ErrorCode.USAGE);
    expect(e.message).toBe('invalid pulse 0: expected a string, "partition/index" (e.g. "0/0") or an ordinal in the manifest ("0", "1", …)');
    expect(e.details).toEqual({ field: "pulse", value: "0" });
    expect((await replay(store, runId, "0")).matches).toBe(true);
    const absent = await expectCairnError(replay(store, runId, "99/0"), ErrorCode.NOT_FOUND, 'pulse "99/0" not found');
    expect(absent.details).toEqual({ field: "pulse", value: "99/0", runId });
  });
});

describe("a reused run reports progress to the end", () => {
  it("sends the final done event, with the run's counts (it stopped at ingest)", async () => {
    const { store } = scratch.store();
    const first: Progress[] = [];
    const a = await run(store, [1, 2, 3], FN, { workers: 1, partitions: 2, pulseSize: 1 }, { onProgress: (p) => first.push(p) });
    const seen: Progress[] = [];
    const b = await run(store, [1, 2, 3], FN, { workers: 1, partitions: 2, pulseSize: 1 }, { onProgress: (p) => seen.push(p) });
    expect(b.reused).toBe(true);
    const lastFirst = first.at(-1) as Progress;
    expect(lastFirst.phase).toBe("done");
    // The second ingest report names the run once its plan is recorded (before any worker starts).
    expect(seen.map((p) => p.phase)).toEqual(["ingest", "ingest", "done"]);
    expect(seen[1]).toMatchObject({ phase: "ingest", runId: a.runId, eusDone: 0 });
    const done = seen.at(-1) as Progress;
    expect(done).toEqual({ ...lastFirst, pulsesReused: lastFirst.pulsesDone });
    expect(done).toMatchObject({ runId: a.runId, eusDone: 3, eusTotal: 3, eusRead: 3, eusFailed: 0, pulsesDone: 3, pulsesReused: 3 });
    // resume of a finished run: the same one event.
    const resumed: Progress[] = [];
    await resume(store, a.runId, { onProgress: (p) => resumed.push(p) });
    expect(resumed).toEqual([done]);
  });
});
