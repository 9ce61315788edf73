/**
 * The capability catalog of Cairn workflow declarations: every built-in CT atom and every CS
 * store kind a declaration can name, each with its **declared outcome set** and its result
 * fields. The compiler checks declarations against it (unknown capability / operation,
 * unhandled outcome, unbound `$.results.<node>.<field>`); the runtime resolves handlers through
 * it and nothing else (sealed tables: frozen literals, no discovery, no dynamic import).
 *
 * CT atoms (pure; outcome SUCCESS or VIOLATION — an atom that throws yields VIOLATION):
 * the general atoms of src/workflow/atoms/general.ts (`CAIRN_GENERAL_ATOMS`, JSON Schema by
 * ajv) plus the PGS atom `generate_id` (SEMANTICS B.1). User CTs come from capability modules
 * (usercts.ts) and have the same outcome set.
 *
 * CS store kinds (governed side effects, the runtimes of src/workflow/effects):
 *
 * | kind       | runtime                 | operation → method (outcomes)                                                  |
 * |------------|-------------------------|--------------------------------------------------------------------------------|
 * | registry   | CS_REGISTRY_V0          | REGISTER → register (SUCCESS, ALREADY_EXISTS, VIOLATION, BACKEND_ERROR); RESOLVE → resolve, DEREGISTER → deregister (SUCCESS, NOT_FOUND, VIOLATION, BACKEND_ERROR); EXISTS → exists (SUCCESS, VIOLATION, BACKEND_ERROR) |
 * | appendonly | CS_APPENDONLY_JSONL_V0  | APPEND → append (SUCCESS); GET_ALL → read_all (SUCCESS, BACKEND_ERROR); GET_RANGE → read_range, GET_SINCE → read_since (SUCCESS, VIOLATION, BACKEND_ERROR) |
 * | mutable    | CS_MUTABLE_JSON_V0      | READ → read, DELETE → delete (SUCCESS, NOT_FOUND, VIOLATION, BACKEND_ERROR); WRITE → write, EXISTS → exists (SUCCESS, VIOLATION, BACKEND_ERROR); LIST → list_keys (SUCCESS, BACKEND_ERROR) |
 *
 * The outcome sets are read off the runtimes' code (every `status(...)` each method can
 * return); hard errors (confinement, bad config, I/O) are not outcomes: they abort the run.
 *
 * Also read off the runtimes' code, per operation:
 * - `outputs`: the fields of the operation's SUCCESS result, which always carries them all; no
 *   other outcome carries any of them (an atom's VIOLATION has no field either). The compiler
 *   binds `$.results.<node>.<field>` / `$.steps.<step>.<field>` per outcome on that basis
 *   (compile.ts `carries`).
 * - `messageOn`: the outcomes whose result carries a `message` member (a step's result
 *   fields are the runtime's result without `result_status`, run.ts): every BACKEND_ERROR, and
 *   the VIOLATION of GET_RANGE / GET_SINCE. A registry or mutable store's VIOLATION carries
 *   none (`status("VIOLATION")`). The compiler lets `$.results.<node>.message` /
 *   `$.steps.<step>.message` bind only where the message is always there (compile.ts).
 * - `inputRules` / `constantRule`: the runtime's rules on an input's value that do not depend on
 *   the store's state, checked at compile time on inputs whose value is known there (a
 *   `{const: …}`, or the object / list an `{object: …}` / `{array: …}` builds — its member
 *   names are known, its members' values are not); an input may have several rules, the first
 *   it breaks is reported:
 *
 *   | operation                  | input                        | rule (runtime)                                   | otherwise |
 *   |----------------------------|------------------------------|--------------------------------------------------|-----------|
 *   | registry REGISTER          | `key`                        | a scalar: not a list or object (unhashable)      | the run aborts (E_INVALID_INPUT, registry.ts `register`) |
 *   | registry REGISTER          | `value`                      | an object or null                                | the run aborts (E_INVALID_INPUT) when the key is new (an existing key is ALREADY_EXISTS first) |
 *   | registry REGISTER          | `value`                      | no member the record reserves (`REGISTRY_RECORD_MEMBERS`: key, address, target_cs, target_ref, tombstone) | VIOLATION, a Cairn rule (run.ts `runStep`, before the store is touched; PGS runs keep C.2, where they overwrite) |
 *   | appendonly GET_RANGE       | `start_sequence`, `end_sequence` | integers, start ≤ end                        | VIOLATION (appendonly.ts `read_range`) |
 *   | appendonly GET_SINCE       | `timestamp`                  | a string `datetime.fromisoformat` accepts (atoms/isodate.ts) | VIOLATION (`read_since`) |
 *   | mutable READ/WRITE/DELETE/EXISTS | `key`                  | a string with a non-whitespace character        | VIOLATION (mutable.ts `validKey`) |
 */
