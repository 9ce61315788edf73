/**
 * The review of the batched trace, the per-run confinement memo and the file cache
 * (ARCHITECTURE §11.6–§11.7):
 *  1. a side effect's own CC_STEP is on disk before anything else runs (PGS and Cairn);
 *  2. a directory swapped for a symlink to outside the data root mid-run is refused as without
 *     the memo; a deleted directory is created again;
 *  3. a failed trace write ends the run by throwing E_STORE_IO naming the trace file, with no
 *     summary (a stale one removed), on every path;
 *  4. the file cache compares nanosecond timestamps and keys every file by its real path.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { CT_ATOMS, type CtAtomTable } from "../../src/workflow/atoms/index.js";
import { runCairnCore } from "../../src/workflow/cairn/run.js";
import { confineAbsolute, newCheckedDirs, preparePath } from "../../src/workflow/effects/index.js";
import { cachedBytes, cachedDigest, remember } from "../../src/workflow/effects/filecache.js";
import { readData } from "../../src/workflow/effects/fsio.js";
import { captureState, verifyTraceChainText } from "../../src/workflow/pgs/index.js";
import { TraceWriter } from "../../src/workflow/pgs/trace.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { baseDecl, prepared, run as runCairn, tempDir } from "./cairn-fixture.js";
import { ACTOR_PAYLOAD, cairnErrorOf, payload, scratchPerTest, WF, type Sandbox } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();


const thrown = cairnErrorOf;

/** Each event's `event_type` and `step_op`. */
function events(text: string): Array<{ event_type: string; step_op: string | null }> {
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { event_type: string; step_op: string | null });
}

describe("1. a side effect's CC_STEP is on disk right after the effect", () => {
  it("PGS: during every later CT step, the trace on disk holds the CC_STEP of every CS call made", () => {
    const p = payload("agent_governance/01_valid_standard_action.json");
    const first = box().run(WF.govern, p);
    const b = box(); // same seeded prior state: the same trace id
    const file = join(b.workspace, first.traceDir, `${first.traceId}.jsonl`);
    const seen: string[] = [];
    // Every CT atom looks at the trace file before it runs.
    const atoms: CtAtomTable = Object.fromEntries(Object.entries(CT_ATOMS).map(([k, a]) => [k, { ...a, execute: (i: Parameters<typeof a.execute>[0]) => (seen.push(readFileSync(file, "utf8")), a.execute(i)) }]));
    const r = b.run(WF.govern, p, { atoms });
    expect(r.traceId).toBe(first.traceId);
    const all = readFileSync(file, "utf8");
    const final = events(all);
    expect(seen.length).toBeGreaterThan(0);
    let afterCs = 0;
    for (const s of seen) {
      expect(verifyTraceChainText(s).ok).toBe(true);
      expect(all.startsWith(s)).toBe(true);
      const n = events(s).length;
      // The next event not on disk is never a CS step's CC_STEP: that step already ran.
      expect(final[n]?.event_type === "CC_STEP" && final[n]?.step_op !== null).toBe(false);
      if (final[n - 1]?.event_type === "CC_STEP" && final[n - 1]?.step_op !== null) afterCs++;
    }
    // The READ of CC_RESOLVE_LICENSE_TIER is followed by a CT in the same CC: seen right after it.
    expect(afterCs).toBeGreaterThan(0);
  });

  it("Cairn: after a lane-bound step, the next step runs with that step's CC_STEP on disk", async () => {
    const decl = baseDecl({
      entry: "reg",
      stores: { agents: { kind: "registry", path: "r/agents.jsonl" } },
      nodes: {
        reg: {
          steps: [
            {
              id: "bind", cs: "agents", op: "REGISTER", inputs: { key: "$.payload.name", value: "$.payload" },
              lane: { kind: "http", operation: "request", payload: { object: { url: { const: "http://127.0.0.1:9/x" }, method: { const: "POST" }, json: "$.inputs" } }, acceptable_attestation: { classes: ["loopback"] }, result_json: "body" },
            },
            { id: "h", ct: "hash", inputs: { value: "$.steps.bind.address" } },
          ],
          routes: { default: { exit: "DONE", reason: "done" } },
        },
      },
    });
    const { snap } = await prepared(decl);
    const d = tempDir();
    let file = "";
    const seen: string[] = [];
    /** The lane step's result fields: the next step's input binding reads them (`get`). */
    class Watched extends Map<string, unknown> {
      override get(k: string): unknown {
        if (file !== "") seen.push(readFileSync(file, "utf8"));
        return super.get(k);
      }
    }
    const g = runCairnCore({ snapshot: snap, payload: fromPlain({ name: "x" }) as PyObject, dataRoot: join(d, "data"), baseDir: d, planeSession: "n@0:s" });
    let n = g.next();
    expect(n.done).toBe(false);
    if (n.done !== true) file = join(d, "traces", "test", "WF_TEST_V0", n.value.idempotencyKey.split("|")[0] as string, `${n.value.idempotencyKey.split("|")[0] as string}.jsonl`);
    const fields = new Watched([["address", "a"]]) as unknown as PyObject;
    while (n.done !== true) n = g.next({ status: "SUCCESS", fields, lane: fromPlain({ lane_id: "http", status: "succeeded" }) as PyObject });
    expect(n.value.status).toBe("SUCCESS");
    expect(seen.length).toBeGreaterThan(0);
    const last = events(seen[0] as string).at(-1);
    expect(last).toMatchObject({ event_type: "CC_STEP", step_op: "REGISTER" });
  });
});

