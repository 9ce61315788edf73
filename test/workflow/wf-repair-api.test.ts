/**
 * The library side of the torn-tail repair (effects/jsonl.ts): `repairTornTail` exported by the
 * package root, taking the data root's lock like a run; `repairTail`'s report; which files it
 * refuses to cut; the refusal message naming the CLI command.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { repairTornTail as rootRepairTornTail, workflow } from "../../src/index.js";
import { REGISTRY_RUNTIME, createEffectContext, repairTail, repairTornTail } from "../../src/workflow/effects/index.js";
import { tornTailOf } from "../../src/workflow/effects/jsonl.js";
import { dict } from "./py-literal.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cairn-repair-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function put(rel: string, bytes: string | Buffer): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), bytes);
}
const read = (rel: string): string => readFileSync(join(root, rel), "latin1");

function codeOf(f: () => unknown): { code: string; message: string; details: Readonly<Record<string, unknown>> } {
  try {
    f();
  } catch (err) {
    if (err instanceof CairnError) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  throw new Error("expected a CairnError");
}

describe("the refusal names the repair", () => {
  it("registry (declared dialect): the message names `cairn wf repair-tail` and repairTornTail", () => {
    put("r/reg.jsonl", '{"key": "a"}\n{"key": "b');
    const ctx = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    const md = new Map([["capability", new Map()], ["operations", new Map()]]);
    const r = REGISTRY_RUNTIME.execute({ op: "EXISTS", payload: dict({ key_or_address: "a" }), config: dict({ path: `${root}/r/reg.jsonl` }), metadata: md }, ctx);
    expect(r.outcome).toBe("BACKEND_ERROR");
    expect(r.result.get("message")).toBe(
      '"r/reg.jsonl" ends in a torn line (10 bytes after offset 13 without a newline, an interrupted append): refusing to use it; ' +
        'repair it with `cairn wf repair-tail --data-root <data root> "r/reg.jsonl"` or repairTornTail (truncates to 13 bytes)',
    );
    expect(tornTailOf(root, "r/reg.jsonl")).toEqual({ offset: 13, bytes: 10, complete: false });
    expect(tornTailOf(root, "missing.jsonl")).toBeUndefined();
    expect(tornTailOf(root, "../escape")).toBeUndefined();
  });
});

describe("repairTornTail from the package root", () => {
  it("is exported by the root and repairs under the data root's lock", () => {
    expect(rootRepairTornTail).toBe(repairTornTail);
    put("log.jsonl", '{"a": 1}\r\n{"b": 2}\r{"c"');
    expect(rootRepairTornTail(root, "log.jsonl")).toEqual({ path: "log.jsonl", removedBytes: 4, removedDigest: sha256('{"c"'), size: 19 });
    expect(read("log.jsonl")).toBe('{"a": 1}\r\n{"b": 2}\r');
  });

  it("takes a relative data root against the working directory, as runs and the CLI do (it was refused: not an absolute data root)", () => {
    put("log.jsonl", '{"a": 1}\n{"b"');
    const rel = relative(process.cwd(), root);
    expect(rel.startsWith("/")).toBe(false);
    expect(rootRepairTornTail(rel, "log.jsonl")).toEqual({ path: "log.jsonl", removedBytes: 4, removedDigest: sha256('{"b"'), size: 9 });
    expect(read("log.jsonl")).toBe('{"a": 1}\n');
    // A file that is not there is E_NOT_FOUND, as the CLI says it (it returned removedBytes 0, size 0, as for a clean file).
    expect(codeOf(() => rootRepairTornTail(rel, "nofile.jsonl"))).toEqual({ code: ErrorCode.NOT_FOUND, message: `no file "nofile.jsonl" under the data root ${root}`, details: { path: "nofile.jsonl", dataRoot: root } });
    // An empty data root is still refused, not read as the working directory.
    expect(codeOf(() => rootRepairTornTail("", "log.jsonl"))).toMatchObject({ code: ErrorCode.PATH_CONFINEMENT });
  });

  it("waits for a lock held elsewhere (E_DATA_ROOT_LOCKED, file untouched); uses a lock the caller holds", () => {
    put("log.jsonl", '{"a": 1}\n{"b');
    const lock = workflow.acquireDataRootLock(root);
    try {
      // This process holds it: refused at once, whatever the wait.
      const e = codeOf(() => repairTornTail(root, "log.jsonl", { dataRootLockWaitMs: 0 }));
      expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
      expect(read("log.jsonl")).toBe('{"a": 1}\n{"b');
      expect(repairTornTail(root, "log.jsonl", { dataRootLock: lock }).removedBytes).toBe(3);
    } finally {
      lock.release();
    }
    expect(read("log.jsonl")).toBe('{"a": 1}\n');
    // The lock is released after a repair: a run (or another repair) can take it.
    const again = workflow.acquireDataRootLock(root, { waitMs: 0 });
    again.release();
  });
});

describe("repairTail: the report, and what it refuses to cut", () => {
  it("reports existence, the removed bytes' digest and head (at most 64 bytes, lenient UTF-8)", () => {
    expect(repairTail(root, "none.jsonl")).toEqual({ path: "none.jsonl", exists: false, removedBytes: 0, size: 0 });
    put("clean.jsonl", '{"a": 1}\n');
    expect(repairTail(root, "clean.jsonl")).toEqual({ path: "clean.jsonl", exists: true, removedBytes: 0, size: 9 });
    const tail = Buffer.concat([Buffer.from(`{"k": "${"z".repeat(80)}`), Buffer.from([0xe2, 0x82])]);
    put("long.jsonl", Buffer.concat([Buffer.from('{"a": 1}\n'), tail]));
    expect(repairTail(root, "long.jsonl")).toEqual({
      path: "long.jsonl", exists: true, removedBytes: tail.length, removedDigest: sha256(tail), removedHead: `{"k": "${"z".repeat(57)}`, size: 9,
    });
    put("cut.jsonl", Buffer.concat([Buffer.from('{"a": 1}\n{"k": "'), Buffer.from([0xe2, 0x82])]));
    expect(repairTail(root, "cut.jsonl").removedHead).toBe('{"k": "\ufffd');
  });

  it("a single unterminated line: a complete record gets its newline (UAT u2 F6), a torn first append is cut to an empty file", () => {
    put("first.jsonl", '{"key": "a", "address": "ADDR_00000000000000000000000000000000"}');
    expect(repairTail(root, "first.jsonl")).toMatchObject({ exists: true, removedBytes: 0, completedLine: true, size: 65 });
    expect(read("first.jsonl")).toBe('{"key": "a", "address": "ADDR_00000000000000000000000000000000"}\n');
    put("torn-first.jsonl", '{"key": "a", "address": "ADDR_0000');
    expect(repairTail(root, "torn-first.jsonl")).toMatchObject({ exists: true, removedBytes: 34, size: 0 });
    expect(read("torn-first.jsonl")).toBe("");
    put("blank-first.jsonl", '\n  \n{"a": 1}\n{"b');
    expect(repairTail(root, "blank-first.jsonl")).toMatchObject({ removedBytes: 3, size: 13 });
  });

  it("refuses a mutable document (NaN included) and a file that is not JSON lines: nothing changed", () => {
    const cases: Record<string, string> = {
      "doc.json": '{\n  "k": {\n    "v": NaN\n  }\n}',
      "empty-doc.json": "{}",
      "notes.txt": "hello\nworld",
    };
    for (const [rel, text] of Object.entries(cases)) {
      put(rel, text);
      const e = codeOf(() => repairTail(root, rel));
      expect([rel, e.code, e.details.reason, e.details.path]).toEqual([rel, ErrorCode.INVALID_INPUT, "not_json_lines", rel]);
      expect(e.message).toMatch(/; nothing was changed$/);
      expect(read(rel)).toBe(text);
    }
    // A log whose records hold NaN (the reference's json.dumps writes it) is JSON lines.
    put("nan.jsonl", '{"v": NaN}\n{"v": Infin');
    expect(repairTail(root, "nan.jsonl")).toMatchObject({ removedBytes: 11, size: 11 });
  });

  it("confinement: `..`, an absolute path outside, a relative data root", () => {
    expect(codeOf(() => repairTail(root, "../x")).code).toBe(ErrorCode.PATH_CONFINEMENT);
    expect(codeOf(() => repairTail(root, "/etc/hostname")).code).toBe(ErrorCode.PATH_CONFINEMENT);
    expect(codeOf(() => repairTail("relative/data", "x.jsonl")).code).toBe(ErrorCode.PATH_CONFINEMENT);
    put("in.jsonl", '{"a": 1}\n{');
    expect(repairTail(root, join(root, "in.jsonl"))).toMatchObject({ path: "in.jsonl", removedBytes: 1 });
  });
});

describe("repairTornTail's options", () => {
  it("a Map, an array or an unknown key is E_USAGE naming it, the file untouched (a Map was read as {})", () => {
    put("log.jsonl", '{"a": 1}\n{"b": ');
    expect(codeOf(() => repairTornTail(root, "log.jsonl", new Map([["dataRootLockWaitMs", 5]]) as never))).toEqual({
      code: ErrorCode.USAGE,
      message: "repairTornTail options must be an object, got an instance of Map",
      details: { field: "options" },
    });
    expect(codeOf(() => repairTornTail(root, "log.jsonl", [] as never)).message).toBe("repairTornTail options must be an object, got an array");
    const unknown = codeOf(() => repairTornTail(root, "log.jsonl", { dataRootLockWait: 5 } as never));
    expect([unknown.code, unknown.details.field]).toEqual([ErrorCode.USAGE, "dataRootLockWait"]);
    expect(unknown.message).toBe('unknown repairTornTail option "dataRootLockWait"; the repairTornTail options are dataRootLock, dataRootLockWaitMs');
    expect(read("log.jsonl")).toBe('{"a": 1}\n{"b": ');
    expect(repairTornTail(root, "log.jsonl", undefined).removedBytes).toBe(6);
  });
});
