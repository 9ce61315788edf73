/**
 * SEMANTICS C.4 step 1: the mutable-JSON store's file is `module_data_root + "/" + entity.path`.
 * An entity path starting with `/` is therefore no absolute path: `<root>//abs/collatz.json` is
 * `<root>/abs/collatz.json`, inside the data root. The runtime (effects/confine.ts) and the
 * prior/posterior state capture (pgs/state.ts) name the same file; `..` and symlinks leading out
 * are still refused.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { confineRelative } from "../../src/workflow/effects/index.js";
import { captureState, fromPlain, loadSnapshot, relevantFiles, runPgsWorkflow, stateDigest, type PgsRunResult, type PyValue } from "../../src/workflow/pgs/index.js";
import { scratchPerTest, WF, type Sandbox } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();

const DECLARED = '"path": "ai_governance/collatz_conjecture/collatz_results.json"';
/** RB 37 (the Collatz workflow's) and its mutable-JSON CS. */
const COLLATZ_RB = 37;

/** The sandbox with the Collatz store's entity path replaced by `entityPath`. */
function withEntityPath(entityPath: string): Sandbox {
  const b = box();
  const p = join(b.workspace, "tokenized_snapshot/ai_governance/handlers.json");
  const text = readFileSync(p, "utf8");
  expect(text.split(DECLARED)).toHaveLength(2);
  writeFileSync(p, text.replace(DECLARED, `"path": ${JSON.stringify(entityPath)}`));
  return b;
}

function collatz(b: Sandbox): PgsRunResult {
  return runPgsWorkflow({ workspace: b.workspace, workflow: WF.collatz, payload: fromPlain({ numbers: [1] }) as Map<string, PyValue>, dataRoot: b.dataRoot });
}

describe("an entity path starting with '/' is appended to module_data_root (C.4)", () => {
  it.each(["/abs/collatz.json", "//abs/collatz.json"])("%s: the run writes <data root>/abs/collatz.json, the file the state capture names", (entityPath) => {
    const b = withEntityPath(entityPath);
    const files = relevantFiles(loadSnapshot(b.workspace, "ai_governance"), COLLATZ_RB, b.dataRoot);
    expect(files).toEqual(["abs/collatz.json"]);
    const r = collatz(b);
    expect(r.error).toBeNull();
    expect(r.status).toBe("SUCCESS");
    expect(r.effects.map((e) => `${e.step}:${e.op}:${e.status}`)).toContain("store_results:WRITE:SUCCESS");
    const written = readFileSync(join(b.dataRoot, "abs/collatz.json"));
    expect(JSON.parse(written.toString("utf8"))).toHaveProperty("collatz_results");
    // The posterior state is the capture of that very file.
    const state = captureState(b.dataRoot, files);
    expect(state.map((f) => [f.path, f.digest])).toEqual([["abs/collatz.json", sha256(written)]]);
    expect(r.digests.posteriorState).toBe(stateDigest(state));
  });

  it("confineRelative: a leading '/' stays under the base; the base itself, '..' and NUL are refused", () => {
    const root = dir();
    expect(confineRelative(root, root, "/abs/x.json")).toEqual({ root, rel: "abs/x.json" });
    expect(confineRelative(root, `${root}/m`, "//abs/x.json")).toEqual({ root, rel: "m/abs/x.json" });
    const refusal = (rel: string): string => {
      try {
        confineRelative(root, root, rel);
      } catch (err) {
        return `${(err as { code: string }).code} ${(err as Error).message}`;
      }
      return "accepted";
    };
    expect(refusal("/")).toBe('E_PATH_CONFINEMENT path confinement: "{{module_data_root}}//" names the data root itself, not a file');
    expect(refusal("/../x.json")).toBe(`E_PATH_CONFINEMENT path confinement: "/../x.json" contains a '..' segment`);
    expect(refusal("/a/../x.json")).toBe(`E_PATH_CONFINEMENT path confinement: "/a/../x.json" contains a '..' segment`);
    expect(refusal("/x\0.json")).toBe('E_PATH_CONFINEMENT path confinement: "/x\\u0000.json" contains a NUL byte');
  });

  it("'/a/../collatz.json' is still refused at run time and names no state file", () => {
    const b = withEntityPath("/a/../collatz.json");
    expect(relevantFiles(loadSnapshot(b.workspace, "ai_governance"), COLLATZ_RB, b.dataRoot)).toEqual([]);
    const r = collatz(b);
    expect(r.status).toBe("ERROR");
    expect(r.error).toMatchObject({ code: "E_PATH_CONFINEMENT", message: `path confinement: "/a/../collatz.json" contains a '..' segment` });
    expect(existsSync(join(b.dataRoot, "collatz.json"))).toBe(false);
  });

  it("a symlinked directory leading out of the data root is still refused", () => {
    const b = withEntityPath("/abs/collatz.json");
    const outside = join(b.root, "outside");
    mkdirSync(outside);
    symlinkSync(outside, join(b.dataRoot, "abs"));
    const r = collatz(b);
    expect(r.status).toBe("ERROR");
    expect(r.error).toMatchObject({ code: "E_PATH_CONFINEMENT", message: 'path confinement: "abs" is a symlink leading outside the data root' });
    expect(existsSync(join(outside, "collatz.json"))).toBe(false);
  });
});