describe("2. the per-run confinement memo re-checks what it skips", () => {
  function layout(): { root: string; outside: string } {
    const d = dir();
    const root = join(d, "data");
    const outside = join(d, "outside");
    mkdirSync(join(root, "a"), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(root, "a/f.json"), "inside\n");
    writeFileSync(join(outside, "f.json"), "OUTSIDE\n");
    return { root, outside };
  }

  it("a checked directory swapped for a symlink to outside between two calls is refused as without the memo", () => {
    for (const create of [false, true]) {
      const { root, outside } = layout();
      const memo = newCheckedDirs();
      const p = confineAbsolute(root, join(root, "a/f.json"));
      expect(readData(preparePath(p, create, false, memo))?.toString()).toBe("inside\n");
      renameSync(join(root, "a"), join(root, "a.old"));
      symlinkSync(outside, join(root, "a"));
      const fresh = thrown(() => preparePath(p, create, false));
      expect(fresh.code).toBe("E_PATH_CONFINEMENT");
      const memoised = thrown(() => readData(preparePath(p, create, false, memo)));
      expect({ code: memoised.code, message: memoised.message, details: memoised.details }).toEqual({ code: fresh.code, message: fresh.message, details: fresh.details });
    }
  });

  it("a data root swapped for a symlink is resolved again; deleted directories are created again", () => {
    const { root, outside } = layout();
    const memo = newCheckedDirs();
    const p = confineAbsolute(root, join(root, "x/y/f.json"));
    expect(preparePath(p, true, false, memo).realParent).toBe(join(root, "x/y"));
    rmSync(join(root, "x"), { recursive: true });
    expect(preparePath(p, true, false, memo).realParent).toBe(join(root, "x/y"));
    expect(lstatSync(join(root, "x/y")).isDirectory()).toBe(true);
    rmSync(root, { recursive: true });
    expect(preparePath(p, true, false, memo).realParent).toBe(join(root, "x/y"));
    // The real root replaced by a symlink: the memo's root is no longer trusted (the configured
    // root is resolved again, as on a first call).
    rmSync(root, { recursive: true });
    symlinkSync(outside, root);
    expect(preparePath(p, true, false, memo).realParent).toBe(join(outside, "x/y"));
  });
});

