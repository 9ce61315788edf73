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
 * context.ts); a torn last line is refused with BACKEND_ERROR (see jsonl.ts). A file that cannot
 * be read or parsed is BACKEND_ERROR — bare under the reference dialect (as C.2), with the reason
 * as `message` under the declared one (host.ts `backendError`).
 */
import { sha256, type Digest } from "../../core/digest.js";
import { confineAbsolute, preparePath, refuseDirectoryPath, type PreparedPath } from "./confine.js";
import { appendDurable, createEmptyIfAbsent, readDerivedContent } from "./fsio.js";
import type { Derivation } from "./filecache.js";
import { inputError, osErrorText } from "./errors.js";
import { backendError, defineCsRuntime, requirePathConfig, status, type EffectDraft, type Method, type MethodResult } from "./host.js";
import type { OperationDialect } from "./types.js";
import { decodeUtf8, describeTornTail, splitLines, tornTail, tornTailMessage } from "./jsonl.js";
import { canonicalJson, parsePyJson, spacedJson } from "../py/json.js";
import { getOrNull, isDict, isPyBlank, pyEquals, pyHashKey, type PyDict, type PyValue } from "../py/value.js";

/**
 * The members of a registry record that are the record's own (the module comment): `value`'s
 * members are merged after them, so a member of `value` by one of these names replaces it (PGS
 * SEMANTICS C.2 keeps that, and so does this runtime; a Cairn REGISTER refuses such a value
 * before calling it: cairn/run.ts `runStep`, cairn/catalog.ts `RECORD_MEMBERS_FREE`).
 */
export const REGISTRY_RECORD_MEMBERS: readonly string[] = Object.freeze(["key", "address", "target_cs", "target_ref", "tombstone"]);

/** Address shape: `ADDR_` + ADDRESS_HEX_DIGITS lowercase hex digits. */
export const ADDRESS_PREFIX = "ADDR_";
export const ADDRESS_HEX_DIGITS = 32;
const WHERE = "CS_REGISTRY_V0";

type Rec = PyDict;
interface Loaded {
  readonly state: Map<string, Rec>;
  /** Non-blank lines in the file (the `seq` of the next address). */
  nonBlank: number;
  /** All lines in the file (blank ones included: error messages number them). */
  lines: number;
  /** The last byte is `\r` (an appended `\n` would join it). */
  endsWithCR: boolean;
}
/** Why the file cannot be used, as a message naming the file (`rel`). */
interface Unusable {
  readonly problem: (rel: string) => string;
}

/** What a read of the registry saw: its content's digest and size. */
type Seen = { digest: Digest; size: number };
/** An absent registry file, seen as empty. */
const NOTHING: Seen = { digest: sha256(""), size: 0 };

/** Registry states of files up to this size are kept in the file cache (a parsed state takes several times the file's size). */
export const REGISTRY_MEMO_MAX_FILE_BYTES = 4 * 1024 * 1024;
/**
 * The estimate of a kept registry state's memory (`REGISTRY_STATE.retainedBytes`, counted
 * against the file cache's FILE_CACHE_MAX_BYTES): `REGISTRY_STATE_BYTES_PER_FILE_BYTE` bytes per
 * byte of the file plus `REGISTRY_STATE_BYTES_PER_RECORD` per record in the state. The parsed
 * strings are slices of the file's decoded text and keep it alive (about the file's size), and
 * a record costs about 300 bytes plus twice its line. Measured (V8 heap, 3 MiB files): records
 * of 78 bytes 5.9× the file (estimated 6.9×); of 15 bytes 19.9× (22.4×); of 420 bytes 3.7×
 * (3.7×); 100 keys re-registered 1.05× (3.0×). An estimate never below the measurement by more
 * than a few percent keeps the cache's bound; above it, it only caches less.
 */
export const REGISTRY_STATE_BYTES_PER_FILE_BYTE = 3;
export const REGISTRY_STATE_BYTES_PER_RECORD = 300;
/** The deterministic address of the `seq`-th registration of `key` (SEMANTICS C.2 recommended scheme). */
export function registryAddress(key: PyValue, seq: number): string {
  const canonical = canonicalJson(new Map<string, PyValue>([["key", key], ["seq", BigInt(seq)]]));
  return ADDRESS_PREFIX + sha256(canonical).slice("sha256:".length, "sha256:".length + ADDRESS_HEX_DIGITS);
}

/** Adds `lines` (numbered from `first`, 0-based) to `l`, in place; the reason when one cannot be used. */
function addLines(l: Loaded, lines: readonly string[], first: number): Loaded | Unusable {
  for (let j = 0; j < lines.length; j++) {
    const i = first + j;
    const line = lines[j] as string;
    l.lines++;
    if (isPyBlank(line)) continue;
    l.nonBlank++;
    let rec: PyValue;
    try {
      rec = parsePyJson(line, { allowNonFiniteConstants: true });
    } catch (err) {
      const message = (err as Error).message;
      return { problem: (rel) => `${JSON.stringify(rel)} line ${i + 1}: ${message}` };
    }
    if (!(rec instanceof Map)) return { problem: (rel) => `${JSON.stringify(rel)} line ${i + 1}: not a JSON object` };
    const key = rec.get("key") ?? null;
    if (key === null) continue;
    const dk = pyHashKey(key);
    if (dk === undefined) return { problem: (rel) => `${JSON.stringify(rel)} line ${i + 1}: unhashable key` };
    const slot = dk ?? `nan#${i}`;
    if (rec.get("tombstone") === true) l.state.delete(slot);
    else l.state.set(slot, rec);
  }
  return l;
}

