/** Recording PGS runs in Cairn's store (issue 4 §3.3): trace + effects artifacts, receipt, edges, roots. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalDigest } from "../../src/core/canonical.js";
import { sha256 } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { snapshotManifest } from "../../src/workflow/pgs/index.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const PAYLOAD_01_AS_GIVEN =
  '{"tool_name":"PROVISION_STANDARD_LICENSE","parameters":{"tier":"standard","quantity":50},"requesting_user_id":"EMP_STD_001","domain_context":"ai_licensing","request_id":"REQ_TEST_001"}';

const boxes: Sandbox[] = [];
const stores: Store[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
});

describe("store recording", () => {
  it("two payloads that differ only in key order are two runs: two trace ids, both recorded in one store", () => {
    const b = box();
    const store = openStore({ dir: join(b.root, "store") });
    stores.push(store);
    const ab = join(b.root, "ab.json");
    const ba = join(b.root, "ba.json");
    writeFileSync(ab, '{"numbers": [3], "a": 1}');
    writeFileSync(ba, '{"a": 1, "numbers": [3]}');
    const r1 = b.run(WF.collatz, ab, { store, dataRoot: join(b.root, "data-ab") });
    const r2 = b.run(WF.collatz, ba, { store, dataRoot: join(b.root, "data-ba") });
    expect(r1.digests.priorState).toBe(r2.digests.priorState);
    expect(r1.traceId).not.toBe(r2.traceId);
    expect(r1.digests.trace).not.toBe(r2.digests.trace); // the trace follows the key order
    expect([r1.recorded, r2.recorded].every((x) => x !== null)).toBe(true);
    expect(readFileSync(join(r1.traceDirAbs, `${r1.traceId}.jsonl`))).toEqual(store.get(r1.digests.trace as never));
  });

  it("records snapshot → receipt ← payload + prior state, → trace + effects, pinned", () => {
    const b = box(true);
    const store = openStore({ dir: join(b.root, "store") });
    stores.push(store);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store });
    const rec = r.recorded;
    expect(rec).not.toBeNull();
    if (rec === null) return;
    expect(rec.snapshot).toBe(r.digests.snapshot);
    // The recorded payload is the payload as given (its key order kept), and the run's `payload`
    // digest (a trace id input) is of those bytes.
    expect(rec.payload).toBe(sha256(store.get(rec.payload)));
    expect(rec.payload).toBe(r.digests.payload);
    expect(rec.priorState).toBe(r.digests.priorState);
    expect(rec.trace).toBe(r.digests.trace);
    expect(store.get(rec.trace)).toEqual(readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`)));
    const receipt = store.getReceipt(rec.receipt);
    expect(receipt).toMatchObject({
      program: rec.snapshot,
      inputs: [rec.payload, rec.priorState],
      outputs: [rec.trace, rec.effects],
      status: "succeeded",
      params: { kind: "cairn.pgs.run", workflow: WF.govern, engine: { name: "cairn.workflow", version: "7" } },
      resources: { events: 25, hops: 7, csCalls: 3 },
    });
    expect(store.findReceipt(rec.snapshot, [rec.payload, rec.priorState], { kind: "cairn.pgs.run", workflow: WF.govern, engine: { name: "cairn.workflow", version: "7" } })?.digest).toBe(rec.receipt);
    const effects = JSON.parse(store.get(rec.effects).toString("utf8")) as { calls: Array<{ op: string; file: { path: string; action: string } | null }>; files: unknown[] };
    expect(effects.calls.map((c) => `${c.op}:${c.file?.action}:${c.file?.path}`)).toEqual([
      "READ:read:ai_governance/ai_licensing/license_facts.json",
      "REGISTER:append:ai_governance/agent_governance/governance_actions.json",
      "APPEND:append:ai_governance/agent_governance/governance_audit.jsonl",
    ]);
    expect(effects.files.length).toBe(3);
    expect(store.findRoot(`pgs:${r.traceId}`)?.digest).toBe(rec.trace);
    expect(store.findRoot(`pgs:${r.traceId}:effects`)?.digest).toBe(rec.effects);
    const manifest = JSON.parse(store.get(rec.snapshot).toString("utf8")) as ReturnType<typeof snapshotManifest>;
    expect(manifest.kind).toBe("cairn.pgs.snapshot");
    expect(manifest.files.length).toBe(8);
    expect(canonicalDigest(manifest)).toBe(rec.snapshot);
    for (const f of manifest.files) expect(store.has(f.digest)).toBe(true);
    const up = store.lineage(rec.trace, { direction: "up", depth: 2 });
    const nodes = JSON.stringify(up);
    for (const d of [rec.receipt, rec.snapshot, rec.payload, rec.priorState]) expect(nodes).toContain(d);
    // The prior state lists the seed file (absent files as null) and its bytes are in the store.
    const seed = readFileSync(join(b.dataRoot, "ai_governance/ai_licensing/license_facts.json"));
    const prior = JSON.parse(store.get(rec.priorState).toString("utf8")) as { kind: string; files: Array<{ path: string; digest: string | null }> };
    expect(prior).toEqual({
      kind: "cairn.pgs.state",
      version: 1,
      files: [
        { path: "ai_governance/agent_governance/governance_actions.json", digest: null },
        { path: "ai_governance/agent_governance/governance_audit.jsonl", digest: null },
        { path: "ai_governance/ai_licensing/license_facts.json", digest: sha256(seed) },
      ],
    });
    expect(store.get(sha256(seed))).toEqual(seed);
    // The payload artifact is the payload as given: compact, its own key order, Python number forms.
    expect(store.get(rec.payload).toString("utf8")).toBe(PAYLOAD_01_AS_GIVEN);
    expect(sha256(PAYLOAD_01_AS_GIVEN)).toBe(r.digests.payload);
  });

  it("the same run in a fresh copy finds the same receipt; a VIOLATION run is a failed receipt", () => {
    const dir = join(box().root, "store");
    const store = openStore({ dir });
    stores.push(store);
    const a = box().run(WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"), { store });
    const b = box().run(WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"), { store });
    expect(b.recorded?.receipt).toBe(a.recorded?.receipt);
    expect(store.getReceipt(a.recorded?.receipt as never).status).toBe("failed");
  });
});
