/**
 * gc and fsck in bounded memory (src/store/gc.ts, src/store/fsck.ts): marking and sweeping run
 * inside SQLite and fsck walks directories as streams, so these tests pin the results rather
 * than the mechanism.
 *
 * - a property test builds random stores (packed and file-stored artifacts, edges of every
 *   kind, receipts, pins, snapshots, tombstones, revivals, prunes, earlier sweeps, writes of
 *   the handle running gc) and checks every gc report against a plain-JS reference of the
 *   documented rules (ARCHITECTURE.md §5.14): roots, breadth-first marking, receipt bodies,
 *   grace period and writer session;
 * - the swept list is capped at MAX_REPORTED_SWEPT while `sweptCount` and `sweptBytes` cover
 *   everything swept (set up through the public API: 10 000 tiny artifacts take about a second);
 * - fsck names orphan and stray files in name order, also past MAX_REPORTED_PROBLEMS.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Clock, type Digest, type GcReport, type Store } from "../../src/index.js";
import { digestFromBytes, digestToBytes } from "../../src/core/digest.js";
import { CONTAINS_EDGE_TYPE, MAX_REPORTED_SWEPT } from "../../src/store/gc.js";
import { MAX_REPORTED_PROBLEMS } from "../../src/store/fsck.js";
import { SMALL_ARTIFACT_MAX_BYTES, objectPath } from "../../src/store/layout.js";
import { tempDir } from "./helpers.js";

const EDGE_TYPES = ["contains", "derived_from", "execution", "describes"] as const;
const T0 = 1_700_000_000_000;

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

// ------------------------------------------------------------------ the reference

interface Session {
  startLogseq: number;
  startTime: number;
}

interface Expected {
  present: number;
  reachable: number;
  keptByGrace: number;
  keptAsReceipts: number;
  swept: Digest[];
  sweptBytes: number;
}

interface ArtifactRecord {
  logseq: number;
  digest: Buffer;
  size: number;
  state: number;
  created_at: number;
}

/** The edges as adjacency lists (hex digests); node rows of a missing edge row are ignored. */
function loadEdges(raw: Database.Database): Array<{ type: string; from: string[]; to: string[] }> {
  const edges = new Map<number, { type: string; from: string[]; to: string[] }>();
  for (const e of raw.prepare("SELECT logseq, edge_type FROM edges").all() as Array<{ logseq: number; edge_type: string }>) {
    edges.set(e.logseq, { type: e.edge_type, from: [], to: [] });
  }
  for (const n of raw.prepare("SELECT edge_logseq, side, node FROM edge_nodes ORDER BY edge_logseq, side, pos").all() as Array<{
    edge_logseq: number;
    side: number;
    node: Buffer;
  }>) {
    const e = edges.get(n.edge_logseq);
    if (e !== undefined) (n.side === 0 ? e.from : e.to).push(n.node.toString("hex"));
  }
  return [...edges.values()];
}

/** ARCHITECTURE.md §5.14, written the obvious way: everything in memory, breadth first. */
function referenceGc(raw: Database.Database, store: Store, session: Session, now: number, graceMs: number): Expected {
  const hex = (b: Buffer): string => b.toString("hex");
  const artifacts = raw.prepare("SELECT logseq, digest, size, state, created_at FROM artifacts ORDER BY logseq").all() as ArtifactRecord[];
  const present = artifacts.filter((a) => a.state === 0);
  const marked = new Set((raw.prepare("SELECT digest FROM roots").all() as Array<{ digest: Buffer }>).map((r) => hex(r.digest)));
  const snapshots = store.listSnapshots();
  for (const a of present) {
    // Store.has(…, {asOf}) is the §5.9 visibility rule.
    if (snapshots.some((s) => store.has(digestFromBytes(a.digest), { asOf: s.asOf }))) marked.add(hex(a.digest));
  }
  const edges = loadEdges(raw);
  const queue = [...marked];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i] as string;
    for (const e of edges) {
      const next = [...(e.type !== "contains" && e.to.includes(node) ? e.from : []), ...(e.type === "contains" && e.from.includes(node) ? e.to : [])];
      for (const n of next) {
        if (!marked.has(n)) {
          marked.add(n);
          queue.push(n);
        }
      }
    }
  }
  const receipts = new Set((raw.prepare("SELECT digest FROM receipts").all() as Array<{ digest: Buffer }>).map((r) => hex(r.digest)));
  const out: Expected = { present: present.length, reachable: 0, keptByGrace: 0, keptAsReceipts: 0, swept: [], sweptBytes: 0 };
  for (const a of present) {
    if (marked.has(hex(a.digest))) out.reachable++;
    else if (receipts.has(hex(a.digest))) out.keptAsReceipts++;
    else if (a.created_at > now - graceMs || a.logseq >= session.startLogseq || a.created_at >= session.startTime) out.keptByGrace++;
    else {
      out.swept.push(digestFromBytes(a.digest));
      out.sweptBytes += a.size;
    }
  }
  return out;
}

