/**
 * Determinism across machines (ARCHITECTURE §11.5, §11.6): a Cairn snapshot run gives the same
 * trace id and byte-identical files whatever characters its data root's path holds, and
 * `cairn wf replay` confirms it whatever TMPDIR holds; a PGS run or replay whose data root
 * would hold a character the PGS textual policy expansion cannot carry is refused before any
 * trace or file is written; a user CT's bundle does not depend on a tsconfig.json or a
 * package.json in the folders above it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult, type PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { REPLAY_TMPDIR_REASON, replayPgsRun } from "../../src/workflow/pgs/replay.js";
import { bundleCapabilityModule } from "../../src/workflow/cairn/usercts.js";
import { EXAMPLES, payload, tempDir, writeTree } from "./cairn-fixture.js";
import { ACTOR_PAYLOAD, cairnErrorOf, sandbox, WF, type Sandbox } from "./pgs-fixture.js";
import { readPayloadFile, runPgsWorkflow } from "../../src/workflow/pgs/index.js";

const OK = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-ok.json"), "utf8")) as Record<string, unknown>;
const BAD_EMAIL = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-bad-email.json"), "utf8")) as Record<string, unknown>;

/** Directory names holding each character the PGS policy expansion refuses. */
const ODD_NAMES = ['q"uote', "back\\slash", "tab\there", "new\nline", 'all "\\\t\u0001 ü'];

const savedTmpdir = process.env.TMPDIR;
const boxes: Sandbox[] = [];
const stores: Store[] = [];
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
});

let exampleSnap: PreparedSnapshot | undefined;
async function example(): Promise<PreparedSnapshot> {
  if (exampleSnap === undefined) {
    const c = await compileWorkflows([EXAMPLES]);
    exampleSnap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap"));
  }
  return exampleSnap;
}

/** Every file under `dir` (relative path → bytes as text), sorted. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, "latin1");
    }
  };
  walk(dir);
  return out;
}

/** The example's three runs (SUCCESS, ALREADY_EXISTS, VIOLATION) in `dir` (traces) over `dir/data`, recorded into `store`. */
function runAll(snap: PreparedSnapshot, dir: string, store?: Store): CairnRunResult[] {
  mkdirSync(dir, { recursive: true });
  return [OK, OK, BAD_EMAIL].map((p) => runCairnWorkflow({ snapshot: snap, payload: payload(p), dataRoot: join(dir, "data"), baseDir: dir, ...(store === undefined ? {} : { store }) }));
}

describe("Cairn snapshot runs: any data-root path", () => {
  it('a data root holding ", \\ or a control character runs every store kind and writes the same bytes as an ordinary one', async () => {
    const snap = await example();
    const base = tempDir("cairn-detenv-");
    const ref = runAll(snap, join(base, "plain"));
    expect(ref.map((r) => r.status)).toEqual(["SUCCESS", "ALREADY_EXISTS", "VIOLATION"]);
    expect(ref[0]?.effects.map((e) => `${e.op}:${e.status}`)).toEqual(["REGISTER:SUCCESS", "WRITE:SUCCESS", "APPEND:SUCCESS"]);
    const want = tree(join(base, "plain"));
    expect(Object.keys(want)).toContain("data/registry/profiles.json"); // the mutable store was written
    for (const name of ODD_NAMES) {
      const dir = join(base, name);
      const got = runAll(snap, dir);
      expect(got.map((r) => [r.status, r.traceId, r.digests.trace, r.error])).toEqual(ref.map((r) => [r.status, r.traceId, r.digests.trace, r.error]));
      expect(tree(dir)).toEqual(want);
    }
  });

  it("cairn wf replay confirms IDENTICAL when TMPDIR holds such characters", async () => {
    const snap = await example();
    const base = tempDir("cairn-detenv-");
    const store = openStore({ dir: join(base, "store"), create: true });
    stores.push(store);
    const runs = runAll(snap, join(base, "w"), store);
    const oddTmp = join(base, 'tmp "\\ q');
    mkdirSync(oddTmp);
    process.env.TMPDIR = oddTmp;
    for (const r of runs) {
      const rep = replayCairnRun(store, r.traceId);
      expect(rep.firstDifference).toBeUndefined();
      expect(rep).toMatchObject({ identical: true, status: r.status, replayedTrace: r.digests.trace });
    }
    expect(readdirSync(oddTmp).filter((n) => n.startsWith("cairn-wf-replay-"))).toEqual([]); // removed afterwards
  });
});

