/** Snapshot loading (A.1–A.2), the trust rule with the recomputed projection hash (A.3), the vocabulary (A.4), the newer format. */
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isCairnError, type CairnError } from "../../src/core/errors.js";
import { loadSnapshot, projectionHash, parsePyJson, SNAPSHOT_INTEGRITY_REASON, UNSUPPORTED_FORMAT_REASON } from "../../src/workflow/pgs/index.js";
import { ACTOR_PAYLOAD, PACK, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

function caught(f: () => unknown): CairnError {
  try {
    f();
  } catch (err) {
    return err as CairnError;
  }
  throw new Error("expected an error");
}

function listFiles(dir: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const e of readdirSync(dir, { recursive: true }) as string[]) {
    const st = statSync(join(dir, e));
    if (st.isFile()) out.push([e, st.mtimeMs]);
  }
  return out.sort();
}

describe("loading the pack's snapshots", () => {
  it("loads all three domains from the read-only pack, deep-equal twice, without touching a file", () => {
    const ws = join(PACK, "workspace");
    const before = listFiles(ws);
    for (const domain of ["ai_governance", "blockchain", "platform"]) {
      const a = loadSnapshot(ws, domain);
      const b = loadSnapshot(ws, domain);
      expect(a.domain).toBe(domain);
      expect(b).toEqual(a);
      expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(a.files.map((f) => f.path)).toEqual([
        `tokenized_snapshot/${domain}/dispatch.json`,
        `tokenized_snapshot/${domain}/handlers.json`,
        `tokenized_snapshot/${domain}/metadata.json`,
        `trust_snapshot/${domain}/structure_attestation.json`,
        `vocabulary_snapshot/${domain}/forward.json`,
        `vocabulary_snapshot/${domain}/reverse.json`,
        `tokenized_snapshot/${domain}/topology.json`,
        `vocabulary_snapshot/${domain}/metadata.json`,
      ]);
    }
    expect(listFiles(ws)).toEqual(before);
  });

  it("converts every address to an integer (entry, routing, pipeline, rb_policy)", () => {
    const p = loadSnapshot(join(PACK, "workspace"), "blockchain");
    expect(p.entry.get(53)).toEqual({ start: 35, rb: 40 });
    expect(p.routing.get(53)?.get(18)).toEqual(new Map([[24577, 3], [24581, 3]]));
    expect(p.pipeline.get(11)?.length).toBe(1);
    expect([...(p.rbPolicy.get(40)?.keys() ?? [])].every((k) => typeof k === "number")).toBe(true);
    expect(p.vocab.fqdn(53)).toBe("blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0");
    expect(p.vocab.fqdn(0x7fff)).toBe("0x7FFF");
    expect(p.vocab.addr("capability_transforms::CT_PURE_GENERATE_ID_V0")).toBe(72);
    expect(() => p.vocab.addr("blockchain::NOPE")).toThrow("FQDN not in vocab: 'blockchain::NOPE'");
  });

  it("maps statuses to condition addresses as in A.4 (transition:: first, then outcome::, else -1)", () => {
    const ws = join(PACK, "workspace");
    const ai = loadSnapshot(ws, "ai_governance").vocab;
    const bc = loadSnapshot(ws, "blockchain").vocab;
    const pf = loadSnapshot(ws, "platform").vocab;
    const table: Array<[string, number, number, number]> = [
      ["ACK", 24576, 24576, -1],
      ["ALREADY_EXISTS", 24578, 24577, -1],
      ["BACKEND_ERROR", 24579, 24578, 24576],
      ["NACK", 24580, 24579, -1],
      ["NOT_FOUND", 24581, 24580, 24577],
      ["SUCCESS", 24582, 24581, 24578],
      ["VIOLATION", 24583, 24582, 24579],
      ["ACTIVE", 24577, -1, -1],
      ["default", 24584, 24583, 24580],
    ];
    for (const [s, a, b, c] of table) {
      expect([s, ai.condition(s), bc.condition(s), pf.condition(s)]).toEqual([s, a, b, c]);
    }
  });

  it("recomputes the projection hashes of A.3 from topology.json", () => {
    const expected: Record<string, string> = {
      ai_governance: "6820ba4b390bb029dd95b6e546d857e813a290c6347b660acde4666991f12744",
      blockchain: "247353e78c33fcddc79fe9436dd0e2a5a3cb6ec701a8bea2da0c26465b7e0a69",
      platform: "1f1972717f3bb27bdfe9ba8b89efae80001a19c0b46397073f79c1a1d59ddf5d",
    };
    for (const [d, h] of Object.entries(expected)) {
      const topo = parsePyJson(readFileSync(join(PACK, "workspace/tokenized_snapshot", d, "topology.json"), "utf8"));
      expect(projectionHash(topo)).toBe(h);
    }
  });
});

