/**
 * Lossless JSON parsing into the Python value model (value.ts), with Python `json.loads`
 * semantics — the only JSON parser of src/workflow (snapshots, payloads, CS data files). The
 * parser itself lives in src/core/json-parse.ts (`parseLosslessJson`, shared with the plane CLI,
 * which must not import src/workflow); this module keeps its names for src/workflow:
 *
 *  - a number with a fraction or exponent is a float (`number`), otherwise an int (`bigint`,
 *    any size up to `PY_INT_MAX_STR_DIGITS` digits, as Python refuses longer ones);
 *  - object members keep source order; a repeated name keeps its first position and takes its
 *    last value (Python `dict` assignment);
 *  - strict strings: raw control characters are rejected; `\uXXXX` escapes may produce lone
 *    surrogates (Python keeps them too);
 *  - whitespace is space, tab, LF, CR; a leading BOM is rejected; any top-level value is allowed.
 *
 * `NaN`, `Infinity`, `-Infinity` and float literals too large for a double (`1e400`) are
 * refused unless `allowNonFiniteConstants` is set (the CS runtimes set it for their data files).
 * Errors are `CairnError(E_INVALID_INPUT)` with Python-style messages
 * (`Expecting value: line 1 column 1 (char 0)`; positions count code points, as Python does).
 */
import { JSON_PARSE_MAX_DEPTH, parseLosslessJson } from "../../core/json-parse.js";
import { PY_INT_MAX_STR_DIGITS } from "./numbers.js";
import type { PyValue } from "./value.js";

/** Deepest nesting the parser accepts (Python's recursion limit stops it near 1000). */
export const PYJSON_PARSE_MAX_DEPTH = JSON_PARSE_MAX_DEPTH;

export interface PyJsonParseOptions {
  /** Accept `NaN`, `Infinity`, `-Infinity` like Python's default `json.loads`. Default false. */
  readonly allowNonFiniteConstants?: boolean;
}

/** Parses JSON text into the Python value model (see the module comment). */
export function parsePyJson(text: string, opts: PyJsonParseOptions = {}): PyValue {
  return parseLosslessJson(text, { allowNonFiniteConstants: opts.allowNonFiniteConstants === true, maxIntDigits: PY_INT_MAX_STR_DIGITS });
}