// ------------------------------------------------------------------ random stores

type Op =
  | { kind: "put"; big: boolean }
  | { kind: "reput"; i: number }
  | { kind: "delete"; i: number }
  | { kind: "edge"; from: number[]; to: number[]; type: number }
  | { kind: "receipt"; program: number; inputs: number[]; outputs: number[] }
  | { kind: "pruneReceipt"; i: number }
  | { kind: "pruneEdge"; i: number }
  | { kind: "pin"; i: number }
  | { kind: "unpin"; i: number }
  | { kind: "snapshot" }
  | { kind: "dropSnapshot"; i: number }
  | { kind: "tick"; ms: number }
  | { kind: "reopen" }
  | { kind: "gc"; grace: Grace };

/** A grace period in ms, or exactly the age of one artifact (the boundary of the grace rule). */
type Grace = { ms: number } | { ageOf: number };
const graceArb: fc.Arbitrary<Grace> = fc.oneof(fc.record({ ms: fc.integer({ min: 0, max: 3000 }) }), fc.record({ ageOf: fc.nat({ max: 999 }) }));

const ix = fc.nat({ max: 999 });
const ixs = fc.array(ix, { minLength: 1, maxLength: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("put" as const), big: fc.nat({ max: 7 }).map((n) => n === 0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reput" as const), i: ix }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), i: ix }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("edge" as const), from: ixs, to: ixs, type: fc.nat({ max: EDGE_TYPES.length - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("receipt" as const), program: ix, inputs: fc.array(ix, { maxLength: 2 }), outputs: fc.array(ix, { maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pruneReceipt" as const), i: ix }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pruneEdge" as const), i: ix }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("pin" as const), i: ix }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unpin" as const), i: ix }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("snapshot" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dropSnapshot" as const), i: ix }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 1000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("reopen" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("gc" as const), grace: graceArb }) },
);

/** A store driven by random ops, with a clock the test moves and the gc session it predicts. */
class World {
  readonly clock: Clock;
  now = T0;
  store: Store;
  session: Session = { startLogseq: 1, startTime: T0 };
  readonly raw: Database.Database;
  private readonly contents: Buffer[] = [];
  private readonly digests: Digest[] = [];
  private readonly receipts: Digest[] = [];
  private readonly edges: Digest[] = [];
  private readonly pins: string[] = [];
  private readonly snapshots: string[] = [];
  private names = 0;

  constructor(readonly dir: string) {
    this.clock = { now: () => this.now };
    this.store = this.open();
    this.raw = new Database(join(dir, "catalog.sqlite"), { readonly: true });
  }

  private open(): Store {
    const store = openStore({ dir: this.dir, clock: this.clock, durability: "normal" });
    this.session = { startLogseq: store.headLogseq() + 1, startTime: this.now };
    return store;
  }

  reopen(): void {
    this.store.close();
    this.store = this.open();
  }

  close(): void {
    this.raw.close();
    this.store.close();
  }

  private pick<T>(list: T[], i: number): T | undefined {
    return list.length === 0 ? undefined : list[i % list.length];
  }

  private picks(list: Digest[], is: number[]): Digest[] {
    return [...new Set(is.map((i) => list[i % list.length] as Digest))];
  }

  private name(prefix: string): string {
    return `${prefix}${this.names++}`;
  }

