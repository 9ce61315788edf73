/**
 * User-acceptance findings of 2026-11-27 (u1) on the execution-plane node, its config and its
 * authority verifier: a request holding a lone surrogate is `invalid_request` at admission
 * (F13); a non-local `placement` asked of local targets is `placement_unavailable` (F3); one
 * `execution.cancelled` per execution however often `cancel` is called (F8); a bad lane `id` in
 * a node config is named (F4); a jsonrpc lane over stdio is targetable with `local-process-weak`
 * (F12); the Ed25519 verifier's options are checked (F2); the JSONL evidence sink refuses a path
 * that is not a regular file (F11).
 */
import { closeSync, constants as FS, openSync, readFileSync, readSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import { fixedClock } from "../../src/core/clock.js";
import { CairnError } from "../../src/core/errors.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { Ed25519AuthorityVerifier, signAuthorityRef } from "../../src/plane/authority/ed25519.js";
import { resolveNodeConfig } from "../../src/plane/config/node-config.js";
import { buildNodeFromConfig } from "../../src/plane/config/build.js";
import { JsonlEvidenceSink, MemoryEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { PlaneNode } from "../../src/plane/node/node.js";
import { AUDIENCE, EchoLane, harness, keys, request, scratchDir, T0, type Harness } from "./node-helpers.js";

const LONE = "\ud800";

/** A governed request whose ref is valid for `PAYLOAD`, with `over` swapped in afterwards. */
function swapped(h: Harness, over: Record<string, unknown>): Record<string, unknown> {
  return { ...request(h), ...over };
}

function thrown(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw new Error(`threw a ${(err as Error).constructor.name}, not a CairnError: ${(err as Error).message}`);
  }
  throw new Error("did not throw");
}

describe("F13: a request holding a lone surrogate is invalid_request at admission, naming the member", () => {
  it.each([
    ["a payload string", { payload: { command: "echo", argv: [LONE] } }, "$.payload.argv[0]"],
    ["a payload member name", { payload: { command: "echo", [`k${LONE}`]: 1 } }, '$.payload["k\\ud800"]'],
    ["metadata", { metadata: { a: `x${LONE}` } }, "$.metadata.a"],
    ["the idempotency key", { idempotency_key: `k${LONE}` }, "$.idempotency_key"],
    ["constraints", { constraints: [{ c: LONE }] }, "$.constraints[0].c"],
  ])("governed: %s", async (_what, over, path) => {
    const h = harness();
    const r = await h.node.execute(swapped(h, over));
    expect(r.status).toBe("rejected");
    expect(r.rejection).toEqual({
      contract_version: 1,
      request_id: "req-1",
      reason: "invalid_request",
      message: `invalid AdmissionRequest at ${path}: a string or member name with a lone surrogate, which canonical JSON (RFC 8785) cannot hold`,
      details: { path, reason: "lone_surrogate" },
    });
    expect(h.lane.calls).toEqual([]);
    expect(h.sink.records.map((e) => e.evidence_type)).toEqual(["admission.rejected"]);
    const payload = h.sink.records[0]?.payload as { rejection: { reason: string; details: { path: string } }; request: unknown };
    expect(payload.rejection.reason).toBe("invalid_request");
    expect(payload.request).toEqual({ invalid: true, fingerprint: null }); // nothing of it is fingerprinted as if it were valid
  });

  it("direct provenance: refused too, never executed", async () => {
    const clock = fixedClock(T0);
    const node = new PlaneNode({ nodeId: "n", clock, ids: sequentialIds(clock) });
    const lane = new EchoLane("echo");
    const sink = new MemoryEvidenceSink();
    node.registerLane(lane, { allowDirect: true }).registerEvidenceSink(sink).completeRegistration();
    const direct = { contract_version: 1, lane_id: "echo", operation: "run", idempotency_key: "k", provenance: { kind: "direct_lower_lane_owner" } };
    const bad = await node.execute({ ...direct, payload: { argv: [LONE] } });
    expect(bad.rejection).toMatchObject({ reason: "invalid_request", details: { path: "$.payload.argv[0]", reason: "lone_surrogate" } });
    expect(lane.calls).toEqual([]);
    // a well-formed surrogate pair is an ordinary character
    const ok = await node.execute({ ...direct, payload: { argv: ["\ud83d\ude00"] } });
    expect(ok.status).toBe("succeeded");
    expect(lane.calls).toHaveLength(1);
  });
});

describe("F3: a non-local placement asked of a lane whose targets run local is placement_unavailable", () => {
  it("names the requested and the available placement; nothing dispatched", async () => {
    const h = harness();
    const r = await h.node.execute(request(h, { placement: { kind: "ssh" } }));
    expect(r.rejection).toEqual({
      contract_version: 1,
      request_id: "req-1",
      reason: "placement_unavailable",
      message: 'lane echo runs local, not "ssh": no verified target on it runs on the requested placement',
      details: { lane_id: "echo", classes: ["local-process-weak"], requested: "ssh", placement: "local" },
    });
    expect(h.lane.calls).toEqual([]);
    const ev = h.sink.records[0]?.payload as { rejection: { reason: string; message: string } };
    expect(ev.rejection).toMatchObject({ reason: "placement_unavailable", message: "no attested target runs on the requested placement" });
  });

  it("only when the placement alone stood in the way; `local` is still fine", async () => {
    const h = harness();
    const noClass = await h.node.execute(request(h, { placement: { kind: "ssh" }, acceptable_attestation: { contract_version: 1, classes: ["microvm-strong"] } }));
    expect(noClass.rejection?.reason).toBe("no_satisfying_attested_target");
    expect((await h.node.execute(request(h, { placement: { kind: "local" } }))).status).toBe("succeeded");
  });
});

describe("F8: one execution.cancelled per execution", () => {
  it("a second and third cancel emit nothing and return the first record", async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const lane = new EchoLane("echo", (_req, ctx) => {
      started();
      return new Promise((resolve) =>
        ctx.signal.addEventListener("abort", () =>
          resolve({ status: "failed", output: null, failure: { class: "cancellation", message: "cancelled" }, metrics: { started_at: T0, finished_at: T0, timeout_ms: 1000 } }),
        ),
      );
    });
    const h = harness({ lane });
    const pending = h.node.execute(request(h));
    await running;
    const ref = h.node.runningRefs()[0] as string;
    const results = await Promise.all([h.node.cancel(ref), h.node.cancel(ref), h.node.cancel({ ref })]);
    const result = await pending;
    const types = h.sink.records.map((e) => e.evidence_type);
    expect(types).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.cancelled", "execution.completed"]);
    const cancelled = h.sink.records[3];
    expect(results).toEqual([
      { ok: true, execution_ref: ref, evidence: cancelled },
      { ok: true, execution_ref: ref, evidence: cancelled, already_cancelled: true },
      { ok: true, execution_ref: ref, evidence: cancelled, already_cancelled: true },
    ]);
    expect(result.evidence).toEqual(h.sink.records.map((e) => e.evidence_id));
    expect((await h.node.cancel(ref)).ok).toBe(false); // once completed: unknown_execution_ref, as before
  });
});

