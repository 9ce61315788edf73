/**
 * Listing roots in bounded memory (§5.13): `iterateRoots` reads the roots a page of ROOTS_PAGE at
 * a time (keyset on logseq), optionally only those with a name prefix; `listRoots` (one array)
 * is kept; `listRuns` reads only the `run:` roots. Before, every listing loaded every root at
 * once (`runs ls` over 400k `pgs:` roots: 464 MB), and `runs ls` read every other root too.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, listRuns, openStore, type Root, type Store } from "../../src/index.js";
import { ROOTS_PAGE } from "../../src/store/refs.js";
import { CATALOG_FILE } from "../../src/store/layout.js";
import { expectCairn, freshStore } from "./helpers.js";
import { planRun } from "../batch/fixtures/engine-helpers.js";

let ctx: ReturnType<typeof freshStore> | undefined;
afterEach(() => {
  ctx?.cleanup();
  ctx = undefined;
});

function store(): Store {
  ctx = freshStore();
  return ctx.store;
}

/** Pins `n` roots `<prefix><i>` (kind `run`) in one transaction. */
function pinMany(s: Store, prefix: string, n: number, from = 0): void {
  s.transaction(() => {
    for (let i = from; i < from + n; i++) s.pin(`${prefix}${String(i).padStart(6, "0")}`, s.putBytes(Buffer.from(`${prefix}${i}`)).digest, "run");
  });
}


describe("iterateRoots", () => {
  it("reads a page at a time: the store can be written while iterating, and later pages see the writes", () => {
    const s = store();
    pinMany(s, "p:", ROOTS_PAGE + 2);
    const it = s.iterateRoots();
    const first = it.next();
    expect(first.done).toBe(false);
    expect((first.value as Root).name).toBe("p:000000");
    // No catalog query is open between two roots, so writes work; the second page is read
    // only now, so it sees them (a listing loaded at once would not).
    s.unpin(`p:${String(ROOTS_PAGE + 1).padStart(6, "0")}`);
    s.pin("late", s.putBytes(Buffer.from("late")).digest);
    const rest = [...it].map((r) => r.name);
    expect(rest).toHaveLength(ROOTS_PAGE + 1);
    expect(rest.at(-2)).toBe(`p:${String(ROOTS_PAGE).padStart(6, "0")}`);
    expect(rest.at(-1)).toBe("late");
    // listRoots (one array) lists the same roots, in the same (logseq) order
    expect(s.listRoots()).toEqual([...s.iterateRoots()]);
    expect(s.listRoots().map((r) => r.name)).toEqual(["p:000000", ...rest]);
  });

  it("a prefix selects by name, in logseq order, across pages", () => {
    const s = store();
    pinMany(s, "plane:", ROOTS_PAGE);
    pinMany(s, "run:", 3);
    pinMany(s, "runs", 2); // not under "run:"
    pinMany(s, "plane:", ROOTS_PAGE, ROOTS_PAGE);
    pinMany(s, "run:", 2, 3);
    pinMany(s, "ruo", 1); // the name just past the range "run:"… < "run;"
    const all = s.listRoots();
    for (const prefix of ["run:", "plane:", "run", "r", "q", ""]) {
      expect([...s.iterateRoots({ prefix })], prefix).toEqual(all.filter((r) => r.name.startsWith(prefix)));
    }
    expect([...s.iterateRoots({ prefix: "run:" })].map((r) => r.name)).toEqual(["run:000000", "run:000001", "run:000002", "run:000003", "run:000004"]);
    // a prefix no root name can hold is E_USAGE at the call
    expectCairn(() => s.iterateRoots({ prefix: "run/" }), ErrorCode.USAGE, `root name prefix "run/" must match ^[A-Za-z0-9_.:@+-]{0,128}$`);
  });

  it("a closed store: E_USAGE at the call, and when reading on", () => {
    const s = store();
    pinMany(s, "p:", 3);
    const it = s.iterateRoots();
    expect(it.next().done).toBe(false);
    s.close();
    expect(() => it.next()).toThrow(/^store is closed/);
    expectCairn(() => s.iterateRoots(), ErrorCode.USAGE);
  });
});

describe("listRuns reads only the run: roots", () => {
  it("lists the runs among many other roots, and never reads the others (a corrupt plane: root does not stop it)", () => {
    const s = store();
    const a = planRun(s, "a.mjs");
    pinMany(s, "plane:", ROOTS_PAGE + 5);
    const b = planRun(s, "b.mjs");
    expect(listRuns(s).map((r) => [r.runId, r.state, r.function])).toEqual([
      [a, "incomplete", "a.mjs"],
      [b, "incomplete", "b.mjs"],
    ]);
    s.close();
    const dir = (ctx as NonNullable<typeof ctx>).dir;
    const db = new Database(join(dir, CATALOG_FILE));
    db.prepare("UPDATE roots SET digest = x'02' WHERE name = 'plane:000007'").run();
    db.close();
    const r = openStore({ dir, readOnly: true });
    try {
      // every root listed: the corrupt one is E_STORE_CORRUPT, as before
      expectCairn(() => r.listRoots(), ErrorCode.STORE_CORRUPT, `the catalog is corrupt: root "plane:000007" holds x'02', not a 32-byte digest; run cairn fsck`);
      // the runs: read from the run: roots alone
      expect(listRuns(r).map((x) => x.runId)).toEqual([a, b]);
    } finally {
      r.close();
    }
  });
});
