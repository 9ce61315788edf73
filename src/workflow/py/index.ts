/**
 * The Python value model and Python-compatible JSON of PGS v0.3 (SEMANTICS Part 0), shared by
 * the CT atoms (src/workflow/atoms), the CS runtimes (src/workflow/effects) and the PGS runtime
 * (src/workflow/pgs):
 *
 * - value.ts: `PyValue` (`bigint` = int, `number` = float, `Map` = dict in insertion order),
 *   Python equality, ordering, truthiness, dict-key identity;
 * - numbers.ts: `repr(float)`, `str(int)`, `float(str)`;
 * - json.ts: the four serialisations (canonical, compact, spaced, pretty);
 * - json-parse.ts: the lossless parser (Python `json.loads`).
 */
export * from "./value.js";
export { pyFloatRepr, pyFloatFromString, pyIntStr, PY_INT_MAX_STR_DIGITS } from "./numbers.js";
export {
  asciiJsonString,
  canonicalJson,
  compactJson,
  prettyJson,
  rawJsonString,
  spacedJson,
  PYJSON_MAX_DEPTH,
  UNSERIALISABLE_REASON,
} from "./json.js";
export { parsePyJson, PYJSON_PARSE_MAX_DEPTH, type PyJsonParseOptions } from "./json-parse.js";
