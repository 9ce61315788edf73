/**
 * The node configuration file (YAML or JSON; YAML is a superset), validated with zod. Errors name
 * the file and the key (`node.yaml: authority.trusted_keys[0].public_key_file: Required`).
 * Relative paths (key files, the JSONL evidence file, an evidence store directory) resolve
 * against the folder of the config file.
 *
 *   node_id: local-1
 *   authority:
 *     audience: cairn-local
 *     trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }]      # or public_key: <PEM>
 *     policy: [{ subject: alice, lanes: [process, http], operations: ["*"] }]
 *   lanes: [inline, process, http]            # or { kind: process, id: p2, <lane options…> }
 *   targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak, ttl_seconds: 3600 },
 *             { target_id: billing, lane_id: http, attestation_class: declared-endpoint-weak, endpoint: "http://127.0.0.1:8080" }]
 *   evidence: { jsonl: evidence.jsonl, store: true }   # store: true (the CLI's store) | <dir> | false
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { LineCounter, parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { DECLARED_ENDPOINT_CLASS, endpointOrigin, ENDPOINT_SCHEMES, NETWORK_LANE_KINDS } from "../attestation/declared-endpoint.js";
import { LOCAL_WEAK_CLASS } from "../attestation/local-weak.js";
import { strictUtf8 } from "../../core/utf8.js";

const name = z.string().min(1, { message: "must be a non-empty string" });
const LANE_ID_RE = /^[a-z][a-z0-9_.-]{0,63}$/;
const laneId = name.regex(LANE_ID_RE, { message: `must match ${LANE_ID_RE.source}` });

export const SUPPORTED_ATTESTATION_CLASSES = [LOCAL_WEAK_CLASS, DECLARED_ENDPOINT_CLASS] as const;

const trustedKeySchema = z
  .object({
    id: name,
    public_key_file: name.optional(),
    public_key: name.optional(),
  })
  .strict()
  .superRefine((k, ctx) => {
    if ((k.public_key_file === undefined) === (k.public_key === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["public_key_file"], message: "exactly one of public_key_file or public_key is required" });
    }
  });

const policyRuleSchema = z
  .object({
    subject: name,
    lanes: z.array(name).min(1, { message: "must list at least one lane (or \"*\")" }),
    operations: z.array(name).min(1, { message: "must list at least one operation (or \"*\")" }),
  })
  .strict();

/** The message of a lane entry that is neither a kind nor an object. */
const LANE_ENTRY_MESSAGE = "must be a lane kind (string) or {kind, id?, …options}";

const laneKindEntry = laneId.transform((kind) => ({ kind, id: kind, options: {} as Record<string, unknown> }));
const laneObjectEntry = z
  .object({ kind: laneId, id: laneId.optional() })
  .passthrough()
  .transform(({ kind, ...options }) => ({ kind, id: options.id ?? kind, options: options as Record<string, unknown> }));

/**
 * A lane entry: a kind (`process`), or `{ kind, id?, ...lane options }` (options validated by the
 * lane builder). Not a `z.union`: the form is chosen by the entry's type, so an error in an
 * object names its key (`lanes[0].id: must match …`) instead of the union's generic message.
 */
const laneEntrySchema = z.unknown().transform((v, ctx) => {
  const form = typeof v === "string" ? laneKindEntry : v !== null && typeof v === "object" && !Array.isArray(v) ? laneObjectEntry : null;
  if (form === null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: LANE_ENTRY_MESSAGE });
    return z.NEVER;
  }
  const r = form.safeParse(v);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ ...issue } as z.IssueData); // path and message kept, under lanes[i]
    return z.NEVER;
  }
  return r.data;
});

const targetSchema = z
  .object({
    target_id: name,
    lane_id: laneId,
    attestation_class: z.enum(SUPPORTED_ATTESTATION_CLASSES, {
      errorMap: () => ({ message: `unsupported attestation class (supported: ${SUPPORTED_ATTESTATION_CLASSES.join(", ")})` }),
    }),
    /** declared-endpoint-weak only: the endpoint origin (`scheme://host[:port]`) the operator declares. */
    endpoint: name.optional(),
    ttl_seconds: z.number().int().positive().max(366 * 24 * 3600).default(3600),
  })
  .strict();

/** The same-host lanes `local-process-weak` covers, as the config errors list them. */
const SAME_HOST_LANES_TEXT = "inline, worker, process, jsonrpc over stdio";

/** A jsonrpc lane entry over the stdio transport: its peer is a local subprocess (a same-host lane). */
export function isStdioJsonRpc(lane: { kind: string; options: Record<string, unknown> }): boolean {
  const tr = lane.options.transport as { kind?: unknown } | null | undefined;
  return lane.kind === "jsonrpc" && tr !== null && typeof tr === "object" && tr.kind === "stdio";
}

