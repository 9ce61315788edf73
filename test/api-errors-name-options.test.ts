/**
 * Library errors name what the library caller passed (2026-11-28): `details.field` is the option
 * or argument as the API spells it (`workspace`, `dataRoot`, `workflow`, `inputs`, `snapshot`),
 * and a message that names an option names it so, with the CLI's flag beside its first mention
 * where a CLI user meets the same text (`maxMemoryBytes (--max-memory)`, `workflow (--wf)`), as
 * `idField (--id-field)` already was (batch/api-checks.ts). A remedy that is a command names the
 * command and the library's call (`cairn init`, or `openStore({ dir, create: true })`). Before,
 * these named only the CLI's flags ("--workspace", "--wf", "--max-memory", "wf compile needs …"),
 * which a library caller never passed. Left as they were, on purpose: the record-limit
 * explanation (config.ts `recordLimitExplanation`: it is stored in EU failure records, whose
 * bytes a wording change would alter for every such run) and `examine`'s notes (worded for the
 * CLI command, their main reader).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { run } from "../src/batch/engine.js";
import { CairnError } from "../src/core/errors.js";
import { startError } from "../src/batch/sandbox/start-error.js";
import { createServer } from "../src/server/index.js";
import { openStore } from "../src/store/store.js";
import { compileWorkflows, declarationFiles } from "../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow, selectWorkflow, type PreparedSnapshot } from "../src/workflow/cairn/run.js";
import { loadSealedFile, sealedFileBytes, verifySealedBytes, type SealedSnapshot } from "../src/workflow/cairn/seal.js";
import { parseWorkflowFqdn } from "../src/workflow/pgs/index.js";
import { baseDecl, payload, tempDir, writeTree } from "./workflow/cairn-fixture.js";
import { cairnErrorOf } from "./cairn-error-of.js";

async function sealedDecls(decls: Record<string, unknown>[]): Promise<SealedSnapshot> {
  const dir = writeTree(Object.fromEntries(decls.map((d, i) => [`wf${i}.yaml`, stringify(d)])));
  const r = await compileWorkflows([dir]);
  if (r.content === undefined) throw new Error(`compile failed: ${JSON.stringify(r.diagnostics)}`);
  return verifySealedBytes(sealedFileBytes(r.content).bytes, "snap.json");
}

describe("createServer names ServerOptions keys", () => {
  it("a workspace that is not a directory: field workspace (was --workspace)", () => {
    const dir = tempDir("cairn-api-names-");
    const e = cairnErrorOf(() => createServer({ workspace: join(dir, "nope") }));
    expect(e.code).toBe("E_NOT_FOUND");
    expect(e.message).toBe(`workspace ${join(dir, "nope")} is not a directory`);
    expect(e.details).toEqual({ field: "workspace", path: join(dir, "nope") });
  });

  it("a data root that is a file: field dataRoot (was --data-root)", () => {
    const dir = tempDir("cairn-api-names-");
    writeFileSync(join(dir, "dfile"), "x");
    const e = cairnErrorOf(() => createServer({ workspace: dir, dataRoot: join(dir, "dfile") }));
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toBe(`data root ${join(dir, "dfile")} cannot hold the workflows' state: it is not a directory`);
    expect(e.details).toEqual({ field: "dataRoot", path: join(dir, "dfile") });
  });
  // A snapshot with lane-bound steps: test/server/cairn-snapshot.test.ts (field snapshot, the library call named).
});

describe("workflow names: field workflow (was --wf)", () => {
  it("parseWorkflowFqdn, both refusals", () => {
    for (const bad of ["WF_NO_DOMAIN_V0", "../x::WF_A_V0"]) {
      const e = cairnErrorOf(() => parseWorkflowFqdn(bad));
      expect(e.code).toBe("E_INVALID_INPUT");
      expect(e.message).toMatch(/^Invalid WF FQDN/);
      expect(e.details).toEqual({ field: "workflow", value: bad });
    }
  });

  it("a snapshot of two workflows and no workflow option: `name one with workflow (--wf)`", async () => {
    const snap: PreparedSnapshot = prepareSnapshot(await sealedDecls([baseDecl({ code: "WF_A_V0" }), baseDecl({ code: "WF_B_V0" })]));
    const message = "the snapshot holds 2 workflows (test::WF_A_V0, test::WF_B_V0): name one with workflow (--wf)";
    const dir = tempDir("cairn-api-names-");
    for (const f of [() => selectWorkflow(snap, undefined), () => runCairnWorkflow({ snapshot: snap, payload: payload({}), dataRoot: join(dir, "data"), baseDir: dir })]) {
      const e = cairnErrorOf(f);
      expect([e.code, e.message, e.details]).toEqual(["E_USAGE", message, { field: "workflow" }]);
    }
  });
});

describe("compileWorkflows / declarationFiles of no input: field inputs (was `wf compile needs …`)", () => {
  it("names the argument, not the CLI command", async () => {
    const message = "inputs must name at least one declaration file or directory, got none";
    const sync = cairnErrorOf(() => declarationFiles([]));
    expect([sync.code, sync.message, sync.details]).toEqual(["E_USAGE", message, { field: "inputs" }]);
    const e = await compileWorkflows([]).then(() => undefined, (err: unknown) => err);
    expect(e).toMatchObject({ code: "E_USAGE", message, details: { field: "inputs" } });
  });
});

describe("a remedy that is a command names the library's call beside it", () => {
  it("openStore of no store: `cairn init`, or openStore({ dir, create: true })", () => {
    const dir = join(tempDir("cairn-api-names-"), "nostore");
    for (const opts of [{ dir, readOnly: true }, { dir, create: false }]) {
      const e = cairnErrorOf(() => openStore(opts));
      expect(e.code).toBe("E_STORE_MISSING");
      expect(e.message).toBe(`no Cairn store at ${dir} (create one with \`cairn init\`, or openStore({ dir, create: true }))`);
    }
  });

  it("loadSealedFile of a declaration: `cairn wf compile …`, or compileWorkflows", () => {
    const dir = writeTree({ "wf.yaml": stringify(baseDecl()) });
    const e = cairnErrorOf(() => loadSealedFile(join(dir, "wf.yaml")));
    expect(e.message).toMatch(/compile it first: cairn wf compile \S+wf\.yaml --out <snapshot>, or compileWorkflows$/);
  });
});

describe("run() of a directory in a text format: format \"files\" (--format files)", () => {
  it("names the run config key and value, the flag beside them (it said only `use --format files`)", async () => {
    const dir = tempDir();
    const store = openStore({ dir: join(dir, "store"), create: true });
    try {
      const e: unknown = await run(store, dir, { code: "export default (x) => x;", name: "f.mjs" }, { format: "jsonl" }).then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(CairnError);
      if (!(e instanceof CairnError)) return;
      expect([e.code, e.message]).toEqual(["E_INVALID_INPUT", `input ${dir} is a directory; use format "files" (--format files)`]);
    } finally {
      store.close();
    }
  });
});

describe("a worker start failure names the run config keys: workers (--workers), maxMemoryBytes (--max-memory)", () => {
  it("a worker that cannot start for want of an OS resource", () => {
    const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: x, open '/m'`), { code, syscall: "open" });
    const nomem = startError("m.mjs", errno("ENOMEM"));
    expect(nomem?.message).toMatch(/^cannot start a worker for module m\.mjs: out of memory \(ENOMEM\): use fewer workers \(--workers\) or a lower maxMemoryBytes \(--max-memory\) \(/);
    const files = startError("m.mjs", errno("EMFILE"));
    expect(files?.message).toMatch(/^cannot start a worker for module m\.mjs: too many open files \(EMFILE\): raise the limit \(ulimit -n\) or use fewer workers \(--workers\) \(/);
    const init = Object.assign(new Error("Worker initialization failure: EAGAIN"), { code: "ERR_WORKER_INIT_FAILED" });
    expect(startError("m.mjs", init)?.message).toContain("use fewer workers (--workers)");
  });
});
