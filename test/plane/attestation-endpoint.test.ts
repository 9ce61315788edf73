/**
 * `declared-endpoint-weak`: the verifier (minting, MAC, expiry, lanes, origin normalisation), the
 * node's endpoint match at target selection (fail closed), the config rules (errors name the key)
 * and a config-built node running real http requests against local node:http servers.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/core/clock.js";
import { CairnError } from "../../src/core/errors.js";
import {
  DECLARED_ENDPOINT_CLASS,
  DECLARED_ENDPOINT_VERIFIER_ID,
  DeclaredEndpointVerifier,
  endpointOrigin,
} from "../../src/plane/attestation/declared-endpoint.js";
import { LOCAL_WEAK_CLASS, LocalWeakVerifier } from "../../src/plane/attestation/local-weak.js";
import { signAuthorityRef } from "../../src/plane/authority/ed25519.js";
import { buildNodeFromConfig } from "../../src/plane/config/build.js";
import { resolveNodeConfig } from "../../src/plane/config/node-config.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { makeTargetAttestation, type TargetAttestation } from "../../src/plane/contracts/target.js";
import { MemoryEvidenceSink } from "../../src/plane/evidence/sinks.js";
import type { Lane } from "../../src/plane/lanes/lane.js";
import { EchoLane, T0, keys } from "./node-helpers.js";
import { exec } from "./fixtures/lanes/harness.js";
import { PlaneNode } from "../../src/plane/node/node.js";
import { HttpLane } from "../../src/plane/lanes/http.js";
import { SseLane } from "../../src/plane/lanes/sse.js";
import { WebSocketLane } from "../../src/plane/lanes/websocket.js";
import { JsonRpcLane } from "../../src/plane/lanes/jsonrpc.js";
import { Ed25519AuthorityVerifier } from "../../src/plane/authority/ed25519.js";

const KEY = Buffer.alloc(32, 5);
const k = keys(4);
const PUB = k.publicKey.export({ format: "pem", type: "spki" }).toString();

/** A clock the test moves. */
function movingClock(t: number): Clock & { set(t: number): void } {
  let now = t;
  return { now: () => now, set: (x: number) => void (now = x) } as Clock & { set(t: number): void };
}

