/**
 * Unusable data-root files in the prior/posterior state (src/workflow/pgs/state.ts): a path
 * the RB's policies name that is a directory, a device/FIFO, a symlink, too large or unreadable
 * no longer aborts the run before it starts (the reference builds a CS only when a step calls
 * it); it is recorded distinctly from an absent file, ordinary states keep their digests, and
 * `wf replay` recreates a directory and refuses anything else (audit: /tmp/aud-pgs step 2).
 */
import { execFileSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalDigest } from "../../src/core/canonical.js";
import { sha256 } from "../../src/core/digest.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { MAX_STATE_FILE_BYTES } from "../../src/workflow/pgs/constants.js";
import { replayPgsRun, UNREPLAYABLE_STATE_REASON } from "../../src/workflow/pgs/replay.js";
import { captureState, stateDigest, stateManifest, type StateFile } from "../../src/workflow/pgs/state.js";
import { baseDecl, prepared, run, tempDir } from "./cairn-fixture.js";
import { cairnErrorOf, payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
});
function box(seed = true): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
function storeOf(dir: string): Store {
  const s = openStore({ dir: join(dir, "store"), create: true });
  stores.push(s);
  return s;
}

const ACTIONS = "ai_governance/agent_governance/governance_actions.json";
const AUDIT = "ai_governance/agent_governance/governance_audit.jsonl";

describe("captureState: unusable files", () => {
  it("reports a directory, a FIFO, a file too large and a path below a regular file as unusable, without throwing", () => {
    const root = tempDir("cairn-state-unusable-");
    mkdirSync(join(root, "dir.json"));
    execFileSync("mkfifo", [join(root, "fifo.json")]);
    // A sparse file one byte above the limit: never read.
    const fd = openSync(join(root, "big.jsonl"), "w");
    ftruncateSync(fd, MAX_STATE_FILE_BYTES + 1);
    closeSync(fd);
    writeFileSync(join(root, "plain"), "x");
    for (const withBytes of [true, false]) {
      expect(captureState(root, ["dir.json", "fifo.json", "big.jsonl", "plain/below.json", "missing.json"], withBytes)).toEqual([
        { path: "dir.json", digest: null, bytes: null, unusable: { kind: "directory" } },
        { path: "fifo.json", digest: null, bytes: null, unusable: { kind: "special" } },
        { path: "big.jsonl", digest: null, bytes: null, unusable: { kind: "too_large", size: MAX_STATE_FILE_BYTES + 1 } },
        { path: "plain/below.json", digest: null, bytes: null, unusable: { kind: "unreadable", errno: "ENOTDIR" } },
        { path: "missing.json", digest: null, bytes: null },
      ]);
    }
  });

  it("keeps the digest of ordinary states (regular and absent files) exactly as before, and tells unusable from absent", () => {
    const ordinary: StateFile[] = [
      { path: "a/reg.jsonl", digest: sha256(Buffer.from("{}\n")), bytes: null },
      { path: "b.json", digest: null, bytes: null },
    ];
    // The digests the code before unusable files existed gave for these states (pinned).
    expect(stateDigest(ordinary)).toBe("sha256:e34b16c86f608a42e21e55549483dc73056ed64bbce25fcffb663db0b4baeedd");
    expect(stateDigest([])).toBe("sha256:ae515319228935cea15c30f1542dbbe9283412d4f464e94123bf67652279f4e2");
    expect(stateManifest(ordinary).files).toEqual([{ path: "a/reg.jsonl", digest: ordinary[0]?.digest }, { path: "b.json", digest: null }]);
    expect(stateDigest(ordinary)).toBe(canonicalDigest({ kind: "cairn.pgs.state", version: 1, files: [{ path: "a/reg.jsonl", digest: ordinary[0]?.digest }, { path: "b.json", digest: null }] }));
    // The same path as a directory, a FIFO or a symlink: three more states, none equal to "absent".
    const kinds = ["directory", "special", "symlink"] as const;
    const digests = kinds.map((kind) => stateDigest([ordinary[0] as StateFile, { path: "b.json", digest: null, bytes: null, unusable: { kind } }]));
    expect(new Set([stateDigest(ordinary), ...digests]).size).toBe(4);
    // The memo does not confuse them either (asked again, in another order).
    expect(stateDigest(ordinary)).toBe("sha256:e34b16c86f608a42e21e55549483dc73056ed64bbce25fcffb663db0b4baeedd");
  });
});

