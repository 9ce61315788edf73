/**
 * Store library fixes from UAT round 3 (u3 findings F1, F2, F6, F8, F10, F11, F13):
 * - getToFile refuses a destination inside the store (its catalog, objects/) or a hard link to
 *   its catalog, as `store get -o` and `run --out` do (checkOutPath + storeExclusion);
 * - option objects and records of Store methods: unknown keys and wrong-typed values are E_USAGE
 *   naming the key (with "did you mean"), never dropped — a misspelt dry run never sweeps;
 * - wrong-typed arguments are E_USAGE, never the driver's RangeError / TypeError / SqliteError;
 * - transaction() takes a synchronous function;
 * - findReceipt with a malformed digest is E_DIGEST_INVALID, not "no receipt";
 * - the handle may be written while a list() is being read;
 * - a put that de-duplicated is covered by gc's writer session.
 */
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError, ErrorCode, openStore, sha256, type Digest, type Store } from "../../src/index.js";
import { steppingClock } from "../../src/core/clock.js";
import { expectCairn, expectCairnAsync, tempDir } from "./helpers.js";

const T0 = 1_700_000_000_000;
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function newDir(): string {
  const t = tempDir("cairn-uat3-");
  cleanups.push(t.cleanup);
  return t.dir;
}

/** A writer on `dir` whose clock starts at `start` (1 ms a reading). */
function writer(dir: string, start = T0): Store {
  const s = openStore({ dir, clock: steppingClock(start, 1), durability: "normal" });
  cleanups.push(() => s.close());
  return s;
}

/** A store holding one unpinned artifact written by a handle now closed; a new writer opened 10 s later. */
function storeWithGarbage(): { s: Store; dir: string; d: Digest } {
  const dir = join(newDir(), "store");
  const first = writer(dir);
  const d = first.putBytes(Buffer.from("unpinned garbage")).digest;
  first.close();
  return { s: writer(dir, T0 + 10_000), dir, d };
}

describe("getToFile refuses a destination inside the store (F6)", () => {
  it("the catalog, a file in objects/ and a new file in the store are E_USAGE; nothing is written and the store stays whole", async () => {
    const dir = join(newDir(), "store");
    const s = writer(dir);
    const d = s.putBytes(Buffer.from("payload-bytes-not-a-database")).digest;
    const big = s.putBytes(Buffer.alloc(100_000, 9)).digest;
    const catalogBefore = readFileSync(join(dir, "catalog.sqlite"));
    for (const dest of [join(dir, "catalog.sqlite"), join(dir, "objects", "evil"), join(dir, "FORMAT"), join(dir, "new-file"), join(dir, "tmp", "x")]) {
      const e = await expectCairnAsync(s.getToFile(d, dest), ErrorCode.USAGE);
      expect(e.message).toBe(`getToFile dest ${dest} is inside the store ${dir}`);
      expect(e.details).toMatchObject({ field: "getToFile dest", path: dest });
    }
    expect(existsSync(join(dir, "objects", "evil"))).toBe(false);
    expect(existsSync(join(dir, "new-file"))).toBe(false);
    expect(readFileSync(join(dir, "catalog.sqlite")).subarray(0, 16).toString("latin1")).toBe(catalogBefore.subarray(0, 16).toString("latin1"));
    s.close();
    const r = openStore({ dir, readOnly: true });
    cleanups.push(() => r.close());
    expect(r.get(d).toString()).toBe("payload-bytes-not-a-database");
    expect(r.get(big).length).toBe(100_000);
  });

  it("through a symlink into the store, or a hard link to its catalog elsewhere: E_USAGE; outside the store it writes", async () => {
    const base = newDir();
    const dir = join(base, "store");
    const s = writer(dir);
    const d = s.putBytes(Buffer.from("bytes")).digest;
    symlinkSync(dir, join(base, "alias"));
    await expectCairnAsync(s.getToFile(d, join(base, "alias", "catalog.sqlite")), ErrorCode.USAGE);
    symlinkSync(join(dir, "catalog.sqlite"), join(base, "cat-link"));
    await expectCairnAsync(s.getToFile(d, join(base, "cat-link")), ErrorCode.USAGE);
    linkSync(join(dir, "catalog.sqlite"), join(base, "hard"));
    const e = await expectCairnAsync(s.getToFile(d, join(base, "hard")), ErrorCode.USAGE);
    expect(e.message).toBe(`getToFile dest ${join(base, "hard")} is catalog.sqlite of the store ${dir} (a hard link to it)`);
    expect(s.get(d).toString()).toBe("bytes");
    // A sibling directory whose name starts with the store's is not inside it.
    mkdirSync(`${dir}-out`);
    await s.getToFile(d, join(`${dir}-out`, "o.bin"));
    expect(readFileSync(join(`${dir}-out`, "o.bin"), "utf8")).toBe("bytes");
  });

  it("a dest that is not a non-empty string is E_USAGE", async () => {
    const s = writer(join(newDir(), "store"));
    const d = s.putBytes(Buffer.from("x")).digest;
    for (const dest of ["", null, 5, undefined]) {
      const e = await expectCairnAsync(s.getToFile(d, dest as unknown as string), ErrorCode.USAGE);
      expect(e.details.field).toBe("dest");
    }
  });
});

