/**
 * `examine`: reads a Cairn trace (`<trace_id>.jsonl` as `cairn wf run` writes it — trace v0
 * events + `seq` + hash chain), verifies its chain, classifies the run's outcome, locates the
 * failing node and its declaration, and says what to look at.
 *
 * - chain.ts: the chain verdict (the runtime's `verifyTraceChainText` + the summary's head
 *   anchor) and the diagnosis of a break (changed / missing / reordered line, bad seq…);
 * - model.ts: the run as the events record it (CC visits, steps, ERROR, WF_COMPLETE);
 * - workspace.ts: declarations from the workspace the trace sits in (compiled snapshot,
 *   workflow and CC declarations), behind the `Declarations` interface;
 * - cairn.ts: declarations from the sealed Cairn snapshot a `wf run --snapshot` trace names
 *   (`--snapshot FILE|digest`, else the store), behind the same interface;
 * - classify.ts: the outcome classes and their mapping from the writer's events (table there),
 *   with error-rules.ts (the ERROR-message table), classify-error.ts (aborted runs),
 *   bindings.ts, declared.ts, cairn-hint.ts, outcome.ts and helpers.ts.
 *
 * The sibling `<trace_id>.md` summary anchors the trace's last line (its chain head) only when it
 * is complete (it ends as a summary of that runtime ends) and its heading names this trace
 * (chain.ts `summaryProblem`). Otherwise it is reported (`summary`, the hint) with what it is —
 * torn (a run killed while writing it, a cut copy), edited (CRLF line ends, white space or text
 * added after its end: changed, not cut), or another trace's (copied or swapped in) — never
 * used, and the examination fails.
 *
 * Exit rule: 0 when the chain verifies — or the trace is an unchained reference v0 trace
 * (chain.ts: no `seq`/`prev` on any line; reported as such, its integrity NOT verified) — the
 * summary, if there is one, is complete, and the outcome is `success` or `business_violation`;
 * 1 otherwise.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";
import { sha256, type Digest } from "../../core/digest.js";
import type { Store } from "../../store/store.js";
import type { ArtifactReader } from "../../store/artifact-reader.js";
import { ARTIFACT_LOSS_TEXT, artifactLoss, type ArtifactLoss } from "../../store/artifact-loss.js";
import { recordedTraceRef } from "../cairn/replay.js";
import { TRACE_ID_RE } from "../pgs/trace-id.js";
import { checkChain, readSummaryFacts, summaryProblem, UNCHAINED_TEXT, type ChainBreak, type ChainStatus, type SummaryDiagnosis, type SummaryProblem } from "./chain.js";
import { classify } from "./classify.js";
import { withOp } from "./helpers.js";
import { PASSING_CLASSES, type Classification, type Failure, type OutcomeClass, type PathEntry, type Terminal } from "./outcome.js";
import { CairnSnapshotDeclarations, findCairnSnapshot, isCairnTrace, traceSnapshotDigest, type CairnSnapshotSource } from "./cairn.js";
import { parseTrace } from "./model.js";
import { summaryEffectRows, summaryStepIds } from "./summary-steps.js";
import { findWorkspace, isWorkspace, PgsWorkspaceDeclarations, type Declarations } from "./workspace.js";

export { checkChain, readSummaryFacts, summaryIncomplete, summaryProblem, UNCHAINED_TEXT, type ChainBreak, type ChainBreakKind, type ChainStatus, type ChainVerdict, type SummaryDiagnosis, type SummaryFacts, type SummaryProblem } from "./chain.js";
export { classify } from "./classify.js";
export { classifyErrorMessage } from "./error-rules.js";
export { bindingProblems } from "./bindings.js";
export { OUTCOME_CLASSES, PASSING_CLASSES, type UntracedEffectView, type OutcomeClass, type Classification, type Failure, type DeclarationView, type BindingProblem, type StepRef, type PathEntry, type Terminal } from "./outcome.js";
export { parseTrace, type TraceModel, type CcVisit, type TraceEvent } from "./model.js";
export { findWorkspace, PgsWorkspaceDeclarations, type Declarations, type WorkflowDeclaration, type DeclaredNode, type CcContract, type CompiledRoute, type TopologyEntry } from "./workspace.js";
export { CairnSnapshotDeclarations, findCairnSnapshot, isCairnTrace, type CairnNodeView, type CairnStepView, type CairnSnapshotSource, type FoundSnapshot } from "./cairn.js";

/** Largest trace file examine reads (a run writes at most `MAX_TRACE_BYTES`, pgs/trace.ts: a quarter of it). */
export const MAX_EXAMINE_TRACE_BYTES = 256 * 1024 * 1024;

