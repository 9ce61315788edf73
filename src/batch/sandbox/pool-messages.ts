/** The pool's side of the worker messages: request encoding, reply checks, and the bytes results hold. */
import { canonicalize } from "../../core/canonical.js";
import { SandboxCode, type EUResult, type EUTask, type EuId, type FromWorker, type RunRequest, type UncaughtMessage } from "./protocol.js";
import { unpackResults } from "./wire.js";

/**
 * The codes only the pool gives an EU: it saw the EU not settle in time, or its worker die. They
 * are machine facts (verify does not compare a record that holds one), so a worker's results
 * never carry them — the worker gives a thrown value E_EU_THREW whatever its `code` — and a
 * chunk that does (a module posting its own messages on `parentPort`) is not taken.
 */
const POOL_ONLY_CODES: ReadonlySet<string> = new Set<string>([SandboxCode.EU_TIMEOUT, SandboxCode.WORKER_CRASHED]);

/** `unpackResults` of a worker's chunk, or undefined (a malformed chunk) when a failure in it carries a pool-only code. */
export function workerResults(wire: unknown, ids: readonly EuId[], from: number): EUResult[] | undefined {
  const rs = unpackResults(wire, ids, from);
  if (rs === undefined) return undefined;
  for (const r of rs) {
    if (!r.ok && (typeof r.error !== "object" || r.error === null || POOL_ONLY_CODES.has(r.error.code))) return undefined;
  }
  return rs;
}

/**
 * Bytes a chunk of results holds on the main thread (UTF-16 code units of its strings, which
 * is their size for the usual one-byte strings): each record text (a JSON output without one,
 * from an object-form chunk, counts twice its output, for the text its commit makes), each
 * failure's message besides its text, each bytes output plus its base64 record text.
 * `failuresOnly`: the failures' part alone.
 */
export function resultsHeldBytes(results: readonly EUResult[], failuresOnly = false): number {
  const held = heldBytes(results);
  return failuresOnly ? held.failures : held.all;
}

/** `resultsHeldBytes` of a chunk, all of it and its failures' part, in one pass (once per chunk, on the main thread). */
export function heldBytes(results: readonly EUResult[]): { all: number; failures: number } {
  let all = 0;
  let failures = 0;
  for (const r of results) {
    if (!r.ok) failures += (r.text?.length ?? r.error.message.length) + r.error.message.length;
    else if (r.bytes) all += r.output.byteLength + 4 * Math.ceil(r.output.byteLength / 3);
    else all += r.text?.length ?? 2 * r.json.length;
  }
  return { all: all + failures, failures };
}

/**
 * The request's inputs: one JSON array text when every EU has its canonical text, else the
 * values (an EU that has only its text is parsed here: never sent as `undefined`).
 */
export function requestInputs(eus: readonly EUTask[]): RunRequest["inputs"] {
  const texts = new Array<string>(eus.length);
  for (let i = 0; i < eus.length; i++) {
    const t = (eus[i] as EUTask).inputJson;
    if (t === undefined) return eus.map((e) => (e.inputJson !== undefined ? JSON.parse(e.inputJson) : e.input));
    texts[i] = t;
  }
  return { json: `[${texts.join(",")}]` };
}

/** Ids as a Float64Array when all are numbers (copied as one block), else as they are. */

export function packIds(ids: EuId[]): EuId[] | Float64Array {
  for (const id of ids) if (typeof id !== "number") return ids;
  return Float64Array.from(ids as number[]);
}

export function canonicalId(id: EuId): string {
  try {
    return canonicalize(id);
  } catch {
    return String(id);
  }
}

export function isUncaught(m: FromWorker): m is UncaughtMessage {
  const u = m as Partial<UncaughtMessage> | null;
  return typeof u === "object" && u !== null && u.type === "uncaught" && typeof u.eu === "number" && Number.isSafeInteger(u.eu) && typeof u.error === "string";
}
