/**
 * SEMANTICS A.12, `run`'s processing order: 1. the WF FQDN, 2. the data root, 3. the workspace,
 * 4. the payload. `cairn wf run` reports the first failing step's error (a malformed --wf before
 * a missing payload, workspace or data root). Spawns the built CLI (CAIRN_TEST_CLI for a private
 * build, test/cli/helpers.ts).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, TempDirs, type RunResult } from "../cli/helpers.js";
import { PACK, WF } from "./pgs-fixture.js";

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const WORKSPACE = join(PACK, "workspace");
const NO_ENV = { PGS_WORKSPACE: undefined, PGS_DATA_ROOT: undefined };

function wfRun(args: string[], env: Record<string, string | undefined> = {}): RunResult {
  return cairn(["wf", "run", "--no-render", ...args], { cwd: dirs.make(), env: { ...NO_ENV, ...env } });
}

const BAD_FQDN = "cairn: Invalid WF FQDN (expected <domain>::<CODE>): 'WF_DENY_PROVISION_V0' [E_INVALID_INPUT]\n";

describe("wf run checks its arguments in the reference's order (A.12 steps 1-4)", () => {
  it("1 before 4: a malformed --wf is reported, not the missing payload file", () => {
    const r = wfRun(["--workspace", WORKSPACE, "--wf", "WF_DENY_PROVISION_V0", "--payload", "nope.json"]);
    expect([r.status, r.err]).toEqual([1, BAD_FQDN]);
  });

  it("1 before 2 and 3: a malformed --wf is reported without a workspace or with an empty data root", () => {
    const noWorkspace = wfRun(["--wf", "WF_DENY_PROVISION_V0"]);
    expect([noWorkspace.status, noWorkspace.err]).toEqual([1, BAD_FQDN]);
    const r = wfRun(["--wf", "WF_DENY_PROVISION_V0", "--payload", "nope.json"], { PGS_DATA_ROOT: "" });
    expect([r.status, r.err]).toEqual([1, BAD_FQDN]);
  });

  it("2 before 3: an empty $PGS_DATA_ROOT (a usage error, exit 2) is reported before the missing workspace", () => {
    const r = wfRun(["--wf", WF.deny, "--payload", "nope.json"], { PGS_DATA_ROOT: "" });
    expect([r.status, r.err]).toEqual([2, "cairn: --data-root (or $PGS_DATA_ROOT) must not be empty [E_USAGE]\n"]);
    const flag = wfRun(["--wf", WF.deny, "--data-root", ""]);
    expect([flag.status, flag.err]).toEqual([2, "cairn: --data-root (or $PGS_DATA_ROOT) must not be empty [E_USAGE]\n"]);
  });

  it("3 before 4: the missing workspace (a usage error, exit 2) is reported before the missing payload file", () => {
    const r = wfRun(["--wf", WF.deny, "--payload", "nope.json"]);
    expect([r.status, r.err]).toEqual([2, "cairn: --workspace <dir> (or $PGS_WORKSPACE) is required [E_USAGE]\n"]);
  });

  it("4: with every argument valid, the missing payload file is reported", () => {
    const r = wfRun(["--workspace", WORKSPACE, "--wf", WF.deny, "--payload", "nope.json"]);
    expect([r.status, r.err]).toEqual([1, "cairn: Payload file not found: nope.json [E_NOT_FOUND]\n"]);
  });
});