  apply(op: Op): void {
    const s = this.store;
    const d = this.digests;
    switch (op.kind) {
      case "put": {
        const n = this.contents.length;
        const bytes = op.big ? Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 1 + n, n % 251) : Buffer.from(`artifact ${n}`);
        if (op.big) bytes.write(`artifact ${n}`);
        this.contents.push(bytes);
        d.push(s.putBytes(bytes).digest);
        return;
      }
      case "reput": {
        const bytes = this.pick(this.contents, op.i);
        if (bytes !== undefined) s.putBytes(bytes); // revives a tombstone, restores swept bytes
        return;
      }
      case "delete": {
        const x = this.pick(d, op.i);
        if (x !== undefined && s.has(x)) s.delete(x);
        return;
      }
      case "edge":
        if (d.length > 0) {
          this.edges.push(s.addEdge({ from: this.picks(d, op.from), to: this.picks(d, op.to), type: EDGE_TYPES[op.type] as string, role: "r" }).edgeId);
        }
        return;
      case "receipt":
        if (d.length > 0) {
          const r = s.recordReceipt({
            program: this.pick(d, op.program) as Digest,
            inputs: op.inputs.length === 0 ? [] : this.picks(d, op.inputs),
            outputs: op.outputs.length === 0 ? [] : this.picks(d, op.outputs),
            params: { n: this.names++ },
            status: "succeeded",
          });
          this.receipts.push(r.digest);
          d.push(r.digest);
        }
        return;
      case "pruneReceipt": {
        const r = this.pick(this.receipts, op.i);
        if (r !== undefined) {
          s.pruneReceipt(r);
          this.receipts.splice(this.receipts.indexOf(r), 1);
        }
        return;
      }
      case "pruneEdge": {
        const e = this.pick(this.edges, op.i);
        if (e !== undefined && s.getEdge(e) !== undefined) s.pruneEdge(e);
        return;
      }
      case "pin": {
        const x = this.pick(d, op.i);
        if (x !== undefined && s.has(x)) this.pins.push(s.pin(this.name("pin-"), x, op.i % 2 === 0 ? "pin" : "run").name);
        return;
      }
      case "unpin": {
        const p = this.pick(this.pins, op.i);
        if (p !== undefined) {
          s.unpin(p);
          this.pins.splice(this.pins.indexOf(p), 1);
        }
        return;
      }
      case "snapshot":
        this.snapshots.push(s.createSnapshot(this.name("snap-")).name);
        return;
      case "dropSnapshot": {
        const n = this.pick(this.snapshots, op.i);
        if (n !== undefined) {
          s.deleteSnapshot(n);
          this.snapshots.splice(this.snapshots.indexOf(n), 1);
        }
        return;
      }
      case "tick":
        this.now += op.ms;
        return;
      case "reopen":
        this.now += 1; // artifacts created at the very ms a handle opens count as its own
        this.reopen();
        return;
      case "gc":
        this.checkGc(this.graceMs(op.grace));
        return;
    }
  }

  graceMs(g: Grace): number {
    if ("ms" in g) return g.ms;
    const rows = this.raw.prepare("SELECT created_at FROM artifacts ORDER BY logseq").all() as Array<{ created_at: number }>;
    const row = this.pick(rows, g.ageOf);
    return row === undefined ? 0 : Math.max(0, this.now - row.created_at);
  }

  /** A dry run and a real run must both match the reference; the real one must sweep exactly that. */
  checkGc(graceMs: number): GcReport {
    const expected = referenceGc(this.raw, this.store, this.session, this.now, graceMs);
    const dry = this.store.gc({ graceMs, dryRun: true });
    expect({ ...dry, swept: dry.swept.map((x) => x.digest) }).toEqual({
      dryRun: true,
      roots: { snapshots: this.snapshots.length, pins: this.pins.length },
      present: expected.present,
      reachable: expected.reachable,
      keptByGrace: expected.keptByGrace,
      keptAsReceipts: expected.keptAsReceipts,
      swept: expected.swept,
      sweptCount: expected.swept.length,
      sweptBytes: expected.sweptBytes,
    });
    const real = this.store.gc({ graceMs });
    expect(real).toEqual({ ...dry, dryRun: false });
    const stateOf = this.raw.prepare("SELECT state FROM artifacts WHERE digest = ?");
    for (const x of real.swept) {
      expect(stateOf.get(digestToBytes(x.digest))).toEqual({ state: 2 }); // stat() misses tombstoned ones
      if (x.storage === "file") expect(existsSync(objectPath(this.store.root, x.digest))).toBe(false);
    }
    expect(this.store.gc({ graceMs, dryRun: true }).sweptCount).toBe(0);
    return real;
  }
}

