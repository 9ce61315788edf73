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
 * those fields. Anything thrown, a non-object, a non-JSON value or a returned promise is a
 * VIOLATION (with the message in the trace). Outcome set: SUCCESS, VIOLATION.
 *
 * ## Bundling (compile time)
 *
 * esbuild, with the batch engine's determinism settings (src/batch/sandbox/bundle.ts: paths
 * relative to the entry's directory, no source maps, no legal comments, ASCII output) but
 * `format: "cjs"`, `platform: "neutral"` and fixed TypeScript options (`strict`; no
 * tsconfig.json is consulted, so the bundle does not depend on where the module lives): Node builtins do not resolve, so a module that
 * imports `fs`, `crypto`… fails to compile (`E_COMPILE_MODULE`) instead of failing at run
 * time. The bundle text is stored in the sealed snapshot (and as a store artifact); its SHA-256
 * is the module's identity. The runtime never imports or resolves anything: it evaluates the
 * sealed text with `vm.Script`.
 *
 * ## The guarantee, honestly
 *
 * Every call runs in a **new** vm context (so no state survives between calls, runs or steps)
 * whose global object holds only the ECMAScript built-ins, with:
 *  - `Date`: `new Date()` / `Date.now()` / `Date()` give the logical time
 *    (USER_CT_LOGICAL_TIME_MS = 2025-01-01T00:00:00Z); `Intl.DateTimeFormat#format()` without a
 *    date too;
 *  - `Math.random`: xoshiro128** seeded from SHA-256 of (trace id, node, step id) — the same
 *    run gives the same stream, another step another stream;
 *  - no `require`, `process`, `Buffer`, timers, `fetch`, `crypto`, `performance`: they are
 *    not defined in the context (V8's own `console` exists but prints nothing);
 *  - promise jobs run inside the call (`microtaskMode: "afterEvaluate"`), never afterwards;
 *  - local-time methods (`getHours`, `toString`…) follow the process time zone, which the CLI
 *    sets to UTC;
 *  - a synchronous time bound (USER_CT_TIMEOUT_MS); exceeding it aborts the run with
 *    `E_LIMIT_EXCEEDED` (reason `ct_timeout`) — a time-out is not a business outcome.
 * So a CT written against these rules is a pure function of its inputs and the run.
 * **Not guaranteed**: `node:vm` is not a security boundary. Code can reach the host realm
 * through objects the host passes in (this implementation passes only strings, but a module
 * exploiting engine bugs or prototype tricks is not contained), memory is not bounded
 * separately, and `WeakRef`/`FinalizationRegistry` timing is not neutralised. Capability
 * modules are trusted code, exactly like batch execution functions; the batch engine's worker
 * threads give a stronger isolation (separate isolate, heap limit) at a cost of milliseconds per
 * call, which is why workflows use vm contexts (a CT call costs well under a millisecond plus
 * module evaluation).
 */
import { createHash } from "node:crypto";
import { realpath, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import vm from "node:vm";
import { build, type BuildFailure, type Message } from "esbuild";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { sha256, type Digest } from "../../core/digest.js";
import { compactJson } from "../py/json.js";
import { parsePyJson } from "../py/json-parse.js";
import type { PyValue } from "../py/value.js";

/** Logical time seen by user CTs: 2025-01-01T00:00:00Z. */
export const USER_CT_LOGICAL_TIME_MS = Date.UTC(2025, 0, 1);
/** Synchronous time bound of one user CT call (module evaluation included). */
export const USER_CT_TIMEOUT_MS = 2_000;
/** Largest bundle accepted. */
export const USER_CT_MAX_BUNDLE_BYTES = 8 * 1024 * 1024;

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

/** Bundles a capability module (compile time). Errors: `E_COMPILE_MODULE` with a readable message. */
export async function bundleCapabilityModule(path: string, shown: string = path): Promise<{ code: string; digest: Digest }> {
  let entry: string;
  try {
    entry = await realpath(resolve(path));
    if (!(await stat(entry)).isFile()) throw new Error("not a regular file");
  } catch (err) {
    throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${shown} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { path: shown });
  }
  let code: string;
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
      write: false,
      sourcemap: false,
      legalComments: "none",
      charset: "ascii",
      metafile: false,
      logLevel: "silent",
    });
    const [out] = r.outputFiles;
    if (out === undefined || r.outputFiles.length !== 1) throw new Error(`esbuild produced ${r.outputFiles.length} files`);
    code = out.text;
  } catch (err) {
    if (isBuildFailure(err) && err.errors.length > 0) {
      const m = err.errors[0] as Message;
      const where = m.location === null ? shown : `${shown}${m.location.file.endsWith(entry.slice(dirname(entry).length + 1)) ? "" : ` (${m.location.file})`}:${m.location.line}:${m.location.column + 1}`;
      throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${where}: ${m.text}`, { path: shown });
    }
    throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${shown} cannot be bundled: ${(err as Error).message}`, { path: shown });
  }
  if (Buffer.byteLength(code, "utf8") > USER_CT_MAX_BUNDLE_BYTES) {
    throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${shown}: the bundle is larger than ${USER_CT_MAX_BUNDLE_BYTES} bytes`, { path: shown });
  }
  return { code, digest: sha256(code) };
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
 * and the two entry points the host calls (`__cairn_describe`, `__cairn_call`). Only strings
 * cross the boundary.
 */
function prelude(seed: readonly number[]): string {
  return `"use strict";
(function () {
  const FIXED = ${USER_CT_LOGICAL_TIME_MS};
  const RealDate = Date;
  const FixedDate = new Proxy(RealDate, {
    construct(target, args, newTarget) { return Reflect.construct(target, args.length === 0 ? [FIXED] : args, newTarget); },
    apply() { return new RealDate(FIXED).toString(); },
  });
  RealDate.now = function now() { return FIXED; };
  Object.defineProperty(RealDate.prototype, "constructor", { value: FixedDate, writable: true, enumerable: false, configurable: true });
  globalThis.Date = FixedDate;
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
})();
class __CairnContractError extends Error {
  constructor(message) { super(message); this.name = "CairnContractError"; }
}
var module = { exports: {} };
var exports = module.exports;
function __cairn_caps() {
  const caps = module.exports && module.exports.capabilities;
  if (caps === null || typeof caps !== "object") throw new Error("the module does not export a 'capabilities' object");
  return caps;
}
function __cairn_describe() {
  const caps = __cairn_caps();
  const out = {};
  for (const name of Object.keys(caps).sort()) {
    const c = caps[name];
    if (c === null || typeof c !== "object" || typeof c.run !== "function") throw new Error("capabilities." + name + " must be an object with a run function");
    if (!Array.isArray(c.outputs) || !c.outputs.every((o) => typeof o === "string")) throw new Error("capabilities." + name + ".outputs must be an array of strings");
    out[name] = { outputs: c.outputs.slice() };
  }
  return JSON.stringify(out);
}
function __cairn_call(name, inputJson) {
  const caps = __cairn_caps();
  if (!Object.prototype.hasOwnProperty.call(caps, name)) throw new __CairnContractError("no capability " + name);
  const r = caps[name].run(JSON.parse(inputJson));
  if (r !== null && (typeof r === "object" || typeof r === "function") && typeof r.then === "function") throw new __CairnContractError("user CTs must be synchronous: " + name + " returned a promise");
  if (r === null || typeof r !== "object" || Array.isArray(r)) throw new __CairnContractError(name + " must return a JSON object, got " + (r === null ? "null" : Array.isArray(r) ? "an array" : typeof r));
  const text = JSON.stringify(r);
  if (typeof text !== "string") throw new __CairnContractError(name + " returned a value that is not JSON");
  return text;
}
`;
}

/** A compiled module: the vm scripts, reused for every call (each call gets a new context). */
export class UserModuleRunner {
  private readonly script: vm.Script;

  constructor(readonly name: string, code: string) {
    this.script = new vm.Script(`(function (module, exports) {\n${code}\n})`, { filename: `cairn-module:${name}` });
  }

  private context(seedKey: string): vm.Context {
    // afterEvaluate: promise jobs the module queues run inside each runInContext call (and its
    // time bound), never later on the host's queue.
    const ctx = vm.createContext({}, { name: `cairn-ct:${this.name}`, microtaskMode: "afterEvaluate" });
    vm.runInContext(prelude(seedWords(seedKey)), ctx, { timeout: USER_CT_TIMEOUT_MS });
    const wrapper = this.script.runInContext(ctx, { timeout: USER_CT_TIMEOUT_MS }) as unknown;
    ctx.__cairn_wrapper = wrapper;
    vm.runInContext("__cairn_wrapper(module, exports); delete globalThis.__cairn_wrapper;", ctx, { timeout: USER_CT_TIMEOUT_MS });
    return ctx;
  }

  /** The registered CTs (compile time). Throws `E_COMPILE_MODULE`. */
  describe(): Record<string, UserCtDescriptor> {
    try {
      const ctx = this.context("describe");
      const text = vm.runInContext("__cairn_describe()", ctx, { timeout: USER_CT_TIMEOUT_MS }) as string;
      return JSON.parse(text) as Record<string, UserCtDescriptor>;
    } catch (err) {
      throw new CairnError(ErrorCode.COMPILE_MODULE, `capability module ${this.name}: ${messageOf(err)}`, { module: this.name });
    }
  }

  /**
   * Runs CT `capability` over `input` (plain JSON text made from the resolved inputs).
   * Returns the result or the violation message; a time-out throws `E_LIMIT_EXCEEDED`.
   */
  call(capability: string, input: PyValue, seedKey: string): { ok: true; value: PyValue } | { ok: false; error: string; raised: boolean } {
    let text: string;
    try {
      const inputJson = compactJson(input);
      const ctx = this.context(seedKey);
      text = vm.runInContext(`__cairn_call(${JSON.stringify(capability)}, ${JSON.stringify(inputJson)})`, ctx, { timeout: USER_CT_TIMEOUT_MS }) as string;
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
        throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `user CT ${this.name}.${capability} ran longer than ${USER_CT_TIMEOUT_MS} ms`, { reason: "ct_timeout", limit: USER_CT_TIMEOUT_MS });
      }
      // `raised`: the CT itself threw (a rule violation, like an atom's raise); otherwise the
      // module broke the contract (non-object result, promise…).
      const contract = err !== null && typeof err === "object" && (err as { name?: unknown }).name === "CairnContractError";
      return { ok: false, error: messageOf(err), raised: !contract };
    }
    try {
      return { ok: true, value: parsePyJson(text) };
    } catch (err) {
      return { ok: false, error: `returned invalid JSON: ${messageOf(err)}`, raised: false };
    }
  }
}

/** The message of a (possibly foreign-realm) thrown value, without calling user code beyond `message`. */
function messageOf(err: unknown): string {
  if (err !== null && typeof err === "object") {
    const m = (err as { message?: unknown }).message;
    if (typeof m === "string") return m;
  }
  if (typeof err === "string") return err;
  return Object.prototype.toString.call(err);
}
