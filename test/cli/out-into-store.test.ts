/**
 * An output file (`cairn run|resume --out`, `cairn store get -o/--out/--output`) in or below the
 * store directory in use, or a hard link to the store's catalog, is refused with E_USAGE naming
 * the flag and the store, before anything is written (store/out-file.ts `checkOutPath`, cli/
 * context.ts `checkOutOutsideStore`). Before, `--out <store>/catalog.sqlite` renamed the output
 * over the catalog under the open database and exited 0: every run and artifact was lost. And
 * `cairn run m.js --out m.js` replaced the module's source with the output (UAT F-low-5).
 * Runs the BUILT cli (test/cli/helpers.ts).
 */
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cairn, json, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const MODULE = "export default (x) => x;\n";

let dir: string;
let store: string;
beforeEach(() => {
  dir = temps.make();
  store = join(dir, "st");
  writeFileSync(join(dir, "echo.js"), MODULE);
  writeFileSync(join(dir, "j.jsonl"), '{"a":1}\n{"a":2}\n');
  writeFileSync(join(dir, "k.jsonl"), '{"a":3}\n');
});

function run(args: string[]): ReturnType<typeof cairn> {
  return cairn(["--store", "st", ...args], { cwd: dir });
}

/** A store holding one run; returns its run id and output artifact. */
function seed(): { runId: string; outputArtifact: string } {
  const r = run(["--json", "run", "echo.js", "--input", "j.jsonl"]);
  expect(r.status, r.err).toBe(0);
  return json<{ runId: string; outputArtifact: string }>(r);
}

/** The store still opens, checks and lists the seeded run; the catalog is what it was. */
function expectStoreIntact(runId: string, catalog: Buffer): void {
  expect(readFileSync(join(store, "catalog.sqlite")).equals(catalog)).toBe(true);
  const fsck = run(["fsck"]);
  expect(fsck.status, fsck.err).toBe(0);
  const ls = run(["--json", "runs", "ls"]);
  expect(ls.status, ls.err).toBe(0);
  expect(json<{ runId: string }[]>(ls).map((s) => s.runId)).toContain(runId);
}

function expectRefused(r: ReturnType<typeof cairn>, flag: string, path: string, what: RegExp): void {
  expect(r.status, r.err).toBe(2);
  const e = jsonError(r);
  expect(e.code).toBe("E_USAGE");
  expect(e.message.startsWith(`${flag} ${path} is `)).toBe(true);
  expect(e.message).toMatch(what);
  expect(r.out).toBe("");
}