describe("Store option objects: unknown keys and wrong types are E_USAGE naming the key (F1)", () => {
  it("gc({ dryrun: true }) is refused with the key it meant, and sweeps nothing", () => {
    const { s, d } = storeWithGarbage();
    const e = expectCairn(() => s.gc({ dryrun: true, graceMs: 0 } as never), ErrorCode.USAGE);
    expect(e.message).toBe('unknown gc option "dryrun" (did you mean "dryRun"?); the gc options are dryRun, graceMs');
    expect(e.details).toEqual({ field: "dryrun", suggestion: "dryRun" });
    expect(s.stat(d).state).toBe("present");
    expect(s.get(d).toString()).toBe("unpinned garbage");
  });

  it("a dryRun that is not a boolean is refused, not read as false", () => {
    const { s, d } = storeWithGarbage();
    for (const [v, shown] of [[1, "1"], ["true", 'a string "true"'], [null, "null"]] as const) {
      const e = expectCairn(() => s.gc({ dryRun: v, graceMs: 0 } as never), ErrorCode.USAGE);
      expect(e.message).toBe(`gc dryRun must be a boolean, got ${shown}`);
      expect(e.details.field).toBe("dryRun");
    }
    expect(expectCairn(() => s.gc({ graceMs: "0" } as never), ErrorCode.USAGE).details.field).toBe("graceMs");
    expect(s.stat(d).state).toBe("present");
    // The real thing still works: a dry run decides and keeps, a sweep sweeps.
    expect(s.gc({ dryRun: true, graceMs: 0 })).toMatchObject({ dryRun: true, sweptCount: 1 });
    expect(s.stat(d).state).toBe("present");
    expect(s.gc({ graceMs: 0 })).toMatchObject({ dryRun: false, sweptCount: 1 });
  });

  it("lineage, putBytes, put, list, reads, iterateRoots, addEdge and recordReceipt refuse unknown keys", async () => {
    const s = writer(join(newDir(), "store"));
    const a = s.putBytes(Buffer.from("a")).digest;
    const b = s.putBytes(Buffer.from("b")).digest;
    s.addEdge({ from: [a], to: [b], type: "derived_from", role: "input" });
    const field = (f: () => unknown): unknown => expectCairn(f, ErrorCode.USAGE).details;
    expect(field(() => s.lineage(b, { dept: 3 } as never))).toEqual({ field: "dept", suggestion: "depth" });
    expect(field(() => s.putBytes(Buffer.from("c"), { mediatype: "text/plain" } as never))).toEqual({ field: "mediatype", suggestion: "mediaType" });
    expect((await expectCairnAsync(s.put("c", { mediatype: "text/plain" } as never), ErrorCode.USAGE)).details).toEqual({ field: "mediatype", suggestion: "mediaType" });
    expect(s.has(sha256("c"))).toBe(false);
    expect(field(() => s.list({ limt: 1 } as never))).toEqual({ field: "limt", suggestion: "limit" });
    expect(field(() => s.get(a, { asof: 1 } as never))).toEqual({ field: "asof", suggestion: "asOf" });
    expect(field(() => s.stat(a, { asof: 1 } as never))).toEqual({ field: "asof", suggestion: "asOf" });
    expect(field(() => s.has(a, { asof: 1 } as never))).toEqual({ field: "asof", suggestion: "asOf" });
    expect(field(() => s.openReadStream(a, { asof: 1 } as never))).toEqual({ field: "asof", suggestion: "asOf" });
    expect(field(() => s.iterateRoots({ prefx: "run:" } as never))).toEqual({ field: "prefx", suggestion: "prefix" });
    const edge = expectCairn(() => s.addEdge({ from: [a], to: [b], type: "derived_from", role: "input", weight: 1 } as never), ErrorCode.USAGE);
    expect(edge.message).toBe('unknown edge field "weight"; the edge fields are from, to, type, role');
    const receipt = { program: a, inputs: [a], outputs: [b], status: "succeeded" as const };
    const e = expectCairn(() => s.recordReceipt({ ...receipt, extra: 1 } as never), ErrorCode.USAGE);
    expect(e.details).toEqual({ field: "extra" });
    expect(s.findReceipt(a, [a])).toBeUndefined();
    // A view fixes asOf: passing one is refused, not silently overridden.
    const view = s.at(s.headLogseq());
    expect(field(() => view.list({ asOf: 0 } as never))).toMatchObject({ field: "asOf" });
    expect(field(() => view.lineage(b, { asOf: 0 } as never))).toMatchObject({ field: "asOf" });
    expect(view.lineage(b).edges).toHaveLength(1);
  });

  it("lineage direction must be up or down (it walked down while reporting the value given)", () => {
    const s = writer(join(newDir(), "store"));
    const a = s.putBytes(Buffer.from("a")).digest;
    const e = expectCairn(() => s.lineage(a, { direction: "sideways" } as never), ErrorCode.USAGE);
    expect(e.message).toBe('lineage direction must be "up" or "down", got a string "sideways"');
    expect(e.details.field).toBe("direction");
    expect(s.lineage(a, { direction: "down" }).direction).toBe("down");
  });
});

