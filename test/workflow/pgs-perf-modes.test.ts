/**
 * The run-loop optimisations of issue 4 §7.1 keep the runtime's outputs: the explicit
 * `effectDurability: "no-fsync"` mode writes the same bytes as the default, the memoised
 * policy expansion and relevant-file list follow the data root, and the append-only log's
 * line counter (taken from the bytes, not the decoded lines) agrees with the universal-newline
 * rule. No speed is asserted here.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { APPENDONLY_RUNTIME, createEffectContext } from "../../src/workflow/effects/index.js";
import { loadSnapshot, readPayloadFile, runPgsWorkflow } from "../../src/workflow/pgs/index.js";
import type { PyDict, PyValue } from "../../src/workflow/py/index.js";
import { payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();

/** Every file under `dir` (relative path → bytes as text). */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, "utf8");
    }
  };
  walk(dir);
  return out;
}

describe("effectDurability", () => {
  it('"no-fsync" writes the same traces, summaries and data-root files as the default', () => {
    const a = box();
    const b = box();
    const runs: Array<[string, string]> = [
      [WF.govern, payload("agent_governance/01_valid_standard_action.json")],
      [WF.govern, payload("agent_governance/01_valid_standard_action.json")],
      [WF.govern, payload("agent_governance/06_parameter_violation.json")],
      [WF.collatz, payload("collatz_conjecture/01_happy_path.json")],
      [WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json")],
    ];
    for (const [wf, p] of runs) {
      const ra = a.run(wf, p);
      const rb = b.run(wf, p, { effectDurability: "no-fsync" });
      expect(rb.traceId).toBe(ra.traceId);
      expect(rb.digests).toEqual(ra.digests);
    }
    expect(files(join(b.workspace, "traces"))).toEqual(files(join(a.workspace, "traces")));
    expect(files(b.dataRoot)).toEqual(files(a.dataRoot));
  });

  it("refuses an unknown mode before anything runs", () => {
    const a = box();
    let err: unknown;
    try {
      a.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { effectDurability: "none" as never });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.USAGE);
    expect(() => readdirSync(join(a.workspace, "traces"))).toThrow();
  });
});

describe("memoised per-run preparation", () => {
  it("one loaded snapshot serves several data roots, each run writing under its own", () => {
    const a = box();
    const pkg = loadSnapshot(a.workspace, "ai_governance");
    const p = readPayloadFile(payload("agent_governance/01_valid_standard_action.json"));
    const roots = [0, 1, 2].map((i) => {
      const r = join(a.root, `data-${i}`);
      mkdirSync(join(r, "ai_governance/ai_licensing"), { recursive: true });
      writeFileSync(join(r, "ai_governance/ai_licensing/license_facts.json"), readFileSync(join(a.dataRoot, "ai_governance/ai_licensing/license_facts.json")));
      return r;
    });
    const results = roots.map((dataRoot) => runPgsWorkflow({ workspace: a.workspace, workflow: WF.govern, payload: p, dataRoot, snapshot: pkg }));
    const reference = a.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe("SUCCESS");
      expect(r.traceId).toBe(reference.traceId); // same prior state in every root
      expect(files(roots[i] as string)).toEqual(files(a.dataRoot));
    }
  });
});

