/**
 * The runtime of sealed Cairn snapshots: one run of one workflow over a payload.
 *
 * - **Load** (`prepareSnapshot`): the snapshot was verified over its whole content (seal.ts);
 *   every handler is then resolved through sealed tables only — built-in atoms by handler ref
 *   (`atomByRef`, catalog.ts), CS runtimes by capability id (`csRuntimeFor`), user CTs by the
 *   bundle digest the snapshot names (the bundle text is in the content, re-hashed here, and
 *   evaluated with `vm.Script` — no `import()`, no `require`, no reflection over modules). An
 *   unknown ref is `E_HANDLER_UNMAPPED`.
 * - **Traversal is blind**: start at the entry; run the node's pipeline (each step's inputs
 *   resolved from the payload, earlier nodes' results and earlier steps' results; `on_result`
 *   per outcome: continue or exit the node); the node's outcome is its last executed step's;
 *   route by outcome to the next node or to a named exit. Constants are converted by
 *   `sealedConstValue` (safe integers are ints, other numbers floats, as in a payload). A missing route ends the run with that
 *   status (the compiler rejects snapshots where that can happen). Hop limit: the workflow's
 *   `maxHops` when it is an integer in 1..64, else CAIRN_MAX_HOPS = 64, one hop per node visited; the next hop past it aborts the run with
 *   `E_LIMIT_EXCEEDED` (reason `hop_limit`: a cycle, or a route longer than the limit — the compiler
 *   refuses a workflow whose shortest route to an exit is); a node visited more than its `max_visits` aborts
 *   it with `E_LIMIT_EXCEEDED` (reason `visit_bound`).
 * - **Execution ≠ effect**: the terminal status is the outcome that reached the exit; a
 *   declaration may route ALREADY_EXISTS onward or to an exit, and `wf run` exits 0 for a
 *   terminal SUCCESS or ALREADY_EXISTS.
 * - **REGISTER needs a key**: every declared input is bound (missing means null), so a Cairn
 *   REGISTER whose `key` resolves to null is VIOLATION (`NULL_REGISTRY_KEY`) before the store is
 *   touched — the registry never indexes a null key, so it would register again on every run.
 *   Likewise a `value` holding a member the registry record reserves (key, address, target_cs,
 *   target_ref, tombstone: catalog.ts `reservedValueMembers`) is VIOLATION (`reservedValueMessage`):
 *   merged after the record's own members, it would replace them (index the record under
 *   another key, or make it a tombstone), so the registration would not be idempotent either.
 *   The shared runtime keeps PGS SEMANTICS C.2 (a null key registers, value's members overwrite)
 *   for PGS runs; a lane-bound REGISTER is its lane's business.
 * - **CTs** never throw into the runtime: an atom or user CT that throws yields VIOLATION (the
 *   message in `CC_STEP.detail.error`). **CS steps** go through the existing runtimes
 *   (src/workflow/effects) under the data root, with the "declared" operation dialect; their
 *   hard errors (path confinement, bad config, I/O) abort the run with an `ERROR` event. A
 *   failed trace write is not a run error: the run stops and throws the writer's `E_STORE_IO`
 *   error, as `runPgsWorkflow` does (no summary, no store record; pgs/trace.ts).
 * - **Determinism**: the trace id derives from (snapshot digest, workflow, the payload as
 *   recorded — compact JSON in the given key order —, prior state of the workflow's store files); effect ids, append timestamps (logical clock,
 *   default 2025-01-01T00:00:00Z), registry addresses, user-CT time and randomness all derive
 *   from the run. No wall clock, no randomness, no absolute path in the trace or summary.
 * - **One holder per data root**: a run holds its data root's cross-process lock
 *   (effects/data-root-lock.ts) from before the prior state is read until it ends — its own, or
 *   the one the caller passes as `dataRootLock` — as `runPgsWorkflow` does.
 * - **Lane-bound steps** (a step's `lane` binding) are yielded by `runCairnCore` to the plane
 *   driver (lane-step.ts, `runCairnWorkflowWithPlane`); their outputs are external facts, so such
 *   a run is only as deterministic as the services it calls (the plane session joins the trace
 *   id). `runCairnWorkflow` refuses them.
 *
 * Traces reuse the PGS writer (src/workflow/pgs/trace.ts: trace v0 + `seq` + hash chain),
 * trace ids (`makeTraceId`) and summary (`renderSummary`); see docs/workflow-cairn.md for the
 * event details.
 */