/**
 * The registry state rebuilt from the file (tombstone removes, otherwise last record per key
 * wins), kept in the file cache and carried through this process's appends: appended complete
 * lines are parsed and applied in place; anything else (an unusable file, appended bytes that
 * are not whole valid lines) makes the next read rebuild from the bytes.
 */
export const REGISTRY_STATE: Derivation<Loaded | Unusable> = {
  maxFileBytes: REGISTRY_MEMO_MAX_FILE_BYTES,
  retainedBytes(v, fileBytes) {
    return "problem" in v ? 0 : REGISTRY_STATE_BYTES_PER_FILE_BYTE * fileBytes + REGISTRY_STATE_BYTES_PER_RECORD * v.state.size;
  },
  of(bytes) {
    const torn = describeTornTail(bytes);
    if (torn !== undefined) return { problem: (rel) => tornTailMessage(rel, torn) };
    let lines: string[];
    try {
      lines = splitLines(decodeUtf8(bytes));
    } catch (err) {
      const message = (err as Error).message;
      return { problem: (rel) => `${JSON.stringify(rel)} is not valid UTF-8: ${message}` };
    }
    return addLines({ state: new Map(), nonBlank: 0, lines: 0, endsWithCR: bytes.length > 0 && bytes[bytes.length - 1] === 0x0d }, lines, 0);
  },
  extend(prev, appended) {
    if ("problem" in prev || appended.length === 0 || tornTail(appended) !== undefined) return undefined;
    let text: string;
    try {
      text = decodeUtf8(appended);
    } catch {
      return undefined;
    }
    // A `\n` right after a final `\r` ends the same line (`\r\n`), not another one.
    if (prev.endsWithCR && text.startsWith("\n")) text = text.slice(1);
    const out = addLines(prev, splitLines(text), prev.lines);
    if ("problem" in out) return undefined;
    out.endsWithCR = appended[appended.length - 1] === 0x0d;
    return out;
  },
};

/**
 * A value of a rebuilt record as it leaves the runtime: containers copied (deep), scalars as
 * they are. The rebuilt state is shared by every later call and run of this process (it lives
 * in the file cache, `REGISTRY_STATE`), and a result value travels on by reference (CS result →
 * step fields / output mapping → node results → later steps' inputs, atoms); nothing on that
 * way changes a value in place today, but a reference into the cache would let one run's change
 * alter what every later run reads. Only RESOLVE hands record values out (`target_cs`,
 * `target_ref`; strings in every known workflow, so this costs a type check); the other
 * results are built fresh (addresses, booleans). Depth is bounded by the JSON parser's
 * (PYJSON_PARSE_MAX_DEPTH).
 */
function detached(v: PyValue): PyValue {
  if (v === null || typeof v !== "object") return v;
  return Array.isArray(v) ? v.map(detached) : new Map([...v].map(([k, x]) => [k, detached(x)]));
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

function backend(prepared: PreparedPath, created: boolean, sync: boolean, dialect: OperationDialect | undefined) {
  const rel = prepared.rel;
  const read = (): { seen: Seen; loaded: Loaded | string } => {
    let content;
    try {
      content = readDerivedContent(prepared, REGISTRY_STATE);
    } catch (err) {
      return { seen: NOTHING, loaded: `cannot read ${JSON.stringify(rel)}: ${osErrorText(err)}` };
    }
    if (content === undefined) return { seen: NOTHING, loaded: { state: new Map(), nonBlank: 0, lines: 0, endsWithCR: false } };
    const { value, digest, size } = content;
    return { seen: { digest, size }, loaded: "problem" in value ? value.problem(rel) : value };
  };
  const observed = (seen: Seen): EffectDraft => ({ action: "read", path: rel, digest: seen.digest, size: seen.size, created });
  const appended = (bytes: Buffer): EffectDraft => {
    appendDurable(prepared, bytes, sync);
    return { action: "append", path: rel, bytes, created };
  };
  /** Runs `body` on a successfully rebuilt state, or reports BACKEND_ERROR. */
  const withState =
    (body: (l: Loaded, payload: PyDict, seen: Seen) => MethodResult): Method =>
    (payload) => {
      const { seen, loaded } = read();
      if (typeof loaded === "string") return { result: backendError(dialect, loaded), effect: observed(seen) };
      return body(loaded, payload, seen);
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

  const lookup = (body: (l: Loaded, kov: PyValue, seen: Seen) => MethodResult): Method =>
    withState((l, payload, seen) => {
      if (!payload.has("key_or_address")) return { result: status("VIOLATION"), effect: observed(seen) };
      return body(l, getOrNull(payload, "key_or_address"), seen);
    });

  const resolve = lookup((l, kov, seen) => {
    const rec = find(l.state, kov);
    if (rec === undefined) return { result: status("NOT_FOUND"), effect: observed(seen) };
    const member = (n: string): PyValue => (rec.has(n) ? detached(rec.get(n) ?? null) : "");
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
    const path = requirePathConfig(config, WHERE);
    const confined = confineAbsolute(ctx.dataRoot, path);
    if (ctx.refuseDirectoryPaths === true) refuseDirectoryPath(ctx.dataRoot, path);
    const sync = ctx.durability !== "no-fsync";
    const prepared = preparePath(confined, true, sync, ctx.checkedDirs);
    const created = createEmptyIfAbsent(prepared, sync);
    return backend(created ? preparePath(confined, false, sync, ctx.checkedDirs) : prepared, created, sync, ctx.operationDialect);
  },
});
