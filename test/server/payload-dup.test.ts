/**
 * A payload with a member written twice: a sealed Cairn snapshot's gateway refuses it (400, the
 * member and both places named), as `cairn wf run --snapshot` does; a PGS workspace's gateway
 * keeps the reference's `json.loads` semantics (the last value wins).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type CairnServer } from "../../src/server/index.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { EXAMPLES, tempDir } from "../workflow/cairn-fixture.js";
import { actorPayload, gatewayScratch } from "./fixture.js";
import { WF as PGS_WF } from "../workflow/pgs-fixture.js";

const servers: CairnServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
const { box, serve: servePgs } = gatewayScratch();

async function post(url: string, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown> };
}

describe("duplicate payload members", () => {
  it("a sealed snapshot's gateway answers 400 naming the member; the same payload written once runs", async () => {
    const c = await compileWorkflows([EXAMPLES]);
    const snapshot = verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap.json");
    const dir = tempDir("cairn-serve-");
    const server = createServer({ snapshot, workspace: dir, dataRoot: join(dir, "data") });
    servers.push(server);
    const url = await server.listen(0, "127.0.0.1");
    const dup = '{"workflow_code": "registry::WF_REGISTER_AGENT_V0", "payload": {"agent_id": "a1", "email": "a@b.c", "agent_id": "a2"}}';
    const r = await post(url, dup);
    expect(r).toEqual({
      status: 400,
      body: { status: "ERROR", error: 'Invalid JSON body: member "agent_id" written twice in one object (line 1, column 101; first at line 1, column 65)' },
    });
    const once = await post(url, '{"workflow_code": "registry::WF_REGISTER_AGENT_V0", "payload": {"agent_id": "a2", "email": "a@b.c"}}');
    expect(once.status).toBe(200);
  });

  it("a PGS workspace's gateway keeps the last value, as the reference's json.loads does", async () => {
    const b = box();
    const { url } = await servePgs(b);
    const payload = JSON.stringify(actorPayload());
    const body = `{"workflow_code": "${PGS_WF.actor}", "payload": ${payload.slice(0, -1)}, "extra": 1, "extra": 2}}`;
    const r = await post(url, body);
    expect(r.status).toBe(200);
  });
});
