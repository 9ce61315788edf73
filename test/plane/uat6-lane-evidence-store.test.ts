/**
 * UAT6 F7: a recorded lane-bound run (`store`) whose node records its store evidence in ANOTHER
 * store is refused before anything runs: E_USAGE naming both stores (details.reason
 * `evidence_store_mismatch`). Before, the run went ahead and the documented trace → evidence
 * edges (`cairn.workflow.lane-evidence`) were silently left out: their evidence ends were not in
 * the run's store. The same store (one Store handle; in the CLI the same directory, however
 * spelled) runs and links as before. Library side, then the BUILT cli (`CAIRN_TEST_CLI`).
 */
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import { buildNodeFromConfig } from "../../src/plane/config/build.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { openStore, type Store } from "../../src/store/store.js";
import { EVIDENCE_STORE_MISMATCH_REASON, LANE_EVIDENCE_EDGE_TYPE, runCairnWorkflowWithPlane } from "../../src/workflow/cairn/lane-step.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { cairn, CLI, TempDirs } from "../cli/helpers.js";
import { planeWorkflowExample, WF_NODE, writeProcessNodeYaml } from "./process-node-yaml.js";

const EXAMPLE = new URL("../../examples/plane/workflow/", import.meta.url).pathname;
const T0 = 1_800_000_000_000;
const temps = new TempDirs();
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  temps.cleanup();
});
function open(dir: string): Store {
  const s = openStore({ dir, durability: "normal" });
  stores.push(s);
  return s;
}

/** The example workflow (one process-lane step) compiled, its node config with `evidence.store: true`, a key pair. */
async function example() {
  const dir = temps.make();
  return { dir, ...(await planeWorkflowExample(dir, "{ jsonl: evidence.jsonl, store: true }")) };
}

describe("runCairnWorkflowWithPlane: the evidence store must be the run's store", () => {
  it("a sink on another store is refused before anything runs, naming both stores", async () => {
    const { dir, pair, snap, cfg } = await example();
    const runStore = open(join(dir, "run-store"));
    const other = open(join(dir, "other-store"));
    const clock = fixedClock(T0);
    let opened = 0;
    const built = buildNodeFromConfig(cfg, { clock, ids: sequentialIds(clock), localWeak: { key: Buffer.alloc(32, 1), host: "h" }, store: () => (opened++, other) });
    try {
      const err = await runCairnWorkflowWithPlane({
        snapshot: snap, payload: fromPlain({ text: "hello" }) as PyObject, dataRoot: join(dir, "data"), baseDir: dir, store: runStore,
        plane: { node: built.node, clock, authority: { privateKey: pair.privateKeyPem, keyId: "wf", subject: "wf-runtime", audience: "cairn-wf" }, storeSink: built.storeSink },
      }).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({
        code: "E_USAGE",
        details: { field: "plane.storeSink", reason: EVIDENCE_STORE_MISMATCH_REASON, store: runStore.root, evidence_store: other.root },
      });
      expect((err as Error).message).toContain(`the run is recorded in store ${runStore.root} but the plane node records its store evidence in store ${other.root}`);
      expect((err as Error).message).toContain(LANE_EVIDENCE_EDGE_TYPE);
      expect(opened).toBe(1);
      // nothing ran: no trace, no evidence anywhere, nothing recorded or pinned in either store
      expect(existsSync(join(dir, "traces"))).toBe(false);
      expect(existsSync(join(dir, "evidence.jsonl"))).toBe(false);
      expect(runStore.listRoots()).toEqual([]);
      expect([...other.list()]).toEqual([]);
    } finally {
      await built.node.close();
    }
  });

  it("a sink on the run's store runs and links the trace to the evidence", async () => {
    const { dir, pair, snap, cfg } = await example();
    const runStore = open(join(dir, "run-store"));
    const clock = fixedClock(T0);
    const built = buildNodeFromConfig(cfg, { clock, ids: sequentialIds(clock), localWeak: { key: Buffer.alloc(32, 1), host: "h" }, store: () => runStore });
    try {
      const r = await runCairnWorkflowWithPlane({
        snapshot: snap, payload: fromPlain({ text: "hello" }) as PyObject, dataRoot: join(dir, "data"), baseDir: dir, store: runStore,
        plane: { node: built.node, clock, authority: { privateKey: pair.privateKeyPem, keyId: "wf", subject: "wf-runtime", audience: "cairn-wf" }, storeSink: built.storeSink },
      });
      expect(r.status).toBe("SUCCESS");
      const down = runStore.lineage(r.recorded!.trace, { direction: "down", depth: 1 });
      const edge = down.edges.find((e) => e.type === LANE_EVIDENCE_EDGE_TYPE);
      expect(edge?.to).toHaveLength(4);
    } finally {
      await built.node.close();
    }
  });
});

