/**
 * Execution receipts (PERs). A receipt records program digest + ordered input digests +
 * canonical parameters → output digests, a status and deterministic resource figures.
 * Its body is canonical JSON, stored as an artifact (media type RECEIPT_MEDIA_TYPE); the
 * receipt digest is that artifact's digest. Wall-clock timing is kept beside the body,
 * outside identity. The action key (program, inputs, params) makes receipts a memoisation
 * cache: recording a second, different outcome for the same action is E_CONFLICT.
 *
 * Every load re-checks the stored body against the row's identity and the shape `record` writes
 * (checkedReceiptBody, the check fsck reports as receipt_invalid): a receipt whose body was
 * edited in the catalog, or forged not shaped as a receipt, is E_STORE_CORRUPT naming it, never
 * returned.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { canonicalBytes, canonicalDigest, canonicalize } from "../core/canonical.js";
import { digestToBytes, isDigest, parseDigest, sha256, type Digest } from "../core/digest.js";
import { echoed, echoedJson } from "../core/echo.js";
import { storedDigest, type Catalog } from "./catalog.js";
import { checkAsOf } from "./artifact-rows.js";
import type { Artifacts } from "./artifacts.js";
import { MAX_EDGE_NODES, recordRemoval, type Edges, type EdgeInput } from "./edges.js";

export const RECEIPT_MEDIA_TYPE = "application/vnd.cairn.receipt+json";
export const RECEIPT_KIND = "cairn.receipt";
export const RECEIPT_VERSION = 1;
/** Most input or output digests one receipt may list. */
export const MAX_RECEIPT_DIGESTS = 100_000;

export type ReceiptStatus = "succeeded" | "failed";

/** JSON-compatible parameters (canonicalised for identity). */
export type Params = null | boolean | number | string | Params[] | { [k: string]: Params };

export interface ReceiptInput {
  program: Digest;
  inputs: Digest[];
  /**
   * Omitted (`undefined`) means `{}`. Any JSON value is kept as given, `null` included: `null`
   * is recorded as `null` and is its own action key, distinct from `{}` (receipts already
   * recorded with `null` must keep their digest and action key).
   */
  params?: Params;
  outputs: Digest[];
  status: ReceiptStatus;
  /** Deterministic figures only (counts, bytes); they are part of identity. */
  resources?: Record<string, number>;
  /** Wall-clock facts (ms since epoch, durations); stored but never part of identity. */
  timing?: Record<string, number>;
}

export interface Receipt {
  digest: Digest;
  actionKey: Digest;
  logseq: number;
  program: Digest;
  inputs: Digest[];
  params: Params;
  outputs: Digest[];
  status: ReceiptStatus;
  resources: Record<string, number>;
  timing?: Record<string, number>;
}

export interface ReceiptBody {
  kind: string;
  version: number;
  program: Digest;
  inputs: Digest[];
  params: Params;
  outputs: Digest[];
  status: ReceiptStatus;
  resources: Record<string, number>;
}

/** The action key of (program, inputs, params); omitted params are `{}`, `null` is not normalised. */
export function actionKey(program: Digest, inputs: Digest[], params: Params = {}): Digest {
  return canonicalDigest({ kind: "cairn.action", version: 1, program, inputs, params });
}

/** The fields of a receipt body: exactly those `record` writes. */
const RECEIPT_BODY_FIELDS: ReadonlySet<string> = new Set(["kind", "version", "program", "inputs", "params", "outputs", "status", "resources"]);

/** A JSON object: not null, not an array. */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A resource figure or timing value: a finite number. */
function isFigure(n: unknown): n is number {
  return typeof n === "number" && Number.isFinite(n);
}

/** An array that can list a receipt's inputs or outputs: at most MAX_RECEIPT_DIGESTS (its elements, digests, are checked apart). */
function isDigestList(v: unknown): v is unknown[] {
  return Array.isArray(v) && v.length <= MAX_RECEIPT_DIGESTS;
}

function isReceiptStatus(v: unknown): v is ReceiptStatus {
  return v === "succeeded" || v === "failed";
}

/** A value of a body for a message: JSON, cut when long; a number as itself (1e400 parses to Infinity, which JSON shows as null). */
function shown(v: unknown): string {
  return typeof v === "number" ? String(v) : echoedJson(v);
}