import { CAIRN_GENERAL_ATOMS, GENERAL_ATOMS_MODULE } from "../atoms/general.js";
import { CT_PURE_GENERATE_ID_V0 } from "../atoms/pgs-generate-id.js";
import type { CtAtom } from "../atoms/index.js";
import { parseIsoInstant } from "../atoms/isodate.js";
import type { CsCapabilityId } from "../effects/types.js";
import { REGISTRY_RECORD_MEMBERS } from "../effects/registry.js";
import { isPyBlank, pyHashKey, type PyValue } from "../py/value.js";
import type { Outcome } from "./schema.js";

/** Outcomes of every CT (built-in atom or user CT). */
export const CT_OUTCOMES: readonly Outcome[] = Object.freeze(["SUCCESS", "VIOLATION"]);

export interface AtomEntry {
  /** The name a declaration uses (`ct: hash`). */
  readonly name: string;
  /** The handler ref of the atom in its sealed table (`<module>:<callable>`), recorded in the snapshot. */
  readonly ref: string;
  readonly atom: CtAtom;
  /** The fields of the atom's result object (`$.results.<node>.<field>`). Its inputs are `atom.args` (a step binding another is `E_COMPILE_UNKNOWN_INPUT`). */
  readonly outputs: readonly string[];
  readonly outcomes: readonly Outcome[];
}

function general(name: string, outputs: readonly string[]): AtomEntry {
  const ref = `${GENERAL_ATOMS_MODULE}:${name}`;
  const atom = CAIRN_GENERAL_ATOMS[ref];
  if (atom === undefined) throw new Error(`internal: general atom ${ref} missing`);
  return Object.freeze({ name, ref, atom, outputs: Object.freeze([...outputs]), outcomes: CT_OUTCOMES });
}

/** The sealed table of built-in atoms, keyed by declaration name. */
export const CAIRN_ATOMS: Readonly<Record<string, AtomEntry>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, AtomEntry>, {
    compare: general("compare", ["result"]),
    equals: general("equals", ["equal"]),
    hash: general("hash", ["digest"]),
    concat: general("concat", ["result"]),
    add: general("add", ["result"]),
    sub: general("sub", ["result"]),
    mul: general("mul", ["result"]),
    div: general("div", ["result"]),
    regex_match: general("regex_match", ["matched", "match", "groups", "named"]),
    json_schema_validate: general("json_schema_validate", ["valid"]),
    generate_id: Object.freeze({ name: "generate_id", ref: CT_PURE_GENERATE_ID_V0.handlerRef, atom: CT_PURE_GENERATE_ID_V0, outputs: Object.freeze(["id"]), outcomes: CT_OUTCOMES }),
  }),
);

/** The built-in atom named `name`, never an inherited property. */
export function atomNamed(name: string): AtomEntry | undefined {
  return Object.prototype.hasOwnProperty.call(CAIRN_ATOMS, name) ? CAIRN_ATOMS[name] : undefined;
}

/** The built-in atom whose handler ref is `ref` (how the runtime resolves a snapshot's atoms). */
export function atomByRef(ref: string): AtomEntry | undefined {
  for (const e of Object.values(CAIRN_ATOMS)) if (e.ref === ref) return e;
  return undefined;
}

export type StoreKind = "registry" | "appendonly" | "mutable";

/** A CS runtime's rule on the value of one input that does not depend on the store's state (module comment). */
export interface InputRule {
  /** What the runtime requires, completing "must be …" ("a scalar (…)"). */
  readonly requires: string;
  /** Whether the runtime accepts the value (in the runtime's value model). */
  readonly accepts: (v: PyValue) => boolean;
  /** What the runtime does with any other value, completing "…: " in a diagnostic. */
  readonly otherwise: string | ((v: PyValue) => string);
  /** What a refused value is, completing "the constant … is …" (default: its type, "an integer"). */
  readonly describe?: (v: PyValue) => string | undefined;
}

export interface OperationEntry {
  readonly op: string;
  /** The runtime method the operation dispatches to (recorded in the snapshot). */
  readonly method: string;
  readonly outcomes: readonly Outcome[];
  readonly outputs: readonly string[];
  /** Inputs the operation reads: the only inputs a step may bind (else `E_COMPILE_UNKNOWN_INPUT`). */
  readonly inputs: readonly string[];
  /** Inputs that must be bound (else `E_COMPILE_UNBOUND_INPUT`). */
  readonly required: readonly string[];
  /** Outcomes whose result carries a `message` member (module comment). */
  readonly messageOn: readonly Outcome[];
  /** Per input, the runtime's rule on its value (module comment). */
  readonly inputRules: Readonly<Record<string, InputRule | readonly InputRule[]>>;
  /** A rule across inputs whose values are all known (`known`): the problem, with the input it names, or null. */
  readonly constantRule?: (known: ReadonlyMap<string, PyValue>) => { input: string; message: string } | null;
}