export interface ExamineOptions extends CairnSnapshotSource {
  /** Workspace root; default: found by walking up from the trace. */
  workspace?: string;
}

export interface ExamineReport {
  /**
   * `ok`: the chain verifies. `status`: `verified`, `broken` (`brokenAt` says where), or
   * `unchained` — a reference v0 trace without `seq`/`prev`, whose integrity was NOT verified
   * (`ok` false; the exit code then follows the outcome alone).
   */
  chain: { ok: boolean; status: ChainStatus; events: number; brokenAt?: ChainBreak; head: Digest | null; anchor: ChainAnchor };
  outcome: { class: OutcomeClass; status: string | null };
  failure?: Failure;
  hint: string;
  /** The trace file, as given (or found in the given directory). */
  trace: string;
  traceId: string | null;
  workflow: string | null;
  domain: string | null;
  path: PathEntry[];
  terminal?: Terminal;
  workspace?: { root: string; snapshot: { recorded: Digest | null; current: Digest | null; matches: boolean | null } };
  /**
   * With a store (`--store` / $CAIRN_STORE): the trace artifact it recorded for this trace id
   * (`root` cairn-wf:<id> or pgs:<id>, `recorded` its digest; both null when the store holds no
   * recorded run of that id), the file's own digest, and whether they are the same bytes
   * (`matches`; null when nothing is recorded). When the recorded trace's bytes are deleted from
   * the store (`deleted` says how, tombstoned or collected by gc) only the digests are compared.
   * A mismatch breaks the chain (`chain.brokenAt` names the first differing line, or is
   * `not_the_recorded_trace` at line 1 when the recorded bytes are deleted); a match anchors it
   * (`chain.anchor` "store").
   */
  store?: { root: string | null; recorded: Digest | null; file: Digest; matches: boolean | null; deleted?: ArtifactLoss };
  /** A Cairn run: the sealed snapshot the declarations were read from (`source`: the file, or `store artifact <digest>`). */
  snapshot?: { source: string; recorded: Digest | null; current: Digest; matches: boolean | null };
  /**
   * The sibling `<trace_id>.md` of a chained trace, when there is one: `complete` false (with the
   * `problem`) for a torn or truncated summary, which then anchors nothing (`chain.anchor`
   * "none", unless the store anchors the trace: "store") and makes the exit code 1; `diagnosis` "edited" (CRLF line ends, white space or text
   * added after its end: changed, not cut; `complete` false) or "foreign" (its heading names another
   * trace; `complete` true), absent for a torn one (chain.ts `summaryProblem`).
   */
  summary?: { file: string; complete: boolean; problem?: string; diagnosis?: "edited" | "foreign" };
  /**
   * Events after the run's end (its first `WF_COMPLETE` or `ERROR`, `end`), which a runtime never
   * writes (model.ts `afterEnd`): a structural problem — the outcome is read up to the end, the
   * exit code is 1.
   */
  afterEnd?: { end: { line: number; type: string }; first: { line: number; type: string }; events: number };
  notes: string[];
  exitCode: 0 | 1;
}

/**
 * What vouches for a verified chain's last line: `store` (the file is byte for byte the trace
 * the store recorded for the run — the strongest anchor), `summary` (the chain head recorded in
 * a complete `<trace_id>.md`), or `none` (nothing: the chain links every line to the one before,
 * but the last line could be changed, with its chain, undetected).
 */
export type ChainAnchor = "store" | "summary" | "none";

/** The largest piece of the recorded trace read at a time when it differs from the file (bounded memory whatever its size). */
export const STORE_COMPARE_PIECE_BYTES = 1024 * 1024;

/** The kind of a first difference between the file and the recorded trace. */
export type DifferenceKind = "changed_line" | "extra_line" | "missing_line";

/**
 * Where the file's `bytes` and the recorded trace (read by `reader` in bounded pieces) first
 * differ: the 1-based line and what happened there — `extra_line` (a line the recorded trace does
 * not have: it ends there), `missing_line` (the file ends before the recorded trace does), else
 * `changed_line`. The file is in memory already (examine parses it); the recorded trace is never
 * held whole. Undefined when they are the same bytes.
 */
