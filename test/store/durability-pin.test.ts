/**
 * `pin` of an artifact that is not visible at the head (ARCHITECTURE §5.13): a tombstoned
 * artifact (`delete` / `cairn store rm`: its record is hidden at the head; its bytes stay until
 * gc) is refused with E_NOT_FOUND "(deleted: tombstoned)" whatever the name — before, pinning it
 * again under a name that already pinned it exited 0 while a new name failed. The existing root
 * stays. A revived artifact (put again) can be pinned again. A swept artifact (bytes collected,
 * record visible) stays pinnable under any name, as §5.13/§5.14 say (gc marks from such a pin).
 * Library and CLI.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, openStore, type Digest } from "../../src/index.js";
import { fixedClock } from "../../src/core/clock.js";
import { cairn, json, TempDirs, type RunResult } from "../cli/helpers.js";
import { expectCairn, storesClosedAfterEach } from "./helpers.js";
import { makeTempDir } from "./fixtures/child.js";

const newStore = storesClosedAfterEach();

describe("Store.pin of an artifact that is not visible at the head", () => {
  it("a tombstoned artifact is E_NOT_FOUND under its existing pin name and under a new one; the existing root stays", () => {
    const s = newStore();
    const d = s.putBytes(Buffer.from("pinned, then deleted")).digest;
    const root = s.pin("keep", d);
    expect(s.pin("keep", d)).toEqual(root); // visible: a no-op
    s.delete(d);
    const head = s.headLogseq();
    const message = `artifact ${d} not found (deleted: tombstoned)`;
    expectCairn(() => s.pin("keep", d), ErrorCode.NOT_FOUND, message);
    expectCairn(() => s.pin("other", d), ErrorCode.NOT_FOUND, message);
    expectCairn(() => s.pin("keep", d, "run"), ErrorCode.CONFLICT); // a different kind under that name is still a conflict
    expect(s.listRoots()).toEqual([root]);
    expect(s.headLogseq()).toBe(head); // nothing was written
    // Revived by a put of the same bytes: pinnable again, and the existing pin is a no-op again.
    s.putBytes(Buffer.from("pinned, then deleted"));
    expect(s.pin("keep", d)).toEqual(root);
    expect(s.pin("other", d)).toMatchObject({ name: "other", digest: d, kind: "pin" });
  });

  it("a swept artifact stays pinnable, under a new name and again under the same one", () => {
    const dir = join(makeTempDir(), "store");
    const first = openStore({ dir, clock: fixedClock(1_000) });
    const d = first.putBytes(Buffer.from("collected")).digest;
    first.close();
    const s = newStore(dir);
    expect(s.gc({ graceMs: 0 }).sweptCount).toBe(1);
    expect(s.stat(d).state).toBe("swept");
    const root = s.pin("lineage", d);
    expect(s.pin("lineage", d)).toEqual(root);
  });
});

describe("cairn store pin of a tombstoned artifact", () => {
  const dirs = new TempDirs();
  afterEach(() => dirs.cleanup());

  it("exits 1 with E_NOT_FOUND under the name that pinned it and under a new name", () => {
    const cwd = dirs.make();
    const run = (args: string[], input?: string): RunResult => cairn(["--store", join(cwd, "s"), ...args], { cwd, input });
    expect(run(["init"]).status).toBe(0);
    const put = run(["store", "put", "-"], "pin me");
    expect(put.status).toBe(0);
    const d = put.out.trim() as Digest;
    expect(json(run(["store", "pin", d, "keep", "--json"]))).toMatchObject({ name: "keep", digest: d });
    expect(run(["store", "rm", d]).status).toBe(0);
    for (const name of ["keep", "fresh"]) {
      const r = run(["store", "pin", d, name]);
      expect(r.status).toBe(1);
      expect(r.out).toBe("");
      expect(r.err).toBe(`cairn: artifact ${d} not found (deleted: tombstoned) [E_NOT_FOUND]\n`);
    }
    expect(json(run(["store", "roots", "--json"]))).toEqual([expect.objectContaining({ name: "keep", digest: d })]);
  });
});
