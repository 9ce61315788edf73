/** Step inputs a capability does not declare (E_COMPILE_UNKNOWN_INPUT); user CTs take any input. */
import { describe, expect, it } from "vitest";
import { CAIRN_ATOMS, STORE_KINDS } from "../../src/workflow/cairn/catalog.js";
import { closestName, editDistance } from "../../src/core/suggest.js";
import { baseDecl, compileDecl, prepared, run } from "./cairn-fixture.js";

const done = { default: { exit: "DONE", reason: "done" } };

function oneStep(step: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return baseDecl({ ...extra, nodes: { start: { steps: [step], routes: done } } });
}

describe("E_COMPILE_UNKNOWN_INPUT", () => {
  it("a misspelt input of a registry REGISTER step (the issue's repro), with a suggestion", async () => {
    const d = oneStep(
      { id: "bind", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k", valeu: "$.payload" } },
      { stores: { reg: { kind: "registry", path: "r/agents.jsonl" } } },
    );
    const { file, lines, r } = await compileDecl(d);
    expect(lines).toEqual([`${file}: node start: steps[0].inputs.valeu: step bind: reg REGISTER has no input "valeu" (its inputs: key, value, target_cs, target_ref); did you mean "value"? [E_COMPILE_UNKNOWN_INPUT]`]);
    expect(r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_UNKNOWN_INPUT", file, node: "start", field: "steps[0].inputs.valeu" });
  });

  it("an unknown input of an atom, without a suggestion when none is close; every unknown input is reported", async () => {
    const { file, lines } = await compileDecl(oneStep({ id: "h", ct: "hash", inputs: { value: "$.payload", extra: "$.payload", Value: { const: 1 } } }), "wf.json");
    expect(lines).toEqual([
      `${file}: node start: steps[0].inputs.extra: step h: hash has no input "extra" (its inputs: value) [E_COMPILE_UNKNOWN_INPUT]`,
      `${file}: node start: steps[0].inputs.Value: step h: hash has no input "Value" (its inputs: value); did you mean "value"? [E_COMPILE_UNKNOWN_INPUT]`,
    ]);
  });

  it("an operation without inputs, and an unknown input of a lane-bound step (the contract declares the inputs)", async () => {
    const list = oneStep({ id: "ls", cs: "m", op: "LIST", inputs: { key: "$.payload" } }, { stores: { m: { kind: "mutable", path: "m.json" } } });
    const a = await compileDecl(list);
    expect(a.lines).toEqual([`${a.file}: node start: steps[0].inputs.key: step ls: m LIST has no input "key" (its inputs: none) [E_COMPILE_UNKNOWN_INPUT]`]);
    const lane = oneStep({
      id: "up", ct: "hash", inputs: { value: "$.payload", text: "$.payload" },
      lane: { kind: "process", operation: "run", payload: { object: { stdin: { json: "$.inputs" } } }, acceptable_attestation: { classes: ["local-process-weak"] }, result_json: "stdout" },
    });
    const b = await compileDecl(lane);
    expect(b.r.diagnostics.map((x) => [x.code, x.field])).toEqual([["E_COMPILE_UNKNOWN_INPUT", "steps[0].inputs.text"]]);
  });

  it("optional inputs are declared inputs: regex_match flags, registry value/target_*, appendonly actor_id/stream_id", async () => {
    const d = baseDecl({
      stores: { reg: { kind: "registry", path: "r.jsonl" }, log: { kind: "appendonly", path: "l.jsonl" } },
      nodes: {
        start: {
          steps: [
            { id: "m", ct: "regex_match", inputs: { pattern: { const: "^a" }, input: { const: "abc" }, flags: { const: "i" } } },
            { id: "b", cs: "reg", op: "REGISTER", inputs: { key: { const: "k" }, value: { const: {} }, target_cs: { const: "x" }, target_ref: { const: "y" } } },
            { id: "l", cs: "log", op: "APPEND", inputs: { actor_id: { const: "a" }, stream_id: { const: "s" }, record: { const: {} } } },
          ],
          routes: done,
        },
      },
    });
    expect((await compileDecl(d)).lines).toEqual([]);
  });

  it("user CTs take any input (their module declares outputs only): the CT receives every input", async () => {
    const caps = "export const capabilities = { echo: { outputs: ['got'], run: (i: Record<string, unknown>) => ({ got: Object.keys(i).sort() }) } };\n";
    const d = oneStep({ id: "e", ct: "caps.echo", inputs: { anything: "$.payload", at_all: { const: 1 } } }, { modules: { caps: "./caps.ts" } });
    const { snap, dir } = await prepared(d, { "caps.ts": caps });
    const r = run(snap, {}, dir);
    expect(r.status).toBe("SUCCESS");
    expect(r.surface.get("got")).toEqual(["anything", "at_all"]);
  });

  it("every catalog entry declares its required inputs among its inputs", () => {
    for (const a of Object.values(CAIRN_ATOMS)) expect(a.atom.args.length).toBeGreaterThan(0);
    for (const k of Object.values(STORE_KINDS)) for (const o of Object.values(k.operations)) expect(o.inputs).toEqual(expect.arrayContaining([...o.required]));
  });
});

describe("closestName", () => {
  it("suggests one obvious correction only", () => {
    expect(editDistance("valeu", "value")).toBe(1);
    expect(closestName("valeu", ["key", "value", "target_cs", "target_ref"])).toBe("value");
    expect(closestName("kye", ["key", "value"])).toBe("key");
    expect(closestName("extra", ["value"])).toBeUndefined();
    // a tie (c is one edit from a and from b) and a one-letter name suggest nothing
    expect(closestName("c", ["a", "b"])).toBeUndefined();
    expect(closestName("target", ["target_cs", "target_ref"])).toBeUndefined();
  });
});
