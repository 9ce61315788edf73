/**
 * The store evidence sink: evidence becomes artifacts in Cairn's store, linked by edges so that
 * `cairn lineage` walks from an execution's output back through its evidence to its input.
 *
 * Per evidence record, in one store transaction:
 *   - the record itself (canonical JSON, media type EVIDENCE_MEDIA_TYPE);
 *   - on `admission.accepted` / `admission.rejected`: the redacted request projection carried in
 *     `payload.request` becomes the INPUT artifact (REQUEST_MEDIA_TYPE), with an edge
 *     input → evidence (type `plane.evidence`, role `input`);
 *   - every later record of the same request gets an edge previous-record → record
 *     (role `previous`), so the records form a chain;
 *   - on `execution.completed`: the redacted output projection in `payload.output` becomes the
 *     OUTPUT artifact (OUTPUT_MEDIA_TYPE), with an edge evidence → output (role `output`);
 *   - terminal records (`admission.rejected`, `execution.completed`) and outputs are pinned as
 *     `plane:<digest>` (kind `run`) so gc keeps them and, upstream, the whole chain;
 *   - every other record (`admission.accepted`, `target.selected`, `execution.started`,
 *     `execution.cancelled`) is pinned as `plane:open:<its digest>` (kind `run`), the execution's
 *     OPEN ROOT, and the open root of the record it chains from (`previous`) is removed: an
 *     execution has one open root, on its latest record, from its first record until its
 *     terminal record, whose transaction removes it. gc marks upstream, so the open root keeps
 *     the records before it and the request. An execution that never reaches a terminal record
 *     (the process was killed after dispatch, a sink failed) keeps its open root: its evidence
 *     says how far it got and survives gc, as a workflow's `:started` root or a batch run's
 *     `run:<id>` does. Named by the digest it pins (as `plane:<digest>`), never by the execution
 *     ref: an id source may repeat refs (`sequentialIds` of two processes, a pinned test node),
 *     and an open root is only ever removed by a record that chains (upstream) from it.
 * Only redacted projections reach the store: raw payloads and outputs never do.
 *
 * The in-memory chain head (`last`) is updated only AFTER the transaction commits; a record
 * whose transaction throws (abort) drops its chain head, a terminal record drops it too, and at
 * most MAX_OPEN_CHAINS heads are kept (the oldest is dropped first), so executions that never
 * reach a terminal record (a sink failed mid-way) cannot grow it without bound. A dropped head's
 * open root stays in the store (the next record of that execution, if any, starts a chain and an
 * open root of its own): evidence is kept rather than lost.
 *
 * `open()` opens the store (when given as a function) without recording anything: the node
 * calls it on every sink before any sink receives a record, so a store that cannot be opened
 * (E_STORE_LOCKED) fails the call before the JSONL file or any other sink has the record.
 *
 * `recorded` keeps what the sink stored for the last MAX_RECORDED_EVIDENCE records only (a
 * long-lived node records for ever); `droppedRecords` counts the older ones it let go. Callers
 * read it right after an execution (`cairn plane exec`, a workflow's lane step) to learn the
 * digests of that execution's records; the store keeps every record regardless.
 */
import { canonicalBytes } from "../../core/canonical.js";
import type { Digest } from "../../core/digest.js";
import type { Store } from "../../store/store.js";
import type { Evidence } from "../contracts/execution.js";
import type { EvidenceSink } from "./sinks.js";

export const EVIDENCE_MEDIA_TYPE = "application/vnd.cairn.plane.evidence+json";
export const REQUEST_MEDIA_TYPE = "application/vnd.cairn.plane.request+json";
export const OUTPUT_MEDIA_TYPE = "application/vnd.cairn.plane.output+json";
export const EVIDENCE_EDGE_TYPE = "plane.evidence";
export const PLANE_ROOT_PREFIX = "plane:";
/** Prefix of an execution's open root: `plane:open:<digest of its latest record>` (module comment). */
export const PLANE_OPEN_ROOT_PREFIX = `${PLANE_ROOT_PREFIX}open:`;
/** Most chain heads kept for executions without a terminal record yet. */
export const MAX_OPEN_CHAINS = 4096;
/** Most entries `StoreEvidenceSink.recorded` keeps (the latest; an execution writes 1 to 5 records). */
export const MAX_RECORDED_EVIDENCE = 1024;

/** What the sink recorded for one evidence record. */
export interface StoredEvidence {
  readonly evidence_id: string;
  readonly evidence: Digest;
  readonly input: Digest | null;
  readonly output: Digest | null;
}

function payloadField(e: Evidence, key: string): unknown {
  const p = e.payload;
  return p !== null && typeof p === "object" && !Array.isArray(p) ? (p as Record<string, unknown>)[key] : undefined;
}

