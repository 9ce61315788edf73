/**
 * `cairn wf run --json` names the flags the user gave in `details.field` (ARCHITECTURE §7 "Naming
 * options"): the library names its options (`workflow`, `payload`), and the CLI re-labels them
 * (`withCliFields`, cli/args.ts). Before, a malformed `--wf`, a snapshot of several workflows
 * without `--wf` and a refused payload said "workflow" / "payload", beside "--wf" for a missing
 * `--wf` and "--payload" for a payload file the CLI reads itself.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { sealedFileBytes } from "../../src/workflow/cairn/seal.js";
import { baseDecl, writeTree } from "../workflow/cairn-fixture.js";
import { cairn } from "./helpers.js";

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function box(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-wf-fields-"));
  dirs.push(d);
  return d;
}

/** The `--json` error of a failed command. */
function jsonError(r: { status: number | null; err: string }): { code: string; message: string; details: Record<string, unknown> } {
  expect(r.status).not.toBe(0);
  return (JSON.parse(r.err) as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
}

describe("wf run --json names the flags", () => {
  it("a malformed --wf: field --wf (the library's parseWorkflowFqdn says workflow)", () => {
    const cwd = box();
    const e = jsonError(cairn(["--json", "wf", "run", "--workspace", cwd, "--wf", "WF_NO_DOMAIN_V0", "--no-render"], { cwd, env: { PGS_DATA_ROOT: undefined, PGS_WORKSPACE: undefined } }));
    expect(e).toEqual({ code: "E_INVALID_INPUT", message: "Invalid WF FQDN (expected <domain>::<CODE>): 'WF_NO_DOMAIN_V0'", details: { field: "--wf", value: "WF_NO_DOMAIN_V0" } });
  });

  it("a snapshot of two workflows without --wf: field --wf", async () => {
    const cwd = box();
    const dir = writeTree({ "a.yaml": stringify(baseDecl({ code: "WF_A_V0" })), "b.yaml": stringify(baseDecl({ code: "WF_B_V0" })) });
    const c = await compileWorkflows([dir]);
    writeFileSync(join(cwd, "snap.json"), sealedFileBytes(c.content!).bytes);
    const e = jsonError(cairn(["--json", "wf", "run", "--snapshot", "snap.json", "--no-render"], { cwd, env: { PGS_DATA_ROOT: undefined } }));
    expect(e).toEqual({ code: "E_USAGE", message: "the snapshot holds 2 workflows (test::WF_A_V0, test::WF_B_V0): name one with workflow (--wf)", details: { field: "--wf" } });
  });

  it("a payload holding a lone surrogate: field --payload", () => {
    const cwd = box();
    expect(cairn(["wf", "compile", EXAMPLES, "--out", "snap.json"], { cwd }).status).toBe(0);
    writeFileSync(join(cwd, "p.json"), '{"agent_name":"agent4","owner_email":"a@b\\ud800.c","scopes":["read"]}');
    const e = jsonError(cairn(["--json", "wf", "run", "--snapshot", "snap.json", "--payload", "p.json", "--no-render"], { cwd, env: { PGS_DATA_ROOT: undefined } }));
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.details).toMatchObject({ field: "--payload", path: "$.owner_email", reason: "lone_surrogate" });
  });
});
