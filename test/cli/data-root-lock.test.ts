/**
 * The data-root lock through the built CLI: `cairn serve` holds its data root's lock until it
 * stops, so `cairn wf run` (PGS and `--snapshot`) on that data root and a second `cairn serve`
 * fail with E_DATA_ROOT_LOCKED after `--data-root-wait`; the lock is free again once it stops.
 */
import { existsSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireDataRootLock, type DataRootLock } from "../../src/workflow/effects/data-root-lock.js";
import { baseDecl, prepared } from "../workflow/cairn-fixture.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";
import { cairn, killChildrenAfterEach, serveCairn, type ServingCairn } from "./helpers.js";

const boxes: Sandbox[] = [];
const locks: DataRootLock[] = [];
const children = killChildrenAfterEach(() => {
  for (const l of locks.splice(0)) l.release();
  for (const b of boxes.splice(0)) b.cleanup();
});

function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

const ENV = { CAIRN_STORE: undefined, PGS_WORKSPACE: undefined, PGS_DATA_ROOT: undefined };

/** `cairn serve` on `b` (workspace, data root "data"), once it listens. */
function startServe(b: Sandbox): Promise<ServingCairn> {
  return serveCairn(b.root, ["--workspace", "workspace", "--data-root", "data"], (c) => children.push(c));
}

const lockedMessage = (root: string, ms: number): string =>
  `cairn: data root ${root} is locked: another process is running workflows on it (waited ${ms} ms); retry when it finishes (a \`cairn serve\` holds its data root's lock until it stops) [E_DATA_ROOT_LOCKED]\n`;

describe("cairn wf run / cairn serve and the data-root lock", () => {
  it("a running server makes wf run on its data root and a second server fail (exit 1); after it stops, wf run succeeds", async () => {
    const b = box();
    const wfRun = (wait: string[]) =>
      cairn(["wf", "run", "--workspace", "workspace", "--wf", WF.deny, "--payload", payload("ai_licensing/deny_provision_payload.json"), "--data-root", "data", "--no-render", ...wait], {
        cwd: b.root, env: ENV,
      });
    const s = await startServe(b);
    const shown = join(realpathSync(b.root), "data"); // the child's working directory is the physical path

    const t0 = Date.now();
    const refused = wfRun(["--data-root-wait", "300ms"]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(refused.status).toBe(1);
    expect(refused.err).toBe(lockedMessage(shown, 300));
    expect(refused.out).toBe("");
    expect(existsSync(join(b.workspace, "traces"))).toBe(false);

    const second = cairn(["serve", "--port", "0", "--workspace", "workspace", "--data-root", "data", "--data-root-wait", "0"], { cwd: b.root, env: ENV });
    expect(second.status).toBe(1);
    expect(second.err).toBe(lockedMessage(shown, 0));

    const json = cairn(["--json", "wf", "run", "--workspace", "workspace", "--wf", WF.deny, "--data-root", "data", "--data-root-wait", "0"], { cwd: b.root, env: ENV });
    expect(json.status).toBe(1);
    expect(JSON.parse(json.err)).toEqual({
      error: {
        code: "E_DATA_ROOT_LOCKED",
        message: lockedMessage(shown, 0).slice("cairn: ".length, -" [E_DATA_ROOT_LOCKED]\n".length),
        details: expect.objectContaining({ reason: "data_root_locked", path: shown, waitedMs: 0, holder: "another process" }) as unknown,
      },
    });

    s.child.kill("SIGTERM");
    expect((await s.exited).code).toBe(0);
    const ok = wfRun(["--data-root-wait", "0"]);
    expect(ok.status, ok.err).toBe(0);
    expect(ok.out).toContain("status: SUCCESS");
  });

  it("wf run --snapshot waits for the lock another process holds, then fails; other data roots are not blocked", async () => {
    const { bytes, dir } = await prepared(baseDecl());
    writeFileSync(join(dir, "snap.json"), bytes);
    const l = acquireDataRootLock(join(dir, "data"));
    locks.push(l);
    const r = cairn(["wf", "run", "--snapshot", "snap.json", "--no-render", "--data-root-wait", "200"], { cwd: dir, env: ENV });
    expect(r.status).toBe(1);
    expect(r.err).toBe(lockedMessage(join(realpathSync(dir), "data"), 200));
    expect(readdirSync(dir)).not.toContain("traces");
    const other = cairn(["wf", "run", "--snapshot", "snap.json", "--no-render", "--data-root", "other", "--data-root-wait", "0"], { cwd: dir, env: ENV });
    expect(other.status, other.err).toBe(0);
    l.release();
    const after = cairn(["wf", "run", "--snapshot", "snap.json", "--no-render", "--data-root-wait", "0"], { cwd: dir, env: ENV });
    expect(after.status, after.err).toBe(0);
  });

  it("--data-root-wait must be a duration of at most 2147483647 ms (exit 2)", () => {
    const b = box();
    for (const [args, msg] of [
      [["wf", "run", "--workspace", "workspace", "--wf", WF.deny, "--data-root-wait", "soon"], `invalid --data-root-wait "soon"`],
      [["wf", "run", "--workspace", "workspace", "--wf", WF.deny, "--data-root-wait", "30d"], "--data-root-wait must be an integer number of milliseconds in 0..2147483647, got 2592000000"],
      [["serve", "--workspace", "workspace", "--data-root-wait", "-1"], `invalid --data-root-wait "-1"`],
    ] as const) {
      const r = cairn([...args], { cwd: b.root, env: ENV });
      expect(r.status, r.err).toBe(2);
      expect(r.err).toContain(msg);
      expect(r.err).toContain("[E_USAGE]");
    }
  });
});
