/**
 * CS_REGISTRY_V0 (SEMANTICS C.2): symbolic key → (address, target_cs, target_ref) bindings in
 * a JSON-lines file (even when named `*.json`), one record per line in the *spaced*
 * serialisation, `\n`-terminated:
 *
 *   {"key": "K", "address": "ADDR_<32 hex>", "target_cs": "…", "target_ref": "…"}
 *   {"key": "K", "address": "ADDR_<32 hex>", "tombstone": true}
 *
 * Record member order: key, address, target_cs (if not null), target_ref (if not null), then
 * every member of `value` (if not null; may overwrite key/address). The state is rebuilt from
 * the file before every operation (tombstone removes, otherwise last record per key wins;
 * null-key records are skipped). Deviation: addresses are content-derived, not uuid4 (see
 * context.ts); a torn last line is refused with BACKEND_ERROR (see jsonl.ts).
 */
import { sha256 } from "../../core/digest.js";
import { confineAbsolute, preparePath, type PreparedPath } from "./confine.js";
import { appendDurable, createEmptyIfAbsent, readData } from "./fsio.js";
import { inputError, osErrorText } from "./errors.js";
import { defineCsRuntime, requirePathConfig, status, type EffectDraft, type Method, type MethodResult } from "./host.js";
import { decodeUtf8, splitLines, tornTail, tornTailMessage } from "./jsonl.js";
import { canonicalJson, parsePyJson, spacedJson } from "../py/json.js";
import { getOrNull, isDict, isPyBlank, pyEquals, pyHashKey, type PyDict, type PyValue } from "../py/value.js";

/** Address shape: `ADDR_` + ADDRESS_HEX_DIGITS lowercase hex digits. */
export const ADDRESS_PREFIX = "ADDR_";
export const ADDRESS_HEX_DIGITS = 32;
const WHERE = "CS_REGISTRY_V0";

type Rec = PyDict;
interface Loaded {
  readonly state: Map<string, Rec>;
  /** Non-blank lines in the file (the `seq` of the next address). */
  readonly nonBlank: number;
}

/** The deterministic address of the `seq`-th registration of `key` (SEMANTICS C.2 recommended scheme). */
export function registryAddress(key: PyValue, seq: number): string {
  const canonical = canonicalJson(new Map<string, PyValue>([["key", key], ["seq", BigInt(seq)]]));
  return ADDRESS_PREFIX + sha256(canonical).slice("sha256:".length, "sha256:".length + ADDRESS_HEX_DIGITS);
}

/** Rebuilds the state; returns an error message instead when the file cannot be used. */
function rebuild(bytes: Buffer, rel: string): Loaded | string {
  const torn = tornTail(bytes);
  if (torn !== undefined) return tornTailMessage(rel, torn);
  let lines: string[];
  try {
    lines = splitLines(decodeUtf8(bytes));
  } catch (err) {
    return `${JSON.stringify(rel)} is not valid UTF-8: ${(err as Error).message}`;
  }
  const state = new Map<string, Rec>();
  let nonBlank = 0;
  for (const [i, line] of lines.entries()) {
    if (isPyBlank(line)) continue;
    nonBlank++;
    let rec: PyValue;
    try {
      rec = parsePyJson(line, { allowNonFiniteConstants: true });
    } catch (err) {
      return `${JSON.stringify(rel)} line ${i + 1}: ${(err as Error).message}`;
    }
    if (!(rec instanceof Map)) return `${JSON.stringify(rel)} line ${i + 1}: not a JSON object`;
    const key = rec.get("key") ?? null;
    if (key === null) continue;
    const dk = pyHashKey(key);
    if (dk === undefined) return `${JSON.stringify(rel)} line ${i + 1}: unhashable key`;
    const slot = dk ?? `nan#${i}`;
    if (rec.get("tombstone") === true) state.delete(slot);
    else state.set(slot, rec);
  }
  return { state, nonBlank };
}

function find(state: Map<string, Rec>, kov: PyValue): Rec | undefined {
  for (const rec of state.values()) {
    if (pyEquals(rec.get("key") ?? null, kov) || pyEquals(rec.get("address") ?? null, kov)) return rec;
  }
  return undefined;
}

function lineOf(rec: Rec): Buffer {
  return Buffer.from(`${spacedJson(rec)}\n`, "utf8");
}

