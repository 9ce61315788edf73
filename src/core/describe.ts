import { CairnError, ErrorCode } from "./errors.js";
import { echoedJson, MAX_ECHOED_CHARS } from "./echo.js";

/**
 * How the library's argument checks name a value they refuse (`openStore`'s options,
 * store/store.ts; the batch API's arguments, batch/api-checks.ts), and what counts as a plain
 * options object there.
 */

/** A value for a message: `null`, `an array`, `a string "x"`, `a function`, `an object`, `an instance of Map`, `5n`, else `String` (`5`, `true`). */
export function describeArgument(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `a string ${JSON.stringify(v)}`;
  if (typeof v === "function") return "a function";
  if (typeof v === "object") {
    const name = isPlainObject(v) ? undefined : (v as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name !== "" ? `an instance of ${name}` : "an object";
  }
  return typeof v === "bigint" ? `${v}n` : String(v);
}

/** Whether `v` is a plain object: not an array, prototype `Object.prototype` or null. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Whether `v` can be an options object of the library (`openStore`'s options, `run`'s hooks,
 * `verifyRun`'s options): a plain object, or an instance of the caller's own class (its values
 * are read by property access, inherited ones included) — but not an array, a function, or a
 * built-in value that holds its data elsewhere (a Map, a Set, a Date, a RegExp, a typed array or
 * buffer, a Promise, an Error, a boxed primitive), which would read as "no options" and, for
 * `openStore`, open the default store.
 */
export function isOptionsObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  return !BUILT_IN_VALUE_TYPES.some((t) => v instanceof t) && !ArrayBuffer.isView(v);
}

const BUILT_IN_VALUE_TYPES: ReadonlyArray<abstract new (...args: never[]) => unknown> = [
  Map, Set, WeakMap, WeakSet, Date, RegExp, ArrayBuffer, SharedArrayBuffer, Promise, Error, String, Number, Boolean,
];

/**
 * A path argument of a library entry point: a non-empty string, else `E_USAGE` naming `field`
 * (`""` would name the working directory, which no caller means): `<where>: <field> must be a
 * non-empty string (a path), got …` (`checkPathValue`).
 */
export function checkPathArgument(where: string, field: string, v: unknown): asserts v is string {
  checkPathValue(`${where}: ${field}`, field, v);
}

/**
 * The check of every path argument or option (`checkPathArgument`; `createServer`'s `workspace`
 * and `dataRoot`, server/option-checks.ts): a non-empty string, else `E_USAGE` with
 * `details.field` = `field` and the message `<subject> must be a non-empty string (<kind>), got …`.
 */
export function checkPathValue(subject: string, field: string, v: unknown, kind = "a path"): asserts v is string {
  if (typeof v !== "string" || v === "") throw new CairnError(ErrorCode.USAGE, `${subject} must be a non-empty string (${kind}), got ${describeArgument(v)}`, { field });
}

// eslint-disable-next-line no-control-regex -- control characters are what is escaped
const CONTROL_OR_LONE_SURROGATE_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** The characters a message must not carry that `JSON.stringify` leaves as they are (DEL, C1, U+2028/2029). */
const UNESCAPED_BY_JSON_RE = /[\u007f-\u009f\u2028\u2029]/g;
const SHORT_ESCAPES: Readonly<Record<string, string>> = { "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r" };

function escapeOne(c: string): string {
  return SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * `s` with every character a terminal would not show as itself escaped JSON-style: C0 controls
 * (`\n`, `\f`, `\u001b`…), DEL and C1 (`\u007f`, `\u0085`), U+2028/2029 and lone surrogates
 * (`\ud83d`). Other text, backslashes and quotes included, is left as is: for text that is not
 * quoted (a character V8 names in a JSON.parse message); a quoted user value goes through
 * `printableJson`.
 */
export function escapeControls(s: string): string {
  return s.replace(CONTROL_OR_LONE_SURROGATE_RE, escapeOne);
}

/**
 * `escapeControls` of each line of `s`, the lines kept: for a message that is several lines on
 * purpose (an E_NONDETERMINISTIC diff: `…:\n  run:   …\n  audit: …`), printed for a terminal.
 * A carriage return, tab or other control inside a line is escaped as usual.
 */
export function escapeControlsByLine(s: string): string {
  return s.split("\n").map(escapeControls).join("\n");
}

/**
 * JSON text as `JSON.stringify` writes it with DEL, C1 controls and U+2028/2029 escaped too
 * (`\u007f`, `\u0085`, `\u2028`), which it leaves as they are: still JSON for the same value,
 * now printable on one line. `canonical.ts` quotes a JSONPath's member names with it.
 */
export function printableJsonText(json: string): string {
  return json.replace(UNESCAPED_BY_JSON_RE, escapeOne);
}

/**
 * A user value quoted for a message as printable text: `echoedJson(v, max)` (a JSON string, cut
 * past `max` characters with its length stated) with DEL, C1 controls and U+2028/2029 escaped
 * too (`\u0085`, `printableJsonText`), which `JSON.stringify` leaves as they are. The input
 * readers quote input text (a key, a column name, an id field's name, the fragment of a
 * JSON.parse message) with it.
 */
export function printableJson(v: unknown, max = MAX_ECHOED_CHARS): string {
  return printableJsonText(echoedJson(v, max));
}
