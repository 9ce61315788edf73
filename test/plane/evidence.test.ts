import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import { openStore, type Store } from "../../src/store/store.js";
import { makeEvidence, parseEvidence } from "../../src/plane/contracts/execution.js";
import { JsonlEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { EVIDENCE_MEDIA_TYPE, MAX_OPEN_CHAINS, OUTPUT_MEDIA_TYPE, REQUEST_MEDIA_TYPE, StoreEvidenceSink } from "../../src/plane/evidence/store-sink.js";
import { fingerprint, redactOutput } from "../../src/plane/evidence/redact.js";
import { EchoLane, T0, harness, request, type Harness } from "./node-helpers.js";

const dirs: string[] = [];
const stores: Store[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-plane-ev-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function withSinks(h: Harness, dir: string): { jsonl: string; store: Store; storeSink: StoreEvidenceSink } {
  const jsonl = join(dir, "ev", "evidence.jsonl");
  const store = openStore({ dir: join(dir, "store") });
  stores.push(store);
  const storeSink = new StoreEvidenceSink(store);
  h.node.registerEvidenceSink(new JsonlEvidenceSink(jsonl)).registerEvidenceSink(storeSink);
  return { jsonl, store, storeSink };
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...allFiles(p));
    else out.push(p);
  }
  return out;
}