import { join, resolve } from "node:path";
import { sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, isCairnError } from "../../core/errors.js";
import { checkDataRootHoldsState, createEffectContext, csRuntimeFor, lockForRun, normalizeDataRoot, PAYLOAD_STORE_ENTITY, type CsRuntime, type EffectContext } from "../effects/index.js";
import { TRACES_DIR } from "../pgs/constants.js";
import type { EffectCall, PathEntry, ViolationRecord } from "../pgs/engine.js";
import { closedRunFacts, discardSummary, runErrorMessage, withTraceId, type PgsRunResult } from "../pgs/run.js";
import { canonicalPy, compactPy } from "../pgs/pyjson.js";
import { captureState, stateDigest, type StateFile } from "../pgs/state.js";
import { renderSummary } from "../pgs/summary.js";
import { runTraceId } from "../pgs/trace-id.js";
import { emitRunError, TraceWriter, traceWriteError, writeTraceSummary } from "../pgs/trace.js";
import { fromPlain, type PyObject, type PyValue } from "../pgs/value.js";
import { AtomViolation } from "../atoms/violation.js";
import { cairnTraceDot } from "../render/cairn-dot.js";
import { loadedTraceRenderer, writeTracePictures, type TraceRenderer } from "../render/render.js";
import { atomByRef, quotedNames, reservedValueMembers, type AtomEntry } from "./catalog.js";
import { CAIRN_MAX_HOPS, type Binding, type CsStep, type Route, type SnapshotNode, type SnapshotStep, type SnapshotWorkflow } from "./model.js";
import { follow } from "./paths.js";
import { constBindingValue } from "./sealed-value.js";
import { CAIRN_RECORD_KIND, recordCairnRun, type CairnRecordedRun } from "./record.js";
import { recordRunStart } from "../pgs/record-start.js";
import { reverifySealedSnapshot, storeSnapshot, type SealedSnapshot } from "./seal.js";
import { describeArgument } from "../../core/describe.js";
import { UserModuleRunner } from "./usercts.js";
import { laneBoundSteps } from "./lane-compile.js";
import type { LaneStepCall, LaneStepOutcome } from "./lane-step.js";
import { makeDir } from "../../core/dirs.js";
import { checkPayloadDepth } from "../py/json.js";
import { checkRunCairnOptions, checkRunCairnValues, RUN_CAIRN_OPTION_KEYS, type PayloadTextMode, type RunCairnOptions } from "./run-options.js";

export const STATUS_ERROR = "ERROR";
/** Prefix of a CT's violation message in the trace (as the PGS CT-IR executor writes it). */
export const ATOM_RAISED = "Atom raised exception: ";
/** The registry runtime, whose REGISTER refuses a null key in Cairn runs (runStep). */
const REGISTRY_CAPABILITY = "CS_REGISTRY_V0";
/** The VIOLATION message of a Cairn REGISTER whose key is null. */
export const NULL_REGISTRY_KEY = "REGISTER needs a key: input key is null (bound to a missing or null value), and a null key is never indexed, so the registration would not be idempotent";
/** The VIOLATION message of a Cairn REGISTER (step `step`) whose value holds members the registry record reserves (`names`). */
export function reservedValueMessage(step: string, names: readonly string[]): string {
  const one = names.length === 1;
  return `REGISTER step ${step}: input value holds ${one ? "the member" : "the members"} ${quotedNames(names)}, which the registry record reserves (key, address, target_cs, target_ref, tombstone): value's members are merged into the record after its own, so ${one ? "it" : "they"} would replace them and the registration would not be idempotent; rename ${one ? "the member" : "the members"} or nest the value one level down`;
}
/** Sentinel for an unmapped handler ref. */
const UNMAPPED_HANDLER_REASON = "unmapped_handler_ref";

/** A snapshot with its handlers resolved (reusable across runs). */
export interface PreparedSnapshot {
  readonly digest: Digest;
  readonly sealed: SealedSnapshot;
  readonly atoms: ReadonlyMap<string, AtomEntry>;
  readonly cs: ReadonlyMap<string, CsRuntime>;
  readonly modules: ReadonlyMap<string, UserModuleRunner>;
}

/**
 * Resolves every handler a snapshot names through the sealed tables (see the module comment).
 * The snapshot is verified again first (`reverifySealedSnapshot`: its content must still hash to
 * its digest, `E_SNAPSHOT_INTEGRITY` otherwise) and the result holds that private copy, so a
 * change to the caller's object — before or after this call — cannot run under the sealed
 * digest. Once per snapshot (a PreparedSnapshot serves any number of runs), not per run.
 */
