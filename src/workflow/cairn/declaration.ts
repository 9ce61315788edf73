/**
 * Reading Cairn workflow declarations (the compiler's first stage, compile.ts): the files named
 * (`declarationFiles`), each parsed as YAML or JSON with its size, UTF-8, depth, duplicate-key,
 * tag and number checks (`parseFile`), the JSON Schema check (`validateSchema`,
 * `schemaDiagnostics`) and the name and store-path grammar the schema cannot express
 * (`grammarDiagnostics`); the declaration types after validation; the diagnostics' shape.
 */
import { readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import type { Ajv, ErrorObject } from "ajv";
import { loadAjv } from "../atoms/general.js";
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Document } from "yaml";
import { CairnError, ErrorCode, type ErrorCodeValue } from "../../core/errors.js";
import type { StoreKind } from "./catalog.js";
import { duplicateJsonKey } from "../../core/json-keys.js";
import { textPosition } from "../../core/json-parse.js";
import { isIntegerLiteral, isSafeBigInt, numberLiteralKept, quotedNumber, walkJson, type JsonPathSegment } from "../../core/json-walk.js";
import type { OnResult } from "./model.js";
import { markWholeFloat } from "./sealed-value.js";
import { CAIRN_WORKFLOW_SCHEMA, type Outcome } from "./schema.js";
import { RESERVED_NAMES, storePathSyntaxProblem } from "./snapshot-grammar.js";
import { mappingKeyProblems } from "./yaml-keys.js";
import { jsonTextTooDeep, MAX_DECLARATION_DEPTH, MAX_DEPTH_PATH_SHOWN, parseYamlDocument, tooDeepMessage, yamlDocumentTooDeep, type TooDeep } from "./depth.js";
import { CORE_FLOAT_TAG, jsonSyntaxMessage, yamlDuplicateKey, yamlTagProblems } from "./parse-errors.js";
import { strictUtf8, withoutBom } from "../../core/utf8.js";

/** The diagnostic of a YAML declaration file with no content (empty, white space, only comments; an empty JSON file is a JSON syntax error). */
export const EMPTY_DECLARATION = "declares nothing: the file is empty (or holds only white space and comments); a workflow file holds one cairn.workflow/v1 declaration";

/** Declaration file extensions. */
export const DECLARATION_EXTENSIONS: readonly string[] = [".yaml", ".yml", ".json"];
/** Largest declaration file read. */
export const MAX_DECLARATION_BYTES = 4 * 1024 * 1024;

export interface CompileDiagnostic {
  code: ErrorCodeValue;
  /** The file as given (or found in a given directory). */
  file: string;
  /** The node key, when the problem is inside a node. */
  node: string | null;
  /** The field: relative to the node when `node` is set (`steps[1].cs`), else from the top (`entry`). */
  field: string;
  message: string;
}

/** `<file>: node <n>: <field>: <message> [<code>]` (one line). */
export function formatDiagnostic(d: CompileDiagnostic): string {
  return `${d.file}: ${d.node === null ? "" : `node ${d.node}: `}${d.field === "" ? "" : `${d.field}: `}${d.message} [${d.code}]`;
}

/* ----------------------------------------------------------------------------------------- */
/* Declaration types (after schema validation).                                               */

export type RouteDecl = string | { exit: string; reason: string };
export interface StepDecl {
  id: string;
  ct?: string;
  cs?: string;
  op?: string;
  inputs: Record<string, unknown>;
  on_result?: Partial<Record<Outcome, OnResult>>;
  lane?: unknown;
}
export interface NodeDecl {
  steps: StepDecl[];
  routes: Partial<Record<Outcome | "default", RouteDecl>>;
  max_visits?: number;
}
export interface WorkflowDecl {
  cairn: string;
  namespace: string;
  code: string;
  description?: string;
  entry: string;
  max_hops?: number;
  modules?: Record<string, string>;
  stores?: Record<string, { kind: StoreKind; path: string }>;
  nodes: Record<string, NodeDecl>;
}

/* ----------------------------------------------------------------------------------------- */
/* Files.                                                                                     */

