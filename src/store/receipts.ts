/**
 * Execution receipts (PERs). A receipt records program digest + ordered input digests +
 * canonical parameters → output digests, a status and deterministic resource figures.
 * Its body is canonical JSON, stored as an artifact (media type RECEIPT_MEDIA_TYPE); the
 * receipt digest is that artifact's digest. Wall-clock timing is kept beside the body,
 * outside identity. The action key (program, inputs, params) makes receipts a memoisation
 * cache: recording a second, different outcome for the same action is E_CONFLICT.
 *
 * Every load re-checks the stored body against the row's identity (checkedReceiptBody, the
 * check fsck reports as receipt_invalid): a receipt whose body was edited in the catalog is
 * E_STORE_CORRUPT naming it, never returned.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { canonicalBytes, canonicalDigest, canonicalize } from "../core/canonical.js";
import { digestToBytes, parseDigest, sha256, type Digest } from "../core/digest.js";
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

/**
 * A stored receipt body, checked against its row's identity: canonical JSON that hashes to the
 * receipt digest, whose program, inputs and params give the row's action key. Throws an Error
 * saying what does not hold otherwise (fsck reports it as receipt_invalid, a load as
 * E_STORE_CORRUPT). A body that hashes to its digest is the one `record` wrote and checked.
 */
export function checkedReceiptBody(digest: Digest, key: Digest, text: string): ReceiptBody {
  const body = JSON.parse(text) as ReceiptBody;
  // A body that hashes to its digest is the canonical text `record` wrote: the canonical form
  // is only recomputed, to say which of the two is wrong, when the hash does not match.
  if (sha256(text) !== digest) throw new Error(canonicalize(body) !== text ? "body is not canonical JSON" : "body does not hash to the receipt digest");
  if (actionKey(body.program, body.inputs, body.params) !== key) throw new Error("action key does not match the body");
  return body;
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
  if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.values(value).every((n) => typeof n === "number" && Number.isFinite(n))) {
    throw new Error("timing is not an object of finite numbers");
  }
  return value as Record<string, number>;
}

function checkFigures(field: string, v: Record<string, number> | undefined): Record<string, number> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CairnError(ErrorCode.USAGE, `receipt ${field} must be an object of numbers`, { field });
  for (const [k, n] of Object.entries(v)) {
    if (typeof n !== "number" || !Number.isFinite(n)) throw new CairnError(ErrorCode.USAGE, `receipt ${field}.${k} must be a finite number`, { field: `${field}.${k}` });
  }
  return v;
}

function checkDigests(field: string, v: Digest[]): Digest[] {
  if (!Array.isArray(v) || v.length > MAX_RECEIPT_DIGESTS) throw new CairnError(ErrorCode.USAGE, `receipt ${field} must be an array of at most ${MAX_RECEIPT_DIGESTS} digests`, { field });
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
    if (body.status !== "succeeded" && body.status !== "failed") {
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