function backend(prepared: PreparedPath, created: boolean, sync: boolean) {
  const rel = prepared.rel;
  const read = (): { bytes: Buffer; loaded: Loaded | string } => {
    let bytes: Buffer;
    try {
      bytes = readData(prepared) ?? Buffer.alloc(0);
    } catch (err) {
      return { bytes: Buffer.alloc(0), loaded: `cannot read ${JSON.stringify(rel)}: ${osErrorText(err)}` };
    }
    return { bytes, loaded: rebuild(bytes, rel) };
  };
  const observed = (bytes: Buffer): EffectDraft => ({ action: "read", path: rel, bytes, created });
  const appended = (bytes: Buffer): EffectDraft => {
    appendDurable(prepared, bytes, sync);
    return { action: "append", path: rel, bytes, created };
  };
  /** Runs `body` on a successfully rebuilt state, or reports BACKEND_ERROR. */
  const withState =
    (body: (l: Loaded, payload: PyDict, seen: Buffer) => MethodResult): Method =>
    (payload) => {
      const { bytes, loaded } = read();
      if (typeof loaded === "string") return { result: status("BACKEND_ERROR", { message: loaded }), effect: observed(bytes) };
      return body(loaded, payload, bytes);
    };

  const register = withState((l, payload, seen) => {
    if (!payload.has("key")) return { result: status("VIOLATION"), effect: observed(seen) };
    const key = getOrNull(payload, "key");
    const dk = pyHashKey(key);
    if (dk === undefined) throw inputError(`${WHERE} REGISTER: key must be a scalar, got an ${Array.isArray(key) ? "array" : "object"} (unhashable)`);
    if (dk !== null && l.state.has(dk)) return { result: status("ALREADY_EXISTS"), effect: observed(seen) };
    const value = getOrNull(payload, "value");
    if (value !== null && !isDict(value)) throw inputError(`${WHERE} REGISTER: value must be an object or null`);
    const address = registryAddress(key, l.nonBlank);
    const rec = new Map<string, PyValue>([["key", key], ["address", address]]);
    for (const name of ["target_cs", "target_ref"]) {
      const v = getOrNull(payload, name);
      if (v !== null) rec.set(name, v);
    }
    if (value !== null) for (const [k, v] of value) rec.set(k, v);
    return { result: status("SUCCESS", { address }), effect: appended(lineOf(rec)) };
  });

  const lookup = (body: (l: Loaded, kov: PyValue, seen: Buffer) => MethodResult): Method =>
    withState((l, payload, seen) => {
      if (!payload.has("key_or_address")) return { result: status("VIOLATION"), effect: observed(seen) };
      return body(l, getOrNull(payload, "key_or_address"), seen);
    });

  const resolve = lookup((l, kov, seen) => {
    const rec = find(l.state, kov);
    if (rec === undefined) return { result: status("NOT_FOUND"), effect: observed(seen) };
    const member = (n: string): PyValue => (rec.has(n) ? (rec.get(n) ?? null) : "");
    return { result: status("SUCCESS", { target_cs: member("target_cs"), target_ref: member("target_ref") }), effect: observed(seen) };
  });

  const exists = lookup((l, kov, seen) => ({ result: status("SUCCESS", { exists: find(l.state, kov) !== undefined }), effect: observed(seen) }));

  const deregister = lookup((l, kov, seen) => {
    const rec = find(l.state, kov);
    if (rec === undefined) return { result: status("NOT_FOUND"), effect: observed(seen) };
    const tomb = new Map<string, PyValue>([
      ["key", rec.get("key") ?? null],
      ["address", rec.get("address") ?? null],
      ["tombstone", true],
    ]);
    return { result: status("SUCCESS"), effect: appended(lineOf(tomb)) };
  });

  return { methods: Object.freeze({ register, resolve, exists, deregister }), ...(created ? { constructed: { action: "create" as const, path: rel, bytes: Buffer.alloc(0), created } } : {}) };
}

export const REGISTRY_RUNTIME = defineCsRuntime({
  capability: "CS_REGISTRY_V0",
  handlerRef: { module: "pgs_side_effects.implementation.side_effects.persistent.CS_REGISTRY_V0.runtime", callable: "RegistryRuntime" },
  referenceMethods: ["register", "resolve", "exists", "deregister"],
  requiresOperationsMetadata: false,
  construct(config, ctx) {
    const confined = confineAbsolute(ctx.dataRoot, requirePathConfig(config, WHERE));
    const sync = ctx.durability !== "no-fsync";
    const prepared = preparePath(confined, true, sync, ctx.checkedDirs);
    const created = createEmptyIfAbsent(prepared, sync);
    return backend(created ? preparePath(confined, false, sync, ctx.checkedDirs) : prepared, created, sync);
  },
});