const scenarioArb = fc.record({
  ops: fc.array(opArb, { minLength: 10, maxLength: 50, size: "max" }),
  // Writes of the handle that runs the final gc (never swept by it).
  tail: fc.array(opArb.filter((o) => o.kind !== "reopen" && o.kind !== "gc"), { maxLength: 4 }),
  wait: fc.integer({ min: 1, max: 3000 }),
  grace: graceArb,
});

type Scenario = { ops: Op[]; tail: Op[]; wait: number; grace: Grace };

/**
 * Hand-written scenarios run before the random ones: roots and marking through artifacts
 * whose bytes an earlier gc already swept (rare at random). Each sweeps everything once, then
 * restores some bytes, links and pins, and lets the final gc decide.
 */
const sweptThenPinned = (links: Op[]): Scenario => ({
  ops: [{ kind: "put", big: false }, { kind: "put", big: true }, { kind: "put", big: false }, { kind: "reopen" }, { kind: "gc", grace: { ms: 0 } }, ...links],
  tail: [],
  wait: 1,
  grace: { ms: 0 },
});
const SWEPT_EXAMPLES: Scenario[] = [
  // A pin on a swept artifact still keeps what it was derived from: 1 → 0, pin 0.
  sweptThenPinned([{ kind: "reput", i: 1 }, { kind: "edge", from: [1], to: [0], type: 1 }, { kind: "pin", i: 0 }]),
  // Marking passes through a swept artifact: 2 → 1 → 0, only 1 swept, pin 0.
  sweptThenPinned([
    { kind: "reput", i: 0 },
    { kind: "reput", i: 2 },
    { kind: "edge", from: [1], to: [0], type: 1 },
    { kind: "edge", from: [2], to: [1], type: 1 },
    { kind: "pin", i: 0 },
  ]),
  // A swept container, pinned, keeps its members: 0 contains 1, pin 0.
  sweptThenPinned([{ kind: "reput", i: 1 }, { kind: "edge", from: [0], to: [1], type: 0 }, { kind: "pin", i: 0 }]),
];

describe("gc matches a reference implementation of its rules", () => {
  it("on random stores: roots, marking, receipts, grace, writer session, earlier sweeps", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ ops, tail, wait, grace }) => {
        const t = tempDir("cairn-gc-");
        const world = new World(join(t.dir, "store"));
        try {
          for (const op of ops) world.apply(op);
          world.now += wait;
          world.reopen();
          for (const op of tail) world.apply(op);
          world.checkGc(world.graceMs(grace));
          expect((await world.store.fsck()).problems).toEqual([]);
        } finally {
          world.close();
          t.cleanup();
        }
      }),
      { numRuns: 40, examples: SWEPT_EXAMPLES.map((x) => [x]) },
    );
  });
});

describe("the swept list is capped", () => {
  it(`lists the first ${MAX_REPORTED_SWEPT} swept artifacts by logseq and counts them all`, () => {
    const t = tempDir("cairn-gc-cap-");
    cleanups.push(t.cleanup);
    const dir = join(t.dir, "store");
    let now = T0;
    const clock: Clock = { now: () => now };
    const extra = 7;
    const first = openStore({ dir, clock, durability: "normal" });
    const made = first.transaction(() => Array.from({ length: MAX_REPORTED_SWEPT + extra }, (_, i) => first.putBytes(Buffer.from(`x${i}`))));
    first.close();
    now += 1;
    const store = openStore({ dir, clock, durability: "normal" });
    cleanups.push(() => store.close());
    const bytes = made.reduce((n, m) => n + m.size, 0);

    const dry = store.gc({ graceMs: 0, dryRun: true });
    expect(dry.swept).toHaveLength(MAX_REPORTED_SWEPT);
    expect(dry.swept[0]).toEqual({ digest: made[0]?.digest, size: made[0]?.size, storage: "packed" });
    expect(dry.swept.at(-1)?.digest).toBe(made[MAX_REPORTED_SWEPT - 1]?.digest);
    expect(dry).toMatchObject({ present: made.length, sweptCount: made.length, sweptBytes: bytes });

    const real = store.gc({ graceMs: 0 });
    expect(real).toEqual({ ...dry, dryRun: false });
    // Every one was swept, listed or not.
    expect(store.stat(made.at(-1)?.digest as Digest).state).toBe("swept");
    expect([...store.list()]).toEqual([]);
    expect(store.gc({ graceMs: 0 })).toMatchObject({ present: 0, swept: [], sweptCount: 0, sweptBytes: 0 });
  });
});

