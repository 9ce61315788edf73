import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { withoutTexts } from "./fixtures/engine-helpers.js";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import { sha256 } from "../../src/core/digest.js";
import { build } from "esbuild";
import { bundleModule, type ModuleBundle } from "../../src/batch/sandbox/bundle.js";
import { MAX_QUEUED_REQUESTS, REDUCE_CHUNK_SIZE, REDUCE_PART_BYTES, WorkerPool, type EUResult, type EUTask, type PulseOutcome } from "../../src/batch/sandbox/pool.js";
import type { EUBytesOutput, EUJsonOutput } from "../../src/batch/sandbox/protocol.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const bundles = new Map<string, ModuleBundle>();
async function bundleOf(name: string): Promise<ModuleBundle> {
  let b = bundles.get(name);
  if (b === undefined) {
    b = await bundleModule(fixture(name));
    bundles.set(name, b);
  }
  return b;
}

const pools: WorkerPool[] = [];
async function poolOf(name: string, opts: { size?: number; seed?: string; logicalTime?: number; maxOldGenerationSizeMb?: number } = {}): Promise<WorkerPool> {
  const pool = await WorkerPool.create({
    size: opts.size ?? 1,
    bundle: await bundleOf(name),
    seed: opts.seed ?? "seed-1",
    moduleName: name,
    ...(opts.logicalTime === undefined ? {} : { logicalTime: opts.logicalTime }),
    ...(opts.maxOldGenerationSizeMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: opts.maxOldGenerationSizeMb } }),
  });
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function okResults(o: PulseOutcome): EUResult[] {
  if (o.kind !== "ok") throw new Error(`pulse crashed: ${o.error.code} ${o.error.message}`);
  return withoutTexts(o.results);
}

/** id → parsed JSON output of every completed EU. */
function outputsById(results: EUResult[]): Map<string | number, unknown> {
  const m = new Map<string | number, unknown>();
  for (const r of results) {
    if (!r.ok || r.bytes) throw new Error(`EU ${String(r.id)} did not complete with JSON: ${JSON.stringify(r)}`);
    m.set(r.id, JSON.parse(r.json));
  }
  return m;
}

