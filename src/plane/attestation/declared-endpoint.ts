/**
 * `declared-endpoint-weak`: an HONEST, WEAK attestation class for network lanes (http, jsonrpc
 * over http, sse, websocket).
 *
 * What it attests, and nothing more: "the node operator declared, in the node's configuration,
 * that target <target_id> on lane <lane_id> is the endpoint <origin>". The attestation is minted by
 * the verifier itself from that declaration (an HMAC over its fields with a key that never leaves
 * the verifier's memory), so a `declared-endpoint-weak` descriptor cannot be presented by anything
 * outside the node process, and its origin cannot be swapped after minting.
 *
 * What it does NOT guarantee:
 *   - nothing about the remote's IDENTITY: the verifier never contacts the endpoint. For an
 *     `https:` / `wss:` origin the only identity check is the TLS server authentication the lane's
 *     client performs at request time against the system trust store (the host name in the
 *     origin must match the certificate); for a plain `http:` / `ws:` origin there is NONE — anyone
 *     who can answer on that address (DNS, routing, a local process on the port) is "the endpoint";
 *   - nothing about the remote's INTEGRITY (what software runs there, what it does with the data)
 *     or ISOLATION (it is not a sandbox; the endpoint is outside the node's control entirely);
 *   - no remote attestation: the HMAC only shows that this verifier instance minted it.
 *
 * THE ORIGIN IS BINDING. The descriptor carries `metadata.endpoint_origin`. The node routes a
 * request to such a target only if the lane's `requestOrigin(payload)` (http / sse / websocket:
 * the origin of `payload.url`; jsonrpc over http: the origin of the lane's configured
 * `transport.url`) equals it exactly (scheme, host, port); otherwise admission is rejected
 * `no_satisfying_attested_target` (details.reason `endpoint_not_attested`) before any I/O. The
 * config builder also sets the lane's `allowed_origins` to the declared origins (defence in depth).
 *
 * EXPIRY is fixed at minting, exactly as `local-process-weak`: a descriptor expires at
 * `presented_at + min(ttl_ms, verifier ttl)`; an attestation presented in the future
 * (`presented_in_future`) or whose lifetime has ended (`attestation_expired`) is refused
 * (`target_attestation_unverifiable`).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { canonicalBytes } from "../../core/canonical.js";
import { CONTRACT_VERSION } from "../contracts/base.js";
import { makeTargetAttestation, makeTargetDescriptor, type TargetAttestation } from "../contracts/target.js";
import type { TargetVerdict, TargetVerifier, TargetVerifyContext } from "./verifier.js";

export const DECLARED_ENDPOINT_CLASS = "declared-endpoint-weak";
export const DECLARED_ENDPOINT_VERIFIER_ID = "cairn.plane:declared-endpoint-verifier:v1";
/** Default descriptor lifetime: one hour. */
export const DECLARED_ENDPOINT_DEFAULT_TTL_MS = 3_600_000;
/** URL schemes an endpoint may have, per network lane kind. */
export const ENDPOINT_SCHEMES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  http: Object.freeze(["http:", "https:"]),
  jsonrpc: Object.freeze(["http:", "https:"]),
  sse: Object.freeze(["http:", "https:"]),
  websocket: Object.freeze(["ws:", "wss:"]),
});
/** The lane kinds this class may describe. */
export const NETWORK_LANE_KINDS: readonly string[] = Object.freeze(Object.keys(ENDPOINT_SCHEMES));

/**
 * Normalises an endpoint to its origin (`scheme://host[:port]`, default port dropped, host
 * lower-cased). Returns an error message when it is not an origin of one of `schemes`: not an
 * absolute URL, another scheme, credentials, a path other than `/`, a query or a fragment.
 */
export function endpointOrigin(endpoint: string, schemes: readonly string[]): { ok: true; origin: string } | { ok: false; message: string } {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return { ok: false, message: `must be an absolute URL origin (${schemes.map((s) => `${s}//host[:port]`).join(" or ")})` };
  }
  if (!schemes.includes(u.protocol)) return { ok: false, message: `must use ${schemes.join(" or ")} (got ${u.protocol})` };
  if (u.username !== "" || u.password !== "") return { ok: false, message: "must not carry credentials" };
  if ((u.pathname !== "/" && u.pathname !== "") || u.search !== "" || u.hash !== "") return { ok: false, message: "must be an origin (scheme://host[:port]) without path, query or fragment" };
  return { ok: true, origin: u.origin };
}

export interface DeclaredEndpointVerifierOptions {
  /** The HMAC key (default: 32 random bytes; inject one to pin every byte in a test). */
  readonly key?: Buffer;
  /** Maximum descriptor lifetime in ms (default one hour); an attestation may ask for less. */
  readonly ttlMs?: number;
  /**
   * Lanes this class may describe: lane id → lane kind (one of NETWORK_LANE_KINDS, which fixes
   * the endpoint schemes). Default: the lane ids http, jsonrpc, sse, websocket as their kinds.
   */
  readonly lanes?: Readonly<Record<string, string>>;
}

export class DeclaredEndpointVerifier implements TargetVerifier {
  readonly verifier_id = DECLARED_ENDPOINT_VERIFIER_ID;
  readonly attestation_types = Object.freeze([DECLARED_ENDPOINT_CLASS]);
  readonly capability_classes = Object.freeze([DECLARED_ENDPOINT_CLASS]);
  private readonly key: Buffer;
  private readonly ttlMs: number;
  private readonly lanes: ReadonlyMap<string, readonly string[]>;

