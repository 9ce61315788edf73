/**
 * Crash tests: a child process writing to the store is SIGKILLed at arbitrary (and at chosen)
 * points of the write protocol; a writer that opens the store afterwards must recover it to a
 * consistent state in which everything the child saw committed is intact.
 */
import Database from "better-sqlite3";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, sha256, SMALL_ARTIFACT_MAX_BYTES, Xoshiro128, type Digest } from "../../src/index.js";
import { WriterChild, killAllChildren, makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { largeContent, smallContent } from "./fixtures/content.js";

afterEach(async () => {
  await killAllChildren();
  removeTempDirs();
});

function storeDir(): string {
  return join(makeTempDir(), "store");
}

function tmpEntries(dir: string): string[] {
  return readdirSync(join(dir, "tmp"));
}

function objectFiles(dir: string): string[] {
  const objects = join(dir, "objects");
  return readdirSync(objects).flatMap((sub) => readdirSync(join(objects, sub)).map((n) => `${sub}${n}`));
}

/**
 * Opens the killed child's store as a writer (runs crash recovery) and checks it: the lock is
 * free, fsck is clean, tmp/ is empty, every printed digest reads back as the expected bytes,
 * and at most `maxUnprinted` artifacts were committed without the child printing them
 * (each must be the next index's content). Returns the store's listing.
 */
async function checkRecovered(
  dir: string,
  printed: Array<{ i: number; digest: Digest }>,
  expected: (i: number) => Buffer,
  maxUnprinted = 1,
): Promise<{ listed: Digest[]; recovery: { removed: number; placed: number } }> {
  // lockTimeoutMs 0: the dead child's lock must already be gone.
  const store = openStore({ dir, lockTimeoutMs: 0 });
  try {
    const recovery = store.recovery;
    expect(recovery).toBeDefined();
    const report = await store.fsck();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(tmpEntries(dir)).toEqual([]);

    for (const { i, digest } of printed) {
      const want = expected(i);
      expect(sha256(want)).toBe(digest);
      const got = store.get(digest);
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
    }

    const infos = [...store.list()];
    const listed = infos.map((a) => a.digest);
    const printedSet = new Set(printed.map((p) => p.digest));
    for (const d of printedSet) expect(listed).toContain(d);
    const unprinted = listed.filter((d) => !printedSet.has(d));
    expect(unprinted.length).toBeLessThanOrEqual(maxUnprinted);
    if (unprinted.length > 0) {
      // Killed after its commit but before the put returned: it must be the next put, intact.
      const next = printed.length === 0 ? 0 : Math.max(...printed.map((p) => p.i)) + 1;
      const want = expected(next);
      expect(unprinted).toEqual([sha256(want)]);
      expect(store.get(unprinted[0] as Digest).equals(want)).toBe(true);
    }
    // Every file artifact has exactly its file under objects/ (no .ready left behind, no orphans).
    const fileDigests = infos.filter((a) => a.storage === "file").map((a) => a.digest.slice("sha256:".length)).sort();
    expect(objectFiles(dir).sort()).toEqual(fileDigests);
    return { listed, recovery: recovery as { removed: number; placed: number } };
  } finally {
    store.close();
  }
}

/** After recovery, opening again finds nothing left to recover and fsck stays clean. */
async function checkRecoveryIdempotent(dir: string): Promise<void> {
  const store = openStore({ dir, lockTimeoutMs: 0 });
  try {
    expect(store.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 0 });
    expect((await store.fsck()).ok).toBe(true);
  } finally {
    store.close();
  }
}