describe("fsck walks objects/ and tmp/ as streams", () => {
  function fresh(): Store {
    const t = tempDir("cairn-fsck-");
    const store = openStore({ dir: join(t.dir, "store"), durability: "normal" });
    cleanups.push(t.cleanup, () => store.close());
    return store;
  }

  it("reports orphan and stray files in name order; a file artifact's own file is no orphan", async () => {
    const store = fresh();
    const big = store.putBytes(Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 1, 1)).digest;
    const packed = store.putBytes(Buffer.from("packed")).digest;
    const objects = join(store.root, "objects");
    // A file named after a packed artifact belongs to no file artifact.
    const packedHex = packed.slice("sha256:".length);
    mkdirSync(join(objects, packedHex.slice(0, 2)), { recursive: true });
    writeFileSync(join(objects, packedHex.slice(0, 2), packedHex.slice(2)), "packed bytes in a file");
    for (const [d, f] of [["zz", "b"], ["zz", "a"], ["00", "c"], ["0", "x"]]) {
      mkdirSync(join(objects, d as string), { recursive: true });
      writeFileSync(join(objects, d as string, f as string), "?");
    }
    writeFileSync(join(objects, "00x"), "top-level file");
    // Named as Cairn names its .part files: anything else in tmp/ is tmp_foreign (not a leftover).
    const [a, b] = ["1-aaaaaaaaaaaaaaaa.part", "1-bbbbbbbbbbbbbbbb.part"] as const;
    writeFileSync(join(store.root, "tmp", b), "?");
    writeFileSync(join(store.root, "tmp", a), "?");

    const expected = [
      ...[join("0", "x"), join("00", "c"), "00x", join(packedHex.slice(0, 2), packedHex.slice(2)), join("zz", "a"), join("zz", "b")]
        .sort((a, b) => {
          const key = (p: string): string => p.split("/").join("\0");
          return key(a) < key(b) ? -1 : 1;
        })
        .map((p) => ({ code: "orphan_file", subject: join("objects", p), message: `file ${join("objects", p)} belongs to no artifact` })),
      { code: "stray_file", subject: join("tmp", a), message: `temporary file ${join("tmp", a)} was left behind` },
      { code: "stray_file", subject: join("tmp", b), message: `temporary file ${join("tmp", b)} was left behind` },
    ];
    const report = await store.fsck();
    expect(report.problems).toEqual(expected);
    expect(existsSync(objectPath(store.root, big))).toBe(true);
  });

  it("the file of a swept file artifact is reported as swept_bytes_present, not as an orphan", async () => {
    const t = tempDir("cairn-fsck-");
    cleanups.push(t.cleanup);
    const dir = join(t.dir, "store");
    let now = T0;
    const clock: Clock = { now: () => now };
    const first = openStore({ dir, clock, durability: "normal" });
    const bytes = Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 1, 9);
    const big = first.putBytes(bytes).digest;
    first.close();
    now += 1;
    const store = openStore({ dir, clock, durability: "normal" });
    cleanups.push(() => store.close());
    expect(store.gc({ graceMs: 0 }).swept.map((x) => x.digest)).toEqual([big]);
    writeFileSync(objectPath(store.root, big), bytes);
    expect((await store.fsck()).problems).toEqual([
      { code: "swept_bytes_present", subject: big, message: `artifact ${big} was swept but its file is still present` },
    ]);
  });

  it("past MAX_REPORTED_PROBLEMS it lists the first files in name order and counts the rest", async () => {
    // Fill all but `room` places of the report cheaply: packed rows without bytes (artifact_missing).
    const t = tempDir("cairn-fsck-");
    cleanups.push(t.cleanup);
    const dir = join(t.dir, "store");
    openStore({ dir, durability: "normal" }).close();
    const room = 10;
    const raw = new Database(join(dir, "catalog.sqlite"));
    const insert = raw.prepare(
      "INSERT INTO artifacts(logseq, digest, size, media_type, type_tag, storage, state, deleted, events, created_at, bytes) VALUES (?, ?, 1, 'application/octet-stream', NULL, 0, 0, 0, 0, 0, NULL)",
    );
    raw.transaction(() => {
      for (let i = 1; i <= MAX_REPORTED_PROBLEMS - room; i++) insert.run(i, randomBytes(32));
    })();
    raw.close();
    const store = openStore({ dir, durability: "normal" });
    cleanups.push(() => store.close());

    const objects = join(store.root, "objects");
    const orphans: string[] = [];
    for (const d of ["c3", "a1", "b2"]) {
      mkdirSync(join(objects, d));
      // Written in reverse so creation order is not name order.
      for (let i = 7; i >= 0; i--) writeFileSync(join(objects, d, `f${i}`), "");
      for (let i = 0; i < 8; i++) orphans.push(join("objects", d, `f${i}`));
    }
    writeFileSync(join(objects, "b"), "");
    orphans.push(join("objects", "b"));
    for (const name of ["y.part", "x.part"]) writeFileSync(join(store.root, "tmp", name), "");

    const report = await store.fsck();
    expect(report.problems).toHaveLength(MAX_REPORTED_PROBLEMS + 1);
    expect(report.problems.slice(0, -1 - room).every((p) => p.code === "artifact_missing")).toBe(true);
    // "a1" < "b" < "b2" < "c3"; a directory's files follow it directly.
    const first = [...Array.from({ length: 8 }, (_, i) => join("objects", "a1", `f${i}`)), join("objects", "b"), join("objects", "b2", "f0")];
    expect(report.problems.slice(-1 - room, -1)).toEqual(first.map((f) => ({ code: "orphan_file", subject: f, message: `file ${f} belongs to no artifact` })));
    const unlisted = orphans.length - room + 2;
    expect(report.problems.at(-1)).toEqual({ code: "too_many_problems", subject: "store", message: `${unlisted} more problems not listed` });
  });

  it("still reports a corrupt file artifact and a missing one (paged over the catalog)", async () => {
    const store = fresh();
    const a = store.putBytes(Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 10, 2)).digest;
    const b = store.putBytes(Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 20, 3)).digest;
    store.putBytes(Buffer.from("fine"));
    const fa = objectPath(store.root, a);
    chmodSync(fa, 0o644);
    writeFileSync(fa, Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 10, 4));
    unlinkSync(objectPath(store.root, b));
    const report = await store.fsck();
    expect(report.problems.map((p) => [p.code, p.subject])).toEqual([
      ["artifact_corrupt", a],
      ["artifact_missing", b],
    ]);
    expect(report.checked.artifacts).toBe(3);
  });
});

