/**
 * JSON text ⇄ the Python value model, for the runtime: the runtime's names for the shared
 * serialisers (src/workflow/py/json.ts, SEMANTICS 0.1), which the atoms and the CS runtimes use too.
 *
 *   canonicalPy — sorted keys, `,`/`:`, ASCII-escaped (trace-id suffix, payload artifact, hashes)
 *   compactPy   — insertion order, `,`/`:`, ASCII-escaped (trace lines)
 *   spacedPy    — insertion order, `, `/`: `, ASCII-escaped (JSON-lines stores)
 *   prettyPy    — indent 2, raw UTF-8, lone surrogates as \uXXXX (CLI output, summaries)
 *
 * `parsePyJson(text, what)` is lossless (ints stay `bigint`, floats `number`, source key order)
 * and names `what` (a file) in its errors. `NaN`/`Infinity` are refused (fail closed).
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { canonicalJson, compactJson, parsePyJson as parseShared, prettyJson, spacedJson } from "../py/json.js";
import { pyFloatRepr } from "../py/numbers.js";
import type { PyValue } from "./value.js";

export { pyFloatRepr };
export const canonicalPy: (v: PyValue) => string = canonicalJson;
export const compactPy: (v: PyValue) => string = compactJson;
export const spacedPy: (v: PyValue) => string = spacedJson;
export const prettyPy = (v: PyValue): string => prettyJson(v, { escapeLoneSurrogates: true });

/** Parses JSON text; a syntax error is `E_INVALID_INPUT` "<what> is not valid JSON: <reason>". */
export function parsePyJson(text: string, what = "input"): PyValue {
  try {
    return parseShared(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const details = err instanceof CairnError ? err.details : {};
    throw new CairnError(ErrorCode.INVALID_INPUT, `${what} is not valid JSON: ${reason}`, { ...details, file: what }, { cause: err });
  }
}
