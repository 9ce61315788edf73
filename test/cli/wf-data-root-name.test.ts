/**
 * A data root that exists but is not a directory is refused before the run, and `cairn wf run`
 * names it as `cairn serve` does: as the user gave it, with the option as details.field
 * (`--data-root`), and the variable it came from when read from $PGS_DATA_ROOT (`wf run` named
 * its absolute path, field `dataRoot`, the library's words).
 */
import { writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import { cairn, jsonError, TempDirs } from "./helpers.js";
import { sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const NO_STORE = { CAIRN_STORE: undefined, PGS_WORKSPACE: undefined, PGS_DATA_ROOT: undefined };
const NOT_A_DIR = "data root dfile cannot hold the workflows' state: it is not a directory";
const FROM_ENV = "data root dfile (from $PGS_DATA_ROOT) cannot hold the workflows' state: it is not a directory";
const DECL = `cairn: cairn.workflow/v1
namespace: t
code: WF_T_V0
entry: n
stores:
  log: { kind: appendonly, path: log.jsonl }
nodes:
  n:
    steps:
      - { id: a, cs: log, op: APPEND, inputs: { record: $.payload } }
    routes: { default: { exit: DONE, reason: ok } }
`;

const temps = new TempDirs();
const boxes: Sandbox[] = [];
afterEach(() => {
  temps.cleanup();
  for (const b of boxes.splice(0)) b.cleanup();
});

/** A PGS sandbox with a regular file `dfile` beside its workspace. */
function pgs(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  writeFileSync(join(b.root, "dfile"), "x");
  return b;
}

/** A directory holding a compiled snapshot `s.snap` and a regular file `dfile`. */
function snap(): string {
  const d = temps.make();
  writeFileSync(join(d, "w.yaml"), DECL);
  expect(cairn(["wf", "compile", "w.yaml", "--out", "s.snap"], { cwd: d, env: NO_STORE }).status).toBe(0);
  writeFileSync(join(d, "dfile"), "x");
  return d;
}

function refused(r: ReturnType<typeof cairn>, message: string, details: Record<string, unknown>): void {
  expect(r.status, r.err).toBe(1);
  const e = jsonError(r);
  expect(e.code).toBe("E_INVALID_INPUT");
  expect(e.message).toBe(message);
  expect(e.details).toEqual(details);
}

describe("a data root that is a file, named as given", () => {
  it("wf run (PGS): --data-root, or $PGS_DATA_ROOT said so", () => {
    const b = pgs();
    refused(cairn(["--json", "wf", "run", "--workspace", "workspace", "--wf", WF.actor, "--data-root", "dfile", "--no-render"], { cwd: b.root, env: NO_STORE }), NOT_A_DIR, { field: "--data-root", path: "dfile" });
    refused(cairn(["--json", "wf", "run", "--workspace", "workspace", "--wf", WF.actor, "--no-render"], { cwd: b.root, env: { ...NO_STORE, PGS_DATA_ROOT: "dfile" } }), FROM_ENV, { field: "--data-root", path: "dfile", env: "$PGS_DATA_ROOT" });
  });

  it("wf run --snapshot: the same", () => {
    const d = snap();
    refused(cairn(["--json", "wf", "run", "--snapshot", "s.snap", "--data-root", "dfile", "--no-render"], { cwd: d, env: NO_STORE }), NOT_A_DIR, { field: "--data-root", path: "dfile" });
    refused(cairn(["--json", "wf", "run", "--snapshot", "s.snap", "--no-render"], { cwd: d, env: { ...NO_STORE, PGS_DATA_ROOT: "dfile" } }), FROM_ENV, { field: "--data-root", path: "dfile", env: "$PGS_DATA_ROOT" });
  });

  it("serve (PGS and --snapshot): the same words, before it listens", () => {
    const b = pgs();
    refused(cairn(["--json", "serve", "--port", "0", "--workspace", "workspace", "--data-root", "dfile"], { cwd: b.root, env: NO_STORE }), NOT_A_DIR, { field: "--data-root", path: "dfile" });
    refused(cairn(["--json", "serve", "--port", "0", "--workspace", "workspace"], { cwd: b.root, env: { ...NO_STORE, PGS_DATA_ROOT: "dfile" } }), FROM_ENV, { field: "--data-root", path: "dfile", env: "$PGS_DATA_ROOT" });
    const d = snap();
    refused(cairn(["--json", "serve", "--port", "0", "--snapshot", "s.snap", "--data-root", "dfile"], { cwd: d, env: NO_STORE }), NOT_A_DIR, { field: "--data-root", path: "dfile" });
    refused(cairn(["--json", "serve", "--port", "0", "--snapshot", "s.snap"], { cwd: d, env: { ...NO_STORE, PGS_DATA_ROOT: "dfile" } }), FROM_ENV, { field: "--data-root", path: "dfile", env: "$PGS_DATA_ROOT" });
  });
});

describe("a workspace that is a file is named first (its default data root lies in it)", () => {
  it("serve and wf run: E_NOT_FOUND workspace X is not a directory, not the data root's error", () => {
    const b = pgs();
    for (const args of [["serve", "--port", "0"], ["wf", "run", "--wf", WF.actor, "--no-render"]]) {
      const r = cairn(["--json", ...args, "--workspace", "dfile"], { cwd: b.root, env: NO_STORE });
      expect(r.status, r.err).toBe(1);
      expect(jsonError(r)).toEqual({ code: "E_NOT_FOUND", message: "workspace dfile is not a directory", details: { field: "--workspace", path: "dfile" } });
    }
  });
});
