/**
 * UAT-B findings on `examine`, `wf run` and `wf compile`, through the BUILT cli (CAIRN_TEST_CLI):
 *  - B-F1: `examine <PGS trace> --snapshot X` checks X as a Cairn trace does (a missing file,
 *    a digest without a store, a tampered file: the same error), then notes it is not used;
 *  - B-F8: `wf run` reports a --workspace (or $PGS_WORKSPACE) that is not a directory as
 *    `cairn serve` does: `workspace X is not a directory` [E_NOT_FOUND], field --workspace;
 *  - B-F9: `wf run --snapshot … --workspace <missing>` is refused like `serve --snapshot`, nothing written;
 *  - B-F10: `wf compile --out F --store S` with a store that cannot be opened leaves F unwritten;
 *    a store that opens but fails to store says F was written (`details.out`).
 */
import Database from "better-sqlite3";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { PgsRunResult } from "../../src/workflow/pgs/index.js";
import { cairn, json, jsonError, TempDirs } from "./helpers.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const temps = new TempDirs();
const boxes: Sandbox[] = [];
afterEach(() => {
  temps.cleanup();
  for (const b of boxes.splice(0)) b.cleanup();
});

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const OK_PAYLOAD = join(EXAMPLES, "payloads", "register-ok.json");
const NO_STORE = { CAIRN_STORE: undefined, PGS_WORKSPACE: undefined, PGS_DATA_ROOT: undefined };
const ZERO_DIGEST = `sha256:${"0".repeat(64)}`;

/** A sandbox (writable fixture workspace) holding one PGS trace; returns the trace, relative to its root. */
function pgsTrace(): { b: Sandbox; trace: string } {
  const b = sandbox({ seedLicenseFacts: true });
  boxes.push(b);
  const r: PgsRunResult = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
  return { b, trace: relative(b.root, join(r.traceDirAbs, `${r.traceId}.jsonl`)) };
}

/** A temp dir with the examples compiled to `snap.json` and, under `w/`, one trace of a run of it. */
function cairnTrace(): { d: string; trace: string } {
  const d = temps.make();
  const c = cairn(["wf", "compile", EXAMPLES, "--out", "snap.json"], { cwd: d, env: NO_STORE });
  expect(c.status, c.err).toBe(0);
  mkdirSync(join(d, "w"));
  const r = cairn(["--json", "wf", "run", "--snapshot", "snap.json", "--workspace", "w", "--payload", OK_PAYLOAD, "--no-render"], { cwd: d, env: NO_STORE });
  expect(r.status, r.err).toBe(0);
  const j = json<{ traceId: string; traceDir: string }>(r);
  return { d, trace: join(d, j.traceDir, `${j.traceId}.jsonl`) };
}

