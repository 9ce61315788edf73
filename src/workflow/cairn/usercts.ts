/**
 * User CTs: TypeScript (or JavaScript) functions registered in a capability module, bundled at
 * compile time and run in a fresh `node:vm` context per call.
 *
 * ## The module contract
 *
 * A capability module exports `capabilities`: an object whose members are the module's CTs,
 * each `{ outputs: string[], run(input) }`:
 *
 * ```ts
 * export const capabilities = {
 *   normalize_email: { outputs: ["email", "domain"], run: (input: { email: string }) => ({ … }) },
 * };
 * ```
 *
 * A declaration names a module (`modules: {agent: ./agent.ts}`) and a step calls a CT as
 * `ct: agent.normalize_email`. `run` receives the step's resolved inputs as plain JSON (JSON
 * numbers, i.e. IEEE doubles) and must **synchronously** return a JSON object: SUCCESS with
 * those fields. Anything thrown, a non-object, a non-JSON value, a result holding
 * `result_status` (RESERVED_RESULT_FIELD) or a returned promise is a
 * VIOLATION (with the message in the trace). Outcome set: SUCCESS, VIOLATION.
 *
 * ## Bundling (compile time)
 *
 * esbuild, with the batch engine's determinism settings (src/batch/sandbox/bundle.ts: paths
 * relative to the entry's directory, no source maps, no legal comments, ASCII output) but
 * `format: "cjs"`, `platform: "neutral"`, fixed TypeScript options (`strict`; no tsconfig.json
 * is consulted: esbuild reads none when `tsconfigRaw` is given) and no package.json metadata
 * for the module's own files (`ownFilesPlugin`): esbuild would otherwise apply the nearest
 * package.json's `sideEffects` (dropping a side-effect import such as `import "./setup"`) and
 * `type` (reading a `.js`/`.ts` file without `import`/`export` as ESM) to them, wherever that
 * package.json is — also in a folder above the project. Files outside node_modules are read
 * as their syntax says and never dropped as side-effect free; packages under node_modules keep
 * their own package.json's `sideEffects` and `type` (part of the package, like its code). So
 * the bundle depends on the bundled files' bytes and their paths relative to the module only,
 * not on where the module lives. Node builtins do not resolve, so a module that
 * imports `fs`, `crypto`… fails to compile (`E_COMPILE_MODULE`) instead of failing at run
 * time. The bundle text is stored in the sealed snapshot (and as a store artifact); its SHA-256
 * is the module's identity. The runtime never imports or resolves anything: it evaluates the
 * sealed text with `vm.Script`.
 *
 * ## The guarantee, honestly
 *
 * Every call runs in a **new** vm context (so no state survives between calls, runs or steps)
 * whose global object is a null-prototype object (so `globalThis.constructor` is the context's
 * own `Object`, never the host's) holding only the ECMAScript built-ins, with:
 *  - `Date`: `new Date()` / `Date.now()` / `Date()` give the logical time
 *    (USER_CT_LOGICAL_TIME_MS = 2025-01-01T00:00:00Z); `Intl.DateTimeFormat#format()` without a
 *    date too;
 *  - locale `en-US` and time zone `UTC` whenever none is given: every `Intl.*` constructor,
 *    `Number`/`BigInt`/`Date`/`Array` `toLocale*String`, `String#localeCompare` and
 *    `toLocaleUpper/LowerCase` (so the host's LANG / LC_ALL / TZ do not leak into results);
 *    a given tag or list gets `en-US` appended as its last fallback (ICU would fall back to
 *    the host's locale for `[]`, `"und"`, `"zz"`), and `toLocaleUpper/LowerCase([])` is
 *    `en-US` — the batch sandbox's rules (src/batch/sandbox/locale.ts), re-stated here because
 *    they must run inside the vm context's realm;
 *  - `Date#toString` / `#toTimeString` / `Date()`: V8 names the time zone in the host's locale
 *    (`(Koordinierte Weltzeit)`); the name is the `en-US` one (`(Coordinated Universal Time)`);
 *  - `Math.random`: xoshiro128** seeded from SHA-256 of (trace id, node, step id) — the same
 *    run gives the same stream, another step another stream;
 *  - no `require`, `process`, `Buffer`, timers, `fetch`, `crypto`, `performance`: they are
 *    not defined in the context (V8's own `console` exists but prints nothing);
 *  - promise jobs run inside the call (`microtaskMode: "afterEvaluate"`), never afterwards;
 *    a promise of the module's realm that is rejected and never handled is ignored (it would
 *    otherwise reach Node's unhandled-rejection handling and end the whole process, a
 *    `cairn serve` included, after the run reported its result): `guardContextRejections`;
 *  - the non-locale local-time methods (`getHours`, `toString`…) follow the process time
 *    zone, which the CLI sets to UTC;
 *  - one synchronous deadline per call (USER_CT_TIMEOUT_MS) covering module evaluation and the
 *    call together; exceeding it aborts the run with `E_LIMIT_EXCEEDED` (reason `ct_timeout`,
 *    "user CT <alias>.<capability> ran longer than 2000 ms", the CT named as the step's `ct:`)
 *    — a time-out is not a business outcome, and no route can take it;
 *  - whatever the module throws is caught and turned into text inside the context, under the
 *    same deadline (a `message` getter or `toString` that never returns times out); the host
 *    only ever reads strings, and inspects only host-realm errors (the vm time-out);
 *  - error stacks (`err.stack`, `Error.captureStackTrace`) show the module's own frames only:
 *    `<Error.prototype.toString of the error>` then one `\n    at <V8 call site>` per frame in
 *    the bundle, named `cairn-module:<name>` (at run time `<name>` = the first 12 hex digits of
 *    the bundle digest; at compile time the module's alias) with the line and column of the
 *    bundle text as sealed. Frames of Cairn's prelude, of builtins (`Array.map`…), of code the
 *    module makes with `eval`/`Function`, and of the host (Node, Cairn's install path) are
 *    left out, so a stack never depends on where or how Cairn runs. `Error.stackTraceLimit` starts
 *    at 10 (not the process's `--stack-trace-limit`; the module may change it: the limit counts
 *    the left-out frames too); `Error.prepareStackTrace` and the global `Error` are non-writable,
 *    non-configurable (assigning is ignored in sloppy code, a TypeError in strict code), so no
 *    host CallSite ever reaches user code.
 * So a CT written against these rules is a pure function of its inputs and the run.
 * **Not guaranteed**: `node:vm` is not a security boundary. The host passes only strings in and
 * reads only strings out, and the realm escape through the global object's prototype is
 * closed, but a module exploiting engine bugs is not contained, memory is not bounded
 * separately, `WeakRef`/`FinalizationRegistry` timing is not neutralised, and the depth at which
 * deep recursion overflows the stack (a RangeError) depends on the host's stack use. Capability
 * modules are trusted code, exactly like batch execution functions; the batch engine's worker
 * threads give a stronger isolation (separate isolate, heap limit) at a cost of milliseconds per
 * call, which is why workflows use vm contexts (a CT call costs well under a millisecond plus
 * module evaluation).
 */