describe("--out inside the store in use is refused (UAT F-high-1)", () => {
  it("cairn run --out <store>/catalog.sqlite, also through a symlink to the store, a dangling symlink into it, or a hard link to the catalog", () => {
    const { runId } = seed();
    const catalog = readFileSync(join(store, "catalog.sqlite"));
    symlinkSync("st", join(dir, "stl"));
    symlinkSync(join("st", "objects", "new.jsonl"), join(dir, "dangling"));
    linkSync(join(store, "catalog.sqlite"), join(dir, "hard"));
    const inside = new RegExp(`inside the store ${store.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
    for (const out of ["st/catalog.sqlite", "st/FORMAT", "st/objects/x.jsonl", "st", "stl/catalog.sqlite", "dangling"]) {
      expectRefused(run(["--json", "run", "echo.js", "--input", "k.jsonl", "--out", out]), "--out", out, inside);
    }
    expectRefused(run(["--json", "run", "echo.js", "--input", "k.jsonl", "--out", "hard"]), "--out", "hard", /catalog\.sqlite of the store .*hard link/);
    expect(existsSync(join(store, "objects", "x.jsonl"))).toBe(false);
    expect(existsSync(join(store, "objects", "new.jsonl"))).toBe(false);
    expectStoreIntact(runId, catalog);
    // Nothing was run: k.jsonl's run was never planned.
    expect(json<unknown[]>(run(["--json", "runs", "ls"]))).toHaveLength(1);
  });

  it("a `..` after a symlink is the kernel's: lnk/../x where lnk points into the store, and a relative dangling link reached through it", () => {
    const { runId } = seed();
    const catalog = readFileSync(join(store, "catalog.sqlite"));
    symlinkSync(join("st", "objects"), join(dir, "lnk")); // lnk/.. is st, not dir
    symlinkSync(join("..", "newfile"), join(store, "objects", "out")); // st/objects/out → st/newfile
    for (const out of ["lnk/../catalog.sqlite-wal", "lnk/../x.jsonl", "lnk/out"]) {
      expectRefused(run(["--json", "run", "echo.js", "--input", "k.jsonl", "--out", out]), "--out", out, /inside the store /);
    }
    expect(existsSync(join(store, "newfile"))).toBe(false);
    unlinkSync(join(store, "objects", "out")); // the planted link (fsck would report it)
    expectStoreIntact(runId, catalog);
  });

  it("a store that does not exist yet is not created", () => {
    const r = cairn(["--json", "--store", "fresh", "run", "echo.js", "--input", "j.jsonl", "--out", "fresh/out.jsonl"], { cwd: dir });
    expectRefused(r, "--out", "fresh/out.jsonl", /inside the store .*fresh$/);
    expect(existsSync(join(dir, "fresh"))).toBe(false);
  });

  it("the store named by $CAIRN_STORE (and the default ./.cairn) is the one checked", () => {
    const viaEnv = cairn(["--json", "run", "echo.js", "--input", "j.jsonl", "--out", "envst/catalog.sqlite"], { cwd: dir, env: { CAIRN_STORE: "envst" } });
    expectRefused(viaEnv, "--out", "envst/catalog.sqlite", /inside the store .*envst$/);
    const viaDefault = cairn(["--json", "run", "echo.js", "--input", "j.jsonl", "--out", ".cairn/catalog.sqlite"], { cwd: dir });
    expectRefused(viaDefault, "--out", ".cairn/catalog.sqlite", /inside the store .*\.cairn$/);
    // An --out beside the store is written as before.
    const ok = run(["--json", "run", "echo.js", "--input", "j.jsonl", "--out", "out.jsonl"]);
    expect(ok.status, ok.err).toBe(0);
    expect(readFileSync(join(dir, "out.jsonl"), "utf8")).toBe('{"id":0,"output":{"a":1}}\n{"id":1,"output":{"a":2}}\n');
  });

  it("cairn resume --out <store>/catalog.sqlite", () => {
    const { runId } = seed();
    const catalog = readFileSync(join(store, "catalog.sqlite"));
    expectRefused(run(["--json", "resume", runId, "--out", "st/catalog.sqlite"]), "--out", "st/catalog.sqlite", /inside the store /);
    expectStoreIntact(runId, catalog);
  });

  it("cairn store get -o / --out / --output <store>/catalog.sqlite", () => {
    const { runId, outputArtifact } = seed();
    const catalog = readFileSync(join(store, "catalog.sqlite"));
    expectRefused(run(["--json", "store", "get", outputArtifact, "-o", "st/catalog.sqlite"]), "--out", "st/catalog.sqlite", /inside the store /);
    expectRefused(run(["--json", "store", "get", outputArtifact, "--output", "st/catalog.sqlite"]), "--output", "st/catalog.sqlite", /inside the store /);
    mkdirSync(join(dir, "sub"));
    symlinkSync(join("..", "st"), join(dir, "sub", "l"));
    expectRefused(run(["--json", "store", "get", outputArtifact, "-o", "sub/l/writer.lock"]), "--out", "sub/l/writer.lock", /inside the store /);
    expectStoreIntact(runId, catalog);
    const ok = run(["store", "get", outputArtifact, "-o", "got.jsonl"]);
    expect(ok.status, ok.err).toBe(0);
    expect(readFileSync(join(dir, "got.jsonl"), "utf8")).toBe('{"id":0,"output":{"a":1}}\n{"id":1,"output":{"a":2}}\n');
  });
});

describe("wf compile --out inside the store in use is refused", () => {
  it("before compiling, so the catalog is left as it was", () => {
    const { runId } = seed();
    const catalog = readFileSync(join(store, "catalog.sqlite"));
    writeFileSync(
      join(dir, "wf.yaml"),
      "cairn: cairn.workflow/v1\nnamespace: t\ncode: WF_T_V0\nentry: a\nstores:\n  mu: { kind: mutable, path: st/mu.json }\nnodes:\n  a:\n    steps:\n      - { id: get, cs: mu, op: READ, inputs: { key: $.payload.k } }\n    routes:\n      default: { exit: DONE, reason: read }\n",
    );
    expectRefused(run(["--json", "wf", "compile", "wf.yaml", "--out", "st/catalog.sqlite"]), "--out", "st/catalog.sqlite", /inside the store /);
    expectStoreIntact(runId, catalog);
    const ok = run(["wf", "compile", "wf.yaml", "--out", "snap.json", "-q"]);
    expect(ok.status, ok.err).toBe(0);
  });
});

describe("--out naming the module's source is refused (UAT F-low-5)", () => {
  it("the module file, also through a symlink or a hard link, is left as it was", () => {
    symlinkSync("echo.js", join(dir, "link.js"));
    linkSync(join(dir, "echo.js"), join(dir, "hard.js"));
    for (const [module, out] of [["echo.js", "echo.js"], ["link.js", "echo.js"], ["echo.js", "link.js"], ["hard.js", "echo.js"], ["echo.js", "./echo.js"]] as const) {
      expectRefused(run(["--json", "run", module, "--input", "j.jsonl", "--out", out]), "--out", out, /^--out \S+ is the module file$/);
    }
    expect(readFileSync(join(dir, "echo.js"), "utf8")).toBe(MODULE);
    expect(existsSync(store)).toBe(false); // refused before the store was created
  });
});