/** That body field `field`, of value `v`, is missing or is not `what`. */
function fieldProblem(field: string, v: unknown, what: string): string {
  return v === undefined ? `body has no ${field}` : `body ${field} is ${shown(v)}, not ${what}`;
}

/** Why `list`, a body's `field`, is not an array of at most MAX_RECEIPT_DIGESTS digests, or undefined. */
function digestListProblem(field: string, list: unknown): string | undefined {
  if (!isDigestList(list)) return Array.isArray(list) ? `body ${field} lists ${list.length} digests, more than ${MAX_RECEIPT_DIGESTS}` : fieldProblem(field, list, "an array of digests");
  for (let i = 0; i < list.length; i++) if (!isDigest(list[i])) return `body ${field}[${i}] is ${shown(list[i])}, not a digest`;
  return undefined;
}

/**
 * Why a parsed receipt body is not shaped as `record` writes one, or undefined when it is: an
 * object of exactly kind RECEIPT_KIND, version RECEIPT_VERSION, program a digest, inputs and
 * outputs arrays of at most MAX_RECEIPT_DIGESTS digests, params any JSON value (null too),
 * status "succeeded" or "failed", resources an object of finite numbers. The same predicates
 * as `record`'s argument checks; typeof checks and one digest match per digest, no copy.
 */
function receiptBodyProblem(b: unknown): string | undefined {
  if (!isObject(b)) return `body is ${shown(b)}, not a JSON object`;
  if (b.kind !== RECEIPT_KIND) return fieldProblem("kind", b.kind, JSON.stringify(RECEIPT_KIND));
  if (b.version !== RECEIPT_VERSION) return fieldProblem("version", b.version, String(RECEIPT_VERSION));
  if (!isDigest(b.program)) return fieldProblem("program", b.program, "a digest");
  const lists = digestListProblem("inputs", b.inputs) ?? digestListProblem("outputs", b.outputs);
  if (lists !== undefined) return lists;
  if (b.params === undefined) return "body has no params";
  if (!isReceiptStatus(b.status)) return fieldProblem("status", b.status, '"succeeded" or "failed"');
  const resources = b.resources;
  if (!isObject(resources)) return fieldProblem("resources", resources, "an object of finite numbers");
  for (const k in resources) if (!isFigure(resources[k])) return `body resources.${echoed(k)} is ${shown(resources[k])}, not a finite number`;
  // Every field `record` writes is present (checked above): no other may be.
  for (const k in b) if (!RECEIPT_BODY_FIELDS.has(k)) return `body has the field ${echoedJson(k)}, which a receipt does not`;
  return undefined;
}

/**
 * A stored receipt body, checked against its row's identity and shape: canonical JSON that
 * hashes to the receipt digest, shaped as `record` writes a body (`receiptBodyProblem`: a
 * catalog row forged self-consistently, its digest the hash of whatever body, is not returned
 * for readers to crash on), whose program, inputs and params give the row's action key. Throws
 * an Error saying what does not hold otherwise (fsck reports it as receipt_invalid, a load as
 * E_STORE_CORRUPT).
 */
export function checkedReceiptBody(digest: Digest, key: Digest, text: string): ReceiptBody {
  const body: unknown = JSON.parse(text);
  // A body that hashes to its digest is the canonical text it was stored as: the canonical form
  // is only recomputed, to say which of the two is wrong, when the hash does not match.
  if (sha256(text) !== digest) throw new Error(canonicalize(body) !== text ? "body is not canonical JSON" : "body does not hash to the receipt digest");
  // Before the action key, which reads program, inputs and params (and may throw a TypeError).
  const problem = receiptBodyProblem(body);
  if (problem !== undefined) throw new Error(problem);
  const b = body as ReceiptBody;
  if (actionKey(b.program, b.inputs, b.params) !== key) throw new Error("action key does not match the body");
  return b;
}

/**
 * A receipt row's `timing` column: null, or the canonical JSON text of an object of finite
 * numbers that `record` wrote. Throws an Error saying what does not hold otherwise (fsck
 * reports it as receipt_invalid, a load as E_STORE_CORRUPT). Not identity, but a load returns it.
 */
