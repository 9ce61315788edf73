/** `examine` on traces of sealed Cairn snapshots (issue 4 §4.3): the failing node's declaration from the snapshot, Cairn hints. */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, storeSnapshot, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { NO_SNAPSHOT_NOTE } from "../../src/workflow/examine/cairn.js";
import { TraceWriter } from "../../src/workflow/pgs/trace.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { examineTrace, renderReport, type ExamineOptions, type ExamineReport } from "../../src/workflow/examine/index.js";
import { baseDecl, EXAMPLES, payload, prepared, run, tempDir } from "./cairn-fixture.js";

const WF = "test::WF_TEST_V0";
const traceFile = (r: CairnRunResult) => join(r.traceDirAbs, `${r.traceId}.jsonl`);

/** Compiles `decl`, writes the sealed file to `<dir>/snap.json`, runs it over `p` (after `setup`), examines the trace with --snapshot. */
async function examined(decl: unknown, p: Record<string, unknown>, opts: { files?: Record<string, string>; setup?: (dir: string) => void } = {}): Promise<{ r: CairnRunResult; x: ExamineReport; dir: string; snapFile: string }> {
  const { snap, bytes, dir } = await prepared(decl, opts.files ?? {});
  const snapFile = join(dir, "snap.json");
  writeFileSync(snapFile, bytes);
  opts.setup?.(dir);
  const r = run(snap, p, dir);
  return { r, x: examineTrace(traceFile(r), { snapshot: snapFile }), dir, snapFile };
}

function noPgsWords(x: ExamineReport): void {
  for (const w of ["handlers.json", "dispatch.json", "topology.json", "rb_policy", "CT-IR"]) expect(x.hint).not.toContain(w);
}

const EXAMPLE_OK = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-ok.json"), "utf8")) as Record<string, unknown>;
const EXAMPLE_BAD_EMAIL = JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-bad-email.json"), "utf8")) as Record<string, unknown>;

async function exampleSnapshot(): Promise<{ bytes: Buffer; dir: string; file: string }> {
  const c = await compileWorkflows([EXAMPLES]);
  const { bytes } = sealedFileBytes(c.content!);
  const dir = tempDir();
  const file = join(dir, "agent.snapshot.json");
  writeFileSync(file, bytes);
  return { bytes, dir, file };
}

function runExample(bytes: Buffer, dir: string, p: Record<string, unknown>, store?: Store): CairnRunResult {
  return runCairnWorkflow({ snapshot: prepareSnapshot(verifySealedBytes(bytes, "snap")), payload: payload(p), dataRoot: join(dir, "data"), baseDir: dir, ...(store === undefined ? {} : { store }) });
}

