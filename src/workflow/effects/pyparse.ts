/**
 * A JSON parser with Python's `json.loads` semantics, producing the PGS value model
 * (pyvalue.ts): objects as `Map`s in source order (a repeated member keeps its first position
 * and takes the last value, like a Python dict), integers as `number` (or `bigint` beyond
 * 2^53), floats as `number` when non-integral and `PyFloat` otherwise. Like Python it accepts
 * the literals `NaN`, `Infinity` and `-Infinity`, and rejects raw control characters in
 * strings, a byte order mark, trailing commas and trailing data.
 *
 * Errors are `PgsJsonSyntaxError`s carrying the offset; callers map them to statuses.
 */
import { PGS_JSON_MAX_DEPTH } from "./pyjson.js";
import { PyFloat, type PgsValue } from "./pyvalue.js";

export class PgsJsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
    this.name = "PgsJsonSyntaxError";
  }
}

const NUMBER_RE = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = Object.freeze({
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
});
const HEX4_RE = /^[0-9a-fA-F]{4}$/;

/** Parses `text` as one JSON value (surrounding JSON whitespace allowed). */
export function pgsParse(text: string): PgsValue {
  let i = 0;

  const err = (msg: string): never => {
    throw new PgsJsonSyntaxError(msg, i);
  };
  const skipWs = (): void => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  const literal = (word: string, value: PgsValue): PgsValue => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return err("invalid literal");
  };

  const parseString = (): string => {
    i++; // opening quote
    let out = "";
    let start = i;
    for (;;) {
      if (i >= text.length) err("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) err("invalid control character in string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      const e = text[i + 1] ?? "";
      if (e === "u") {
        const h = text.slice(i + 2, i + 6);
        if (!HEX4_RE.test(h)) err("invalid \\u escape");
        out += String.fromCharCode(parseInt(h, 16));
        i += 6;
      } else {
        const s = SIMPLE_ESCAPES[e];
        if (s === undefined) err("invalid escape");
        out += s;
        i += 2;
      }
      start = i;
    }
  };

  const parseNumber = (): PgsValue => {
    if (text.startsWith("-Infinity", i)) return literal("-Infinity", new PyFloat(-Infinity));
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m === null) return err("invalid number");
    i += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const big = BigInt(m[0]);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    }
    const f = Number(m[0]);
    return Number.isInteger(f) || !Number.isFinite(f) ? new PyFloat(f) : f;
  };

  const parseValue = (depth: number): PgsValue => {
    if (depth > PGS_JSON_MAX_DEPTH) err(`nesting deeper than ${PGS_JSON_MAX_DEPTH}`);
    skipWs();
    const c = text[i];
    switch (c) {
      case "{": {
        i++;
        const obj = new Map<string, PgsValue>();
        skipWs();
        if (text[i] === "}") {
          i++;
          return obj;
        }
        for (;;) {
          skipWs();
          if (text[i] !== '"') err("expected a member name");
          const key = parseString();
          skipWs();
          if (text[i] !== ":") err("expected ':'");
          i++;
          obj.set(key, parseValue(depth + 1));
          skipWs();
          if (text[i] === ",") i++;
          else if (text[i] === "}") {
            i++;
            return obj;
          } else err("expected ',' or '}'");
        }
      }
      // falls through (unreachable: the loop returns or throws)
      case "[": {
        i++;
        const arr: PgsValue[] = [];
        skipWs();
        if (text[i] === "]") {
          i++;
          return arr;
        }
        for (;;) {
          arr.push(parseValue(depth + 1));
          skipWs();
          if (text[i] === ",") i++;
          else if (text[i] === "]") {
            i++;
            return arr;
          } else err("expected ',' or ']'");
        }
      }
      // falls through (unreachable)
      case '"':
        return parseString();
      case "t":
        return literal("true", true);
      case "f":
        return literal("false", false);
      case "n":
        return literal("null", null);
      case "N":
        return literal("NaN", new PyFloat(NaN));
      case "I":
        return literal("Infinity", new PyFloat(Infinity));
      default:
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return parseNumber();
        return err(c === undefined ? "unexpected end of input" : "unexpected character");
    }
  };

  const value = parseValue(0);
  skipWs();
  if (i < text.length) err("extra data");
  return value;
}