describe("crash recovery after SIGKILL", () => {
  it("a killed endless large put leaves nothing behind", async () => {
    const dir = storeDir();
    const child = new WriterChild(dir, "large");
    await child.waitForLine("LARGE-START");
    const tmp = join(dir, "tmp");
    let partSize = 0;
    await child.waitFor(
      "a .part file past 4 MiB",
      () => {
        for (const name of readdirSync(tmp)) {
          if (!name.endsWith(".part")) continue;
          try {
            partSize = Math.max(partSize, statSync(join(tmp, name)).size);
          } catch {
            // renamed or removed between readdir and stat
          }
        }
        return partSize > 4 * 1024 * 1024;
      },
      20_000,
      5,
    );
    const exit = await child.kill();
    expect(exit.signal).toBe("SIGKILL");
    expect(child.lines).not.toContain("LARGE-DONE");
    // The interrupted write is still on disk until a writer recovers the store.
    expect(tmpEntries(dir).some((n) => n.endsWith(".part"))).toBe(true);

    const printed = child.committed();
    expect(printed.map((p) => p.i)).toEqual([0, 1, 2]);
    const { listed, recovery } = await checkRecovered(dir, printed, (i) => smallContent("large", i), 0);
    expect(recovery.removed).toBeGreaterThanOrEqual(1);
    expect(listed).toHaveLength(3);

    const store = openStore({ dir, readOnly: true });
    try {
      for (const a of store.list()) expect(a.size).toBeLessThanOrEqual(SMALL_ARTIFACT_MAX_BYTES);
    } finally {
      store.close();
    }
    expect(objectFiles(dir)).toEqual([]);
    await checkRecoveryIdempotent(dir);
  });

  it("every small put that returned before the kill survives", async () => {
    const dir = storeDir();
    const child = new WriterChild(dir, "small-batch");
    await child.waitFor("200 committed puts", () => child.committed().length >= 200);
    await child.kill();
    const printed = child.committed();
    expect(printed.length).toBeGreaterThanOrEqual(200);
    expect(printed.map((p) => p.i)).toEqual(printed.map((_, k) => k));
    const { listed } = await checkRecovered(dir, printed, (i) => smallContent("small-batch", i));
    expect(listed.length - printed.length).toBeLessThanOrEqual(1);
    await checkRecoveryIdempotent(dir);
  });

  // Random kill points in a stream of 200 KiB file artifacts (.part → .ready → objects/).
  const rng = Xoshiro128.fromSeed("cairn crash large-many v1");
  const delays = [0, 1, 2, 3, 4].map(() => 50 + rng.nextInt(351));
  it.each(delays)("large file puts killed %i ms after the first commit recover cleanly", async (delayMs) => {
    const dir = storeDir();
    const child = new WriterChild(dir, "large-many");
    await child.waitFor("the first committed put", () => child.committed().length >= 1);
    await new Promise((r) => setTimeout(r, delayMs));
    await child.kill();
    const printed = child.committed();
    await checkRecovered(dir, printed, (i) => largeContent("large-many", i));
    await checkRecoveryIdempotent(dir);
  });

  // Deterministic kill points: the child SIGKILLs itself around one fs call of the protocol
  // during its put #(nth-1) (even puts use putBytes, odd puts stream).
  const steps: Array<{ name: string; args: string[]; committed: boolean; leftover: string }> = [
    { name: ".part written, before chmod (in the transaction)", args: ["chmodSync", ".part", "before"], committed: false, leftover: ".part" },
    { name: "renamed to .ready, before commit", args: ["renameSync", ".part", "after"], committed: false, leftover: ".ready" },
    { name: "committed, before .ready is placed", args: ["renameSync", ".ready", "before"], committed: true, leftover: ".ready" },
    { name: "placed, before the directories are fsynced", args: ["renameSync", ".ready", "after"], committed: true, leftover: "" },
  ];
  const cases = steps.flatMap((s) => [2, 3].map((nth) => ({ ...s, nth })));
  it.each(cases)("killed at $name (put #$nth)", async ({ args, nth, committed, leftover }) => {
    const dir = storeDir();
    const child = new WriterChild(dir, "crash-at", [...args, String(nth)]);
    const exit = await child.exited;
    expect(exit.signal, child.stderr).toBe("SIGKILL");
    const printed = child.committed();
    expect(printed.map((p) => p.i)).toEqual([...Array(nth - 1).keys()]);
    const left = tmpEntries(dir);
    if (leftover === "") expect(left).toEqual([]);
    else expect(left.filter((n) => n.endsWith(leftover))).toHaveLength(1);

    const { listed, recovery } = await checkRecovered(dir, printed, (i) => largeContent("large-many", i));
    expect(listed).toHaveLength(committed ? nth : nth - 1);
    if (leftover === ".ready" && committed) expect(recovery.placed).toBe(1);
    else if (leftover !== "") expect(recovery.removed).toBe(1);
    await checkRecoveryIdempotent(dir);
  });
});

describe("an interrupted gc sweep", () => {
  it("is finished by the next writer, page by page, however many rows it left (more than one page)", async () => {
    const dir = storeDir();
    const n = 2500; // more than the recovery's page of 1000 rows
    const store = openStore({ dir, lockTimeoutMs: 0 });
    const digests: Digest[] = [];
    try {
      for (let i = 0; i < n; i++) digests.push(store.putBytes(Buffer.from(`swept ${i}`)).digest);
    } finally {
      store.close();
    }
    // As if gc had committed "sweeping" for all of them and died before finishing.
    const db = new Database(join(dir, "catalog.sqlite"));
    try {
      db.prepare("UPDATE artifacts SET state = 1, bytes = NULL").run();
    } finally {
      db.close();
    }
    const reopened = openStore({ dir, lockTimeoutMs: 0 });
    try {
      expect(reopened.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: n });
      for (const d of [digests[0], digests[n - 1]] as Digest[]) expect(() => reopened.get(d)).toThrow(/its bytes were collected by gc/);
    } finally {
      reopened.close();
    }
    await checkRecoveryIdempotent(dir);
  });
});

describe("recovery of a killed init", () => {
  it("removes the FORMAT file's temp a dead process left in the store's root (only a writer does)", () => {
    const dir = storeDir();
    openStore({ dir, lockTimeoutMs: 0 }).close();
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number; // exited: its temp is stale
    const stray = join(dir, `FORMAT.${dead}.0a1b2c3d4e5f.tmp`);
    writeFileSync(stray, '{"format":');
    // a running process's temp (another process in its init, before the writer lock) is kept
    const live = join(dir, `FORMAT.${process.ppid}.0b1b2c3d4e5f.tmp`);
    writeFileSync(live, '{"format":');
    const reader = openStore({ dir, readOnly: true });
    reader.close();
    expect(existsSync(stray)).toBe(true);
    const store = openStore({ dir, lockTimeoutMs: 0 });
    try {
      expect(store.recovery).toEqual({ removed: 1, placed: 0, finishedSweeps: 0 });
      expect(existsSync(stray)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(existsSync(join(dir, "FORMAT"))).toBe(true);
    } finally {
      store.close();
    }
  });
});
