/**
 * `cairn wf compile` / `wf run --snapshot` audit fixes, end to end (the built CLI): unsealable
 * values are `{"ok": false, "errors": [...]}` diagnostics under --json (never a bare E_CANONICAL
 * with an empty stdout); directory edge cases are coded errors (never an empty snapshot or a
 * raw ENOENT); a re-sealed snapshot with a namespace or store path off the grammar does not run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, cairn } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function box(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-wfca-"));
  dirs.push(d);
  return d;
}

const HEAD = "cairn: cairn.workflow/v1\nnamespace: aud\ncode: WF_ALL_V0\nentry: a\n";
const DECL = `${HEAD}stores:\n  mu: { kind: mutable, path: st/mu.json }\nnodes:\n  a:\n    steps:\n      - { id: get, cs: mu, op: READ, inputs: { key: $.payload.k } }\n    routes:\n      default: { exit: DONE, reason: read }\n`;

describe("cairn wf compile: audit fixes", () => {
  it("a value a snapshot cannot hold: exit 1, --json lists the diagnostic with file, node and field", () => {
    const cwd = box();
    writeFileSync(join(cwd, "tags.yaml"), `${HEAD}nodes:\n  a:\n    steps:\n      - id: s\n        ct: hash\n        inputs:\n          value: { const: !!binary aGVsbG8= }\n    routes:\n      default: { exit: X, reason: x }\n`);
    writeFileSync(join(cwd, "proto.yaml"), `${HEAD.replace("WF_ALL_V0", "WF_P_V0").replace("entry: a", "entry: __proto__")}nodes:\n  __proto__:\n    steps:\n      - { id: s, ct: hash, inputs: { value: $.payload } }\n    routes:\n      default: { exit: X, reason: x }\n`);
    const r = cairn(["wf", "compile", "tags.yaml", "proto.yaml", "--json", "--out", "snap.json"], { cwd });
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.out) as { ok: boolean; errors: Array<Record<string, unknown>> };
    expect(doc.ok).toBe(false);
    expect(doc.errors).toEqual([
      expect.objectContaining({ code: "E_COMPILE_SCHEMA", file: "tags.yaml", node: "a", field: "steps[0].inputs.value.const" }),
      expect.objectContaining({ code: "E_COMPILE_SCHEMA", file: "proto.yaml", node: "__proto__", field: "nodes.__proto__" }),
    ]);
    expect(r.err).toContain("E_COMPILE_FAILED");
    expect(r.err).not.toContain("E_CANONICAL");
    expect(existsSync(join(cwd, "snap.json"))).toBe(false);
  });

  it("a directory whose only .yaml entry is a directory: E_NOT_FOUND, exit 1, no snapshot written", () => {
    const cwd = box();
    mkdirSync(join(cwd, "d", "foo.yaml"), { recursive: true });
    const r = cairn(["wf", "compile", "d", "--out", "empty.json"], { cwd });
    expect(r.status).toBe(1);
    expect(r.err).toContain("no declaration (.yaml, .yml, .json) in directory d [E_NOT_FOUND]");
    expect(existsSync(join(cwd, "empty.json"))).toBe(false);
  });

  it("a dangling symlink in a directory: a coded error naming it, not E_INTERNAL", () => {
    const cwd = box();
    mkdirSync(join(cwd, "d"));
    symlinkSync("/nonexistent-cairn-target", join(cwd, "d", "a.yaml"));
    const r = cairn(["wf", "compile", "d", "--json"], { cwd });
    expect(r.status).toBe(1);
    const e = (JSON.parse(r.err.trim().split("\n").pop()!) as { error: { code: string; message: string; details: { path: string } } }).error;
    expect(e.code).toBe("E_NOT_FOUND");
    expect(e.details.path).toBe(join("d", "a.yaml"));
    expect(e.message).toContain("dangling");
  });
});

describe("cairn wf run --snapshot: a re-sealed snapshot off the grammar does not run", () => {
  it("namespace ../../escaped and an absolute store path: E_SNAPSHOT_INTEGRITY (structure), nothing written or stored", () => {
    const cwd = box();
    writeFileSync(join(cwd, "wf.yaml"), DECL);
    expect(cairn(["wf", "compile", "wf.yaml", "--out", "snap.json"], { cwd }).status).toBe(0);
    writeFileSync(join(cwd, "secret.txt"), "TOP SECRET OUTSIDE\n");
    writeFileSync(join(cwd, "p.json"), '{"k": "x"}');
    type Wf = { namespace: string; stores: Record<string, { path: string }> };
    const sealed = JSON.parse(readFileSync(join(cwd, "snap.json"), "utf8")) as { content: { workflows: Record<string, Wf> } };
    const edits: Record<string, (w: Wf) => void> = {
      ns: (w) => void (w.namespace = "../../escaped"),
      abs: (w) => void (w.stores.mu!.path = join(cwd, "secret.txt")),
    };
    for (const [name, edit] of Object.entries(edits)) {
      const c = structuredClone(sealed.content);
      edit(c.workflows["aud::WF_ALL_V0"]!);
      writeFileSync(join(cwd, `${name}.content.json`), JSON.stringify(c));
    }
    // Re-seal (digest recomputed over the edited content, as a forger can) with the build under test.
    const seal = join(dirname(CLI), "..", "workflow", "cairn", "seal.js");
    writeFileSync(join(cwd, "reseal.mjs"), `import { readFileSync, writeFileSync } from "node:fs";\nimport { sealedFileBytes } from ${JSON.stringify(seal)};\nfor (const n of ["ns", "abs"]) writeFileSync(n + ".json", sealedFileBytes(JSON.parse(readFileSync(n + ".content.json", "utf8"))).bytes);\n`);
    expect(spawnSync(process.execPath, ["reseal.mjs"], { cwd }).status).toBe(0);

    const ws = join(cwd, "a", "b", "ws");
    mkdirSync(ws, { recursive: true });
    const ns = cairn(["wf", "run", "--snapshot", "../../../ns.json", "--payload", "../../../p.json", "--no-render", "--json"], { cwd: ws });
    expect(ns.status).toBe(1);
    expect(ns.err).toContain("E_SNAPSHOT_INTEGRITY");
    expect(ns.err).toContain('namespace \\"../../escaped\\" is not a namespace');
    expect(existsSync(join(cwd, "a", "escaped"))).toBe(false);
    expect(existsSync(join(ws, "traces"))).toBe(false);

    const abs = cairn(["--store", "st", "wf", "run", "--snapshot", "abs.json", "--payload", "p.json", "--workspace", "ws2", "--no-render"], { cwd });
    expect(abs.status).toBe(1);
    expect(abs.err).toContain("E_SNAPSHOT_INTEGRITY");
    expect(abs.err).toContain("is absolute: a store path is relative to the data root");
    expect(existsSync(join(cwd, "ws2", "traces"))).toBe(false);
    expect(existsSync(join(cwd, "st"))).toBe(false);
  });
});