import { createHash } from "node:crypto";
import { realpath, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { types } from "node:util";
import vm from "node:vm";
import { build, type BuildFailure, type Message, type Plugin } from "esbuild";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { sha256, type Digest } from "../../core/digest.js";
import { PIN_DATE_STRINGS_SOURCE } from "../../core/date-strings.js";
import { regularFilesOnly } from "../../core/regular-files-plugin.js";
import { compactJson } from "../py/json.js";
import { parsePyJson } from "../py/json-parse.js";
import type { PyValue } from "../py/value.js";

/** Logical time seen by user CTs: 2025-01-01T00:00:00Z. */
export const USER_CT_LOGICAL_TIME_MS = Date.UTC(2025, 0, 1);
/** Synchronous time bound of one user CT call (module evaluation included). */
export const USER_CT_TIMEOUT_MS = 2_000;
/** Largest bundle accepted. */
export const USER_CT_MAX_BUNDLE_BYTES = 8 * 1024 * 1024;

/**
 * The result member no user CT may declare as an output or return: a node's result is its
 * steps' fields without `result_status` (docs/workflow-cairn.md §1), and a user CT's outcome
 * comes from how `run` ends (returns: SUCCESS, throws: VIOLATION), never from a member.
 */
export const RESERVED_RESULT_FIELD = "result_status";

/**
 * Why CT `<module>.<capability>`'s declared `outputs` cannot be sealed (it declares
 * `RESERVED_RESULT_FIELD`), or null: the compiler reports it as `E_COMPILE_SCHEMA` at the step
 * that calls the CT.
 */
export function userCtOutputsProblem(module: string, capability: string, outputs: readonly string[]): string | null {
  if (!outputs.includes(RESERVED_RESULT_FIELD)) return null;
  return `user CT ${module}.${capability} declares the output ${JSON.stringify(RESERVED_RESULT_FIELD)}, which no result may carry (a node's result never holds it; a user CT's outcome is SUCCESS when run returns, VIOLATION when it throws)`;
}

export interface UserCtDescriptor {
  readonly outputs: readonly string[];
}

export interface UserModule {
  /** The CommonJS bundle text (esbuild output). */
  readonly code: string;
  /** sha256 of the UTF-8 bytes of `code`. */
  readonly digest: Digest;
  /** The registered CTs (name → outputs), sorted by name. */
  readonly capabilities: Readonly<Record<string, UserCtDescriptor>>;
}

function isBuildFailure(err: unknown): err is BuildFailure {
  return err instanceof Error && Array.isArray((err as Partial<BuildFailure>).errors);
}

/** `pluginData` of the plugin's own `build.resolve` call (its `onResolve` then steps aside). */
const OWN_FILES_INNER = Symbol("cairn-own-files-inner");

/**
 * Resolves every import (and the entry) with esbuild's own resolver, unchanged, but hands a
 * file outside node_modules back as a bare path: esbuild then applies no package.json
 * `sideEffects` or `type` to it (they come with its resolver's result only). Packages under
 * node_modules, failures and anything else are left to esbuild (resolved again, as without the
 * plugin), so their package.json still applies and errors are reported at the import.
 */
const ownFilesPlugin: Plugin = {
  name: "cairn-own-files",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === OWN_FILES_INNER) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, namespace: args.namespace, with: args.with, pluginData: OWN_FILES_INNER });
      if (r.errors.length > 0 || r.external || r.namespace !== "file" || r.path === "" || r.path.split(/[\\/]/).includes("node_modules")) return undefined;
      return { path: r.path, ...(r.suffix === "" ? {} : { suffix: r.suffix }) };
    });
  },
};