export function prepareSnapshot(snapshot: SealedSnapshot): PreparedSnapshot {
  const given = snapshot as unknown;
  if (given === null || typeof given !== "object" || typeof (given as { digest?: unknown }).digest !== "string" || (given as { content?: unknown }).content === null || typeof (given as { content?: unknown }).content !== "object") {
    throw new CairnError(ErrorCode.USAGE, `prepareSnapshot: snapshot must be a sealed Cairn snapshot (loadSealedFile, verifySealedBytes, loadSnapshotFromStore), got ${describeArgument(given)}`, { field: "snapshot" });
  }
  const sealed = reverifySealedSnapshot(snapshot, `snapshot ${snapshot.digest}`);
  const atoms = new Map<string, AtomEntry>();
  const cs = new Map<string, CsRuntime>();
  const modules = new Map<string, UserModuleRunner>();
  for (const [digest, m] of Object.entries(sealed.content.modules)) {
    if (sha256(m.code) !== digest) {
      throw new CairnError(ErrorCode.SNAPSHOT_INTEGRITY, `snapshot integrity check failed (module): the bundle recorded as ${digest} hashes to ${sha256(m.code)}`, { reason: "snapshot_integrity", check: "module" });
    }
    modules.set(digest, new UserModuleRunner(digest.slice(7, 19), m.code));
  }
  for (const [fqdn, wf] of Object.entries(sealed.content.workflows)) {
    for (const [key, node] of Object.entries(wf.nodes)) {
      for (const s of node.steps) {
        const where = `${fqdn} node ${key} step ${s.id}`;
        if (s.kind === "cs") {
          const rt = csRuntimeFor(s.capability);
          if (rt === undefined) throw new CairnError(ErrorCode.HANDLER_UNMAPPED, `${where}: CS runtime ${s.capability} is not in the sealed CS table`, { reason: UNMAPPED_HANDLER_REASON, kind: "CS", ref: s.capability });
          cs.set(s.capability, rt);
        } else if (s.handler.type === "atom") {
          const a = atomByRef(s.handler.ref);
          if (a === undefined) throw new CairnError(ErrorCode.HANDLER_UNMAPPED, `${where}: atom ${s.handler.ref} is not in the sealed atom table`, { reason: UNMAPPED_HANDLER_REASON, kind: "CT", ref: s.handler.ref });
          atoms.set(s.handler.ref, a);
        } else if (!modules.has(s.handler.digest)) {
          throw new CairnError(ErrorCode.HANDLER_UNMAPPED, `${where}: user CT module ${s.handler.digest} is not in the snapshot`, { reason: UNMAPPED_HANDLER_REASON, kind: "CT", ref: s.handler.digest });
        }
      }
    }
  }
  return { digest: sealed.digest, sealed, atoms, cs, modules };
}

/** 1st, 2nd, 3rd, 4th… 11th, 12th, 13th… 21st. */
function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
}

/** A Cairn snapshot run's result: the PGS run's shape (one `--json` document serves both), plus its exit. */
export interface CairnRunResult extends PgsRunResult {
  recorded: CairnRecordedRun | null;
  /** The declared exit the run ended at, if any. */
  exit: { name: string; reason: string } | null;
}

/**
 * The workflow `name` of a snapshot (or its only workflow). A snapshot of several and no name is
 * E_USAGE naming the `workflow` option (`details.field`), the CLI's `--wf` beside it (until
 * 2026-11-28 only "--wf").
 */
export function selectWorkflow(snap: PreparedSnapshot, name: string | undefined): [string, SnapshotWorkflow] {
  const wfs = snap.sealed.content.workflows;
  if (name === undefined) {
    const keys = Object.keys(wfs);
    if (keys.length !== 1) throw new CairnError(ErrorCode.USAGE, `the snapshot holds ${keys.length} workflows (${keys.join(", ")}): name one with workflow (--wf)`, { field: "workflow" });
    return [keys[0] as string, wfs[keys[0] as string] as SnapshotWorkflow];
  }
  if (!Object.prototype.hasOwnProperty.call(wfs, name)) throw new CairnError(ErrorCode.NOT_FOUND, `workflow ${name} is not in snapshot ${snap.digest} (it holds: ${Object.keys(wfs).join(", ")})`, { workflow: name });
  return [name, wfs[name] as SnapshotWorkflow];
}

/** The data-root files a workflow's stores name, sorted. */
export function storeFiles(wf: SnapshotWorkflow): string[] {
  return [...new Set(Object.values(wf.stores).map((s) => s.path))].sort();
}

