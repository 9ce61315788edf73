/**
 * A receipt's catalog body is checked for its shape on every load, not only against its digest
 * and action key (2026-11-28): a row forged self-consistently (its body the canonical JSON of
 * something else, its digest that body's SHA-256, its action key recomputed from it) but not
 * shaped as `record` writes a receipt is E_STORE_CORRUPT from getReceipt and findReceipt, saying
 * what does not hold, and receipt_invalid in fsck. Before, it was returned as a receipt, and
 * readers crashed on it with TypeErrors (batch verify kept a guard of its own).
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import { actionKey, digestToBytes, ErrorCode, isCairnError, openStore, sha256, type Digest, type Params, type Store } from "../../src/index.js";
import { MAX_RECEIPT_DIGESTS } from "../../src/store/receipts.js";
import { freshStore } from "./helpers.js";

let ctx: ReturnType<typeof freshStore>;
let current: Store | undefined;
afterEach(() => {
  if (current !== undefined && current !== ctx.store) current.close();
  current = undefined;
  ctx.cleanup();
});

function setup(params: Params = { k: 1 }) {
  ctx = freshStore();
  current = ctx.store;
  const s = ctx.store;
  const program = s.putBytes(Buffer.from("export default (x) => x * 2")).digest;
  const input = s.putBytes(Buffer.from("21")).digest;
  const output = s.putBytes(Buffer.from("42")).digest;
  const r = s.recordReceipt({ program, inputs: [input], params, outputs: [output], status: "succeeded", resources: { completed: 622 }, timing: { durationMs: 5 } });
  return { program, input, output, r };
}

/**
 * Rewrites the catalog row of receipt `d` as the store would have written it for another body:
 * the body `edit` makes of the stored one (or the text it returns, kept as it is), its digest
 * that text's SHA-256, its action key the new body's (as the store computes it: kept when the
 * new body has none, e.g. no program). Stores the text as an artifact too, so that fsck finds
 * the receipt's artifact. Returns the reopened store and the new digest.
 */
function forge(d: Digest, edit: (body: Record<string, unknown>) => unknown): { store: Store; digest: Digest } {
  current?.close();
  const db = new Database(join(ctx.dir, "catalog.sqlite"));
  let text: string;
  try {
    const row = db.prepare("SELECT body, action_key FROM receipts WHERE digest = ?").get(digestToBytes(d)) as { body: string; action_key: Buffer };
    const body = JSON.parse(row.body) as Record<string, unknown>;
    const made = edit(body);
    const value: unknown = made === undefined ? body : made;
    text = typeof value === "string" ? value : canonicalize(value);
    let key: Buffer = row.action_key;
    try {
      const v = JSON.parse(text) as { program: Digest; inputs: Digest[]; params: Params };
      key = digestToBytes(actionKey(v.program, v.inputs, v.params));
    } catch {
      // no action key can be computed from it: the row keeps its own
    }
    expect(db.prepare("UPDATE receipts SET body = ?, digest = ?, action_key = ? WHERE digest = ?").run(text, digestToBytes(sha256(text)), key, digestToBytes(d)).changes).toBe(1);
  } finally {
    db.close();
  }
  current = openStore({ dir: ctx.dir, durability: "normal" });
  const digest = current.putBytes(Buffer.from(text, "utf8")).digest;
  expect(digest).toBe(sha256(text));
  return { store: current, digest };
}

