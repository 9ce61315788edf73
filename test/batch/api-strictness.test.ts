/**
 * Library-API strictness of batch runs: nothing a caller passes is coerced or dropped silently.
 * - normalizeConfig: unknown keys (with a suggestion), a seed that is not a string or a safe
 *   integer, a non-boolean allowFailures, a config that is not an object → E_USAGE;
 *   `normalizeConfig()` is `normalizeConfig({})`; valid configs normalise exactly as before.
 * - parseSize: a suffix needs a unit letter; the result must be a positive safe integer.
 * - a Buffer/Uint8Array dataset is E_USAGE (it would be iterated as one number per byte).
 * - replay: a malformed pulse argument is E_USAGE (an absent pulse stays E_NOT_FOUND).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, normalizeConfig, parseSize, replay, run, type RunConfigInput, type Store } from "../../src/index.js";
import { DEFAULT_MAX_MEMORY_BYTES, defaultWorkers } from "../../src/batch/config.js";
import { Scratch, expectCairnError, usage } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const KEYS = "format, idField, partitions, pulseSize, workers, maxPulsesInFlight, retries, seed, maxMemoryBytes, allowFailures, auditRate, euTimeoutMs";

describe("normalizeConfig", () => {
  it("an unknown key is E_USAGE naming it, suggesting a close known key", () => {
    const cases: Array<[string, string | undefined]> = [
      ["maxMemory", "maxMemoryBytes"],
      ["pulse_size", "pulseSize"],
      ["euTimeout", "euTimeoutMs"],
      ["allowFailure", "allowFailures"],
      ["Seed", "seed"],
      ["retry", "retries"],
      ["colour", undefined],
    ];
    for (const [key, suggestion] of cases) {
      const e = usage(() => normalizeConfig({ [key]: 1 } as RunConfigInput));
      expect(e.message).toBe(`unknown run config key ${JSON.stringify(key)}${suggestion === undefined ? "" : ` (did you mean ${JSON.stringify(suggestion)}?)`}; the keys are ${KEYS}`);
      expect(e.details).toEqual(suggestion === undefined ? { field: key } : { field: key, suggestion });
    }
    // Even with an undefined value, and next to valid keys.
    expect(usage(() => normalizeConfig({ workers: 1, maxMemory: undefined } as RunConfigInput)).details).toEqual({ field: "maxMemory", suggestion: "maxMemoryBytes" });
  });

  it("a seed that is not a string or a safe integer is E_USAGE (it was String(seed))", () => {
    const cases: Array<[unknown, string]> = [[{}, "{}"], [null, "null"], [Number.NaN, "NaN"], [1.5, "1.5"], [2 ** 53, "9007199254740992"], [[1], "[1]"], [true, "true"], [5n, "5n"]];
    for (const [seed, shown] of cases) {
      const e = usage(() => normalizeConfig({ seed } as RunConfigInput));
      expect(e.message).toBe(`seed must be a string or a safe integer, got ${shown}`);
      expect(e.details).toEqual({ field: "seed" });
    }
    expect(normalizeConfig({ seed: 7 }).seed).toBe("7");
    expect(normalizeConfig({ seed: -3 }).seed).toBe("-3");
    expect(normalizeConfig({ seed: "s1" }).seed).toBe("s1");
  });

  it("allowFailures that is not a boolean is E_USAGE (\"yes\" was false)", () => {
    for (const [v, shown] of [["yes", '"yes"'], [1, "1"], [null, "null"], ["true", '"true"']] as const) {
      const e = usage(() => normalizeConfig({ allowFailures: v } as unknown as RunConfigInput));
      expect(e.message).toBe(`allowFailures must be a boolean, got ${shown}`);
      expect(e.details).toEqual({ field: "allowFailures" });
    }
    expect(normalizeConfig({ allowFailures: true }).allowFailures).toBe(true);
    expect(normalizeConfig({ allowFailures: false }).allowFailures).toBe(false);
  });

  it("no argument is all defaults; a config that is not an object is E_USAGE", () => {
    expect(normalizeConfig()).toEqual(normalizeConfig({}));
    for (const [c, shown] of [[null, "null"], [[], "an array"], ["jsonl", 'a string "jsonl"'], [3, "3"], [new Map(), "an instance of Map"]] as const) {
      const e = usage(() => normalizeConfig(c as unknown as RunConfigInput));
      expect(e.message).toBe(`the run config must be an object, got ${shown}`);
      expect(e.details).toEqual({ field: "config" });
    }
  });

  it("valid configs normalise exactly as before (run ids and manifests do not change)", () => {
    const w = defaultWorkers();
    expect(normalizeConfig({})).toEqual({
      format: "jsonl", idField: null, partitions: 8, pulseSize: 1024, workers: w, maxPulsesInFlight: 2 * w, retries: 2, seed: "0",
      maxMemoryBytes: DEFAULT_MAX_MEMORY_BYTES, allowFailures: false, auditRate: 0, euTimeoutMs: 60_000, logicalTimeMs: 0,
    });
    const full: RunConfigInput = {
      format: "csv", idField: "id", partitions: 3, pulseSize: 10, workers: 2, maxPulsesInFlight: 5, retries: 1, seed: 42,
      maxMemoryBytes: 64 * 1024 * 1024, allowFailures: true, auditRate: 0.5, euTimeoutMs: 1000,
    };
    expect(normalizeConfig(full)).toEqual({ ...full, seed: "42", logicalTimeMs: 0 });
    // Explicit undefined for a known key is the default, as before.
    expect(normalizeConfig({ seed: undefined, allowFailures: undefined })).toEqual(normalizeConfig({}));
  });
});

describe("parseSize", () => {
  it("keeps every documented form", () => {
    const cases: Array<[string, number]> = [
      ["256MB", 256 * 1024 ** 2], ["1GiB", 1024 ** 3], ["512m", 512 * 1024 ** 2], ["1048576", 1048576], ["512B", 512], ["64KB", 65536],
      ["64Ki", 65536], ["1.5G", 1.5 * 1024 ** 3], ["256 MB", 256 * 1024 ** 2], [" 1k ", 1024], ["1t", 1024 ** 4], ["1kib", 1024],
      ["9007199254740991", Number.MAX_SAFE_INTEGER],
    ];
    for (const [text, n] of cases) expect(parseSize(text), text).toBe(n);
  });

  it("a suffix without a unit letter is E_USAGE ('1ib' was 1, '5i' was 5)", () => {
    for (const text of ["1ib", "5i", "1bb", "1kbb", "k", "", "1e3", "-5MB"]) {
      const e = usage(() => parseSize(text));
      expect(e.message).toBe(`invalid size ${JSON.stringify(text)}: use e.g. 256MB, 1GiB or a byte count`);
      expect(e.details).toEqual({ value: text, reason: "malformed" });
    }
  });

  it("a result that is not a positive safe integer is E_USAGE ('0.0001k' was 0, '99999999999999999999T' was 1.1e32)", () => {
    for (const text of ["0.0001k", "0", "0.5"]) {
      const e = usage(() => parseSize(text));
      expect(e.message).toBe(`invalid size ${JSON.stringify(text)}: must be at least 1 byte`);
      expect(e.details).toEqual({ value: text, reason: "too_small" });
    }
    for (const text of ["99999999999999999999T", "8192T", "9007199254740993"]) {
      const e = usage(() => parseSize(text));
      expect(e.message).toBe(`invalid size ${JSON.stringify(text)}: must be at most 9007199254740991 bytes (2^53 - 1)`);
      expect(e.details).toEqual({ value: text, reason: "too_large" });
    }
  });
});

describe("a byte dataset", () => {
  it("a Buffer or Uint8Array dataset is E_USAGE saying to write a file or pass records", async () => {
    const { store } = scratch.store();
    const fn = { code: "export default (x) => x;" };
    for (const [data, kind] of [[Buffer.from('{"n":1}\n'), "Buffer"], [new Uint8Array([123, 125, 10]), "Uint8Array"]] as const) {
      const e = await expectCairnError(run(store, data, fn, { workers: 1 }), ErrorCode.USAGE);
      expect(e.message).toBe(
        `a ${kind} dataset would be read byte by byte (one EU per byte); write the bytes to a file and pass its path, or pass the records (an array or iterable of values)`,
      );
    }
    // Records still run.
    expect((await run(store, [{ n: 1 }], fn, { workers: 1 })).counts.total).toBe(1);
  });
});

describe("replay's pulse argument", () => {
  let store: Store;
  let runId: string;
  beforeAll(async () => {
    ({ store } = scratch.store());
    const r = await run(store, [1, 2, 3], { code: "export default (x) => x * 2;" }, { workers: 1, partitions: 1 });
    runId = r.runId;
  });

  const malformed = (which: string): string => `invalid pulse ${JSON.stringify(which)}: expected partition/index (e.g. 0/0) or an ordinal in the manifest (0, 1, …), in decimal digits without leading zeros`;

  it("a malformed pulse is E_USAGE, like a malformed run id (it was E_NOT_FOUND)", async () => {
    for (const which of ["abc", "", " 0/0", "0/0/0", "-1", "1e0", "0/", "/0", "0x1"]) {
      const e = await expectCairnError(replay(store, runId, which), ErrorCode.USAGE);
      expect(e.message).toBe(malformed(which));
      expect(e.details).toEqual({ field: "pulse", value: which });
    }
    // Before the store is read: an unknown run with a malformed pulse is E_USAGE too.
    expect((await expectCairnError(replay(store, "0123456789abcdef", "abc"), ErrorCode.USAGE)).message).toBe(malformed("abc"));
    // A malformed run id is still reported first.
    await expectCairnError(replay(store, "zzz", "abc"), ErrorCode.USAGE, "zzz");
  });

  it("a well-formed pulse that the run does not have is still E_NOT_FOUND; a present one replays", async () => {
    await expectCairnError(replay(store, runId, "7/7"), ErrorCode.NOT_FOUND, 'pulse "7/7" not found');
    await expectCairnError(replay(store, runId, "9"), ErrorCode.NOT_FOUND, 'pulse "9" not found');
    expect((await replay(store, runId, "0/0")).matches).toBe(true);
    expect((await replay(store, runId, "0")).matches).toBe(true);
  });

  it("the not-found message names a pulse the run has, and says when it has none (2026-11-28: an empty run offered `0..-1`)", async () => {
    const two = await run(store, [1, 2, 3, 4], { code: "export default (x) => x * 2;" }, { workers: 1, partitions: 2, pulseSize: 8 });
    await expectCairnError(replay(store, runId, "5"), ErrorCode.NOT_FOUND, `pulse "5" not found in run ${runId} (use partition/index, e.g. 0/0, or an ordinal 0)`);
    await expectCairnError(replay(store, two.runId, "5"), ErrorCode.NOT_FOUND, `pulse "5" not found in run ${two.runId} (use partition/index, e.g. 0/0, or an ordinal 0..1)`);
    const empty = await run(store, [], { code: "export default (x) => x * 2;" }, { workers: 1, partitions: 1 });
    expect(empty.counts.total).toBe(0);
    const e = await expectCairnError(replay(store, empty.runId, "0"), ErrorCode.NOT_FOUND);
    expect(e.message).toBe(`pulse "0" not found in run ${empty.runId} (it has no pulses: its input had no records)`);
  });
});