describe("3. a failed trace write ends the run with E_STORE_IO naming the trace file", () => {
  /** A sandbox whose trace file for `wf`/`p` is a symlink to /dev/full, with a stale summary next to it. */
  function fullTrace(wf: string, p: string, opts: Parameters<Sandbox["run"]>[2] = {}): { b: Sandbox; rel: string; md: string } {
    const first = box().run(wf, p, opts);
    const b = box();
    const traceDirAbs = join(b.workspace, first.traceDir);
    mkdirSync(traceDirAbs, { recursive: true });
    symlinkSync("/dev/full", join(traceDirAbs, `${first.traceId}.jsonl`));
    const md = join(traceDirAbs, `${first.traceId}.md`);
    writeFileSync(md, readFileSync(join(first.traceDirAbs, `${first.traceId}.md`)));
    return { b, rel: `${first.traceDir}/${first.traceId}.jsonl`, md };
  }

  function expectTraceError(e: CairnError, rel: string): void {
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toBe(`cannot write trace file ${rel}: ENOSPC (write)`);
    expect(e.details).toMatchObject({ reason: "trace_write", path: rel, cause: "ENOSPC" });
  }

  it("PGS, the flush before a CS call: thrown before the call, no effect, no summary", () => {
    const p = payload("agent_governance/01_valid_standard_action.json");
    const { b, rel, md } = fullTrace(WF.govern, p);
    expectTraceError(thrown(() => b.run(WF.govern, p)), rel);
    expect(existsSync(join(b.dataRoot, "ai_governance/agent_governance/governance_actions.json"))).toBe(false);
    expect(existsSync(md)).toBe(false);
  });

  it("PGS, the flush at the end of a successful run: thrown, no summary", () => {
    const p = payload("collatz_conjecture/01_happy_path.json"); // no CS call: the only write is the last flush
    const { b, rel, md } = fullTrace(WF.collatz, p);
    expectTraceError(thrown(() => b.run(WF.collatz, p)), rel);
    expect(existsSync(md)).toBe(false);
  });

  it("PGS, the close() after a run error: thrown the same way, no summary", () => {
    // An empty atom table: the first CT step is E_HANDLER_UNMAPPED before any CS call, so the
    // first write is the one in close() on the error path.
    const { b, rel, md } = fullTrace(WF.actor, ACTOR_PAYLOAD, { atoms: {} });
    expectTraceError(thrown(() => b.run(WF.actor, ACTOR_PAYLOAD, { atoms: {} })), rel);
    expect(existsSync(md)).toBe(false);
  });

  it("PGS, the trace file or its directory cannot be created: thrown before the run, nothing written", () => {
    const p = payload("agent_governance/01_valid_standard_action.json");
    const first = box().run(WF.govern, p);
    const rel = `${first.traceDir}/${first.traceId}.jsonl`;
    const b = box();
    mkdirSync(join(b.workspace, rel), { recursive: true }); // the trace file's path is a directory
    let e = thrown(() => b.run(WF.govern, p));
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toBe(`cannot write trace file ${rel}: EISDIR (open)`);
    expect(e.details).toMatchObject({ reason: "trace_write", path: rel, cause: "EISDIR" });
    const c = box();
    const wfDir = join(c.workspace, first.traceDir, "..");
    mkdirSync(join(wfDir, ".."), { recursive: true });
    writeFileSync(wfDir, ""); // traces/<domain>/<WF_CODE> is a file
    e = thrown(() => c.run(WF.govern, p));
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toMatch(new RegExp(`^cannot write trace file ${rel.replace(/[.]/g, "\\.")}: ENOTDIR \\(mkdir\\)$`));
    expect(existsSync(join(c.dataRoot, "ai_governance/agent_governance"))).toBe(false);
  });

  it("the .md summary cannot be written: the same E_STORE_IO, naming the .md, and no temp file left", () => {
    const p = payload("collatz_conjecture/01_happy_path.json");
    const first = box().run(WF.collatz, p);
    const b = box();
    const traceDirAbs = join(b.workspace, first.traceDir);
    mkdirSync(join(traceDirAbs, `${first.traceId}.md`), { recursive: true }); // the summary's path is a directory
    const e = thrown(() => b.run(WF.collatz, p));
    const rel = `${first.traceDir}/${first.traceId}.md`;
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toBe(`cannot write trace file ${rel}: EISDIR (rename)`);
    expect(e.details).toMatchObject({ reason: "trace_write", path: rel, cause: "EISDIR" });
    expect(readdirSync(traceDirAbs).sort()).toEqual([`${first.traceId}.jsonl`, `${first.traceId}.md`]);
  });

  /**
   * A sandbox where collatz has run twice (from the second run on, a run leaves the data as it
   * found it, so its trace id repeats), the second run's trace and summary bytes, and an atom
   * table whose termination check first calls `during` (mid-run, before the trace is closed).
   */
  function rerunOfCollatz(during: (traceDirAbs: string) => void): {
    b: Sandbox; p: string; first: ReturnType<Sandbox["run"]>; jsonl: string; md: string; before: { jsonl: Buffer; md: Buffer }; atoms: CtAtomTable;
  } {
    const p = payload("collatz_conjecture/01_happy_path.json");
    const b = box();
    b.run(WF.collatz, p);
    const first = b.run(WF.collatz, p);
    const jsonl = join(first.traceDirAbs, `${first.traceId}.jsonl`);
    const md = join(first.traceDirAbs, `${first.traceId}.md`);
    const key = "pgs_ai_governance.implementation.capability_transforms.atoms.ct_pure_termination_check_v0:execute";
    const orig = CT_ATOMS[key] as CtAtomTable[string];
    const atoms: CtAtomTable = Object.freeze({
      ...CT_ATOMS,
      [key]: { ...orig, execute: (inputs: Parameters<typeof orig.execute>[0]) => {
        during(first.traceDirAbs);
        return orig.execute(inputs);
      } },
    });
    return { b, p, first, jsonl, md, before: { jsonl: readFileSync(jsonl), md: readFileSync(md) }, atoms };
  }

  it("a re-run of one trace id never touches the earlier trace before it completes, and replaces it whole", () => {
    // An atom that looks at the trace directory mid-run, where a kill would leave it: the earlier
    // trace whole (it was truncated in place before), the re-run's events in a dot-named temp file.
    const seen: Array<{ jsonl: Buffer; temps: string[] }> = [];
    const { b, p, first, jsonl, md, before, atoms } = rerunOfCollatz((dir) => {
      seen.push({ jsonl: readFileSync(join(dir, `${first.traceId}.jsonl`)), temps: readdirSync(dir).filter((f) => f.endsWith(".tmp")) });
    });
    const again = b.run(WF.collatz, p, { atoms });
    expect(again.traceId).toBe(first.traceId);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.jsonl).toEqual(before.jsonl);
    expect(seen[0]?.temps).toEqual([expect.stringMatching(new RegExp(`^\\.${first.traceId}\\.jsonl\\.${process.pid}-[0-9a-f]{8}-[0-9a-f]{16}\\.tmp$`))]);
    // At close the same bytes replace it, and no temp file is left.
    expect(readFileSync(jsonl)).toEqual(before.jsonl);
    expect(readFileSync(md)).toEqual(before.md);
    expect(readdirSync(first.traceDirAbs).sort()).toEqual([`${first.traceId}.jsonl`, `${first.traceId}.md`]);
  });

  it("TraceWriter: an abandoned re-run (a lane-bound run's generator returned part-way) leaves the earlier trace; a closed one replaces it", () => {
    const d = tempDir();
    const file = join(d, "T.jsonl");
    writeFileSync(file, "earlier\n");
    const abandoned = new TraceWriter("T", "test", null, file);
    abandoned.emit("WF_START", { detail: new Map() });
    abandoned.flush();
    abandoned.abandon();
    expect(readFileSync(file, "utf8")).toBe("earlier\n");
    expect(readdirSync(d)).toEqual(["T.jsonl"]);
    const closed = new TraceWriter("T", "test", null, file);
    closed.emit("WF_START", { detail: new Map() });
    closed.close();
    expect(readFileSync(file, "utf8")).toBe(`${closed.lines[0]}\n`);
    expect(readdirSync(d)).toEqual(["T.jsonl"]);
    // a first run (no earlier file) keeps its events in place when abandoned, as a killed run does
    const fresh = new TraceWriter("U", "test", null, join(d, "U.jsonl"));
    fresh.emit("WF_START", { detail: new Map() });
    fresh.abandon();
    expect(readFileSync(join(d, "U.jsonl"), "utf8")).toBe(`${fresh.lines[0]}\n`);
  });

  it("a re-run whose replacement cannot be renamed keeps the earlier trace and summary (E_STORE_IO naming the trace)", () => {
    // mid-run the temp file is removed: the rename at close finds nothing
    const { b, p, first, jsonl, md, before, atoms } = rerunOfCollatz((dir) => {
      for (const f of readdirSync(dir).filter((x) => x.endsWith(".tmp"))) rmSync(join(dir, f));
    });
    const e = thrown(() => b.run(WF.collatz, p, { atoms }));
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toBe(`cannot write trace file ${first.traceDir}/${first.traceId}.jsonl: ENOENT (rename)`);
    expect(readFileSync(jsonl)).toEqual(before.jsonl);
    expect(readFileSync(md)).toEqual(before.md);
  });

  it("Cairn: thrown the same way", async () => {
    const { snap } = await prepared(baseDecl());
    const d = tempDir();
    const first = runCairn(snap, { a: 1 }, d);
    rmSync(join(first.traceDirAbs, `${first.traceId}.jsonl`));
    symlinkSync("/dev/full", join(first.traceDirAbs, `${first.traceId}.jsonl`));
    const rel = `${first.traceDir}/${first.traceId}.jsonl`;
    expectTraceError(thrown(() => runCairn(snap, { a: 1 }, d)), rel);
    expect(existsSync(join(first.traceDirAbs, `${first.traceId}.md`))).toBe(false);
  });
});