describe("PGS runs and replays: a data root the textual policy expansion cannot carry", () => {
  it("a PGS run over such a data root is refused before any trace or data-root file is written", () => {
    const b = sandbox();
    boxes.push(b);
    for (const [name, ch] of [['q"uote', '"'], ["back\\slash", "\\"], ["tab\there", "\t"]] as const) {
      const dataRoot = join(b.root, name);
      const e = cairnErrorOf(() => runPgsWorkflow({ workspace: b.workspace, workflow: WF.actor, payload: readPayloadFile(ACTOR_PAYLOAD), dataRoot }));
      expect(e.code).toBe(ErrorCode.INVALID_INPUT);
      expect(e.details).toMatchObject({ reason: "cs_config", dataRoot, character: ch });
      expect(e.message).toContain(`the data root contains ${JSON.stringify(ch)}, a character the policy expansion cannot carry`);
      expect(existsSync(join(b.workspace, "traces"))).toBe(false);
      expect(existsSync(dataRoot)).toBe(false);
    }
  });

  it('a PGS replay under a TMPDIR holding " is E_USAGE naming TMPDIR and the character, before anything is written', () => {
    const b = sandbox();
    boxes.push(b);
    const store = openStore({ dir: join(b.root, "store"), create: true });
    stores.push(store);
    const r = runPgsWorkflow({ workspace: b.workspace, workflow: WF.actor, payload: readPayloadFile(ACTOR_PAYLOAD), dataRoot: b.dataRoot, store });
    expect(replayPgsRun(store, r.traceId).identical).toBe(true);
    for (const [name, ch] of [['tmp"q', '"'], ["tmp\\b", "\\"], ["tmp\u0007bell", "\u0007"]] as const) {
      const oddTmp = join(b.root, name);
      mkdirSync(oddTmp);
      process.env.TMPDIR = oddTmp;
      const e = cairnErrorOf(() => replayPgsRun(store, r.traceId));
      expect(e.code).toBe(ErrorCode.USAGE);
      expect(e.message).toBe(
        `Recorded PGS run ${r.traceId} cannot be replayed under the temp directory ${JSON.stringify(oddTmp)} (TMPDIR): it contains ${JSON.stringify(ch)}, a character a PGS data root cannot hold (the policy expansion cannot carry a double quote, a backslash or a control character); set TMPDIR to a directory without them`,
      );
      expect(e.details).toEqual({ reason: REPLAY_TMPDIR_REASON, traceId: r.traceId, tmpdir: oddTmp, character: ch });
      expect(readdirSync(oddTmp)).toEqual([]);
    }
  });
});

describe("user CT bundles: no tsconfig.json or package.json above the module is an input", () => {
  /** A module importing a side-effect-only file and a CommonJS helper, and using a class field over an accessor. */
  const MODULE = {
    "proj/m.ts": [
      'import "./setup";',
      'import helper from "./helper.js";',
      'class Base { log = "none"; set x(v: number) { this.log = `setter ran with ${v}`; } get x(): number { return 0; } }',
      "class D extends Base { x = 1; }",
      'export const capabilities = { get: { outputs: ["setup", "helper", "log"], run: () => ({ setup: String((globalThis as Record<string, unknown>).__setup ?? "dropped"), helper: helper.top, log: new D().log }) } };',
      "",
    ].join("\n"),
    "proj/setup.ts": '(globalThis as Record<string, unknown>).__setup = "ran";\n',
    "proj/helper.js": "var top = typeof this;\nmodule.exports = { top };\n",
  };

  it("a sideEffects, type or tsconfig.json above the module (or beside it) leaves the bundle (and its digest) unchanged", async () => {
    const plain = await bundleCapabilityModule(join(writeTree(MODULE), "proj/m.ts"));
    expect(plain.code).toContain('__setup = "ran"');
    const parents: Record<string, string>[] = [
      { "package.json": '{"sideEffects":false}' },
      { "package.json": '{"type":"module"}' },
      { "package.json": '{"type":"commonjs","sideEffects":["nothing.js"]}' },
      { "tsconfig.json": '{"compilerOptions":{"useDefineForClassFields":false,"experimentalDecorators":true,"verbatimModuleSyntax":true}}' },
      { "package.json": '{"sideEffects":false}', "proj/package.json": '{"type":"module","sideEffects":false}', "proj/tsconfig.json": '{"compilerOptions":{"useDefineForClassFields":false}}' },
    ];
    for (const parent of parents) {
      const b = await bundleCapabilityModule(join(writeTree({ ...MODULE, ...parent }), "proj/m.ts"));
      expect({ parent, digest: b.digest }).toEqual({ parent, digest: plain.digest });
    }
  });

  it("a package under node_modules keeps its own package.json: sideEffects still drops its unused side-effect-free files", async () => {
    const files = {
      "proj/node_modules/pkg/package.json": '{"name":"pkg","main":"index.js","sideEffects":false}',
      "proj/node_modules/pkg/index.js": 'export { a } from "./a.js";\nexport { b } from "./b.js";\n',
      "proj/node_modules/pkg/a.js": "export const a = 1;\n",
      "proj/node_modules/pkg/b.js": 'globalThis.__b = "loaded";\nexport const b = 2;\n',
      "proj/m.ts": 'import { a } from "pkg";\nexport const capabilities = { get: { outputs: ["a"], run: () => ({ a }) } };\n',
    };
    const b = await bundleCapabilityModule(join(writeTree(files), "proj/m.ts"));
    expect(b.code).toContain("node_modules/pkg/a.js");
    expect(b.code).not.toContain("__b");
  });
});