describe("B-F1: examine checks --snapshot whatever the trace kind", () => {
  it("a missing file, a malformed digest, a digest without a store, a tampered file: the errors of a Cairn trace, nothing on stdout", () => {
    const { b, trace } = pgsTrace();
    const cairnRun = cairnTrace();
    const tampered = join(cairnRun.d, "bad.json");
    writeFileSync(tampered, readFileSync(join(cairnRun.d, "snap.json"), "utf8").replace("WF_REGISTER_AGENT_V0", "WF_REGISTER_AGENT_V1"));
    const cases: [string, number, string][] = [
      ["/no/such/file.json", 1, "E_NOT_FOUND"],
      ["sha256:zz", 1, "E_NOT_FOUND"],
      [ZERO_DIGEST, 2, "E_USAGE"],
      [tampered, 1, "E_SNAPSHOT_INTEGRITY"],
    ];
    for (const [snap, status, code] of cases) {
      const pgs = cairn(["examine", trace, "--snapshot", snap], { cwd: b.root, env: NO_STORE });
      const ref = cairn(["examine", cairnRun.trace, "--snapshot", snap], { cwd: b.root, env: NO_STORE });
      expect([pgs.status, pgs.out], snap).toEqual([status, ""]);
      expect(pgs.err, snap).toContain(`[${code}]`);
      expect(pgs.err, snap).toBe(ref.err); // the same words as for a Cairn trace
      const j = cairn(["--json", "examine", trace, "--snapshot", snap], { cwd: b.root, env: NO_STORE });
      expect([j.status, j.out, jsonError(j).code], snap).toEqual([status, "", code]);
    }
  });

  it("a digest the store does not hold is the store's E_NOT_FOUND, as for a Cairn trace", () => {
    const { b, trace } = pgsTrace();
    expect(cairn(["--store", "st", "init"], { cwd: b.root, env: NO_STORE }).status).toBe(0);
    const pgs = cairn(["--store", "st", "examine", trace, "--snapshot", ZERO_DIGEST], { cwd: b.root, env: NO_STORE });
    expect([pgs.status, pgs.out]).toEqual([1, ""]);
    expect(pgs.err).toBe(`cairn: artifact ${ZERO_DIGEST} not found [E_NOT_FOUND]\n`);
  });

  it("a sealed file that verifies is accepted, and the report notes it is not used for a PGS trace", () => {
    const { b, trace } = pgsTrace();
    const { d } = cairnTrace();
    const x = cairn(["--json", "examine", trace, "--snapshot", join(d, "snap.json")], { cwd: b.root, env: NO_STORE });
    expect(x.status, x.err).toBe(0);
    const j = json<{ outcome: { class: string }; notes: string[]; snapshot?: unknown }>(x);
    expect(j.outcome.class).toBe("success");
    expect(j.snapshot).toBeUndefined();
    expect(j.notes).toContain("--snapshot is ignored: this is not a trace of a sealed Cairn snapshot");
  });
});

describe("B-F8: wf run names a --workspace that is not a directory as serve does", () => {
  it("a missing directory and a regular file: E_NOT_FOUND `workspace X is not a directory`, field --workspace, serve's words; nothing written", () => {
    const d = temps.make();
    writeFileSync(join(d, "f.txt"), "x\n");
    for (const ws of ["nosuch", "f.txt", "f.txt/sub"]) {
      const r = cairn(["wf", "run", "--workspace", ws, "--wf", WF.collatz, "--no-render"], { cwd: d, env: NO_STORE });
      expect([r.status, r.out, r.err], ws).toEqual([1, "", `cairn: workspace ${ws} is not a directory [E_NOT_FOUND]\n`]);
      const s = cairn(["serve", "--port", "0", "--workspace", ws], { cwd: d, env: NO_STORE });
      expect([s.status, s.err], ws).toEqual([1, r.err]);
      const j = cairn(["--json", "wf", "run", "--workspace", ws, "--wf", WF.collatz, "--no-render"], { cwd: d, env: NO_STORE });
      expect(jsonError(j), ws).toEqual({ code: "E_NOT_FOUND", message: `workspace ${ws} is not a directory`, details: { field: "--workspace", path: ws } });
    }
    expect(readdirSync(d).sort()).toEqual(["f.txt"]);
  });

  it("$PGS_WORKSPACE: the message names the variable", () => {
    const d = temps.make();
    const r = cairn(["--json", "wf", "run", "--wf", WF.collatz, "--no-render"], { cwd: d, env: { ...NO_STORE, PGS_WORKSPACE: "nosuch" } });
    expect(r.status).toBe(1);
    expect(jsonError(r)).toEqual({ code: "E_NOT_FOUND", message: "workspace nosuch (from $PGS_WORKSPACE) is not a directory", details: { field: "--workspace", path: "nosuch", env: "$PGS_WORKSPACE" } });
  });

  it("A.12 order kept: a missing payload file (step 4) is reported before the workspace is loaded (step 5)", () => {
    const d = temps.make();
    const r = cairn(["wf", "run", "--workspace", "nosuch", "--wf", WF.collatz, "--payload", "nope.json"], { cwd: d, env: NO_STORE });
    expect([r.status, r.err]).toEqual([1, "cairn: Payload file not found: nope.json [E_NOT_FOUND]\n"]);
  });
});