describe("a kept member does not keep its containers", () => {
  it("two containers share a member; only the pinned container and the member stay", () => {
    const t = tempDir("cairn-gc-");
    try {
      const dir = join(t.dir, "store");
      const s1 = openStore({ dir, create: true });
      const member = s1.putBytes(Buffer.from("shared member")).digest;
      const kept = s1.putBytes(Buffer.from("container B")).digest;
      const dropped = s1.putBytes(Buffer.from("container A")).digest;
      s1.addEdge({ from: [dropped], to: [member], type: CONTAINS_EDGE_TYPE, role: "test" });
      s1.addEdge({ from: [kept], to: [member], type: CONTAINS_EDGE_TYPE, role: "test" });
      s1.pin("b", kept, "pin");
      s1.close();
      const later = Date.now() + 5;
      while (Date.now() < later); // past the creation millisecond (gc keeps younger artifacts)
      const s2 = openStore({ dir });
      try {
        const r = s2.gc({ graceMs: 0 });
        expect(r.swept.map((x) => x.digest)).toEqual([dropped]);
        expect(s2.get(member).toString()).toBe("shared member");
        expect(s2.get(kept).toString()).toBe("container B");
        expect(() => s2.get(dropped)).toThrow(/collected by gc/);
      } finally {
        s2.close();
      }
    } finally {
      t.cleanup();
    }
  });
});