describe("runs with an unusable file named by the RB", () => {
  it("GOVERN denial path with governance_actions.json a directory: SUCCESS, as in the reference (audit repro step 2)", () => {
    const b = box();
    mkdirSync(join(b.dataRoot, ACTIONS), { recursive: true });
    for (const store of [undefined, storeOf(b.root)]) {
      const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"), store === undefined ? {} : { store });
      expect([r.status, r.exitCode, r.error]).toEqual(["SUCCESS", 0, null]);
    }
  });

  it("a step that does use the directory fails in the CS runtime, inside the run (registry: BACKEND_ERROR in the trace)", () => {
    const b = box();
    mkdirSync(join(b.dataRoot, ACTIONS), { recursive: true });
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    expect([r.status, r.exitCode, r.error]).toEqual(["BACKEND_ERROR", 1, null]);
    expect(r.effects.map((c) => c.status)).toContain("BACKEND_ERROR");
    expect(readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8")).toContain('"event_type":"WF_COMPLETE"');
  });

  it("a directory is another prior state than an absent file: another trace id", () => {
    const b = box();
    const absent = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    rmSync(join(b.dataRoot, "ai_governance/agent_governance"), { recursive: true, force: true });
    mkdirSync(join(b.dataRoot, ACTIONS), { recursive: true });
    const dir = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    expect(dir.status).toBe("SUCCESS");
    expect(dir.digests.priorState).not.toBe(absent.digests.priorState);
    expect(dir.traceId).not.toBe(absent.traceId);
  });
});

describe("wf replay of a run whose prior state holds an unusable file", () => {
  it("PGS: a directory is recreated, and the run replays identically", () => {
    const b = box();
    const store = storeOf(b.root);
    mkdirSync(join(b.dataRoot, ACTIONS), { recursive: true });
    const ok = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"), { store });
    const err = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store });
    expect([ok.status, err.status]).toEqual(["SUCCESS", "BACKEND_ERROR"]);
    for (const r of [ok, err]) {
      expect(replayPgsRun(store, join(r.traceDirAbs, `${r.traceId}.jsonl`))).toMatchObject({ identical: true, status: r.status, replayedTrace: r.digests.trace });
    }
  });

  it("PGS: a symlinked file cannot be recreated: refused with E_INVALID_INPUT naming the file, nothing replayed", () => {
    const b = box();
    const store = storeOf(b.root);
    mkdirSync(join(b.dataRoot, "ai_governance/agent_governance"), { recursive: true });
    writeFileSync(join(b.root, "outside.jsonl"), "");
    symlinkSync(join(b.root, "outside.jsonl"), join(b.dataRoot, AUDIT));
    const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"), { store });
    expect(r.recorded).not.toBeNull();
    const e = cairnErrorOf(() => replayPgsRun(store, r.traceId));
    expect(e.code).toBe(ErrorCode.INVALID_INPUT);
    expect(e.message).toContain(`"${AUDIT}"`);
    expect(e.message).toContain("(symlink)");
    expect(e.details).toMatchObject({ reason: UNREPLAYABLE_STATE_REASON, traceId: r.traceId, path: AUDIT, unusable: { kind: "symlink" } });
  });

  it("Cairn: a directory is recreated (identical), a FIFO is refused with E_INVALID_INPUT naming the file", async () => {
    const decl = baseDecl({
      entry: "probe",
      stores: { reg: { kind: "registry", path: "s/reg.jsonl" }, log: { kind: "appendonly", path: "s/log.jsonl" } },
      nodes: { probe: { steps: [{ id: "s", cs: "reg", op: "RESOLVE", inputs: { key_or_address: { const: "k" } } }], routes: { default: { exit: "ANY", reason: "any" } } } },
    });
    const { snap, dir } = await prepared(decl);
    const store = storeOf(dir);
    mkdirSync(join(dir, "data/s/log.jsonl"), { recursive: true });
    const unused = run(snap, { n: 1 }, dir, { store });
    rmSync(join(dir, "data/s"), { recursive: true });
    mkdirSync(join(dir, "data/s/reg.jsonl"), { recursive: true });
    const used = run(snap, { n: 2 }, dir, { store });
    expect([unused.status, used.status]).toEqual(["NOT_FOUND", "BACKEND_ERROR"]);
    for (const r of [unused, used]) {
      expect(replayCairnRun(store, join(r.traceDirAbs, `${r.traceId}.jsonl`))).toMatchObject({ identical: true, status: r.status, replayedTrace: r.digests.trace });
    }
    rmSync(join(dir, "data/s"), { recursive: true });
    mkdirSync(join(dir, "data/s"));
    execFileSync("mkfifo", [join(dir, "data/s/log.jsonl")]);
    const fifo = run(snap, { n: 3 }, dir, { store });
    expect(fifo.status).toBe("NOT_FOUND");
    const e = cairnErrorOf(() => replayCairnRun(store, fifo.traceId));
    expect(e).toBeInstanceOf(CairnError);
    expect(e.code).toBe(ErrorCode.INVALID_INPUT);
    expect(e.message).toContain('"s/log.jsonl"');
    expect(e.details).toMatchObject({ reason: UNREPLAYABLE_STATE_REASON, path: "s/log.jsonl", unusable: { kind: "special" } });
  });
});