async function expectRejects(p: Promise<unknown>, code: string, message: string | RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCairnError(err), `expected a CairnError, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (typeof message === "string") expect((err as Error).message).toBe(message);
  else expect((err as Error).message).toMatch(message);
}

describe("bundleModule", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "cairn-sandbox-test-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("is stable across bundlings, independent of the cwd and of where the files live", async () => {
    const a = await bundleModule(fixture("sandbox-entropy.ts"));
    const b = await bundleModule(fixture("sandbox-entropy.ts"));
    expect(b.code).toBe(a.code);
    expect(b.digest).toBe(a.digest);
    expect(a.format).toBe("esm");
    expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const cwd = process.cwd();
    try {
      process.chdir(tmp);
      const fromElsewhere = await bundleModule(relative(tmp, fixture("sandbox-entropy.ts")));
      expect(fromElsewhere.digest).toBe(a.digest);
    } finally {
      process.chdir(cwd);
    }

    // The same files in two other directories: identical bytes, so no absolute path leaks.
    for (const dir of ["one", "two/deeper"]) {
      await cp(fixture("sandbox-entropy.ts"), join(tmp, dir, "sandbox-entropy.ts"));
      await cp(fixture("sandbox-hex.ts"), join(tmp, dir, "sandbox-hex.ts"));
      expect((await bundleModule(join(tmp, dir, "sandbox-entropy.ts"))).digest).toBe(a.digest);
    }
    expect(a.code).not.toContain(FIXTURES);
    expect(a.code).not.toContain(tmp);
    // Node builtins stay external; the relative TS import is inlined.
    expect(a.code).toContain('from "node:crypto"');
    expect(a.code).not.toContain("./sandbox-hex");
  });

  it("an ES module's bundle is what esbuild gives without the source map, metafile and outfile (so function identities stay as they were)", async () => {
    // The options of before the source map was added, with esbuild pinned by the lockfile.
    const plain = await build({
      entryPoints: [fixture("sandbox-entropy.ts")], absWorkingDir: FIXTURES.replace(/\/$/, ""), bundle: true, platform: "node", format: "esm", target: "node20",
      packages: "bundle", write: false, sourcemap: false, legalComments: "none", charset: "ascii", metafile: false, logLevel: "silent",
    });
    const b = await bundleModule(fixture("sandbox-entropy.ts"));
    expect(b.code).toBe(plain.outputFiles[0]?.text);
    expect(b.digest).toBe("sha256:6b2f0c6b84bbf57d02a5377e00dd78417a44c6292758b1d959b8a82b077ade1d");
  });

  it("names a missing file with E_NOT_FOUND", async () => {
    const missing = join(tmp, "nope.ts");
    await expectRejects(bundleModule(missing), "E_NOT_FOUND", `module not found: ${missing}`);
  });

  it("reports a syntax error as E_INVALID_INPUT with file:line:column and esbuild's message", async () => {
    const bad = join(tmp, "bad.ts");
    await writeFile(bad, "export default function f(x: number) {\n  return x +;\n}\n");
    await expectRejects(bundleModule(bad), "E_INVALID_INPUT", `${bad}:2:13: Unexpected ";"`);
  });

  it("reports an unresolvable import at the importing line", async () => {
    const bad = join(tmp, "missing-import.mjs");
    await writeFile(bad, 'import x from "./not-there.mjs";\nexport default () => x;\n');
    await expectRejects(bundleModule(bad), "E_INVALID_INPUT", new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:1:15: Could not resolve "./not-there.mjs"`));
  });

  it("refuses import.meta at its file:line:column, in the entry or in a bundled file", async () => {
    const dir = join(tmp, "meta");
    await mkdir(join(dir, "lib"), { recursive: true });
    await writeFile(join(dir, "entry.mjs"), 'import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\nexport default () => require("node:path").sep;\n');
    await expectRejects(bundleModule(join(dir, "entry.mjs")), "E_INVALID_INPUT", new RegExp(`^${escapeRe(join(dir, "entry.mjs"))}:2:31: import\\.meta is not available in a Cairn module: `));
    await writeFile(join(dir, "lib", "where.ts"), "export const here: string = String(\n  import.meta.dirname);\n");
    await writeFile(join(dir, "main.ts"), 'import { here } from "./lib/where";\nexport default (): string => here;\n');
    const cwd = process.cwd();
    try {
      process.chdir(dir); // files other than the entry are named relative to the cwd
      await expectRejects(bundleModule("main.ts"), "E_INVALID_INPUT", /^lib\/where\.ts:2:3: import\.meta is not available/);
    } finally {
      process.chdir(cwd);
    }
    // A package's import.meta is left as it was (it sees the bundle's data: URL): packages probe it.
    await mkdir(join(dir, "node_modules", "metapkg"), { recursive: true });
    await writeFile(join(dir, "node_modules", "metapkg", "package.json"), '{"name":"metapkg","type":"module","main":"index.js"}');
    await writeFile(join(dir, "node_modules", "metapkg", "index.js"), "export const dev = typeof import.meta.url === 'string' && import.meta.env?.DEV === true;\n");
    await writeFile(join(dir, "usespkg.mjs"), 'import { dev } from "metapkg";\nexport default () => dev;\n');
    const pkg = await bundleModule(join(dir, "usespkg.mjs"));
    expect(pkg.code).toContain("typeof import.meta.url");
    expect(pkg.code).not.toContain("import_meta");
  });

  it("accepts the text import.meta in strings, template text and regular expressions", async () => {
    const dir = join(tmp, "meta-text");
    await mkdir(dir, { recursive: true });
    const entry = join(dir, "text.mjs");
    await writeFile(entry, 'const s = "import.meta";\nconst t = `uses import.meta ${s.length}`;\nconst r = /import\\.meta/;\nexport default () => [s, t, r.test(s)];\n');
    const b = await bundleModule(entry);
    expect(b.code).toContain('"import.meta"');
    // and a real one beside them is still found, at its own position
    await writeFile(entry, 'const s = "import.meta";\nexport default () => [s, import.meta.url];\n');
    await expectRejects(bundleModule(entry), "E_INVALID_INPUT", new RegExp(`^${escapeRe(entry)}:2:26: import\\.meta is not available`));
    // an import.meta in code the bundle drops (an unused export) is not one the function can reach,
    // even when a package keeps its own in the bundle
    const dir2 = join(tmp, "meta-unused");
    await mkdir(join(dir2, "node_modules", "metapkg2"), { recursive: true });
    await writeFile(join(dir2, "node_modules", "metapkg2", "package.json"), '{"name":"metapkg2","type":"module","main":"index.js"}');
    await writeFile(join(dir2, "node_modules", "metapkg2", "index.js"), "export const dev = import.meta.env?.DEV === true;\n");
    await writeFile(join(dir2, "helper.mjs"), "export const used = 1;\nexport const unused = () => new URL('./x', import.meta.url);\n");
    await writeFile(join(dir2, "fn.mjs"), 'import { used } from "./helper.mjs";\nimport { dev } from "metapkg2";\nexport default () => [used, dev];\n');
    expect((await bundleModule(join(dir2, "fn.mjs"))).code).toContain("import.meta.env");
    // also where a mere lexer takes the `/` after a class expression for a regular expression
    await writeFile(entry, "const a = class {} / import.meta.url.length / 2;\nexport default () => a;\n");
    await expectRejects(bundleModule(entry), "E_INVALID_INPUT", new RegExp(`^${escapeRe(entry)}:1:22: import\\.meta is not available`));
  });

  it("maps bundle positions back to TypeScript sources (types stripped) and refuses positions it cannot map", async () => {
    const dir = join(tmp, "map");
    await mkdir(join(dir, "lib"), { recursive: true });
    await writeFile(join(dir, "lib", "h.ts"), "interface T {\n  a: number;\n}\nexport function g(t: T): number {\n  if (t.a > 0) throw new Error(\"lib boom\");\n  return t.a;\n}\n");
    await writeFile(join(dir, "m.ts"), 'import { g } from "./lib/h";\nconst y: number = 2;\ng({ a: y });\nexport default (i: unknown): unknown => i;\n');
    const b = await bundleModule(join(dir, "m.ts"));
    const lines = b.code.split("\n");
    const at = lines.findIndex((l) => l.includes("throw new Error"));
    const col = lines[at]!.indexOf("new Error") + 1;
    expect(b.locate(at + 1, col)).toBe(`${join(dir, "lib", "h.ts")}:5:22`);
    expect(b.locate(lines.length + 5, 1)).toBeUndefined();
    expect(b.code).not.toContain("sourceMappingURL");
  });

  it("bundles a module with an upper-case extension like its lower-case twin", async () => {
    const dir = join(tmp, "upper");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "M.TS"), "export default (i: number): number => i + 1;\n");
    await writeFile(join(dir, "m.ts"), "export default (i: number): number => i + 1;\n");
    await writeFile(join(dir, "J.MJS"), "export default (i) => i + 1;\n");
    const upper = await bundleModule(join(dir, "M.TS"));
    const lower = await bundleModule(join(dir, "m.ts"));
    expect(upper.code.replace("// M.TS", "// m.ts").replace(/M_default/g, "m_default")).toBe(lower.code);
    expect((await bundleModule(join(dir, "J.MJS"))).code).toContain("i + 1");
  });

  it("rejects other extensions with E_USAGE", async () => {
    await expectRejects(bundleModule(join(tmp, "x.py")), "E_USAGE", /must be a \.ts, \.mts, \.js, \.mjs file/);
  });

  it("lets bundled CommonJS code require Node builtins (patched) and nothing else", async () => {
    const dir = join(tmp, "cjs");
    await cp(fixture("sandbox-hex.ts"), join(dir, "unused.ts"));
    await writeFile(join(dir, "dep.cjs"), 'module.exports = (n) => require("node:crypto").randomBytes(n).toString("hex");\n');
    await writeFile(join(dir, "main.mjs"), 'import rnd from "./dep.cjs";\nexport default () => rnd(4);\n');
    const bundle = await bundleModule(join(dir, "main.mjs"));
    const run = async (): Promise<unknown> => {
      const pool = await WorkerPool.create({ size: 1, bundle, seed: "s" });
      try {
        return outputsById(okResults(await pool.runPulse(0, [{ id: 1, input: null }], { attempt: 1 }))).get(1);
      } finally {
        await pool.close();
      }
    };
    const first = await run();
    expect(first).toMatch(/^[0-9a-f]{8}$/);
    expect(await run()).toBe(first);
  });

  it("names the files a bundle was built from (sources): a CommonJS entry's, without the wrapper it is bundled through", async () => {
    const dir = join(tmp, "cjs-entry");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "helper.cjs"), "module.exports = 2;\n");
    await writeFile(join(dir, "m.cjs"), 'const k = require("./helper.cjs");\nmodule.exports = (x) => x * k;\n');
    await writeFile(join(dir, "m.js"), 'module.exports = require("./m.cjs");\n');
    // Before: the wrapper's name (cairn-commonjs-entry.js, no such file) was among them.
    expect((await bundleModule(join(dir, "m.js"))).sources.map((f) => relative(dir, f)).sort()).toEqual(["helper.cjs", "m.cjs", "m.js"]);
    await writeFile(join(dir, "e.mjs"), 'import k from "./helper.cjs";\nexport default (x) => x * k;\n');
    expect((await bundleModule(join(dir, "e.mjs"))).sources.map((f) => relative(dir, f)).sort()).toEqual(["e.mjs", "helper.cjs"]);
  });
});