/**
 * The CS config of a store step, built from the data root directly: `{ path: <root>/<store path> }`
 * for registry and append-only stores, `{ module_data_root: <root>, storage_structure_artifact… }`
 * for mutable ones, `<root>` being the data root minus its trailing `/`s. These are the values
 * the PGS policy expansion (`expandPolicy` of `{{module_data_root}}/…`) gives for an ordinary
 * data root, so traces are unchanged; but no text is expanded, so a data root may hold any
 * character (`"`, `\`, control characters, which the PGS textual protocol cannot carry and
 * `expandPolicy` refuses) and a store path is taken literally (a `{{module_data_root}}` in it
 * names a file of that name, the one `captureState` records).
 */
function csConfig(store: string, wf: SnapshotWorkflow, dataRoot: string): PyObject {
  const s = wf.stores[store];
  if (s === undefined) throw new CairnError(ErrorCode.INVALID_INPUT, `store ${store} is not declared in the snapshot`, { store });
  const root = dataRoot.replace(/\/+$/, "");
  if (s.kind === "mutable") {
    return fromPlain({
      module_data_root: root,
      storage_structure_artifact: { frontmatter: { core: { entity_stores: { [store]: { path: s.path } } } } },
    }) as PyObject;
  }
  return fromPlain({ path: `${root}/${s.path}` }) as PyObject;
}

interface Frame {
  payload: PyObject;
  results: Map<string, PyObject>;
  steps: Map<string, PyObject>;
}

