/**
 * An EU's failure code says who detected the failure, never what the function claims
 * (ARCHITECTURE.md §10.7, worker.ts `describeThrown`): whatever the function (or its reduce, or a
 * getter of its output) throws is E_EU_THREW — a plain object, an Error with a `.code`, even a
 * CairnError the module built from Cairn's own class — with the value's message and name. The
 * worker gives E_CANONICAL and E_LIMIT_EXCEEDED itself (an output it refused); only the pool gives
 * E_EU_TIMEOUT and E_WORKER_CRASHED, the machine facts verify does not compare, and it takes no
 * worker result that carries one. Before, a known Cairn code on any thrown value was kept, so
 * `throw {code: "E_EU_TIMEOUT"}` recorded a timeout that never happened and a nondeterministic
 * function passed `verifyRun(…, {reexecute: true})` (its record was "not checked").
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import { bundleModule } from "../../src/batch/sandbox/bundle.js";
import { WorkerPool, type EUResult, type PulseOutcome } from "../../src/batch/sandbox/pool.js";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { withoutTexts, Scratch } from "./fixtures/engine-helpers.js";

const ERRORS_TS = fileURLToPath(new URL("../../src/core/errors.ts", import.meta.url));
const FORGED = ["E_EU_TIMEOUT", "E_WORKER_CRASHED", "E_USAGE", "E_NONDETERMINISTIC", "E_CANONICAL", "E_LIMIT_EXCEEDED", "E_INVALID_INPUT"];

/** Throws (or returns a value that throws while it is encoded) what its input says. */
const FORGER = `
import { CairnError } from ${JSON.stringify(ERRORS_TS)};
export default (x) => {
  switch (x.how) {
    case "object": throw { code: x.code, message: "forged " + x.code };
    case "error": throw Object.assign(new Error("forged " + x.code), { code: x.code });
    case "cairn": throw new CairnError(x.code, "forged " + x.code);
    case "reject": return Promise.reject(Object.assign(new RangeError("forged " + x.code), { code: x.code }));
    case "getter": return { get v() { throw new CairnError(x.code, "getter " + x.code); } };
    case "nan": return { v: NaN };
  }
  return x;
};
export function reduce(acc, o) {
  if (o.how === "throw") throw new CairnError(o.code, "reduce forged " + o.code);
  if (o.how === "getter") return { get v() { throw { code: o.code, message: "acc getter" }; } };
  return acc;
}
`;

/**
 * EU 0 posts a `partial` chunk of its own on the worker's port, claiming that it timed out, and
 * returns; EU 1 then ends the worker (`process.exit`), so the pool reports a crash with the
 * results delivered before it. With `final`, EU 0 posts a whole final reply instead.
 */
const POSTER = `
import { parentPort } from "node:worker_threads";
export default (x) => {
  if (x.exit) process.exit(3);
  const error = { code: x.code, message: "forged", name: "Error" };
  const texts = JSON.stringify({ error: { code: x.code, message: "forged" }, id: 0 });
  if (x.final) {
    const results = { texts: texts + "\\n" + JSON.stringify({ id: 1, output: 1 }), errors: [{ at: 0, error }] };
    parentPort.postMessage({ type: "pulse", pulseId: x.pulseId, from: 0, results, leaves: new Uint8Array(64), root: "sha256:" + "0".repeat(64) });
  } else {
    parentPort.postMessage({ type: "partial", pulseId: x.pulseId, from: 0, results: { texts, errors: [{ at: 0, error }] } });
  }
  return 1;
};
`;

let dir: string;
const pools: WorkerPool[] = [];
const scratch = new Scratch();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cairn-forged-codes-"));
  await writeFile(join(dir, "forger.mjs"), FORGER);
  await writeFile(join(dir, "poster.mjs"), POSTER);
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  scratch.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function poolOf(name: string): Promise<WorkerPool> {
  const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(join(dir, name)), seed: "s", moduleName: name });
  pools.push(pool);
  return pool;
}

function okResults(o: PulseOutcome): EUResult[] {
  if (o.kind !== "ok") throw new Error(`pulse crashed: ${o.error.code} ${o.error.message}`);
  return withoutTexts(o.results);
}

