/**
 * Audit fixes of the Cairn compiler and sealed-snapshot loading:
 * - a re-sealed snapshot (content edited, digest recomputed) whose names or store paths leave
 *   the grammar is refused at load (E_SNAPSHOT_INTEGRITY, check `structure`), before anything
 *   runs: a namespace `../../escaped` would put the trace outside <workspace>/traces, an
 *   absolute store path would read a file outside the data root;
 * - values a sealed snapshot cannot hold (YAML !!binary / !!timestamp / !!set, .inf, 1e400, a
 *   lone surrogate, a record keyed `__proto__`, an integer beyond 2^53) are compile diagnostics
 *   naming file, node and field, never a bare E_CANONICAL at sealing or a silently rounded value;
 * - `on_result` for an outcome the step can never produce is E_COMPILE_IMPOSSIBLE_ROUTE;
 * - directory arguments: no regular declaration file left is E_NOT_FOUND; a dangling symlink is
 *   a coded error naming it.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalBytes } from "../../src/core/canonical.js";
import { sha256, type Digest } from "../../src/core/digest.js";
import { compileWorkflows, declarationFiles, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import type { SnapshotContent } from "../../src/workflow/cairn/model.js";
import { loadSealedFile, loadSnapshotFromStore, reverifySealedSnapshot, sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { baseDecl, compileDecl, prepared, run, tempDir, thrownCairnError, writeTree } from "./cairn-fixture.js";

const refusal = thrownCairnError;

/** A valid declaration with a mutable store `mu` (a READ step), so that store paths are in the snapshot. */
const storeDecl = (): Record<string, unknown> =>
  baseDecl({
    namespace: "aud",
    code: "WF_ALL_V0",
    entry: "read",
    stores: { mu: { kind: "mutable", path: "st/mu.json" } },
    nodes: {
      read: {
        steps: [{ id: "get", cs: "mu", op: "READ", inputs: { key: "$.payload.k" } }],
        routes: { default: { exit: "DONE", reason: "read" } },
      },
    },
  });

async function storeContent(): Promise<SnapshotContent> {
  const { r, lines } = await compileDecl(storeDecl());
  expect(lines).toEqual([]);
  return JSON.parse(JSON.stringify(r.content)) as SnapshotContent;
}

const FQDN = "aud::WF_ALL_V0";