export function firstDifferingLine(bytes: Buffer, reader: ArtifactReader): { line: number; kind: DifferenceKind } | undefined {
  let pos = 0;
  // The first differing offset, with the byte each side has there (undefined: that side ends there).
  let at: { d: number; file: number | undefined; recorded: number | undefined } | undefined;
  for (let piece = reader.read(STORE_COMPARE_PIECE_BYTES); piece !== undefined && at === undefined; piece = reader.read(STORE_COMPARE_PIECE_BYTES)) {
    const n = Math.min(piece.length, bytes.length - pos);
    if (!piece.subarray(0, n).equals(bytes.subarray(pos, pos + n))) {
      let i = 0;
      while (piece[i] === bytes[pos + i]) i++;
      at = { d: pos + i, file: bytes[pos + i], recorded: piece[i] };
    } else if (n < piece.length) at = { d: pos + n, file: undefined, recorded: piece[n] };
    pos += n;
  }
  if (at === undefined) {
    if (pos === bytes.length) return undefined;
    at = { d: pos, file: bytes[pos], recorded: undefined };
  }
  const { d } = at;
  let line = 1;
  for (let i = bytes.indexOf(NEWLINE); i !== -1 && i < d; i = bytes.indexOf(NEWLINE, i + 1)) line++;
  const lineStart = d === 0 ? 0 : bytes.lastIndexOf(NEWLINE, d - 1) + 1;
  // One side ends at a line's start, or where the other's line ends: a whole line only one side has.
  if (at.recorded === undefined) return { line, kind: d === lineStart || at.file === NEWLINE ? "extra_line" : "changed_line" };
  if (at.file === undefined) return { line, kind: d === lineStart || at.recorded === NEWLINE ? "missing_line" : "changed_line" };
  return { line, kind: "changed_line" };
}

const NEWLINE = 0x0a;

/**
 * The trace the store recorded for run `traceId` (a `kind` trace: only its runtime's root is
 * looked up) compared with the file's `bytes` (the report's `store`), with the break a mismatch
 * is; undefined (and a note) when the store cannot be opened or the trace names no trace id to
 * look up. A recorded trace deleted from the store (tombstoned, or collected by gc) anchors
 * nothing and is not compared (a note says so); any other failure to read it (a corrupt artifact:
 * E_STORE_CORRUPT, an I/O error) is thrown. The digests are compared first: the recorded trace
 * is read only when they differ, in bounded pieces, to name the first differing line.
 */
function storeComparison(openStore: () => Store | undefined, traceId: string | null, kind: "cairn" | "pgs", bytes: Buffer, notes: string[]): { view: NonNullable<ExamineReport["store"]>; brokenAt?: ChainBreak } | undefined {
  if (traceId === null || !TRACE_ID_RE.test(traceId)) {
    notes.push(`the trace id ${JSON.stringify(traceId)} is not one Cairn records runs by: the trace was not compared with the store`);
    return undefined;
  }
  let store: Store | undefined;
  try {
    try {
      store = openStore();
    } catch (err) {
      notes.push(`the store could not be opened, so the trace was not compared with the one it recorded (${(err as Error).message})`);
      return undefined;
    }
    if (store === undefined) return undefined;
    const file = sha256(bytes);
    const ref = recordedTraceRef(store, traceId, kind);
    if (ref === undefined) {
      const root = `${kind === "cairn" ? "cairn-wf" : "pgs"}:${traceId}`;
      notes.push(`the store holds no recorded run of trace ${traceId} (no root ${root} with its receipt): the trace was not compared with a recorded one`);
      return { view: { root: null, recorded: null, file, matches: null } };
    }
    const view = { root: ref.root, recorded: ref.digest, file, matches: ref.digest === file };
    const loss = artifactLoss(store, ref.digest);
    if (loss !== undefined) {
      // The bytes are gone, the recorded digest is not: it still anchors the file, or breaks it
      // (without the bytes the first differing line cannot be named).
      notes.push(`the trace the store recorded for run ${traceId} (root ${ref.root} → ${ref.digest}) ${ARTIFACT_LOSS_TEXT[loss]}: the file was compared with its recorded digest only`);
      if (view.matches) return { view: { ...view, deleted: loss } };
      const reason = `the file (${file}) is not the trace the store recorded for run ${traceId} (root ${ref.root} → ${ref.digest}, which ${ARTIFACT_LOSS_TEXT[loss]}, so the first differing line cannot be named)`;
      return { view: { ...view, deleted: loss }, brokenAt: { line: 1, kind: "not_the_recorded_trace", reason, detected: { line: 1, reason } } };
    }
    if (view.matches) return { view };
    const reader = store.openReader(ref.digest);
    let at: { line: number; kind: DifferenceKind } | undefined;
    try {
      at = firstDifferingLine(bytes, reader);
    } finally {
      reader.close();
    }
    if (at === undefined) throw new CairnError(ErrorCode.INTERNAL, `internal: the file ${file} and the recorded trace ${ref.digest} of run ${traceId} hold the same bytes under two digests`, { traceId, digest: ref.digest });
    const reason = `the file (${file}) is not the trace the store recorded for run ${traceId} (root ${ref.root} → ${ref.digest}): they first differ at line ${at.line}${at.kind === "extra_line" ? " (a line the recorded trace does not have)" : at.kind === "missing_line" ? " (the file ends before the recorded trace does)" : ""}`;
    return { view, brokenAt: { line: at.line, kind: at.kind, reason, detected: { line: at.line, reason } } };
  } finally {
    store?.close();
  }
}

