/**
 * Lanes: the lane kinds, their option schemas and a builder for config-driven construction.
 *
 *   buildLane("process", { max_output_bytes: 65536 })
 *   buildLaneFromSpec("http")                                   // YAML: lanes: [http]
 *   buildLaneFromSpec({ kind: "process", id: "build-box", placement: { kind: "ssh", destination: "ci@build" } })
 *
 * Options are validated with zod (unknown keys rejected); an error is a CairnError
 * E_INVALID_INPUT whose message and `details.path` name the field (`$.placement.port`).
 * Relative file paths in options (worker modules, ssh identity/known_hosts files, a jsonrpc
 * stdio peer's cwd) resolve against `BuildLaneContext.baseDir` when given.
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { invalidLaneOption, parseLaneOptions } from "./common.js";
import { HttpLane, httpLaneOptionsSchema } from "./http.js";
import { InlineLane, inlineLaneOptionsSchema, type InlineFunction } from "./inline.js";
import { JsonRpcLane, jsonrpcLaneOptionsSchema } from "./jsonrpc.js";
import type { Lane } from "./lane.js";
import { ProcessLane, processLaneOptionsSchema } from "./process.js";
import { SseLane, sseLaneOptionsSchema } from "./sse.js";
import { WebSocketLane, websocketLaneOptionsSchema } from "./websocket.js";
import { WorkerLane, workerLaneOptionsSchema } from "./worker.js";

export * from "./lane.js";
export * from "./limits.js";
export { HttpLane, httpLaneOptionsSchema, type HttpLaneOptions } from "./http.js";
export { InlineLane, inlineLaneOptionsSchema, type InlineContext, type InlineFunction, type InlineLaneOptions } from "./inline.js";
export { JsonRpcLane, jsonrpcLaneOptionsSchema, type JsonRpcLaneOptions } from "./jsonrpc.js";
export { ProcessLane, processLaneOptionsSchema, type ProcessLaneOptions } from "./process.js";
export { SseLane, sseLaneOptionsSchema, type SseLaneOptions } from "./sse.js";
export { WebSocketLane, websocketLaneOptionsSchema, type WebSocketLaneOptions } from "./websocket.js";
export { abandonedWorkers, WorkerLane, workerLaneOptionsSchema, type WorkerLaneOptions } from "./worker.js";

/** Every lane kind, in a stable order. */
export const LANE_KINDS = ["inline", "worker", "process", "http", "jsonrpc", "sse", "websocket"] as const;
export type LaneKind = (typeof LANE_KINDS)[number];

/** The option schema of each lane kind (for documentation and config validation). */
export const LANE_OPTION_SCHEMAS: Readonly<Record<LaneKind, z.ZodTypeAny>> = Object.freeze({
  inline: inlineLaneOptionsSchema,
  worker: workerLaneOptionsSchema,
  process: processLaneOptionsSchema,
  http: httpLaneOptionsSchema,
  jsonrpc: jsonrpcLaneOptionsSchema,
  sse: sseLaneOptionsSchema,
  websocket: websocketLaneOptionsSchema,
});

/** What config-driven construction may need beyond the options themselves. */
export interface BuildLaneContext {
  /** Folder that relative paths in options resolve against (e.g. the config file's folder). */
  readonly baseDir?: string;
  /** Functions for an inline lane, by operation (merged under `options.functions`). */
  readonly inlineFunctions?: Readonly<Record<string, InlineFunction>>;
}

/** A lane entry in a node config: a kind name, or `{ kind, ...options }`. */
export const laneSpecSchema = z.union([z.enum(LANE_KINDS), z.object({ kind: z.enum(LANE_KINDS) }).passthrough()]);
export type LaneSpec = z.input<typeof laneSpecSchema>;

export function isLaneKind(kind: unknown): kind is LaneKind {
  return typeof kind === "string" && (LANE_KINDS as readonly string[]).includes(kind);
}

const invalid = invalidLaneOption;

function resolvePaths(kind: LaneKind, options: Record<string, unknown>, baseDir: string | undefined): Record<string, unknown> {
  if (baseDir === undefined) return options;
  const abs = (v: unknown): unknown => (typeof v === "string" && v !== "" && !isAbsolute(v) && !v.startsWith("file:") ? resolve(baseDir, v) : v);
  const out = { ...options };
  if (kind === "worker" && out.modules !== null && typeof out.modules === "object") {
    out.modules = Object.fromEntries(
      Object.entries(out.modules as Record<string, unknown>).map(([op, m]) => [op, m !== null && typeof m === "object" ? { ...(m as object), module: abs((m as { module?: unknown }).module) } : m]),
    );
  }
  if (kind === "process" && out.placement !== null && typeof out.placement === "object") {
    const p = { ...(out.placement as Record<string, unknown>) };
    for (const k of ["identity_file", "known_hosts_file"]) if (k in p) p[k] = abs(p[k]);
    out.placement = p;
  }
  if (kind === "jsonrpc" && out.transport !== null && typeof out.transport === "object" && "cwd" in (out.transport as object)) {
    out.transport = { ...(out.transport as object), cwd: abs((out.transport as { cwd?: unknown }).cwd) };
  }
  return out;
}

/** Builds a lane of `kind` from validated `options`. Throws E_INVALID_INPUT naming the field. */
export function buildLane(kind: string, options: unknown = {}, context: BuildLaneContext = {}): Lane {
  if (!isLaneKind(kind)) throw invalid(kind, "$.kind", `unknown lane kind (known: ${LANE_KINDS.join(", ")})`);
  if (options === null || typeof options !== "object" || Array.isArray(options)) throw invalid(kind, "$", "options must be an object");
  let opts = resolvePaths(kind, options as Record<string, unknown>, context.baseDir);
  if (kind === "inline" && context.inlineFunctions !== undefined) {
    opts = { ...opts, functions: { ...context.inlineFunctions, ...((opts.functions as object | undefined) ?? {}) } };
  }
  // The constructors validate with the same schema and error (common.ts parseLaneOptions);
  // validating here first keeps the error independent of what a constructor does before.
  const data = parseLaneOptions(kind, LANE_OPTION_SCHEMAS[kind], opts);
  switch (kind) {
    case "inline":
      return new InlineLane(data);
    case "worker":
      return new WorkerLane(data);
    case "process":
      return new ProcessLane(data);
    case "http":
      return new HttpLane(data);
    case "jsonrpc":
      return new JsonRpcLane(data);
    case "sse":
      return new SseLane(data);
    case "websocket":
      return new WebSocketLane(data);
  }
}

/** Builds a lane from a config entry: `"http"` or `{ kind: "process", ...options }`. */
export function buildLaneFromSpec(spec: unknown, context: BuildLaneContext = {}): Lane {
  if (typeof spec === "string") return buildLane(spec, {}, context);
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new CairnError(ErrorCode.INVALID_INPUT, "lane: $: must be a lane kind or an object with kind", { path: "$" });
  }
  const { kind, ...options } = spec as Record<string, unknown>;
  if (typeof kind !== "string") throw new CairnError(ErrorCode.INVALID_INPUT, "lane: $.kind: is required", { path: "$.kind" });
  return buildLane(kind, options, context);
}