describe("declarations from the sealed snapshot", () => {
  it("a governed no (user CT VIOLATION routed to REJECTED): the node, the failing step, its capability and the declaration file", async () => {
    const { bytes, dir, file } = await exampleSnapshot();
    const r = runExample(bytes, dir, EXAMPLE_BAD_EMAIL);
    const x = examineTrace(traceFile(r), { snapshot: file });
    const digest = r.digests.snapshot;
    expect(x.outcome).toEqual({ class: "business_violation", status: "VIOLATION" });
    expect(x.exitCode).toBe(0);
    expect(x.snapshot).toEqual({ source: file, recorded: digest, current: digest, matches: true });
    expect(x.terminal).toEqual({ declared: true, exit: "REJECTED", reason: "the registration request is malformed" });
    const f = x.failure!;
    expect(f.node).toBe("registry::WF_REGISTER_AGENT_V0::validate");
    expect(f.step).toEqual({ index: 1, id: "owner", address: 2, fqdn: "agent.normalize_owner", op: null, kind: "CT" });
    const c = f.declaration!.cairn!;
    const moduleDigest = Object.keys(verifySealedBytes(bytes, "snap").content.modules)[0]!;
    expect(f.declaration!.source).toBe("cairn_snapshot");
    expect(f.declaration!.file).toBe("register-agent.yaml");
    expect(c).toEqual({
      snapshot: { source: file, digest },
      workflow: "registry::WF_REGISTER_AGENT_V0",
      file: "register-agent.yaml",
      fileDigest: c.fileDigest,
      node: "validate",
      address: 4,
      entry: true,
      maxVisits: null,
      steps: ["shape: atom:json_schema_validate", "owner: agent.normalize_owner", "agent_id: atom:generate_id"],
      step: {
        index: 1, id: "owner", kind: "ct", declared: "ct: agent.normalize_owner",
        capability: `user CT agent.normalize_owner (module ./modules/agent-capabilities.ts, bundle ${moduleDigest})`,
        inputs: { email: "$.payload.owner_email" },
        onResult: { SUCCESS: "continue", VIOLATION: "exit" },
        module: { name: "agent", path: "./modules/agent-capabilities.ts", digest: moduleDigest, outputs: ["email", "domain"] },
      },
      routes: { SUCCESS: "node register", VIOLATION: "exit REJECTED (the registration request is malformed)" },
    });
    expect(c.fileDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const lines = renderReport(x);
    const from = lines.findIndex((l) => l.startsWith("declaration:"));
    expect(lines.slice(from, from + 6)).toEqual([
      `declaration: register-agent.yaml (${c.fileDigest.slice(0, 19)}…), node validate of registry::WF_REGISTER_AGENT_V0 in sealed snapshot ${file}`,
      "             node validate (addr 4, entry): steps shape: atom:json_schema_validate → owner: agent.normalize_owner → agent_id: atom:generate_id",
      `             step owner (2 of 3): ct: agent.normalize_owner = user CT agent.normalize_owner (module ./modules/agent-capabilities.ts, bundle ${moduleDigest})`,
      '               inputs {"email":"$.payload.owner_email"}',
      "             routes: SUCCESS → node register, VIOLATION → exit REJECTED (the registration request is malformed)",
      `snapshot:    ${file} (${digest}), verified`,
    ]);
    expect(lines).toContain("             step owner: CT agent.normalize_owner (addr 2)");
    expect(x.hint).toBe(
      'governed outcome: registry::WF_REGISTER_AGENT_V0::validate returned VIOLATION (VIOLATION from step owner (agent.normalize_owner): Atom raised exception: agent.normalize_owner: not an email address: "nobody") and the workflow routed it to its declared terminal REJECTED (the registration request is malformed). Route taken: validate=VIOLATION → REJECTED (the registration request is malformed).',
    );
    expect(x.notes).toEqual([]);
  });

  it("from the store: through the run's record, or the snapshot artifact the trace names", async () => {
    const { bytes, dir } = await exampleSnapshot();
    const storeDir = join(dir, "store");
    const store = openStore({ dir: storeDir, create: true });
    let recorded: CairnRunResult;
    try {
      recorded = runExample(bytes, dir, EXAMPLE_BAD_EMAIL, store);
    } finally {
      store.close();
    }
    const digest = recorded.digests.snapshot;
    const readOnly: ExamineOptions = { openStore: () => openStore({ dir: storeDir, readOnly: true }) };
    const x = examineTrace(traceFile(recorded), readOnly);
    expect(x.snapshot).toEqual({ source: `store artifact ${digest}`, recorded: digest, current: digest, matches: true });
    expect(x.failure?.declaration?.cairn?.step?.id).toBe("owner");
    expect(renderReport(x)).toContain(`snapshot:    store artifact ${digest}, verified`);

    // A run that was not recorded, with the snapshot stored by `wf compile --store`.
    const other = tempDir();
    const s2 = openStore({ dir: join(other, "store"), create: true });
    try {
      storeSnapshot(s2, verifySealedBytes(bytes, "snap").content);
    } finally {
      s2.close();
    }
    const unrecorded = runExample(bytes, other, EXAMPLE_OK);
    const y = examineTrace(traceFile(unrecorded), { openStore: () => openStore({ dir: join(other, "store"), readOnly: true }) });
    expect(y.snapshot?.matches).toBe(true);
    expect(y.outcome.class).toBe("success");

    // A store that holds neither: a note, no declaration.
    const empty = tempDir();
    openStore({ dir: join(empty, "store"), create: true }).close();
    const z = examineTrace(traceFile(unrecorded), { openStore: () => openStore({ dir: join(empty, "store"), readOnly: true }) });
    expect(z.snapshot).toBeUndefined();
    expect(z.notes).toEqual([
      `the store holds no recorded run of trace ${unrecorded.traceId} (no root cairn-wf:${unrecorded.traceId} with its receipt): the trace was not compared with a recorded one`,
      `the store holds neither a record of run ${unrecorded.traceId} nor snapshot ${digest} (give --snapshot FILE): routes were not checked against the declaration`,
    ]);
  });

  it("without a snapshot: classified from the events, with a note saying where to find one", async () => {
    const { bytes, dir } = await exampleSnapshot();
    const r = runExample(bytes, dir, EXAMPLE_BAD_EMAIL);
    const x = examineTrace(traceFile(r));
    expect(x.outcome.class).toBe("business_violation");
    expect(x.failure?.declaration).toBeUndefined();
    expect(x.failure?.step).toEqual({ index: 1, id: "owner", address: 2, fqdn: "agent.normalize_owner", op: null, kind: "CT" });
    expect(x.snapshot).toBeUndefined();
    expect(x.notes).toEqual([NO_SNAPSHOT_NOTE]);
    expect(renderReport(x)).toContain(`note:        ${NO_SNAPSHOT_NOTE}`);
    // A PGS --workspace means nothing for a Cairn trace: said so, not an error.
    expect(examineTrace(traceFile(r), { workspace: dir }).notes).toEqual([
      "--workspace is ignored: this is a trace of a sealed Cairn snapshot (its declarations come from --snapshot or the store)",
      NO_SNAPSHOT_NOTE,
    ]);
  });

  it("a snapshot that is not the run's is noted; a tampered --snapshot is E_SNAPSHOT_INTEGRITY", async () => {
    const { bytes, dir, file } = await exampleSnapshot();
    const r = runExample(bytes, dir, EXAMPLE_BAD_EMAIL);
    const { bytes: otherBytes, dir: otherDir } = await prepared(baseDecl({ namespace: "registry", code: "WF_REGISTER_AGENT_V0" }));
    const otherFile = join(otherDir, "other.json");
    writeFileSync(otherFile, otherBytes);
    const other = verifySealedBytes(otherBytes, "other").digest;
    const x = examineTrace(traceFile(r), { snapshot: otherFile });
    expect(x.snapshot).toEqual({ source: otherFile, recorded: r.digests.snapshot, current: other, matches: false });
    expect(x.notes).toContain(`the snapshot ${otherFile} (${other}) is not the one this run used (${r.digests.snapshot}, recorded in WF_START): the declarations shown are that snapshot's`);
    expect(renderReport(x)).toContain(`snapshot:    ${otherFile} (${other}), verified — NOT the run's ${r.digests.snapshot}`);

    const tampered = Buffer.from(bytes);
    tampered[tampered.indexOf("malformed")] = "M".charCodeAt(0);
    writeFileSync(file, tampered);
    let err: unknown;
    try {
      examineTrace(traceFile(r), { snapshot: file });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe("E_SNAPSHOT_INTEGRITY");
    expect((err as CairnError).message).toContain("integrity");
  });
});

describe("a governed no over missing data", () => {
  it("notes the payload member the failing step read and the payload lacks", async () => {
    const decl = baseDecl({
      entry: "check",
      nodes: {
        check: {
          steps: [{ id: "v", ct: "json_schema_validate", inputs: { schema: { const: { type: "string" } }, value: "$.payload.name" } }],
          routes: { SUCCESS: { exit: "OK", reason: "named" }, VIOLATION: { exit: "REJECTED", reason: "no name" } },
        },
      },
    });
    const { x } = await examined(decl, { nom: "ada" });
    expect([x.outcome.class, x.exitCode]).toEqual(["business_violation", 0]);
    expect(x.hint.endsWith(' Note: input "value" ← $.payload.name: the payload has no member "name" (payload keys: nom).')).toBe(true);
    const named = await examined(decl, { name: 7 });
    expect(named.x.outcome.class).toBe("business_violation");
    expect(named.x.hint).not.toContain("Note:");
  });
});

describe("structural failures: Cairn hints", () => {
  const STORE_DECL = baseDecl({
    entry: "check",
    stores: { reg: { kind: "registry", path: "s/reg.jsonl" } },
    nodes: {
      check: {
        steps: [{ id: "v", ct: "json_schema_validate", inputs: { schema: { const: { type: "object", required: ["name"] } }, value: "$.payload" } }],
        routes: { SUCCESS: "save", VIOLATION: { exit: "REJECTED", reason: "no name" } },
      },
      save: {
        steps: [{ id: "r", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.name" } }],
        routes: { SUCCESS: { exit: "DONE", reason: "saved" }, ALREADY_EXISTS: { exit: "DONE", reason: "saved" }, default: { exit: "FAILED", reason: "registry failed" } },
      },
    },
  });

  it("a CS hard error (path confinement) aborts the run: cs_runtime_error at the step in progress, naming the store", async () => {
    const outside = tempDir();
    const { r, x, snapFile } = await examined(STORE_DECL, { name: "ada" }, {
      setup: (dir) => {
        mkdirSync(join(dir, "data"), { recursive: true });
        symlinkSync(outside, join(dir, "data", "s"));
      },
    });
    expect(r.status).toBe("ERROR");
    expect(x.outcome).toEqual({ class: "cs_runtime_error", status: "ERROR" });
    expect(x.exitCode).toBe(1);
    const message = 'path confinement: "s" is a symlink leading outside the data root';
    // No host path in the trace (issue 4 §3.1): the symlink's target is not in the message.
    expect(readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8")).not.toContain(outside);
    expect(readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8")).not.toContain(outside);
    expect(x.failure).toMatchObject({ node: `${WF}::save`, address: 2, event: { type: "ERROR" }, message, step: { index: 0, id: "r", fqdn: "reg:REGISTER", op: "REGISTER", kind: "CS" } });
    expect(x.failure?.declaration?.cairn?.step).toMatchObject({ id: "r", declared: "cs: reg, op: REGISTER", capability: "store reg REGISTER (registry CS_REGISTRY_V0.register, data root s/reg.jsonl)", store: { name: "reg", kind: "registry", path: "s/reg.jsonl" } });
    expect(x.hint).toBe(`node save of ${WF}, step r (cs: reg, op: REGISTER) raised: ${message}. A CS hard error aborts the run (it is not an outcome a route can handle): check store reg (registry, <data root>/s/reg.jsonl; stores.reg in wf.yaml), the step's inputs and the data root.`);
    expect(renderReport(x)).toContain("             step r: CS reg:REGISTER (addr 1)");
    expect(x.snapshot?.source).toBe(snapFile);
    noPgsWords(x);
  });

  it("BACKEND_ERROR, even when routed to an exit: cs_runtime_error naming the store file", async () => {
    const decl = baseDecl({
      entry: "read",
      stores: { log: { kind: "appendonly", path: "s/log.jsonl" } },
      nodes: { read: { steps: [{ id: "all", cs: "log", op: "GET_ALL", inputs: {} }], routes: { SUCCESS: { exit: "READ", reason: "read" }, BACKEND_ERROR: { exit: "BROKEN", reason: "log unreadable" } } } },
    });
    const { x } = await examined(decl, { x: 1 }, {
      setup: (dir) => {
        mkdirSync(join(dir, "data/s"), { recursive: true });
        writeFileSync(join(dir, "data/s/log.jsonl"), "this is not json\n");
      },
    });
    expect([x.outcome.class, x.outcome.status, x.exitCode]).toEqual(["cs_runtime_error", "BACKEND_ERROR", 1]);
    expect(x.hint).toBe(`node read of ${WF}, step all (cs: log, op: GET_ALL) returned BACKEND_ERROR: "s/log.jsonl" line 1: Expecting value: line 1 column 1 (char 0). The store could not be read or written in its format: check store log (appendonly, <data root>/s/log.jsonl; stores.log in wf.yaml) under the data root (a torn or non-JSON line, a file of another kind), then rerun.`);
    noPgsWords(x);
  });

  it("a user CT that breaks its contract: ct_error naming the module and the declared outputs", async () => {
    const decl = baseDecl({
      entry: "a",
      modules: { m: "./m.ts" },
      nodes: { a: { steps: [{ id: "u", ct: "m.bad", inputs: { v: "$.payload.v" } }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "bad" } } } },
    });
    const files = { "m.ts": "export const capabilities = { bad: { outputs: ['y'], run(i: { v?: unknown }) { return i.v === 1 ? { y: 1 } : (42 as unknown as object); } } };\n" };
    const { x } = await examined(decl, { v: 2 }, { files });
    expect([x.outcome.class, x.outcome.status, x.exitCode]).toEqual(["ct_error", "VIOLATION", 1]);
    expect(x.hint).toBe(`node a of ${WF}, step u (ct: m.bad) failed: user CT m.bad broke its contract: bad must return a JSON object, got number. A user CT must return, synchronously, a JSON object with its declared outputs (y): fix capability m.bad in module ./m.ts and recompile wf.yaml.`);
    noPgsWords(x);
    // The same CT keeping its contract: a success.
    const ok = await examined(decl, { v: 1 }, { files });
    expect([ok.x.outcome.class, ok.x.exitCode]).toEqual(["success", 0]);
  });

  it("the hop limit: graph_structure_error, the loop's nodes counted, the last node's routes shown", async () => {
    const decl = baseDecl({
      entry: "a",
      max_hops: 5,
      nodes: {
        a: { max_visits: 10, steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
        b: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", VIOLATION: { exit: "BAD", reason: "x" } } },
      },
    });
    const { x } = await examined(decl, { x: 1 });
    expect([x.outcome.class, x.exitCode]).toEqual(["graph_structure_error", 1]);
    // The failing node is the one the run was about to enter (named by the error), not the last one that completed.
    expect(x.failure).toMatchObject({ node: `${WF}::b`, message: `WF '${WF}' exceeded 5 topology hops (hop limit) at node b: the run followed a routing cycle, or a route longer than the hop limit` });
    expect(x.hint).toBe(`the run visited 5 nodes and hit the hop limit (repeated: a ×3, b ×3, with the visit to b it was about to make): a routing cycle in wf.yaml ran past it. Route an outcome out of the cycle, lower the max_visits of a (max_visits 10) so that it stops the run before the hop limit (max_hops 5) does, or raise max_hops (at most 64) if the cycle needs more hops, and recompile; last node: ${WF}::a ended with SUCCESS (routes: SUCCESS → node b, VIOLATION → exit BAD (x)).`);
    noPgsWords(x);
  });

  it("the hop limit hit as the run re-enters a node it completed once (a → b → a): the cycle hint (UAT 2026-11-27 F4; before: \"none twice … longer than the hop limit\")", async () => {
    const decl = baseDecl({
      entry: "a",
      max_hops: 2,
      nodes: {
        a: { max_visits: 5, steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
        b: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", VIOLATION: { exit: "BAD", reason: "x" } } },
      },
    });
    const { x } = await examined(decl, { x: 1 });
    expect(x.failure).toMatchObject({ node: `${WF}::a` });
    expect(x.hint).toBe(`the run visited 2 nodes and hit the hop limit (repeated: a ×2, with the visit to a it was about to make): a routing cycle in wf.yaml ran past it. Route an outcome out of the cycle, lower the max_visits of a (max_visits 5) so that it stops the run before the hop limit (max_hops 2) does, or raise max_hops (at most 64) if the cycle needs more hops, and recompile; last node: ${WF}::b ended with SUCCESS (routes: SUCCESS → node a, VIOLATION → exit BAD (x)).`);
  });

  it("a node past its max_visits: graph_structure_error naming the bound", async () => {
    const decl = baseDecl({
      entry: "a",
      nodes: {
        a: { max_visits: 2, steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
        b: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", VIOLATION: { exit: "BAD", reason: "x" } } },
      },
    });
    const { x } = await examined(decl, { x: 1 });
    expect([x.outcome.class, x.exitCode]).toEqual(["graph_structure_error", 1]);
    expect(x.path.map((p) => `${p.node.split("::").pop()}=${p.status}`)).toEqual(["a=SUCCESS", "b=SUCCESS", "a=SUCCESS", "b=SUCCESS"]);
    expect(x.hint).toBe(`node a of WF '${WF}' would run a 3rd time; its declared bound is max_visits 2: the cycle through a in wf.yaml ran past its declared bound. Route the repeating outcome out of the cycle, or raise max_visits, and recompile; last node: ${WF}::b ended with SUCCESS (routes: SUCCESS → node a, VIOLATION → exit BAD (x)).`);
    noPgsWords(x);
  });

  it("admission errors (a handler the sealed tables lack, an integrity failure): recompile, run the sealed file as written", async () => {
    const { bytes, dir } = await prepared(baseDecl());
    const snapFile = join(dir, "snap.json");
    writeFileSync(snapFile, bytes);
    const digest = verifySealedBytes(bytes, "snap").digest;
    /** A trace as the runtime would write it if `message` aborted the run in node `start`, step `h`. */
    const abortedWith = (message: string): ExamineReport => {
      const id = "0123456789abcdef__WF_TEST_V0__ABCD";
      const file = join(tempDir(), `${id}.jsonl`);
      const w = new TraceWriter(id, "test", null, file);
      w.emit("WF_START", { detail: fromPlain({ wf_fqdn: WF, payload_keys: ["x"], snapshot: digest }) as PyObject });
      w.emit("CC_START", { ccAddr: 1, detail: fromPlain({ cc_fqdn: `${WF}::start`, visit: 1 }) as PyObject });
      w.emit("ERROR", { detail: fromPlain({ message }) as PyObject });
      w.close();
      return examineTrace(file, { snapshot: snapFile });
    };
    const unmapped = abortedWith(`${WF} node start step h: atom general:hash is not in the sealed atom table`);
    expect([unmapped.outcome.class, unmapped.exitCode]).toEqual(["admission_error", 1]);
    expect(unmapped.failure?.step).toMatchObject({ id: "h", fqdn: "atom:hash", kind: "CT" });
    expect(unmapped.hint).toBe(`the run was refused at node start of ${WF}, step h (ct: hash): ${WF} node start step h: atom general:hash is not in the sealed atom table. A Cairn snapshot runs only handlers from the sealed tables (CAIRN_ATOMS, CS_RUNTIMES) and the module bundles inside it: fix wf.yaml and recompile it with \`cairn wf compile\` (the compiler checks every capability).`);
    const integrity = abortedWith("snapshot integrity check failed (module): the bundle recorded as sha256:00 hashes to sha256:11");
    expect(integrity.outcome.class).toBe("admission_error");
    expect(integrity.hint).toBe("the snapshot failed its integrity check, so nothing may run on it: snapshot integrity check failed (module): the bundle recorded as sha256:00 hashes to sha256:11. Run the sealed file exactly as `cairn wf compile` wrote it (or load it by digest from the store).");
    noPgsWords(unmapped);
    noPgsWords(integrity);
  });
});
