import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import { CairnError } from "../../src/core/errors.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { signAuthorityRef } from "../../src/plane/authority/ed25519.js";
import { loadNodeConfig, resolveNodeConfig } from "../../src/plane/config/node-config.js";
import { buildNodeFromConfig } from "../../src/plane/config/build.js";
import { MemoryEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { T0, keys } from "./node-helpers.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const k = keys(3);
const PUB = k.publicKey.export({ format: "pem", type: "spki" }).toString();

function setup(yaml: string): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-plane-cfg-"));
  dirs.push(d);
  mkdirSync(join(d, "conf", "keys"), { recursive: true });
  writeFileSync(join(d, "conf", "keys", "ops.pub"), PUB);
  writeFileSync(join(d, "conf", "node.yaml"), yaml);
  return join(d, "conf", "node.yaml");
}

const YAML = `node_id: n1
authority:
  audience: aud
  trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }]
  policy: [{ subject: alice, lanes: ["*"], operations: ["*"] }]
lanes: [inline, { kind: process, id: remote, placement: { kind: ssh, destination: "u@example.invalid" } }]
targets: [{ target_id: in1, lane_id: inline, attestation_class: local-process-weak, ttl_seconds: 60 }]
evidence: { jsonl: out/evidence.jsonl, store: ev-store }
`;

describe("node config", () => {
  it("refuses a file that is not UTF-8, naming the line", () => {
    const file = setup(YAML);
    writeFileSync(file, Buffer.concat([Buffer.from(YAML.slice(0, YAML.indexOf("\n") + 1)), Buffer.from([0x23, 0x20, 0xe2, 0x82]), Buffer.from(`\n${YAML.slice(YAML.indexOf("\n") + 1)}`)]));
    expect(() => loadNodeConfig(file)).toThrow(`${file}: line 2: not valid UTF-8`);
  });

  it("resolves relative paths against the config file's folder and reads key files", () => {
    const file = setup(YAML);
    const cfg = loadNodeConfig(file);
    const base = join(file, "..");
    expect(cfg.evidence).toEqual({ jsonl: join(base, "out/evidence.jsonl"), store: join(base, "ev-store") });
    expect(cfg.authority.trusted_keys).toEqual([{ id: "ops", public_key: PUB, source: join(base, "keys/ops.pub") }]);
    expect(cfg.lanes.map((l) => [l.kind, l.id])).toEqual([
      ["inline", "inline"],
      ["process", "remote"],
    ]);
    expect(cfg.targets).toEqual([{ target_id: "in1", lane_id: "inline", attestation_class: "local-process-weak", ttl_seconds: 60 }]);
  });

  it("errors name the key", () => {
    const err = (raw: unknown) => {
      try {
        resolveNodeConfig(raw, "/", "n.yaml");
      } catch (e) {
        return (e as CairnError).message;
      }
      return "no error";
    };
    const ok = { node_id: "n", authority: { audience: "a", trusted_keys: [{ id: "x", public_key: PUB }] }, lanes: ["inline"] };
    expect(err({ ...ok, node_id: "" })).toBe("n.yaml: node_id: must be a non-empty string");
    expect(err({ ...ok, authority: { ...ok.authority, trusted_keys: [{ id: "x" }] } })).toBe("n.yaml: authority.trusted_keys[0].public_key_file: exactly one of public_key_file or public_key is required");
    expect(err({ ...ok, authority: { ...ok.authority, policy: [{ subject: "s", lanes: [], operations: ["*"] }] } })).toBe('n.yaml: authority.policy[0].lanes: must list at least one lane (or "*")');
    expect(err({ ...ok, lanes: ["inline", "inline"] })).toBe('n.yaml: lanes[1]: duplicate lane id "inline"');
    expect(err({ ...ok, evidence: { jsonl: "x", extra: 1 } })).toBe("n.yaml: evidence.extra: unknown key");
    expect(err([])).toBe("n.yaml: (top level): Expected object, received array");
  });

  it("builds a gated node: inline functions run, a local-process-weak target is refused on an ssh-placed lane", async () => {
    const file = setup(YAML);
    const cfg = loadNodeConfig(file);
    const clock = fixedClock(T0);
    const sink = new MemoryEvidenceSink();
    const built = buildNodeFromConfig(cfg, {
      clock,
      ids: sequentialIds(clock),
      store: () => {
        throw new Error("the store is opened lazily, never for this test");
      },
      inlineFunctions: { double: (p) => ({ n: ((p as { n: number }).n ?? 0) * 2 }) },
      localWeak: { key: Buffer.alloc(32, 1), host: "h" },
    });
    const d = built.node.describe();
    expect(d.registration_complete).toBe(true);
    expect(d.verified_targets.map((t) => [t.target_id, t.lane_id, t.expires_at])).toEqual([["in1", "inline", T0 + 60_000]]);
    expect(d.metadata.evidence_sinks).toEqual(["jsonl", "store"]);
    await built.node.close();

    // the same config, with the target on the ssh-placed process lane, is refused
    const bad = { ...cfg, evidence: { jsonl: null, store: null }, targets: [{ target_id: "r", lane_id: "remote", attestation_class: "local-process-weak", ttl_seconds: 60 }] };
    expect(() => buildNodeFromConfig(bad, { clock, ids: sequentialIds(clock), store: null })).toThrow(/targets\[0\]: target_attestation_unverifiable: lane remote is not a same-host lane/);

    // a run through the inline lane with evidence in JSONL and the memory sink (no store)
    const noStore = { ...cfg, evidence: { jsonl: cfg.evidence.jsonl, store: null } };
    const b2 = buildNodeFromConfig(noStore, {
      clock,
      ids: sequentialIds(clock),
      inlineFunctions: { double: (p) => ({ n: ((p as { n: number }).n ?? 0) * 2 }) },
      sinks: [sink],
    });
    const payload = { n: 21 };
    const unsigned = { contract_version: 1, lane_id: "inline", operation: "double", idempotency_key: "i", payload, acceptable_attestation: { classes: ["local-process-weak"] } };
    const authority_ref = signAuthorityRef({ privateKey: k.privateKey, keyId: "ops", subject: "alice", audience: "aud", request: unsigned, issuedAt: T0, expiresAt: T0 + 1000 });
    const r = await b2.node.execute({ ...unsigned, authority_ref });
    expect(r.status).toBe("succeeded");
    expect(r.output).toEqual({ n: 42 });
    const lines = readFileSync(cfg.evidence.jsonl as string, "utf8").trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(sink.records.map((e) => e.target_id)).toEqual(["in1", "in1", "in1", "in1"]);
    await b2.node.close();
  });
});
