/**
 * Fixes from the PGS audit of 2026-11-26:
 *  1. a payload string with a lone surrogate (valid JSON: `"\ud800x"`) runs like the reference:
 *     the summary and the CLI's JSON show it as `\ud800` instead of throwing after the effects;
 *  2. `vocabulary_snapshot/<d>/metadata.json` is not read by the runtime (SEMANTICS A.1): a
 *     missing or malformed one does not stop a run; a present one is still in the snapshot digest;
 *  3. a float literal too large for a double (`1e400`) in a payload is refused (E_INVALID_INPUT),
 *     as NaN and Infinity are, instead of becoming Infinity and writing non-JSON traces.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSnapshot, parsePyJson, prettyPy, readPayloadFile, runPgsWorkflow, verifyTraceChain } from "../../src/workflow/pgs/index.js";
import { parsePyJson as parseData } from "../../src/workflow/py/json.js";
import { ACTOR_PAYLOAD, cairnErrorOf, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();

describe("1. lone surrogates in a payload", () => {
  it("run to SUCCESS; the .md and prettyPy escape the lone surrogate, the trace verifies", () => {
    const b = box();
    const file = join(dir(), "surr.json");
    writeFileSync(file, '{"actor_record": {"first_name": "\\ud800x", "last_name": "D\\u00f6e \\ud83d\\ude00"}}');
    const r = runPgsWorkflow({ workspace: b.workspace, workflow: WF.actor, payload: readPayloadFile(file), dataRoot: b.dataRoot });
    expect(r.status).toBe("SUCCESS");
    const md = readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8");
    expect(md).toContain('"first_name": "\\ud800x"');
    expect(md).toContain('"last_name": "Döe 😀"'); // pairs stay raw
    expect(verifyTraceChain(join(r.traceDirAbs, `${r.traceId}.jsonl`)).ok).toBe(true);
    expect(prettyPy(new Map([["a", "x\udc00\ud800"]]))).toBe('{\n  "a": "x\\udc00\\ud800"\n}');
  });
});

describe("1b. bytes that are not UTF-8 are refused, never decoded as U+FFFD", () => {
  it("in a payload file and in a snapshot file the runtime parses", () => {
    const file = join(dir(), "bad-utf8.json");
    writeFileSync(file, Buffer.concat([Buffer.from('{\n  "actor_record": {"first_name": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n}\n')]));
    const err = cairnErrorOf(() => readPayloadFile(file));
    expect([err.code, err.message]).toEqual(["E_INVALID_INPUT", `Payload file is not valid UTF-8 (line 2) (${file})`]);
    const b = box();
    const rel = "tokenized_snapshot/blockchain/handlers.json";
    writeFileSync(join(b.workspace, rel), Buffer.concat([readFileSync(join(b.workspace, rel)), Buffer.from([0x0a, 0xff])]));
    const snap = cairnErrorOf(() => loadSnapshot(b.workspace, "blockchain"));
    expect([snap.code, snap.message]).toEqual(["E_INVALID_INPUT", expect.stringMatching(new RegExp(`^Snapshot file ${rel} is not valid UTF-8 \\(line \\d+\\)$`))]);
  });
});

describe("2. the vocabulary's metadata.json is not read", () => {
  const rel = "vocabulary_snapshot/blockchain/metadata.json";
  it("a malformed one loads (and changes the digest); a missing one loads too", () => {
    const b = box();
    const base = loadSnapshot(b.workspace, "blockchain");
    expect(base.files.map((f) => f.path)).toContain(rel);
    writeFileSync(join(b.workspace, rel), "garbage");
    const bad = loadSnapshot(b.workspace, "blockchain");
    expect(bad.digest).not.toBe(base.digest);
    rmSync(join(b.workspace, rel));
    const none = loadSnapshot(b.workspace, "blockchain");
    expect(none.files.map((f) => f.path)).not.toContain(rel);
    expect(new Set([base.digest, bad.digest, none.digest]).size).toBe(3);
    const r = runPgsWorkflow({ workspace: b.workspace, workflow: WF.actor, payload: readPayloadFile(ACTOR_PAYLOAD), dataRoot: b.dataRoot, snapshot: none });
    expect(r.status).toBe("SUCCESS");
  });
});

describe("3. float overflow in a payload", () => {
  it("is refused like NaN and Infinity, naming the position; data files keep Python's reading", () => {
    for (const text of ['{"a": 1e400}', '{"a": -1.5e999}', '{"a": NaN}']) {
      const err = cairnErrorOf(() => parsePyJson(text, "p.json"));
      expect(err.code).toBe("E_INVALID_INPUT");
    }
    expect(cairnErrorOf(() => parsePyJson('{"a": 1e400}', "p.json")).message).toContain("Number out of range (overflows to Infinity): line 1 column 7 (char 6)");
    expect(parsePyJson('{"a": 1e308}', "p.json")).toEqual(new Map([["a", 1e308]]));
    expect(parseData('{"a": 1e400}', { allowNonFiniteConstants: true })).toEqual(new Map([["a", Infinity]]));
  });
});