describe("append-only line counter", () => {
  const LOG = "ai_governance/ai_licensing/audit_log.jsonl";
  const MD = new Map([["capability", new Map()]]);
  function append(root: string): PyDict {
    const ctx = createEffectContext({ dataRoot: root, traceId: "T" });
    return APPENDONLY_RUNTIME.execute(
      { op: "APPEND", payload: new Map<string, PyValue>([["record", 1n]]), config: new Map([["path", `${root}/${LOG}`]]), metadata: MD },
      ctx,
    ).result;
  }
  function withLog(text: string | Buffer): string {
    const root = dir("cairn-count-");
    mkdirSync(join(root, "ai_governance/ai_licensing"), { recursive: true });
    writeFileSync(join(root, LOG), text);
    return root;
  }

  it.each([
    ["", 0],
    ["\n", 1],
    ["\r", 1],
    ["\r\n", 1],
    ["a\nb\n", 2],
    ["a\r\nb\rc\n\n\r\n", 5],
    ["\r\r\n\n\r", 4],
    ['{"x": "é"}\r\n', 1],
  ])("%j holds %i lines (Python universal newlines)", (text, lines) => {
    const r = append(withLog(text));
    expect(r.get("sequence_number")).toBe(BigInt(lines + 1));
    expect(r.get("record_id")).toBe(`2025-01-01T00:00:00.${String(lines + 1).padStart(6, "0")}_${String(lines).padStart(6, "0")}`);
  });

  it("still refuses a log that is not UTF-8, with the decoder's message", () => {
    const root = withLog(Buffer.from([0x7b, 0xff, 0x7d, 0x0a]));
    let err: unknown;
    try {
      append(root);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).message).toMatch(/decode \(UTF-8\)/);
  });

  it("READ_ALL still sees every line after the counter", () => {
    const root = withLog('{"record": 1}\r\n{"record": 2}\r');
    const ctx = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "reference" });
    const r = APPENDONLY_RUNTIME.execute({ op: "READ_ALL", payload: new Map(), config: new Map([["path", `${root}/${LOG}`]]), metadata: MD }, ctx).result;
    expect((r.get("entries") as PyDict[]).map((e) => e.get("record"))).toEqual([1n, 2n]);
  });
});

describe("captureState: prior/posterior state files", () => {
  it("reads regular files, reports absent ones, and reports anything else as unusable without opening it (a FIFO, a symlink to a device)", async () => {
    const { captureState } = await import("../../src/workflow/pgs/state.js");
    const { execFileSync } = await import("node:child_process");
    const { symlinkSync } = await import("node:fs");
    const root = dir("cairn-state-");
    writeFileSync(join(root, "a.json"), "{}\n");
    const [a, missing] = captureState(root, ["a.json", "missing.json"]);
    expect(a).toMatchObject({ path: "a.json", digest: "sha256:" + (await import("node:crypto")).createHash("sha256").update("{}\n").digest("hex") });
    expect(missing).toEqual({ path: "missing.json", digest: null, bytes: null });
    // A FIFO and a symlink to a character device (both caught by the lstat, before any open;
    // reported as unusable, not thrown: test/workflow/state-capture-unusable.test.ts).
    execFileSync("mkfifo", [join(root, "fifo.json")]);
    symlinkSync("/dev/zero", join(root, "dev.json"));
    expect(captureState(root, ["fifo.json", "dev.json"])).toEqual([
      { path: "fifo.json", digest: null, bytes: null, unusable: { kind: "special" } },
      { path: "dev.json", digest: null, bytes: null, unusable: { kind: "symlink" } },
    ]);
  });

  it("follows a symlinked directory that is re-pointed between captures (the remembered real path is only a hint)", async () => {
    const { captureState } = await import("../../src/workflow/pgs/state.js");
    const { createHash } = await import("node:crypto");
    const { mkdirSync, symlinkSync, unlinkSync } = await import("node:fs");
    const sha = (s: string): string => "sha256:" + createHash("sha256").update(s).digest("hex");
    const root = dir("cairn-state-link-");
    mkdirSync(join(root, "v1"));
    mkdirSync(join(root, "v2"));
    writeFileSync(join(root, "v1", "s.json"), '{"v":1}\n');
    writeFileSync(join(root, "v2", "s.json"), '{"v":22}\n');
    symlinkSync("v1", join(root, "cur"));
    expect(captureState(root, ["cur/s.json"])[0]?.digest).toBe(sha('{"v":1}\n'));
    expect(captureState(root, ["cur/s.json"])[0]?.digest).toBe(sha('{"v":1}\n')); // served from the cache
    unlinkSync(join(root, "cur"));
    symlinkSync("v2", join(root, "cur"));
    const [now] = captureState(root, ["cur/s.json"]);
    expect(now?.digest).toBe(sha('{"v":22}\n'));
    expect(now?.bytes?.toString()).toBe('{"v":22}\n');
    // Back to the first target, whose cache entry the probe above may have dropped: still right.
    unlinkSync(join(root, "cur"));
    symlinkSync("v1", join(root, "cur"));
    expect(captureState(root, ["cur/s.json"])[0]?.bytes?.toString()).toBe('{"v":1}\n');
    expect(captureState(root, ["v2/s.json"])[0]?.digest).toBe(sha('{"v":22}\n'));
  });
});
