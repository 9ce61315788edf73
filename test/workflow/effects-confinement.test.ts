/**
 * Path confinement of the CS runtimes: `..`, absolute paths, NUL bytes, paths outside the
 * data root, symlinks leading out, symlinked final components; symlinked directories that
 * stay inside the root are allowed.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import {
  APPENDONLY_RUNTIME,
  MUTABLE_RUNTIME,
  REGISTRY_RUNTIME,
  confineAbsolute,
  confineRelative,
  createEffectContext,
  normalizeDataRoot,
  osErrorText,
  type CsResult,
  type EffectContext,
} from "../../src/workflow/effects/index.js";
import { dict } from "./py-literal.js";

const MD = new Map([["capability", new Map()], ["operations", new Map()]]);

let base: string;
let root: string;
let outside: string;
let ctx: EffectContext;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "cairn-confine-"));
  root = join(base, "root");
  outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
  ctx = createEffectContext({ dataRoot: root, traceId: "T" });
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

function refused(fn: () => unknown, offending?: string): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    expect(e.code).toBe(ErrorCode.PATH_CONFINEMENT);
    expect(e.details["reason"]).toBe("path_confinement");
    if (offending !== undefined) expect(e.message).toContain(offending);
    return e;
  }
  throw new Error("expected a path confinement error");
}
const reg = (path: string, op = "REGISTER"): CsResult => REGISTRY_RUNTIME.execute({ op, payload: dict({ key: "k" }), config: dict({ path }), metadata: MD }, ctx);
const log = (path: string, op = "APPEND"): CsResult => APPENDONLY_RUNTIME.execute({ op, payload: dict({ record: 1n }), config: dict({ path }), metadata: MD }, ctx);
function mj(entityPath: string, op = "WRITE", moduleRoot: string = root): CsResult {
  const config = dict({ module_data_root: moduleRoot, storage_structure_artifact: { frontmatter: { core: { entity_stores: { E: { path: entityPath } } } } } });
  return MUTABLE_RUNTIME.execute({ op, payload: dict({ __pgs_store_entity__: "E", key: "k", value: 1n }), config, metadata: MD }, ctx);
}

describe("lexical rules", () => {
  it("refuses '..' segments even when they normalise back inside", () => {
    refused(() => reg(`${root}/../outside/x.json`), "..");
    refused(() => reg(`${root}/a/../b.json`), "'..'");
    refused(() => log(`${root}/a/../../outside/x.jsonl`));
    refused(() => mj("../outside/x.json"), "../outside/x.json");
    refused(() => mj("a/../../x.json"));
    expect(existsSync(join(outside, "x.json"))).toBe(false);
  });

  it("refuses absolute paths outside the root; an absolute entity path is under the module root (C.4)", () => {
    refused(() => reg(join(outside, "x.json")), outside);
    refused(() => reg(`${root}-sibling/x.json`), "-sibling");
    refused(() => reg(root), "data root itself");
    refused(() => reg(`${root}/`));
    // C.4 builds a mutable entity's file as `module_data_root + "/" + path`: a leading `/` stays inside the root.
    expect(mj("/etc/passwd").outcome).toBe("SUCCESS");
    expect(existsSync(join(root, "etc/passwd"))).toBe(true);
    refused(() => mj("x.json", "WRITE", outside));
    refused(() => mj("x.json", "WRITE", "relative/root"));
  });

  it("refuses relative configured paths and NUL bytes", () => {
    refused(() => reg("registry.json"), "registry.json");
    refused(() => reg(`${root}/a\0b.json`), "NUL");
    refused(() => mj("a\0.json"), "NUL");
    refused(() => createEffectContext({ dataRoot: "relative", traceId: "T" }));
    refused(() => createEffectContext({ dataRoot: "/a/\0", traceId: "T" }));
  });

  it("accepts '.' and repeated '/' inside the root and reports the clean relative path", () => {
    expect(confineAbsolute(root, `${root}//a/./b.json`)).toEqual({ root, rel: "a/b.json" });
    expect(confineRelative(`${root}/`, root, "./x/y.json")).toEqual({ root, rel: "x/y.json" });
    expect(normalizeDataRoot(`${root}///`)).toBe(root);
    const r = reg(`${root}//r/./reg.json`);
    expect(r.outcome).toBe("SUCCESS");
    expect(r.effect?.path).toBe("r/reg.json");
  });
});

describe("symlinks", () => {
  it("refuses a symlinked directory that leads outside the root", () => {
    symlinkSync(outside, join(root, "escape"));
    refused(() => reg(`${root}/escape/reg.json`), "escape");
    refused(() => log(`${root}/escape/sub/log.jsonl`), "outside the data root");
    refused(() => mj("escape/x.json"));
    expect(existsSync(join(outside, "reg.json"))).toBe(false);
    expect(existsSync(join(outside, "sub"))).toBe(false);
    expect(existsSync(join(outside, "x.json"))).toBe(false);
  });

  it("refuses a symlinked final component, even one pointing inside the root", () => {
    writeFileSync(join(outside, "target.json"), "{}");
    symlinkSync(join(outside, "target.json"), join(root, "out.json"));
    refused(() => mj("out.json", "READ"), "out.json");
    writeFileSync(join(root, "real.json"), "{}");
    symlinkSync(join(root, "real.json"), join(root, "alias.json"));
    refused(() => mj("alias.json", "WRITE"), "symlink");
    refused(() => reg(`${root}/alias.json`));
    refused(() => log(`${root}/alias.json`, "READ_ALL"));
    symlinkSync(join(root, "nowhere.json"), join(root, "dangling.json"));
    refused(() => log(`${root}/dangling.json`));
    expect(readFileSync(join(outside, "target.json"), "utf8")).toBe("{}");
    expect(readFileSync(join(root, "real.json"), "utf8")).toBe("{}");
  });

  it("allows a symlinked directory that stays inside the root", () => {
    mkdirSync(join(root, "real"));
    symlinkSync(join(root, "real"), join(root, "link"));
    expect(reg(`${root}/link/reg.json`).outcome).toBe("SUCCESS");
    expect(readFileSync(join(root, "real/reg.json"), "utf8")).toContain('"key": "k"');
    symlinkSync("real", join(root, "rel-link"));
    expect(mj("rel-link/sub/m.json").outcome).toBe("SUCCESS");
    expect(readFileSync(join(root, "real/sub/m.json"), "utf8")).toBe('{\n  "k": 1\n}');
  });

  it("accepts a data root that is itself reached through a symlink", () => {
    const alias = join(base, "alias-root");
    symlinkSync(root, alias);
    const c = createEffectContext({ dataRoot: alias, traceId: "T" });
    const r = REGISTRY_RUNTIME.execute({ op: "REGISTER", payload: dict({ key: "k" }), config: dict({ path: `${alias}/r.json` }), metadata: MD }, c);
    expect(r.outcome).toBe("SUCCESS");
    expect(existsSync(join(root, "r.json"))).toBe(true);
  });

  it("refuses an intermediate symlink chain that ends outside", () => {
    symlinkSync(outside, join(base, "hop"));
    symlinkSync(join(base, "hop"), join(root, "chain"));
    refused(() => mj("chain/x.json"), "chain");
  });
});

describe("special files", () => {
  it("a FIFO where a data file should be is refused (hard error), never opened", () => {
    execFileSync("mkfifo", [join(root, "fifo.json")]);
    let err: unknown;
    try {
      mj("fifo.json", "READ");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).details["reason"]).toBe("not_regular_file");
  });

  it("a directory where the document should be is a BACKEND_ERROR (an OS error on load), not a confinement error", () => {
    mkdirSync(join(root, "d"));
    expect(mj("d", "READ").outcome).toBe("BACKEND_ERROR");
  });
});

describe("no host paths in effect error messages (they go to traces)", () => {
  it("osErrorText cuts Node's `, <syscall> '<path>'` tail; other errors keep their message", () => {
    let err: unknown;
    try {
      readFileSync(join(root, "missing", "x.json"));
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toContain(root);
    expect(osErrorText(err)).toBe("ENOENT: no such file or directory");
    expect(osErrorText(new CairnError(ErrorCode.STORE_IO, `a, open '${root}'`))).toBe(`a, open '${root}'`);
    expect(osErrorText("plain")).toBe("plain");
  });

  it("a symlink leading outside names only the data-root-relative path; the target is in the details", () => {
    symlinkSync(outside, join(root, "escape"));
    let err: unknown;
    try {
      mj("escape/x.json");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).message).toBe('path confinement: "escape" is a symlink leading outside the data root');
    expect((err as CairnError).details).toMatchObject({ path: "escape" });
    expect((err as CairnError).message).not.toContain(outside);
  });
});