const PUB = keys(3).publicKey.export({ format: "pem", type: "spki" }).toString();
const BASE = { node_id: "n1", authority: { audience: AUDIENCE, trusted_keys: [{ id: "ops", public_key: PUB }], policy: [{ subject: "alice", lanes: ["*"], operations: ["*"] }] } };

function configError(raw: Record<string, unknown>): string {
  return thrown(() => resolveNodeConfig({ ...BASE, ...raw }, "/", "node.yaml")).message;
}

describe("F4: a bad lane entry in a node config names its key", () => {
  it.each([
    [{ kind: "http", id: "bad id!" }, "node.yaml: lanes[0].id: must match ^[a-z][a-z0-9_.-]{0,63}$"],
    [{ kind: "http", id: "a/b" }, "node.yaml: lanes[0].id: must match ^[a-z][a-z0-9_.-]{0,63}$"],
    [{ kind: "http", id: "" }, "node.yaml: lanes[0].id: must be a non-empty string"],
    [{ kind: "http", id: 5 }, "node.yaml: lanes[0].id: Expected string, received number"],
    [{ kind: "Http" }, "node.yaml: lanes[0].kind: must match ^[a-z][a-z0-9_.-]{0,63}$"],
    [{ id: "x" }, "node.yaml: lanes[0].kind: Required"],
    [5, "node.yaml: lanes[0]: must be a lane kind (string) or {kind, id?, …options}"],
    [null, "node.yaml: lanes[0]: must be a lane kind (string) or {kind, id?, …options}"],
  ])("%j", (entry, message) => {
    expect(configError({ lanes: [entry] })).toBe(message);
  });

  it("evidence.store of the wrong type says what it takes (it said \"must be a lane kind\": the lane entries' union message)", () => {
    expect(configError({ lanes: ["inline"], evidence: { store: 5 } })).toBe("node.yaml: evidence.store: must be true, false or a store directory (a non-empty string)");
    expect(configError({ lanes: ["inline"], evidence: { store: "" } })).toBe("node.yaml: evidence.store: must be a non-empty string");
  });

  it("valid entries are read as before", () => {
    const cfg = resolveNodeConfig({ ...BASE, lanes: ["http", { kind: "process", id: "p2", max_output_bytes: 10 }] }, "/");
    expect(cfg.lanes).toEqual([
      { kind: "http", id: "http", options: {} },
      { kind: "process", id: "p2", options: { id: "p2", max_output_bytes: 10 } },
    ]);
  });
});