/**
 * Bundles a capability module (compile time). Errors: `E_COMPILE_MODULE` with a readable message.
 * `inputs`: the absolute paths of the files esbuild read for it (the entry and what it imports),
 * so that `wf compile --out` can refuse to write over any of them.
 */
export async function bundleCapabilityModule(path: string, shown: string = path): Promise<{ code: string; digest: Digest; inputs: string[] }> {
  let entry: string;
  try {
    entry = await realpath(resolve(path));
    if (!(await stat(entry)).isFile()) throw new Error("not a regular file");
  } catch (err) {
    throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${shown} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { path: shown });
  }
  const whereOf = (m: Message): string =>
    m.location === null ? shown : `${shown}${m.location.file.endsWith(entry.slice(dirname(entry).length + 1)) ? "" : ` (${m.location.file})`}:${m.location.line}:${m.location.column + 1}`;
  let code: string;
  let inputs: string[];
  try {
    const r = await build({
      entryPoints: [entry],
      absWorkingDir: dirname(entry),
      bundle: true,
      platform: "neutral",
      mainFields: ["module", "main"],
      format: "cjs",
      target: "es2022",
      // Fixed compiler options instead of the nearest tsconfig.json: the bundle (and so the
      // snapshot digest) must not depend on where the module lives.
      tsconfigRaw: { compilerOptions: { strict: true } },
      // …and no package.json `sideEffects` / `type` for the module's own files (see above).
      plugins: [ownFilesPlugin, regularFilesOnly],
      write: false,
      sourcemap: false,
      legalComments: "none",
      charset: "ascii",
      metafile: true,
      logLevel: "silent",
    });
    // In a CommonJS bundle esbuild replaces `import.meta` with an empty object (a warning):
    // `import.meta.url` would silently be undefined. The module has no URL (it is evaluated
    // from the snapshot's text), so it is refused where it appears.
    const meta = r.warnings.find((w) => w.id === "empty-import-meta");
    if (meta !== undefined) {
      throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${whereOf(meta)}: import.meta is not available in a capability module (it is evaluated from the sealed snapshot's text and has no module URL)`, { path: shown });
    }
    const [out] = r.outputFiles;
    if (out === undefined || r.outputFiles.length !== 1) throw new Error(`esbuild produced ${r.outputFiles.length} files`);
    code = out.text;
    // The metafile's input paths are relative to absWorkingDir (a namespace prefix for virtual modules, skipped).
    inputs = Object.keys(r.metafile.inputs).filter((k) => !/^[a-z-]+:/.test(k)).map((k) => resolve(dirname(entry), k));
  } catch (err) {
    if (err instanceof CairnError) throw err;
    if (isBuildFailure(err) && err.errors.length > 0) {
      const m = err.errors[0] as Message;
      throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${whereOf(m)}: ${m.text}`, { path: shown });
    }
    throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${shown} cannot be bundled: ${(err as Error).message}`, { path: shown });
  }
  if (Buffer.byteLength(code, "utf8") > USER_CT_MAX_BUNDLE_BYTES) {
    throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${shown}: the bundle is larger than ${USER_CT_MAX_BUNDLE_BYTES} bytes`, { path: shown });
  }
  return { code, digest: sha256(code), inputs };
}

/** Four uint32 seed words of xoshiro128** for one call. */
function seedWords(seedKey: string): number[] {
  const h = createHash("sha256").update(seedKey, "utf8").digest();
  const words: number[] = [0, 4, 8, 12].map((i) => h.readUInt32LE(i));
  if (!words.some((w) => w !== 0)) words[0] = 1;
  return words;
}

/**
 * The prelude run in each fresh context before the module: logical Date, seeded Math.random,
 * pinned locale (en-US) and time zone (UTC) for Intl and the `toLocale*` / `localeCompare`
 * methods, error stacks limited to the frames of `file` (the module's script), and the entry
 * point the host calls (`__cairn_entry`). Only strings cross the
 * boundary, in both directions: the entry point catches everything the module throws and
 * stringifies it **inside** the context (under the call's time bound), so the host never reads
 * a property of a value made by user code.
 */
function prelude(seed: readonly number[], file: string): string {
  return `"use strict";
(function () {
  const FIXED = ${USER_CT_LOGICAL_TIME_MS};
  const LOCALE = "en-US";
  const TZ = "UTC";
  const RealDate = Date;
  const FixedDate = new Proxy(RealDate, {
    construct(target, args, newTarget) { return Reflect.construct(target, args.length === 0 ? [FIXED] : args, newTarget); },
    apply() { return dateString(FIXED); },
  });
  RealDate.now = function now() { return FIXED; };
  Object.defineProperty(RealDate.prototype, "constructor", { value: FixedDate, writable: true, enumerable: false, configurable: true });
  globalThis.Date = FixedDate;
  // Locale and time zone: never the host's. The rules of the batch sandbox
  // (src/batch/sandbox/locale.ts): en-US when no locale is given, and en-US appended to a given
  // tag or list as the last fallback — ICU falls back to the process's default locale (the
  // host's LANG / LC_ALL) when none of the requested ones is available ([], "und", "zz") —;
  // toLocaleUpper/LowerCase take one locale (the first of a list): en-US for none or [].
  const apply = Reflect.apply;
  const canonical = Intl.getCanonicalLocales;
  const isArray = Array.isArray;
  const loc = (l) => {
    if (l === undefined) return LOCALE;
    const c = typeof l === "string" ? [l] : canonical(l);
    const out = [];
    for (let i = 0; i < c.length; i++) out[i] = c[i];
    out[c.length] = LOCALE;
    return out;
  };
  const caseLoc = (l) => (l === undefined || (isArray(l) && l.length === 0) ? LOCALE : l);
  // Date#toString / #toTimeString / Date(): the time-zone name in en-US, not in the host's locale
  // ("(Koordinierte Weltzeit)" under de_DE): the batch sandbox's pinDateStrings
  // (src/core/date-strings.ts), self-contained, evaluated in this realm with its real Intl.
  const dateString = (${PIN_DATE_STRINGS_SOURCE})(RealDate, Intl.DateTimeFormat);
  const withTz = (o) => (o === undefined ? { timeZone: TZ } : (o !== null && typeof o === "object" && o.timeZone === undefined) ? Object.create(o, { timeZone: { value: TZ, enumerable: true } }) : o);
  const pin = (C, tz) => new Proxy(C, {
    construct(target, args, newTarget) { const a = args.slice(); a[0] = loc(a[0]); if (tz) a[1] = withTz(a[1]); return Reflect.construct(target, a, newTarget); },
    apply(target, self, args) { const a = args.slice(); a[0] = loc(a[0]); if (tz) a[1] = withTz(a[1]); return Reflect.apply(target, self, a); },
  });
  for (const name of Object.getOwnPropertyNames(Intl)) {
    const C = Intl[name];
    if (typeof C !== "function" || !/^[A-Z]/.test(name) || name === "Locale") continue;
    const P = pin(C, name === "DateTimeFormat");
    Object.defineProperty(Intl, name, { value: P, writable: true, enumerable: false, configurable: true });
    if (C.prototype && Object.prototype.hasOwnProperty.call(C.prototype, "constructor")) Object.defineProperty(C.prototype, "constructor", { value: P, writable: true, enumerable: false, configurable: true });
  }
  const wrap = (proto, name, tz, localeArg, pinLoc) => {
    const f = proto[name];
    if (typeof f !== "function") return;
    Object.defineProperty(proto, name, { value: { [name](...args) { const a = args.slice(); a[localeArg] = pinLoc(a[localeArg]); if (tz) a[localeArg + 1] = withTz(a[localeArg + 1]); return apply(f, this, a); } }[name], writable: true, enumerable: false, configurable: true });
  };
  wrap(Number.prototype, "toLocaleString", false, 0, loc);
  wrap(BigInt.prototype, "toLocaleString", false, 0, loc);
  wrap(Array.prototype, "toLocaleString", false, 0, loc);
  for (const m of ["toLocaleString", "toLocaleDateString", "toLocaleTimeString"]) wrap(RealDate.prototype, m, true, 0, loc);
  wrap(String.prototype, "localeCompare", false, 1, loc);
  wrap(String.prototype, "toLocaleUpperCase", false, 0, caseLoc);
  wrap(String.prototype, "toLocaleLowerCase", false, 0, caseLoc);
  const dtf = Intl.DateTimeFormat.prototype;
  const fmtGet = Object.getOwnPropertyDescriptor(dtf, "format").get;
  Object.defineProperty(dtf, "format", { configurable: true, get() { const f = fmtGet.call(this); return (d) => f(d === undefined ? FIXED : d); } });
  const ftp = dtf.formatToParts;
  dtf.formatToParts = function (d) { return ftp.call(this, d === undefined ? FIXED : d); };
  let a = ${seed[0]} | 0, b = ${seed[1]} | 0, c = ${seed[2]} | 0, d = ${seed[3]} | 0;
  Math.random = function random() {
    const t = b << 9;
    let r = Math.imul(b, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = (d << 11) | (d >>> 21);
    return (r >>> 0) / 4294967296;
  };
  // Error stacks: the frames of the module's own code only (file STACK_FILE, lines and columns
  // of the bundle text), never a frame of Cairn or of the host, so no install path reaches a
  // result. The formatter is V8's hook (Node calls the context's Error.prepareStackTrace); it
  // and the global Error are locked, so user code never sees a host CallSite. The frame limit
  // is pinned (V8's default, 10): the context's starts as the process's --stack-trace-limit.
  const STACK_FILE = ${JSON.stringify(file)};
  const errorToString = Error.prototype.toString;
  const prepareStackTrace = function prepareStackTrace(error, frames) {
    let text = apply(errorToString, error, []);
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (f.getFileName() === STACK_FILE) text += "\\n    at " + f.toString();
    }
    return text;
  };
  Object.defineProperty(Error, "prepareStackTrace", { value: prepareStackTrace, writable: false, enumerable: false, configurable: false });
  Error.stackTraceLimit = 10;
  Object.defineProperty(globalThis, "Error", { value: Error, writable: false, enumerable: false, configurable: false });
})();
var module = { exports: {} };
var exports = module.exports;
globalThis.__cairn_entry = (function () {
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const keys = Object.keys;
  const isArray = Array.isArray;
  const hasOwn = Object.prototype.hasOwnProperty;
  const Str = String;
  const ErrorProto = Error.prototype;
  const protoOf = Object.getPrototypeOf;
  const ownDesc = Object.getOwnPropertyDescriptor;
  const isFiniteNumber = Number.isFinite;
  const symbolsOf = Object.getOwnPropertySymbols;
  const isEnumerable = Object.prototype.propertyIsEnumerable;
  const ObjectProto = Object.prototype;
  const ArrayProto = Array.prototype;
  const SetCtor = Set;
  const setHas = Set.prototype.has;
  const setAdd = Set.prototype.add;
  const setDelete = Set.prototype.delete;
  const applyFn = Reflect.apply;
  const regexpTest = RegExp.prototype.test;
  const INTEGER_TEXT_RE = /^-?\\d+$/;
  const MAX_SAFE = 9007199254740991;
  class Contract { constructor(message) { this.message = message; } }
  // The text of a thrown value, computed here (under the call's time bound): a getter or a
  // toString that never returns times out instead of hanging the host.
  function textOf(e) {
    if (typeof e === "string") return e;
    if (e !== null && (typeof e === "object" || typeof e === "function")) {
      const m = e.message;
      if (typeof m === "string") return m;
      return Str(e);
    }
    return Str(e);
  }
  function caps() {
    const c = module.exports && module.exports.capabilities;
    if (c === null || typeof c !== "object") throw new Contract("the module does not export a 'capabilities' object");
    return c;
  }
  function describe() {
    const c = caps();
    const out = {};
    for (const name of keys(c).sort()) {
      const x = c[name];
      if (x === null || typeof x !== "object" || typeof x.run !== "function") throw new Contract("capabilities." + name + " must be an object with a run function");
      const o = x.outputs;
      if (!isArray(o) || !o.every((v) => typeof v === "string")) throw new Contract("capabilities." + name + ".outputs must be an array of strings");
      out[name] = { outputs: o.slice() };
    }
    return out;
  }
  // A member's path in a result, after $.results.<node>: v[0].a, or v["a b"] for another name.
  function memberPath(path, k) {
    let plain = k.length > 0 && !(k[0] >= "0" && k[0] <= "9") && k[0] !== "-";
    for (let i = 0; i < k.length && plain; i++) {
      const ch = k[i];
      plain = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9") || ch === "_" || ch === "-";
    }
    return plain ? (path === "" ? k : path + "." + k) : path + "[" + stringify(k) + "]";
  }
  function className(o, proto) {
    const ctor = proto === null ? undefined : proto.constructor;
    return typeof ctor === "function" && typeof ctor.name === "string" && ctor.name !== "" ? ctor.name : "an unnamed class";
  }
  // The first value (in JSON.stringify's order) that the result's JSON text would not hold
  // unchanged — stringify would drop it, turn it into null or into other text, or read back as
  // another number —, or null. Iterative (a linked stack), cycles found on the path.
  function nonJson(root) {
    const onPath = new SetCtor();
    let top = { v: root, path: "", exit: false, next: null };
    while (top !== null) {
      const f = top;
      top = f.next;
      const v = f.v;
      if (f.exit) { applyFn(setDelete, onPath, [v]); continue; }
      const t = typeof v;
      if (v === null || t === "string" || t === "boolean") continue;
      if (t === "number") {
        if (!isFiniteNumber(v)) return { path: f.path, what: Str(v) };
        // Only what JSON writes as an integer literal (6.02e+23 is read back as the same float).
        if ((v > MAX_SAFE || v < -MAX_SAFE) && applyFn(regexpTest, INTEGER_TEXT_RE, [Str(v)])) return { path: f.path, what: "the number " + Str(v) + ", an integer beyond ±(2^53−1): its JSON text is an integer literal, read back as an integer that need not be the one computed" };
        continue;
      }
      if (t === "bigint") return { path: f.path, what: "the BigInt " + Str(v) + "n" };
      if (t !== "object") return { path: f.path, what: t === "undefined" ? "undefined" : "a " + t };
      const arr = isArray(v);
      const proto = protoOf(v);
      if (arr ? proto !== ArrayProto : proto !== ObjectProto && proto !== null) return { path: f.path, what: "an object of class " + className(v, proto) + " (not a plain object or array)" };
      if (typeof v.toJSON === "function") return { path: f.path, what: "an object with a toJSON method" };
      if (applyFn(setHas, onPath, [v])) return { path: f.path, what: "a cyclic reference" };
      applyFn(setAdd, onPath, [v]);
      top = { v: v, path: f.path, exit: true, next: top };
      if (arr) {
        for (let i = v.length - 1; i >= 0; i--) top = { v: v[i], path: f.path + "[" + i + "]", exit: false, next: top };
      } else {
        const syms = symbolsOf(v);
        for (let i = 0; i < syms.length; i++) {
          if (applyFn(isEnumerable, v, [syms[i]])) return { path: f.path, what: "a member keyed by a symbol (" + Str(syms[i]) + ")" };
        }
        const ks = keys(v);
        for (let i = ks.length - 1; i >= 0; i--) top = { v: v[ks[i]], path: memberPath(f.path, ks[i]), exit: false, next: top };
      }
    }
    return null;
  }
  function call(name, inputJson, step) {
    const c = caps();
    if (!hasOwn.call(c, name)) throw new Contract("no capability " + name);
    const r = c[name].run(parse(inputJson));
    if (r !== null && (typeof r === "object" || typeof r === "function") && typeof r.then === "function") throw new Contract("user CTs must be synchronous: " + name + " returned a promise");
    if (r === null || typeof r !== "object" || isArray(r)) throw new Contract(name + " must return a JSON object, got " + (r === null ? "null" : isArray(r) ? "an array" : typeof r));
    const bad = nonJson(r);
    if (bad !== null) {
      throw new Contract((step === "" ? "" : "step " + step + ": ") + "its result holds " + bad.what + " at " + (bad.path === "" ? "the top level" : bad.path) + ", which JSON text cannot hold unchanged (a result must be JSON data: no NaN, Infinity, undefined, function, symbol, BigInt, integer beyond ±(2^53−1), class instance or cycle)");
    }
    const text = stringify(r);
    if (typeof text !== "string") throw new Contract(name + " returned a value that is not JSON");
    return text;
  }
  return function entry(wrapper, what, name, inputJson, step) {
    try {
      wrapper(module, exports);
      if (what === "describe") return stringify({ ok: true, value: stringify(describe()) });
      return stringify({ ok: true, value: call(name, inputJson, step) });
    } catch (e) {
      const contract = e instanceof Contract;
      let message;
      try { message = textOf(e); } catch (e2) { message = "a thrown value that cannot be turned into text"; }
      if (typeof message !== "string") message = "a thrown value that cannot be turned into text";
      return stringify({ ok: false, contract: contract, message: message });
    }
  };
})();
`;
}

/** The result of the in-context entry point (JSON text made inside the context). */
type EntryResult = { ok: true; value: string } | { ok: false; contract: boolean; message: string };

/**
 * An engine- or host-made error (e.g. the vm time-out, which Node creates in the context's
 * realm), found without running any trap or getter of user code: a native error that is not a
 * proxy. User code's own throws never reach the host (the entry point catches them).
 */
function hostError(err: unknown): Error | undefined {
  if (err === null || typeof err !== "object" || types.isProxy(err) || !types.isNativeError(err)) return undefined;
  return err as Error;
}

/** The own data property `name` of a host-realm error (never a getter). */
function ownData(err: Error, name: string): unknown {
  const d = Object.getOwnPropertyDescriptor(err, name);
  return d !== undefined && "value" in d ? d.value : undefined;
}

function isTimeout(err: unknown): boolean {
  const e = hostError(err);
  return e !== undefined && ownData(e, "code") === "ERR_SCRIPT_EXECUTION_TIMEOUT";
}

/** `Promise.prototype` of every user-CT context made (weakly held). */
const contextPromiseProtos = new WeakSet<object>();
let rejectionGuardInstalled = false;

/**
 * Installs, once per process, an `unhandledRejection` listener that ignores the rejections of
 * promises made in a user-CT context (their prototype is a context's `Promise.prototype`). Any
 * other unhandled rejection is left to the host: when no other listener exists it is thrown
 * as an uncaught exception, which is what Node does by default (`--unhandled-rejections=throw`),
 * so installing the guard does not hide the host's own rejections. A module that reshapes its
 * promises' prototypes escapes the guard (`node:vm` is not a security boundary, below).
 */
function guardContextRejections(): void {
  if (rejectionGuardInstalled) return;
  rejectionGuardInstalled = true;
  process.on("unhandledRejection", (reason, promise) => {
    if (contextPromiseProtos.has(Object.getPrototypeOf(promise) as object)) return;
    if (process.listenerCount("unhandledRejection") > 1) return; // the host handles its own
    throw reason instanceof Error ? reason : new Error(`unhandled promise rejection: ${String(reason)}`);
  });
}

/** A compiled module: the vm scripts, reused for every call (each call gets a new context). */
export class UserModuleRunner {
  private readonly script: vm.Script;
  /** The file name of the module's frames in error stacks (the only frames a stack shows). */
  readonly stackFile: string;

  constructor(readonly name: string, code: string) {
    this.stackFile = `cairn-module:${name}`;
    // lineOffset -1: the wrapper's first line is line 0, so a frame's line is the bundle text's.
    this.script = new vm.Script(`(function (module, exports) {\n${code}\n})`, { filename: this.stackFile, lineOffset: -1 });
  }

  /**
   * One call in a fresh context, under ONE deadline (USER_CT_TIMEOUT_MS) for prelude, module
   * evaluation and the call together. Throws the host-realm vm time-out error on time-out.
   */
  private enter(seedKey: string, what: "describe" | "call", capability: string, inputJson: string, step = ""): EntryResult {
    const deadline = performance.now() + USER_CT_TIMEOUT_MS;
    const left = (): number => Math.max(1, Math.floor(deadline - performance.now()));
    // The global is a null-prototype object: a host-realm `{}` would make
    // `globalThis.constructor.constructor` the host's Function (and so the host `process`).
    // afterEvaluate: promise jobs the module queues run inside each runInContext call (and the
    // call's deadline), never later on the host's queue.
    const ctx = vm.createContext(Object.create(null) as object, { name: `cairn-ct:${this.name}`, microtaskMode: "afterEvaluate" });
    guardContextRejections();
    contextPromiseProtos.add(vm.runInContext("Promise.prototype", ctx) as object);
    vm.runInContext(prelude(seedWords(seedKey), this.stackFile), ctx, { timeout: left() });
    // The module's wrapper function is made in the context (a context-realm function); the
    // arguments travel as string literals in the script text.
    (ctx as Record<string, unknown>).__cairn_w = this.script.runInContext(ctx, { timeout: left() }) as unknown;
    const call = `(function (f, w) { delete globalThis.__cairn_entry; delete globalThis.__cairn_w; return f(w, ${JSON.stringify(what)}, ${JSON.stringify(capability)}, ${JSON.stringify(inputJson)}, ${JSON.stringify(step)}); })(__cairn_entry, __cairn_w)`;
    const text = vm.runInContext(call, ctx, { timeout: left() }) as unknown;
    if (typeof text !== "string") throw new Error("internal: the user CT entry point returned no text");
    return JSON.parse(text) as EntryResult;
  }

  /** The registered CTs (compile time). Throws `E_COMPILE_MODULE`. */
  describe(): Record<string, UserCtDescriptor> {
    let r: EntryResult;
    try {
      r = this.enter("describe", "describe", "", "null");
    } catch (err) {
      const why = isTimeout(err) ? `evaluating the module ran longer than ${USER_CT_TIMEOUT_MS} ms` : hostMessage(err);
      throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${this.name}: ${why}`, { module: this.name });
    }
    if (!r.ok) throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${this.name}: ${r.message}`, { module: this.name });
    const caps = JSON.parse(r.value) as unknown;
    const ok = caps !== null && typeof caps === "object" && !Array.isArray(caps) && Object.values(caps).every((c) => c !== null && typeof c === "object" && Array.isArray((c as { outputs?: unknown }).outputs) && ((c as { outputs: unknown[] }).outputs).every((o) => typeof o === "string"));
    if (!ok) throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${this.name}: its capabilities do not describe as {outputs: string[]}`, { module: this.name });
    return caps as Record<string, UserCtDescriptor>;
  }

  /**
   * Runs CT `capability` over `input` (plain JSON text made from the resolved inputs).
   * Returns the result or the violation message; a time-out throws `E_LIMIT_EXCEEDED`. A
   * result its JSON text would not hold unchanged (NaN, ±Infinity, undefined, a function,
   * symbol or BigInt, an integer beyond ±(2^53−1), a class instance, a `toJSON` method, a cycle)
   * is a contract violation naming `step` (the step id, when given) and the first such value's
   * path — never rewritten by `JSON.stringify`. So is a result holding `RESERVED_RESULT_FIELD`
   * (the outcome is how `run` ends, and a node's result never carries that member).
   *
   * `shown`: the CT as the declaration names it (`<module alias>.<capability>`, the step's
   * `ct:`), which the time-out error (and so the run's trace) names. A runner is made per bundle
   * (run.ts `prepareSnapshot`, keyed by digest: two aliases may name one bundle), so only the
   * caller knows the alias; without it the error names `<this.name>.<capability>`.
   */
  call(capability: string, input: PyValue, seedKey: string, step = "", shown = `${this.name}.${capability}`): { ok: true; value: PyValue } | { ok: false; error: string; raised: boolean } {
    let r: EntryResult;
    try {
      r = this.enter(seedKey, "call", capability, compactJson(input), step);
    } catch (err) {
      if (isTimeout(err)) {
        throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `user CT ${shown} ran longer than ${USER_CT_TIMEOUT_MS} ms`, { reason: "ct_timeout", limit: USER_CT_TIMEOUT_MS });
      }
      return { ok: false, error: hostMessage(err), raised: false };
    }
    // `raised`: the CT itself threw (a rule violation, like an atom's raise); otherwise the
    // module broke the contract (non-object result, promise…).
    if (!r.ok) return { ok: false, error: r.message, raised: !r.contract };
    let value: PyValue;
    try {
      value = parsePyJson(r.value);
    } catch (err) {
      return { ok: false, error: `returned invalid JSON: ${hostMessage(err)}`, raised: false };
    }
    if (value instanceof Map && value.has(RESERVED_RESULT_FIELD)) {
      return { ok: false, error: `${step === "" ? "" : `step ${step}: `}its result holds ${JSON.stringify(RESERVED_RESULT_FIELD)}, a member no result may carry (the outcome is SUCCESS when run returns, VIOLATION when it throws)`, raised: false };
    }
    return { ok: true, value };
  }
}

/** The message of a value thrown to the host: only a host-realm Error's own data `message` is read. */
function hostMessage(err: unknown): string {
  const e = hostError(err);
  if (e !== undefined) {
    const m = ownData(e, "message");
    if (typeof m === "string") return m;
  }
  if (typeof err === "string") return err;
  return "the module failed with a value that is not a host error";
}