export function checkedTiming(text: unknown): Record<string, number> | undefined {
  if (text === null) return undefined;
  if (typeof text !== "string") throw new Error("timing is not text");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`timing is not JSON (${(err as Error).message})`);
  }
  if (!isObject(value) || !Object.values(value).every(isFigure)) {
    throw new Error("timing is not an object of finite numbers");
  }
  return value as Record<string, number>;
}

function checkFigures(field: string, v: Record<string, number> | undefined): Record<string, number> {
  if (v === undefined) return {};
  if (!isObject(v)) throw new CairnError(ErrorCode.USAGE, `receipt ${field} must be an object of numbers`, { field });
  for (const [k, n] of Object.entries(v)) {
    if (!isFigure(n)) throw new CairnError(ErrorCode.USAGE, `receipt ${field}.${k} must be a finite number`, { field: `${field}.${k}` });
  }
  return v;
}

function checkDigests(field: string, v: Digest[]): Digest[] {
  if (!isDigestList(v)) throw new CairnError(ErrorCode.USAGE, `receipt ${field} must be an array of at most ${MAX_RECEIPT_DIGESTS} digests`, { field });
  v.forEach((d, i) => parseDigest(d, `receipt ${field}[${i}]`));
  return [...v];
}

export class Receipts {
  constructor(
    private readonly cat: Catalog,
    private readonly artifacts: Artifacts,
    private readonly edges: Edges,
  ) {}

  /** Records a receipt (idempotent for an identical one) and its execution edges. */
  record(input: ReceiptInput): Receipt & { created: boolean } {
    const body: ReceiptBody = {
      kind: RECEIPT_KIND,
      version: RECEIPT_VERSION,
      program: parseDigest(input.program, "receipt program"),
      inputs: checkDigests("inputs", input.inputs),
      params: input.params === undefined ? {} : input.params,
      outputs: checkDigests("outputs", input.outputs),
      status: input.status,
      resources: checkFigures("resources", input.resources),
    };
    if (!isReceiptStatus(body.status)) {
      throw new CairnError(ErrorCode.USAGE, `receipt status must be "succeeded" or "failed", got ${JSON.stringify(input.status)}`, { field: "status" });
    }
    const timing = input.timing === undefined ? undefined : checkFigures("timing", input.timing);
    const bytes = canonicalBytes(body);
    const key = actionKey(body.program, body.inputs, body.params);
    return this.cat.tx(() => {
      const prior = this.find(body.program, body.inputs, body.params);
      for (const [field, list] of [["program", [body.program]], ["inputs", body.inputs], ["outputs", body.outputs]] as const) {
        for (const d of list) {
          if (!this.artifacts.known(d)) {
            throw new CairnError(ErrorCode.DANGLING_REFERENCE, `receipt ${field} ${d} is not an artifact in this store`, { digest: d, field });
          }
        }
      }
      const art = this.artifacts.putBytes(bytes, { mediaType: RECEIPT_MEDIA_TYPE });
      if (prior !== undefined) {
        if (prior.digest === art.digest) return { ...prior, created: false };
        throw new CairnError(
          ErrorCode.CONFLICT,
          `action ${key} already has receipt ${prior.digest} with different outcome; the new one would be ${art.digest} (is the program nondeterministic?)`,
          { actionKey: key, existing: prior.digest, attempted: art.digest },
        );
      }
      const logseq = this.cat.allocLogseq();
      this.cat
        .stmt("INSERT INTO receipts(logseq, digest, action_key, body, timing) VALUES (?, ?, ?, ?, ?)")
        .run(logseq, digestToBytes(art.digest), digestToBytes(key), bytes.toString("utf8"), timing === undefined ? null : canonicalize(timing));
      // In this transaction's savepoint: an edge that fails rolls back the whole receipt.
      for (const e of receiptEdges(art.digest, body)) this.edges.addInCallerTx(e);
      const r: Receipt = { ...body, digest: art.digest, actionKey: key, logseq };
      if (timing !== undefined) r.timing = timing;
      return { ...r, created: true };
    });
  }

  /**
   * Memoisation lookup: the receipt for (program, inputs, params), if any. A malformed digest is
   * E_DIGEST_INVALID (as for every other read), inputs that are not an array E_USAGE: not
   * "no receipt", which a caller would take for a missing memo.
   */
  find(program: Digest, inputs: Digest[], params: Params = {}, asOf?: number): Receipt | undefined {
    checkAsOf(asOf);
    parseDigest(program, "receipt program");
    if (!Array.isArray(inputs)) throw new CairnError(ErrorCode.USAGE, "receipt inputs must be an array of digests", { field: "inputs" });
    inputs.forEach((d, i) => parseDigest(d, `receipt inputs[${i}]`));
    const key = actionKey(program, inputs, params);
    return this.load("action_key", digestToBytes(key), asOf);
  }

