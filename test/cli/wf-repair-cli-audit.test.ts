/**
 * CLI audit fixes of `cairn wf`: `wf run --payload -` reads stdin (bounded, same messages naming
 * `<stdin>`), an empty `--payload` is a usage error naming the flag, and `wf replay` of a run
 * whose recorded state holds an unusable file is refused as a fault of the recorded run
 * (E_INVALID_INPUT, exit 1), not as a usage error.
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES } from "../../src/workflow/pgs/constants.js";
import { cairn, json, jsonError, type RunResult } from "./helpers.js";
import { payload, scratchPerTest, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const NO_ENV = { PGS_DATA_ROOT: undefined, PGS_WORKSPACE: undefined };
const DENY = payload("ai_licensing/deny_provision_payload.json");

const { box } = scratchPerTest({}); // fresh, unseeded data roots, removed after each test

function wfRun(b: Sandbox, payloadArg: string, input?: Buffer | string, extra: string[] = []): RunResult {
  return cairn(["wf", "run", "--no-render", "--json", "--workspace", "workspace", "--wf", WF.deny, "--payload", payloadArg, "--data-root", "data", ...extra], {
    cwd: b.root, env: NO_ENV, ...(input === undefined ? {} : { input }),
  });
}


describe("wf run --payload - reads the payload from stdin", () => {
  it("the same run (trace id, status) as the payload file", () => {
    const fromFile = box();
    const file = wfRun(fromFile, DENY);
    const fromStdin = box();
    const stdin = wfRun(fromStdin, "-", readFileSync(DENY));
    expect([stdin.status, stdin.err]).toEqual([0, ""]);
    const [a, b] = [json<{ traceId: string; status: string; digests: { payload: string } }>(file), json<{ traceId: string; status: string; digests: { payload: string } }>(stdin)];
    expect(b.status).toBe("SUCCESS");
    expect(b.traceId).toBe(a.traceId);
    expect(b.digests.payload).toBe(a.digests.payload);
  });

  it("the file's messages, naming <stdin>: invalid JSON (line and column), not an object, invalid UTF-8", () => {
    const b = box();
    const cases: Array<[Buffer | string, string, Record<string, unknown>]> = [
      ['{"a": 1,\n "b": }', "Payload file is not valid JSON: Expecting value: line 2 column 7 (char 15) (<stdin>)", { field: "--payload" }],
      ["[1]", "Payload file <stdin> must hold a JSON object", { field: "--payload", path: "<stdin>" }],
      [Buffer.from([0x7b, 0x0a, 0xff, 0x7d]), "Payload file is not valid UTF-8 (line 2) (<stdin>)", { field: "--payload", path: "<stdin>", line: 2 }],
      ["", "Payload file is not valid JSON: Expecting value: line 1 column 1 (char 0) (<stdin>)", { field: "--payload" }],
    ];
    for (const [input, message, details] of cases) {
      const r = wfRun(b, "-", input);
      expect([message, r.status, r.out]).toEqual([message, 1, ""]);
      expect(jsonError(r)).toMatchObject({ code: "E_INVALID_INPUT", message, details });
    }
    // The same text for a file, but for the name.
    writeFileSync(join(b.root, "bad.json"), '{"a": 1,\n "b": }');
    expect(jsonError(wfRun(b, "bad.json")).message).toBe("Payload file is not valid JSON: Expecting value: line 2 column 7 (char 15) (bad.json)");
  });

  it("bounded by the payload size limit: E_LIMIT_EXCEEDED past MAX_PAYLOAD_BYTES, nothing run", () => {
    const b = box();
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20);
    const r = wfRun(b, "-", big);
    expect(r.status).toBe(1);
    expect(jsonError(r)).toEqual({ code: "E_LIMIT_EXCEEDED", message: `Payload <stdin> is more than the ${MAX_PAYLOAD_BYTES}-byte limit`, details: { field: "--payload", path: "<stdin>" } });
    // Exactly the limit is read (and then parsed: whitespace around an object).
    const atLimit = Buffer.alloc(MAX_PAYLOAD_BYTES, 0x20);
    Buffer.from(readFileSync(DENY)).copy(atLimit, 0);
    expect(wfRun(b, "-", atLimit).status).toBe(0);
  });

  it("with --snapshot too", () => {
    const b = box();
    expect(cairn(["wf", "compile", EXAMPLES, "--out", "snap.json"], { cwd: b.root }).status).toBe(0);
    const ok = readFileSync(join(EXAMPLES, "payloads/register-ok.json"));
    for (const ws of ["a", "b"]) mkdirSync(join(b.root, ws)); // --workspace must exist
    const viaFile = cairn(["wf", "run", "--no-render", "--json", "--snapshot", "snap.json", "--payload", join(EXAMPLES, "payloads/register-ok.json"), "--workspace", "a"], { cwd: b.root, env: NO_ENV });
    const viaStdin = cairn(["wf", "run", "--no-render", "--json", "--snapshot", "snap.json", "--payload", "-", "--workspace", "b"], { cwd: b.root, env: NO_ENV, input: ok });
    expect([viaStdin.status, viaStdin.err]).toEqual([0, ""]);
    expect(json<{ traceId: string }>(viaStdin).traceId).toBe(json<{ traceId: string }>(viaFile).traceId);
  });
});

describe("an empty --payload is a usage error naming the flag", () => {
  it("PGS and --snapshot runs: E_USAGE, exit 2, before anything runs", () => {
    const b = box();
    for (const args of [
      ["wf", "run", "--workspace", "workspace", "--wf", WF.deny, "--payload", "", "--data-root", "data"],
      ["wf", "run", "--snapshot", "snap.json", "--payload", ""],
    ]) {
      const r = cairn(args, { cwd: b.root, env: NO_ENV });
      expect([r.status, r.out, r.err]).toEqual([2, "", "cairn: --payload must not be empty [E_USAGE]\n"]);
      const j = cairn(["--json", ...args], { cwd: b.root, env: NO_ENV });
      expect(jsonError(j)).toEqual({ code: "E_USAGE", message: "--payload must not be empty", details: { field: "--payload" } });
    }
    expect(readdirSync(b.dataRoot)).toEqual([]); // nothing ran
  });

  it("so is an empty <trace> of wf replay (before the store is opened)", () => {
    const b = box();
    const r = cairn(["--store", "nostore", "wf", "replay", ""], { cwd: b.root, env: NO_ENV });
    expect([r.status, r.out, r.err]).toEqual([2, "", "cairn: argument <trace> must not be empty [E_USAGE]\n"]);
  });
});

describe("wf replay of a run whose recorded prior state holds an unusable file", () => {
  it("E_INVALID_INPUT (details.reason unreplayable_state, the file named), exit 1: the command line is valid", () => {
    const b = box();
    const audit = "ai_governance/ai_licensing/audit_log.jsonl";
    mkdirSync(join(b.dataRoot, "ai_governance/ai_licensing"), { recursive: true });
    writeFileSync(join(b.root, "outside.jsonl"), "");
    symlinkSync(join(b.root, "outside.jsonl"), join(b.dataRoot, audit));
    const r = cairn(["--store", "st", "wf", "run", "--no-render", "--json", "--workspace", "workspace", "--wf", WF.deny, "--payload", DENY, "--data-root", "data"], { cwd: b.root, env: NO_ENV });
    const traceId = json<{ traceId: string }>(r).traceId;
    const replay = cairn(["--store", "st", "--json", "wf", "replay", traceId], { cwd: b.root, env: NO_ENV });
    expect([replay.status, replay.out]).toEqual([1, ""]);
    const e = jsonError(replay);
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toBe(`Recorded run ${traceId} cannot be replayed: its prior state holds the data-root file "${audit}" as unusable (symlink), which a replay cannot recreate`);
    expect(e.details).toMatchObject({ reason: "unreplayable_state", traceId, path: audit, unusable: { kind: "symlink" } });
    const human = cairn(["--store", "st", "wf", "replay", traceId], { cwd: b.root, env: NO_ENV });
    expect([human.status, human.err]).toEqual([1, `cairn: ${e.message} [E_INVALID_INPUT]\n`]);
  });
});