describe("cairn wf run --plane-config with store evidence elsewhere (built cli)", () => {
  /** The example in a fresh folder, keys made by the CLI, `evidence.store` set to `store`. */
  function cliExample(store: string): string {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first`);
    const dir = temps.make();
    for (const f of ["shout.yaml", "payload.json"]) copyFileSync(join(EXAMPLE, f), join(dir, f));
    writeProcessNodeYaml(dir, { ...WF_NODE, evidence: `{ jsonl: evidence.jsonl, store: ${JSON.stringify(store)} }` });
    expect(cairn(["plane", "keygen", "--out", "keys", "--id", "wf"], { cwd: dir }).status).toBe(0);
    expect(cairn(["wf", "compile", "shout.yaml", "--out", "s.json"], { cwd: dir }).status).toBe(0);
    return dir;
  }
  /** The evidence records the run's trace links to (`cairn.workflow.lane-evidence` edges) in store `S`. */
  function linkedEvidence(dir: string, out: string): number | undefined {
    const { traceId } = JSON.parse(out) as { traceId: string };
    const s = openStore({ dir: join(dir, "S"), readOnly: true });
    try {
      const trace = s.listRoots().find((x) => x.name.startsWith("cairn-wf:") && x.name.includes(traceId) && !x.name.endsWith(":started"));
      expect(trace).toBeDefined();
      return s.lineage(trace!.digest, { direction: "down", depth: 1 }).edges.find((x) => x.type === LANE_EVIDENCE_EDGE_TYPE)?.to.length;
    } finally {
      s.close();
    }
  }
  const run = (dir: string) =>
    cairn(["--store", join(dir, "S"), "--json", "wf", "run", "--snapshot", "s.json", "--payload", "payload.json", "--plane-config", "node.yaml", "--plane-key", "keys/wf.key", "--plane-subject", "wf-runtime", "--no-render", "--workspace", "."], { cwd: dir });

  it("another store: E_USAGE (exit 2) naming both, before anything runs", () => {
    const dir = cliExample("OTHER");
    const r = run(dir);
    expect(r.status).toBe(2);
    const e = (JSON.parse(r.err) as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
    expect(e.code).toBe("E_USAGE");
    expect(e.details).toMatchObject({ reason: EVIDENCE_STORE_MISMATCH_REASON, store: join(dir, "S"), evidence_store: join(dir, "OTHER") });
    expect(e.message).toContain(join(dir, "S"));
    expect(e.message).toContain(join(dir, "OTHER"));
    expect(r.out).toBe("");
    expect(existsSync(join(dir, "traces"))).toBe(false);
    expect(existsSync(join(dir, "evidence.jsonl"))).toBe(false);
    expect(existsSync(join(dir, "OTHER"))).toBe(false); // refused before the other store is opened (created)
    expect(existsSync(join(dir, "S"))).toBe(false); // and before the run's own
  });

  it("the run's store spelled differently is the same store: the run links its evidence", () => {
    const dir = cliExample("./S/.");
    const r = run(dir);
    expect(r.status, r.err).toBe(0);
    expect(linkedEvidence(dir, r.out)).toBe(4);
  });

  it("a symlink to the run's store is the same store: the run uses its own handle (no second writer)", () => {
    const dir = cliExample("L");
    mkdirSync(join(dir, "S"));
    symlinkSync(join(dir, "S"), join(dir, "L"));
    const r = run(dir);
    expect(r.status, r.err).toBe(0);
    expect(linkedEvidence(dir, r.out)).toBe(4);
  });
});
