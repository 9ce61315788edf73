/**
 * The JSON Schema fragments of a step's `lane` binding (issue 5 §6.1): a CT or CS step whose
 * effect is implemented by an execution-plane lane instead of the local handler. schema.ts
 * mounts them as `definitions.lane` and `definitions.lane_payload`; the compiler
 * (lane-compile.ts) checks what the schema cannot (lane kind, operation, payload inputs).
 * Documentation: docs/workflow-cairn.md, "Lane-bound steps".
 */

/** Lane ids and kinds: the execution plane's node-config pattern (src/plane/config/node-config.ts). */
export const LANE_ID_PATTERN = "^[a-z][a-z0-9_.-]{0,63}$";
/** A payload leaf bound to the step's resolved inputs: `$.inputs`, `$.inputs.<name>…`. */
export const LANE_INPUT_PATTERN = "^\\$\\.inputs([.\\[].*)?$";

const classList = { type: "array", items: { type: "string", minLength: 1, maxLength: 128 }, uniqueItems: true };

/** `definitions.lane_payload`: the lane request payload, built from the step's inputs. */
export const LANE_PAYLOAD_SCHEMA = {
  description:
    "The lane request payload: `$.inputs[.<name>…]` (the step's resolved inputs), a literal {const: any}, an object {object: {...}} or array {array: [...]} built from payload templates, or {json: template} (the canonical JSON text of a template, e.g. a process's stdin).",
  oneOf: [
    { type: "string", pattern: LANE_INPUT_PATTERN },
    { type: "object", required: ["const"], additionalProperties: false, properties: { const: {} } },
    {
      type: "object",
      required: ["object"],
      additionalProperties: false,
      properties: { object: { type: "object", additionalProperties: { $ref: "#/definitions/lane_payload" } } },
    },
    { type: "object", required: ["array"], additionalProperties: false, properties: { array: { type: "array", items: { $ref: "#/definitions/lane_payload" } } } },
    { type: "object", required: ["json"], additionalProperties: false, properties: { json: { $ref: "#/definitions/lane_payload" } } },
  ],
};

/** `definitions.lane`: the binding itself. */
export const LANE_BINDING_SCHEMA = {
  type: "object",
  required: ["kind", "operation", "acceptable_attestation"],
  additionalProperties: false,
  description:
    "Binds the step to an execution-plane lane: at run time its effect is an AdmissionRequest to the plane node (admission, one target, the lane, evidence) instead of the local handler. The step's ct / cs+op still names the contract (inputs, result fields, outcomes).",
  properties: {
    kind: { type: "string", pattern: LANE_ID_PATTERN, description: "Lane kind: inline, worker, process, http, jsonrpc, sse or websocket (checked by the compiler)." },
    lane_id: { type: "string", pattern: LANE_ID_PATTERN, description: "The lane id registered on the node (default: the kind)." },
    operation: { type: "string", minLength: 1, maxLength: 128, description: "The lane operation (process: run, http: request, jsonrpc: call, sse: subscribe, websocket: session; inline/worker: the registered name)." },
    payload: { $ref: "#/definitions/lane_payload" },
    acceptable_attestation: {
      type: "object",
      required: ["classes"],
      additionalProperties: false,
      properties: { classes: { ...classList, minItems: 1 }, priority_order: classList },
      description: "Target attestation classes the step accepts (e.g. local-process-weak), best first in priority_order.",
    },
    result_json: {
      type: "string",
      pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
      description: "The lane output member holding the JSON text of the step result (process: stdout; http: body). Default: the lane output itself is the result.",
    },
  },
};
