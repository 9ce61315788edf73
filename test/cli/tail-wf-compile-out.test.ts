/**
 * `cairn wf compile --out F --store S`, through the BUILT cli (CAIRN_TEST_CLI): a new S is created
 * only after F is staged, so an F that cannot be written leaves no new store (it left S created:
 * FORMAT + catalog.sqlite); an existing S is opened before F is staged, so it stays as it was and
 * a signal during its lock wait leaves no temp file; a store that cannot be opened still leaves
 * nothing written, no temp file either.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, CLI, json, jsonError, TempDirs } from "./helpers.js";


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

  it("an existing store's lock waited for, then SIGINT: no temp file of --out is left (the store is opened before the stage)", { timeout: 60_000 }, async () => {
    const d = temps.make();
    expect(cairn(["--store", "st", "init"], { cwd: d, env: NO_STORE }).status).toBe(0);
    // Another process holds the store's writer lock (an EXCLUSIVE transaction on writer.lock, store/lock.ts).
    const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    const holder = spawn(process.execPath, ["-e", `const D = require(${JSON.stringify(sqlite)}); const db = new D(process.argv[1]); db.exec("BEGIN EXCLUSIVE"); console.log("held"); setInterval(() => {}, 1000);`, join(d, "st", "writer.lock")], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((res, rej) => {
        holder.stdout.on("data", () => res());
        holder.on("exit", (c) => rej(new Error(`lock holder exited ${c}`)));
      });
      const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
      delete env.CAIRN_STORE;
      const compile = spawn(process.execPath, [CLI, "--store", "st", "--wait", "60s", "wf", "compile", EXAMPLES, "--out", "out.json"], { cwd: d, env, stdio: "ignore" });
      const exited = new Promise<number | null>((res) => compile.on("exit", (code) => res(code)));
      // Earlier builds staged --out first: its temp file appeared while the compile waited for the lock.
      const temps = (): string[] => readdirSync(d).filter((n) => n.startsWith("out.json."));
      for (let i = 0; i < 50 && temps().length === 0; i++) await sleep(100);
      compile.kill("SIGINT");
      await exited;
      expect(temps()).toEqual([]);
      expect(existsSync(join(d, "out.json"))).toBe(false);
    } finally {
      holder.kill("SIGKILL");
    }
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

  it("--json names the pinned root when the snapshot is stored, null when not", () => {
    const d = temps.make();
    const none = cairn(["--json", "wf", "compile", EXAMPLES], { cwd: d, env: NO_STORE });
    expect(none.status, none.err).toBe(0);
    expect(json<{ stored: boolean; root: string | null }>(none)).toMatchObject({ stored: false, root: null });
    const kept = cairn(["--json", "--store", "st", "wf", "compile", EXAMPLES], { cwd: d, env: NO_STORE });
    const j = json<{ digest: string; stored: boolean; root: string | null }>(kept);
    expect(j).toMatchObject({ stored: true, root: `cairn-wf-snapshot:${j.digest}` });
    expect(cairn(["--store", "st", "store", "roots", "--json"], { cwd: d, env: NO_STORE }).out).toContain(j.root as string);
  });

  it("both usable: F replaced (keeping its mode) and the snapshot stored; the digest is the file's", () => {
    const d = temps.make();
    writeFileSync(join(d, "old.json"), "previous\n");
    chmodSync(join(d, "old.json"), 0o640);
    const r = cairn(["--json", "--store", "st", "wf", "compile", EXAMPLES, "--out", "old.json"], { cwd: d, env: NO_STORE });
    expect(r.status, r.err).toBe(0);
    const j = json<{ digest: string; out: string; stored: boolean }>(r);
    expect(j).toMatchObject({ out: "old.json", stored: true, root: `cairn-wf-snapshot:${j.digest}` });
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