describe("DeclaredEndpointVerifier", () => {
  const v = new DeclaredEndpointVerifier({ key: KEY, ttlMs: 60_000, lanes: { http: "http", ws: "websocket", rpc: "jsonrpc" } });

  it("mints a descriptor that binds the declared origin; claimed classes are ignored; expiry = presented_at + ttl", () => {
    const att = v.mintAttestation({ targetId: "billing", laneId: "http", endpoint: "HTTP://LocalHost:80/", now: T0, ttlMs: 30_000 });
    expect(att.evidence).toEqual({ endpoint_origin: "http://localhost", declared_by: "node_config", ttl_ms: 30_000, mac: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const forged = makeTargetAttestation({ ...att, claimed_capability_classes: ["tee-strong"] });
    const r = v.verify(forged, { now: T0 + 10 });
    if (!r.ok) throw new Error(r.message);
    expect(r.descriptor).toMatchObject({
      target_id: "billing",
      lane_id: "http",
      verifier_id: DECLARED_ENDPOINT_VERIFIER_ID,
      attested_capability_classes: [DECLARED_ENDPOINT_CLASS],
      attested_at: T0 + 10,
      expires_at: T0 + 30_000,
      metadata: { endpoint_origin: "http://localhost", declared_by: "node_config", remote_identity: "none", isolation: "none", sandbox: false },
    });
    // an https origin: the only identity check is TLS against the system trust store
    const tls = v.verify(v.mintAttestation({ targetId: "b", laneId: "http", endpoint: "https://billing.example:8443", now: T0 }), { now: T0 });
    expect(tls.ok && tls.descriptor.metadata).toMatchObject({ endpoint_origin: "https://billing.example:8443", remote_identity: "tls_system_trust_store" });
    // ttl is capped by the verifier's
    const long = v.verify(v.mintAttestation({ targetId: "b", laneId: "http", endpoint: "http://a", now: T0, ttlMs: 10_000_000 }), { now: T0 });
    expect(long.ok && long.descriptor.expires_at).toBe(T0 + 60_000);
  });

  it("refuses a swapped origin, another verifier's attestation, stale and future attestations", () => {
    const att = v.mintAttestation({ targetId: "billing", laneId: "http", endpoint: "http://127.0.0.1:8080", now: T0 });
    const reason = (a: TargetAttestation, now: number) => {
      const r = v.verify(a, { now });
      return r.ok ? "ok" : r.details.reason;
    };
    expect(reason(att, T0)).toBe("ok");
    expect(reason(makeTargetAttestation({ ...att, evidence: { ...att.evidence, endpoint_origin: "http://127.0.0.1:9999" } }), T0)).toBe("mac_mismatch");
    expect(reason(makeTargetAttestation({ ...att, lane_id: "ws" }), T0)).toBe("mac_mismatch");
    const other = new DeclaredEndpointVerifier({ key: Buffer.alloc(32, 6), lanes: { http: "http" } });
    expect(reason(other.mintAttestation({ targetId: "billing", laneId: "http", endpoint: "http://127.0.0.1:8080", now: T0 }), T0)).toBe("mac_mismatch");
    expect(reason(att, T0 - 1)).toBe("presented_in_future");
    expect(reason(att, T0 + 59_999)).toBe("ok");
    expect(reason(att, T0 + 60_000)).toBe("attestation_expired");
    const { mac: _m, ...noMac } = att.evidence;
    expect(reason(makeTargetAttestation({ ...att, evidence: noMac }), T0)).toBe("evidence_missing");
  });

  it("is not accepted for process (same-host) lanes; schemes follow the lane kind", () => {
    const withProcess = new DeclaredEndpointVerifier({ key: KEY, lanes: { http: "http" } });
    expect(() => withProcess.mintAttestation({ targetId: "p", laneId: "process", endpoint: "http://127.0.0.1:1", now: T0 })).toThrow(/lane process is not a network lane/);
    expect(() => new DeclaredEndpointVerifier({ lanes: { process: "process" } })).toThrow(/not a network lane kind/);
    // a hand-made attestation for the process lane is refused by verify as well
    const att = makeTargetAttestation({
      contract_version: 1, attestation_id: "a", attestation_type: DECLARED_ENDPOINT_CLASS, target_id: "p", lane_id: "process", presented_at: T0,
      evidence: { endpoint_origin: "http://127.0.0.1:1", declared_by: "node_config", ttl_ms: 1000, mac: "x" }, claimed_capability_classes: [],
    });
    const r = withProcess.verify(att, { now: T0 });
    expect(r.ok ? "ok" : r.details.reason).toBe("lane_not_network");
    expect(() => v.mintAttestation({ targetId: "w", laneId: "ws", endpoint: "http://127.0.0.1:1", now: T0 })).toThrow(/must use ws: or wss:/);
    expect(v.verify(v.mintAttestation({ targetId: "w", laneId: "ws", endpoint: "wss://chat.example", now: T0 }), { now: T0 }).ok).toBe(true);
    expect(endpointOrigin("http://h/path", ["http:"])).toEqual({ ok: false, message: "must be an origin (scheme://host[:port]) without path, query or fragment" });
    expect(endpointOrigin("http://u:p@h", ["http:"])).toEqual({ ok: false, message: "must not carry credentials" });
    expect(endpointOrigin("http://h?x=1", ["http:"]).ok).toBe(false);
    expect(endpointOrigin("h:80", ["http:"]).ok).toBe(false);
  });

  it("local-process-weak still refuses network lanes", () => {
    const weak = new LocalWeakVerifier({ key: KEY, host: "h" });
    const r = weak.verify(weak.mintAttestation({ targetId: "t", laneId: "http", now: T0 }), { now: T0 });
    expect(r.ok ? "ok" : r.details.reason).toBe("lane_not_same_host");
  });
});

describe("Lane.requestOrigin of the network lanes", () => {
  it("http / sse: origin of an http(s) payload.url; websocket: of a ws(s) url; jsonrpc: of its http transport", () => {
    expect(new HttpLane().requestOrigin({ url: "http://127.0.0.1:8080/a?b=1" })).toBe("http://127.0.0.1:8080");
    expect(new HttpLane().requestOrigin({ url: "ws://127.0.0.1:8080/" })).toBeNull();
    expect(new HttpLane().requestOrigin({ nourl: 1 })).toBeNull();
    expect(new HttpLane().requestOrigin({ url: "not a url" })).toBeNull();
    expect(new SseLane().requestOrigin({ url: "https://Events.Example:443/s" })).toBe("https://events.example");
    expect(new WebSocketLane().requestOrigin({ url: "wss://chat.example:8443/x" })).toBe("wss://chat.example:8443");
    expect(new WebSocketLane().requestOrigin({ url: "https://chat.example/" })).toBeNull();
    expect(new JsonRpcLane({ transport: { kind: "http", url: "http://127.0.0.1:7000/rpc" } }).requestOrigin()).toBe("http://127.0.0.1:7000");
    expect(new JsonRpcLane({ transport: { kind: "stdio", command: "true" } }).requestOrigin()).toBeNull();
  });
});

describe("node: endpoint-bound targets are matched by origin, fail closed", () => {
  it("a lane that cannot report its request origin is never routed to an endpoint-bound target", async () => {
    const clock = movingClock(T0);
    const node = new PlaneNode({ nodeId: "n", clock, ids: sequentialIds(clock) });
    const lane = new EchoLane("http"); // no requestOrigin
    const v = new DeclaredEndpointVerifier({ key: KEY, lanes: { http: "http" } });
    node.registerLane(lane).registerTargetVerifier(v);
    node.registerAuthorityVerifier(new Ed25519AuthorityVerifier({ audience: "aud", trustedKeys: [{ id: "ops", key: k.publicKey }], policy: [{ subject: "alice", lanes: ["*"], operations: ["*"] }] }));
    node.completeRegistration();
    expect(node.connectTarget(v.mintAttestation({ targetId: "svc", laneId: "http", endpoint: "http://127.0.0.1:8080", now: T0 })).ok).toBe(true);
    const unsigned = { contract_version: 1, lane_id: "http", operation: "request", idempotency_key: "i", payload: { url: "http://127.0.0.1:8080/x" }, acceptable_attestation: { classes: [DECLARED_ENDPOINT_CLASS] } };
    const authority_ref = signAuthorityRef({ privateKey: k.privateKey, keyId: "ops", subject: "alice", audience: "aud", request: unsigned, issuedAt: T0, expiresAt: T0 + 1000 });
    const r = await node.execute({ ...unsigned, authority_ref });
    expect(r.status).toBe("rejected");
    expect(r.rejection).toMatchObject({ reason: "no_satisfying_attested_target", details: { reason: "endpoint_not_attested", origin: null } });
    expect(lane.calls).toHaveLength(0);
  });
});

const CONFIG = (endpoints: Array<[string, string]>, extraLane = "") => ({
  node_id: "n1",
  authority: { audience: "aud", trusted_keys: [{ id: "ops", public_key: PUB }], policy: [{ subject: "alice", lanes: ["*"], operations: ["*"] }] },
  lanes: ["inline", "process", "http", ...(extraLane === "" ? [] : [extraLane])],
  targets: endpoints.map(([id, ep]) => ({ target_id: id, lane_id: "http", attestation_class: DECLARED_ENDPOINT_CLASS, endpoint: ep, ttl_seconds: 60 })),
});

function configError(raw: unknown): string {
  try {
    const cfg = resolveNodeConfig(raw, "/", "n.yaml");
    const clock = movingClock(T0);
    void buildNodeFromConfig(cfg, { clock, ids: sequentialIds(clock), store: null }).node.close();
  } catch (e) {
    return (e as CairnError).message;
  }
  return "no error";
}

describe("config: declared-endpoint-weak targets", () => {
  it("errors name the key", () => {
    const base = CONFIG([["billing", "http://127.0.0.1:8080"]]);
    const target = (t: Record<string, unknown>) => ({ ...base, lanes: ["inline", "process", "http", "websocket", { kind: "jsonrpc", id: "rpc", transport: { kind: "http", url: "http://127.0.0.1:7000/rpc" } }, { kind: "jsonrpc", id: "peer", transport: { kind: "stdio", command: "true" } }], targets: [t] });
    const d = { target_id: "t", attestation_class: DECLARED_ENDPOINT_CLASS };
    expect(configError(base)).toBe("no error");
    expect(configError(target({ ...d, lane_id: "process", endpoint: "http://127.0.0.1:1" }))).toBe(
      'n.yaml: targets[0].attestation_class: declared-endpoint-weak is for network lanes (http, jsonrpc, sse, websocket); lane "process" is a process lane',
    );
    expect(configError(target({ ...d, lane_id: "http" }))).toBe('n.yaml: targets[0].endpoint: required: a target on the http lane "http" must declare its endpoint origin (scheme://host[:port])');
    expect(configError(target({ target_id: "t", lane_id: "http", attestation_class: LOCAL_WEAK_CLASS }))).toBe(
      'n.yaml: targets[0].attestation_class: local-process-weak covers same-host lanes only (inline, worker, process, jsonrpc over stdio); a target on the http lane "http" needs declared-endpoint-weak and an endpoint',
    );
    expect(configError(target({ target_id: "t", lane_id: "process", attestation_class: LOCAL_WEAK_CLASS, endpoint: "http://a" }))).toBe("n.yaml: targets[0].endpoint: only a declared-endpoint-weak target declares an endpoint");
    expect(configError(target({ ...d, lane_id: "http", endpoint: "http://127.0.0.1:8080/api" }))).toBe("n.yaml: targets[0].endpoint: must be an origin (scheme://host[:port]) without path, query or fragment");
    expect(configError(target({ ...d, lane_id: "http", endpoint: "ftp://h" }))).toBe("n.yaml: targets[0].endpoint: must use http: or https: (got ftp:)");
    expect(configError(target({ ...d, lane_id: "websocket", endpoint: "http://h" }))).toBe("n.yaml: targets[0].endpoint: must use ws: or wss: (got http:)");
    expect(configError(target({ ...d, lane_id: "websocket", endpoint: "ws://h:81" }))).toBe("no error");
    expect(configError(target({ ...d, lane_id: "rpc", endpoint: "http://127.0.0.1:7000" }))).toBe("no error");
    expect(configError(target({ ...d, lane_id: "rpc", endpoint: "http://127.0.0.1:7001" }))).toBe('n.yaml: targets[0].endpoint: http://127.0.0.1:7001 is not the origin of lane "rpc"\'s transport.url (http://127.0.0.1:7000)');
    // a jsonrpc lane over stdio is a same-host lane (its peer is a local subprocess): local-process-weak, never an endpoint (u1 F12)
    expect(configError(target({ ...d, lane_id: "peer", endpoint: "http://127.0.0.1:7000" }))).toBe(
      'n.yaml: targets[0].attestation_class: declared-endpoint-weak is for network lanes; lane "peer" is a jsonrpc lane over the stdio transport (a local subprocess, no network endpoint): its targets are local-process-weak',
    );
    expect(configError(target({ target_id: "t", lane_id: "peer", attestation_class: LOCAL_WEAK_CLASS }))).toBe("no error");
    expect(configError(target({ ...d, lane_id: "http", endpoint: "http://a", extra: 1 }))).toBe("n.yaml: targets[0].extra: unknown key");
    // an operator allow-list on the lane must include every declared endpoint
    expect(configError({ ...base, lanes: ["inline", "process", { kind: "http", allowed_origins: ["http://127.0.0.1:9"] }] })).toBe(
      "n.yaml: lanes[2].allowed_origins: does not include the declared endpoint http://127.0.0.1:8080 of a declared-endpoint-weak target on this lane",
    );
    expect(configError({ ...base, lanes: ["inline", "process", { kind: "http", allowed_origins: ["http://127.0.0.1:9", "http://127.0.0.1:8080/"] }] })).toBe("no error");
  });

  it("normalises the endpoint; the verifier is registered only when a target uses the class", async () => {
    const cfg = resolveNodeConfig(CONFIG([["billing", "HTTP://127.0.0.1:8080/"]]), "/", "n.yaml");
    expect(cfg.targets).toEqual([{ target_id: "billing", lane_id: "http", attestation_class: DECLARED_ENDPOINT_CLASS, ttl_seconds: 60, endpoint: "http://127.0.0.1:8080" }]);
    const clock = movingClock(T0);
    const built = buildNodeFromConfig(cfg, { clock, ids: sequentialIds(clock), store: null });
    expect(built.node.describe().registered_target_verifiers.map((v) => v.verifier_id)).toEqual([DECLARED_ENDPOINT_VERIFIER_ID, "cairn.plane:local-weak-verifier:v1"]);
    await built.node.close();
    const none = buildNodeFromConfig(resolveNodeConfig(CONFIG([]), "/", "n.yaml"), { clock, ids: sequentialIds(clock), store: null });
    expect(none.node.describe().registered_target_verifiers.map((v) => v.verifier_id)).toEqual(["cairn.plane:local-weak-verifier:v1"]);
    await none.node.close();
  });
});

describe("config-built node: http requests to declared endpoints", () => {
  const servers: Server[] = [];
  const hits: string[][] = [[], []];
  const origins: string[] = [];
  beforeAll(async () => {
    for (const i of [0, 1]) {
      const s = createServer((req: IncomingMessage, res) => {
        hits[i]!.push(`${req.method} ${req.url}`);
        res.writeHead(200, { "content-type": "text/plain" }).end(`server${i}`);
      });
      await new Promise<void>((ok) => s.listen(0, "127.0.0.1", ok));
      servers.push(s);
      origins.push(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    for (const s of servers) await new Promise<void>((ok) => s.close(() => ok()));
  });

  function node(endpoints: Array<[string, string]>, clock = movingClock(T0)) {
    const sink = new MemoryEvidenceSink();
    const built = buildNodeFromConfig(resolveNodeConfig(CONFIG(endpoints), "/", "n.yaml"), { clock, ids: sequentialIds(clock), store: null, sinks: [sink] });
    const send = (url: string, now = T0) => {
      const unsigned = { contract_version: 1, lane_id: "http", operation: "request", idempotency_key: "i", payload: { url, timeout_ms: 5000 }, acceptable_attestation: { classes: [DECLARED_ENDPOINT_CLASS] } };
      const authority_ref = signAuthorityRef({ privateKey: k.privateKey, keyId: "ops", subject: "alice", audience: "aud", request: unsigned, issuedAt: now, expiresAt: now + 1000 });
      return built.node.execute({ ...unsigned, authority_ref });
    };
    return { built, sink, send, clock };
  }

  it("executes against the declared origin; another origin is refused before any I/O", async () => {
    hits[0]!.length = 0;
    hits[1]!.length = 0;
    const { built, sink, send } = node([["billing", origins[0]!]]);
    const ok = await send(`${origins[0]}/invoice?id=7`);
    expect(ok.status).toBe("succeeded");
    expect(ok.output).toMatchObject({ status_code: 200, body: "server0", body_encoding: "utf8", body_truncated: false });
    expect(sink.records.map((e) => [e.evidence_type, e.target_id, e.attestation_class, e.target_verifier_id])).toEqual([
      ["admission.accepted", "billing", DECLARED_ENDPOINT_CLASS, DECLARED_ENDPOINT_VERIFIER_ID],
      ["target.selected", "billing", DECLARED_ENDPOINT_CLASS, DECLARED_ENDPOINT_VERIFIER_ID],
      ["execution.started", "billing", DECLARED_ENDPOINT_CLASS, DECLARED_ENDPOINT_VERIFIER_ID],
      ["execution.completed", "billing", DECLARED_ENDPOINT_CLASS, DECLARED_ENDPOINT_VERIFIER_ID],
    ]);
    // a different port, a different host spelling, another scheme: each is another origin
    const port0 = new URL(origins[0]!).port;
    for (const url of [`${origins[1]}/invoice`, `http://localhost:${port0}/invoice`, `https://127.0.0.1:${port0}/`]) {
      const r = await send(url);
      expect(r.status, url).toBe("rejected");
      expect(r.rejection, url).toMatchObject({ reason: "no_satisfying_attested_target", details: { reason: "endpoint_not_attested", lane_id: "http", origin: new URL(url).origin } });
    }
    expect(hits).toEqual([["GET /invoice?id=7"], []]);
    // defence in depth: the lane itself only allows the declared origin
    const lane = built.lanes.find((l) => l.id === "http") as Lane;
    const direct = await exec(lane, "request", { url: `${origins[1]}/x` });
    expect(direct.outcome.failure).toMatchObject({ class: "policy_denied", details: { reason: "origin_not_allowed", allowed: [origins[0]] } });
    expect(hits[1]).toEqual([]);
    await built.node.close();
  });

  it("two endpoints on one lane: each request goes to the target declared for its origin; descriptors expire", async () => {
    hits[0]!.length = 0;
    hits[1]!.length = 0;
    const clock = movingClock(T0);
    const { built, sink, send } = node([["a-billing", origins[0]!], ["b-search", origins[1]!]], clock);
    const r1 = await send(`${origins[1]}/q`);
    expect(r1.status).toBe("succeeded");
    expect(sink.records.find((e) => e.evidence_type === "target.selected")?.target_id).toBe("b-search");
    const r0 = await send(`${origins[0]}/p`);
    expect(r0.output).toMatchObject({ body: "server0" });
    expect(hits).toEqual([["GET /p"], ["GET /q"]]);
    clock.set(T0 + 60_000);
    const late = await send(`${origins[0]}/p`, T0 + 60_000);
    expect(late.rejection?.reason).toBe("target_descriptor_expired");
    expect(hits[0]).toEqual(["GET /p"]);
    await built.node.close();
  });
});
