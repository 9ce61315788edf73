/**
 * The JSONL evidence sink's durability (sinks.ts): by default every record is on disk when
 * `emit` returns — the file's data fdatasynced, and a new file's entry (and the folders the sink
 * made) fsynced in their parents — so an OS crash right after an effect cannot lose the record
 * of it. `durability: "no-fsync"` makes the same writes without them. An fdatasync that fails is
 * E_STORE_IO naming the file. The system calls are counted through a wrapped `node:fs`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import type { Evidence } from "../../src/plane/contracts/execution.js";
import { JsonlEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { cairnErrorOf } from "../cairn-error-of.js";

const calls = vi.hoisted(() => ({
  /** fdatasyncSync: the path of each file synced (by fd → path via /proc), and fsyncSync: the same. */
  datasync: [] as string[],
  fsync: [] as string[],
  /** When set, the next fdatasyncSync throws it (then cleared). */
  failDatasync: undefined as Error | undefined,
}));

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const where = (fd: number): string => real.readlinkSync(`/proc/self/fd/${fd}`);
  const fdatasyncSync = ((fd: number) => {
    calls.datasync.push(where(fd));
    const e = calls.failDatasync;
    if (e !== undefined) {
      calls.failDatasync = undefined;
      throw e;
    }
    real.fdatasyncSync(fd);
  }) as typeof real.fdatasyncSync;
  const fsyncSync = ((fd: number) => {
    calls.fsync.push(where(fd));
    real.fsyncSync(fd);
  }) as typeof real.fsyncSync;
  return { ...real, fdatasyncSync, fsyncSync, default: { ...real, fdatasyncSync, fsyncSync } };
});

const dir = mkdtempSync(join(tmpdir(), "cairn-jsonl-durability-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  calls.datasync.length = 0;
  calls.fsync.length = 0;
  calls.failDatasync = undefined;
});

const record = (n: number): Evidence => ({ evidence_id: `ev-${n}`, kind: "test", n }) as unknown as Evidence;

describe("JsonlEvidenceSink durability", () => {
  it("by default: each record's data is fdatasynced; a new file's folder, and each folder the sink made, fsynced once", () => {
    const path = join(dir, "a", "b", "evidence.jsonl");
    const sink = new JsonlEvidenceSink(path);
    expect(sink.durable).toBe(true);
    sink.emit(record(1));
    expect(calls.datasync).toEqual([path]);
    // a/ in dir, b/ in a/ (made), then the new file's entry in b/.
    expect(calls.fsync).toEqual([dir, join(dir, "a"), join(dir, "a", "b")]);
    sink.emit(record(2));
    sink.emit(record(3));
    expect(calls.datasync).toEqual([path, path, path]);
    expect(calls.fsync).toHaveLength(3); // the file was not new any more
    expect(readFileSync(path, "utf8").split("\n")).toHaveLength(4);
  });

  it('"no-fsync": the same bytes, no fdatasync and no fsync', () => {
    const synced = join(dir, "s", "evidence.jsonl");
    const unsynced = join(dir, "u", "evidence.jsonl");
    const a = new JsonlEvidenceSink(synced, "a");
    const b = new JsonlEvidenceSink(unsynced, "b", { durability: "no-fsync" });
    expect(b.durable).toBe(false);
    for (let n = 0; n < 3; n++) a.emit(record(n));
    calls.datasync.length = 0;
    calls.fsync.length = 0;
    for (let n = 0; n < 3; n++) b.emit(record(n));
    expect([calls.datasync, calls.fsync]).toEqual([[], []]);
    expect(readFileSync(unsynced).equals(readFileSync(synced))).toBe(true);
  });

  it("a failed fdatasync is E_STORE_IO naming the file", () => {
    const path = join(dir, "f", "evidence.jsonl");
    const sink = new JsonlEvidenceSink(path);
    calls.failDatasync = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO", errno: -5, syscall: "fdatasync" });
    const e = cairnErrorOf(() => sink.emit(record(1)));
    expect([e.code, e.message, e.details]).toEqual([
      "E_STORE_IO",
      `cannot make evidence file ${path} durable: EIO: i/o error; the record was appended but is not known to be on disk`,
      { path, code: "EIO", appended: true },
    ]);
    expect(existsSync(path) && statSync(path).size > 0).toBe(true); // written, not known to be on disk
    // The folder entry was not fsynced then: the next append does it.
    calls.fsync.length = 0;
    sink.emit(record(2));
    expect(calls.fsync).toEqual([join(dir, "f")]);
  });

  it("a file another writer created (a no-fsync sink) gets its folder entry fsynced on this sink's first append", () => {
    const path = join(dir, "o", "evidence.jsonl");
    new JsonlEvidenceSink(path, "other", { durability: "no-fsync" }).emit(record(1));
    calls.fsync.length = 0;
    const sink = new JsonlEvidenceSink(path);
    sink.emit(record(2));
    sink.emit(record(3));
    expect(calls.fsync).toEqual([join(dir, "o")]);
    expect(calls.datasync).toEqual([path, path]);
  });

  it("refuses bad arguments with E_USAGE naming the field", () => {
    const path = join(dir, "x.jsonl");
    const cases: Array<[() => unknown, string, string]> = [
      [() => new JsonlEvidenceSink(path, undefined, { durability: "sometimes" as "fsync" }), "durability", 'JsonlEvidenceSink: durability must be "fsync" or "no-fsync", got a string "sometimes"'],
      [() => new JsonlEvidenceSink(path, undefined, { durable: true } as never), "durable", 'JsonlEvidenceSink: unknown option "durable" (known: durability)'],
      [() => new JsonlEvidenceSink(path, undefined, null as never), "options", "JsonlEvidenceSink: options must be an object {durability?}, got null"],
      [() => new JsonlEvidenceSink(path, "" as string), "sinkId", 'JsonlEvidenceSink: sinkId must be a non-empty string, got a string ""'],
      [() => new JsonlEvidenceSink(path, 7 as unknown as string), "sinkId", "JsonlEvidenceSink: sinkId must be a non-empty string, got 7"],
    ];
    for (const [make, field, message] of cases) {
      const e = cairnErrorOf(make);
      expect([e.code, e.message, e.details]).toEqual(["E_USAGE", message, { field }]);
    }
  });
});