/**
 * The attestation rules of one target (lane kind ↔ class ↔ endpoint), as [key, message] or null:
 * `local-process-weak` only on same-host lanes (inline, worker, process, and jsonrpc over the
 * stdio transport, whose peer the node starts on this host) and without endpoint; every target on
 * a network lane (http, sse, websocket, jsonrpc over http) is `declared-endpoint-weak` with an
 * `endpoint` origin of the lane's schemes, and a jsonrpc lane's `transport.url` must be on that
 * origin.
 */
function targetProblem(
  t: { lane_id: string; attestation_class: string; endpoint?: string | undefined },
  lane: { kind: string; options: Record<string, unknown> },
): [string, string] | null {
  const stdio = isStdioJsonRpc(lane);
  const network = NETWORK_LANE_KINDS.includes(lane.kind) && !stdio;
  if (t.attestation_class === LOCAL_WEAK_CLASS) {
    if (network) {
      return ["attestation_class", `${LOCAL_WEAK_CLASS} covers same-host lanes only (${SAME_HOST_LANES_TEXT}); a target on the ${lane.kind} lane ${JSON.stringify(t.lane_id)} needs ${DECLARED_ENDPOINT_CLASS} and an endpoint`];
    }
    if (t.endpoint !== undefined) return ["endpoint", `only a ${DECLARED_ENDPOINT_CLASS} target declares an endpoint`];
    return null;
  }
  if (stdio) {
    return ["attestation_class", `${DECLARED_ENDPOINT_CLASS} is for network lanes; lane ${JSON.stringify(t.lane_id)} is a jsonrpc lane over the stdio transport (a local subprocess, no network endpoint): its targets are ${LOCAL_WEAK_CLASS}`];
  }
  if (!network) return ["attestation_class", `${DECLARED_ENDPOINT_CLASS} is for network lanes (${NETWORK_LANE_KINDS.join(", ")}); lane ${JSON.stringify(t.lane_id)} is a ${lane.kind} lane`];
  if (t.endpoint === undefined) return ["endpoint", `required: a target on the ${lane.kind} lane ${JSON.stringify(t.lane_id)} must declare its endpoint origin (scheme://host[:port])`];
  const schemes = ENDPOINT_SCHEMES[lane.kind] as readonly string[];
  const norm = endpointOrigin(t.endpoint, schemes);
  if (!norm.ok) return ["endpoint", norm.message];
  if (lane.kind === "jsonrpc") {
    const tr = lane.options.transport as { kind?: unknown; url?: unknown } | undefined;
    if (tr !== null && typeof tr === "object" && tr.kind === "http" && typeof tr.url === "string") {
      let laneOrigin: string | null = null;
      try {
        laneOrigin = new URL(tr.url).origin;
      } catch {
        laneOrigin = null; // the lane builder reports the bad url
      }
      if (laneOrigin !== null && laneOrigin !== norm.origin) return ["endpoint", `${norm.origin} is not the origin of lane ${JSON.stringify(t.lane_id)}'s transport.url (${laneOrigin})`];
    }
  }
  return null;
}

export const nodeConfigSchema = z
  .object({
    node_id: name,
    authority: z
      .object({
        audience: name,
        trusted_keys: z.array(trustedKeySchema).min(1, { message: "must list at least one key" }),
        policy: z.array(policyRuleSchema).default([]),
      })
      .strict(),
    lanes: z.array(laneEntrySchema).min(1, { message: "must list at least one lane" }),
    targets: z.array(targetSchema).default([]),
    evidence: z
      .object({
        jsonl: name.optional(),
        store: z.union([z.boolean(), name], { errorMap: () => ({ message: "must be true, false or a store directory (a non-empty string)" }) }).default(false),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const ids = new Map<string, number>();
    c.lanes.forEach((l, i) => {
      if (ids.has(l.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["lanes", i], message: `duplicate lane id ${JSON.stringify(l.id)}` });
      ids.set(l.id, i);
    });
    const keyIds = new Set<string>();
    c.authority.trusted_keys.forEach((k, i) => {
      if (keyIds.has(k.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["authority", "trusted_keys", i, "id"], message: `duplicate key id ${JSON.stringify(k.id)}` });
      keyIds.add(k.id);
    });
    c.authority.policy.forEach((r, i) => {
      r.lanes.forEach((l, j) => {
        if (l !== "*" && !ids.has(l)) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["authority", "policy", i, "lanes", j], message: `lane ${JSON.stringify(l)} is not declared in lanes (use "*" for any lane)` });
        }
      });
    });
    const targetIds = new Set<string>();
    c.targets.forEach((t, i) => {
      const laneAt = ids.get(t.lane_id);
      if (laneAt === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["targets", i, "lane_id"], message: `lane ${JSON.stringify(t.lane_id)} is not declared in lanes` });
      const problem = laneAt === undefined ? null : targetProblem(t, c.lanes[laneAt] as { kind: string; options: Record<string, unknown> });
      if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["targets", i, problem[0]], message: problem[1] });
      if (targetIds.has(t.target_id)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["targets", i, "target_id"], message: `duplicate target id ${JSON.stringify(t.target_id)}` });
      targetIds.add(t.target_id);
    });
  });

