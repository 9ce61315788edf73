/**
 * `cairn wf run --snapshot S --plane-config node.yaml --plane-key K --plane-subject S` end to end
 * (the built CLI): a CT bound to the process lane runs through the plane node built from the
 * config, the trace names the evidence of the JSONL sink and the store, the recorded run links
 * to its evidence; without the plane flags the run is refused; a policy denial is an ERROR that
 * `cairn examine` classifies as an admission error.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { openStore } from "../../src/store/store.js";
import { LANE_EVIDENCE_EDGE_TYPE } from "../../src/workflow/cairn/lane-step.js";
import { cairn } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function box(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-wflane-"));
  dirs.push(d);
  return d;
}

const SHOUT = `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const i=JSON.parse(s);process.stdout.write(JSON.stringify({digest:"up:"+String(i.value).toUpperCase()}))})`;

const DECL = {
  cairn: "cairn.workflow/v1",
  namespace: "lanes",
  code: "WF_SHOUT_V0",
  entry: "shout",
  nodes: {
    shout: {
      steps: [{
        id: "up", ct: "hash", inputs: { value: "$.payload.text" },
        lane: {
          kind: "process", operation: "run",
          payload: { object: { command: { const: process.execPath }, argv: { const: ["-e", SHOUT] }, stdin: { json: "$.inputs" }, timeout_ms: { const: 20000 } } },
          acceptable_attestation: { classes: ["local-process-weak"] },
          result_json: "stdout",
        },
      }],
      routes: { SUCCESS: { exit: "DONE", reason: "shouted" }, VIOLATION: { exit: "BAD", reason: "x" }, BACKEND_ERROR: { exit: "BROKEN", reason: "process failed" } },
    },
  },
};

const NODE_YAML = `node_id: wf-node
authority:
  audience: cairn-wf
  trusted_keys: [{ id: wf, public_key_file: keys/wf.pub }]
  policy: [{ subject: wf-runtime, lanes: [process], operations: [run] }]
lanes: [process]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: { jsonl: evidence.jsonl, store: true }
`;

interface Ev {
  event_type: string;
  detail: Record<string, unknown>;
}

function setup(): string {
  const cwd = box();
  expect(cairn(["plane", "keygen", "--out", "keys", "--id", "wf"], { cwd }).status).toBe(0);
  writeFileSync(join(cwd, "node.yaml"), NODE_YAML);
  writeFileSync(join(cwd, "wf.yaml"), stringify(DECL));
  writeFileSync(join(cwd, "p.json"), JSON.stringify({ text: "hello" }));
  const c = cairn(["wf", "compile", "wf.yaml", "--out", "snap.json"], { cwd });
  expect(c.status, c.err).toBe(0);
  return cwd;
}

const PLANE = ["--plane-config", "node.yaml", "--plane-key", "keys/wf.key"];

describe("cairn wf run with lane-bound steps", () => {
  it("runs the process-bound CT through the node; trace ↔ JSONL evidence ↔ store", () => {
    const cwd = setup();
    const r = cairn(["--store", "st", "wf", "run", "--snapshot", "snap.json", "--payload", "p.json", ...PLANE, "--plane-subject", "wf-runtime", "--json", "--no-render"], { cwd });
    expect(r.status, r.err).toBe(0);
    const doc = JSON.parse(r.out) as { status: string; traceId: string; traceDir: string; surface: Record<string, unknown> };
    expect(doc.status).toBe("SUCCESS");
    expect(doc.surface).toEqual({ digest: "up:HELLO" });
    const events = readFileSync(join(cwd, doc.traceDir, `${doc.traceId}.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Ev);
    const lane = events.find((e) => e.event_type === "CC_STEP")!.detail.lane as { evidence: string[]; evidence_digests: string[]; status: string };
    expect(lane.status).toBe("succeeded");
    const jsonl = readFileSync(join(cwd, "evidence.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { evidence_id: string; evidence_type: string });
    expect(lane.evidence).toEqual(jsonl.map((e) => e.evidence_id));
    expect(jsonl.map((e) => e.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
    expect(lane.evidence_digests).toHaveLength(4);
    const store = openStore({ dir: join(cwd, "st"), readOnly: true });
    try {
      for (const d of lane.evidence_digests) expect(store.has(d as never)).toBe(true);
      const trace = store.findRoot(`cairn-wf:${doc.traceId}`);
      expect(trace).toBeDefined();
      const down = store.lineage(trace!.digest, { direction: "down", depth: 1 });
      expect(down.edges.find((e) => e.type === LANE_EVIDENCE_EDGE_TYPE)?.to.slice().sort()).toEqual([...lane.evidence_digests].sort());
    } finally {
      store.close();
    }
    expect(cairn(["examine", doc.traceDir, "--json"], { cwd }).status).toBe(0);
  });

  it("refuses a lane-bound snapshot without a plane node, and plane flags without --snapshot (usage, exit 2)", () => {
    const cwd = setup();
    const r = cairn(["wf", "run", "--snapshot", "snap.json", "--payload", "p.json", "--no-render"], { cwd });
    expect(r.status).toBe(2);
    expect(r.err).toContain("lane-bound steps (shout/up)");
    const half = cairn(["wf", "run", "--snapshot", "snap.json", "--plane-config", "node.yaml", "--no-render"], { cwd });
    expect(half.status).toBe(2);
    expect(half.err).toContain("--plane-key is required");
    expect(cairn(["wf", "run", "--wf", "a::WF_A_V0", "--workspace", ".", ...PLANE, "--plane-subject", "x"], { cwd }).status).toBe(2);
    // a public key given as the signing key is bad input, found before anything runs
    const pub = cairn(["wf", "run", "--snapshot", "snap.json", "--plane-config", "node.yaml", "--plane-key", "keys/wf.pub", "--plane-subject", "wf-runtime", "--no-render"], { cwd });
    expect(pub.status).toBe(1);
    expect(pub.err).toContain("--plane-key keys/wf.pub");
    expect(existsSync(join(cwd, "traces"))).toBe(false);
  });

  it("a subject the policy does not allow: ERROR (E_PLANE_REJECTED), examine says admission_error", () => {
    const cwd = setup();
    const r = cairn(["wf", "run", "--snapshot", "snap.json", "--payload", "p.json", ...PLANE, "--plane-subject", "mallory", "--json", "--no-render"], { cwd });
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.out) as { status: string; traceDir: string };
    expect(doc.status).toBe("ERROR");
    expect(r.err).toContain("E_PLANE_REJECTED");
    expect(r.err).toContain("policy_denied");
    const jsonl = readFileSync(join(cwd, "evidence.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { evidence_id: string; evidence_type: string });
    expect(jsonl.map((e) => e.evidence_type)).toEqual(["admission.rejected"]);
    expect(r.err).toContain(jsonl[0]!.evidence_id);
    const ex = cairn(["examine", doc.traceDir, "--json", "--snapshot", "snap.json"], { cwd });
    expect(ex.status).toBe(1);
    expect(JSON.parse(ex.out)).toMatchObject({ outcome: { class: "admission_error" } });
  });
});