const PEER = fileURLToPath(new URL("./fixtures/lanes/peer.mjs", import.meta.url));
const RPC_LANE = { kind: "jsonrpc", id: "rpc", transport: { kind: "stdio", command: process.execPath, argv: [PEER] }, default_timeout_ms: 10_000 };

describe("F12: a jsonrpc lane over stdio is a same-host lane (local-process-weak)", () => {
  it("a local-process-weak target on it is accepted and a governed request runs there", async () => {
    const k = keys(3);
    const cfg = resolveNodeConfig({ ...BASE, lanes: [RPC_LANE], targets: [{ target_id: "t-rpc", lane_id: "rpc", attestation_class: "local-process-weak" }] }, "/");
    const clock = fixedClock(T0);
    const { node, lanes } = buildNodeFromConfig(cfg, { clock, ids: sequentialIds(clock) });
    try {
      const unsigned = { contract_version: 1, request_id: "r1", lane_id: "rpc", operation: "call", idempotency_key: "k", payload: { method: "add", params: { a: 2, b: 40 } }, acceptable_attestation: { classes: ["local-process-weak"] } };
      const authority_ref = signAuthorityRef({ privateKey: k.privateKey, keyId: "ops", subject: "alice", audience: AUDIENCE, request: unsigned, issuedAt: T0 - 1000, expiresAt: T0 + 60_000 });
      const r = await node.execute({ ...unsigned, authority_ref });
      expect(r.rejection).toBeUndefined();
      expect(r.status).toBe("succeeded");
      expect(r.output).toEqual({ result: { sum: 42 } });
    } finally {
      for (const l of lanes) await l.close?.();
    }
  });

  it("declared-endpoint-weak on it is refused with advice that fits it", () => {
    expect(configError({ lanes: [RPC_LANE], targets: [{ target_id: "t", lane_id: "rpc", attestation_class: "declared-endpoint-weak", endpoint: "http://127.0.0.1:1" }] })).toBe(
      'node.yaml: targets[0].attestation_class: declared-endpoint-weak is for network lanes; lane "rpc" is a jsonrpc lane over the stdio transport (a local subprocess, no network endpoint): its targets are local-process-weak',
    );
  });

  it("a jsonrpc lane over http still needs declared-endpoint-weak", () => {
    const http = { kind: "jsonrpc", id: "rpc", transport: { kind: "http", url: "http://127.0.0.1:1/rpc" } };
    expect(configError({ lanes: [http], targets: [{ target_id: "t", lane_id: "rpc", attestation_class: "local-process-weak" }] })).toBe(
      'node.yaml: targets[0].attestation_class: local-process-weak covers same-host lanes only (inline, worker, process, jsonrpc over stdio); a target on the jsonrpc lane "rpc" needs declared-endpoint-weak and an endpoint',
    );
  });
});