export interface StoreKindEntry {
  readonly kind: StoreKind;
  readonly capability: CsCapabilityId;
  readonly operations: Readonly<Record<string, OperationEntry>>;
}

function op(
  opName: string, method: string, outcomes: readonly Outcome[], outputs: readonly string[], inputs: readonly string[], required: readonly string[] = inputs.slice(0, 1),
  extra: { messageOn?: readonly Outcome[]; inputRules?: Record<string, InputRule | readonly InputRule[]>; constantRule?: OperationEntry["constantRule"] } = {},
): OperationEntry {
  // Every BACKEND_ERROR of the runtimes carries a message (module comment).
  const messageOn = extra.messageOn ?? outcomes.filter((o) => o === "BACKEND_ERROR");
  return Object.freeze({
    op: opName, method, outcomes: Object.freeze([...outcomes]), outputs: Object.freeze([...outputs]), inputs: Object.freeze([...inputs]), required: Object.freeze([...required]),
    messageOn: Object.freeze([...messageOn]), inputRules: Object.freeze({ ...(extra.inputRules ?? {}) }), ...(extra.constantRule === undefined ? {} : { constantRule: extra.constantRule }),
  });
}

const VIOLATION_ALWAYS = "the store answers VIOLATION every time the step runs";

/** REGISTER `key` (registry.ts `register`: `pyHashKey` undefined → a hard error). */
const SCALAR_KEY: InputRule = {
  requires: "a scalar other than null (a string, number or boolean)",
  accepts: (v) => v !== null && pyHashKey(v) !== undefined,
  otherwise: (v) =>
    v === null
      ? "a Cairn REGISTER refuses a null key with VIOLATION every time the step runs (a null key is never indexed, so the registration would not be idempotent)"
      : "a list or object is unhashable, so the registry aborts the run with an error (E_INVALID_INPUT) every time the step runs",
};
/** REGISTER `value` (registry.ts `register`: not a dict and not None → a hard error, after the ALREADY_EXISTS check). */
const OBJECT_OR_NULL: InputRule = {
  requires: "an object or null",
  accepts: (v) => v === null || v instanceof Map,
  otherwise: "the registry aborts the run with an error (E_INVALID_INPUT) every time the step registers a new key",
};
/**
 * The members of a REGISTER `value` that the registry record reserves (registry.ts
 * `REGISTRY_RECORD_MEMBERS`), in the value's order; none when the value is not an object. The
 * runtime merges `value`'s members after the record's own, so such a member would replace the
 * record's key or address (the record is then indexed under another key, or under none, and the
 * registration is never ALREADY_EXISTS) or make it a tombstone. PGS SEMANTICS C.2 lets it; a
 * Cairn REGISTER refuses it (run.ts `runStep`).
 */
export function reservedValueMembers(v: PyValue): string[] {
  return v instanceof Map ? [...v.keys()].filter((k) => REGISTRY_RECORD_MEMBERS.includes(k)) : [];
}
/** The names, quoted, joined with commas ("key", "address"). */
export function quotedNames(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(", ");
}
/** REGISTER `value`, for an object (run.ts `runStep`: VIOLATION before the store is touched). */
const RECORD_MEMBERS_FREE: InputRule = {
  requires: `an object without a member the registry record reserves (${REGISTRY_RECORD_MEMBERS.join(", ")})`,
  accepts: (v) => reservedValueMembers(v).length === 0,
  otherwise: "a Cairn REGISTER refuses it with VIOLATION every time the step runs (value's members are merged into the record after its own, so they would replace them and the registration would not be idempotent)",
  describe: (v) => {
    const names = reservedValueMembers(v);
    return `an object holding ${names.length === 1 ? "the member" : "the members"} ${quotedNames(names)}`;
  },
};
/** GET_RANGE bounds (appendonly.ts `read_range`: `isInt`). */
const INTEGER: InputRule = { requires: "an integer", accepts: (v) => typeof v === "bigint", otherwise: VIOLATION_ALWAYS };
/** GET_SINCE `timestamp` (appendonly.ts `read_since`: compared as an instant). */
const ISO_TIMESTAMP: InputRule = {
  requires: "an ISO 8601 date-time string (as Python 3.11 datetime.fromisoformat reads it)",
  accepts: (v) => typeof v === "string" && parseIsoInstant(v) !== undefined,
  otherwise: VIOLATION_ALWAYS,
  describe: (v) => (typeof v === "string" ? "a string that is not one" : undefined),
};
/** A mutable store's `key` (mutable.ts `validKey`). */
const NON_BLANK_STRING: InputRule = { requires: "a string with a non-whitespace character", accepts: (v) => typeof v === "string" && !isPyBlank(v), otherwise: VIOLATION_ALWAYS };

