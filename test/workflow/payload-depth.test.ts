/**
 * A payload nested deeper than MAX_PAYLOAD_DEPTH is refused before the run touches anything.
 * Found by an audit of `cairn serve`: the parser accepts nesting up to 512, and the serialisers
 * stop at 512, so a 510-deep `license_id` passed the DEREGISTER (a tombstone written) and then
 * failed to serialise into the audit record: the licence was reclaimed with no audit entry.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_PAYLOAD_DEPTH, nestingDepth } from "../../src/workflow/py/json.js";
import { baseDecl, prepared, run as runCairn, tempDir } from "./cairn-fixture.js";
import { cairnErrorOf, payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();
const REGISTRY = "ai_governance/ai_licensing/license_registry.json";

/** `[[…["lic-7526"]…]]` with `depth` levels of arrays. */
function nested(depth: number): unknown {
  let v: unknown = "lic-7526";
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function reclaimPayload(licenseDepth: number): string {
  const p = JSON.parse(readFileSync(payload("ai_licensing/auto_reclaim_payload.json"), "utf8")) as Record<string, unknown>;
  p.license_id = nested(licenseDepth);
  p.context = { ...(p.context as object), employee_id: "e-7526" };
  const f = join(dir(), "reclaim.json");
  writeFileSync(f, JSON.stringify(p));
  return f;
}

describe("payload depth", () => {
  it("nestingDepth counts levels and stops counting past the limit", () => {
    expect(nestingDepth("x", 5)).toBe(0);
    expect(nestingDepth(new Map(), 5)).toBe(1);
    expect(nestingDepth([[[]], [1]], 5)).toBe(3);
    expect(nestingDepth(nested(1000) as never, 10)).toBe(11);
  });

  it("PGS: a payload deeper than the limit is E_INVALID_INPUT before any effect (the registry keeps its licence)", () => {
    const b = box();
    b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    const registry = b.read(REGISTRY);
    const traces = readdirSync(join(b.workspace, "traces"), { recursive: true }).length;
    // payload object (1) + license_id arrays: MAX_PAYLOAD_DEPTH levels in all is accepted, one more is not
    const e = cairnErrorOf(() => b.run(WF.reclaim, reclaimPayload(MAX_PAYLOAD_DEPTH)));
    expect(e.code).toBe("E_INVALID_INPUT");
    // Read from a file, the refusal names it and where the limit is passed (UAT u2 F4).
    expect(e.message).toMatch(new RegExp(`^Payload file is nested deeper than ${MAX_PAYLOAD_DEPTH} levels: line 1, column \\d+ opens level ${MAX_PAYLOAD_DEPTH + 1}, at \\$\\["license_id"\\](\\[0\\]){11}… \\(.*reclaim\\.json\\)$`));
    expect(e.details).toMatchObject({ reason: "payload_too_deep", limit: MAX_PAYLOAD_DEPTH });
    expect(b.read(REGISTRY)).toBe(registry);
    expect(readdirSync(join(b.workspace, "traces"), { recursive: true }).length).toBe(traces);
    // at the limit the run goes ahead (the id does not match a licence, so nothing is reclaimed)
    const ok = b.run(WF.reclaim, reclaimPayload(MAX_PAYLOAD_DEPTH - 1));
    expect(ok.status).not.toBe("ERROR");
  });

  it("Cairn: the same limit, before the run", async () => {
    const { snap } = await prepared(baseDecl());
    const d = tempDir();
    const e = cairnErrorOf(() => runCairn(snap, { a: nested(MAX_PAYLOAD_DEPTH) }, d));
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toBe(`payload is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  });
});
