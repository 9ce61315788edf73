/**
 * The workflow lookup before the prior state is captured (src/workflow/pgs/run.ts): an unknown
 * workflow is SEMANTICS A.12 step 7's fatal `WF FQDN not in vocab: '<fqdn>'` (the vocabulary's
 * own lookup, A.3, keeps `FQDN not in vocab: …`), E_NOT_FOUND, before any trace directory exists.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { cairnErrorOf, payload, sandbox, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

describe("an unknown workflow", () => {
  it("is E_NOT_FOUND `WF FQDN not in vocab: '<fqdn>'` (A.12 step 7), before the trace directory exists", () => {
    const b = sandbox();
    boxes.push(b);
    const e = cairnErrorOf(() => b.run("ai_governance::WF_NOPE_V0", payload("ai_licensing/deny_provision_payload.json")));
    expect(e.code).toBe(ErrorCode.NOT_FOUND);
    expect(e.message).toBe("WF FQDN not in vocab: 'ai_governance::WF_NOPE_V0'");
    expect(e.details).toMatchObject({ fqdn: "ai_governance::WF_NOPE_V0" });
    expect(existsSync(join(b.workspace, "traces/ai_governance/WF_NOPE_V0"))).toBe(false);
  });
});