/** GET_RANGE with both bounds known: start ≤ end (appendonly.ts `read_range`). */
function rangeOrder(known: ReadonlyMap<string, PyValue>): { input: string; message: string } | null {
  const start = known.get("start_sequence");
  const end = known.get("end_sequence");
  if (typeof start !== "bigint" || typeof end !== "bigint" || start <= end) return null;
  return { input: "end_sequence", message: `start_sequence ${start} is greater than end_sequence ${end}: GET_RANGE needs start_sequence <= end_sequence, so ${VIOLATION_ALWAYS}` };
}

function ops(...entries: OperationEntry[]): Readonly<Record<string, OperationEntry>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, OperationEntry>, Object.fromEntries(entries.map((e) => [e.op, e]))));
}

/** The sealed table of store kinds. */
export const STORE_KINDS: Readonly<Record<StoreKind, StoreKindEntry>> = Object.freeze({
  registry: Object.freeze({
    kind: "registry",
    capability: "CS_REGISTRY_V0",
    operations: ops(
      op("REGISTER", "register", ["SUCCESS", "ALREADY_EXISTS", "VIOLATION", "BACKEND_ERROR"], ["address"], ["key", "value", "target_cs", "target_ref"], undefined, { inputRules: { key: SCALAR_KEY, value: [OBJECT_OR_NULL, RECORD_MEMBERS_FREE] } }),
      op("RESOLVE", "resolve", ["SUCCESS", "NOT_FOUND", "VIOLATION", "BACKEND_ERROR"], ["target_cs", "target_ref"], ["key_or_address"]),
      op("EXISTS", "exists", ["SUCCESS", "VIOLATION", "BACKEND_ERROR"], ["exists"], ["key_or_address"]),
      op("DEREGISTER", "deregister", ["SUCCESS", "NOT_FOUND", "VIOLATION", "BACKEND_ERROR"], [], ["key_or_address"]),
    ),
  }),
  appendonly: Object.freeze({
    kind: "appendonly",
    capability: "CS_APPENDONLY_JSONL_V0",
    operations: ops(
      op("APPEND", "append", ["SUCCESS"], ["record_id", "sequence_number"], ["actor_id", "stream_id", "record"], ["record"]),
      op("GET_ALL", "read_all", ["SUCCESS", "BACKEND_ERROR"], ["entries"], ["stream_id"], []),
      op("GET_RANGE", "read_range", ["SUCCESS", "VIOLATION", "BACKEND_ERROR"], ["entries"], ["stream_id", "start_sequence", "end_sequence"], ["start_sequence", "end_sequence"], {
        messageOn: ["VIOLATION", "BACKEND_ERROR"], inputRules: { start_sequence: INTEGER, end_sequence: INTEGER }, constantRule: rangeOrder,
      }),
      op("GET_SINCE", "read_since", ["SUCCESS", "VIOLATION", "BACKEND_ERROR"], ["entries"], ["stream_id", "timestamp"], ["timestamp"], { messageOn: ["VIOLATION", "BACKEND_ERROR"], inputRules: { timestamp: ISO_TIMESTAMP } }),
    ),
  }),
  mutable: Object.freeze({
    kind: "mutable",
    capability: "CS_MUTABLE_JSON_V0",
    operations: ops(
      op("READ", "read", ["SUCCESS", "NOT_FOUND", "VIOLATION", "BACKEND_ERROR"], ["value"], ["key"], undefined, { inputRules: { key: NON_BLANK_STRING } }),
      op("WRITE", "write", ["SUCCESS", "VIOLATION", "BACKEND_ERROR"], [], ["key", "value"], ["key", "value"], { inputRules: { key: NON_BLANK_STRING } }),
      op("DELETE", "delete", ["SUCCESS", "NOT_FOUND", "VIOLATION", "BACKEND_ERROR"], [], ["key"], undefined, { inputRules: { key: NON_BLANK_STRING } }),
      op("EXISTS", "exists", ["SUCCESS", "VIOLATION", "BACKEND_ERROR"], ["exists"], ["key"], undefined, { inputRules: { key: NON_BLANK_STRING } }),
      op("LIST", "list_keys", ["SUCCESS", "BACKEND_ERROR"], ["keys"], []),
    ),
  }),
});

/** The operation `opName` of a store kind, never an inherited property. */
export function operationOf(kind: StoreKind, opName: string): OperationEntry | undefined {
  const t = STORE_KINDS[kind].operations;
  return Object.prototype.hasOwnProperty.call(t, opName) ? t[opName] : undefined;
}