/** The trace file named by `arg`: the file itself, or `<dir>/<basename(dir)>.jsonl` / the only `.jsonl` of a directory. */
export function resolveTraceFile(arg: string): string {
  let st;
  try {
    st = statSync(arg);
  } catch {
    throw new CairnError(ErrorCode.NOT_FOUND, `trace not found: ${arg}`, { path: arg });
  }
  if (!st.isDirectory()) {
    if (!st.isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `trace ${arg} is not a regular file`, { path: arg });
    if (st.size > MAX_EXAMINE_TRACE_BYTES) throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `trace ${arg} is ${st.size} bytes, more than the ${MAX_EXAMINE_TRACE_BYTES}-byte limit`, { path: arg });
    return arg;
  }
  const named = join(arg, `${basename(arg)}.jsonl`);
  if (existsSync(named)) return resolveTraceFile(named);
  const jsonl = readdirSync(arg).filter((f) => f.endsWith(".jsonl"));
  if (jsonl.length === 1) return resolveTraceFile(join(arg, jsonl[0] as string));
  throw new CairnError(ErrorCode.NOT_FOUND, `no trace in directory ${arg}: expected ${basename(arg)}.jsonl${jsonl.length > 1 ? ` (found ${jsonl.length} .jsonl files; name one)` : ""}`, { path: arg });
}

/** The sibling `<trace_id>.md` of a trace file and its text, when it can be read. */
function summaryOf(traceFile: string): { file: string; text: string } | undefined {
  if (!traceFile.endsWith(".jsonl")) return undefined;
  const md = `${traceFile.slice(0, -".jsonl".length)}.md`;
  try {
    return { file: md, text: readFileSync(md, "utf8") };
  } catch {
    return undefined;
  }
}

/** How the hint and notes name a summary's problem (`the summary <file> …`). */
const SUMMARY_IS: Readonly<Record<SummaryDiagnosis, string>> = {
  torn: "is incomplete",
  edited: "was changed after the run wrote it",
  foreign: "is another trace's",
};

/** What a summary's problem means for the run, in the hint. */
const SUMMARY_MEANS: Readonly<Record<SummaryDiagnosis, string>> = {
  torn: "the run was killed while writing it — after its trace was closed, before it was recorded in a store or reported — or the file was cut",
  edited: "the run was not cut short writing it, but a file changed since it was written vouches for nothing",
  foreign: "its chain head and event count are that run's, so it says nothing about this trace (the trace's own summary was replaced, or this trace was copied beside another's)",
};

/** `SUMMARY_MEANS` when the store anchors the trace: the run ended and recorded it, so a torn summary was cut since. */
const SUMMARY_MEANS_RECORDED: Readonly<Record<SummaryDiagnosis, string>> = {
  ...SUMMARY_MEANS,
  torn: "the run ended and was recorded in the store, which it does after writing the summary whole, so the file was cut (or replaced by a cut copy) since",
};

/** The report's `summary` member: `complete` says whether it ends as the runtime ends a summary. */
function summaryView(file: string, problem: SummaryProblem | undefined): NonNullable<ExamineReport["summary"]> {
  if (problem === undefined) return { file, complete: true };
  // `diagnosis` is given for an edited or foreign summary only: a torn one keeps the shape it had.
  return { file, complete: problem.diagnosis === "foreign" && problem.complete === true, problem: problem.text, ...(problem.diagnosis === "torn" ? {} : { diagnosis: problem.diagnosis }) };
}