  get(digest: Digest, asOf?: number): Receipt {
    const r = this.load("digest", digestToBytes(parseDigest(digest, "receipt digest")), asOf);
    if (r === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `receipt ${digest} not found`, { digest });
    return r;
  }

  private load(col: "digest" | "action_key", key: Buffer, asOf: number | undefined): Receipt | undefined {
    const row = this.cat.stmt(`SELECT logseq, digest, action_key, body, timing FROM receipts WHERE ${col} = ?`).get(key) as
      | { logseq: number; digest: unknown; action_key: unknown; body: string; timing: unknown }
      | undefined;
    if (row === undefined || (asOf !== undefined && row.logseq > asOf)) return undefined;
    const digest = storedDigest(row.digest, `the receipt row at logseq ${row.logseq}`);
    const action = storedDigest(row.action_key, `the action key of receipt ${digest}`);
    let body: ReceiptBody;
    let timing: Record<string, number> | undefined;
    try {
      body = checkedReceiptBody(digest, action, row.body);
      timing = checkedTiming(row.timing);
    } catch (err) {
      throw new CairnError(ErrorCode.STORE_CORRUPT, `receipt ${digest} is corrupt: ${(err as Error).message}`, { digest }, { cause: err });
    }
    const r: Receipt = {
      digest,
      actionKey: action,
      logseq: row.logseq,
      program: body.program,
      inputs: body.inputs,
      params: body.params,
      outputs: body.outputs,
      status: body.status,
      resources: body.resources,
    };
    if (timing !== undefined) r.timing = timing;
    return r;
  }

  /**
   * Explicitly prunes a receipt and the execution edges it created. The row is read without the
   * body check and the edges are found by the receipt's node (program/input edges into it, output
   * edges out of it), not recomputed from the body: a receipt `load` refuses as corrupt
   * (`receipt_invalid` in fsck) can be pruned too.
   */
  prune(digest: Digest): { digest: Digest; logseq: number } {
    return this.cat.tx(() => {
      const d = parseDigest(digest, "receipt digest");
      const row = this.cat.stmt("SELECT logseq FROM receipts WHERE digest = ?").get(digestToBytes(d)) as { logseq: number } | undefined;
      if (row === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `receipt ${digest} not found`, { digest });
      const own = [
        ...this.edges.edgesTouching(d, 1).filter((e) => e.type === "execution" && (e.role === "program" || e.role === "input")),
        ...this.edges.edgesTouching(d, 0).filter((e) => e.type === "execution" && e.role === "output"),
      ];
      for (const e of own) this.edges.removeEdgeLogseq(e.logseq);
      this.cat.stmt("DELETE FROM receipts WHERE logseq = ?").run(row.logseq);
      return { digest: d, logseq: recordRemoval(this.cat, row.logseq, "receipt") };
    });
  }
}

/**
 * The trace-graph edges a receipt implies: program → receipt, inputs → receipt, receipt →
 * outputs. Inputs and outputs are split into edges of at most MAX_EDGE_NODES nodes each (a
 * receipt may list up to MAX_RECEIPT_DIGESTS; an edge side at most MAX_EDGE_NODES); a receipt
 * within that bound has exactly one edge per role, as before the split.
 */
export function receiptEdges(receipt: Digest, body: { program: Digest; inputs: Digest[]; outputs: Digest[] }): EdgeInput[] {
  const edges: EdgeInput[] = [{ from: [body.program], to: [receipt], type: "execution", role: "program" }];
  for (let i = 0; i < body.inputs.length; i += MAX_EDGE_NODES) edges.push({ from: body.inputs.slice(i, i + MAX_EDGE_NODES), to: [receipt], type: "execution", role: "input" });
  for (let i = 0; i < body.outputs.length; i += MAX_EDGE_NODES) edges.push({ from: [receipt], to: body.outputs.slice(i, i + MAX_EDGE_NODES), type: "execution", role: "output" });
  return edges;
}
