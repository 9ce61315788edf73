/**
 * Builds a registered, gated node from a NodeConfig:
 *   1. lanes (via the lane builder; option errors name `lanes[i].<field>`);
 *   2. the `local-process-weak` target verifier, limited to the configured lanes of kind
 *      inline / worker / process whose placement is local;
 *   3. the Ed25519 authority verifier (audience, trusted keys, policy);
 *   4. evidence sinks: JSONL file and/or the store;
 *   5. completeRegistration();
 *   6. each configured target: the verifier mints its attestation, the node verifies and routes it.
 */
import { dirname } from "node:path";
import type { Clock } from "../../core/clock.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { Store } from "../../store/store.js";
import type { IdSource } from "../contracts/ids.js";
import { LOCAL_WEAK_CLASS, LocalWeakVerifier } from "../attestation/local-weak.js";
import { Ed25519AuthorityVerifier, ed25519PublicKey } from "../authority/ed25519.js";
import { JsonlEvidenceSink, type EvidenceSink } from "../evidence/sinks.js";
import { StoreEvidenceSink } from "../evidence/store-sink.js";
import { buildLane, type InlineFunction } from "../lanes/index.js";
import type { Lane } from "../lanes/lane.js";
import { PLACEMENT_SURFACES } from "../placements/placement.js";
import { PlaneNode } from "../node/node.js";
import type { NodeConfig } from "./node-config.js";

/** Lane kinds that run on the node's own host (eligible for `local-process-weak`). */
export const SAME_HOST_LANE_KINDS: readonly string[] = Object.freeze(["inline", "worker", "process"]);

export interface BuildNodeOptions {
  readonly clock: Clock;
  readonly ids: IdSource;
  /**
   * The store for `evidence.store` (the caller closes it), or a function that opens it on the first
   * evidence record. Required if the config asks for one.
   */
  readonly store?: Store | (() => Store) | null;
  /** Functions for inline lanes, by operation. */
  readonly inlineFunctions?: Readonly<Record<string, InlineFunction>>;
  /** Pins the local-weak verifier (tests): HMAC key and host name. */
  readonly localWeak?: { readonly key?: Buffer; readonly host?: string };
  /** Extra sinks registered after the configured ones. */
  readonly sinks?: readonly EvidenceSink[];
}

export interface BuiltNode {
  readonly node: PlaneNode;
  readonly lanes: readonly Lane[];
  /** The store sink, when the config records evidence in a store. */
  readonly storeSink: StoreEvidenceSink | null;
}

function configError(cfg: NodeConfig, key: string, message: string, cause?: unknown): CairnError {
  const file = cfg.file ?? "node config";
  return new CairnError(ErrorCode.INVALID_INPUT, `${file}: ${key}: ${message}`, { file, key }, cause === undefined ? undefined : { cause });
}

export function buildNodeFromConfig(cfg: NodeConfig, o: BuildNodeOptions): BuiltNode {
  const lanes: Lane[] = [];
  try {
    return build(cfg, o, lanes);
  } catch (err) {
    // release whatever lanes were built (pools, sockets) before reporting the config error
    for (const l of lanes) void l.close?.().catch(() => undefined);
    throw err;
  }
}

function build(cfg: NodeConfig, o: BuildNodeOptions, lanes: Lane[]): BuiltNode {
  const node = new PlaneNode({ nodeId: cfg.node_id, clock: o.clock, ids: o.ids });
  const baseDir = cfg.file === null ? undefined : dirname(cfg.file);
  const localLanes: string[] = [];
  cfg.lanes.forEach((l, i) => {
    let lane: Lane;
    try {
      lane = buildLane(l.kind, l.options, { baseDir, inlineFunctions: o.inlineFunctions });
    } catch (err) {
      const path = err instanceof CairnError && typeof err.details.path === "string" ? err.details.path : "$";
      const key = path === "$.kind" ? `lanes[${i}].kind` : `lanes[${i}]${path.slice(1)}`;
      throw configError(cfg, key, err instanceof CairnError ? err.message.replace(/^lane [^:]*: [^:]*: /, "") : String(err), err);
    }
    lanes.push(lane);
    node.registerLane(lane);
    const surfaces = lane.capabilities().surfaces;
    if (SAME_HOST_LANE_KINDS.includes(l.kind) && surfaces.every((s) => s === PLACEMENT_SURFACES.local)) localLanes.push(lane.id);
  });
  const maxTtl = Math.max(3_600_000, ...cfg.targets.map((t) => t.ttl_seconds * 1000));
  const weak = new LocalWeakVerifier({ lanes: localLanes, ttlMs: maxTtl, ...(o.localWeak ?? {}) });
  node.registerTargetVerifier(weak);
  // each trusted key is parsed on its own, so an error names exactly its index
  cfg.authority.trusted_keys.forEach((k, i) => {
    try {
      ed25519PublicKey(k.public_key, `trusted key ${k.id}`);
    } catch (err) {
      throw configError(cfg, `authority.trusted_keys[${i}]${k.source === "inline" ? ".public_key" : ".public_key_file"}`, err instanceof Error ? err.message : String(err), err);
    }
  });
  let authority: Ed25519AuthorityVerifier;
  try {
    authority = new Ed25519AuthorityVerifier({
      audience: cfg.authority.audience,
      trustedKeys: cfg.authority.trusted_keys.map((k) => ({ id: k.id, key: k.public_key })),
      policy: cfg.authority.policy,
    });
  } catch (err) {
    throw configError(cfg, "authority", err instanceof Error ? err.message : String(err), err);
  }
  node.registerAuthorityVerifier(authority);
  if (cfg.evidence.jsonl !== null) node.registerEvidenceSink(new JsonlEvidenceSink(cfg.evidence.jsonl, "jsonl"));
  let storeSink: StoreEvidenceSink | null = null;
  if (cfg.evidence.store !== null) {
    if (o.store === undefined || o.store === null) throw configError(cfg, "evidence.store", "a store is required but none was opened");
    storeSink = new StoreEvidenceSink(o.store, "store");
    node.registerEvidenceSink(storeSink);
  }
  for (const s of o.sinks ?? []) node.registerEvidenceSink(s);
  node.completeRegistration();
  cfg.targets.forEach((t, i) => {
    if (t.attestation_class !== LOCAL_WEAK_CLASS) throw configError(cfg, `targets[${i}].attestation_class`, "unsupported attestation class");
    const now = o.clock.now();
    const r = node.connectTarget(weak.mintAttestation({ targetId: t.target_id, laneId: t.lane_id, now, ttlMs: t.ttl_seconds * 1000 }));
    if (!r.ok) throw configError(cfg, `targets[${i}]`, `${r.rejection.reason}: ${r.rejection.message}`);
  });
  return { node, lanes, storeSink };
}