/** The keys of `ExamineOptions`: any other key is E_USAGE naming the one it probably meant. */
const EXAMINE_OPTION_KEYS: readonly string[] = ["workspace", "snapshot", "openStore"];

/** The note of a verified chain nothing anchors (`chain.anchor` "none"). */
export const UNANCHORED_NOTE =
  "nothing anchors the trace's last line (no complete summary beside it, no trace of it recorded and readable in a store): the chain shows each line follows the one before, not that the last one is the run's: a changed last line (or any line changed with the chain recomputed after it) would not be detected";

/** Examines one trace file (or trace directory). */
export function examineTrace(arg: string, opts: ExamineOptions = {}): ExamineReport {
  if (typeof arg !== "string" || arg === "") throw new CairnError(ErrorCode.USAGE, `examineTrace: the trace must be a non-empty path, got ${describeArgument(arg)}`, { field: "trace" });
  if (!isOptionsObject(opts as unknown)) throw new CairnError(ErrorCode.USAGE, `examineTrace: options must be an object, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, EXAMINE_OPTION_KEYS, "examineTrace option", "examineTrace options");
  const file = resolveTraceFile(arg);
  const bytes = readFileSync(file);
  const text = bytes.toString("utf8");
  const model = parseTrace(text, file);
  const md = summaryOf(file);
  // A torn, edited or foreign summary is not evidence of anything: reported, never used as an anchor.
  const problem = md === undefined ? undefined : summaryProblem(md.text, isCairnTrace(model) ? "cairn" : "pgs", model.traceId, basename(file, ".jsonl"));
  const summary = md === undefined || problem !== undefined ? undefined : readSummaryFacts(md.text);
  const verdict = checkChain(text, summary);
  // An unchained reference v0 trace's summary (if any) is not one Cairn writes: not judged.
  const mdProblem: SummaryProblem | undefined = verdict.status === "unchained" ? undefined : problem;
  const notes: string[] = [];
  // The store's record of the run, when there is a store: the strongest anchor, and a trace that
  // is not byte for byte the recorded one is broken there (a forged chain verifies on its own).
  const stored = opts.openStore === undefined ? undefined : storeComparison(opts.openStore, model.traceId, isCairnTrace(model) ? "cairn" : "pgs", bytes, notes);
  let chain: { ok: boolean; status: ChainStatus; events: number; head: Digest | null; anchor: ChainAnchor; brokenAt?: ChainBreak } = verdict;
  if (stored?.brokenAt !== undefined) {
    if (verdict.status === "broken") notes.push(`also, ${stored.brokenAt.reason}`);
    else chain = { ok: false, status: "broken", events: verdict.events, head: null, anchor: "store", brokenAt: stored.brokenAt };
  } else if (stored?.view.matches === true) {
    chain = { ...verdict, anchor: "store" };
  }

  let decl: Declarations | undefined;
  let workspace: ExamineReport["workspace"];
  let snapshot: ExamineReport["snapshot"];
  if (isCairnTrace(model)) {
    if (opts.workspace !== undefined) notes.push("--workspace is ignored: this is a trace of a sealed Cairn snapshot (its declarations come from --snapshot or the store)");
    const found = findCairnSnapshot(model, opts, notes);
    if (found !== undefined) {
      const wf = model.workflow ?? "";
      const d = new CairnSnapshotDeclarations(found.sealed, found.display, wf);
      const recorded = traceSnapshotDigest(model);
      const matches = recorded === null ? null : recorded === found.sealed.digest;
      snapshot = { source: found.display, recorded, current: found.sealed.digest, matches };
      if (!d.hasWorkflow()) notes.push(`the snapshot ${found.display} (${found.sealed.digest}) holds no workflow ${wf}: no declaration shown`);
      else {
        decl = d;
        if (matches === false) notes.push(`the snapshot ${found.display} (${found.sealed.digest}) is not the one this run used (${recorded ?? "?"}, recorded in WF_START): the declarations shown are that snapshot's`);
      }
    }
  } else if (opts.snapshot !== undefined) {
    notes.push("--snapshot is ignored: this is not a trace of a sealed Cairn snapshot");
  }
  if (decl === undefined && !isCairnTrace(model) && model.domain !== null) {
    let root: string | undefined;
    if (opts.workspace !== undefined) {
      if (!isWorkspace(opts.workspace, model.domain)) throw new CairnError(ErrorCode.NOT_FOUND, `--workspace ${opts.workspace} has no tokenized_snapshot/${model.domain}/`, { path: opts.workspace });
      root = opts.workspace;
    } else root = findWorkspace(file, model.domain);
    if (root !== undefined) {
      const w = new PgsWorkspaceDeclarations(root, model.domain);
      decl = w;
      const current = w.snapshotDigest() ?? null;
      const recorded = summary?.snapshot ?? null;
      const matches = current === null || recorded === null ? null : current === recorded;
      workspace = { root: w.display, snapshot: { recorded, current, matches } };
      if (matches === false) notes.push(`the workspace snapshot (${current}) is not the one this run used (${recorded}, recorded in the summary): the declarations shown are the workspace's current ones`);
    }
  }

  if (model.schema !== null && model.schema !== "v0") notes.push(`trace_schema_version is ${JSON.stringify(model.schema)}: read with the v0 event rules`);
  // The summary's step ids name steps the declarations are not at hand for (summary-steps.ts):
  // read from a summary of this trace that is whole, or edited only (its content intact).
  if (md !== undefined && (problem === undefined || problem.diagnosis === "edited")) {
    const ids = summaryStepIds(model, summaryEffectRows(md.text));
    for (const v of model.visits) {
      const named = ids.get(v.index);
      if (named !== undefined) v.summaryStepIds = named;
    }
  }
  const c: Classification = classify(model, decl);
  notes.push(...c.notes);
  let hint = c.hint;
  const summaryName = md === undefined ? "" : basename(md.file);
  if (!chain.ok && chain.brokenAt !== undefined) {
    hint = `the hash chain is broken at line ${chain.brokenAt.line} (${chain.brokenAt.kind}): ${chain.brokenAt.reason}. The trace is not trustworthy evidence; as far as it can be read: ${c.hint}`;
    if (mdProblem !== undefined) notes.push(`the summary ${summaryName} ${SUMMARY_IS[mdProblem.diagnosis]} (${mdProblem.text})`);
  } else if (mdProblem !== undefined && chain.anchor === "store") {
    // The store anchors the trace: the summary's problem is the summary's, not the trace's.
    hint = `the summary ${summaryName} ${SUMMARY_IS[mdProblem.diagnosis]} (${mdProblem.text}): ${SUMMARY_MEANS_RECORDED[mdProblem.diagnosis]}; the trace itself is anchored by the store (byte for byte the trace it recorded for the run). The run: ${c.hint}`;
  } else if (mdProblem !== undefined) {
    hint = `the summary ${summaryName} ${SUMMARY_IS[mdProblem.diagnosis]} (${mdProblem.text}): ${SUMMARY_MEANS[mdProblem.diagnosis]}; nothing anchors the trace's last line. As far as the trace goes: ${c.hint}`;
  } else if (chain.ok && chain.anchor === "none") {
    notes.push(UNANCHORED_NOTE);
  } else if (chain.status === "unchained") {
    notes.push("the trace has no hash chain (no line carries seq/prev: a reference v0 trace): its integrity was NOT verified, and the outcome is read from its events as they are");
  }
  const endEv = model.error ?? model.complete;
  const after = model.afterEnd[0];
  const afterEnd: ExamineReport["afterEnd"] = after === undefined || endEv === null ? undefined : { end: { line: endEv.line, type: endEv.type }, first: { line: after.line, type: after.type }, events: model.afterEnd.length };
  if (afterEnd !== undefined && chain.status === "broken") {
    notes.push(`the trace also continues after the run's end: ${afterEnd.events} event(s) after its ${afterEnd.end.type} at line ${afterEnd.end.line} (a run writes nothing after it)`);
  } else if (afterEnd !== undefined) {
    hint =
      `the trace continues after the run's end: ${afterEnd.events} event${afterEnd.events === 1 ? "" : "s"} follow${afterEnd.events === 1 ? "s" : ""} its ${afterEnd.end.type} at line ${afterEnd.end.line} (the first: ${afterEnd.first.type} at line ${afterEnd.first.line}). ` +
      `A run writes nothing after its WF_COMPLETE or ERROR, so this is not a trace a run wrote as it is (lines appended, or traces joined): it is not trustworthy evidence. Up to line ${afterEnd.end.line}: ${hint}`;
  }
  const report: ExamineReport = {
    chain: { ok: chain.ok, status: chain.status, events: chain.events, ...(chain.brokenAt === undefined ? {} : { brokenAt: chain.brokenAt }), head: chain.head, anchor: chain.anchor },
    outcome: { class: c.class, status: c.status },
    ...(c.failure === undefined ? {} : { failure: c.failure }),
    hint,
    trace: file,
    traceId: model.traceId,
    workflow: model.workflow,
    domain: model.domain,
    path: c.path,
    ...(c.terminal === undefined ? {} : { terminal: c.terminal }),
    ...(workspace === undefined ? {} : { workspace }),
    ...(stored === undefined ? {} : { store: stored.view }),
    ...(snapshot === undefined ? {} : { snapshot }),
    ...(md === undefined || chain.status === "unchained" ? {} : { summary: summaryView(md.file, mdProblem) }),
    ...(afterEnd === undefined ? {} : { afterEnd }),
    notes,
    exitCode: chain.status !== "broken" && mdProblem === undefined && afterEnd === undefined && PASSING_CLASSES.has(c.class) ? 0 : 1,
  };
  return report;
}