export type NodeConfigInput = z.input<typeof nodeConfigSchema>;

/** A validated config whose key files are read and whose paths are absolute. */
export interface NodeConfig {
  /** The config file, absolute (relative paths in it resolved against its folder); null when not read from a file. */
  readonly file: string | null;
  /** How errors name the config: the path as the user gave it (relative stays relative), else "node config". */
  readonly name: string;
  readonly node_id: string;
  readonly authority: {
    readonly audience: string;
    readonly trusted_keys: ReadonlyArray<{ readonly id: string; readonly public_key: string; readonly source: string }>;
    readonly policy: ReadonlyArray<{ readonly subject: string; readonly lanes: string[]; readonly operations: string[] }>;
  };
  readonly lanes: ReadonlyArray<{ readonly kind: string; readonly id: string; readonly options: Record<string, unknown> }>;
  /** `endpoint`: the normalised origin of a `declared-endpoint-weak` target (absent otherwise). */
  readonly targets: ReadonlyArray<{ readonly target_id: string; readonly lane_id: string; readonly attestation_class: string; readonly ttl_seconds: number; readonly endpoint?: string }>;
  readonly evidence: { readonly jsonl: string | null; readonly store: true | string | null };
}

function keyPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  return out === "" ? "(top level)" : out;
}

function configError(file: string, key: string, message: string, cause?: unknown): CairnError {
  return new CairnError(ErrorCode.INVALID_INPUT, `${file}: ${key}: ${message}`, { file, key }, cause === undefined ? undefined : { cause });
}

/** Validates a parsed config object. `baseDir` resolves relative paths; `file` names errors. */
export function resolveNodeConfig(raw: unknown, baseDir: string, file = "node config"): NodeConfig {
  const r = nodeConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0] as z.ZodIssue;
    let path = [...issue.path];
    let message = issue.message;
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      path = [...path, [...issue.keys].sort()[0] as string];
      message = "unknown key";
    }
    throw configError(file, keyPath(path), message);
  }
  const c = r.data;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const trusted = c.authority.trusted_keys.map((k, i) => {
    if (k.public_key !== undefined) return { id: k.id, public_key: k.public_key, source: "inline" };
    const p = abs(k.public_key_file as string);
    try {
      return { id: k.id, public_key: readFileSync(p, "utf8"), source: p };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw configError(file, `authority.trusted_keys[${i}].public_key_file`, `cannot read ${p}: ${e.code === "ENOENT" ? "no such file or directory" : e.message}`, err);
    }
  });
  return {
    file: null,
    name: file,
    node_id: c.node_id,
    authority: { audience: c.authority.audience, trusted_keys: trusted, policy: c.authority.policy },
    lanes: c.lanes,
    targets: c.targets.map(({ endpoint, ...t }) => {
      if (endpoint === undefined) return t;
      const kind = c.lanes.find((l) => l.id === t.lane_id)?.kind ?? "";
      const norm = endpointOrigin(endpoint, ENDPOINT_SCHEMES[kind] ?? []);
      return norm.ok ? { ...t, endpoint: norm.origin } : t; // validated above: always ok
    }),
    evidence: {
      jsonl: c.evidence.jsonl === undefined ? null : abs(c.evidence.jsonl),
      store: c.evidence.store === false ? null : c.evidence.store === true ? true : abs(c.evidence.store),
    },
  };
}

/** Reads, parses (YAML) and validates a node config file. */
export function loadNodeConfig(path: string): NodeConfig {
  const file = resolve(path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // A missing file is E_NOT_FOUND, an unreadable one E_INVALID_INPUT (every user-named file's rule).
    const code = e.code === "ENOENT" ? ErrorCode.NOT_FOUND : ErrorCode.INVALID_INPUT;
    throw new CairnError(code, `cannot read node config ${path}: ${e.code === "ENOENT" ? "no such file or directory" : e.message}`, { path }, { cause: err });
  }
  const decoded = strictUtf8(bytes);
  if ("invalidLine" in decoded) throw new CairnError(ErrorCode.INVALID_INPUT, `${path}: line ${decoded.invalidLine}: not valid UTF-8`, { path, line: decoded.invalidLine });
  const text = decoded.text;
  let raw: unknown;
  // One line, as the workflow compiler reports YAML errors (compile.ts): the position from the
  // line counter, the parser's message without its code excerpt (prettyErrors off).
  const lines = new LineCounter();
  try {
    raw = parseYaml(text, { prettyErrors: false, lineCounter: lines });
  } catch (err) {
    const at = err instanceof YAMLParseError ? lines.linePos(err.pos[0]) : undefined;
    const where = at === undefined ? "" : ` (line ${at.line}, column ${at.col})`;
    const first = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
    throw new CairnError(ErrorCode.INVALID_INPUT, `${path}: not valid YAML${where}: ${first}`, { path, ...(at === undefined ? {} : { line: at.line, column: at.col }) }, { cause: err });
  }
  return { ...resolveNodeConfig(raw, dirname(file), path), file };
}
