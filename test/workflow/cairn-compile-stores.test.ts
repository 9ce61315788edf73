/** Store paths against each other (E_COMPILE_STORE_PATH): one file, one store kind; no file is another store's directory. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { compileWorkflows, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import { normalStorePath } from "../../src/workflow/cairn/store-paths.js";
import { baseDecl, compileDecl, prepared, run, writeTree } from "./cairn-fixture.js";

type Stores = Record<string, { kind: string; path: string }>;

/** The repro: a REGISTER step on `reg`, then a WRITE step on `mut`. */
function twoStores(stores: Stores, code = "WF_TEST_V0"): Record<string, unknown> {
  return baseDecl({
    code,
    stores,
    entry: "save",
    nodes: {
      save: {
        steps: [
          { id: "bind", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k" } },
          { id: "put", cs: "mut", op: "WRITE", inputs: { key: "$.payload.k", value: "$.payload" } },
        ],
        routes: { default: { exit: "DONE", reason: "done" } },
      },
    },
  });
}

describe("E_COMPILE_STORE_PATH", () => {
  it("normal forms collapse '.', empty segments and a trailing '/'", () => {
    expect(["r/x.json", "r/./x.json", "r//x.json", "./r/x.json", "r/x.json/"].map(normalStorePath)).toEqual(Array(5).fill("r/x.json"));
    expect(normalStorePath("./")).toBe("");
  });

  it("two stores of one workflow on one file, under every spelling of it, whatever their kinds", async () => {
    for (const path of ["r/x.json", "r/./x.json", "r//x.json", "./r/x.json"]) {
      const { file, lines } = await compileDecl(twoStores({ reg: { kind: "registry", path: "r/x.json" }, mut: { kind: "mutable", path } }));
      expect(lines).toEqual([`${file}: stores.mut.path: store mut (mutable, ${JSON.stringify(path)}) and store reg (registry, "r/x.json") name the same data-root file r/x.json: each store of a workflow needs its own file [E_COMPILE_STORE_PATH]`]);
    }
    // two names of one kind on one file (in a JSON declaration)
    const same = twoStores({ reg: { kind: "mutable", path: "r/x.json" }, mut: { kind: "mutable", path: "r//x.json" } });
    ((same.nodes as Record<string, { steps: Array<Record<string, unknown>> }>).save!.steps[0]!).op = "READ";
    const c = await compileDecl(same, "wf.json");
    expect(c.r.diagnostics).toEqual([{
      code: "E_COMPILE_STORE_PATH", file: c.file, node: null, field: "stores.mut.path",
      message: 'store mut (mutable, "r//x.json") and store reg (mutable, "r/x.json") name the same data-root file r/x.json: each store of a workflow needs its own file',
    }]);
  });

  it("one store's file as another's directory, either way round", async () => {
    const a = await compileDecl(twoStores({ reg: { kind: "registry", path: "a" }, mut: { kind: "mutable", path: "a/./b.json" } }));
    expect(a.lines).toEqual([`${a.file}: stores.mut.path: store mut (mutable, "a/./b.json") needs the data-root directory a, which is the file of store reg (registry, "a") [E_COMPILE_STORE_PATH]`]);
    const b = await compileDecl(twoStores({ reg: { kind: "registry", path: "d/e/f.jsonl" }, mut: { kind: "mutable", path: "d/e" } }));
    expect(b.lines).toEqual([`${b.file}: stores.mut.path: store mut (mutable, "d/e") names the data-root file d/e, which store reg (registry, "d/e/f.jsonl") needs as a directory [E_COMPILE_STORE_PATH]`]);
    // siblings and a common prefix that is not a directory are fine
    expect((await compileDecl(twoStores({ reg: { kind: "registry", path: "a/b.jsonl" }, mut: { kind: "mutable", path: "a/b.json" } }))).lines).toEqual([]);
    expect((await compileDecl(twoStores({ reg: { kind: "registry", path: "ab" }, mut: { kind: "mutable", path: "a/b.json" } }))).lines).toEqual([]);
  });

  it("a path naming the data root itself", async () => {
    const { file, lines } = await compileDecl(twoStores({ reg: { kind: "registry", path: "./" }, mut: { kind: "mutable", path: "m.json" } }));
    expect(lines).toEqual([`${file}: stores.reg.path: store reg: path "./" names the data root itself, not a file under it [E_COMPILE_STORE_PATH]`]);
  });

  it("across the workflows of one snapshot: one kind may share a file (stores are named per workflow), two kinds may not", async () => {
    const resolver = (code: string, kind: string, path: string) => baseDecl({
      code,
      stores: { agents: { kind, path } },
      entry: "look",
      nodes: { look: { steps: [{ id: "r", cs: "agents", op: "EXISTS", inputs: kind === "registry" ? { key_or_address: "$.payload.k" } : { key: "$.payload.k" } }], routes: { default: { exit: "DONE", reason: "done" } } } },
    });
    const shared = writeTree({
      "a.yaml": stringify(twoStores({ reg: { kind: "registry", path: "r/agents.jsonl" }, mut: { kind: "mutable", path: "r/profiles.json" } }, "WF_A_V0")),
      "b.yaml": stringify(resolver("WF_B_V0", "registry", "r/./agents.jsonl")),
    });
    expect((await compileWorkflows([shared])).diagnostics).toEqual([]);

    const clash = writeTree({
      "a.yaml": stringify(twoStores({ reg: { kind: "registry", path: "r/agents.jsonl" }, mut: { kind: "mutable", path: "r/profiles.json" } }, "WF_A_V0")),
      "b.yaml": stringify(resolver("WF_B_V0", "mutable", "r/agents.jsonl")),
      "c.yaml": stringify(resolver("WF_C_V0", "registry", "r/profiles.json/x.jsonl")),
    });
    const [a, b, c] = ["a.yaml", "b.yaml", "c.yaml"].map((f) => join(clash, f));
    expect((await compileWorkflows([clash])).diagnostics.map(formatDiagnostic)).toEqual([
      `${b}: stores.agents.path: store agents (mutable, "r/agents.jsonl") and store reg (registry, "r/agents.jsonl") of workflow test::WF_A_V0 (${a}) name the same data-root file r/agents.jsonl: stores of different kinds would overwrite each other's data (workflows share a file only as stores of one kind) [E_COMPILE_STORE_PATH]`,
      `${c}: stores.agents.path: store agents (registry, "r/profiles.json/x.jsonl") needs the data-root directory r/profiles.json, which is the file of store mut (mutable, "r/profiles.json") of workflow test::WF_A_V0 (${a}) [E_COMPILE_STORE_PATH]`,
    ]);
  });

  it("distinct files still run: the registry keeps its JSON lines, the mutable store its document", async () => {
    const { snap, dir } = await prepared(twoStores({ reg: { kind: "registry", path: "r/x.jsonl" }, mut: { kind: "mutable", path: "r/x.json" } }));
    for (const k of ["a", "b"]) expect(run(snap, { k }, dir).status).toBe("SUCCESS");
    const lines = readFileSync(join(dir, "data/r/x.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { key: string });
    expect(lines.map((l) => l.key)).toEqual(["a", "b"]);
    expect(Object.keys(JSON.parse(readFileSync(join(dir, "data/r/x.json"), "utf8")) as object)).toEqual(["a", "b"]);
  });
});
