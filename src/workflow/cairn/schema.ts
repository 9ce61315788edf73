/**
 * The published JSON Schema of Cairn workflow declarations (format `cairn.workflow/v1`).
 *
 * This constant is the source of truth; `schema/cairn-workflow.schema.json` in the repository
 * is its committed, pretty-printed copy (a test checks they are equal, so the two cannot drift).
 * The compiler validates every declaration against it with ajv before any semantic check
 * (diagnostic `E_COMPILE_SCHEMA`). The schema covers the shape only; references between
 * names (routes, bindings, capabilities, stores, modules) are checked by the compiler
 * (compile.ts). Documentation: docs/workflow-cairn.md.
 */

import { LANE_BINDING_SCHEMA, LANE_PAYLOAD_SCHEMA } from "./lane-schema.js";

/** The value of the `cairn` member of every declaration. */
export const CAIRN_WORKFLOW_FORMAT = "cairn.workflow/v1";
export const CAIRN_WORKFLOW_SCHEMA_ID = "https://cairn.dev/schema/cairn-workflow.schema.json";

/** Outcomes a route may name (besides `default`). */
export const OUTCOMES = ["SUCCESS", "ALREADY_EXISTS", "VIOLATION", "NOT_FOUND", "BACKEND_ERROR"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Names of nodes, steps, stores, modules and exits. */
export const NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$";
/** Namespace: one safe path segment (it names a trace directory). */
export const NAMESPACE_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$";
/** Workflow code: upper case, ending in a version, e.g. `WF_REGISTER_AGENT_V0`. */
export const CODE_PATTERN = "^[A-Z][A-Z0-9_]*_V[0-9]+$";
/** A binding path: `$.payload…`, `$.results.<node>…` or `$.steps.<step>…` (checked further by the compiler). */
export const BINDING_PATTERN = "^\\$\\.(payload|results|steps)([.\\[].*)?$";
/** Exit names: upper case. */
export const EXIT_PATTERN = "^[A-Z][A-Z0-9_]*$";

const binding = {
  description: "An input: a binding path string ($.payload…, $.results.<node>.<field>…, $.steps.<step>.<field>…), a literal {const: any}, or an object/array built from bindings.",
  oneOf: [
    { type: "string", pattern: BINDING_PATTERN },
    { type: "object", required: ["const"], additionalProperties: false, properties: { const: {} } },
    {
      type: "object",
      required: ["object"],
      additionalProperties: false,
      properties: { object: { type: "object", propertyNames: { pattern: NAME_PATTERN }, additionalProperties: { $ref: "#/definitions/binding" } } },
    },
    { type: "object", required: ["array"], additionalProperties: false, properties: { array: { type: "array", items: { $ref: "#/definitions/binding" } } } },
  ],
};

const route = {
  description: "Where an outcome leads: the key of the next node, or a named exit with a reason.",
  oneOf: [
    { type: "string", pattern: NAME_PATTERN },
    {
      type: "object",
      required: ["exit", "reason"],
      additionalProperties: false,
      properties: { exit: { type: "string", pattern: EXIT_PATTERN }, reason: { type: "string", minLength: 1, maxLength: 500 } },
    },
  ],
};

const outcomeKeys = Object.fromEntries(OUTCOMES.map((o) => [o, { $ref: "#/definitions/route" }]));
const onResultKeys = Object.fromEntries(OUTCOMES.map((o) => [o, { enum: ["continue", "exit"] }]));

const step = {
  type: "object",
  required: ["id", "inputs"],
  additionalProperties: false,
  properties: {
    id: { type: "string", pattern: NAME_PATTERN, description: "Step id, unique within its node ($.steps.<id>…)." },
    description: { type: "string" },
    ct: {
      type: "string",
      pattern: "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$",
      description: "A pure transform: a built-in atom name (e.g. json_schema_validate) or <module>.<capability> of a user capability module.",
    },
    cs: { type: "string", pattern: NAME_PATTERN, description: "A governed side effect: the name of a declared store." },
    op: { type: "string", pattern: "^[A-Z][A-Z_]*$", description: "The CS operation (REGISTER, APPEND, READ…); required with cs, forbidden with ct." },
    inputs: { type: "object", propertyNames: { pattern: NAME_PATTERN }, additionalProperties: { $ref: "#/definitions/binding" } },
    on_result: {
      type: "object",
      additionalProperties: false,
      properties: onResultKeys,
      description: "Per outcome: continue the pipeline or exit the node. Default: SUCCESS continues, every other outcome exits.",
    },
    lane: { $ref: "#/definitions/lane" },
  },
  oneOf: [
    { required: ["ct"], not: { anyOf: [{ required: ["cs"] }, { required: ["op"] }] } },
    { required: ["cs", "op"], not: { required: ["ct"] } },
  ],
};

const node = {
  type: "object",
  required: ["steps", "routes"],
  additionalProperties: false,
  properties: {
    description: { type: "string" },
    steps: { type: "array", minItems: 1, maxItems: 64, items: { $ref: "#/definitions/step" } },
    routes: {
      type: "object",
      minProperties: 1,
      additionalProperties: false,
      properties: { ...outcomeKeys, default: { $ref: "#/definitions/route" } },
    },
    max_visits: { type: "integer", minimum: 1, maximum: 64, description: "Bound on visits of this node in one run; declares a routing cycle through it as bounded." },
  },
};

const store = {
  type: "object",
  required: ["kind", "path"],
  additionalProperties: false,
  properties: {
    kind: { enum: ["registry", "appendonly", "mutable"] },
    path: {
      type: "string",
      minLength: 1,
      maxLength: 512,
      pattern: "^(?!/)(?!.*\\\\)(?!(.*/)?\\.\\.(/|$))[^\\u0000]+$",
      description: "File under the data root, relative, '/'-separated, no '..' segment.",
    },
    description: { type: "string" },
  },
};

/** The JSON Schema (draft-07) of a Cairn workflow declaration. */
export const CAIRN_WORKFLOW_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: CAIRN_WORKFLOW_SCHEMA_ID,
  title: "Cairn workflow declaration (cairn.workflow/v1)",
  type: "object",
  required: ["cairn", "namespace", "code", "entry", "nodes"],
  additionalProperties: false,
  properties: {
    cairn: { const: CAIRN_WORKFLOW_FORMAT },
    namespace: { type: "string", pattern: NAMESPACE_PATTERN, maxLength: 80 },
    code: { type: "string", pattern: CODE_PATTERN, maxLength: 80 },
    description: { type: "string" },
    entry: { type: "string", pattern: NAME_PATTERN },
    max_hops: { type: "integer", minimum: 1, maximum: 64, description: "Hop limit of this workflow (at most the runtime's CAIRN_MAX_HOPS)." },
    modules: {
      type: "object",
      propertyNames: { pattern: NAME_PATTERN },
      additionalProperties: { type: "string", pattern: "\\.(ts|mts|js|mjs)$", description: "Capability module path, relative to this file." },
    },
    stores: { type: "object", propertyNames: { pattern: NAME_PATTERN }, additionalProperties: { $ref: "#/definitions/store" } },
    nodes: { type: "object", minProperties: 1, maxProperties: 1024, propertyNames: { pattern: NAME_PATTERN }, additionalProperties: { $ref: "#/definitions/node" } },
  },
  definitions: { binding, route, step, node, store, lane: LANE_BINDING_SCHEMA, lane_payload: LANE_PAYLOAD_SCHEMA },
} as const;