function expectCorrupt(f: () => unknown, digest: Digest, why: string): void {
  let err: unknown;
  let value: unknown;
  try {
    value = f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected E_STORE_CORRUPT, got ${JSON.stringify(value)}`).toBeDefined();
  expect(isCairnError(err), String(err)).toBe(true);
  const e = err as Error & { code: string; details: Record<string, unknown> };
  expect(e.code).toBe(ErrorCode.STORE_CORRUPT);
  expect(e.message).toBe(`receipt ${digest} is corrupt: ${why}`);
  expect(e.details).toEqual({ digest });
}

async function expectFsckInvalid(s: Store, digest: Digest, why: string): Promise<void> {
  expect((await s.fsck()).problems).toEqual([{ code: "receipt_invalid", subject: digest, message: `receipt ${digest}: ${why}` }]);
}

// Shapes whose action key stays the row's own (program, inputs and params unchanged): found by
// findReceipt for the action too.
const SAME_ACTION: Array<[string, (b: Record<string, unknown>) => unknown, string]> = [
  ["without outputs", (b) => void delete b.outputs, "body has no outputs"],
  ["status 7", (b) => void (b.status = 7), 'body status is 7, not "succeeded" or "failed"'],
  ["status \"done\"", (b) => void (b.status = "done"), 'body status is "done", not "succeeded" or "failed"'],
  ["resources \"x\"", (b) => void (b.resources = "x"), 'body resources is "x", not an object of finite numbers'],
  ["resources null", (b) => void (b.resources = null), "body resources is null, not an object of finite numbers"],
  ["a resource that is a string", (b) => void (b.resources = { completed: "622" }), 'body resources.completed is "622", not a finite number'],
  ["another kind", (b) => void (b.kind = "cairn.action"), 'body kind is "cairn.action", not "cairn.receipt"'],
  ["without kind", (b) => void delete b.kind, 'body has no kind'],
  ["version 2", (b) => void (b.version = 2), "body version is 2, not 1"],
  ["outputs an object", (b) => void (b.outputs = { 0: "x" }), 'body outputs is {"0":"x"}, not an array of digests'],
  ["an output that is not a digest", (b) => void (b.outputs = [(b.outputs as string[])[0], "sha256:ABC"]), 'body outputs[1] is "sha256:ABC", not a digest'],
  ["a field a receipt does not have", (b) => void (b.timing = { durationMs: 5 }), 'body has the field "timing", which a receipt does not'],
];

describe("a receipt row forged self-consistently but not shaped as a receipt", () => {
  for (const [name, edit, why] of SAME_ACTION) {
    it(`${name}: E_STORE_CORRUPT from getReceipt and findReceipt (${why}), receipt_invalid in fsck`, async () => {
      const { program, input, r } = setup();
      const f = forge(r.digest, edit);
      expectCorrupt(() => f.store.getReceipt(f.digest), f.digest, why);
      expectCorrupt(() => f.store.findReceipt(program, [input], { k: 1 }), f.digest, why);
      expectCorrupt(() => f.store.at(r.logseq).findReceipt(program, [input], { k: 1 }), f.digest, why);
      await expectFsckInvalid(f.store, f.digest, why);
    });
  }

  it("without params, its action key that of params {} (which `actionKey` defaults to): E_STORE_CORRUPT, not a receipt with params undefined", async () => {
    const { program, input, r } = setup({});
    const f = forge(r.digest, (b) => void delete b.params);
    const why = "body has no params";
    expectCorrupt(() => f.store.getReceipt(f.digest), f.digest, why);
    expectCorrupt(() => f.store.findReceipt(program, [input], {}), f.digest, why);
    expectCorrupt(() => f.store.findReceipt(program, [input]), f.digest, why);
    await expectFsckInvalid(f.store, f.digest, why);
  });

  // Shapes whose action key is recomputed from the forged body, or cannot be (kept): read by digest.
  const OTHER_ACTION: Array<[string, (b: Record<string, unknown>) => unknown, string]> = [
    ["inputs [1]", (b) => void (b.inputs = [1]), "body inputs[0] is 1, not a digest"],
    ["inputs null", (b) => void (b.inputs = null), "body inputs is null, not an array of digests"],
    ["without inputs", (b) => void delete b.inputs, "body has no inputs"],
    ["a program that is not a digest", (b) => void (b.program = "abc"), 'body program is "abc", not a digest'],
    ["without program", (b) => void delete b.program, "body has no program"],
    ["a program that is a number", (b) => void (b.program = 5), "body program is 5, not a digest"],
    ["an array", () => [1, 2], "body is [1,2], not a JSON object"],
    ["null", () => "null", "body is null, not a JSON object"],
    ["a string", () => '"sha256:x"', 'body is "sha256:x", not a JSON object'],
  ];
  for (const [name, edit, why] of OTHER_ACTION) {
    it(`${name}: E_STORE_CORRUPT from getReceipt (${why}), receipt_invalid in fsck`, async () => {
      const { r } = setup();
      const f = forge(r.digest, edit);
      expectCorrupt(() => f.store.getReceipt(f.digest), f.digest, why);
      await expectFsckInvalid(f.store, f.digest, why);
    });
  }

  it("a resource of 1e400 (JSON.parse gives Infinity; the text hashes to its digest, so it is not re-canonicalised): E_STORE_CORRUPT naming Infinity", async () => {
    const { program, input, r } = setup();
    const f = forge(r.digest, (b) => JSON.stringify(b).replace('"completed":622', '"completed":1e400'));
    const why = "body resources.completed is Infinity, not a finite number";
    expectCorrupt(() => f.store.getReceipt(f.digest), f.digest, why);
    expectCorrupt(() => f.store.findReceipt(program, [input], { k: 1 }), f.digest, why);
    await expectFsckInvalid(f.store, f.digest, why);
  });

  it(`more than MAX_RECEIPT_DIGESTS (${MAX_RECEIPT_DIGESTS}) outputs: E_STORE_CORRUPT`, async () => {
    const { program, input, output, r } = setup();
    const f = forge(r.digest, (b) => void (b.outputs = new Array<string>(MAX_RECEIPT_DIGESTS + 1).fill(output)));
    const why = `body outputs lists ${MAX_RECEIPT_DIGESTS + 1} digests, more than ${MAX_RECEIPT_DIGESTS}`;
    expectCorrupt(() => f.store.getReceipt(f.digest), f.digest, why);
    expectCorrupt(() => f.store.findReceipt(program, [input], { k: 1 }), f.digest, why);
    await expectFsckInvalid(f.store, f.digest, why);
  });
});

describe("genuine receipts still load", () => {
  it("as recorded, params null and {} and resources {} included; fsck finds nothing", async () => {
    const { program, input, output, r } = setup();
    // (record's result also carries the body's kind and version, which a load does not return)
    const { created: _created, kind: _kind, version: _version, ...recorded } = r as typeof r & { kind: unknown; version: unknown };
    expect(current?.getReceipt(r.digest)).toEqual(recorded);
    expect(current?.findReceipt(program, [input], { k: 1 })).toEqual(recorded);
    const s = current as Store;
    const nul = s.recordReceipt({ program, inputs: [], params: null, outputs: [], status: "failed" });
    const empty = s.recordReceipt({ program: input, inputs: [program, output], outputs: [input], status: "succeeded" });
    expect(s.getReceipt(nul.digest)).toMatchObject({ params: null, inputs: [], outputs: [], status: "failed", resources: {} });
    expect(s.findReceipt(program, [], null)?.digest).toBe(nul.digest);
    expect(s.findReceipt(input, [program, output])).toMatchObject({ digest: empty.digest, params: {}, resources: {} });
    expect((await s.fsck()).problems).toEqual([]);
  });
});
