/**
 * UAT6 F2 through the BUILT cli (`CAIRN_TEST_CLI` for a private build): a `plane exec` (and a
 * lane-bound `wf run --plane-config`) SIGKILLed after `execution.started` keeps its store
 * evidence through `cairn gc --grace 0`: the execution's open root `plane:open:<digest of its
 * latest record>` is pinned from the first record. Before, nothing pinned a record before
 * `execution.completed`, and gc swept the request and every record of the killed execution.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import { PLANE_OPEN_ROOT_PREFIX } from "../../src/plane/evidence/store-sink.js";
import { openStore } from "../../src/store/store.js";
import { cairn, CLI, reapAfterEach, sha256Hex, spawnCairn, TempDirs } from "../cli/helpers.js";
import { WF_NODE, writeProcessNodeYaml } from "./process-node-yaml.js";

/** Safety net for waits (not a speed assertion). */
const WAIT_LIMIT_MS = 30_000;

const temps = new TempDirs();
const { children, pids } = reapAfterEach(temps);

async function until(cond: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Line {
  evidence_type: string;
  payload: { request?: unknown };
}
/** The JSONL evidence file's lines (raw) and records. */
function evidence(file: string): { raw: string[]; recs: Line[] } {
  const raw = existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : [];
  return { raw, recs: raw.map((l) => JSON.parse(l) as Line) };
}

/** A shell command that records its pid, says it started, and waits for `release` (at most ~60 s). */
const WAITER = "echo $$ > lane.pid; touch effect; i=0; while [ ! -e release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done";

/** SIGKILLs the cairn child, then lets the orphaned lane process end. */
async function kill(c: ReturnType<typeof spawnCairn>, dir: string): Promise<void> {
  c.child.kill("SIGKILL");
  expect(await c.exited).toEqual({ code: null, signal: "SIGKILL" });
  if (existsSync(join(dir, "lane.pid"))) pids.push(Number(readFileSync(join(dir, "lane.pid"), "utf8").trim()));
  writeFileSync(join(dir, "release"), "");
}

/** After a real `cairn gc --grace 0`: the open roots, and the started record and request still readable. */
function checkKept(store: string, dir: string, jsonl: string): void {
  const gc = cairn(["--store", store, "gc", "--grace", "0"], { cwd: dir });
  expect(gc.status, gc.err).toBe(0);
  const { raw, recs } = evidence(jsonl);
  const startedAt = recs.findIndex((r) => r.evidence_type === "execution.started");
  const accepted = recs.find((r) => r.evidence_type === "admission.accepted");
  expect(startedAt).toBeGreaterThan(0);
  expect(recs.some((r) => r.evidence_type === "execution.completed")).toBe(false);
  const started = sha256Hex(raw[startedAt] as string); // the store's artifact: the same canonical bytes
  const req = sha256Hex(canonicalize(accepted!.payload.request));
  const s = openStore({ dir: store, readOnly: true });
  try {
    expect(s.get(started as `sha256:${string}`).toString("utf8")).toBe(raw[startedAt]);
    expect(s.get(req as `sha256:${string}`).length).toBeGreaterThan(0);
    // every record the killed execution wrote is still there
    for (const l of raw) expect(s.has(sha256Hex(l) as `sha256:${string}`)).toBe(true);
  } finally {
    s.close();
  }
  const roots = cairn(["--store", store, "store", "roots"], { cwd: dir });
  expect(roots.out).toContain(`${PLANE_OPEN_ROOT_PREFIX}${started}  run  ${started}\n`);
}

function keys(dir: string, id: string): void {
  expect(cairn(["plane", "keygen", "--out", "keys", "--id", id], { cwd: dir }).status).toBe(0);
}

describe("a killed plane exec keeps its store evidence through gc", () => {
  it("SIGKILL after execution.started: the open root survives, gc --grace 0 keeps the request and the records", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first`);
    const dir = temps.make();
    keys(dir, "ops");
    writeProcessNodeYaml(dir, { evidence: "{ jsonl: evidence.jsonl, store: true }" });
    const req = { contract_version: 1, lane_id: "process", operation: "run", idempotency_key: "k2", payload: { command: "/bin/sh", argv: ["-c", WAITER], timeout_ms: 60_000 }, acceptable_attestation: { classes: ["local-process-weak"] } };
    writeFileSync(join(dir, "req.json"), JSON.stringify(req));
    const signed = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "aud", "--ttl", "300", "--request", "req.json"], { cwd: dir });
    expect(signed.status).toBe(0);
    writeFileSync(join(dir, "signed.json"), signed.out);
    const store = join(dir, "store");
    const jsonl = join(dir, "evidence.jsonl");
    const c = spawnCairn(["--store", store, "plane", "exec", "--config", "node.yaml", "--request", "signed.json"], { cwd: dir });
    children.push(c.child);
    await until(() => evidence(jsonl).recs.some((r) => r.evidence_type === "execution.started") && existsSync(join(dir, "effect")), () => `execution.started; stderr: ${c.stderr()}`);
    await kill(c, dir);
    checkKept(store, dir, jsonl);
  });

  it("a completed exec leaves no open root", () => {
    const dir = temps.make();
    keys(dir, "ops");
    writeProcessNodeYaml(dir, { evidence: "{ store: true }" });
    writeFileSync(join(dir, "req.json"), JSON.stringify({ contract_version: 1, lane_id: "process", operation: "run", idempotency_key: "k1", payload: { command: "/bin/sh", argv: ["-c", "true"] }, acceptable_attestation: { classes: ["local-process-weak"] } }));
    const signed = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "aud", "--ttl", "300", "--request", "req.json"], { cwd: dir });
    writeFileSync(join(dir, "signed.json"), signed.out);
    const store = join(dir, "store");
    expect(cairn(["--store", store, "plane", "exec", "--config", "node.yaml", "--request", "signed.json"], { cwd: dir }).status).toBe(0);
    const roots = cairn(["--store", store, "store", "roots"], { cwd: dir }).out.trim().split("\n").map((l) => l.split("  ")[0] as string);
    expect(roots).toHaveLength(2); // the completed record and the output: plane:<digest>
    for (const r of roots) expect(r.startsWith("plane:sha256:")).toBe(true);
  });
});

describe("a killed lane-bound wf run keeps its lane evidence through gc", () => {
  it("SIGKILL while the lane runs: the lane's open root survives gc --grace 0", async () => {
    const dir = temps.make();
    keys(dir, "wf");
    writeProcessNodeYaml(dir, { ...WF_NODE, evidence: "{ jsonl: evidence.jsonl, store: true }" });
    writeFileSync(
      join(dir, "wait.yaml"),
      `cairn: cairn.workflow/v1
namespace: lanes
code: WF_WAIT_V0
entry: w
nodes:
  w:
    steps:
      - id: up
        ct: hash
        inputs: { value: $.payload.text }
        lane:
          kind: process
          operation: run
          payload:
            object:
              command: { const: /bin/sh }
              argv: { const: ["-c", ${JSON.stringify(`${WAITER}; echo '{"digest":"X"}'`)}] }
              timeout_ms: { const: 60000 }
          acceptable_attestation: { classes: [local-process-weak] }
          result_json: stdout
    routes:
      SUCCESS: { exit: DONE, reason: done }
      VIOLATION: { exit: BAD, reason: bad }
      BACKEND_ERROR: { exit: BROKEN, reason: broken }
`,
    );
    expect(cairn(["wf", "compile", "wait.yaml", "--out", "s.json"], { cwd: dir }).status).toBe(0);
    writeFileSync(join(dir, "payload.json"), `{"text":"hi"}`);
    const store = join(dir, "store");
    const jsonl = join(dir, "evidence.jsonl");
    const args = ["--store", store, "wf", "run", "--snapshot", "s.json", "--payload", "payload.json", "--plane-config", "node.yaml", "--plane-key", "keys/wf.key", "--plane-subject", "wf-runtime", "--no-render", "--workspace", "."];
    const c = spawnCairn(args, { cwd: dir });
    children.push(c.child);
    await until(() => evidence(jsonl).recs.some((r) => r.evidence_type === "execution.started") && existsSync(join(dir, "effect")), () => `execution.started; stderr: ${c.stderr()}`);
    await kill(c, dir);
    checkKept(store, dir, jsonl);
  });
});
