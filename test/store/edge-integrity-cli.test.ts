/**
 * The finding's repro (F5) through the built CLI: after one `edge_nodes` row is rewritten,
 * `cairn lineage` (human and --json) and `cairn gc` (dry run too) exit 1 with E_STORE_CORRUPT
 * naming the edge, and `cairn fsck` still runs and reports edge_invalid. The store is written
 * with the library; the CLI under test is CAIRN_TEST_CLI (or dist/).
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Digest } from "../../src/index.js";
import { steppingClock } from "../../src/core/clock.js";
import { cairn, jsonError, TempDirs, type RunResult } from "../cli/helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

describe("cairn on a store with a rewritten edge (F5)", () => {
  it("lineage and gc exit 1 with E_STORE_CORRUPT naming the edge; the source is not swept; fsck reports edge_invalid", () => {
    const dir = temps.make();
    const st = join(dir, "st");
    const s = openStore({ dir: st, durability: "normal", clock: steppingClock(1_700_000_000_000, 1) });
    const src = s.putBytes(Buffer.from("source data\n")).digest;
    const evil = s.putBytes(Buffer.from("something unrelated\n")).digest;
    const out = s.putBytes(Buffer.from("derived output\n")).digest;
    const edge = s.addEdge({ from: [src], to: [out], type: "derivation", role: "input" });
    s.pin("out", out);
    s.pin("evil", evil);
    s.close();
    const run = (...args: string[]): RunResult => cairn(["--store", st, ...args], { cwd: dir });
    expect(run("lineage", out).out).toContain(src);

    const db = new Database(join(st, "catalog.sqlite"));
    try {
      const hex = (d: Digest): Buffer => Buffer.from(d.slice(7), "hex");
      expect(db.prepare("UPDATE edge_nodes SET node = ? WHERE side = 0").run(hex(evil)).changes).toBe(1);
    } finally {
      db.close();
    }

    const message = `the catalog is corrupt: edge ${edge.edgeId} does not match its content; run cairn fsck`;
    for (const args of [["lineage", out], ["gc", "--dry-run", "--grace", "0"], ["gc", "--grace", "0"]]) {
      const human = run(...args);
      expect([human.status, human.out, human.err], args.join(" ")).toEqual([1, "", `cairn: ${message} [E_STORE_CORRUPT]\n`]);
      const j = run(...args, "--json");
      expect(j.status).toBe(1);
      expect(jsonError(j)).toEqual({ code: "E_STORE_CORRUPT", message, details: { edgeId: edge.edgeId, logseq: edge.logseq } });
    }
    expect(run("store", "get", src).out).toBe("source data\n");
    const fsck = run("fsck");
    expect(fsck.status).toBe(1);
    expect(fsck.out + fsck.err).toContain(`edge_invalid`);
    expect(fsck.out + fsck.err).toContain(`edge ${edge.edgeId} does not match its content`);
  });
});