describe("trust rule and tamper refusal", () => {
  function edit(b: Sandbox, rel: string, f: (text: string) => string): void {
    const p = join(b.workspace, rel);
    writeFileSync(p, f(readFileSync(p, "utf8")));
  }

  it("refuses a topology.json edit even though metadata and attestation still agree (integrity, recomputed)", () => {
    const b = box();
    edit(b, "tokenized_snapshot/blockchain/topology.json", (t) => t.replace('"to": 126', '"to": 127'));
    const err = caught(() => b.run(WF.actor, ACTOR_PAYLOAD));
    expect(isCairnError(err, "E_SNAPSHOT_INTEGRITY")).toBe(true);
    expect(err.message).toContain("integrity");
    expect(err.message).toContain("tokenized_snapshot/blockchain/topology.json");
    expect(err.details).toMatchObject({ reason: SNAPSHOT_INTEGRITY_REASON, check: "recomputed", domain: "blockchain" });
    expect(readdirSync(b.workspace)).not.toContain("traces"); // refused before anything was written
  });

  it("refuses a metadata/attestation mismatch with the reference message", () => {
    const b = box();
    edit(b, "tokenized_snapshot/blockchain/metadata.json", (t) => t.replace("247353e7", "00000000"));
    const err = caught(() => b.run(WF.actor, ACTOR_PAYLOAD));
    expect(err.message).toBe(
      "[blockchain] Snapshot integrity failure: metadata.projection_hash='000000008c33fcddc79fe9436dd0e2a5a3cb6ec701a8bea2da0c26465b7e0a69' != attestation.tokenized_projection_hash='247353e78c33fcddc79fe9436dd0e2a5a3cb6ec701a8bea2da0c26465b7e0a69'",
    );
    expect(isCairnError(err, "E_SNAPSHOT_INTEGRITY")).toBe(true);
    expect(err.details).toMatchObject({ reason: SNAPSHOT_INTEGRITY_REASON, check: "attestation" });
  });

  it("refuses an empty attested hash", () => {
    const b = box();
    edit(b, "trust_snapshot/ai_governance/structure_attestation.json", (t) => t.replace(/"tokenized_projection_hash": "[0-9a-f]+"/, '"tokenized_projection_hash": ""'));
    const err = caught(() => loadSnapshot(b.workspace, "ai_governance"));
    expect(err.message).toContain("[ai_governance] Trust verification failed: projection_hash or tokenized_projection_hash is empty");
    expect(isCairnError(err, "E_SNAPSHOT_INTEGRITY")).toBe(true);
    expect(err.details).toMatchObject({ reason: SNAPSHOT_INTEGRITY_REASON, check: "empty" });
  });

  it("names the first missing file in reading order", () => {
    const b = box();
    const err = caught(() => loadSnapshot(b.workspace, "nowhere"));
    expect(isCairnError(err, "E_NOT_FOUND")).toBe(true);
    expect(err.message).toBe(`Required snapshot file missing: ${join(b.workspace, "tokenized_snapshot/nowhere/dispatch.json")}`);
  });

  it("names the file of malformed JSON", () => {
    const b = box();
    edit(b, "tokenized_snapshot/blockchain/handlers.json", (t) => t.slice(0, 100));
    const err = caught(() => loadSnapshot(b.workspace, "blockchain"));
    expect(isCairnError(err, "E_INVALID_INPUT")).toBe(true);
    expect(err.message).toContain("tokenized_snapshot/blockchain/handlers.json is not valid JSON");
  });
});

describe("the newer dispatch format (newer-format/)", () => {
  it("is refused clearly by this v0.3 loader, naming the first object-valued address", () => {
    const b = box();
    for (const rel of ["tokenized_snapshot/ai_governance/dispatch.json", "tokenized_snapshot/ai_governance/metadata.json", "vocabulary_snapshot/ai_governance/forward.json"]) {
      cpSync(join(PACK, "newer-format", rel), join(b.workspace, rel));
    }
    const err = caught(() => loadSnapshot(b.workspace, "ai_governance"));
    expect(isCairnError(err, "E_INVALID_INPUT")).toBe(true);
    expect(err.message).toMatch(/^tokenized_snapshot\/ai_governance\/dispatch\.json: routing\["\d+"\]\["\d+"\]\["\d+"\] is an object, not an integer address: this is the newer PGS dispatch format/);
    expect(err.details).toMatchObject({ reason: UNSUPPORTED_FORMAT_REASON });
  });

  it("refuses an entry carrying start_key even when the routing targets are integers", () => {
    const b = box();
    const p = join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json");
    const d = JSON.parse(readFileSync(p, "utf8")) as { entry: Record<string, Record<string, unknown>> };
    (d.entry["44"] as Record<string, unknown>).start_key = "IN_AGENT_ACTION_REQUESTED_V0";
    writeFileSync(p, JSON.stringify(d));
    const err = caught(() => loadSnapshot(b.workspace, "ai_governance"));
    expect(err.message).toBe('tokenized_snapshot/ai_governance/dispatch.json: entry["44"]["start_key"] is present: this is the newer PGS dispatch format (object routing targets / start_key, node-key bindings), which a v0.3 loader does not accept');
    expect(err.details).toMatchObject({ reason: UNSUPPORTED_FORMAT_REASON, field: 'entry["44"]["start_key"]' });
  });
});
