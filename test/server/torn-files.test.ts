/**
 * A served run that cannot use a torn data-root file (a run killed inside an append): the HTTP
 * answer is the run's own (BACKEND_ERROR, as the reference gives it, without paths of this
 * machine), and the operator is told once per file and tail (`onTornFile`; `cairn serve` prints
 * the note naming `cairn wf repair-tail`) — before, nothing named the file.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TornFile } from "../../src/workflow/effects/torn-files.js";
import { repairCommandFor, tornFileNote } from "../../src/workflow/effects/torn-files.js";
import { payload, WF } from "../workflow/pgs-fixture.js";
import { gatewayScratch } from "./fixture.js";

const REGISTRY = "ai_governance/ai_licensing/license_registry.json";
const PROVISION = JSON.parse(readFileSync(payload("ai_licensing/provision_ai_licensing_payload.json"), "utf8")) as unknown;
const scratch = gatewayScratch();

async function post(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ workflow_code: WF.provision, payload: PROVISION }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("serve: a torn registry", () => {
  it("is told of once per file and tail; the answer is the run's BACKEND_ERROR, without the file's path", async () => {
    const b = scratch.box();
    const told: TornFile[] = [];
    const { url } = await scratch.serve(b, { onTornFile: (t) => told.push(t) });
    expect((await post(url)).body.status).toBe("SUCCESS");
    const clean = readFileSync(join(b.dataRoot, REGISTRY));
    const torn = '{"key": "e-9", "address": "ADDR_';
    appendFileSync(join(b.dataRoot, REGISTRY), torn);

    const first = await post(url);
    expect([first.status, first.body.status]).toEqual([200, "BACKEND_ERROR"]);
    expect(JSON.stringify(first.body)).not.toContain(b.dataRoot);
    expect(told).toEqual([{ path: REGISTRY, offset: clean.length, bytes: torn.length }]);
    // The same tail again: not told twice.
    expect((await post(url)).body.status).toBe("BACKEND_ERROR");
    expect(told).toHaveLength(1);
    // A longer torn tail (another interrupted append on top): told again.
    appendFileSync(join(b.dataRoot, REGISTRY), "X");
    await post(url);
    expect(told).toEqual([
      { path: REGISTRY, offset: clean.length, bytes: torn.length },
      { path: REGISTRY, offset: clean.length, bytes: torn.length + 1 },
    ]);
  });

  it("a throwing onTornFile does not turn the run's answer into an error", async () => {
    const b = scratch.box();
    const { url } = await scratch.serve(b, { onTornFile: () => { throw new Error("hook broke"); } });
    expect((await post(url)).body.status).toBe("SUCCESS");
    appendFileSync(join(b.dataRoot, REGISTRY), '{"key": "e-9"');
    const r = await post(url);
    expect([r.status, r.body.status]).toEqual([200, "BACKEND_ERROR"]);
  });

  it("the note cairn serve prints names the repair with the data root as given", () => {
    const t = { path: REGISTRY, offset: 10, bytes: 3 };
    expect(tornFileNote(t, "my data")).toBe(
      `note: "${REGISTRY}" ends in a torn line (3 bytes after offset 10 without a newline, an interrupted append): runs refuse it until it is repaired with: cairn wf repair-tail --data-root 'my data' ${REGISTRY}`,
    );
    expect(repairCommandFor("it's", "a b")).toBe(`cairn wf repair-tail --data-root 'it'\\''s' 'a b'`);
    // A path that starts with `-` comes after `--` (quoting it would not keep it from being an option).
    expect(repairCommandFor("d", "-x.jsonl")).toBe("cairn wf repair-tail --data-root d -- -x.jsonl");
  });
});