/**
 * The declaration files named by `inputs` (files, or directories: their .yaml/.yml/.json
 * files, sorted, not recursive). In a directory, an entry with such a name that is not a
 * regular file (a subdirectory, a FIFO) is skipped; a directory with no declaration file left
 * is `E_NOT_FOUND`, as an empty one; an entry that cannot be examined (a dangling symlink,
 * no permission) is `E_NOT_FOUND` / `E_INVALID_INPUT` naming it. A file named twice — two
 * spellings (`d/a.yaml`, `./d/a.yaml`), a directory and a file in it, a symlink to it — is
 * compiled once: files are told apart by their real path (`realpath`), and the first
 * spelling is kept (it names the file in diagnostics).
 */
export function declarationFiles(inputs: readonly string[]): string[] {
  // Named as the caller passed it (until 2026-11-28 "wf compile needs …": the CLI's <paths...> is required, so only a library caller meets it).
  if (inputs.length === 0) throw new CairnError(ErrorCode.USAGE, "inputs must name at least one declaration file or directory, got none", { field: "inputs" });
  const out: string[] = [];
  for (const p of inputs) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new CairnError(ErrorCode.NOT_FOUND, `declaration not found: ${p}`, { path: p });
    }
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = readdirSync(p);
      } catch (err) {
        throw new CairnError(ErrorCode.INVALID_INPUT, `cannot read directory ${p}: ${(err as Error).message}`, { path: p });
      }
      const found: string[] = [];
      for (const f of names.filter((n) => DECLARATION_EXTENSIONS.includes(extname(n).toLowerCase())).sort()) {
        const fp = join(p, f);
        let fst;
        try {
          fst = statSync(fp);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT" || code === "ELOOP") throw new CairnError(ErrorCode.NOT_FOUND, `declaration ${fp} cannot be read: it is a dangling or looping symbolic link`, { path: fp });
          throw new CairnError(ErrorCode.INVALID_INPUT, `cannot read declaration ${fp}: ${(err as Error).message}`, { path: fp });
        }
        if (fst.isFile()) found.push(fp);
      }
      if (found.length === 0) throw new CairnError(ErrorCode.NOT_FOUND, `no declaration (.yaml, .yml, .json) in directory ${p}`, { path: p });
      out.push(...found);
    } else if (st.isFile()) out.push(p);
    else throw new CairnError(ErrorCode.INVALID_INPUT, `${p} is not a regular file or directory`, { path: p });
  }
  const seen = new Set<string>();
  return out.filter((f) => {
    const real = realPathOf(f);
    if (seen.has(real)) return false;
    seen.add(real);
    return true;
  });
}

/** The real path of a file (symlinks resolved), or its absolute path when it cannot be resolved. */
export function realPathOf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/**
 * The directory module paths of a declaration are relative to: the directory of the file's
 * **real** path, so that a declaration reached through a symlinked directory (or a symlink to
 * the file) bundles the same modules and seals the same paths as through its real path.
 */
export function declarationDir(file: string): string {
  return dirname(realPathOf(file));
}

let schemaValidator: ReturnType<Ajv["compile"]> | undefined;
export function validateSchema(doc: unknown): ErrorObject[] {
  schemaValidator ??= new (loadAjv())({ allErrors: true, strict: true, strictRequired: false, logger: false }).compile(CAIRN_WORKFLOW_SCHEMA as unknown as Record<string, unknown>);
  return schemaValidator(doc) === true ? [] : [...(schemaValidator.errors ?? [])];
}

/** `/nodes/a/steps/0/op` → node `a`, field `steps[0].op`. */
function locate(pointer: string): { node: string | null; field: string } {
  const parts = pointer === "" ? [] : pointer.slice(1).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  const fmt = (ps: string[]) => ps.reduce((acc, p) => (/^[0-9]+$/.test(p) ? `${acc}[${p}]` : acc === "" ? p : `${acc}.${p}`), "");
  if (parts[0] === "nodes" && parts.length >= 2) return { node: parts[1] as string, field: fmt(parts.slice(2)) };
  return { node: null, field: fmt(parts) };
}