describe("loading a re-sealed snapshot checks names and store paths (E_SNAPSHOT_INTEGRITY, structure)", () => {
  const cases: Array<[string, (c: SnapshotContent) => void, RegExp]> = [
    ["namespace ../../escaped", (c) => void ((c.workflows[FQDN] as { namespace: string }).namespace = "../../escaped"), /namespace "\.\.\/\.\.\/escaped" is not a namespace/],
    ["namespace with a slash", (c) => void ((c.workflows[FQDN] as { namespace: string }).namespace = "a/b"), /namespace "a\/b" is not a namespace/],
    ["namespace ..", (c) => void ((c.workflows[FQDN] as { namespace: string }).namespace = ".."), /namespace "\.\." is not a namespace/],
    ["code with a path", (c) => void ((c.workflows[FQDN] as { code: string }).code = "../../X_V0"), /code "\.\.\/\.\.\/X_V0" is not a workflow code/],
    ["namespace not the key's", (c) => void ((c.workflows[FQDN] as { namespace: string }).namespace = "other"), /namespace is not the namespace of the workflow's key/],
    ["absolute store path", (c) => void (c.workflows[FQDN]!.stores.mu!.path = "/etc/passwd"), /stores\.mu\.path "\/etc\/passwd" is absolute/],
    ["store path with ..", (c) => void (c.workflows[FQDN]!.stores.mu!.path = "st/../../../outside.json"), /stores\.mu\.path .* has a '\.\.' segment/],
    ["store path .. after a line break", (c) => void (c.workflows[FQDN]!.stores.mu!.path = "a\n/../../x.json"), /stores\.mu\.path .* contains a NUL or control character/],
    ["store path with a backslash", (c) => void (c.workflows[FQDN]!.stores.mu!.path = "..\\x.json"), /stores\.mu\.path .* contains a backslash/],
    ["store path with NUL", (c) => void (c.workflows[FQDN]!.stores.mu!.path = "x\u0000.json"), /stores\.mu\.path .* contains a NUL/],
    ["store path naming the data root", (c) => void (c.workflows[FQDN]!.stores.mu!.path = "./"), /stores\.mu\.path "\.\/" names the data root itself/],
    ["empty store path", (c) => void (c.workflows[FQDN]!.stores.mu!.path = ""), /stores\.mu\.path "" is not 1 to 512 characters long/],
    ["store name off the grammar", (c) => {
      const w = c.workflows[FQDN]!;
      w.stores = { "../mu": w.stores.mu! };
      (w.nodes.read!.steps[0] as { store: string }).store = "../mu";
    }, /stores: store name "\.\.\/mu" is not a name/],
    ["node key off the grammar", (c) => {
      const w = c.workflows[FQDN]!;
      w.nodes = { "a/b": w.nodes.read! };
      w.entry = "a/b";
    }, /nodes: node key "a\/b" is not a name/],
    ["node key __proto__", (c) => {
      const w = c.workflows[FQDN]!;
      const nodes = {};
      Object.defineProperty(nodes, "__proto__", { value: w.nodes.read, enumerable: true, writable: true, configurable: true });
      w.nodes = nodes;
      w.entry = "__proto__";
    }, /nodes: node key "__proto__" is reserved/],
    ["source file with a path", (c) => void (c.workflows[FQDN]!.source.file = "../wf.yaml"), /source\.file "\.\.\/wf\.yaml" is not a base name/],
    ["exit name off the grammar", (c) => void ((c.workflows[FQDN]!.nodes.read!.routes.SUCCESS as { exit: string }).exit = "../x"), /routes\.SUCCESS\.exit "\.\.\/x" is not an exit name/],
  ];

  for (const [what, edit, message] of cases) {
    it(what, async () => {
      const c = await storeContent();
      edit(c);
      const { bytes, digest } = sealedFileBytes(c);
      const r = refusal(() => verifySealedBytes(bytes, "resealed.json"));
      expect(r.code).toBe("E_SNAPSHOT_INTEGRITY");
      expect(r.message).toContain("integrity");
      expect(r.details).toMatchObject({ reason: "snapshot_integrity", check: "structure" });
      expect(r.message).toMatch(message);
      // the store path and the in-memory re-verification refuse it too
      const fromStore = refusal(() => loadSnapshotFromStore({ get: () => Buffer.from(canonicalBytes(c)) }, digest));
      expect([fromStore.code, fromStore.details.check]).toEqual(["E_SNAPSHOT_INTEGRITY", "structure"]);
      expect(refusal(() => reverifySealedSnapshot({ digest, content: c }, "s")).details.check).toBe("structure");
    });
  }

  it("a refused snapshot writes nothing: no trace outside (or inside) the workspace", async () => {
    const dir = tempDir();
    const ws = join(dir, "a", "b", "ws");
    mkdirSync(ws, { recursive: true });
    const c = await storeContent();
    (c.workflows[FQDN] as { namespace: string }).namespace = "../../escaped";
    writeFileSync(join(dir, "ns.json"), sealedFileBytes(c).bytes);
    expect(refusal(() => loadSealedFile(join(dir, "ns.json"))).details.check).toBe("structure");
    expect(existsSync(join(dir, "a", "escaped"))).toBe(false);
    expect(existsSync(join(ws, "traces"))).toBe(false);
  });

  it("valid snapshots still load and run; a step id or object member named __proto__ stays valid", async () => {
    const c = await storeContent();
    expect(verifySealedBytes(sealedFileBytes(c).bytes, "ok").content).toEqual(c);
    const decl = baseDecl({
      nodes: {
        start: {
          steps: [
            { id: "__proto__", ct: "hash", inputs: { value: { object: JSON.parse('{"__proto__": "$.payload.k"}') as unknown } } },
            { id: "h2", ct: "hash", inputs: { value: "$.steps.__proto__.digest" } },
          ],
          routes: { SUCCESS: { exit: "DONE", reason: "hashed" }, VIOLATION: { exit: "BAD", reason: "not hashable" } },
        },
      },
    });
    const { snap, dir } = await prepared(decl);
    const r = run(snap, { k: "v" }, dir);
    expect([r.error, r.status]).toEqual([null, "SUCCESS"]);
  });
});

describe("values a sealed snapshot cannot hold are compile diagnostics naming file, node and field", () => {
  const yamlHead = "cairn: cairn.workflow/v1\nnamespace: aud\ncode: WF_TAGS_V0\nentry: a\n";
  const constDecl = (value: string): string =>
    `${yamlHead}nodes:\n  a:\n    steps:\n      - id: s\n        ct: hash\n        inputs:\n          value: { const: ${value} }\n    routes:\n      default: { exit: X, reason: x }\n`;

  async function diagnose(name: string, text: string): Promise<{ file: string; diags: Array<{ code: string; file: string; node: string | null; field: string; message: string }>; lines: string[] }> {
    const dir = writeTree({ [name]: text });
    const file = join(dir, name);
    const r = await compileWorkflows([file]);
    expect(r.content).toBeUndefined();
    return { file, diags: r.diagnostics, lines: r.diagnostics.map(formatDiagnostic) };
  }

  const yamlValues: Array<[string, string, RegExp]> = [
    ["!!binary", "!!binary aGVsbG8=", /binary data \(YAML !!binary\)/],
    ["!!timestamp", "!!timestamp 2020-01-01", /a timestamp \(YAML !!timestamp\)/],
    ["!!set", "!!set {a, b}", /a set \(YAML !!set\)/],
    ["!!omap", "!!omap [ {x: 1} ]", /an ordered map \(YAML !!omap\)/],
    [".inf", ".inf", /the number Infinity is not finite/],
    ["-.inf", "-.inf", /the number -Infinity is not finite/],
    [".nan", ".nan", /the number NaN is not finite/],
    ["1e400", "1e400", /the number Infinity is not finite/],
    ["a lone surrogate", '"\\ud800"', /lone surrogate/],
    ["an integer beyond 2^53", "12345678901234567890123", /the integer 12345678901234567890123 is beyond ±\(2\^53−1\)/],
    ["a negative integer beyond 2^53", "-9007199254740993", /the integer -9007199254740993 is beyond/],
  ];
  for (const [what, value, message] of yamlValues) {
    it(`YAML ${what}`, async () => {
      const { file, diags } = await diagnose("wf.yaml", constDecl(value));
      expect(diags).toHaveLength(1);
      expect(diags[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", file, node: "a", field: "steps[0].inputs.value.const" });
      expect(diags[0]!.message).toMatch(message);
    });
  }

  it("a YAML alias inside its own anchor (a cycle) is refused and terminates; a shared alias is data", async () => {
    const { diags } = await diagnose("wf.yaml", constDecl("&x [ 1, *x ]"));
    expect(diags.map((d) => [d.code, d.node, d.field])).toEqual([["E_COMPILE_SCHEMA", "a", "steps[0].inputs.value.const[1]"]]);
    expect(diags[0]!.message).toMatch(/a cyclic reference/);
    const dir = writeTree({ "wf.yaml": constDecl("{ a: &y { n: 9007199254740991 }, b: *y, c: [*y, *y] }") });
    const r = await compileWorkflows([join(dir, "wf.yaml")]);
    expect(r.diagnostics).toEqual([]);
    const n = { n: 9007199254740991 };
    expect((r.content!.workflows["aud::WF_TAGS_V0"]!.nodes.a!.steps[0]!.inputs.value as { const: unknown }).const).toEqual({ a: n, b: n, c: [n, n] });
  });

  it("nested values and member names: the field is the path to the value", async () => {
    const { diags } = await diagnose("wf.yaml", constDecl('{ list: [1, { deep: !!binary aGk= }], "\\udc00k": 1 }'));
    expect(diags.map((d) => [d.node, d.field])).toEqual([
      ["a", "steps[0].inputs.value.const.list[1].deep"],
      ["a", "steps[0].inputs.value.const.\udc00k"],
    ]);
  });

  it("JSON: 1e400, a lone surrogate (value and key), an integer beyond 2^53, a float a double does not keep — each named", async () => {
    const text = `{"cairn": "cairn.workflow/v1", "namespace": "aud", "code": "WF_J_V0", "entry": "a", "description": "\\ud800",
      "nodes": {"a": {"steps": [{"id": "s", "ct": "hash", "inputs": {"value": {"const": {"big": [1, 12345678901234567890123], "inf": -1e400, "ok": 1e22, "k\\udbff": 1, "f": 9007199254740993.5}}}}],
      "routes": {"default": {"exit": "X", "reason": "x"}}}}}`;
    const { file, diags } = await diagnose("wf.json", text);
    expect(diags.map((d) => [d.code, d.file, d.node, d.field])).toEqual([
      ["E_COMPILE_SCHEMA", file, "a", "steps[0].inputs.value.const.big[1]"],
      ["E_COMPILE_SCHEMA", file, "a", "steps[0].inputs.value.const.f"], // 9007199254740993.5 reads as 9007199254740994 (cairn-compile-decimals.test.ts)
      ["E_COMPILE_SCHEMA", file, null, "description"],
      ["E_COMPILE_SCHEMA", file, "a", "steps[0].inputs.value.const.inf"],
      ["E_COMPILE_SCHEMA", file, "a", "steps[0].inputs.value.const.k\udbff"],
    ]);
  });

  it("integers up to 2^53−1 (decimal or hex) are kept, and as numbers: the digest of a declaration is unchanged", async () => {
    const { r: a } = await compileDecl(baseDecl({ max_hops: 8, nodes: { start: { max_visits: 2, steps: [{ id: "h", ct: "hash", inputs: { value: { const: { n: 9007199254740991, m: -9007199254740991, z: 0, x: 31 } } } }], routes: { SUCCESS: { exit: "DONE", reason: "x" }, VIOLATION: { exit: "BAD", reason: "y" } } } } }));
    expect(a.diagnostics).toEqual([]);
    const text = `${yamlHead.replace("entry: a", "entry: start")}max_hops: 8\nnodes:\n  start:\n    max_visits: 2\n    steps:\n      - id: h\n        ct: hash\n        inputs:\n          value: { const: { n: 9007199254740991, m: -9007199254740991, z: -0, x: 0x1F } }\n    routes:\n      SUCCESS: { exit: DONE, reason: x }\n      VIOLATION: { exit: BAD, reason: y }\n`;
    const dir = writeTree({ "wf.yaml": text });
    const b = await compileWorkflows([join(dir, "wf.yaml")]);
    expect(b.diagnostics).toEqual([]);
    const wf = b.content!.workflows["aud::WF_TAGS_V0"]!;
    expect(wf.maxHops).toBe(8);
    expect(wf.nodes.start!.maxVisits).toBe(2);
    expect((wf.nodes.start!.steps[0]!.inputs.value as { const: unknown }).const).toEqual({ n: 9007199254740991, m: -9007199254740991, z: 0, x: 31 });
    expect(a.content!.workflows["test::WF_TEST_V0"]!.nodes).toEqual(wf.nodes);
  });

  const reserved: Array<[string, string, string | null, string, RegExp]> = [
    ["a node key", `${yamlHead.replace("entry: a", "entry: __proto__")}nodes:\n  __proto__:\n    steps:\n      - { id: s, ct: hash, inputs: { value: $.payload } }\n    routes:\n      default: { exit: X, reason: x }\n`, "__proto__", "nodes.__proto__", /the node key "__proto__" is reserved/],
    ["a store name", `${yamlHead}stores:\n  __proto__: { kind: registry, path: r.jsonl }\nnodes:\n  a:\n    steps:\n      - { id: s, cs: __proto__, op: REGISTER, inputs: { key: $.payload.k } }\n    routes:\n      default: { exit: X, reason: x }\n`, null, "stores.__proto__", /the store name "__proto__" is reserved/],
    ["an input name", `${yamlHead}nodes:\n  a:\n    steps:\n      - { id: s, ct: mod.cap, inputs: { __proto__: $.payload } }\n    routes:\n      default: { exit: X, reason: x }\n`, "a", "steps[0].inputs.__proto__", /the input name "__proto__" is reserved/],
  ];
  for (const [what, text, node, field, message] of reserved) {
    it(`__proto__ as ${what}: E_COMPILE_SCHEMA, not E_CANONICAL at sealing`, async () => {
      const { file, diags } = await diagnose("wf.yaml", text);
      expect(diags).toHaveLength(1);
      expect(diags[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", file, node, field });
      expect(diags[0]!.message).toMatch(message);
    });
  }

  it("a store path the schema's pattern lets through (a '..' after a line break) is E_COMPILE_SCHEMA", async () => {
    const { file, lines } = await compileDecl(baseDecl({ stores: { r: { kind: "registry", path: "a\n/../../x.jsonl" } } }));
    expect(lines).toEqual([`${file}: stores.r.path: store r: path "a\\n/../../x.jsonl" contains a NUL or control character [E_COMPILE_SCHEMA]`]);
  });
});

describe("on_result for an outcome the step can never produce: E_COMPILE_IMPOSSIBLE_ROUTE", () => {
  const twoSteps = (onResult: Record<string, string>, lane?: Record<string, unknown>): Record<string, unknown> =>
    baseDecl({
      nodes: {
        start: {
          steps: [
            { id: "s", ct: "hash", inputs: { value: "$.payload" }, on_result: onResult, ...(lane === undefined ? {} : { lane }) },
            { id: "t", ct: "hash", inputs: { value: "$.payload" } },
          ],
          routes: { default: { exit: "X", reason: "x" } },
        },
      },
    });

  it("names the step, the outcome and what the step can end with", async () => {
    const { file, lines } = await compileDecl(twoSteps({ NOT_FOUND: "continue", ALREADY_EXISTS: "exit", VIOLATION: "continue" }));
    expect(lines).toEqual([
      `${file}: node start: steps[0].on_result.NOT_FOUND: step s: on_result NOT_FOUND, but hash can never end with NOT_FOUND (it can end with: SUCCESS, VIOLATION) [E_COMPILE_IMPOSSIBLE_ROUTE]`,
      `${file}: node start: steps[0].on_result.ALREADY_EXISTS: step s: on_result ALREADY_EXISTS, but hash can never end with ALREADY_EXISTS (it can end with: SUCCESS, VIOLATION) [E_COMPILE_IMPOSSIBLE_ROUTE]`,
    ]);
  });

  it("possible outcomes are accepted, also BACKEND_ERROR of a lane-bound step", async () => {
    expect((await compileDecl(twoSteps({ VIOLATION: "continue", SUCCESS: "exit" }))).lines).toEqual([]);
    const lane = { kind: "process", operation: "run", payload: { object: { command: { const: "x" }, stdin: { json: "$.inputs" } } }, acceptable_attestation: { classes: ["local-process-weak"] }, result_json: "stdout" };
    expect((await compileDecl(twoSteps({ BACKEND_ERROR: "continue" }, lane))).lines).toEqual([]);
    const { lines } = await compileDecl(twoSteps({ BACKEND_ERROR: "continue" }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("steps[0].on_result.BACKEND_ERROR");
  });
});

describe("directory arguments", () => {
  it("a directory whose only .yaml entry is a directory is refused like an empty one (no empty snapshot)", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "foo.yaml"));
    const empty = tempDir();
    const a = refusal(() => declarationFiles([dir]));
    const b = refusal(() => declarationFiles([empty]));
    expect(a.code).toBe("E_NOT_FOUND");
    expect(a.message).toBe(b.message.replace(empty, dir));
    await expect(compileWorkflows([dir])).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });

  it("a dangling symlink is a coded error naming the file", () => {
    const dir = tempDir();
    symlinkSync(join(dir, "nonexistent"), join(dir, "a.yaml"));
    const r = refusal(() => declarationFiles([dir]));
    expect(r.code).toBe("E_NOT_FOUND");
    expect(r.message).toContain(join(dir, "a.yaml"));
    expect(r.details.path).toBe(join(dir, "a.yaml"));
  });

  it("subdirectories are skipped next to real declarations", async () => {
    const dir = writeTree({ "b.yaml": JSON.stringify(baseDecl()) });
    mkdirSync(join(dir, "a.yaml"));
    expect(declarationFiles([dir])).toEqual([join(dir, "b.yaml")]);
  });
});

describe("the snapshot digest of valid declarations", () => {
  it("is the canonical content's, as before", async () => {
    const { r } = await compileDecl(storeDecl());
    expect(r.digest).toBe(sha256(canonicalBytes(r.content)) as Digest);
  });
});
