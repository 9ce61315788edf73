/**
 * Builds a registered, gated node from a NodeConfig:
 *   1. lanes (via the lane builder; option errors name `lanes[i].<field>`);
 *   2. the `local-process-weak` target verifier, limited to the configured lanes of kind
 *      inline / worker / process whose placement is local and jsonrpc lanes over the stdio
 *      transport (a peer the node starts on this host), and the `declared-endpoint-weak`
 *      verifier (registered only when a target uses that class), limited to the configured
 *      lanes of kind http / sse / websocket and jsonrpc over http. An
 *      http / sse / websocket lane with declared-endpoint targets gets `allowed_origins` = the
 *      declared origins of its targets (an operator-set `allowed_origins` must include each of
 *      them): besides admission's endpoint match, the lane itself refuses any other origin
 *      (`policy_denied`, origin_not_allowed) — defence in depth, fail closed;
 *   3. the Ed25519 authority verifier (audience, trusted keys, policy);
 *   4. evidence sinks: JSONL file and/or the store;
 *   5. completeRegistration();
 *   6. each configured target: the verifier mints its attestation, the node verifies and routes it.
 */
import { dirname } from "node:path";
import type { Clock } from "../../core/clock.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { Store } from "../../store/store.js";
import { describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";
import { checkClockOption, checkIdsOption, type IdSource } from "../contracts/ids.js";
import { DECLARED_ENDPOINT_CLASS, DeclaredEndpointVerifier, NETWORK_LANE_KINDS } from "../attestation/declared-endpoint.js";
import { LOCAL_WEAK_CLASS, LocalWeakVerifier } from "../attestation/local-weak.js";
import { Ed25519AuthorityVerifier, ed25519PublicKey } from "../authority/ed25519.js";
import { JsonlEvidenceSink, type EvidenceSink } from "../evidence/sinks.js";
import { StoreEvidenceSink } from "../evidence/store-sink.js";
import { buildLane, type InlineFunction } from "../lanes/index.js";
import type { Lane } from "../lanes/lane.js";
import { PLACEMENT_SURFACES } from "../placements/placement.js";
import { PlaneNode } from "../node/node.js";
import { isStdioJsonRpc, type NodeConfig } from "./node-config.js";

/** Lane kinds that run on the node's own host (eligible for `local-process-weak`). */
export const SAME_HOST_LANE_KINDS: readonly string[] = Object.freeze(["inline", "worker", "process"]);
/** Network lane kinds whose URL comes from the request (their `allowed_origins` is set from declared endpoints). */
const URL_LANE_KINDS: readonly string[] = Object.freeze(["http", "sse", "websocket"]);

/** Normalises an origin list entry; null when it is not a URL (the lane builder reports it). */
function originOf(s: unknown): string | null {
  if (typeof s !== "string") return null;
  try {
    return new URL(s).origin;
  } catch {
    return null;
  }
}

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
  /** Pins the declared-endpoint verifier (tests): HMAC key. */
  readonly declaredEndpoint?: { readonly key?: Buffer };
  /** Extra sinks registered after the configured ones. */
  readonly sinks?: readonly EvidenceSink[];
}

export interface BuiltNode {
  readonly node: PlaneNode;
  readonly lanes: readonly Lane[];
  /** The store sink, when the config records evidence in a store. */
  readonly storeSink: StoreEvidenceSink | null;
}

/** An error naming the config as the user gave it (`cfg.name`), as the loader's own errors do. */
function configError(cfg: NodeConfig, key: string, message: string, cause?: unknown): CairnError {
  const file = cfg.name;
  return new CairnError(ErrorCode.INVALID_INPUT, `${file}: ${key}: ${message}`, { file, key }, cause === undefined ? undefined : { cause });
}

/** The keys of `buildNodeFromConfig`'s options (any other is refused, E_USAGE with a did-you-mean). */
export const BUILD_NODE_OPTION_KEYS: readonly string[] = Object.freeze(["clock", "ids", "store", "inlineFunctions", "localWeak", "declaredEndpoint", "sinks"]);

/**
 * The arguments' shape, checked before anything is built: `cfg` a loaded NodeConfig (what
 * `loadNodeConfig` / `parseNodeConfig` return), `o` an object with only BUILD_NODE_OPTION_KEYS,
 * a Clock and an IdSource — E_USAGE naming the option otherwise (never a TypeError at build or at
 * the first request).
 */
