/**
 * UAT u2 F6: a JSON-lines file whose last line is a complete record missing only its `\n` (a
 * hand edit, `truncate -s -1`, an append cut right before its newline) is still refused by the
 * runtimes, but `repair-tail` / `repairTornTail` add the newline instead of deleting the record;
 * an unterminated last line that is a JSON value other than an object (a one-line JSON document
 * included) is refused untouched. A torn append (not JSON) is still cut.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { REGISTRY_RUNTIME, createEffectContext, repairTail, repairTornTail } from "../../src/workflow/effects/index.js";
import { tornTailOf } from "../../src/workflow/effects/jsonl.js";
import { tornFileNote, tornFilesOf } from "../../src/workflow/effects/torn-files.js";
import { cairn, json, jsonError, type RunResult } from "../cli/helpers.js";
import { cairnErrorOf, payload, scratchPerTest, WF, type Sandbox } from "./pgs-fixture.js";
import { dict } from "./py-literal.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cairn-repair-complete-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function put(rel: string, bytes: string): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), bytes);
}
const read = (rel: string): string => readFileSync(join(root, rel), "latin1");

describe("repairTail: a complete last record gets its newline, never deleted", () => {
  it("a log's last record without its newline: completed (nothing removed), then clean", () => {
    put("log.jsonl", '{"a": 1}\n{"b": 2}\n{"c": 3, "s": "x\\u00e9"}');
    expect(tornTailOf(root, "log.jsonl")).toEqual({ offset: 18, bytes: 24, complete: true });
    expect(repairTail(root, "log.jsonl")).toEqual({ path: "log.jsonl", exists: true, removedBytes: 0, completedLine: true, size: 43 });
    expect(read("log.jsonl")).toBe('{"a": 1}\n{"b": 2}\n{"c": 3, "s": "x\\u00e9"}\n');
    expect(repairTail(root, "log.jsonl")).toEqual({ path: "log.jsonl", exists: true, removedBytes: 0, size: 43 });
  });

  it("a one-line record (NaN, CRLF file) is completed; repairTornTail reports completedLine", () => {
    put("one.jsonl", '{"a": 1}');
    expect(repairTornTail(root, "one.jsonl")).toEqual({ path: "one.jsonl", removedBytes: 0, completedLine: true, size: 9 });
    expect(read("one.jsonl")).toBe('{"a": 1}\n');
    put("nan.jsonl", '{"v": 1}\r\n{"v": NaN}');
    expect(repairTornTail(root, "nan.jsonl")).toMatchObject({ removedBytes: 0, completedLine: true });
    expect(read("nan.jsonl")).toBe('{"v": 1}\r\n{"v": NaN}\n');
  });

  it("a torn append (not JSON) is still cut; a last line that is JSON but not an object is refused untouched", () => {
    put("torn.jsonl", '{"a": 1}\n{"b": 2');
    expect(repairTail(root, "torn.jsonl")).toMatchObject({ removedBytes: 7, size: 9 });
    expect(repairTail(root, "torn.jsonl").completedLine).toBeUndefined();
    for (const [rel, text] of [["arr.jsonl", "[1, 2]"], ["str.jsonl", '{"a": 1}\n"x"'], ["num.jsonl", '{"a": 1}\n7']] as const) {
      put(rel, text);
      const e = cairnErrorOf(() => repairTail(root, rel));
      expect([rel, e.code, e.details.reason]).toEqual([rel, ErrorCode.INVALID_INPUT, "not_json_lines"]);
      expect(e.message).toMatch(/is a complete JSON value that is not an object: .*; nothing was changed$/);
      expect(read(rel)).toBe(text);
    }
  });

  it("the registry's refusal says the repair adds the newline", () => {
    put("r/reg.jsonl", '{"key": "a"}\n{"key": "b"}');
    const ctx = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    const md = new Map([["capability", new Map()], ["operations", new Map()]]);
    const r = REGISTRY_RUNTIME.execute({ op: "EXISTS", payload: dict({ key_or_address: "a" }), config: dict({ path: `${root}/r/reg.jsonl` }), metadata: md }, ctx);
    expect(r.outcome).toBe("BACKEND_ERROR");
    expect(r.result.get("message")).toBe(
      '"r/reg.jsonl" ends in a torn line (12 bytes after offset 13 without a newline, a complete JSON object: its newline is missing): refusing to use it; ' +
        'repair it with `cairn wf repair-tail --data-root <data root> "r/reg.jsonl"` or repairTornTail (adds the missing newline)',
    );
    expect(tornFileNote({ path: "r/reg.jsonl", offset: 13, bytes: 12, complete: true }, "d")).toBe(
      'note: "r/reg.jsonl" ends in a torn line (12 bytes after offset 13 without a newline, a complete JSON object: its newline is missing): runs refuse it until it is repaired with: cairn wf repair-tail --data-root d r/reg.jsonl',
    );
  });
});

const AUDIT = "ai_governance/ai_licensing/audit_log.jsonl";
const DENY = payload("ai_licensing/deny_provision_payload.json");
const NO_ENV = { PGS_DATA_ROOT: undefined, PGS_WORKSPACE: undefined };
const { box } = scratchPerTest({});

function wfRun(b: Sandbox, extra: string[] = []): RunResult {
  return cairn(["wf", "run", "--no-render", "--workspace", "workspace", "--wf", WF.deny, "--payload", DENY, "--data-root", "data", ...extra], { cwd: b.root, env: NO_ENV });
}
const sequenceNumbers = (b: Sandbox): number[] =>
  readFileSync(join(b.dataRoot, AUDIT), "utf8").split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as { sequence_number: number }).sequence_number);

describe("cairn wf repair-tail (the UAT repro): the third audit record keeps its place", () => {
  it("refused by the run, completed by the command, the next run appends record 4", () => {
    const b = box();
    for (let i = 0; i < 3; i++) expect(wfRun(b).status).toBe(0);
    const file = join(b.dataRoot, AUDIT);
    const full = readFileSync(file);
    truncateSync(file, full.length - 1); // drop only the final newline
    expect(sequenceNumbers(b)).toEqual([1, 2, 3]);

    const failed = wfRun(b, ["--json"]);
    expect(failed.status).toBe(1);
    expect(jsonError(failed).code).toBe("E_STORE_CORRUPT");
    expect(jsonError(failed).message).toMatch(/a complete JSON object: its newline is missing\): refusing to use it; .* or repairTornTail \(adds the missing newline\)$/);

    const fixed = cairn(["wf", "repair-tail", "--data-root", "data", AUDIT, "--json"], { cwd: b.root, env: NO_ENV });
    expect([fixed.status, fixed.err]).toEqual([0, ""]);
    expect(json(fixed)).toEqual({ dataRoot: "data", path: AUDIT, repaired: true, completedLine: true, removedBytes: 0, size: full.length });
    expect(readFileSync(file).equals(full)).toBe(true);
    expect(sequenceNumbers(b)).toEqual([1, 2, 3]);
    expect(wfRun(b).status).toBe(0);
    expect(sequenceNumbers(b)).toEqual([1, 2, 3, 4]);
  });

  it("human output; a one-line JSON document that is not an object is refused untouched", () => {
    const b = box();
    writeFileSync(join(b.dataRoot, "one.jsonl"), '{"a": 1}');
    const r = cairn(["wf", "repair-tail", "--data-root", "data", "one.jsonl"], { cwd: b.root, env: NO_ENV });
    expect([r.status, r.out]).toEqual([
      0,
      "one.jsonl: completed the last line: it is a complete JSON object (a record) that lacked only its newline; added the newline after offset 8\n" +
        "  nothing was removed; the file now ends with a complete line (9 bytes)\n",
    ]);
    expect(readFileSync(join(b.dataRoot, "one.jsonl"), "utf8")).toBe('{"a": 1}\n');
    appendFileSync(join(b.dataRoot, "list.jsonl"), "[1, 2]");
    const refused = cairn(["wf", "repair-tail", "--data-root", "data", "list.jsonl"], { cwd: b.root, env: NO_ENV });
    expect(refused.status).toBe(1);
    expect(refused.err).toMatch(/^cairn: refusing to repair "list\.jsonl": .* \[E_INVALID_INPUT\]\n$/);
    expect(readFileSync(join(b.dataRoot, "list.jsonl"), "utf8")).toBe("[1, 2]");
  });
});

describe("tornFilesOf (what cairn wf run and cairn serve name)", () => {
  it("marks a complete last record (complete: true) and leaves a torn one as before", () => {
    put("a.jsonl", '{"a": 1}\n{"b": 2}');
    put("b.jsonl", '{"a": 1}\n{"b"');
    const calls = [{ status: "BACKEND_ERROR", file: { path: "a.jsonl" } }, { status: "BACKEND_ERROR", file: { path: "b.jsonl" } }];
    expect(tornFilesOf(calls, root)).toEqual([
      { path: "a.jsonl", offset: 9, bytes: 8, complete: true },
      { path: "b.jsonl", offset: 9, bytes: 4 },
    ]);
  });
});
