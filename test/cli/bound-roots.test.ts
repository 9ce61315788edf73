/**
 * `cairn store roots` and `cairn runs ls` over many roots, through the BUILT cli: `store roots`
 * streams the roots a page at a time with the same bytes as before (human lines and the
 * `--json` array), across page boundaries; `runs ls` reads only the `run:` roots, so the other
 * roots (`plane:`, `pgs:` … which `serve --store` and plane evidence accumulate) neither cost it
 * memory nor stop it.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { ROOTS_PAGE } from "../../src/store/refs.js";
import { CATALOG_FILE } from "../../src/store/layout.js";
import { storeCli, TempDirs } from "./helpers.js";
import { planRun } from "../batch/fixtures/engine-helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;

const { run, ok } = storeCli(() => ({ cwd: dir, store }));

/** Writes to the test's store with the library, then closes it. */
function withWriter<T>(fn: (s: Store) => T): T {
  const s = openStore({ dir: store, durability: "normal" });
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

function pinMany(s: Store, prefix: string, n: number, kind: "pin" | "run"): void {
  s.transaction(() => {
    for (let i = 0; i < n; i++) s.pin(`${prefix}${String(i).padStart(6, "0")}`, s.putBytes(Buffer.from(`${prefix}${i}`)).digest, kind);
  });
}


beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
});
afterEach(() => temps.cleanup());

describe("cairn store roots", () => {
  it("prints every root across pages, byte for byte as one listing did (human and --json)", () => {
    const roots = withWriter((s) => {
      pinMany(s, "pgs:", ROOTS_PAGE + 1, "run");
      pinMany(s, "keep", 2, "pin");
      return s.listRoots();
    });
    expect(roots).toHaveLength(ROOTS_PAGE + 3);
    expect(ok(["store", "roots"]).out).toBe(roots.map((r) => `${r.name}  ${r.kind}  ${r.digest}\n`).join(""));
    expect(ok(["store", "roots", "--json"]).out).toBe(`[\n${roots.map((r) => `  ${JSON.stringify(r)}`).join(",\n")}\n]\n`);
  });
});

describe("cairn runs ls", () => {
  it("lists the runs among many other roots; a corrupt non-run root does not stop it", () => {
    const [a, b] = withWriter((s) => {
      const first = planRun(s, "a.mjs");
      pinMany(s, "plane:", ROOTS_PAGE + 5, "run");
      return [first, planRun(s, "b.mjs")];
    });
    const before = ok(["runs", "ls", "--json"]).out;
    expect((JSON.parse(before) as Array<{ runId: string; function: string }>).map((r) => [r.runId, r.function])).toEqual([
      [a, "a.mjs"],
      [b, "b.mjs"],
    ]);
    const table = ok(["runs", "ls"]).out;
    const db = new Database(join(store, CATALOG_FILE));
    db.prepare("UPDATE roots SET digest = x'02' WHERE name = 'plane:000007'").run();
    db.close();
    // runs ls never reads the plane: roots: the same bytes as before the damage
    expect(ok(["runs", "ls", "--json"]).out).toBe(before);
    expect(ok(["runs", "ls"]).out).toBe(table);
    // listing every root meets it: E_STORE_CORRUPT, exit 1, after the roots before it
    const roots = run(["store", "roots"]);
    expect(roots.status).toBe(1);
    expect(roots.err).toBe(`cairn: the catalog is corrupt: root "plane:000007" holds x'02', not a 32-byte digest; run cairn fsck [E_STORE_CORRUPT]\n`);
    expect(roots.out.split("\n").slice(0, -1).map((l) => l.split("  ")[0])).toEqual([
      `run:${a}`,
      ...Array.from({ length: 7 }, (_, i) => `plane:${String(i).padStart(6, "0")}`),
    ]);
  });
});