function checkBuildArguments(cfg: unknown, o: unknown): asserts o is BuildNodeOptions {
  const c = cfg as Partial<Record<keyof NodeConfig, unknown>> | null;
  if (!isOptionsObject(c) || typeof c.node_id !== "string" || !Array.isArray(c.lanes) || !Array.isArray(c.targets) || !isOptionsObject(c.authority) || !isOptionsObject(c.evidence) || typeof c.name !== "string" || (c.file !== null && typeof c.file !== "string")) {
    throw new CairnError(ErrorCode.USAGE, `buildNodeFromConfig: cfg must be a loaded NodeConfig (from loadNodeConfig or resolveNodeConfig), got ${describeArgument(cfg)}`, { field: "cfg" });
  }
  if (!isOptionsObject(o)) throw new CairnError(ErrorCode.USAGE, `buildNodeFromConfig: options must be an object {clock, ids, …}, got ${describeArgument(o)}`, { field: "options" });
  refuseUnknownKeys(o, BUILD_NODE_OPTION_KEYS, "buildNodeFromConfig option", "buildNodeFromConfig options");
  checkClockOption(o.clock, "buildNodeFromConfig");
  checkIdsOption(o.ids, "buildNodeFromConfig");
}

export function buildNodeFromConfig(cfg: NodeConfig, o: BuildNodeOptions): BuiltNode {
  checkBuildArguments(cfg, o);
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
  const networkLanes: Record<string, string> = {};
  // the declared endpoint origins per lane id (normalised by the config loader)
  const declared = new Map<string, string[]>();
  for (const t of cfg.targets) {
    if (t.attestation_class !== DECLARED_ENDPOINT_CLASS || t.endpoint === undefined) continue;
    const list = declared.get(t.lane_id) ?? [];
    if (!list.includes(t.endpoint)) list.push(t.endpoint);
    declared.set(t.lane_id, list);
  }
  cfg.lanes.forEach((l, i) => {
    let lane: Lane;
    let options = l.options;
    const origins = declared.get(l.id);
    if (origins !== undefined && URL_LANE_KINDS.includes(l.kind)) {
      const set = options.allowed_origins;
      if (Array.isArray(set)) {
        const allowed = set.map(originOf);
        const missing = origins.find((d) => !allowed.includes(d));
        if (missing !== undefined) throw configError(cfg, `lanes[${i}].allowed_origins`, `does not include the declared endpoint ${missing} of a ${DECLARED_ENDPOINT_CLASS} target on this lane`);
      }
      options = { ...options, allowed_origins: [...origins].sort() };
    }
    try {
      lane = buildLane(l.kind, options, { baseDir, inlineFunctions: o.inlineFunctions });
    } catch (err) {
      const path = err instanceof CairnError && typeof err.details.path === "string" ? err.details.path : "$";
      const key = path === "$.kind" ? `lanes[${i}].kind` : `lanes[${i}]${path.slice(1)}`;
      throw configError(cfg, key, err instanceof CairnError ? err.message.replace(/^lane [^:]*: [^:]*: /, "") : String(err), err);
    }
    lanes.push(lane);
    node.registerLane(lane);
    const surfaces = lane.capabilities().surfaces;
    const stdio = isStdioJsonRpc(l);
    if ((SAME_HOST_LANE_KINDS.includes(l.kind) || stdio) && surfaces.every((s) => s === PLACEMENT_SURFACES.local)) localLanes.push(lane.id);
    if (NETWORK_LANE_KINDS.includes(l.kind) && !stdio) networkLanes[lane.id] = l.kind;
  });
  const maxTtl = Math.max(3_600_000, ...cfg.targets.map((t) => t.ttl_seconds * 1000));
  const weak = new LocalWeakVerifier({ lanes: localLanes, ttlMs: maxTtl, ...(o.localWeak ?? {}) });
  node.registerTargetVerifier(weak);
  // registered only when a target uses the class (a config without one describes as before)
  const endpoints = new DeclaredEndpointVerifier({ lanes: networkLanes, ttlMs: maxTtl, ...(o.declaredEndpoint ?? {}) });
  if (cfg.targets.some((t) => t.attestation_class === DECLARED_ENDPOINT_CLASS)) node.registerTargetVerifier(endpoints);
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
    const now = o.clock.now();
    let att;
    if (t.attestation_class === LOCAL_WEAK_CLASS) {
      att = weak.mintAttestation({ targetId: t.target_id, laneId: t.lane_id, now, ttlMs: t.ttl_seconds * 1000 });
    } else if (t.attestation_class === DECLARED_ENDPOINT_CLASS) {
      if (t.endpoint === undefined) throw configError(cfg, `targets[${i}].endpoint`, `required for a ${DECLARED_ENDPOINT_CLASS} target`);
      try {
        att = endpoints.mintAttestation({ targetId: t.target_id, laneId: t.lane_id, endpoint: t.endpoint, now, ttlMs: t.ttl_seconds * 1000 });
      } catch (err) {
        throw configError(cfg, `targets[${i}]`, err instanceof Error ? err.message : String(err), err);
      }
    } else {
      throw configError(cfg, `targets[${i}].attestation_class`, "unsupported attestation class");
    }
    const r = node.connectTarget(att);
    if (!r.ok) throw configError(cfg, `targets[${i}]`, `${r.rejection.reason}: ${r.rejection.message}`);
  });
  return { node, lanes, storeSink };
}
