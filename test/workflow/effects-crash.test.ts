/**
 * Crash behaviour of the CS files: torn JSON-lines tails are refused (never glued to the next
 * record) and repaired only explicitly; leftover temp files of the atomic replace never affect
 * reads; a writer SIGKILLed mid-loop leaves a usable mutable document and a log whose every
 * complete line is intact.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import {
  APPENDONLY_RUNTIME,
  MUTABLE_RUNTIME,
  REGISTRY_RUNTIME,
  confineAbsolute,
  createEffectContext,
  preparePath,
  registryAddress,
  repairTornTail,
  type CsResult,
  type EffectContext,
} from "../../src/workflow/effects/index.js";
import { appendDurable } from "../../src/workflow/effects/fsio.js";
import type { PyDict } from "../../src/workflow/py/index.js";
import { dict, type PyLiteral } from "./py-literal.js";

const MD = new Map([["capability", new Map()], ["operations", new Map()]]);
const REG = "reg/registry.json";
const LOG = "log/events.jsonl";
const DOC = "doc/state.json";

let root: string;
let ctx: EffectContext;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cairn-crash-"));
  ctx = createEffectContext({ dataRoot: root, traceId: "T" });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const reg = (op: string, payload: Record<string, PyLiteral>): CsResult => REGISTRY_RUNTIME.execute({ op, payload: dict(payload), config: dict({ path: `${root}/${REG}` }), metadata: MD }, ctx);
const log = (op: string, payload: Record<string, PyLiteral>): CsResult => APPENDONLY_RUNTIME.execute({ op, payload: dict(payload), config: dict({ path: `${root}/${LOG}` }), metadata: MD }, ctx);
const docConfig = (r: string): PyDict => dict({ module_data_root: r, storage_structure_artifact: { frontmatter: { core: { entity_stores: { S: { path: DOC } } } } } });
const mj = (op: string, payload: Record<string, PyLiteral>): CsResult =>
  MUTABLE_RUNTIME.execute({ op, payload: dict({ __pgs_store_entity__: "S", ...payload }), config: docConfig(root), metadata: MD }, ctx);
const read = (rel: string): string => readFileSync(join(root, rel), "utf8");
function put(rel: string, text: string | Buffer): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), text);
}

describe("torn JSON-lines tails", () => {
  const good = '{"key": "a", "address": "ADDR_00000000000000000000000000000000"}\n';

  it("registry: every operation reports BACKEND_ERROR and writes nothing; repairTornTail truncates explicitly", () => {
    put(REG, `${good}{"key": "b", "addr`);
    const declared = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    for (const [op, p] of [["REGISTER", { key: "c" }], ["RESOLVE", { key_or_address: "a" }], ["EXISTS", { key_or_address: "a" }], ["DEREGISTER", { key_or_address: "a" }]] as const) {
      // Bare under the reference dialect (C.2); the reason as `message` for Cairn stores.
      expect(reg(op, p).result).toEqual(dict({ result_status: "BACKEND_ERROR" }));
      const r = REGISTRY_RUNTIME.execute({ op, payload: dict(p), config: dict({ path: `${root}/${REG}` }), metadata: MD }, declared);
      expect(r.outcome).toBe("BACKEND_ERROR");
      expect(r.result.get("message")).toMatch(/torn line .*repairTornTail \(truncates to 65 bytes\)/);
    }
    expect(read(REG)).toBe(`${good}{"key": "b", "addr`);
    const repair = repairTornTail(root, REG);
    expect(repair).toEqual({ path: REG, removedBytes: 18, removedDigest: sha256('{"key": "b", "addr'), size: good.length });
    expect(read(REG)).toBe(good);
    expect(reg("REGISTER", { key: "c" }).result).toEqual(dict({ result_status: "SUCCESS", address: registryAddress("c", 1) }));
    expect(repairTornTail(root, REG).removedBytes).toBe(0);
  });

  it("a complete record missing only its newline is still an unfinished append and is refused", () => {
    put(REG, good.trimEnd());
    expect(reg("EXISTS", { key_or_address: "a" }).outcome).toBe("BACKEND_ERROR");
  });

  it("append-only log: a hard error (STORE_CORRUPT) for APPEND and READ_ALL; nothing is glued on", () => {
    log("APPEND", { record: 1n });
    const clean = read(LOG);
    writeFileSync(join(root, LOG), `${clean}{"record_id": "2025-01-01T00:00:00.000002_0000`);
    for (const op of ["APPEND", "READ_ALL"]) {
      try {
        log(op, { record: 2n });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CairnError);
        expect((err as CairnError).code).toBe(ErrorCode.STORE_CORRUPT);
        expect((err as CairnError).details).toMatchObject({ reason: "torn_jsonl_tail", path: LOG, offset: Buffer.byteLength(clean) });
      }
    }
    expect(read(LOG).startsWith(clean)).toBe(true);
    repairTornTail(root, LOG);
    expect(read(LOG)).toBe(clean);
    expect(log("APPEND", { record: 2n }).result).toEqual(dict({ result_status: "SUCCESS", record_id: "2025-01-01T00:00:00.000002_000001", sequence_number: 2n }));
  });

  it("repairTornTail is confined like every CS path", () => {
    expect(() => repairTornTail(root, "../x")).toThrow(/path confinement/);
    // A missing file is E_NOT_FOUND, as the CLI says it (since 2026-11-28; it returned removedBytes 0, size 0).
    expect(() => repairTornTail(root, "missing.jsonl")).toThrow(`no file "missing.jsonl" under the data root ${root}`);
  });
});

describe("atomic replace of the mutable document", () => {
  it("leftover temp files (a crash before rename) never affect reads or later writes", () => {
    mj("WRITE", { key: "k", value: 1n });
    const dir = join(root, "doc");
    writeFileSync(join(dir, ".state.json.999999.0.tmp"), '{\n  "k": "torn');
    writeFileSync(join(dir, `.state.json.${process.pid}.0.tmp`), "garbage");
    expect(mj("READ", { key: "k" }).result).toEqual(dict({ result_status: "SUCCESS", value: 1n }));
    expect(mj("WRITE", { key: "k", value: 2n }).outcome).toBe("SUCCESS");
    expect(read(DOC)).toBe('{\n  "k": 2\n}');
    expect(mj("LIST_KEYS", {}).result.get("keys")).toEqual(["k"]);
    // The writer's own temp files are gone: only the two planted leftovers remain next to the document.
    expect(readdirSync(dir).sort()).toEqual([`.state.json.${process.pid}.0.tmp`, ".state.json.999999.0.tmp", "state.json"].sort());
  });

  it("a temp name planted as a symlink is never followed", () => {
    mj("WRITE", { key: "k", value: 1n });
    const victim = join(root, "victim.txt");
    writeFileSync(victim, "keep");
    for (let n = 0; n < 8; n++) symlinkSync(victim, join(root, "doc", `.state.json.${process.pid}.${n}.tmp`));
    expect(mj("WRITE", { key: "k", value: 2n }).outcome).toBe("SUCCESS");
    expect(readFileSync(victim, "utf8")).toBe("keep");
    expect(read(DOC)).toBe('{\n  "k": 2\n}');
  });

  it("a final component swapped for a symlink after the check is refused by O_NOFOLLOW", () => {
    const prepared = preparePath(confineAbsolute(root, `${root}/${LOG}`), true);
    writeFileSync(join(root, "elsewhere"), "");
    symlinkSync(join(root, "elsewhere"), join(root, LOG));
    expect(() => appendDurable(prepared, Buffer.from("x\n"))).toThrow(CairnError);
    expect(readFileSync(join(root, "elsewhere"), "utf8")).toBe("");
    unlinkSync(join(root, LOG));
  });
});

describe("SIGKILL during a write loop", () => {
  it("leaves a parseable document holding one of the written values, and only complete log lines before any torn tail", async () => {
    const script = join(root, "writer.ts");
    const effects = resolve("src/workflow/effects/index.ts");
    const literal = resolve("test/workflow/py-literal.ts");
    writeFileSync(
      script,
      `import { APPENDONLY_RUNTIME, MUTABLE_RUNTIME, createEffectContext } from ${JSON.stringify(effects)};
import { dict } from ${JSON.stringify(literal)};
const root = ${JSON.stringify(join(root, "data"))};
const ctx = createEffectContext({ dataRoot: root, traceId: "CHILD" });
const md = new Map([["capability", new Map()], ["operations", new Map()]]);
const config = dict({ module_data_root: root, storage_structure_artifact: { frontmatter: { core: { entity_stores: { S: { path: ${JSON.stringify(DOC)} } } } } } });
const pad = "x".repeat(20000);
for (let i = 0; ; i++) {
  MUTABLE_RUNTIME.execute({ op: "WRITE", payload: dict({ __pgs_store_entity__: "S", key: "n", value: { i: BigInt(i), pad } }), config, metadata: md }, ctx);
  APPENDONLY_RUNTIME.execute({ op: "APPEND", payload: dict({ record: { i: BigInt(i), pad } }), config: dict({ path: root + "/${LOG}" }), metadata: md }, ctx);
  process.stdout.write(i + "\\n");
}
`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    await new Promise<void>((done) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.split("\n").length > 25) {
          child.kill("SIGKILL");
          done();
        }
      });
      child.on("exit", () => done());
    });
    await new Promise((r) => child.on("close", r));
    expect(err).toBe("");
    const printed = out.split("\n").filter((l) => l !== "").length;
    expect(printed).toBeGreaterThan(20);

    const data = join(root, "data");
    const c = createEffectContext({ dataRoot: data, traceId: "AFTER" });
    const doc = MUTABLE_RUNTIME.execute({ op: "READ", payload: dict({ __pgs_store_entity__: "S", key: "n" }), config: docConfig(data), metadata: MD }, c);
    expect(doc.outcome).toBe("SUCCESS");
    const i = Number((doc.result.get("value") as PyDict).get("i") as bigint);
    expect(i).toBeGreaterThanOrEqual(printed - 1);

    repairTornTail(data, LOG);
    const all = APPENDONLY_RUNTIME.execute({ op: "READ_ALL", payload: dict({}), config: dict({ path: `${data}/${LOG}` }), metadata: MD }, c);
    const seen = (all.result.get("entries") as PyDict[]).map((e) => (e.get("record") as PyDict).get("i"));
    expect(seen.length).toBeGreaterThanOrEqual(printed);
    expect(seen).toEqual(seen.map((_, k) => BigInt(k)));
  }, 60_000);
});
