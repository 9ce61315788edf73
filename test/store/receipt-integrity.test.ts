/**
 * A receipt is loaded only if its stored body still is its identity: canonical JSON hashing to
 * the receipt digest, with the action key of its program, inputs and params — the check fsck
 * reports as receipt_invalid. Otherwise getReceipt and findReceipt (memoisation, batch pulse
 * reuse) throw E_STORE_CORRUPT naming the receipt; they never return an edited body. Timing
 * is outside identity.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { actionKey, digestToBytes, ErrorCode, isCairnError, openStore, type Digest, type Store } from "../../src/index.js";
import { freshStore } from "./helpers.js";

let ctx: ReturnType<typeof freshStore>;
let reopened: Store | undefined;
afterEach(() => {
  reopened?.close();
  reopened = undefined;
  ctx.cleanup();
});

function setup() {
  ctx = freshStore();
  const s = ctx.store;
  const program = s.putBytes(Buffer.from("export default (x) => x * 2")).digest;
  const input = s.putBytes(Buffer.from("21")).digest;
  const output = s.putBytes(Buffer.from("42")).digest;
  const r = s.recordReceipt({ program, inputs: [input], params: { k: 1 }, outputs: [output], status: "succeeded", resources: { completed: 622 }, timing: { durationMs: 5 } });
  return { program, input, output, r };
}

/** Closes the store, runs `sql` on its catalog, reopens it. */
function edit(sql: string, ...args: unknown[]): Store {
  ctx.store.close();
  const db = new Database(join(ctx.dir, "catalog.sqlite"));
  try {
    expect(db.prepare(sql).run(...args).changes).toBe(1);
  } finally {
    db.close();
  }
  reopened = openStore({ dir: ctx.dir, durability: "normal" });
  return reopened;
}

function expectCorrupt(f: () => unknown, digest: Digest, why: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(isCairnError(err), String(err)).toBe(true);
  const e = err as Error & { code: string; details: Record<string, unknown> };
  expect(e.code).toBe(ErrorCode.STORE_CORRUPT);
  expect(e.message).toBe(`receipt ${digest} is corrupt: ${why}`);
  expect(e.details).toEqual({ digest });
}

describe("loading a receipt re-checks its body", () => {
  it("an edited body (completed 622 → 621) is E_STORE_CORRUPT from getReceipt and findReceipt, and receipt_invalid in fsck with the same reason", async () => {
    const { program, input, r } = setup();
    const s = edit("UPDATE receipts SET body = replace(body, '\"completed\":622', '\"completed\":621') WHERE digest = ?", digestToBytes(r.digest));
    const why = "body does not hash to the receipt digest";
    expectCorrupt(() => s.getReceipt(r.digest), r.digest, why);
    expectCorrupt(() => s.findReceipt(program, [input], { k: 1 }), r.digest, why);
    expectCorrupt(() => s.at(r.logseq).findReceipt(program, [input], { k: 1 }), r.digest, why);
    const rep = await s.fsck();
    expect(rep.problems).toEqual([{ code: "receipt_invalid", subject: r.digest, message: `receipt ${r.digest}: ${why}` }]);
  });

  it("a receipt refused as corrupt can still be pruned, with its execution edges (and only those)", async () => {
    const { input, output, r } = setup();
    const s = edit("UPDATE receipts SET body = replace(body, '\"completed\":622', '\"completed\":621') WHERE digest = ?", digestToBytes(r.digest));
    // An edge of another receipt that uses this receipt's artifact as its input stays.
    const other = s.recordReceipt({ program: input, inputs: [r.digest], outputs: [output], status: "succeeded" });
    s.pruneReceipt(r.digest); // before: E_STORE_CORRUPT from the body check
    expect(() => s.getReceipt(r.digest)).toThrow(expect.objectContaining({ code: ErrorCode.NOT_FOUND }));
    expect(s.lineage(r.digest, { direction: "up", depth: 1 }).edges).toEqual([]);
    expect(s.lineage(r.digest, { direction: "down", depth: 1 }).edges.map((e) => [e.role, e.to])).toEqual([["input", [other.digest]]]);
    expect((await s.fsck()).problems).toEqual([]);
  });

  it("a body that is no longer canonical JSON is E_STORE_CORRUPT", () => {
    const { r } = setup();
    const s = edit("UPDATE receipts SET body = replace(body, '\"status\":', '\"status\": ') WHERE digest = ?", digestToBytes(r.digest));
    expectCorrupt(() => s.getReceipt(r.digest), r.digest, "body is not canonical JSON");
  });

  it("a receipt moved to another action's key is E_STORE_CORRUPT for that action, not a memoised result", async () => {
    const { program, input, r } = setup();
    const other = actionKey(program, [input], { k: 2 });
    const s = edit("UPDATE receipts SET action_key = ? WHERE digest = ?", digestToBytes(other), digestToBytes(r.digest));
    const why = "action key does not match the body";
    expectCorrupt(() => s.findReceipt(program, [input], { k: 2 }), r.digest, why);
    expectCorrupt(() => s.getReceipt(r.digest), r.digest, why);
    expect((await s.fsck()).problems).toEqual([{ code: "receipt_invalid", subject: r.digest, message: `receipt ${r.digest}: ${why}` }]);
  });

  it("timing is outside identity: an edited timing column still loads", () => {
    const { program, input, output, r } = setup();
    const s = edit("UPDATE receipts SET timing = ? WHERE digest = ?", '{"durationMs":7}', digestToBytes(r.digest));
    expect(s.getReceipt(r.digest)).toMatchObject({ digest: r.digest, outputs: [output], resources: { completed: 622 }, timing: { durationMs: 7 } });
    expect(s.findReceipt(program, [input], { k: 1 })?.digest).toBe(r.digest);
  });
});
