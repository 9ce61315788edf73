/**
 * `local-process-weak`: an HONEST, WEAK attestation class for same-host lanes.
 *
 * What it attests, and nothing more: the target is a lane run by this node's own OS process, on
 * this host, as this OS user. The attestation is minted by the verifier itself (an HMAC over its
 * fields with a key that never leaves the verifier's memory), so a `local-process-weak`
 * descriptor cannot be presented by anything outside the node process.
 *
 * What it does NOT guarantee — it is NOT a sandbox:
 *   - no filesystem, network, process or memory isolation: a process lane can read and write
 *     whatever the node's user can, open any socket, and spawn anything;
 *   - no resource limits beyond what the lane itself enforces (timeouts, output caps);
 *   - no integrity of the host, the binaries the lane runs, or the environment;
 *   - no cryptographic isolation claim and no remote attestation: the HMAC only shows that the
 *     same verifier instance minted the attestation, not what the code does.
 * It is valid only for same-host lanes (default: inline, worker, process). A request whose
 * placement is not local must not be routed to it (the node checks `metadata.placement`).
 * Network lanes (http, jsonrpc, sse, websocket) get `declared-endpoint-weak` instead
 * (declared-endpoint.ts): an operator-declared endpoint origin, bound into the descriptor.
 * Stronger classes must come from other TargetVerifier implementations backed by real evidence.
 *
 * EXPIRY is fixed at minting: a descriptor expires at `presented_at + min(ttl_ms, verifier ttl)`,
 * whenever the attestation is (re)connected, so reconnecting a stale attestation cannot renew it.
 * An attestation whose `presented_at` is in the future (`presented_in_future`) or whose lifetime
 * has already ended (`attestation_expired`) is refused (`target_attestation_unverifiable`).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { hostname } from "node:os";
import { canonicalBytes } from "../../core/canonical.js";
import { CONTRACT_VERSION } from "../contracts/base.js";
import { makeTargetAttestation, makeTargetDescriptor, type TargetAttestation } from "../contracts/target.js";
import type { TargetVerdict, TargetVerifier, TargetVerifyContext } from "./verifier.js";

export const LOCAL_WEAK_CLASS = "local-process-weak";
export const LOCAL_WEAK_VERIFIER_ID = "cairn.plane:local-weak-verifier:v1";
export const LOCAL_WEAK_DEFAULT_LANES = Object.freeze(["inline", "worker", "process"]);
/** Default descriptor lifetime: one hour. */
export const LOCAL_WEAK_DEFAULT_TTL_MS = 3_600_000;

export interface LocalWeakVerifierOptions {
  /** The HMAC key (default: 32 random bytes; inject one to pin every byte in a test). */
  readonly key?: Buffer;
  /** Maximum descriptor lifetime in ms (default one hour); an attestation may ask for less. */
  readonly ttlMs?: number;
  /** Lanes this class may describe (default inline, worker, process). */
  readonly lanes?: readonly string[];
  /** The host name recorded in the attestation evidence (default os.hostname()). */
  readonly host?: string;
}

export class LocalWeakVerifier implements TargetVerifier {
  readonly verifier_id = LOCAL_WEAK_VERIFIER_ID;
  readonly attestation_types = Object.freeze([LOCAL_WEAK_CLASS]);
  readonly capability_classes = Object.freeze([LOCAL_WEAK_CLASS]);
  private readonly key: Buffer;
  private readonly ttlMs: number;
  private readonly lanes: ReadonlySet<string>;
  private readonly host: string;

  constructor(opts: LocalWeakVerifierOptions = {}) {
    this.key = opts.key ?? randomBytes(32);
    this.ttlMs = opts.ttlMs ?? LOCAL_WEAK_DEFAULT_TTL_MS;
    this.lanes = new Set(opts.lanes ?? LOCAL_WEAK_DEFAULT_LANES);
    this.host = opts.host ?? hostname();
  }

  private mac(fields: Record<string, unknown>): string {
    return createHmac("sha256", this.key).update(canonicalBytes(fields)).digest("base64url");
  }

  /** Mints an attestation for a same-host target (the only way to get one this verifier accepts). */
  mintAttestation(o: { targetId: string; laneId: string; now: number; attestationId?: string; ttlMs?: number }): TargetAttestation {
    const attestation_id = o.attestationId ?? `att-${o.targetId}-${o.now}`;
    const ttl_ms = Math.min(o.ttlMs ?? this.ttlMs, this.ttlMs);
    const bound = { attestation_id, attestation_type: LOCAL_WEAK_CLASS, target_id: o.targetId, lane_id: o.laneId, presented_at: o.now, host: this.host, ttl_ms };
    return makeTargetAttestation({
      contract_version: CONTRACT_VERSION,
      attestation_id,
      attestation_type: LOCAL_WEAK_CLASS,
      target_id: o.targetId,
      lane_id: o.laneId,
      presented_at: o.now,
      evidence: { host: this.host, ttl_ms, mac: this.mac(bound) },
      claimed_capability_classes: [LOCAL_WEAK_CLASS],
    });
  }

  handles(att: TargetAttestation): boolean {
    return att.attestation_type === LOCAL_WEAK_CLASS;
  }

  verify(att: TargetAttestation, ctx: TargetVerifyContext): TargetVerdict {
    const fail = (reason: string, message: string): TargetVerdict => ({ ok: false, message, details: { reason } });
    if (att.attestation_type !== LOCAL_WEAK_CLASS) return fail("wrong_type", `attestation type ${att.attestation_type} is not ${LOCAL_WEAK_CLASS}`);
    if (att.target_id === undefined || att.lane_id === undefined) return fail("incomplete", "attestation must name target_id and lane_id");
    if (!this.lanes.has(att.lane_id)) return fail("lane_not_same_host", `lane ${att.lane_id} is not a same-host lane for ${LOCAL_WEAK_CLASS}`);
    const { host, mac, ttl_ms } = att.evidence;
    if (typeof host !== "string" || typeof mac !== "string" || typeof ttl_ms !== "number") return fail("evidence_missing", "attestation evidence must carry host, ttl_ms and mac");
    if (!Number.isSafeInteger(ttl_ms) || ttl_ms <= 0) return fail("bad_ttl", "attestation ttl_ms must be a positive integer");
    const expected = Buffer.from(
      this.mac({ attestation_id: att.attestation_id, attestation_type: att.attestation_type, target_id: att.target_id, lane_id: att.lane_id, presented_at: att.presented_at, host, ttl_ms }),
    );
    const got = Buffer.from(mac);
    if (host !== this.host || got.length !== expected.length || !timingSafeEqual(got, expected)) {
      return fail("mac_mismatch", "attestation was not minted by this verifier on this host");
    }
    if (att.presented_at > ctx.now) return fail("presented_in_future", "attestation presented_at is in the future");
    const expiresAt = att.presented_at + Math.min(ttl_ms, this.ttlMs);
    if (ctx.now >= expiresAt) return fail("attestation_expired", "attestation lifetime has ended (presented_at + ttl_ms); mint a new one");
    const unsigned = {
      contract_version: CONTRACT_VERSION,
      target_id: att.target_id,
      lane_id: att.lane_id,
      attested_capability_classes: [LOCAL_WEAK_CLASS], // claimed classes are ignored
      verifier_id: this.verifier_id,
      attestation_id: att.attestation_id,
      attested_at: ctx.now,
      expires_at: expiresAt,
      metadata: { isolation: "none", placement: "local", sandbox: false, host: this.host },
    };
    return { ok: true, descriptor: makeTargetDescriptor({ ...unsigned, signature: this.mac(unsigned) }) };
  }
}