describe("determinism shims", () => {
  const LOGICAL = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
  const eus: EUTask[] = [0, 1, 2, 3, 4, 5, "a", "0"].map((id) => ({ id, input: { v: String(id) } }));

  it("gives the same clocks and randomness for the same (seed, EU id), whatever the pool and pulse layout", async () => {
    const one = await poolOf("sandbox-entropy.ts", { size: 1, logicalTime: LOGICAL });
    const three = await poolOf("sandbox-entropy.ts", { size: 3, logicalTime: LOGICAL });

    const a = outputsById(okResults(await one.runPulse(0, eus, { attempt: 1 })));
    // Other pool, other size, other pulses, other order, run concurrently.
    const parts: EUTask[][] = [[eus[5], eus[4]], [eus[7], eus[0], eus[1], eus[2]], [eus[3], eus[6]]].map((p) => p as EUTask[]);
    const outs = await Promise.all(parts.map((p, i) => three.runPulse(i, p, { attempt: 1 })));
    const b = new Map(outs.flatMap((o) => [...outputsById(okResults(o))]));
    // And again on the first pool, after it has already run these EUs once.
    const c = outputsById(okResults(await one.runPulse(9, [...eus].reverse(), { attempt: 1 })));

    expect(b.size).toBe(eus.length);
    for (const { id } of eus) {
      expect(b.get(id)).toEqual(a.get(id));
      expect(c.get(id)).toEqual(a.get(id));
    }

    const first = a.get(0) as Record<string, unknown>;
    expect(first).toMatchObject({
      id: 0,
      attempt: 1,
      seed: "seed-1",
      logicalTime: LOGICAL,
      dateNow: LOGICAL,
      iso: "2024-01-02T03:04:05.678Z",
      dateArg: "1970-01-02T00:00:00.000Z",
      isDate: true,
      subclassNow: LOGICAL,
      intlParts: "2024",
      perfNow: 0,
      timeOrigin: LOGICAL,
      hrtime: [0, 0],
      hrtimeBigint: "0",
      uptime: 0,
      intl: "Jan 2, 2024, 3:04:05 AM",
    });
    expect(first.dateCall).toBe(new Date(LOGICAL).toString());
    for (const k of ["uuidGlobal", "uuidNamed", "uuidNamespace"]) expect(first[k]).toMatch(UUID_V4);
    const random = first.random as number[];
    expect(random[0]).not.toBe(random[1]);
    for (const r of random) expect(r >= 0 && r < 1).toBe(true);

    // Different EU ids draw different streams (including 0 vs "0").
    const fields = ["random", "getRandomValues", "nodeGetRandomValues", "uuidGlobal", "uuidNamed", "uuidNamespace", "randomBytes", "randomFillSync"];
    for (const f of fields) {
      const values = eus.map(({ id }) => JSON.stringify((a.get(id) as Record<string, unknown>)[f]));
      expect(new Set(values).size, f).toBe(eus.length);
    }
  });

  it("draws from a different stream under a different seed", async () => {
    const s1 = await poolOf("sandbox-entropy.ts", { seed: "seed-1" });
    const s2 = await poolOf("sandbox-entropy.ts", { seed: "seed-2" });
    const [x, y] = await Promise.all([s1, s2].map(async (p) => outputsById(okResults(await p.runPulse(0, eus.slice(0, 1), { attempt: 1 }))).get(0)));
    expect((x as { random: number[] }).random).not.toEqual((y as { random: number[] }).random);
    expect((x as { uuidNamed: string }).uuidNamed).not.toBe((y as { uuidNamed: string }).uuidNamed);
    expect((x as { dateNow: number }).dateNow).toBe(0);
  });

  it("awaits async functions and keeps their randomness deterministic", async () => {
    const p1 = await poolOf("sandbox-async.mjs", { size: 2 });
    const p2 = await poolOf("sandbox-async.mjs", { size: 1 });
    const tasks: EUTask[] = [1, 2, 3, 4].map((n) => ({ id: n, input: n }));
    const a = outputsById(okResults(await p1.runPulse(0, tasks, { attempt: 1 })));
    const b = outputsById((await Promise.all([p2.runPulse(0, tasks.slice(2), { attempt: 1 }), p2.runPulse(1, tasks.slice(0, 2), { attempt: 1 })])).flatMap(okResults));
    for (const t of tasks) {
      expect(a.get(t.id)).toMatchObject({ id: t.id, doubled: (t.input as number) * 2, now: 0 });
      expect(b.get(t.id)).toEqual(a.get(t.id));
    }
    expect(new Set(tasks.map((t) => JSON.stringify(a.get(t.id)))).size).toBe(tasks.length);
  });
});

