/**
 * `cairn wf compile --out F --store S`, through the BUILT cli (CAIRN_TEST_CLI): F is staged
 * before S is opened and committed after, so an F that cannot be written leaves no new store
 * (it left S created: FORMAT + catalog.sqlite) and an existing S as it was; a store that cannot
 * be opened still leaves nothing written, no temp file either.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const NO_STORE = { CAIRN_STORE: undefined };

/** Every file under `dir` (relative path → sha256 of its bytes), directories as "dir". */
function tree(dir: string, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory()) Object.assign(out, { [rel]: "dir" }, tree(join(dir, e.name), `${rel}/`));
    else out[rel] = createHash("sha256").update(readFileSync(join(dir, e.name))).digest("hex");
  }
  return out;
}

describe("wf compile: an --out that cannot be written creates no store", () => {
  it("--out through a regular file (ENOTDIR): exit 1 E_STORE_IO naming --out, the new store is not created", () => {
    const d = temps.make();
    writeFileSync(join(d, "in.txt"), "x\n");
    const r = cairn(["--store", "wfst", "wf", "compile", EXAMPLES, "--out", "in.txt/x.json"], { cwd: d, env: NO_STORE });
    expect([r.status, r.out]).toEqual([1, ""]);
    expect(r.err).toContain("cannot write --out in.txt/x.json: ");
    expect(r.err).toContain("[E_STORE_IO]");
    expect(existsSync(join(d, "wfst"))).toBe(false);
    expect(readdirSync(d)).toEqual(["in.txt"]);
    // The same through $CAIRN_STORE, with --json: one error document, field --out.
    const j = cairn(["--json", "wf", "compile", EXAMPLES, "--out", "in.txt/x.json"], { cwd: d, env: { CAIRN_STORE: join(d, "envst") } });
    expect([j.status, j.out]).toEqual([1, ""]);
    expect(jsonError(j)).toMatchObject({ code: "E_STORE_IO", details: { field: "--out", path: "in.txt/x.json" } });
    expect(readdirSync(d)).toEqual(["in.txt"]);
  });

  it("--out naming a directory (EISDIR): no store created", () => {
    const d = temps.make();
    mkdirSync(join(d, "outdir"));
    const r = cairn(["--store", "wfst", "wf", "compile", EXAMPLES, "--out", "outdir"], { cwd: d, env: NO_STORE });
    expect(r.status).toBe(1);
    expect(r.err).toContain("cannot write --out outdir: ");
    expect(readdirSync(d)).toEqual(["outdir"]);
    expect(readdirSync(join(d, "outdir"))).toEqual([]);
  });

  it("an existing store is left as it was, byte for byte", () => {
    const d = temps.make();
    writeFileSync(join(d, "in.txt"), "x\n");
    expect(cairn(["--store", "st", "init"], { cwd: d, env: NO_STORE }).status).toBe(0);
    const before = tree(join(d, "st"));
    const r = cairn(["--store", "st", "wf", "compile", EXAMPLES, "--out", "in.txt/x.json"], { cwd: d, env: NO_STORE });
    expect(r.status).toBe(1);
    expect(r.err).toContain("[E_STORE_IO]");
    expect(tree(join(d, "st"))).toEqual(before);
  });

  it("a store that cannot be opened: F keeps its bytes and no temp file is left beside it", () => {
    const d = temps.make();
    writeFileSync(join(d, "f.txt"), "x\n");
    writeFileSync(join(d, "old.json"), "previous\n");
    const r = cairn(["--store", "f.txt/st", "wf", "compile", EXAMPLES, "--out", "old.json"], { cwd: d, env: NO_STORE });
    expect(r.status).toBe(1);
    expect(r.err).toContain("[E_STORE_IO]");
    expect(readFileSync(join(d, "old.json"), "utf8")).toBe("previous\n");
    expect(readdirSync(d).sort()).toEqual(["f.txt", "old.json"]);
  });

  it("both usable: F replaced (keeping its mode) and the snapshot stored; the digest is the file's", () => {
    const d = temps.make();
    writeFileSync(join(d, "old.json"), "previous\n");
    chmodSync(join(d, "old.json"), 0o640);
    const r = cairn(["--json", "--store", "st", "wf", "compile", EXAMPLES, "--out", "old.json"], { cwd: d, env: NO_STORE });
    expect(r.status, r.err).toBe(0);
    const j = json<{ digest: string; out: string; stored: boolean }>(r);
    expect(j).toMatchObject({ out: "old.json", stored: true });
    expect(statSync(join(d, "old.json")).mode & 0o777).toBe(0o640);
    expect(readdirSync(d).sort()).toEqual(["old.json", "st"]);
    const roots = cairn(["--store", "st", "store", "roots", "--json"], { cwd: d, env: NO_STORE });
    expect(roots.out).toContain(`cairn-wf-snapshot:${j.digest}`);
    const again = cairn(["--json", "wf", "compile", EXAMPLES, "--out", "/dev/stdout"], { cwd: d, env: NO_STORE });
    expect(again.status).toBe(2); // --out naming stdout under --json: usage error, unchanged
    const plain = cairn(["-q", "wf", "compile", EXAMPLES, "--out", "/dev/stdout"], { cwd: d, env: NO_STORE });
    expect(plain.status, plain.err).toBe(0);
    expect(plain.stdout.subarray(0, plain.stdout.length - j.digest.length - 1).equals(readFileSync(join(d, "old.json")))).toBe(true);
  });
});
