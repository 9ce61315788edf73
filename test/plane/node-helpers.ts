/**
 * Test doubles of the Lane and TargetClient INTERFACES (not of the node under test), plus a
 * builder for a fully registered node with pinned clock, ids, keys and verifier secret.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { fixedClock, type Clock } from "../../src/core/clock.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { makeLaneCapabilities, type LaneCapabilities } from "../../src/plane/contracts/target.js";
import type { ExecutionRequest } from "../../src/plane/contracts/execution.js";
import type { JsonValue } from "../../src/plane/contracts/base.js";
import type { Lane, LaneContext, LaneOutcome } from "../../src/plane/lanes/lane.js";
import { Ed25519AuthorityVerifier, signAuthorityRef, type PolicyRule } from "../../src/plane/authority/ed25519.js";
import { requestHash } from "../../src/plane/authority/request-hash.js";
import { LocalWeakVerifier } from "../../src/plane/attestation/local-weak.js";
import { MemoryEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { PlaneNode, type TargetClient } from "../../src/plane/node/node.js";

export const T0 = 1_700_000_000_000;

/** A lane that echoes its payload as output (status succeeded) and records every call. */
export class EchoLane implements Lane {
  readonly calls: ExecutionRequest[] = [];
  constructor(
    readonly id: string,
    private readonly behave: (req: ExecutionRequest, ctx: LaneContext) => Promise<LaneOutcome> | LaneOutcome = (req, ctx) => ({
      status: "succeeded",
      output: { echo: req.payload as JsonValue, exit_code: 0 },
      metrics: { started_at: ctx.clock.now(), finished_at: ctx.clock.now(), timeout_ms: 1000 },
    }),
  ) {}
  capabilities(): LaneCapabilities {
    return makeLaneCapabilities({ contract_version: 1, lane_id: this.id, protocols: ["test"], surfaces: ["local_subprocess"], supports_execute: true, supports_stream: false });
  }
  async execute(req: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    this.calls.push(req);
    return this.behave(req, ctx);
  }
}

/** A target client that counts dispatches per target before running the lane. */
export class CountingClient implements TargetClient {
  count = 0;
  constructor(readonly name: string) {}
  execute(request: ExecutionRequest, lane: Lane, ctx: LaneContext): Promise<LaneOutcome> {
    this.count++;
    return lane.execute(request, ctx);
  }
}

export interface Keys {
  privateKey: KeyObject;
  publicKey: KeyObject;
}
/** A deterministic Ed25519 key pair from a 32-byte seed (PKCS#8 DER prefix + seed). */
export function keys(seedByte = 1): Keys {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.alloc(32, seedByte)]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export const AUDIENCE = "cairn-test";
export const POLICY: PolicyRule[] = [
  { subject: "alice", lanes: ["echo"], operations: ["*"] },
  { subject: "bob", lanes: ["*"], operations: ["read"] },
];

export interface Harness {
  node: PlaneNode;
  sink: MemoryEvidenceSink;
  lane: EchoLane;
  key: Keys;
  weak: LocalWeakVerifier;
  authority: Ed25519AuthorityVerifier;
  clock: Clock;
}

export interface HarnessOptions {
  clock?: Clock;
  complete?: boolean;
  authority?: boolean;
  lane?: EchoLane;
  targets?: string[];
  ttlMs?: number;
}

/** A node with one echo lane, a local-weak verifier, an Ed25519 authority, a memory sink. */
export function harness(o: HarnessOptions = {}): Harness {
  const clock = o.clock ?? fixedClock(T0);
  const node = new PlaneNode({ nodeId: "node-1", clock, ids: sequentialIds(clock) });
  const lane = o.lane ?? new EchoLane("echo");
  const key = keys();
  const weak = new LocalWeakVerifier({ key: Buffer.alloc(32, 7), host: "testhost", ttlMs: o.ttlMs ?? 60_000, lanes: ["echo", "inline", "process"] });
  const authority = new Ed25519AuthorityVerifier({ audience: AUDIENCE, trustedKeys: [{ id: "ops", key: key.publicKey }], policy: POLICY });
  const sink = new MemoryEvidenceSink();
  node.registerLane(lane).registerTargetVerifier(weak).registerEvidenceSink(sink);
  if (o.authority !== false) node.registerAuthorityVerifier(authority);
  for (const t of o.targets ?? ["t-local"]) {
    const r = node.connectTarget(weak.mintAttestation({ targetId: t, laneId: lane.id, now: clock.now() }));
    if (!r.ok) throw new Error(`connect ${t}: ${r.rejection.reason}`);
  }
  if (o.complete !== false) node.completeRegistration();
  return { node, sink, lane, key, weak, authority, clock };
}

export const PAYLOAD = { command: "echo", argv: ["ok"] };

/**
 * A signed governed request for `alice` on the echo lane. The ref binds the whole request
 * (`over` included, request_hash) unless `over` makes it invalid (then it has no request_hash).
 */
export function request(h: Harness, over: Record<string, unknown> = {}, sign: Partial<Parameters<typeof signAuthorityRef>[0]> = {}): Record<string, unknown> {
  const payload = (over.payload as unknown) ?? PAYLOAD;
  const lane_id = (over.lane_id as string | undefined) ?? "echo";
  const operation = (over.operation as string | undefined) ?? "run";
  const { authority_ref: _ignored, ...overUnsigned } = over;
  const unsigned: Record<string, unknown> = {
    contract_version: 1,
    request_id: "req-1",
    lane_id,
    operation,
    idempotency_key: "k1",
    payload,
    acceptable_attestation: { contract_version: 1, classes: ["local-process-weak"] },
    ...overUnsigned,
  };
  let bindable = true;
  try {
    requestHash(unsigned);
  } catch {
    bindable = false;
  }
  const ref = signAuthorityRef({
    privateKey: h.key.privateKey,
    keyId: "ops",
    subject: "alice",
    audience: AUDIENCE,
    payload,
    issuedAt: h.clock.now() - 1000,
    expiresAt: h.clock.now() + 60_000,
    laneId: lane_id,
    operation,
    ...(bindable ? { request: unsigned } : {}),
    ...sign,
  });
  return {
    contract_version: 1,
    request_id: "req-1",
    lane_id,
    operation,
    idempotency_key: "k1",
    payload,
    authority_ref: ref,
    acceptable_attestation: { contract_version: 1, classes: ["local-process-weak"] },
    ...over,
  };
}

const scratchDirs: string[] = [];
let cleanupRegistered = false;
/** A fresh temp dir, removed after the test file (afterAll registered on first use). */
export function scratchDir(): string {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    afterAll(() => {
      for (const d of scratchDirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });
  }
  const d = mkdtempSync(join(tmpdir(), "cairn-plane-"));
  scratchDirs.push(d);
  return d;
}