describe("EU outcomes", () => {
  it("turns throws and rejections into EU failures and keeps going", async () => {
    const pool = await poolOf("sandbox-actions.mjs");
    const results = okResults(
      await pool.runPulse(
        3,
        [
          { id: 0, input: { action: "throw", n: 1 } },
          { id: 1, input: "fine" },
          { id: 2, input: { action: "throw-type" } },
          { id: 3, input: { action: "throw-cairn" } },
          { id: 4, input: { action: "throw-string" } },
          { id: 5, input: { action: "reject" } },
        ],
        { attempt: [1, 1, 2, 1, 1, 3] },
      ),
    );
    expect(results).toEqual([
      { id: 0, ok: false, error: { code: "E_EU_THREW", message: "boom 1", name: "Error" } },
      { id: 1, ok: true, bytes: false, json: '{"echo":"fine"}' },
      { id: 2, ok: false, error: { code: "E_EU_THREW", message: "wrong type", name: "TypeError" } },
      { id: 3, ok: false, error: { code: "E_EU_THREW", message: "bad record", name: "CairnError" } }, // a thrown code is never taken (2026-11-27)
      { id: 4, ok: false, error: { code: "E_EU_THREW", message: "plain string", name: "Error" } },
      { id: 5, ok: false, error: { code: "E_EU_THREW", message: "async no", name: "RangeError" } },
    ]);
  });

  it("fails outputs that are not canonical JSON with E_CANONICAL and the JSONPath", async () => {
    const pool = await poolOf("sandbox-actions.mjs");
    const results = okResults(
      await pool.runPulse(0, [{ id: "n", input: { action: "nan" } }, { id: "u", input: { action: "undefined" } }, { id: "d", input: { action: "date" } }], { attempt: 1 }),
    );
    expect(results).toEqual([
      { id: "n", ok: false, error: { code: "E_CANONICAL", name: "CairnError", message: "output is not canonical JSON: cannot canonicalize NaN at $.ok[1].v" } },
      { id: "u", ok: false, error: { code: "E_CANONICAL", name: "CairnError", message: "output is not canonical JSON: cannot canonicalize undefined at $" } },
      { id: "d", ok: false, error: { code: "E_CANONICAL", name: "CairnError", message: "output is not canonical JSON: cannot canonicalize a non-plain object (Date) at $" } },
    ]);
  });

  it("passes byte inputs as Buffers and returns byte outputs", async () => {
    const pool = await poolOf("sandbox-bytes-input.mjs");
    const results = okResults(await pool.runPulse(0, [{ id: "f.txt", input: Buffer.from("hello") }], { attempt: 1 }));
    expect(results).toHaveLength(1);
    const r = results[0] as EUResult;
    expect(r.ok && r.bytes).toBe(true);
    if (r.ok && r.bytes) expect(Buffer.from(r.output).toString("utf8")).toBe("HELLO");

    const actions = await poolOf("sandbox-actions.mjs");
    const [echo, bytes] = okResults(
      await actions.runPulse(0, [{ id: 0, input: { action: "echo-bytes", data: new Uint8Array([104, 105]) } }, { id: 1, input: { action: "bytes", text: "xyz" } }], { attempt: 1 }),
    );
    expect(echo).toEqual({ id: 0, ok: true, bytes: false, json: '{"isBuffer":false,"text":"hi"}' });
    expect(bytes?.ok && bytes.bytes && Buffer.from(bytes.output).toString()).toBe("xyz");
  });
});