describe("wrong-typed arguments are E_USAGE, never the driver's errors (F13)", () => {
  it("at, setCacheBytes, read options, gc, recordReceipt, addEdge", () => {
    const s = writer(join(newDir(), "store"));
    const d = s.putBytes(Buffer.from("x")).digest;
    const usage = (f: () => unknown): CairnError => expectCairn(f, ErrorCode.USAGE);
    expect(usage(() => s.at({} as never)).message).toBe("at takes a snapshot name (a string) or a logseq (a non-negative integer), got an object");
    expect(usage(() => s.at(-1)).code).toBe(ErrorCode.USAGE);
    for (const bad of ["x", -1, 1.5, Number.NaN, null]) expect(usage(() => s.setCacheBytes(bad as never)).details.field).toBe("bytes");
    const prev = s.setCacheBytes(4 << 20);
    expect(s.setCacheBytes(prev)).toBe(4 << 20);
    for (const f of [() => s.get(d, null as never), () => s.stat(d, null as never), () => s.has(d, null as never), () => s.list(null as never)]) {
      expect(usage(f).message).toMatch(/^(get|stat|has|list) options must be an object, got null$/);
    }
    expect(usage(() => s.gc(null as never)).message).toBe("gc options must be an object, got null");
    expect(usage(() => s.gc("dry" as never)).details.field).toBe("options");
    expect(usage(() => s.recordReceipt(null as never)).message).toBe("recordReceipt takes the receipt as an object, got null");
    expect(usage(() => s.addEdge(null as never)).message).toBe("addEdge takes the edge as an object, got null");
    expect(usage(() => s.addEdge(undefined as never)).details.field).toBe("edge");
  });
});

describe("transaction takes a synchronous function (F8)", () => {
  it("an async function is refused before it runs; one returning a promise is rolled back; a non-function is refused", async () => {
    const s = writer(join(newDir(), "store"));
    const head = s.headLogseq();
    let ran = false;
    const e = expectCairn(
      () =>
        s.transaction(async () => {
          ran = true;
          s.putBytes(Buffer.from("async-write"));
        }),
      ErrorCode.USAGE,
    );
    expect(e.message).toBe("transaction takes a synchronous function, got an async function: its writes after an await would run outside the transaction");
    expect(ran).toBe(false);
    const p = Promise.resolve();
    const e2 = expectCairn(
      () =>
        s.transaction(() => {
          s.putBytes(Buffer.from("promise-write"));
          return p;
        }),
      ErrorCode.USAGE,
    );
    expect(e2.message).toMatch(/got a function that returned a promise: .*\(what it wrote before returning was rolled back\)$/);
    await p;
    expect(s.has(sha256("promise-write"))).toBe(false);
    expect(s.headLogseq()).toBe(head);
    expect(expectCairn(() => s.transaction(5 as never), ErrorCode.USAGE).message).toBe("transaction takes a synchronous function, got 5");
    expect(s.transaction(() => s.putBytes(Buffer.from("sync")).created)).toBe(true);
  });
});

