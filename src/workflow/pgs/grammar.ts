/**
 * The three path grammars of PGS v0.3 (SEMANTICS A.6, A.7 step 3.2 and 3.4). None of them
 * ever throws: a miss is null, an unrecognised string is a literal.
 */
import { pyIntFromString } from "../py/numbers.js";
import { dottedGet, type PyObject, type PyValue } from "./value.js";

const PAYLOAD = "$.payload.";
const INPUTS = "$.inputs.";
const RESULTS = "$.results.";
const CAPABILITY_RESULT = "$.capability_result.";
const ROOT = "$.";

/** Splits `<head>.<path>` at the first dot; undefined when there is no dot. */
function splitFirst(rest: string): [string, string] | undefined {
  const dot = rest.indexOf(".");
  return dot < 0 ? undefined : [rest.slice(0, dot), rest.slice(dot + 1)];
}

function mapValue(v: PyValue, f: (s: string) => PyValue): PyValue {
  if (typeof v === "string") return f(v);
  if (Array.isArray(v)) return v.map((x) => mapValue(x, f));
  if (v instanceof Map) {
    const o: PyObject = new Map();
    for (const [k, x] of v) o.set(k, mapValue(x, f));
    return o;
  }
  return v;
}

/** WF-level bindings (A.6): `$.payload.`/`$.inputs.` into the payload, `$.results.<cc addr>.` into CC surfaces. */
export function resolveBinding(v: PyValue, payload: PyValue, results: ReadonlyMap<number, PyValue>): PyValue {
  return mapValue(v, (s) => {
    if (s.startsWith(PAYLOAD)) return dottedGet(payload, s.slice(PAYLOAD.length));
    if (s.startsWith(INPUTS)) return dottedGet(payload, s.slice(INPUTS.length));
    if (s.startsWith(RESULTS)) {
      const parts = splitFirst(s.slice(RESULTS.length));
      if (parts === undefined) return null;
      const addr = pyIntFromString(parts[0]);
      const surface = addr === undefined ? undefined : results.get(addr);
      return surface === undefined ? null : dottedGet(surface, parts[1]);
    }
    return s;
  });
}

function fromRecords(rest: string, records: ReadonlyMap<string, PyValue>): PyValue {
  const parts = splitFirst(rest);
  if (parts === undefined) return null;
  const rec = records.get(parts[0]);
  return rec === undefined ? null : dottedGet(rec, parts[1]);
}

/** Step inputs (A.7 3.2): `$.inputs.` into the CC inputs, `$.results.<step_id>.` into earlier step records. */
export function resolveStepInputs(v: PyValue, ccInputs: PyValue, records: ReadonlyMap<string, PyValue>): PyValue {
  return mapValue(v, (s) => {
    if (s.startsWith(INPUTS)) return dottedGet(ccInputs, s.slice(INPUTS.length));
    if (s.startsWith(RESULTS)) return fromRecords(s.slice(RESULTS.length), records);
    return s;
  });
}

/** One output mapping value (A.7 3.4): into the step's raw result or earlier step records. */
export function resolveOutput(v: PyValue, raw: PyValue, records: ReadonlyMap<string, PyValue>): PyValue {
  if (typeof v !== "string") return v;
  if (v.startsWith(CAPABILITY_RESULT)) return dottedGet(raw, v.slice(CAPABILITY_RESULT.length));
  if (v.startsWith(RESULTS)) return fromRecords(v.slice(RESULTS.length), records);
  if (v.startsWith(ROOT)) return dottedGet(raw, v.slice(ROOT.length));
  return v;
}