describe("crashes and timeouts", () => {
  it("reports process.exit as a crash with the running EU, and the pool keeps working", async () => {
    const pool = await poolOf("sandbox-actions.mjs", { size: 1 });
    const crashed = await pool.runPulse(0, [{ id: "a", input: 1 }, { id: "b", input: { action: "exit" } }, { id: "c", input: 3 }], { attempt: 1 });
    expect(crashed).toEqual({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: 'worker exited with code 7 while running EU "b"' }, euIndex: 1, completed: [] });
    const after = okResults(await pool.runPulse(1, [{ id: "c", input: 3 }], { attempt: 1 }));
    expect(after).toEqual([{ id: "c", ok: true, bytes: false, json: '{"echo":3}' }]);
  });

  it("terminates an EU that exceeds euTimeoutMs, and the pool keeps working", async () => {
    const pool = await poolOf("sandbox-actions.mjs", { size: 1 });
    const t0 = performance.now();
    // 1 s: the fast EUs must never be the ones timed out, even with their thread descheduled on a loaded machine.
    const out = await pool.runPulse(0, [{ id: 10, input: 1 }, { id: 11, input: { action: "loop" } }], { attempt: 1, euTimeoutMs: 1000 });
    const elapsed = performance.now() - t0;
    expect(out).toEqual({ kind: "crashed", error: { code: "E_EU_TIMEOUT", message: "EU 11 did not settle within 1000 ms" }, euIndex: 1, completed: [] });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(10_000);
    expect(okResults(await pool.runPulse(1, [{ id: 12, input: 2 }], { attempt: 1, euTimeoutMs: 1000 }))).toHaveLength(1);
  });

  it("times out a promise that never settles", async () => {
    const pool = await poolOf("sandbox-actions.mjs", { size: 1 });
    const out = await pool.runPulse(0, [{ id: 0, input: { action: "never" } }], { attempt: 1, euTimeoutMs: 200 });
    expect(out).toMatchObject({ kind: "crashed", error: { code: "E_EU_TIMEOUT" }, euIndex: 0 });
  });

  it("reports an uncaught error from a timer as a crash", async () => {
    const pool = await poolOf("sandbox-actions.mjs", { size: 1 });
    const out = await pool.runPulse(0, [{ id: 0, input: { action: "uncaught-later" } }], { attempt: 1 });
    expect(out).toEqual({
      kind: "crashed",
      error: { code: "E_WORKER_CRASHED", message: "worker crashed with an uncaught Error: thrown from a timer while running EU 0" },
      euIndex: 0,
      completed: [],
    });
    expect(okResults(await pool.runPulse(1, [{ id: 1, input: 1 }], { attempt: 1 }))).toHaveLength(1);
  });

  it("reports running out of memory as a crash", async () => {
    const pool = await poolOf("sandbox-actions.mjs", { size: 1, maxOldGenerationSizeMb: 32 });
    const out = await pool.runPulse(0, [{ id: 0, input: 0 }, { id: 1, input: { action: "oom" } }], { attempt: 1, euTimeoutMs: 30_000 });
    expect(out).toEqual({
      kind: "crashed",
      error: { code: "E_WORKER_CRASHED", message: "worker ran out of memory (ERR_WORKER_OUT_OF_MEMORY) while running EU 1" },
      euIndex: 1,
      completed: [],
    });
    expect(okResults(await pool.runPulse(1, [{ id: 2, input: 2 }], { attempt: 1 }))).toHaveLength(1);
  });

  it("runs a pulse on a fresh worker with the same results", async () => {
    const pool = await poolOf("sandbox-entropy.ts", { size: 2 });
    const tasks: EUTask[] = [{ id: 1, input: null }, { id: 2, input: null }];
    const a = okResults(await pool.runPulse(0, tasks, { attempt: 1 }));
    const b = okResults(await pool.runOnFreshWorker(0, tasks, { attempt: 1 }));
    const c = okResults(await pool.runOnFreshWorker(0, tasks, { attempt: 1 }));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it("queues more pulses than workers and answers each with its own results", async () => {
    const pool = await poolOf("sandbox-async.mjs", { size: 2 });
    const outs = await Promise.all(Array.from({ length: 9 }, (_, i) => pool.runPulse(i, [{ id: i, input: i }], { attempt: 1 })));
    outs.forEach((o, i) => expect(outputsById(okResults(o)).get(i)).toMatchObject({ id: i, doubled: 2 * i }));
  });

  it("starts only the first worker with the pool, and another only when a request finds every started one busy", async () => {
    const pool = await poolOf("sandbox-async.mjs", { size: 4 });
    expect([pool.size, pool.started]).toEqual([4, 1]);
    // One pulse at a time, however many: the first worker serves them all.
    for (let i = 0; i < 3; i++) expect(outputsById(okResults(await pool.runPulse(i, [{ id: i, input: i }], { attempt: 1 }))).get(i)).toMatchObject({ doubled: 2 * i });
    expect(pool.started).toBe(1);
    // Two at once (each EU awaits a timer): a second worker, not four.
    const two = await Promise.all([3, 4].map((i) => pool.runPulse(i, [{ id: i, input: i }], { attempt: 1 })));
    two.forEach((o, k) => expect(outputsById(okResults(o)).get(3 + k)).toMatchObject({ doubled: 2 * (3 + k) }));
    expect(pool.started).toBe(2);
    // More at once than slots: never more than `size` threads.
    await Promise.all(Array.from({ length: 9 }, (_, i) => pool.runPulse(10 + i, [{ id: i, input: i }], { attempt: 1 })));
    expect(pool.started).toBe(4);
  });

  it("a slot whose first (lazy) start fails rejects the request, as create did, rather than recording a crash for its EUs", async () => {
    // A module that imports once and throws on every later import: the second slot's first start fails.
    const dir = await mkdtemp(join(tmpdir(), "cairn-lazy-start-"));
    try {
      const marker = join(dir, "imported");
      const code = `import { existsSync, writeFileSync } from "node:fs";
if (existsSync(${JSON.stringify(marker)})) throw new Error("imported twice");
writeFileSync(${JSON.stringify(marker)}, "1");
export default async (x) => { await new Promise((r) => setTimeout(r, 20)); return x; };
`;
      const pool = await WorkerPool.create({ size: 2, bundle: { code, digest: sha256(code) }, seed: "s", moduleName: "once.mjs" });
      pools.push(pool);
      const [a, b] = (await Promise.allSettled([0, 1].map((i) => pool.runPulse(i, [{ id: i, input: i }], { attempt: 1 })))) as [PromiseSettledResult<PulseOutcome>, PromiseSettledResult<PulseOutcome>];
      expect(a.status).toBe("fulfilled");
      expect(okResults((a as PromiseFulfilledResult<PulseOutcome>).value)).toHaveLength(1);
      expect(b.status).toBe("rejected");
      expect((b as PromiseRejectedResult).reason).toMatchObject({ code: "E_INVALID_INPUT", message: expect.stringContaining("imported twice") });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("module validation", () => {
  it("rejects a module without a default export function", async () => {
    await expectRejects(poolOf("sandbox-no-default.mjs"), "E_INVALID_INPUT", "module sandbox-no-default.mjs has no default export function");
  });

  it("rejects a module that throws at import, at its position in the bundle without a source map", async () => {
    const hex = (await bundleOf("sandbox-throws-at-import.mjs")).digest.slice("sha256:".length, "sha256:".length + 16);
    // Line 2 of the bundle: esbuild's "// sandbox-throws-at-import.mjs" comment is line 1.
    await expectRejects(
      poolOf("sandbox-throws-at-import.mjs", { size: 2 }),
      "E_INVALID_INPUT",
      `cairn-bundle/${hex}.mjs:2:7: module sandbox-throws-at-import.mjs threw at import: kaboom at import`,
    );
  });

  it("names the source file, line and column of an import error through the bundle's source map", async () => {
    const b = await bundleOf("sandbox-throws-at-import.mjs");
    const err = await WorkerPool.create({ size: 1, bundle: b, seed: "s", moduleName: "m.mjs", locate: b.locate }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string; details: Record<string, unknown> },
    );
    expect(err?.code).toBe("E_INVALID_INPUT");
    expect(err?.message).toBe(`${fixture("sandbox-throws-at-import.mjs")}:2:7: module m.mjs threw at import: kaboom at import`);
    expect(err?.details).toEqual({ module: "m.mjs", at: `${fixture("sandbox-throws-at-import.mjs")}:2:7` });
  });

  it("gives no position for a thrown value without a stack", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-sandbox-throw42-"));
    try {
      await writeFile(join(dir, "t.mjs"), "throw 42;\nexport default () => 1;\n");
      const b = await bundleModule(join(dir, "t.mjs"));
      await expectRejects(WorkerPool.create({ size: 1, bundle: b, seed: "s", moduleName: "t.mjs", locate: b.locate }), "E_INVALID_INPUT", "module t.mjs threw at import: 42");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects a bundle whose digest does not match", async () => {
    const b = await bundleOf("sandbox-actions.mjs");
    await expectRejects(WorkerPool.create({ size: 1, seed: "s", bundle: { code: `${b.code} `, digest: b.digest } }), "E_USAGE", /digest/);
  });
});

describe("reduce", () => {
  it("folds outputs in order from initial, across chunks, identically on every pool", async () => {
    const n = REDUCE_CHUNK_SIZE * 2 + 17;
    const tasks: EUTask[] = Array.from({ length: n }, (_, i) => ({ id: i, input: { n: i } }));
    const expected = { byParity: { even: Math.ceil(n / 2), odd: Math.floor(n / 2) }, count: n, sum: n * (n - 1) };

    const results: string[] = [];
    for (const size of [1, 3]) {
      const pool = await poolOf("sandbox-reduce.ts", { size });
      expect(pool.reducer).toEqual({ initial: '{"byParity":{},"count":0,"sum":0}' });
      const outs = okResults(await pool.runPulse(0, tasks, { attempt: 1 })).filter((r): r is EUJsonOutput | EUBytesOutput => r.ok);
      async function* stream(): AsyncGenerator<EUJsonOutput | EUBytesOutput> {
        yield* outs;
      }
      const initial = (pool.reducer as { initial: string }).initial;
      const viaArray = await pool.reduce(initial, outs);
      const viaStream = await pool.reduce(initial, stream());
      expect(JSON.parse(viaArray)).toEqual(expected);
      expect(viaStream).toBe(viaArray);
      results.push(viaArray);
    }
    expect(results[1]).toBe(results[0]);
  });

  it("refuses to reduce when the module has no reduce", async () => {
    const pool = await poolOf("sandbox-actions.mjs");
    expect(pool.reducer).toBeUndefined();
    await expectRejects(pool.reduce("null", []), "E_USAGE", "module sandbox-actions.mjs does not export reduce");
  });

  it("rejects when reduce throws, naming the EU", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-sandbox-reduce-"));
    try {
      const file = join(dir, "threes.mjs");
      await writeFile(file, 'export const initial = 0;\nexport default (x) => x;\nexport function reduce(acc, o) {\n  if (o === 3) throw new Error("no threes");\n  return acc + o;\n}\n');
      const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(file), seed: "s", moduleName: "threes.mjs" });
      pools.push(pool);
      expect(pool.reducer).toEqual({ initial: "0" });
      const outs = okResults(await pool.runPulse(0, [1, 2, 3, 4].map((n) => ({ id: `r${n}`, input: n })), { attempt: 1 }));
      expect(await pool.reduce("0", outs.slice(0, 2) as EUJsonOutput[])).toBe("3");
      await expectRejects(pool.reduce("0", outs as EUJsonOutput[]), "E_INVALID_INPUT", 'reduce of module threes.mjs threw at EU "r3": no threes');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("reduce in parts", () => {
  it("a chunk larger than REDUCE_PART_BYTES is folded across parts exactly as in one message; a throw in a later part names its EU", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-sandbox-parts-"));
    try {
      const file = join(dir, "parts.mjs");
      // The accumulator is not canonical JSON between steps (a Map): only the chunk's end is checked.
      await writeFile(file, 'export const initial = [];\nexport default (x) => x;\nexport function reduce(acc, o) {\n  if (o.startsWith("bad")) throw new Error("bad output");\n  const m = acc instanceof Map ? acc : new Map([["prev", acc]]);\n  m.set(m.size, o.length);\n  return o.startsWith("last") ? [...m.values()] : m;\n}\n');
      const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(file), seed: "s", moduleName: "parts.mjs" });
      pools.push(pool);
      const big = Math.ceil(REDUCE_PART_BYTES / 2);
      const item = (id: number, text: string): EUJsonOutput => ({ id, ok: true, bytes: false, json: JSON.stringify(text) });
      const items = [item(0, "a".repeat(big)), item(1, "b".repeat(big)), item(2, "c"), item(3, "last")];
      expect(await pool.reduce("[]", items)).toBe(`[[],${big},${big},1,4]`);
      await expectRejects(pool.reduce("[]", [...items.slice(0, 3), item(3, "bad")]), "E_INVALID_INPUT", "reduce of module parts.mjs threw at EU 3: bad output");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("reduce session", () => {
  it("close() while a chunk waits for a slot: the chunk gives the slot back and fails, the pool keeps working", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-sandbox-session-"));
    try {
      const file = join(dir, "hold.mjs");
      await writeFile(file, 'export const initial = 0;\nexport default (x) => (x === "never" ? new Promise(() => {}) : x);\nexport function reduce(acc, o) { return acc + o; }\n');
      const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(file), seed: "s", moduleName: "hold.mjs" });
      pools.push(pool);
      const holding = pool.runPulse(0, [{ id: 0, input: "never" }], { attempt: 1, euTimeoutMs: 300 }); // holds the only slot
      const session = pool.openReduce();
      const waiting = session.chunk("0", [{ id: 1, bytes: false, json: "2" }]).then(
        () => "folded",
        (e: unknown) => (e as Error).message,
      );
      await session.close();
      expect((await holding).kind).toBe("crashed"); // the timeout frees the slot
      expect(await waiting).toBe("reduce session is closed");
      const next = await Promise.race([pool.runPulse(1, [{ id: 2, input: 5 }], { attempt: 1 }), new Promise((r) => setTimeout(() => r("stuck"), 10_000))]);
      expect(next).not.toBe("stuck"); // before: the closed session kept the slot forever
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("pool behaviour", () => {
  it("keeps module-level state per worker; runOnFreshWorker starts from a pristine module", async () => {
    const pool = await poolOf("sandbox-counter.mjs", { size: 1 });
    const run = async (fresh: boolean): Promise<unknown[]> => {
      const eus = [{ id: 0, input: null }, { id: 1, input: null }];
      const o = fresh ? await pool.runOnFreshWorker(0, eus, { attempt: 1 }) : await pool.runPulse(0, eus, { attempt: 1 });
      return [...outputsById(okResults(o)).values()];
    };
    expect(await run(false)).toEqual([1, 2]);
    expect(await run(false)).toEqual([3, 4]); // the nondeterminism audits exist to catch
    expect(await run(true)).toEqual([1, 2]);
    expect(await run(false)).toEqual([3, 4]); // the fresh worker took the slot
    expect(await run(true)).toEqual([1, 2]);
  });

  it("forwards the function's stdout to the parent's stderr", async () => {
    const pool = await poolOf("sandbox-counter.mjs", { size: 1 });
    const seen: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      seen.push(Buffer.from(chunk).toString("utf8"));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      okResults(await pool.runPulse(0, [{ id: 0, input: "log" }], { attempt: 1 }));
      // The worker's stdout reaches this thread through its own pipe: polled up to a safety net (not a speed assertion).
      const until = Date.now() + 10_000;
      while (!seen.join("").includes("hello from the sandbox") && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.stderr.write = write;
    }
    expect(seen.join("")).toContain("hello from the sandbox");
  });

  it("bounds the wait queue, and close() settles in-flight pulses and rejects waiting ones", async () => {
    const pool = await poolOf("sandbox-actions.mjs", { size: 1 });
    const never = [{ id: 0, input: { action: "never" } }];
    const running = pool.runPulse(0, never, { attempt: 1 });
    const waiting = Array.from({ length: MAX_QUEUED_REQUESTS }, (_, i) => pool.runPulse(i + 1, never, { attempt: 1 }));
    const settledWaiting = Promise.allSettled(waiting);
    await expectRejects(pool.runPulse(99_999, never, { attempt: 1 }), "E_INTERNAL", /requests are waiting for the worker pool/);
    await pool.close();
    // Whether EU 0 had started when close() landed depends on scheduling.
    const closed = await running;
    expect(closed).toMatchObject({ kind: "crashed", error: { code: "E_WORKER_CRASHED" } });
    if (closed.kind === "crashed" && closed.euIndex === undefined) expect(closed.error.message).toBe("worker terminated: pool closed");
    else expect(closed).toEqual({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "worker terminated: pool closed while running EU 0" }, euIndex: 0, completed: [] });
    const rejected = (await settledWaiting).filter((s) => s.status === "rejected");
    expect(rejected).toHaveLength(MAX_QUEUED_REQUESTS);
    await expectRejects(pool.runPulse(0, never, { attempt: 1 }), "E_USAGE", "worker pool is closed");
  });

  it("closes promptly while a replacement worker is still starting", async () => {
    const pool = await poolOf("sandbox-actions.mjs", { size: 1 });
    const crashed = await pool.runPulse(0, [{ id: 0, input: { action: "exit" } }], { attempt: 1 });
    expect(crashed.kind).toBe("crashed");
    const t0 = performance.now();
    await pool.close();
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it("fails creation when the module never finishes importing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-sandbox-hang-"));
    try {
      // Only busy.mjs needs the startup timeout; the others end their worker by themselves, so
      // they get a generous timeout that a loaded machine cannot hit first.
      const cases: Array<[string, string, string, number]> = [
        ["stuck.mjs", "await new Promise(() => {});\nexport default () => 1;\n", "module stuck.mjs never finished importing (a top-level await that can never settle, or process.exit(0) at import)", 30_000],
        ["busy.mjs", "setInterval(() => {}, 1000);\nawait new Promise(() => {});\nexport default () => 1;\n", "module busy.mjs did not finish importing within 300 ms", 300],
        ["exits.mjs", "process.exit(4);\nexport default () => 1;\n", "module exits.mjs exited its worker with code 4 while importing", 30_000],
      ];
      for (const [name, code, message, startupTimeoutMs] of cases) {
        await writeFile(join(dir, name), code);
        const bundle = await bundleModule(join(dir, name));
        await expectRejects(WorkerPool.create({ size: 2, bundle, seed: "s", moduleName: name, startupTimeoutMs }), "E_INVALID_INPUT", message);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