function resolveBinding(b: Binding, f: Frame): PyValue {
  if ("bind" in b) {
    const p = b.bind;
    if (p.root === "payload") return follow(f.payload, p.segments);
    const from = p.root === "results" ? f.results.get(p.name as string) : f.steps.get(p.name as string);
    return follow(from, p.segments);
  }
  if ("const" in b) return constBindingValue(b);
  if ("object" in b) return new Map(Object.entries(b.object).map(([k, x]) => [k, resolveBinding(x, f)]));
  return b.array.map((x) => resolveBinding(x, f));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function stepName(s: SnapshotStep): string {
  if (s.kind === "cs") return `${s.store}:${s.op}`;
  return s.handler.type === "atom" ? `atom:${s.handler.name}` : `${s.handler.module}.${s.handler.capability}`;
}

/**
 * The declared output fields a SUCCESS result lacks (a user CT's or a lane's result: code the
 * compiler could not check), as a message, or null when every declared field is there. Later
 * bindings (`$.results.<node>.<field>`) were checked against the declaration, so a missing
 * field is a contract violation, not a silent null.
 */
export function missingOutputs(s: SnapshotStep, fields: PyObject): string | null {
  const missing = s.outputs.filter((o) => !fields.has(o));
  return missing.length === 0 ? null : `its result lacks the declared output field${missing.length === 1 ? "" : "s"} ${missing.map((m) => JSON.stringify(m)).join(", ")} (declared: ${s.outputs.join(", ")})`;
}

interface StepOutcome {
  status: string;
  fields: PyObject;
  error?: string;
}

function runStep(snap: PreparedSnapshot, wf: SnapshotWorkflow, s: SnapshotStep, inputs: PyObject, effects: EffectContext, seedKey: string): StepOutcome & { file?: EffectCall["file"] } {
  if (s.kind === "ct") {
    if (s.handler.type === "atom") {
      const a = snap.atoms.get(s.handler.ref) as AtomEntry;
      let v: PyValue;
      try {
        v = a.atom.execute(inputs);
      } catch (err) {
        // Same text as the PGS CT-IR executor, so examine reads it as a rule violation.
        return { status: "VIOLATION", fields: new Map(), error: `${ATOM_RAISED}${a.atom.fqdn}: ${err instanceof AtomViolation ? err.reason : messageOf(err)}` };
      }
      if (v === null) return { status: "VIOLATION", fields: new Map(), error: `Atom returned None: ${a.atom.fqdn}` };
      return { status: "SUCCESS", fields: v instanceof Map ? v : new Map([["result", v]]) };
    }
    const runner = snap.modules.get(s.handler.digest) as UserModuleRunner;
    const name = `${s.handler.module}.${s.handler.capability}`;
    const r = runner.call(s.handler.capability, inputs, seedKey, s.id, name);
    if (!r.ok) return { status: "VIOLATION", fields: new Map(), error: r.raised ? `${ATOM_RAISED}${name}: ${r.error}` : `user CT ${name} broke its contract: ${r.error}` };
    const missing = missingOutputs(s, r.value as PyObject);
    if (missing !== null) return { status: "VIOLATION", fields: new Map(), error: `user CT ${name} broke its contract: ${missing}` };
    return { status: "SUCCESS", fields: r.value as PyObject };
  }
  const cs = s as CsStep;
  // A null registry key (a binding to a missing or null value: every declared input is bound,
  // "missing means null") is refused before the store is touched: the registry never indexes a
  // null key, so each run would append another record and the registration would not be
  // idempotent. PGS runs keep SEMANTICS C.2 (a null key registers): this is Cairn's rule only.
  if (cs.capability === REGISTRY_CAPABILITY && cs.op === "REGISTER" && (inputs.get("key") ?? null) === null) {
    return { status: "VIOLATION", fields: new Map(), error: NULL_REGISTRY_KEY };
  }
  // The same for a value whose members would replace the record's own (key, address, …: the
  // runtime merges them last, as C.2 says), checked before the store is touched too.
  if (cs.capability === REGISTRY_CAPABILITY && cs.op === "REGISTER") {
    const reserved = reservedValueMembers(inputs.get("value") ?? null);
    if (reserved.length > 0) return { status: "VIOLATION", fields: new Map(), error: reservedValueMessage(cs.id, reserved) };
  }
  const rt = snap.cs.get(cs.capability) as CsRuntime;
  const payload: PyObject = new Map(inputs);
  if (wf.stores[cs.store]?.kind === "mutable") payload.set(PAYLOAD_STORE_ENTITY, cs.store);
  const metadata = fromPlain({ capability: cs.capability, operations: { operations: { [cs.op]: { handler: cs.method } } } });
  const r = rt.execute({ op: cs.op, payload, config: csConfig(cs.store, wf, effects.dataRoot), metadata, capabilityCode: `${cs.store} (${cs.capability})` }, effects);
  const fields: PyObject = new Map([...r.result].filter(([k]) => k !== "result_status"));
  const out: StepOutcome & { file?: EffectCall["file"] } = { status: r.outcome, fields };
  if (r.outcome === "VIOLATION" || r.outcome === "BACKEND_ERROR") {
    const m = r.result.get("message");
    out.error = typeof m === "string" ? m : `${cs.op} returned ${r.outcome}`;
  }
  const e = r.effect;
  if (e !== undefined) out.file = { id: e.id, path: e.path, action: e.action, created: e.created, digest: e.digest, size: e.size };
  return out;
}

/** One run of a workflow of a prepared snapshot, end to end. */
export function runCairnWorkflow(opts: RunCairnOptions): CairnRunResult {
  return runCairnSync(opts, "check");
}

/**
 * `runCairnWorkflow` of a recorded run's payload, taken as it was recorded (`PayloadTextMode`
 * `as_recorded`): for replay.ts only (not exported from the package).
 */
export function runRecordedCairnWorkflow(opts: RunCairnOptions): CairnRunResult {
  return runCairnSync(opts, "as_recorded");
}

function runCairnSync(opts: RunCairnOptions, payloadText: PayloadTextMode): CairnRunResult {
  checkRunCairnOptions(opts, "runCairnWorkflow", RUN_CAIRN_OPTION_KEYS, payloadText);
  // Lane-bound steps need an execution-plane node: runCairnWorkflowWithPlane (lane-step.ts).
  const lanes = laneBoundSteps(selectWorkflow(opts.snapshot, opts.workflow)[1]);
  if (lanes.length > 0) {
    throw new CairnError(ErrorCode.USAGE, `workflow has lane-bound steps (${lanes.join(", ")}): run it with an execution-plane node (cairn wf run --plane-config, or runCairnWorkflowWithPlane)`, { reason: "plane_required", steps: lanes });
  }
  const run = runCairnCore(opts, payloadText);
  const r = run.next();
  if (r.done !== true) {
    run.return(undefined as never); // closes the trace
    throw new CairnError(ErrorCode.INTERNAL, "internal: a lane-bound step reached the synchronous runtime");
  }
  return r.value;
}

/**
 * The run itself, as a generator: every lane-bound step is yielded to the driver
 * (lane-step.ts, which executes it on the plane node) and the run resumes with its outcome, or
 * with a thrown error (an admission rejection) that aborts the run like any runtime error.
 * Without lane-bound steps it never yields (runCairnWorkflow drives it synchronously).
 */
export function* runCairnCore(opts: RunCairnOptions, payloadText: PayloadTextMode = "check"): Generator<LaneStepCall, CairnRunResult, LaneStepOutcome> {
  checkRunCairnValues(opts, opts.planeSession === undefined ? "runCairnWorkflow" : "runCairnWorkflowWithPlane", payloadText);
  const snap = opts.snapshot;
  const renderer = opts.render === true ? loadedTraceRenderer() : undefined;
  if (opts.render === true && renderer === undefined) {
    throw new CairnError(ErrorCode.USAGE, "runCairnWorkflow({ render: true }) needs `await loadTraceRenderer()` first");
  }
  const [fqdn, wf] = selectWorkflow(snap, opts.workflow);
  checkPayloadDepth(opts.payload);
  const baseDir = resolve(opts.baseDir);
  const dataRoot = normalizeDataRoot(resolve(opts.dataRoot));
  checkDataRootHoldsState(dataRoot); // a file is refused before anything runs, as `cairn serve` refuses it (effects/confine.ts)
  // One holder at a time on a data root (effects/data-root-lock.ts), as in runPgsWorkflow; held
  // across the lane-bound steps' awaits, released when the generator finishes, throws or returns.
  const lock = lockForRun(dataRoot, opts.dataRootLock, opts.dataRootLockWaitMs);
  try {
    return yield* runLocked(opts, renderer, fqdn, wf, baseDir, dataRoot);
  } finally {
    lock?.release();
  }
}

/** `runCairnCore` after its option checks, with the data root's lock held. */
function* runLocked(
  opts: RunCairnOptions, renderer: TraceRenderer | undefined, fqdn: string, wf: SnapshotWorkflow, baseDir: string, dataRoot: string,
): Generator<LaneStepCall, CairnRunResult, LaneStepOutcome> {
  const snap = opts.snapshot;
  const files = storeFiles(wf);
  const before: StateFile[] = captureState(dataRoot, files, opts.store !== undefined); // the bytes only to record them
  // The payload as recorded (compact JSON, key order as given). The trace depends on that order
  // (WF_START payload_keys, step inputs, a user CT's input object), so the id hashes these
  // bytes: two orders of one object are two runs with two ids, never one id with two traces.
  const payloadText = compactPy(opts.payload);
  const payloadBytes = Buffer.from(payloadText, "utf8");
  const ids = { snapshot: snap.digest, workflow: fqdn, payload: sha256(payloadBytes), priorState: stateDigest(before) };
  const traceId = runTraceId(opts.planeSession === undefined ? ids : { ...ids, priorState: sha256(`${ids.priorState}|plane:${opts.planeSession}`) }, wf.namespace, wf.code, opts.payload, payloadText);
  // With a store, the run's start is recorded before its first node (pgs/record-start.ts), as in runPgsWorkflow.
  const store = opts.store;
  const started = store === undefined ? undefined : recordRunStart(store, { workflow: fqdn, traceId, payloadBytes, before }, CAIRN_RECORD_KIND, () => storeSnapshot(store, snap.sealed.content));
  const traceDir = [TRACES_DIR, wf.namespace, wf.code, traceId].join("/");
  const traceDirAbs = join(baseDir, traceDir);
  let freshDir = false;
  try {
    freshDir = makeDir(traceDirAbs); // made now: no earlier trace or summary of this id in it
  } catch (err) {
    throw traceWriteError(`${traceDir}/${traceId}.jsonl`, err);
  }
  // The trace's bytes are kept only to record them in the store (TraceWriter `keepBytes`).
  const trace = new TraceWriter(traceId, wf.namespace, null, join(traceDirAbs, `${traceId}.jsonl`), `${traceDir}/${traceId}.jsonl`, freshDir, opts.store !== undefined);
  const effects = createEffectContext({ dataRoot, traceId, operationDialect: "declared", ...(opts.clock === undefined ? {} : { clock: opts.clock }) });
  const path: PathEntry[] = [];
  const calls: EffectCall[] = [];
  const violations: ViolationRecord[] = [];
  const laneObservations: PyObject[] = [];
  /** Set once the run reached WF_COMPLETE or its ERROR event: only then does the trace replace an earlier one. */
  let finished = false;
  const nodeName = (key: string) => `${fqdn}::${key}`;
  let current: { cc: string; step: string | null } | null = null;
  let status = "SUCCESS";
  let surface: PyObject = new Map();
  let error: CairnRunResult["error"] = null;
  let exit: CairnRunResult["exit"] = null;
  // The content's limit only when it is one the compiler can write (an integer in 1..64).
  const maxHops = Number.isInteger(wf.maxHops) && wf.maxHops >= 1 && wf.maxHops <= CAIRN_MAX_HOPS ? wf.maxHops : CAIRN_MAX_HOPS;

  try {
    try {
      trace.emit("WF_START", { detail: new Map<string, PyValue>([["wf_fqdn", fqdn], ["payload_keys", [...opts.payload.keys()]], ["snapshot", snap.digest], ...(opts.planeSession === undefined ? [] : [["plane_session", opts.planeSession] as [string, PyValue]])]) });
      const frame: Frame = { payload: opts.payload, results: new Map(), steps: new Map() };
      const visits = new Map<string, number>();
      let key: string | undefined = wf.entry;
      let hops = 0;
      while (key !== undefined) {
        const node: SnapshotNode | undefined = wf.nodes[key];
        if (node === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `node ${key} is not in workflow ${fqdn}`, { node: key });
        if (hops >= maxHops) {
          throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `WF '${fqdn}' exceeded ${maxHops} topology hops (hop limit) at node ${key}: the run followed a routing cycle, or a route longer than the hop limit`, { reason: "hop_limit", limit: maxHops, node: key });
        }
        hops++;
        const visit = (visits.get(key) ?? 0) + 1;
        visits.set(key, visit);
        if (node.maxVisits !== null && visit > node.maxVisits) {
          throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `node ${key} of WF '${fqdn}' would run a ${ordinal(visit)} time; its declared bound is max_visits ${node.maxVisits}`, { reason: "visit_bound", limit: node.maxVisits, node: key });
        }
        const cc = nodeName(key);
        current = { cc, step: null };
        frame.steps = new Map();
        trace.emit("CC_START", { ccAddr: node.addr, detail: new Map<string, PyValue>([["cc_fqdn", cc], ["visit", BigInt(visit)]]) });
        const result: PyObject = new Map();
        let nodeStatus = "SUCCESS";
        for (let i = 0; i < node.steps.length; i++) {
          const s = node.steps[i] as SnapshotStep;
          current = { cc, step: s.id };
          const inputs: PyObject = new Map(Object.entries(s.inputs).map(([n, b]) => [n, resolveBinding(b, frame)]));
          const seedKey = `${traceId}|${key}|${visit}|${s.id}`;
          if (s.kind === "cs" || s.lane !== undefined) trace.flush(); // the trace is on disk up to this side effect (§11.7)
          const o: StepOutcome & { file?: EffectCall["file"]; lane?: PyObject } = s.lane === undefined ? runStep(snap, wf, s, inputs, effects, seedKey) : yield { step: s, lane: s.lane, inputs, idempotencyKey: seedKey, cc };
          if (s.kind === "cs") {
            const call: EffectCall = { cc, step: s.id, cs: `${s.store} (${s.capability}${s.lane === undefined ? "" : ` via lane ${s.lane.laneId}`})`, op: s.op, status: o.status };
            if (o.file !== undefined) call.file = o.file;
            calls.push(call);
          }
          frame.steps.set(s.id, o.fields);
          for (const [k, v] of o.fields) result.set(k, v);
          const detail = new Map<string, PyValue>([["step_id", s.id], ["step_fqdn", stepName(s)], ["inputs", inputs], ["result_keys", [...o.fields.keys()]]]);
          // Verbatim (pgs/run.ts `runErrorMessage`): atom, user CT, store and lane texts carry payload and data, never rewritten.
          if (o.error !== undefined) detail.set("error", o.error);
          if (o.lane !== undefined) {
            detail.set("lane", o.lane);
            laneObservations.push(o.lane);
          }
          const stepEvent = { ccAddr: node.addr, stepAddr: i + 1, stepOp: s.kind === "cs" ? s.op : null, resultStatus: o.status, detail };
          // An applied effect whose CC_STEP does not fit the trace limit is named by the run's ERROR event (pgs/trace.ts `emitEffectStep`).
          if (s.kind === "cs" || s.lane !== undefined) trace.emitEffectStep(stepEvent, { cc, step: s.id, op: stepEvent.stepOp, status: o.status });
          else trace.emit("CC_STEP", stepEvent);
          if (s.kind === "cs" || s.lane !== undefined) trace.flush(); // the side effect's own CC_STEP is on disk too (§11.7)
          nodeStatus = o.status;
          if (o.status === "VIOLATION") violations.push({ cc, step: s.id, kind: s.kind === "cs" ? "CS" : "CT", reason: o.error ?? null });
          const action = s.onResult[o.status] ?? (o.status === "SUCCESS" ? "continue" : "exit");
          if (action === "exit") break;
        }
        trace.emit("CC_COMPLETE", { ccAddr: node.addr, resultStatus: nodeStatus, detail: new Map<string, PyValue>([["cc_fqdn", cc], ["output_keys", [...result.keys()]]]) });
        current = null;
        frame.results.set(key, result);
        path.push({ node: cc, addr: node.addr, kind: "cc", status: nodeStatus });
        status = nodeStatus;
        surface = result;
        const route: Route | undefined = node.routes[nodeStatus];
        if (route === undefined) key = undefined;
        else if ("node" in route) key = route.node;
        else {
          exit = { name: route.exit, reason: route.reason };
          key = undefined;
        }
      }
      const done = new Map<string, PyValue>([["wf_fqdn", fqdn]]);
      if (exit !== null) {
        done.set("exit", exit.name);
        done.set("reason", exit.reason);
      }
      trace.emit("WF_COMPLETE", { resultStatus: status, detail: done });
      trace.flush();
      finished = true;
    } catch (err) {
      if (trace.failure !== undefined) throw trace.failure; // not a run error: the trace cannot be written
      // An admission rejection of a lane-bound step carries its observation (lane-step.ts).
      if (isCairnError(err) && err.details.laneObservation instanceof Map) laneObservations.push(err.details.laneObservation as PyObject);
      // The stable code (and `details.reason`, when a string) beside the text: examine classifies by them.
      const detailOf = (e: unknown): PyObject => {
        const d = new Map<string, PyValue>([["message", runErrorMessage(e)], ["code", isCairnError(e) ? e.code : ErrorCode.INTERNAL]]);
        if (isCairnError(e) && typeof e.details.reason === "string") d.set("reason", e.details.reason);
        return d;
      };
      // The error the run ends with: `err`, or the trace limit's when its ERROR event does not fit (pgs/trace.ts `emitRunError`).
      const ended = emitRunError(trace, err, detailOf);
      status = STATUS_ERROR;
      exit = null;
      error = { code: isCairnError(ended) ? ended.code : ErrorCode.INTERNAL, message: runErrorMessage(ended), cc: current?.cc ?? null, step: current?.step ?? null };
      finished = true;
    } finally {
      // Ended by the generator's return() at a lane-bound step: the trace is not complete, so it
      // must not replace an earlier complete one of this trace id.
      if (finished) trace.close();
      else trace.abandon();
    }
  } catch (err) {
    // The run ends by throwing (a failed trace write, E_STORE_IO, pgs/trace.ts): no summary, no
    // store record, and an earlier summary of this trace id is removed (unless the
    // writer was replacing an earlier trace: that trace and its summary stay as they were), as in runPgsWorkflow.
    if (trace.replacing === undefined) discardSummary(join(traceDirAbs, `${traceId}.md`));
    throw err;
  }
  // From here the run has its trace (and its effects are applied): a failure names the trace.
  try {
    const { after, exitCode, digests } = closedRunFacts(dataRoot, files, ids, trace, status, opts.store !== undefined);
    let summary = renderSummary({
      traceId, workflow: fqdn, status, exitCode, error, digests, events: trace.events, chainHead: trace.head,
      path, violations, effects: calls, before, after, surface,
    });
    summary += `\n## Exit\n\n${exit === null ? "No declared exit was reached." : `\`${exit.name}\`: ${exit.reason.replace(/\r?\n/g, " ")}`}\n`;
    writeTraceSummary(traceDirAbs, traceDir, traceId, summary, freshDir);
    const recorded = opts.store === undefined ? null : recordCairnRun(opts.store, {
      sealed: snap.sealed, workflow: fqdn, traceId, status, succeeded: exitCode === 0, payloadBytes,
      before, after, traceBytes: trace.bytes(), calls, events: trace.events, hops: path.length,
      ...(laneObservations.length === 0 ? {} : { laneObservations: Buffer.from(canonicalPy(laneObservations), "utf8") }),
    }, started);
    const pictures = renderer === undefined ? null : writeTracePictures(renderer, traceDirAbs, traceId, cairnTraceDot({
      workflow: wf, wfFqdn: fqdn, traceId, status, exitCode, path, exit, errorNode: error?.cc ?? null,
    }));
    return {
      status, exitCode, workflow: fqdn, domain: wf.namespace, traceId, traceDir, traceDirAbs, path, surface, effects: calls, violations, error,
      events: trace.events, digests, recorded, pictures, exit,
    };
  } catch (err) {
    throw withTraceId(traceId, err);
  }
}