  constructor(opts: DeclaredEndpointVerifierOptions = {}) {
    this.key = opts.key ?? randomBytes(32);
    this.ttlMs = opts.ttlMs ?? DECLARED_ENDPOINT_DEFAULT_TTL_MS;
    const lanes = new Map<string, readonly string[]>();
    for (const [id, kind] of Object.entries(opts.lanes ?? Object.fromEntries(NETWORK_LANE_KINDS.map((k) => [k, k])))) {
      const schemes = ENDPOINT_SCHEMES[kind];
      if (schemes === undefined) throw new TypeError(`lane ${id}: kind ${kind} is not a network lane kind (${NETWORK_LANE_KINDS.join(", ")})`);
      lanes.set(id, schemes);
    }
    this.lanes = lanes;
  }

  private mac(fields: Record<string, unknown>): string {
    return createHmac("sha256", this.key).update(canonicalBytes(fields)).digest("base64url");
  }

  /**
   * Mints the attestation of an operator declaration (the only way to get one this verifier
   * accepts). Throws a TypeError when the lane is not one of this verifier's network lanes or the
   * endpoint is not an origin of the lane's schemes — a declaration error, not a routing decision.
   */
  mintAttestation(o: { targetId: string; laneId: string; endpoint: string; now: number; attestationId?: string; ttlMs?: number }): TargetAttestation {
    const schemes = this.lanes.get(o.laneId);
    if (schemes === undefined) throw new TypeError(`lane ${o.laneId} is not a network lane of ${DECLARED_ENDPOINT_CLASS} (${[...this.lanes.keys()].join(", ") || "none"})`);
    const norm = endpointOrigin(o.endpoint, schemes);
    if (!norm.ok) throw new TypeError(`endpoint ${norm.message}`);
    const attestation_id = o.attestationId ?? `att-${o.targetId}-${o.now}`;
    const ttl_ms = Math.min(o.ttlMs ?? this.ttlMs, this.ttlMs);
    const endpoint_origin = norm.origin;
    const declared_by = "node_config";
    const bound = { attestation_id, attestation_type: DECLARED_ENDPOINT_CLASS, target_id: o.targetId, lane_id: o.laneId, presented_at: o.now, endpoint_origin, declared_by, ttl_ms };
    return makeTargetAttestation({
      contract_version: CONTRACT_VERSION,
      attestation_id,
      attestation_type: DECLARED_ENDPOINT_CLASS,
      target_id: o.targetId,
      lane_id: o.laneId,
      presented_at: o.now,
      evidence: { endpoint_origin, declared_by, ttl_ms, mac: this.mac(bound) },
      claimed_capability_classes: [DECLARED_ENDPOINT_CLASS],
    });
  }

  handles(att: TargetAttestation): boolean {
    return att.attestation_type === DECLARED_ENDPOINT_CLASS;
  }

  verify(att: TargetAttestation, ctx: TargetVerifyContext): TargetVerdict {
    const fail = (reason: string, message: string): TargetVerdict => ({ ok: false, message, details: { reason } });
    if (att.attestation_type !== DECLARED_ENDPOINT_CLASS) return fail("wrong_type", `attestation type ${att.attestation_type} is not ${DECLARED_ENDPOINT_CLASS}`);
    if (att.target_id === undefined || att.lane_id === undefined) return fail("incomplete", "attestation must name target_id and lane_id");
    const schemes = this.lanes.get(att.lane_id);
    if (schemes === undefined) return fail("lane_not_network", `lane ${att.lane_id} is not a network lane for ${DECLARED_ENDPOINT_CLASS}`);
    const { endpoint_origin, declared_by, mac, ttl_ms } = att.evidence;
    if (typeof endpoint_origin !== "string" || typeof declared_by !== "string" || typeof mac !== "string" || typeof ttl_ms !== "number") {
      return fail("evidence_missing", "attestation evidence must carry endpoint_origin, declared_by, ttl_ms and mac");
    }
    if (!Number.isSafeInteger(ttl_ms) || ttl_ms <= 0) return fail("bad_ttl", "attestation ttl_ms must be a positive integer");
    const expected = Buffer.from(
      this.mac({ attestation_id: att.attestation_id, attestation_type: att.attestation_type, target_id: att.target_id, lane_id: att.lane_id, presented_at: att.presented_at, endpoint_origin, declared_by, ttl_ms }),
    );
    const got = Buffer.from(mac);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return fail("mac_mismatch", "attestation was not minted by this verifier");
    const norm = endpointOrigin(endpoint_origin, schemes);
    if (!norm.ok || norm.origin !== endpoint_origin) return fail("bad_endpoint", `endpoint_origin is not a ${schemes.join("/")} origin of lane ${att.lane_id}`);
    if (att.presented_at > ctx.now) return fail("presented_in_future", "attestation presented_at is in the future");
    const expiresAt = att.presented_at + Math.min(ttl_ms, this.ttlMs);
    if (ctx.now >= expiresAt) return fail("attestation_expired", "attestation lifetime has ended (presented_at + ttl_ms); mint a new one");
    const secure = endpoint_origin.startsWith("https:") || endpoint_origin.startsWith("wss:");
    const unsigned = {
      contract_version: CONTRACT_VERSION,
      target_id: att.target_id,
      lane_id: att.lane_id,
      attested_capability_classes: [DECLARED_ENDPOINT_CLASS], // claimed classes are ignored
      verifier_id: this.verifier_id,
      attestation_id: att.attestation_id,
      attested_at: ctx.now,
      expires_at: expiresAt,
      metadata: {
        endpoint_origin,
        declared_by,
        // the lane's client runs in this node's process; the endpoint is wherever the origin resolves
        placement: "local",
        remote_identity: secure ? "tls_system_trust_store" : "none",
        isolation: "none",
        sandbox: false,
      },
    };
    return { ok: true, descriptor: makeTargetDescriptor({ ...unsigned, signature: this.mac(unsigned) }) };
  }
}
