/**
 * Audit 2: gc and fsck refuse to run inside `store.transaction()` (E_USAGE). gc's sweep deletes
 * files once its own transaction commits; nested in an outer transaction that commit is only a
 * savepoint, so a rollback used to bring back rows whose files were gone.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError, ErrorCode, openStore, type Digest, type Store } from "../../src/index.js";
import { fixedClock } from "../../src/core/clock.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";

const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function objectFile(root: string, d: Digest): string {
  const hex = d.slice("sha256:".length);
  return join(root, "objects", hex.slice(0, 2), hex.slice(2));
}

/** A store holding one large and one small unpinned artifact, reopened by a later writer (so gc may sweep them). */
function collectable(): { store: Store; big: Digest; small: Digest } {
  const dir = join(makeTempDir(), "store");
  const first = openStore({ dir, clock: fixedClock(1_000) });
  const big = first.putBytes(Buffer.alloc(200_000, 1)).digest;
  const small = first.putBytes(Buffer.from("small")).digest;
  first.close();
  const store = openStore({ dir, clock: fixedClock(2_000) });
  open.push(store);
  return { store, big, small };
}

describe("gc and fsck inside store.transaction()", () => {
  it("gc is E_USAGE and sweeps nothing: after the rollback every row still has its bytes", async () => {
    const { store, big, small } = collectable();
    let thrown: unknown;
    expect(() =>
      store.transaction(() => {
        try {
          store.gc({ graceMs: 0 });
        } catch (err) {
          thrown = err;
        }
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(thrown).toBeInstanceOf(CairnError);
    expect((thrown as CairnError).code).toBe(ErrorCode.USAGE);
    expect((thrown as CairnError).message).toBe(
      "gc cannot run inside store.transaction(): it deletes files that a rollback could not bring back; call it outside the transaction",
    );
    expect(existsSync(objectFile(store.root, big))).toBe(true);
    expect(store.get(big).length).toBe(200_000);
    expect(store.get(small).toString()).toBe("small");
    expect((await store.fsck()).problems).toEqual([]);
  });

  it("a dry run is refused too; outside the transaction gc sweeps as usual", () => {
    const { store, big } = collectable();
    expect(() => store.transaction(() => store.gc({ graceMs: 0, dryRun: true }))).toThrow(/^gc cannot run inside store\.transaction\(\)/);
    const report = store.gc({ graceMs: 0 });
    expect(report.sweptCount).toBe(2);
    expect(existsSync(objectFile(store.root, big))).toBe(false);
  });

  it("fsck called inside a transaction rejects with E_USAGE", async () => {
    const { store } = collectable();
    let pending: Promise<unknown> = Promise.resolve();
    store.transaction(() => {
      pending = store.fsck();
    });
    await expect(pending).rejects.toMatchObject({
      code: ErrorCode.USAGE,
      message: "fsck cannot run inside store.transaction(): call it outside the transaction",
    });
    expect((await store.fsck()).ok).toBe(true);
  });
});
