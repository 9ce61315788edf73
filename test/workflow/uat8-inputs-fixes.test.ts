/**
 * UAT 8, inputs: a data root that is a file refused before a run (as `cairn serve` refuses it),
 * a declaration given as `--snapshot` named as one, a `.json` declaration with a UTF-8 BOM, and
 * the atoms table's safe-integer limits (docs/workflow-cairn.md §1) against the atoms' words.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { canonicalBytes } from "../../src/core/canonical.js";
import { GENERAL_ATOMS_MODULE, CAIRN_GENERAL_ATOMS } from "../../src/workflow/atoms/general.js";
import { compileWorkflows, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import { loadSealedFile, sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { checkDataRootHoldsState } from "../../src/workflow/effects/index.js";
import type { PyDict, PyValue } from "../../src/workflow/py/value.js";
import { baseDecl, prepared, run, tempDir, thrownCairnError, writeTree } from "./cairn-fixture.js";
import { cairnErrorOf, payload as pgsPayload, sandbox, WF } from "./pgs-fixture.js";

/** The CairnError `fn` throws: code, message, details. */
const thrown = thrownCairnError;

/** A workflow that appends the payload to an append-only store after a pure step. */
const appendDecl = (): Record<string, unknown> =>
  baseDecl({
    stores: { logs: { kind: "appendonly", path: "logs/events.jsonl" } },
    nodes: {
      start: {
        steps: [
          { id: "h", ct: "hash", inputs: { value: "$.payload" } },
          { id: "a", cs: "logs", op: "APPEND", inputs: { record: "$.payload" } },
        ],
        routes: { default: { exit: "DONE", reason: "appended" } },
      },
    },
  });

describe("a data root that cannot hold the workflows' state", () => {
  it("runCairnWorkflow refuses a regular file before running, with serve's message and code, writing no trace", async () => {
    const { snap, dir } = await prepared(appendDecl());
    const file = join(dir, "dfile");
    writeFileSync(file, "x");
    const e = thrown(() => run(snap, { n: 1 }, dir, { dataRoot: file }));
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toBe(`data root ${file} cannot hold the workflows' state: it is not a directory`);
    expect(e.details).toMatchObject({ field: "dataRoot", path: file });
    expect(existsSync(join(dir, "traces"))).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("x");
  });

  it("a path through a file is refused too; a data root that does not exist yet is still created and used", async () => {
    const { snap, dir } = await prepared(appendDecl());
    writeFileSync(join(dir, "dfile"), "x");
    const through = join(dir, "dfile", "sub");
    const e = thrown(() => run(snap, { n: 1 }, dir, { dataRoot: through }));
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toBe(`data root ${through} cannot hold the workflows' state: a component of its path is not a directory`);
    expect(existsSync(join(dir, "traces"))).toBe(false);
    const fresh = join(dir, "new", "data");
    const r = run(snap, { n: 1 }, dir, { dataRoot: fresh });
    expect(r.status).toBe("SUCCESS");
    expect(readFileSync(join(fresh, "logs/events.jsonl"), "utf8")).toContain('"n": 1');
  });

  it("runPgsWorkflow refuses it the same way", () => {
    const b = sandbox();
    try {
      const file = join(b.root, "dfile");
      writeFileSync(file, "x");
      const e = cairnErrorOf(() => b.run(WF.actor, pgsPayload("../workspace/seeds/register_actor_unverified_payload.json"), { dataRoot: file }));
      expect(e.code).toBe("E_INVALID_INPUT");
      expect(e.message).toBe(`data root ${file} cannot hold the workflows' state: it is not a directory`);
      expect(existsSync(join(b.workspace, "traces"))).toBe(false);
    } finally {
      b.cleanup();
    }
  });

  it("checkDataRootHoldsState names the data root as shown, with the field given (what `cairn serve` says)", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "dfile"), "x");
    const e = thrown(() => checkDataRootHoldsState(join(dir, "dfile"), "dfile", "--data-root"));
    expect(e).toMatchObject({ code: "E_INVALID_INPUT", message: "data root dfile cannot hold the workflows' state: it is not a directory", details: { field: "--data-root", path: "dfile" } });
    expect(() => checkDataRootHoldsState(join(dir, "missing", "data"))).not.toThrow();
    mkdirSync(join(dir, "data"));
    expect(() => checkDataRootHoldsState(join(dir, "data"))).not.toThrow();
  });
});