describe("findReceipt with a malformed digest is E_DIGEST_INVALID (F2)", () => {
  it("program, an input, and through a view", () => {
    const s = writer(join(newDir(), "store"));
    const a = s.putBytes(Buffer.from("a")).digest;
    expectCairn(() => s.findReceipt("nope" as Digest, ["also-bad" as Digest]), ErrorCode.DIGEST_INVALID);
    expectCairn(() => s.findReceipt("sha256:XYZ", []), ErrorCode.DIGEST_INVALID);
    expectCairn(() => s.findReceipt(a, ["sha256:XYZ"]), ErrorCode.DIGEST_INVALID);
    expectCairn(() => s.at(s.headLogseq()).findReceipt(a, ["bad" as Digest]), ErrorCode.DIGEST_INVALID);
    expect(expectCairn(() => s.findReceipt(a, a as never), ErrorCode.USAGE).details.field).toBe("inputs");
    expect(s.findReceipt(a, [a])).toBeUndefined();
    s.recordReceipt({ program: a, inputs: [a], outputs: [a], status: "succeeded" });
    expect(s.findReceipt(a, [a])?.program).toBe(a);
  });
});

describe("writing while a list() is being read (F10)", () => {
  it("puts, pins and gc inside the loop work; artifacts put meanwhile are listed", () => {
    const s = writer(join(newDir(), "store"));
    const n = 2_500; // more than a page
    for (let i = 0; i < n; i++) s.putBytes(Buffer.from(`item${i}`));
    const before = new Set([...s.list()].map((a) => a.digest));
    const seen = new Set<Digest>();
    for (const a of s.list()) {
      if (seen.size % 500 === 0) s.putBytes(Buffer.from(`during${seen.size}`));
      if (seen.size === 7) s.pin("kept", a.digest);
      seen.add(a.digest);
    }
    // Every artifact there at the start, in order, and some put while listing (those put before
    // their page was read; each page is read when the one before it is used up).
    for (const d of before) expect(seen.has(d)).toBe(true);
    expect(seen.size).toBeGreaterThan(n);
    expect(s.findRoot("kept")).toBeDefined();
    let k = 0;
    for (const _ of s.list()) if (k++ === 10) s.gc({ graceMs: 0, dryRun: true });
    expect(k).toBe(n + 6);
    // Paging keeps afterLogseq, limit and filters.
    const firstThree = [...s.list({ limit: 3 })];
    expect(firstThree).toHaveLength(3);
    expect([...s.list({ afterLogseq: firstThree[2]?.logseq, limit: 2 })].map((a) => a.logseq)).toEqual([
      (firstThree[2]?.logseq as number) + 1,
      (firstThree[2]?.logseq as number) + 2,
    ]);
  });
});

describe("gc's writer session covers a put that de-duplicated (F11)", () => {
  it("the handle's own re-put of bytes an earlier handle wrote is not swept by its gc", async () => {
    const dir = join(newDir(), "store");
    const first = writer(dir);
    const old = first.putBytes(Buffer.from("other garbage")).digest;
    first.putBytes(Buffer.from("shared bytes"));
    first.close();
    const s = writer(dir, T0 + 10_000);
    const r = s.putBytes(Buffer.from("shared bytes"));
    expect(r.created).toBe(false);
    const report = s.gc({ graceMs: 0 });
    expect(report.swept.map((x) => x.digest)).toEqual([old]); // the other unpinned artifact goes
    expect(s.get(r.digest).toString()).toBe("shared bytes");
    s.close();
    // A streamed put that de-duplicates, in the next handle.
    const t = writer(dir, T0 + 20_000);
    const p = await t.put(
      (async function* () {
        yield "shared ";
        yield "bytes";
      })(),
    );
    expect(p).toMatchObject({ created: false, digest: sha256("shared bytes"), logseq: r.logseq });
    expect(t.gc({ graceMs: 0 }).sweptCount).toBe(0);
    expect(t.get(p.digest).toString()).toBe("shared bytes");
  });
});