export function schemaDiagnostics(file: string, errors: ErrorObject[]): CompileDiagnostic[] {
  // Report, per branch of the document, the deepest failures: an error is dropped when another
  // one lies strictly under it (oneOf/anyOf wrappers say less than the branch errors under
  // them), never because an unrelated branch is deeper. A missing (or unknown) member counts
  // as lying at that member, so a missing top-level `entry` is reported next to node errors.
  //
  // An invalid member NAME (`propertyNames`: a node key "b-c", a store "my-store", an input
  // "va-lue") is reported at that member (`<instancePath>/<name>`), with the name in the
  // message, and is never dropped for an error inside the member's value (the name is wrong
  // whatever the value); ajv's wrapper error ("property name must be valid", on the parent, no
  // name) is dropped for it.
  const escape = (name: string): string => name.replace(/~/g, "~0").replace(/\//g, "~1");
  const named = (e: ErrorObject): string | undefined => (typeof e.propertyName === "string" && e.keyword !== "propertyNames" ? e.propertyName : undefined);
  const at = (e: ErrorObject): string => {
    const p = e.params as { missingProperty?: unknown; additionalProperty?: unknown };
    const name = named(e);
    if (name !== undefined) return `${e.instancePath}/${escape(name)}`;
    const member = e.keyword === "required" ? p.missingProperty : e.keyword === "additionalProperties" ? p.additionalProperty : undefined;
    return typeof member === "string" ? `${e.instancePath}/${escape(member)}` : e.instancePath;
  };
  const paths = errors.map(at);
  const wrapped = (e: ErrorObject): boolean => {
    const name = (e.params as { propertyName?: unknown }).propertyName;
    return e.keyword === "propertyNames" && errors.some((x) => named(x) === name && x.instancePath === e.instancePath);
  };
  const deepest = errors.filter((e, i) => named(e) !== undefined || (!wrapped(e) && !paths.some((q) => q.startsWith(`${paths[i] as string}/`))));
  const byPath = new Map<string, string[]>();
  for (const e of deepest) {
    let msg = e.message ?? e.keyword;
    const name = named(e);
    if (name !== undefined) msg = `the name ${JSON.stringify(name)} ${msg}`;
    else if (e.keyword === "additionalProperties") msg = `unknown member ${JSON.stringify((e.params as { additionalProperty?: string }).additionalProperty)}`;
    else if (e.keyword === "enum") msg = `must be one of ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`;
    else if (e.keyword === "const") msg = `must be ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)}`;
    const where = name === undefined ? e.instancePath : `${e.instancePath}/${escape(name)}`;
    const list = byPath.get(where) ?? [];
    if (!list.includes(msg)) list.push(msg);
    byPath.set(where, list);
  }
  return [...byPath].map(([ptr, msgs]) => {
    const { node, field } = locate(ptr);
    return { code: ErrorCode.COMPILE_SCHEMA, file, node, field, message: `does not match the Cairn workflow schema: ${msgs.slice(0, 4).join("; ")}` };
  });
}

/* ----------------------------------------------------------------------------------------- */
/* JSON data.                                                                                 */

type PathSeg = JsonPathSegment;

/** The JSON pointer of a path (`/nodes/a/steps/0`), as ajv reports instance paths. */
function pointerOf(path: readonly PathSeg[]): string {
  return path.map((p) => `/${String(p).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

interface ValueProblem {
  pointer: string;
  message: string;
  /** Where the value is written, when known (1-based). */
  at?: { line: number; column: number };
}

/** At most this many values that are not JSON data are reported per file. */
const MAX_VALUE_PROBLEMS = 20;
/** With the `u` flag a well-formed surrogate pair is one code point: this matches only lone surrogates. */
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u;
const bigIntProblem = (n: bigint): string => `the integer ${n} is beyond ±(2^53−1), the largest integer a snapshot keeps exactly (canonical JSON numbers are IEEE doubles): write it as a string`;
const lossyProblem = (literal: string, read: number): string =>
  `the number ${quotedNumber(literal)} is not kept exactly (canonical JSON numbers are IEEE doubles): it would be sealed as ${String(read)}; write it as a string`;

/**
 * A float negative zero (`-0.0`, `-0e0`, YAML `-.0`): canonical JSON (RFC 8785) writes it as
 * `0`, so a constant would be sealed as the float 0.0 while the same literal in a payload stays
 * -0.0 (and, say, `generate_id` of it differs). The integer literal `-0` is the integer 0 in a
 * declaration and in a payload alike (Python reads it so), and is kept.
 */
const negativeZeroProblem = (literal: string): string =>
  `the number ${quotedNumber(literal)} is a negative zero, which a snapshot cannot keep (canonical JSON writes it as 0, so a constant would be the float 0.0 while the same literal in a payload is -0.0): write 0.0, or pass -0.0 in the payload`;

/**
 * The number literals of `text` — valid JSON — that `JSON.parse` does not keep exactly
 * (core/json-walk.ts `numberLiteralKept`): integer literals beyond ±(2^53−1)
 * (12345678901234567890123 → 1.2345678901234568e22), literals with a fraction or exponent whose
 * double has another value (`0.1000000000000000055511151231257827` → 0.1, `1e-400` → 0); a
 * non-finite one (`1e400`) is left to `jsonDataProblems`; and float negative zeros (`-0.0`,
 * `negativeZeroProblem`). Also returns the paths of the
 * whole-valued float literals (`2.0`, `1e3`: a fraction or an exponent, a safe integer value),
 * which `JSON.parse` makes indistinguishable from integers (sealed-value.ts `markWholeFloat`).
 */
function jsonNumberProblems(text: string): { problems: ValueProblem[]; floats: PathSeg[][] } {
  const problems: ValueProblem[] = [];
  const floats: PathSeg[][] = [];
  walkJson(text, (kind, offset, literal, path) => {
    if (kind !== "number") return false;
    const read = Number(literal);
    if (isIntegerLiteral(literal)) {
      if (!numberLiteralKept(literal)) problems.push({ pointer: pointerOf(path()), message: bigIntProblem(BigInt(literal)) });
    } else if (!Number.isFinite(read)) {
      // jsonDataProblems: not finite.
    } else if (!numberLiteralKept(literal, read)) {
      const { line, column } = textPosition(text, offset);
      problems.push({ pointer: pointerOf(path()), at: { line, column }, message: lossyProblem(literal, read) });
    } else if (Object.is(read, -0)) {
      const { line, column } = textPosition(text, offset);
      problems.push({ pointer: pointerOf(path()), at: { line, column }, message: negativeZeroProblem(literal) });
    } else if (Number.isSafeInteger(read)) floats.push(path());
    return problems.length >= MAX_VALUE_PROBLEMS;
  });
  return { problems, floats };
}

/**
 * The float scalars of a YAML document (before `toJS`) whose double is not the number written,
 * by the rule of JSON declarations (`jsonNumberProblems`), judged on the scalar's source text
 * (`0.1000000000000000055511151231257827` → 0.1, `1e-400` → 0, `!!float "1e-400"` too); YAML
 * integers are BigInts (`jsonDataProblems`: `-0` is the integer 0) and non-finite floats are
 * left to it; a float negative zero (`-0.0`, `-.0`) is refused (`negativeZeroProblem`). An alias is
 * judged where its anchor is written. Iterative; at most `MAX_VALUE_PROBLEMS`, in document order.
 */
function yamlNumberProblems(doc: Document, lines: LineCounter): ValueProblem[] {
  type Path = { up: Path; seg: PathSeg } | null;
  const segs = (path: Path): PathSeg[] => {
    const out: PathSeg[] = [];
    for (let p = path; p !== null; p = p.up) out.push(p.seg);
    return out.reverse();
  };
  const problems: ValueProblem[] = [];
  const todo: Array<{ node: unknown; path: Path }> = [{ node: doc.contents, path: null }];
  while (todo.length > 0 && problems.length < MAX_VALUE_PROBLEMS) {
    const { node, path } = todo.pop() as { node: unknown; path: Path };
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      const kept = numberLiteralKept(node.source ?? "", v);
      if (kept && !Object.is(v, -0)) continue;
      const pos = node.range === undefined || node.range === null ? undefined : lines.linePos(node.range[0]);
      const literal = node.source ?? String(v);
      problems.push({ pointer: pointerOf(segs(path)), ...(pos === undefined ? {} : { at: { line: pos.line, column: pos.col } }), message: kept ? negativeZeroProblem(literal) : lossyProblem(literal, v) });
    } else if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) todo.push({ node: node.items[i], path: { up: path, seg: i } });
    } else if (isMap(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) {
        const pair = node.items[i];
        const k: unknown = isAlias(pair?.key) ? pair.key.resolve(doc) : pair?.key;
        // Keys that are not strings are refused before (yaml-keys.ts) or belong to a value refused as a whole (!!set).
        if (isPair(pair) && isScalar(k) && typeof k.value === "string") todo.push({ node: pair.value, path: { up: path, seg: k.value } });
      }
    }
  }
  return problems;
}

/** Marks the whole-valued float literals found in a JSON text (`jsonNumberProblems`) in its parsed document. */
function markJsonFloats(doc: unknown, floats: readonly PathSeg[][]): void {
  for (const path of floats) {
    let holder: unknown = doc;
    for (let i = 0; i < path.length - 1 && holder !== null && typeof holder === "object"; i++) holder = (holder as Record<string | number, unknown>)[path[i] as string | number];
    const last = path[path.length - 1];
    if (last !== undefined && holder !== null && typeof holder === "object") markWholeFloat(holder, last);
  }
}

/** What a value that is not JSON data is, for a diagnostic. */
function describeNonJson(v: unknown): string {
  if (typeof v === "number") return `the number ${String(v)} is not finite (YAML .inf / .nan, or beyond the double range like 1e400)`;
  if (typeof v === "string") return "a string holding a lone surrogate (\\ud800…\\udfff without its pair) is not Unicode text";
  if (v instanceof Uint8Array) return "binary data (YAML !!binary)";
  if (v instanceof Date) return "a timestamp (YAML !!timestamp)";
  if (v instanceof Set) return "a set (YAML !!set)";
  if (v instanceof Map) return "an ordered map (YAML !!omap)";
  const proto: unknown = typeof v === "object" && v !== null ? Object.getPrototypeOf(v) : undefined;
  const ctor = proto !== undefined && proto !== null && typeof proto === "object" && Object.prototype.hasOwnProperty.call(proto, "constructor") ? (proto as { constructor: { name?: unknown } }).constructor.name : undefined;
  return `a value of type ${typeof ctor === "string" && ctor !== "" ? ctor : typeof v}`;
}

/** Sets a member of an array or plain object (defineProperty, not `=`: a member named __proto__ stays a member). */
function setMember(parent: Record<string, unknown> | unknown[], key: PathSeg, value: unknown): void {
  if (Array.isArray(parent)) parent[key as number] = value;
  else Object.defineProperty(parent, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Checks that a parsed declaration is JSON data — what a sealed snapshot (canonical JSON) can
 * hold unchanged — and turns the YAML parser's integers (BigInt, so that none is rounded) into
 * numbers. Refused, each by its JSON pointer: non-finite numbers, integers beyond ±(2^53−1),
 * strings or member names with a lone surrogate, and anything but null, booleans, strings,
 * numbers, arrays and plain objects (YAML `!!binary`, `!!timestamp`, `!!set`, `!!omap`…).
 * Iterative, so nesting depth is not limited by the call stack.
 */
function jsonDataProblems(doc: unknown, yamlFloats = false): { doc: unknown; problems: ValueProblem[] } {
  const problems: ValueProblem[] = [];
  const holder: Record<string, unknown> = { doc };
  // Paths as linked lists (a member's path shares its container's), made into pointers only for a problem.
  type Path = { up: Path; seg: PathSeg } | null;
  type Frame = { exit: object } | { parent: Record<string, unknown> | unknown[]; key: PathSeg; path: Path };
  const todo: Frame[] = [{ parent: holder, key: "doc", path: null }];
  // Containers on the path from the root (a YAML alias can make a cycle) and those checked already (a shared alias).
  const onPath = new Set<object>();
  const done = new Set<object>();
  const isPlain = (o: object): boolean => {
    const p: unknown = Object.getPrototypeOf(o);
    return p === Object.prototype || p === null;
  };
  const problem = (path: Path, message: string): void => {
    const segs: PathSeg[] = [];
    for (let p = path; p !== null; p = p.up) segs.push(p.seg);
    problems.push({ pointer: pointerOf(segs.reverse()), message });
  };
  while (todo.length > 0 && problems.length < MAX_VALUE_PROBLEMS) {
    const f = todo.pop() as Frame;
    if ("exit" in f) {
      onPath.delete(f.exit);
      done.add(f.exit);
      continue;
    }
    const { parent, key, path } = f;
    const v: unknown = Array.isArray(parent) ? parent[key as number] : parent[key as string];
    if (v === null || typeof v === "boolean") continue;
    if (typeof v === "string") {
      if (LONE_SURROGATE_RE.test(v)) problem(path, describeNonJson(v));
    } else if (typeof v === "number") {
      if (!Number.isFinite(v)) problem(path, describeNonJson(v));
      // A JSON integer literal `-0` (JSON.parse reads -0; a float negative zero was refused:
      // `negativeZeroProblem`) is the integer 0, as a payload's `-0` is and as it is sealed.
      else if (Object.is(v, -0)) setMember(parent, key, 0);
      // YAML integers are BigInts here: a whole number is a float scalar (`2.0`, `1e3`).
      else if (yamlFloats && Number.isSafeInteger(v)) markWholeFloat(parent, key);
    } else if (typeof v === "bigint") {
      if (!isSafeBigInt(v)) problem(path, bigIntProblem(v));
      else setMember(parent, key, Number(v));
    } else if (typeof v === "object" && (Array.isArray(v) ? Object.getPrototypeOf(v) === Array.prototype : isPlain(v))) {
      if (onPath.has(v)) {
        problem(path, "a cyclic reference (a YAML alias inside its own anchor): JSON data is a tree");
        continue;
      }
      if (done.has(v)) continue;
      onPath.add(v);
      todo.push({ exit: v });
      const c = v as Record<string, unknown> | unknown[];
      const keys: PathSeg[] = Array.isArray(c) ? c.map((_, i) => i) : Object.keys(c);
      for (let n = keys.length - 1; n >= 0; n--) {
        const k = keys[n] as PathSeg;
        if (typeof k === "string" && LONE_SURROGATE_RE.test(k)) {
          problem({ up: path, seg: k }, `the member name ${JSON.stringify(k)} holds a lone surrogate (\\ud800…\\udfff without its pair): it is not Unicode text`);
          continue;
        }
        todo.push({ parent: c, key: k, path: { up: path, seg: k } });
      }
    } else problem(path, describeNonJson(v));
  }
  return { doc: holder.doc, problems: problems.sort((a, b) => (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : 0)) };
}

export function parseFile(file: string): { doc?: unknown; text?: Buffer; errors?: CompileDiagnostic[] } {
  const fail = (message: string): { errors: CompileDiagnostic[] } => ({ errors: [{ code: ErrorCode.COMPILE_SCHEMA, file, node: null, field: "", message }] });
  const notJson = (problems: ValueProblem[]): { errors: CompileDiagnostic[] } => ({
    errors: problems.map((p) => ({ code: ErrorCode.COMPILE_SCHEMA, file, ...locate(p.pointer), message: `not JSON data, which a sealed snapshot cannot hold unchanged${p.at === undefined ? "" : ` (line ${p.at.line}, column ${p.at.column})`}: ${p.message}` })),
  });
  // Nesting past MAX_DECLARATION_DEPTH (depth.ts), found before anything walks the document recursively.
  const tooDeep = (d: TooDeep, what: string): { errors: CompileDiagnostic[] } => {
    const at = locate(pointerOf(d.path.slice(0, MAX_DEPTH_PATH_SHOWN)));
    return { errors: [{ code: ErrorCode.COMPILE_SCHEMA, file, node: at.node, field: d.path.length > MAX_DEPTH_PATH_SHOWN ? `${at.field}…` : at.field, message: tooDeepMessage(d, what) }] };
  };
  let bytes: Buffer;
  try {
    const st = statSync(file);
    if (st.size > MAX_DECLARATION_BYTES) return fail(`larger than ${MAX_DECLARATION_BYTES} bytes`);
    bytes = readFileSync(file);
  } catch (err) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `cannot read declaration ${file}: ${(err as Error).message}`, { path: file });
  }
  const decoded = strictUtf8(bytes);
  if ("invalidLine" in decoded) return fail(`line ${decoded.invalidLine}: not valid UTF-8`);
  const text = decoded.text;
  if (extname(file).toLowerCase() === ".json") {
    // One leading UTF-8 BOM is not part of the JSON text (RFC 8259 §8.1 lets a parser ignore
    // it): skipped, so the file compiles like the same file without it, as a YAML declaration
    // with one does (the yaml package skips it). Positions count from after it.
    const json = withoutBom(text);
    const deep = jsonTextTooDeep(json, MAX_DECLARATION_DEPTH);
    if (deep !== null) return tooDeep(deep, "objects and arrays");
    let doc: unknown;
    try {
      doc = JSON.parse(json) as unknown;
    } catch (err) {
      return fail(jsonSyntaxMessage(json, (err as Error).message));
    }
    // JSON.parse keeps the last of two equal keys: refuse them, as YAML declarations do.
    const dup = duplicateJsonKey(json);
    if (dup !== null) return fail(`not valid JSON (line ${dup.at.line}, column ${dup.at.column}): duplicate key ${JSON.stringify(dup.key)} (first at line ${dup.first.line}, column ${dup.first.column})`);
    const checked = jsonDataProblems(doc);
    const scanned = jsonNumberProblems(json);
    const problems = [...scanned.problems, ...checked.problems];
    if (problems.length > 0) return notJson(problems);
    markJsonFloats(checked.doc, scanned.floats);
    return { doc: checked.doc, text: bytes };
  }
  const lines = new LineCounter();
  // Integers as BigInt, so that one beyond 2^53 is refused instead of rounded (jsonDataProblems);
  // `!!float` as the YAML 1.2 core schema reads it (parse-errors.ts CORE_FLOAT_TAG). The yaml
  // package composes a document recursively: its depth is checked on the syntax tree first (depth.ts).
  const parsed = parseYamlDocument(text, { uniqueKeys: true, prettyErrors: false, version: "1.2", lineCounter: lines, intAsBigInt: true, customTags: [CORE_FLOAT_TAG] }, MAX_DECLARATION_DEPTH);
  if ("deep" in parsed) return tooDeep(parsed.deep, "mappings and sequences");
  const doc = parsed.doc;
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = e === undefined ? undefined : lines.linePos(e.pos[0]);
    // Valid YAML, but a stream of documents: said in the file's terms, not the yaml package's advice.
    if (e?.code === "MULTIPLE_DOCS" && at !== undefined) {
      return fail(`a workflow file holds one YAML document; this one has another starting at line ${at.line} (a "---" or "..." line separates documents): keep one declaration per file`);
    }
    const dup = e?.code === "DUPLICATE_KEY" ? yamlDuplicateKey(doc, e) : null;
    if (dup !== null && at !== undefined) {
      const first = lines.linePos(dup.first);
      return fail(`not valid YAML (line ${at.line}, column ${at.col}): duplicate key ${JSON.stringify(dup.key)} (first at line ${first.line}, column ${first.col})`);
    }
    return fail(`not valid YAML${at === undefined ? "" : ` (line ${at.line}, column ${at.col})`}: ${e?.message.split("\n")[0] ?? "parse error"}`);
  }
  // A `%YAML 1.1` directive switches the yaml package to YAML 1.1's rules (`yes` → true, `010` →
  // 8) whatever `version` says: declarations are YAML 1.2 (core schema), so it is refused.
  const yamlVersion = doc.directives?.yaml.version;
  if (yamlVersion !== undefined && yamlVersion !== "1.2") {
    const at = /^%YAML\b/m.exec(text);
    const pos = at === null ? undefined : lines.linePos(at.index);
    return fail(`not valid YAML${pos === undefined ? "" : ` (line ${pos.line}, column ${pos.col})`}: a %YAML ${yamlVersion} directive; Cairn declarations are YAML 1.2 (core schema), under which values read differently (YAML 1.1 reads yes as true and 010 as 8): remove the directive`);
  }
  // A tag the yaml package leaves unresolved would seal the value as the text written (parse-errors.ts).
  const badTags = yamlTagProblems(doc, text, lines, MAX_VALUE_PROBLEMS);
  if (badTags.length > 0) {
    return { errors: badTags.map((t) => ({ code: ErrorCode.COMPILE_SCHEMA, file, ...locate(pointerOf(t.path)), message: `not JSON data, which a sealed snapshot cannot hold unchanged (line ${t.line}, column ${t.column}): ${t.message}` })) };
  }
  // Aliases can nest a document deeper than its text: checked again, as toJS would build it.
  const deepDoc = yamlDocumentTooDeep(doc, lines, MAX_DECLARATION_DEPTH);
  if (deepDoc !== null) return tooDeep(deepDoc, "mappings and sequences");
  // Before toJS, which turns a key that is not a string into text and reads a plain `<<` as a
  // member named "<<" (YAML 1.2 has no merge keys): yaml-keys.ts.
  const badKeys = mappingKeyProblems(doc, text, lines, MAX_VALUE_PROBLEMS);
  if (badKeys.length > 0) {
    const lead = (k: (typeof badKeys)[number]): string => (k.kind === "merge_key" ? "a YAML 1.1 merge key" : "not JSON data, which a sealed snapshot cannot hold unchanged");
    return { errors: badKeys.map((k) => ({ code: ErrorCode.COMPILE_SCHEMA, file, ...locate(pointerOf(k.path)), message: `${lead(k)} (line ${k.line}, column ${k.column}): ${k.message}` })) };
  }
  // No content at all (an empty file, only comments, directives or "---": an empty plain scalar): nothing declared,
  // not an object that fails the schema.
  const c = doc.contents;
  if (c === null || (isScalar(c) && c.value === null && c.source === "")) return fail(EMPTY_DECLARATION);
  const lossy = yamlNumberProblems(doc, lines);
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    return fail(`not valid YAML: ${(err as Error).message}`);
  }
  const checked = jsonDataProblems(js, true);
  const problems = [...lossy, ...checked.problems];
  if (problems.length > 0) return notJson(problems);
  return { doc: checked.doc, text: bytes };
}

/**
 * What the schema's patterns allow but a snapshot cannot hold (snapshot-grammar.ts), after the
 * schema check: the reserved name `__proto__` as a node, store, module or input name (a record
 * keyed by it would set a prototype; a step id or an `object:` binding member may be named so:
 * neither keys a plain-object record), and store paths with a control
 * character or a `..` segment the schema's pattern does not see (past a line break).
 */
export function grammarDiagnostics(file: string, decl: WorkflowDecl): CompileDiagnostic[] {
  const out: CompileDiagnostic[] = [];
  const add = (node: string | null, field: string, message: string) => out.push({ code: ErrorCode.COMPILE_SCHEMA, file, node, field, message });
  const reserved = (name: string): boolean => RESERVED_NAMES.includes(name);
  const why = (what: string, name: string) => `${what} ${JSON.stringify(name)} is reserved (a snapshot record cannot be keyed by it): choose another name`;
  for (const name of Object.keys(decl.stores ?? {})) {
    if (reserved(name)) add(null, `stores.${name}`, why("the store name", name));
    const bad = storePathSyntaxProblem((decl.stores ?? {})[name]?.path);
    if (bad !== null) add(null, `stores.${name}.path`, `store ${name}: path ${bad}`);
  }
  for (const name of Object.keys(decl.modules ?? {})) if (reserved(name)) add(null, `modules.${name}`, why("the module name", name));
  for (const key of Object.keys(decl.nodes)) {
    if (reserved(key)) {
      add(key, `nodes.${key}`, why("the node key", key));
      continue;
    }
    (decl.nodes[key] as NodeDecl).steps.forEach((s, i) => {
      for (const name of Object.keys(s.inputs)) {
        if (reserved(name)) add(key, `steps[${i}].inputs.${name}`, why("the input name", name));
      }
    });
  }
  return out;
}