describe("JSONL sink", () => {
  it("appends one canonical JSON record per line, identical to what the other sinks saw", async () => {
    const h = harness({ complete: false });
    const { jsonl } = withSinks(h, tmp());
    h.node.completeRegistration();
    await h.node.execute(request(h));
    await h.node.execute(request(h, { lane_id: "ghost", request_id: "req-2" }));
    const lines = readFileSync(jsonl, "utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toEqual(h.sink.records.map((e) => canonicalize(e)));
    expect(lines.map((l) => parseEvidence(l).evidence_type)).toEqual([
      "admission.accepted",
      "target.selected",
      "execution.started",
      "execution.completed",
      "admission.rejected",
    ]);
  });
});

describe("store sink", () => {
  it("records evidence as artifacts chained from the input to the output, visible to lineage", async () => {
    const h = harness({ complete: false });
    const { store, storeSink } = withSinks(h, tmp());
    h.node.completeRegistration();
    await h.node.execute(request(h));
    const recs = storeSink.recorded;
    expect(recs.map((r) => r.evidence_id)).toEqual([`ev-${T0}-2`, `ev-${T0}-3`, `ev-${T0}-4`, `ev-${T0}-5`]);
    const input = recs[0]?.input as `sha256:${string}`;
    const output = recs[3]?.output as `sha256:${string}`;
    expect(store.stat(input).mediaType).toBe(REQUEST_MEDIA_TYPE);
    expect(store.stat(output).mediaType).toBe(OUTPUT_MEDIA_TYPE);
    for (const r of recs) expect(store.stat(r.evidence).mediaType).toBe(EVIDENCE_MEDIA_TYPE);
    // the stored evidence bytes are the canonical records
    expect(recs.map((r) => store.get(r.evidence).toString("utf8"))).toEqual(h.sink.records.map((e) => canonicalize(e)));
    // lineage upstream of the output reaches every evidence record and the input
    const up = store.lineage(output);
    expect(new Set(up.nodes.map((n) => n.digest))).toEqual(new Set([output, input, ...recs.map((r) => r.evidence)]));
    expect(up.edges.map((e) => [e.type, e.role])).toEqual([
      ["plane.evidence", "input"],
      ["plane.evidence", "previous"],
      ["plane.evidence", "previous"],
      ["plane.evidence", "previous"],
      ["plane.evidence", "output"],
    ]);
    // downstream of the input reaches the output
    expect(store.lineage(input, { direction: "down" }).nodes.map((n) => n.digest)).toContain(output);
    // the output projection holds the fingerprint of the real output
    // (the echo lane's protocol, "test", declares no raw facts)
    expect(JSON.parse(store.get(output).toString("utf8"))).toEqual(redactOutput({ echo: request(h).payload, exit_code: 0 }, "test"));
    // terminal evidence and output are pinned so gc keeps the chain
    expect(store.listRoots().map((r) => r.name).sort()).toEqual([`plane:${output}`, `plane:${recs[3]?.evidence}`].sort());
  });

  it("a rejection records the input and its admission.rejected evidence", async () => {
    const h = harness({ complete: false });
    const { store, storeSink } = withSinks(h, tmp());
    h.node.completeRegistration();
    await h.node.execute(request(h, { lane_id: "ghost" }));
    expect(storeSink.recorded).toHaveLength(1);
    const [r] = storeSink.recorded;
    expect(store.lineage(r?.evidence as `sha256:${string}`).nodes.map((n) => n.digest)).toEqual([r?.evidence, r?.input]);
  });
});

describe("store sink chain heads", () => {
  /** A minimal in-memory Store double (the Store interface's methods the sink uses). */
  function fakeStore(o: { failCommit?: () => boolean } = {}) {
    const edges: Array<{ from: string[]; to: string[]; role: string }> = [];
    let n = 0;
    const store = {
      putBytes: () => ({ digest: `sha256:${String(++n).padStart(64, "0")}` }),
      addEdge: (e: { from: string[]; to: string[]; role: string }) => void edges.push(e),
      pin: () => undefined,
      findRoot: () => undefined,
      unpin: () => undefined,
      transaction: <T>(fn: () => T): T => {
        const r = fn();
        if (o.failCommit?.() === true) throw new Error("commit failed");
        return r;
      },
    };
    return { store: store as unknown as Store, edges };
  }
  const ev = (type: string, ref: string, i: number) =>
    makeEvidence({
      contract_version: 1, evidence_id: `ev-${i}`, evidence_type: type, execution_ref: ref, request_id: "r", lane_id: "echo", policy_bundle_hash: null, target_id: null,
      target_verifier_id: null, attestation_class: null, authority_verifier_id: null, provenance_kind: "node_admitted", payload: {}, emitted_at: T0,
    });

  it("moves the chain head only after commit; an aborted record drops it; a terminal record clears it", () => {
    let fail = false;
    const { store, edges } = fakeStore({ failCommit: () => fail });
    const sink = new StoreEvidenceSink(store);
    sink.emit(ev("admission.accepted", "x1", 1));
    expect(sink.openChains).toBe(1);
    fail = true;
    expect(() => sink.emit(ev("execution.started", "x1", 2))).toThrow(/commit failed/);
    // the uncommitted record is not the chain head (and the old head is dropped: the chain broke)
    expect(sink.openChains).toBe(0);
    expect(sink.recorded).toHaveLength(1);
    fail = false;
    sink.emit(ev("execution.completed", "x1", 3));
    // no edge starts at the uncommitted record (the double has no rollback, so it did get written)
    const uncommitted = `sha256:${"2".padStart(64, "0")}`;
    expect(edges.some((e) => e.from.includes(uncommitted))).toBe(false);
    sink.emit(ev("admission.accepted", "x2", 4));
    sink.emit(ev("execution.completed", "x2", 5));
    expect(sink.openChains).toBe(0);
  });

  it("executions without a terminal record cannot grow the chain heads without bound", () => {
    const { store } = fakeStore();
    const sink = new StoreEvidenceSink(store);
    for (let i = 0; i < MAX_OPEN_CHAINS + 10; i++) sink.emit(ev("execution.started", `x${i}`, i));
    expect(sink.openChains).toBe(MAX_OPEN_CHAINS);
  });
});

describe("redaction", () => {
  const SECRET = "sk-live-S3CR3T-abcdef0123456789";
  /** A numeric secret (a PIN-like value) an inline-style lane returns at the top level of its output. */
  const PIN = 918273645501;

  it("a secret in payload, env and headers reaches no sink — not even when the lane echoes it back", async () => {
    const lane = new EchoLane("echo", (req, ctx) => ({
      status: "failed",
      output: { echoed: req.payload as never, stdout: `token=${SECRET}`, exit_code: 1, pin: PIN, [SECRET]: true },
      failure: { class: "semantic_runtime_failed", message: `failed with ${SECRET}` },
      metrics: { started_at: ctx.clock.now(), finished_at: ctx.clock.now(), timeout_ms: 1 },
    }));
    const h = harness({ complete: false, lane });
    const dir = tmp();
    const { jsonl, store } = withSinks(h, dir);
    h.node.completeRegistration();
    const payload = {
      command: "curl",
      argv: ["-H", `Authorization: Bearer ${SECRET}`],
      env: { API_TOKEN: SECRET },
      headers: { authorization: `Bearer ${SECRET}` },
      body: `{"password":"${SECRET}"}`,
    };
    const ok = await h.node.execute(request(h, { payload, metadata: { note: SECRET } }));
    expect(ok.status).toBe("failed"); // it ran, and its result (returned to the caller only) has the secret
    expect(JSON.stringify(ok)).toContain(SECRET);
    // rejected paths too: an invalid request (unknown key) and a policy-denied one
    await h.node.execute({ ...request(h, { payload, request_id: "req-2" }), [SECRET]: SECRET });
    await h.node.execute(request(h, { payload, request_id: "req-3", contract_version: SECRET }));
    await h.node.execute(request(h, { payload, request_id: "req-4" }, { subject: "bob" }));
    await h.node.execute({ ...request(h, { payload, request_id: "req-5" }), lane_id: 5 });
    // secret as a KEY (payload top level and nested): executed, so the payload shape is recorded
    const keyed = await h.node.execute(request(h, { payload: { [SECRET]: "x", nested: { [SECRET]: 1 } }, request_id: "req-6" }));
    expect(keyed.status).toBe("failed");
    // secret as (part of) a request_id: valid request, version mismatch, invalid request
    const badIds = [`Bearer ${SECRET}`, `${SECRET}/${"x".repeat(200)}`, `id=${SECRET}`];
    for (const id of badIds) {
      const r1 = await h.node.execute(request(h, { request_id: id }));
      expect(r1.rejection).toMatchObject({ reason: "invalid_request", request_id: null, details: { path: "$.request_id" } });
      const r2 = await h.node.execute({ ...request(h), request_id: id, contract_version: 2 });
      expect(r2.rejection).toMatchObject({ reason: "contract_version_mismatch", request_id: null });
      const r3 = await h.node.execute({ ...request(h), request_id: id, bogus: 1 });
      expect(r3.rejection).toMatchObject({ reason: "invalid_request", request_id: null });
      expect(JSON.stringify([r1.rejection, r2.rejection, r3.rejection])).not.toContain(SECRET);
    }
    // secret as a lane_id (even one shaped like an id), governed and direct
    for (const laneId of [SECRET, `lane ${SECRET}`]) {
      const r = await h.node.execute(request(h, { lane_id: laneId, request_id: "req-7" }));
      expect(r.rejection).toMatchObject({ reason: "lane_not_registered" });
      expect(JSON.stringify(r.rejection)).not.toContain(SECRET);
      await h.node.execute(request(h, { lane_id: laneId, request_id: "req-8", provenance: { kind: "direct_lower_lane_owner" } }));
      // rejected before the lane check: the unregistered lane is not stamped either
      await h.node.execute(request(h, { lane_id: laneId, request_id: "req-9", authority_ref: undefined }));
    }
    // secret as an (unsigned) key id
    await h.node.execute(request(h, { request_id: "req-10" }, { keyId: SECRET }));
    expect(h.sink.records.length).toBeGreaterThanOrEqual(20);
    store.close();
    stores.length = 0;
    const needles = [SECRET, Buffer.from(SECRET).toString("base64"), "S3CR3T", String(PIN)];
    // memory sink (what every sink received)
    for (const e of h.sink.records) for (const n of needles) expect(canonicalize(e)).not.toContain(n);
    // every byte written anywhere under the sinks' folders (JSONL, SQLite catalog, WAL, objects)
    const files = allFiles(dir);
    expect(files).toContain(jsonl);
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const n of needles) expect(bytes.includes(Buffer.from(n)), `${f} contains ${n}`).toBe(false);
    }
    // and every artifact in the store, read back through the store
    const reader = openStore({ dir: join(dir, "store"), readOnly: true });
    try {
      let n = 0;
      for (const a of reader.list()) {
        n++;
        const bytes = reader.get(a.digest);
        for (const needle of needles) expect(bytes.includes(Buffer.from(needle))).toBe(false);
      }
      expect(n).toBeGreaterThan(8);
    } finally {
      reader.close();
    }
  });

  it("fingerprints are sha256 + byte size of canonical JSON; outputs keep only the lane protocol's declared facts", () => {
    expect(fingerprint({ b: 1, a: 2 })).toEqual({ sha256: "sha256:" + require_sha('{"a":2,"b":1}'), byte_size: 13 });
    expect(fingerprint(undefined)).toBeNull();
    const out = { exit_code: 0, stdout: "hi", signal: "SIGTERM", stdout_truncated: false, nested: { x: 1 }, pin: 4321 };
    // the shape is a fingerprint of the sorted key list (a key may be a secret), with the count
    const keys = ["exit_code", "nested", "pin", "signal", "stdout", "stdout_truncated"];
    expect(redactOutput(out, "process")).toEqual({
      fingerprint: fingerprint(out),
      shape: { ...fingerprint(keys), key_count: 6 },
      facts: { exit_code: 0, signal: "SIGTERM", stdout_truncated: false },
    });
    // an inline lane declares no facts: a number it returns is not copied
    expect(redactOutput({ pin: 4321, exit_code: 0 }, "inline").facts).toEqual({});
    expect(redactOutput({ pin: 4321, exit_code: 0 }, "unknown-protocol").facts).toEqual({});
    // a declared fact with the wrong type or range is not copied either
    expect(redactOutput({ exit_code: 987654321, signal: "sk-live-x", status_code: 4321 }, "process").facts).toEqual({});
    expect(redactOutput({ status_code: 503, body_truncated: true, body: "x" }, "http").facts).toEqual({ status_code: 503, body_truncated: true });
    // without a protocol: the union of every protocol's declared facts (never undeclared keys)
    expect(redactOutput({ status_code: 200, exit_code: 1, pin: 4321 }).facts).toEqual({ status_code: 200, exit_code: 1 });
    expect(redactOutput("raw text")).toMatchObject({ shape: null, facts: {} });
  });
});

import { createHash } from "node:crypto";
function require_sha(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

describe("redactPath", () => {
  it("keeps contract field names and indexes, stars everything else", async () => {
    const { redactPath } = await import("../../src/plane/evidence/redact.js");
    expect(redactPath("$.lane_id")).toBe("$.lane_id");
    expect(redactPath("$.authority_ref.expires_at")).toBe("$.authority_ref.expires_at");
    expect(redactPath("$.acceptable_attestation.priority_order[2]")).toBe("$.acceptable_attestation.priority_order[2]");
    expect(redactPath('$["sk-live-secret"]')).toBe("$.*");
    expect(redactPath("$.payload.env.SECRET_TOKEN_abc")).toBe("$.payload.*.*");
    expect(redactPath("$.sk_live_abc")).toBe("$.*");
  });
});