describe("B-F9: wf run --snapshot refuses a missing --workspace like serve --snapshot", () => {
  it("E_NOT_FOUND naming the workspace, nothing created (not the workspace, not the data root)", () => {
    const { d } = cairnTrace();
    writeFileSync(join(d, "f.txt"), "x\n");
    const before = readdirSync(d).sort();
    for (const ws of ["typo_ws", "f.txt"]) {
      const r = cairn(["wf", "run", "--snapshot", "snap.json", "--workspace", ws, "--data-root", "dr", "--payload", OK_PAYLOAD, "--no-render"], { cwd: d, env: NO_STORE });
      expect([r.status, r.out, r.err], ws).toEqual([1, "", `cairn: workspace ${ws} is not a directory [E_NOT_FOUND]\n`]);
      const s = cairn(["serve", "--port", "0", "--snapshot", "snap.json", "--workspace", ws], { cwd: d, env: NO_STORE });
      expect([s.status, s.err], ws).toEqual([1, r.err]);
      const j = cairn(["--json", "wf", "run", "--snapshot", "snap.json", "--workspace", ws, "--payload", OK_PAYLOAD, "--no-render"], { cwd: d, env: NO_STORE });
      expect(jsonError(j).details, ws).toEqual({ field: "--workspace", path: ws });
    }
    expect(readdirSync(d).sort()).toEqual(before);
    expect(existsSync(join(d, "typo_ws"))).toBe(false);
  });
});

describe("B-F10: wf compile --out F --store S opens the store before writing F", () => {
  it("a store that cannot be created fails with nothing written; an existing F keeps its bytes", () => {
    const d = temps.make();
    writeFileSync(join(d, "f.txt"), "x\n");
    const r = cairn(["--store", "f.txt/st", "wf", "compile", EXAMPLES, "--out", "sp.json"], { cwd: d, env: NO_STORE });
    expect(r.status).toBe(1);
    expect(r.err).toContain("[E_STORE_IO]");
    expect(existsSync(join(d, "sp.json"))).toBe(false);
    writeFileSync(join(d, "old.json"), "previous\n");
    const j = cairn(["--json", "--store", "f.txt/st", "wf", "compile", EXAMPLES, "--out", "old.json"], { cwd: d, env: NO_STORE });
    expect([j.status, j.out, jsonError(j).code]).toEqual([1, "", "E_STORE_IO"]);
    expect(readFileSync(join(d, "old.json"), "utf8")).toBe("previous\n");
    // With a usable store, both are written (and the JSON says so).
    const ok = cairn(["--json", "--store", "st", "wf", "compile", EXAMPLES, "--out", "sp.json"], { cwd: d, env: NO_STORE });
    expect(ok.status, ok.err).toBe(0);
    expect(json<{ out: string; stored: boolean }>(ok)).toMatchObject({ out: "sp.json", stored: true });
    expect(existsSync(join(d, "sp.json"))).toBe(true);
  });

  it("a store that opens but fails to store the snapshot: the error says the sealed file was written (details.out)", () => {
    const d = temps.make();
    expect(cairn(["--store", "st", "init"], { cwd: d, env: NO_STORE }).status).toBe(0);
    // A catalog that refuses every new artifact: the store opens, storing fails.
    const db = new Database(join(d, "st", "catalog.sqlite"));
    db.exec("CREATE TRIGGER refuse BEFORE INSERT ON artifacts BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    db.close();
    const r = cairn(["--store", "st", "wf", "compile", EXAMPLES, "--out", "sp.json"], { cwd: d, env: NO_STORE });
    expect([r.status, r.out]).toEqual([1, ""]);
    expect(r.err).toContain("refused by the test; the sealed snapshot was written to --out sp.json [");
    expect(existsSync(join(d, "sp.json"))).toBe(true);
    const j = cairn(["--json", "--store", "st", "wf", "compile", EXAMPLES, "--out", "sp.json"], { cwd: d, env: NO_STORE });
    expect([j.status, j.out]).toEqual([1, ""]);
    expect(jsonError(j).details).toMatchObject({ out: "sp.json" });
  });
});