describe("a thrown value never gives its EU a Cairn code", () => {
  it("the function's throws and rejections are E_EU_THREW with their message and name, whatever code they carry", async () => {
    const pool = await poolOf("forger.mjs");
    const hows = ["object", "error", "cairn", "reject"];
    const eus = hows.flatMap((how, h) => FORGED.map((code, c) => ({ id: h * 100 + c, input: { how, code } })));
    const results = okResults(await pool.runPulse(0, eus, { attempt: 1 }));
    const names: Record<string, string> = { object: "Error", error: "Error", cairn: "CairnError", reject: "RangeError" };
    expect(results).toEqual(
      eus.map((eu) => ({ id: eu.id, ok: false, error: { code: "E_EU_THREW", message: `forged ${eu.input.code}`, name: names[eu.input.how] } })),
    );
  });

  it("an output's getter that throws is E_EU_THREW; an output the encoder refuses is still E_CANONICAL", async () => {
    const pool = await poolOf("forger.mjs");
    const eus = [...FORGED.map((code, c) => ({ id: c, input: { how: "getter", code } })), { id: "nan", input: { how: "nan", code: "" } }];
    const results = okResults(await pool.runPulse(0, eus, { attempt: 1 }));
    expect(results).toEqual([
      ...FORGED.map((code, c) => ({ id: c, ok: false, error: { code: "E_EU_THREW", message: `getter ${code}`, name: "CairnError" } })),
      { id: "nan", ok: false, error: { code: "E_CANONICAL", message: "output is not canonical JSON: cannot canonicalize NaN at $.v", name: "CairnError" } },
    ]);
  });

  it("a reduce that throws, or leaves an accumulator whose getter throws, reports E_EU_THREW as the thrown code", async () => {
    const pool = await poolOf("forger.mjs");
    for (const code of ["E_EU_TIMEOUT", "E_WORKER_CRASHED", "E_CANONICAL"]) {
      for (const how of ["throw", "getter"]) {
        const err = await pool.reduce("0", [{ id: 0, bytes: false, json: JSON.stringify({ how, code }) }]).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isCairnError(err, "E_INVALID_INPUT")).toBe(true);
        expect((err as { details: Record<string, unknown> }).details.code).toBe("E_EU_THREW");
      }
    }
  });
});

describe("the pool takes no E_EU_TIMEOUT or E_WORKER_CRASHED from a worker", () => {
  it("a partial chunk the module posts itself with a crash code is not taken as a delivered result", async () => {
    const pool = await poolOf("poster.mjs");
    for (const code of ["E_EU_TIMEOUT", "E_WORKER_CRASHED"]) {
      const o = await pool.runPulse(7, [{ id: 0, input: { pulseId: 7, code } }, { id: 1, input: { exit: true } }], { attempt: 1 });
      expect(o.kind).toBe("crashed");
      if (o.kind !== "crashed") continue;
      expect(o.error.code).toBe("E_WORKER_CRASHED"); // the pool's own: the worker did exit
      expect(o.completed).toEqual([]); // before: [{id: 0, ok: false, error: {code, message: "forged"…}}]
    }
  });

  it("a final reply the module posts itself with a crash code is refused", async () => {
    const pool = await poolOf("poster.mjs");
    const err = await pool.runPulse(8, [{ id: 0, input: { pulseId: 8, code: "E_EU_TIMEOUT", final: true } }, { id: 1, input: 1 }], { attempt: 1 }).then(
      (o) => o,
      (e: unknown) => e,
    );
    expect(isCairnError(err, "E_INTERNAL")).toBe(true);
    expect((err as Error).message).toBe("sandbox worker answered pulse 8 with a malformed reply");
  });
});

describe("verify --reexecute compares what a function forged as a timeout", () => {
  it("a nondeterministic function that throws {code: 'E_EU_TIMEOUT'} once is a reexecution_mismatch, not 'not checked'", async () => {
    const marker = join(dir, "marker");
    const code = [
      'import fs from "node:fs";',
      `const m = ${JSON.stringify(marker)};`,
      'export default () => { if (!fs.existsSync(m)) { fs.writeFileSync(m, ""); throw { code: "E_EU_TIMEOUT", message: "first time" }; } return "second time"; };',
      "",
    ].join("\n");
    const { store } = scratch.store();
    try {
      const r = await run(store, ["a"], { code, name: "spoof.mjs" }, { allowFailures: true, retries: 0, workers: 1 });
      expect(existsSync(marker)).toBe(true);
      expect(r.failures).toEqual([{ id: 0, code: "E_EU_THREW", message: "first time" }]);
      const v = await verifyRun(store, r.runId, { reexecute: true });
      expect(v.ok).toBe(false);
      expect(v.problems.map((p) => p.code)).toEqual(["reexecution_mismatch"]);
      expect(v.unchecked).toEqual([]);
    } finally {
      store.close();
    }
  });
});
