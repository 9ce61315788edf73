/**
 * Every options object of the public API is checked by one rule (core/describe.ts
 * `isOptionsObject`): a Map — or another built-in value, or an array — is refused with E_USAGE
 * naming the parameter, never read as "no options". Until 2026-11-28 `run`'s config
 * (`normalizeConfig`) was the exception: a Map has no own keys, so `new Map([["workers", 1]])`
 * ran with every default (another run id) while a Map as `hooks` was refused.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, listRuns, normalizeConfig, openStore, run, server, verifyRun, workflow, type RunConfigInput } from "../../src/index.js";
import { cairnErrorOf } from "../cairn-error-of.js";
import type { CairnError } from "../../src/core/errors.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-config-map-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function usageOf(f: () => unknown): Promise<CairnError> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeDefined();
  const e = cairnErrorOf(() => {
    throw err;
  });
  expect(e.code).toBe(ErrorCode.USAGE);
  return e;
}

const FN = { code: "export default (x) => x;" };

describe("run's config must be an options object", () => {
  it("a Map, Set, Date, typed array or array given to normalizeConfig is E_USAGE naming config", () => {
    const cases: Array<[unknown, string]> = [
      [new Map([["workers", 1]]), "an instance of Map"],
      [new Map(), "an instance of Map"],
      [new Set(), "an instance of Set"],
      [new Date(0), "an instance of Date"],
      [new Uint8Array(2), "an instance of Uint8Array"],
      [[], "an array"],
      [null, "null"],
      ["jsonl", 'a string "jsonl"'],
      [3, "3"],
      [() => ({}), "a function"],
    ];
    for (const [c, shown] of cases) {
      const e = cairnErrorOf(() => normalizeConfig(c as RunConfigInput));
      expect(e.code).toBe(ErrorCode.USAGE);
      expect(e.message).toBe(`the run config must be an object, got ${shown}`);
      expect(e.details).toEqual({ field: "config" });
    }
  });

  it("a plain object, a null-prototype object or an instance of the caller's class is read as before", () => {
    expect(normalizeConfig({ workers: 1 }).workers).toBe(1);
    expect(normalizeConfig(Object.assign(Object.create(null) as object, { workers: 1 }) as RunConfigInput).workers).toBe(1);
    class Config {
      workers = 1;
    }
    expect(normalizeConfig(new Config()).workers).toBe(1);
  });

  it("run with a Map as its config is refused before any store work (it ran with the defaults)", async () => {
    const store = openStore({ dir: join(tempDir(), "store") });
    try {
      const e = await usageOf(() => run(store, [1], FN, new Map([["workers", 1]]) as unknown as RunConfigInput));
      expect(e.message).toBe("the run config must be an object, got an instance of Map");
      expect(e.details).toEqual({ field: "config" });
      expect(listRuns(store)).toEqual([]);
    } finally {
      store.close();
    }
  });
});

describe("every options object of the public API refuses a Map, naming the parameter", () => {
  it("run's hooks, verifyRun's options, a Store method's options, openStore's options", async () => {
    const store = openStore({ dir: join(tempDir(), "store") });
    try {
      const hooks = await usageOf(() => run(store, [1], FN, {}, new Map() as never));
      expect(hooks.message).toBe("hooks must be an object, got an instance of Map");
      expect(hooks.details).toEqual({ field: "hooks" });
      const verify = await usageOf(() => verifyRun(store, "0123456789abcdef", new Map() as never));
      expect(verify.message).toBe("verifyRun options must be an object, got an instance of Map");
      expect(verify.details).toEqual({ field: "options" });
      const list = await usageOf(() => store.list(new Map() as never));
      expect(list.message).toBe("list options must be an object, got an instance of Map");
      expect(list.details).toEqual({ field: "options" });
    } finally {
      store.close();
    }
    const dir = join(tempDir(), "store");
    const open = await usageOf(() => openStore(new Map([["dir", dir]]) as never));
    expect(open.message).toBe("the openStore options must be an object, got an instance of Map; pass { dir } (the store directory)");
    expect(open.details).toEqual({ field: "options" });
  });

  it("workflow.pgs.runPgsWorkflow, workflow.cairn.runCairnWorkflow, workflow.examine.examineTrace, workflow.acquireDataRootLock", async () => {
    const pgs = await usageOf(() => workflow.pgs.runPgsWorkflow(new Map() as never));
    expect(pgs.message).toBe("runPgsWorkflow: options must be an object, got an instance of Map");
    expect(pgs.details).toEqual({ field: "options" });
    const cairn = await usageOf(() => workflow.cairn.runCairnWorkflow(new Map() as never));
    expect(cairn.message).toBe("runCairnWorkflow: options must be an object, got an instance of Map");
    expect(cairn.details).toEqual({ field: "options" });
    const examine = await usageOf(() => workflow.examine.examineTrace("trace", new Map() as never));
    expect(examine.message).toBe("examineTrace: options must be an object, got an instance of Map");
    expect(examine.details).toEqual({ field: "options" });
    const lock = await usageOf(() => workflow.acquireDataRootLock(tempDir(), new Map() as never));
    expect(lock.message).toBe("acquireDataRootLock: options must be an object { waitMs? }, got an instance of Map");
    expect(lock.details).toEqual({ field: "options" });
  });

  it("server.createServer", async () => {
    const e = await usageOf(() => server.createServer(new Map() as never));
    expect(e.message).toBe("createServer takes its options as an object (ServerOptions, with at least workspace), got an instance of Map");
    expect(e.details).toEqual({ field: "options" });
  });
});