describe("a file given as a snapshot that is none", () => {
  const HINT = (f: string): string => `: it is a Cairn workflow declaration (cairn: cairn.workflow/v1), not compiler output; compile it first: cairn wf compile ${f} --out <snapshot>, or compileWorkflows`;

  it("a JSON declaration (not canonical) is said to be no sealed snapshot, with the compile command", () => {
    const dir = writeTree({ "cyc.json": JSON.stringify(baseDecl(), null, 2) });
    const f = join(dir, "cyc.json");
    const e = thrown(() => loadSealedFile(f));
    expect(e.code).toBe("E_SNAPSHOT_INTEGRITY");
    expect(e.message).toBe(`snapshot integrity check failed (structure): ${f} is not a sealed Cairn snapshot (cairn.workflow.sealed/v1)${HINT(f)}`);
    expect(e.message).not.toContain("changed after sealing");
    expect(e.details).toMatchObject({ reason: "snapshot_integrity", check: "structure", declaration: true });
  });

  it("a YAML declaration, and one in canonical JSON, alike", () => {
    const y = thrown(() => verifySealedBytes(Buffer.from(`# a comment\n${stringify(baseDecl())}`), "cyc.yaml"));
    expect(y.message).toBe(`snapshot integrity check failed (parse): cyc.yaml is not a sealed Cairn snapshot (cairn.workflow.sealed/v1)${HINT("cyc.yaml")}`);
    expect(y.code).toBe("E_SNAPSHOT_INTEGRITY");
    const c = thrown(() => verifySealedBytes(Buffer.from(canonicalBytes(baseDecl())), "c.json"));
    expect(c.message).toBe(`snapshot integrity check failed (structure): c.json is not a sealed Cairn snapshot (cairn.workflow.sealed/v1)${HINT("c.json")}`);
  });

  it("other JSON that is not canonical is no sealed snapshot either; a sealed snapshot reformatted is still a canonical-form failure", async () => {
    const o = thrown(() => verifySealedBytes(Buffer.from('{ "a": 1 }'), "other.json"));
    expect(o.message).toBe("snapshot integrity check failed (structure): other.json is not a sealed Cairn snapshot (cairn.workflow.sealed/v1)");
    const { bytes } = await prepared(baseDecl());
    const pretty = Buffer.from(JSON.stringify(JSON.parse(bytes.toString("utf8")), null, 1));
    const t = thrown(() => verifySealedBytes(pretty, "t.snap"));
    expect(t.code).toBe("E_SNAPSHOT_INTEGRITY");
    expect(t.message).toBe("snapshot integrity check failed (canonical): t.snap is not in canonical form: its bytes were changed after sealing");
    // Text that is neither JSON nor a declaration keeps the parse message.
    expect(thrown(() => verifySealedBytes(Buffer.from("hello: world\n"), "h.yaml")).message).toMatch(/^snapshot integrity check failed \(parse\): h\.yaml is not valid JSON \(/);
  });
});

describe("a .json declaration with a UTF-8 BOM", () => {
  it("compiles like the same file without it (the source digest is of the file's bytes)", async () => {
    const text = JSON.stringify(baseDecl(), null, 2);
    const a = writeTree({ "wf.json": `\uFEFF${text}` });
    const b = writeTree({ "wf.json": text });
    const ra = await compileWorkflows([join(a, "wf.json")]);
    const rb = await compileWorkflows([join(b, "wf.json")]);
    expect(ra.diagnostics.map(formatDiagnostic)).toEqual([]);
    const strip = (c: unknown): unknown => {
      const x = JSON.parse(JSON.stringify(c)) as { workflows: Record<string, { source: { digest: string } }> };
      for (const w of Object.values(x.workflows)) w.source.digest = "";
      return x;
    };
    expect(strip(ra.content)).toEqual(strip(rb.content));
    expect(sealedFileBytes(ra.content!).digest).not.toBe(sealedFileBytes(rb.content!).digest); // the source bytes differ
  });

  it("a second BOM is refused without the JSON parser's Python advice", async () => {
    const d = writeTree({ "wf.json": `\uFEFF\uFEFF${JSON.stringify(baseDecl())}` });
    const r = await compileWorkflows([join(d, "wf.json")]);
    const lines = r.diagnostics.map(formatDiagnostic);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("not valid JSON (line 1, column 1): a second byte order mark (U+FEFF): a file may start with one, not more");
    expect(lines[0]).not.toContain("utf-8-sig");
  });
});

describe("docs: the atoms table states the safe-integer limits the atoms apply", () => {
  const doc = readFileSync(new URL("../../docs/workflow-cairn.md", import.meta.url), "utf8");
  const row = (name: string): string => doc.split("\n").find((l) => l.startsWith(`| \`${name}\``)) ?? "";
  const violation = (callable: string, inputs: Record<string, PyValue>): string => {
    const atom = CAIRN_GENERAL_ATOMS[`${GENERAL_ATOMS_MODULE}:${callable}`]!;
    try {
      atom.execute(new Map(Object.entries(inputs)) as PyDict);
    } catch (err) {
      return (err as { reason: string }).reason;
    }
    throw new Error("no violation");
  };

  it("sub, hash and json_schema_validate: the messages the rows quote are the atoms' own", () => {
    const mixed = violation("sub", { a: 9007199254740993n, b: 1 });
    expect(mixed).toBe("integer 9007199254740993 is too large to mix with a float");
    expect(row("add")).toContain(mixed);
    const hashed = violation("hash", { value: new Map([["v", 9007199254740992n]]) as PyDict });
    expect(hashed).toBe("integer 9007199254740992 is outside ±(2^53-1)");
    expect(row("hash")).toContain(hashed);
    const schema = violation("json_schema_validate", { schema: new Map([["maximum", 9007199254740993n]]) as PyDict, value: 1n });
    expect(schema).toBe("integer 9007199254740993 is outside ±(2^53-1)");
    expect(row("json_schema_validate")).toContain(schema);
  });
});