/** Removes the open root of record `head` if it is there and still pins it. */
function closeOpenRoot(store: Store, head: Digest): void {
  const name = `${PLANE_OPEN_ROOT_PREFIX}${head}`;
  if (store.findRoot(name)?.digest === head) store.unpin(name);
}

export class StoreEvidenceSink implements EvidenceSink {
  readonly sink_id: string;
  /** execution ref (else request id) → the last evidence digest recorded for it (dropped at a terminal record). */
  private readonly last = new Map<string, Digest>();
  /**
   * What was recorded through this sink, in order: the last MAX_RECORDED_EVIDENCE records (the
   * oldest is dropped first; `droppedRecords` counts those dropped).
   */
  readonly recorded: StoredEvidence[] = [];
  private dropped = 0;

  private opened: Store | null = null;

  /** `store` may be a function: the store is then opened by `open()` or the first record (never, if neither comes). */
  constructor(
    private readonly source: Store | (() => Store),
    sinkId = "store",
  ) {
    this.sink_id = sinkId;
  }

  private get s(): Store {
    if (this.opened === null) this.opened = typeof this.source === "function" ? this.source() : this.source;
    return this.opened;
  }

  /** Opens the store if it was given as a function (`EvidenceSink.open`); records nothing. */
  open(): void {
    void this.s;
  }

  /** The store this sink records into, opened now if it was given as a function. */
  openedStore(): Store {
    return this.s;
  }

  /** Chain heads currently kept (executions whose terminal record has not been seen). */
  get openChains(): number {
    return this.last.size;
  }

  /** Records recorded through this sink but no longer in `recorded` (dropped, oldest first, past MAX_RECORDED_EVIDENCE). */
  get droppedRecords(): number {
    return this.dropped;
  }

  emit(e: Evidence): void {
    const store = this.s;
    // Chains are per execution (two executions of one request id never interleave); a
    // rejection has no execution ref and is a chain of one.
    const key = e.execution_ref ?? e.request_id;
    const terminal = e.evidence_type === "execution.completed" || e.evidence_type === "admission.rejected";
    let rec: StoredEvidence;
    try {
      rec = this.record(store, e, key, terminal);
    } catch (err) {
      if (key !== null) this.last.delete(key); // abort: the chain cannot continue from an uncommitted record
      throw err;
    }
    // committed: only now move the chain head
    if (key !== null) {
      this.last.delete(key);
      if (!terminal) {
        this.last.set(key, rec.evidence);
        if (this.last.size > MAX_OPEN_CHAINS) this.last.delete(this.last.keys().next().value as string);
      }
    }
    this.recorded.push(rec);
    if (this.recorded.length > MAX_RECORDED_EVIDENCE) {
      this.recorded.shift();
      this.dropped++;
    }
  }

  private record(store: Store, e: Evidence, key: string | null, terminal: boolean): StoredEvidence {
    return store.transaction(() => {
      const ev = store.putBytes(canonicalBytes(e), { mediaType: EVIDENCE_MEDIA_TYPE }).digest;
      let input: Digest | null = null;
      let output: Digest | null = null;
      const prev = key === null ? undefined : this.last.get(key);
      const chained = e.evidence_type !== "admission.accepted" && e.evidence_type !== "admission.rejected";
      if (!chained) {
        const req = payloadField(e, "request");
        if (req !== undefined) {
          input = store.putBytes(canonicalBytes(req), { mediaType: REQUEST_MEDIA_TYPE }).digest;
          store.addEdge({ from: [input], to: [ev], type: EVIDENCE_EDGE_TYPE, role: "input" });
        }
      } else if (prev !== undefined) {
        store.addEdge({ from: [prev], to: [ev], type: EVIDENCE_EDGE_TYPE, role: "previous" });
      }
      if (e.evidence_type === "execution.completed") {
        const out = payloadField(e, "output");
        if (out !== undefined) {
          output = store.putBytes(canonicalBytes(out), { mediaType: OUTPUT_MEDIA_TYPE }).digest;
          store.addEdge({ from: [ev], to: [output], type: EVIDENCE_EDGE_TYPE, role: "output" });
          store.pin(`${PLANE_ROOT_PREFIX}${output}`, output, "run");
        }
      }
      store.pin(`${terminal ? PLANE_ROOT_PREFIX : PLANE_OPEN_ROOT_PREFIX}${ev}`, ev, "run");
      // The open root moves on only along a `previous` edge (an admission record starts a chain:
      // a head it replaces is another execution's, whose open root stays).
      if (chained && prev !== undefined && prev !== ev) closeOpenRoot(store, prev);
      return { evidence_id: e.evidence_id, evidence: ev, input, output };
    });
  }
}
