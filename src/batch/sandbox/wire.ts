/**
 * The results of a pulse request between worker and pool (`PackedResults` in protocol.ts):
 * the worker packs each chunk's record texts into one string unless a bytes output needs the
 * object form; the pool unpacks them into EUResult objects that carry their record text.
 */
import { canonicalText } from "../canonical-text.js";
import { indexIdEnd, isIndexLikeId, recordText } from "../records.js";
import type { EUError, EUResult, EuId, WireResults } from "./protocol.js";

const OUTPUT_KEY = ',"output":';

/**
 * Worker side: collects one chunk of results with their record texts. It keeps each record
 * text, not the result: a JSON output's text embeds its output, so keeping both would hold
 * every output twice in the worker's heap (the object form rebuilds the JSON outputs as
 * slices of their texts). `bytes` is the chunk's size in UTF-16 code units of record text,
 * which the worker bounds by PARTIAL_RESULTS_BYTES (protocol.ts).
 */
export class ResultPacker {
  private ids: EuId[] = [];
  private texts: string[] = [];
  private errors: Array<{ at: number; error: EUError }> = [];
  /** The chunk's bytes outputs (rare), by position: any makes the chunk travel as objects. */
  private outputs: Array<{ at: number; result: EUResult }> = [];
  /** Code units of record text held. */
  bytes = 0;

  add(result: EUResult, text: string): void {
    if (!result.ok) this.errors.push({ at: this.texts.length, error: result.error });
    else if (result.bytes) this.outputs.push({ at: this.texts.length, result });
    this.ids.push(result.id);
    this.texts.push(text);
    this.bytes += text.length;
  }

  get length(): number {
    return this.texts.length;
  }

  /** The chunk for the wire; the packer starts a new one. */
  take(): WireResults {
    const out: WireResults = this.outputs.length > 0 ? this.objects() : { texts: this.texts.join("\n"), errors: this.errors };
    this.ids = [];
    this.texts = [];
    this.errors = [];
    this.outputs = [];
    this.bytes = 0;
    return out;
  }

  /** The chunk as result objects (it holds a bytes output). */
  private objects(): EUResult[] {
    const out = new Array<EUResult>(this.texts.length);
    for (const { at, error } of this.errors) out[at] = { id: this.ids[at] as EuId, ok: false, error };
    for (const { at, result } of this.outputs) out[at] = result;
    for (let k = 0; k < out.length; k++) {
      if (out[k] !== undefined) continue;
      const id = this.ids[k] as EuId;
      const text = this.texts[k] as string;
      out[k] = { id, ok: true, bytes: false, json: text.slice(`{"id":${canonicalText(id)}${OUTPUT_KEY}`.length, -1) };
    }
    return out;
  }
}

const ERROR_PREFIX = '{"error":';

/**
 * Pool side: the results of EUs `from…` of a request whose ids are `ids`, or undefined when
 * the chunk is malformed (the caller treats that as a broken reply). Each result must be the
 * EU's at its position: a packed record text must start `{"id":<id>,"output":` and end `}`
 * (what lies between is not parsed: it is stored and hashed as sent, like any output the
 * worker computes), a failure's text must be exactly the record its error makes, and an
 * object-form result must carry its EU's id. So a chunk cannot shift results between EUs.
 */
export function unpackResults(wire: unknown, ids: readonly EuId[], from: number): EUResult[] | undefined {
  if (Array.isArray(wire)) return unpackObjects(wire as EUResult[], ids, from);
  if (wire === null || typeof wire !== "object") return undefined;
  const { texts, errors } = wire as { texts?: unknown; errors?: unknown };
  if (typeof texts !== "string" || !Array.isArray(errors)) return undefined;
  const lines = texts.length === 0 ? [] : texts.split("\n");
  if (from + lines.length > ids.length) return undefined;
  const out = new Array<EUResult>(lines.length);
  let e = 0;
  for (let k = 0; k < lines.length; k++) {
    const id = ids[from + k] as EuId;
    const text = lines[k] as string;
    const err = errors[e] as { at?: unknown; error?: EUError } | undefined;
    if (err !== undefined && err.at === k) {
      // Failures are rare: their record must be exactly the one their error makes.
      const failure: EUResult = { id, ok: false, error: err.error as EUError };
      if (!text.startsWith(ERROR_PREFIX) || typeof err.error !== "object" || err.error === null || recordText(failure) !== text) return undefined;
      out[k] = { ...failure, text };
      e++;
      continue;
    }
    // `{"id":<id>,"output":` (an index-like id checked by character codes, without building the prefix).
    let at: number;
    if (isIndexLikeId(id)) {
      const end = indexIdEnd(text, id);
      at = end >= 0 && text.startsWith(OUTPUT_KEY, end) ? end + OUTPUT_KEY.length : -1;
    } else {
      const prefix = `{"id":${canonicalText(id)}${OUTPUT_KEY}`;
      at = text.startsWith(prefix) ? prefix.length : -1;
    }
    if (at < 0 || !text.endsWith("}")) return undefined;
    out[k] = { id, ok: true, bytes: false, json: text.slice(at, -1), text };
  }
  return e === errors.length ? out : undefined;
}

/** A chunk in object form (it holds a bytes output): each result must be its EU's; no text is carried. */
function unpackObjects(results: EUResult[], ids: readonly EuId[], from: number): EUResult[] | undefined {
  if (from + results.length > ids.length) return undefined;
  const out = new Array<EUResult>(results.length);
  for (let k = 0; k < results.length; k++) {
    const r = results[k] as EUResult;
    if (r === null || typeof r !== "object" || r.id !== ids[from + k]) return undefined;
    if ("text" in r) {
      const { text: _dropped, ...rest } = r; // a record text is only ever taken from a packed chunk
      out[k] = rest as EUResult;
    } else out[k] = r;
  }
  return out;
}