/** The human output's `summary:` label per diagnosis. */
const SUMMARY_LABEL: Readonly<Record<SummaryDiagnosis, string>> = { torn: "INCOMPLETE", edited: "EDITED", foreign: "ANOTHER TRACE'S" };

/** Longest path the human output prints in full. */
const PATH_SHOWN = 12;

function compact(v: unknown, max = 240): string {
  const s = JSON.stringify(v) ?? "null";
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function code(fqdn: string): string {
  const i = fqdn.lastIndexOf("::");
  return i < 0 ? fqdn : fqdn.slice(i + 2);
}

/** Human rendering of a report (one `key: value` block; continuation lines indented). */
export function renderReport(r: ExamineReport): string[] {
  const out: string[] = [];
  const kv = (k: string, v: string) => out.push(`${`${k}:`.padEnd(13)}${v}`);
  const more = (v: string) => out.push(`${" ".repeat(13)}${v}`);
  kv("trace", r.trace);
  if (r.workflow !== null) kv("workflow", `${r.workflow}${r.traceId === null ? "" : ` (trace ${r.traceId})`}`);
  const unused: SummaryDiagnosis | undefined = r.summary === undefined || (r.summary.complete && r.summary.problem === undefined) ? undefined : r.summary.diagnosis ?? "torn";
  if (r.chain.ok) {
    const anchor =
      r.chain.anchor === "store"
        ? `, matches the trace the store recorded (${r.store?.root ?? "?"})`
        : r.chain.anchor === "summary"
          ? ", matches the summary"
          : unused !== undefined
            ? ` (the summary ${SUMMARY_IS[unused]}: nothing anchors the last line)`
            : " (no summary or store record to anchor the last line)";
    kv("chain", `${r.chain.anchor === "none" ? "ok, last line unanchored" : "ok"}: ${r.chain.events} events, head ${r.chain.head ?? "none"}${anchor}`);
  }
  else if (r.chain.status === "unchained") kv("chain", `${UNCHAINED_TEXT}: ${r.chain.events} events, integrity NOT verified`);
  else if (r.chain.brokenAt !== undefined) kv("chain", `BROKEN at line ${r.chain.brokenAt.line} (${r.chain.brokenAt.kind}): ${r.chain.brokenAt.reason}`);
  if (r.store !== undefined) {
    const st = r.store;
    kv(
      "store",
      st.recorded === null
        ? "no recorded run of this trace"
        : st.deleted !== undefined
          ? `${st.root ?? "?"} → ${st.recorded}: bytes DELETED (${st.deleted}); ${st.matches === true ? "this file has the recorded digest" : `NOT this file's digest ${st.file}`}`
          : st.matches === true
            ? `${st.root ?? "?"} → ${st.recorded}: the same bytes`
            : `DIFFERENT: ${st.root ?? "?"} → ${st.recorded}, this file ${st.file}`,
    );
  }
  if (unused !== undefined) kv("summary", `${SUMMARY_LABEL[unused]}: ${r.summary?.file ?? "?"}: ${r.summary?.problem ?? "?"}`);
  if (r.afterEnd !== undefined) kv("structure", `EVENTS AFTER THE END: ${r.afterEnd.events} after the ${r.afterEnd.end.type} at line ${r.afterEnd.end.line} (first: ${r.afterEnd.first.type} at line ${r.afterEnd.first.line}); read up to line ${r.afterEnd.end.line}`);
  kv("status", r.outcome.status ?? "(none: no WF_COMPLETE)");
  kv("outcome", r.outcome.class);
  // A node without CC_COMPLETE is the one the run was aborted in only when it is the last: one
  // the trace goes on past (a changed trace) is shown as what it is.
  const steps = r.path.map((p, i) => `${code(p.node)}=${p.status ?? (i === r.path.length - 1 ? "(aborted)" : "(no CC_COMPLETE)")}`);
  if (r.terminal?.exit !== undefined) steps.push(`${r.terminal.exit}${r.terminal.reason ? ` (${r.terminal.reason})` : ""}`);
  // A looping run can visit dozens of CCs: keep the head and the tail.
  const shown = steps.length > PATH_SHOWN ? [...steps.slice(0, PATH_SHOWN / 2), `… ${steps.length - PATH_SHOWN} more …`, ...steps.slice(-PATH_SHOWN / 2)] : steps;
  kv("path", shown.length === 0 ? "(no CC ran)" : shown.join(" → "));
  const f = r.failure;
  if (f !== undefined) {
    kv("node", `${f.node}${f.address === null ? "" : ` (addr ${f.address})`}, line ${f.event.line} (${f.event.type})`);
    if (f.step !== undefined) {
      const what = f.step.fqdn === null ? (f.step.op === null ? "" : ` ${f.step.op}`) : ` ${withOp(f.step.fqdn, f.step.op)}`;
      more(`step ${f.step.id ?? f.step.index}: ${f.step.kind ?? "?"}${what}${f.step.address === null ? "" : ` (addr ${f.step.address})`}`);
    }
    kv("message", f.message);
    if (f.untracedEffect !== undefined) kv("effect", `step ${f.untracedEffect.step}${f.untracedEffect.op === null ? "" : ` (${f.untracedEffect.op})`} of ${f.untracedEffect.cc} WAS applied (${f.untracedEffect.status}); its CC_STEP is not in the trace (recorded in the ERROR event)`);
    if (f.binding !== undefined) kv("binding", `${f.binding.level === "step" ? `step ${f.binding.step ?? "?"} input` : "input"} ${f.binding.input} ← ${f.binding.path}: ${f.binding.problem}`);
    const d = f.declaration;
    if (d?.cairn !== undefined) {
      const c = d.cairn;
      kv("declaration", `${c.file} (${c.fileDigest.slice(0, 19)}…), node ${c.node} of ${c.workflow} in sealed snapshot ${c.snapshot.source}`);
      more(`node ${c.node} (addr ${c.address}${c.entry ? ", entry" : ""}${c.maxVisits === null ? "" : `, max_visits ${c.maxVisits}`}): steps ${c.steps.join(" → ")}`);
      if (c.step !== undefined) {
        more(`step ${c.step.id} (${c.step.index + 1} of ${c.steps.length}): ${c.step.declared} = ${c.step.capability}`);
        more(`  inputs ${compact(c.step.inputs)}`);
      }
      more(`routes: ${Object.entries(c.routes).map(([o, x]) => `${o} → ${x}`).join(", ")}`);
    } else if (d !== undefined) {
      kv("declaration", `${d.file} (${d.source === "capability_contract" ? "capability contract" : "topology entry"})`);
      if (d.inputs !== undefined) more(`inputs: ${compact(d.inputs)}`);
      if (d.step !== undefined) more(`step: ${compact(d.step)}`);
      if (d.topology !== undefined) more(`node ${d.topology.address} (${d.topology.kind}): ${d.topology.edges.map((e) => `${e.kind.replace(/^edge_kind::/, "")} → ${e.to}`).join(", ") || "no edges"}`);
      if (d.workflow !== undefined) more(`workflow node ${d.workflow.node} (${d.workflow.file}): next ${compact(d.workflow.next)}`);
      if (d.compiled !== undefined) {
        more(`compiled (${d.compiled.file}): routes ${compact(d.compiled.routes)}`);
        if (d.compiled.binding !== undefined) more(`  binding ${compact(d.compiled.binding)}`);
        if (d.compiled.step !== undefined) more(`  step ${compact(d.compiled.step)}`);
      }
    }
  }
  if (r.snapshot !== undefined) kv("snapshot", `${r.snapshot.source}${r.snapshot.source.includes(r.snapshot.current) ? "" : ` (${r.snapshot.current})`}, verified${r.snapshot.matches === false ? ` — NOT the run's ${r.snapshot.recorded ?? "?"}` : ""}`);
  if (r.workspace !== undefined) kv("workspace", `${r.workspace.root}${r.workspace.snapshot.matches === false ? " (snapshot changed since the run)" : ""}`);
  kv("hint", r.hint);
  for (const n of r.notes) kv("note", n);
  return out;
}