describe("F2: Ed25519AuthorityVerifier options are checked, errors name the option", () => {
  const key = keys(3).publicKey;
  const good = { audience: "a", trustedKeys: [{ id: "ops", key }], policy: [{ subject: "s", lanes: ["*"], operations: ["*"] }] };
  it.each([
    [{ audience: "a" }, "trustedKeys", "Ed25519AuthorityVerifier: trustedKeys: must be an array of {id, key}"],
    [{ ...good, trustedKeys: [5] }, "trustedKeys[0]", "Ed25519AuthorityVerifier: trustedKeys[0]: must be an object {id, key}"],
    [{ ...good, trustedKeys: [{ key }] }, "trustedKeys[0].id", "Ed25519AuthorityVerifier: trustedKeys[0].id: must be a non-empty string"],
    [{ ...good, trustedKeys: [{ id: "ops", key: 5 }] }, "trustedKeys[0].key", "Ed25519AuthorityVerifier: trustedKeys[0].key: must be an Ed25519 public key (KeyObject or PEM text)"],
    [{ ...good, policy: undefined }, "policy", "Ed25519AuthorityVerifier: policy: must be an array of {subject, lanes, operations}"],
    [{ ...good, policy: [{ subject: "s", lanes: "*", operations: ["*"] }] }, "policy[0].lanes", 'Ed25519AuthorityVerifier: policy[0].lanes: must be an array of non-empty strings ("*" for any)'],
    [{ ...good, policy: [{ lanes: ["*"], operations: ["*"] }] }, "policy[0].subject", "Ed25519AuthorityVerifier: policy[0].subject: must be a non-empty string"],
    [{ ...good, verifierId: "" }, "verifierId", "Ed25519AuthorityVerifier: verifierId: must be a non-empty string"],
    [null, "options", "Ed25519AuthorityVerifier: options: must be an object {audience, trustedKeys, policy, verifierId?}"],
  ])("%j", (opts, option, message) => {
    const err = thrown(() => new Ed25519AuthorityVerifier(opts as never));
    expect(err.toJSON()).toEqual({ code: "E_USAGE", message, details: { field: option } });
  });

  it("valid options still build the verifier", () => {
    expect(new Ed25519AuthorityVerifier(good).audience).toBe("a");
  });
});

describe("F11: the JSONL evidence sink appends to a regular file only", () => {
  async function oneRecord() {
    const h = harness();
    await h.node.execute(request(h));
    return h.sink.records[0] as NonNullable<(typeof h.sink.records)[0]>;
  }

  it("a FIFO (here with a reader, so opening it would not block) is E_STORE_IO not_regular_file, and nothing is written to it", async () => {
    const record = await oneRecord();
    const path = join(scratchDir(), "ev.fifo");
    execFileSync("mkfifo", [path]);
    const reader = openSync(path, FS.O_RDONLY | FS.O_NONBLOCK);
    try {
      const err = thrown(() => new JsonlEvidenceSink(path).emit(record));
      expect(err.toJSON()).toEqual({
        code: "E_STORE_IO",
        message: `cannot write evidence file ${path}: not a regular file (a FIFO); evidence is appended to a regular file only`,
        details: { path, reason: "not_regular_file" },
      });
      const buf = Buffer.alloc(16);
      expect(readSync(reader, buf)).toBe(0); // nothing was written: end of file, no writer left
    } finally {
      closeSync(reader);
    }
  });

  it("a device is refused the same way", async () => {
    const record = await oneRecord();
    expect(thrown(() => new JsonlEvidenceSink("/dev/null").emit(record)).toJSON()).toEqual({
      code: "E_STORE_IO",
      message: "cannot write evidence file /dev/null: not a regular file (a device); evidence is appended to a regular file only",
      details: { path: "/dev/null", reason: "not_regular_file" },
    });
  });

  it("a regular file gets the same bytes as before: one canonical line per record, appended", async () => {
    const record = await oneRecord();
    const path = join(scratchDir(), "sub", "ev.jsonl");
    const sink = new JsonlEvidenceSink(path);
    sink.emit(record);
    sink.emit(record);
    expect(readFileSync(path, "utf8")).toBe(`${canonicalize(record)}\n`.repeat(2));
  });
});