describe("4. file cache identity and keys", () => {
  function fakeStats(ns: bigint): BigIntStats {
    const st = lstatSync("/", { bigint: true });
    return Object.assign(Object.create(Object.getPrototypeOf(st) as object) as BigIntStats, st, {
      isFile: () => true, dev: 1n, ino: 424242n, size: 3n,
      mtimeNs: ns, ctimeNs: ns, birthtimeNs: ns, mtimeMs: ns / 1_000_000n, ctimeMs: ns / 1_000_000n, birthtimeMs: ns / 1_000_000n,
    });
  }

  it("timestamps are compared in nanoseconds", () => {
    const path = `/cairn-filecache-test/${process.pid}/f`;
    const t = 1_764_000_000_123_456_789n;
    remember(path, fakeStats(t), Buffer.from("abc"));
    expect(cachedBytes(path, fakeStats(t))?.toString()).toBe("abc");
    expect(cachedBytes(path, fakeStats(t + 1n))).toBeUndefined(); // same ms, 1 ns later
  });

  it("captureState and the CS runtimes share one entry, by the file's real path", () => {
    const d = dir();
    mkdirSync(join(d, "real/sub"), { recursive: true });
    symlinkSync(join(d, "real"), join(d, "root")); // the data root as configured is a symlink
    writeFileSync(join(d, "real/sub/f.json"), "{}\n");
    const [s] = captureState(join(d, "root"), ["sub/f.json"]);
    const real = join(d, "real/sub/f.json");
    expect(cachedDigest(real, lstatSync(real, { bigint: true }))?.digest).toBe(s?.digest);
    const p = preparePath(confineAbsolute(join(d, "root"), join(d, "root/sub/f.json")), false, false);
    expect(p.realFile).toBe(real);
  });
});
