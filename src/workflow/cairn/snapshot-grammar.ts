/**
 * The grammar of the names and store paths a Cairn snapshot carries, checked twice: by the
 * compiler (compile.ts, after the JSON Schema, for what the schema's patterns cannot say) and
 * when a sealed snapshot is loaded (seal.ts `structureProblem`), because a re-sealed snapshot
 * (content edited, digest recomputed) passes the digest check. The runtime builds paths from
 * these members: `traces/<namespace>/<code>/<trace id>/` under the workspace and
 * `<data root>/<store path>` for every store, so they must be what a compiled declaration can
 * hold — one safe path segment, a relative path with no `..` — before anything runs.
 */
import { CODE_PATTERN, EXIT_PATTERN, NAME_PATTERN, NAMESPACE_PATTERN } from "./schema.js";
import { normalStorePath } from "./store-paths.js";

/**
 * A name the schema's pattern allows but a record keyed by it cannot hold: in a plain object,
 * `o["__proto__"] = v` sets the prototype instead of a member (and canonical JSON then refuses
 * the object). Refused as a node, store, module or input name (a step id is a value: allowed).
 */
export const RESERVED_NAMES: readonly string[] = ["__proto__"];

/** Longest namespace and workflow code (the schema's `maxLength`). */
export const MAX_NAMESPACE_LENGTH = 80;
export const MAX_CODE_LENGTH = 80;
/** Longest store path (the schema's `maxLength`). */
export const MAX_STORE_PATH_LENGTH = 512;

const NAME_RE = new RegExp(NAME_PATTERN, "u");
const NAMESPACE_RE = new RegExp(NAMESPACE_PATTERN, "u");
const CODE_RE = new RegExp(CODE_PATTERN, "u");
const EXIT_RE = new RegExp(EXIT_PATTERN, "u");
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/**
 * Why `v` is not a name (`[A-Za-z_][A-Za-z0-9_]*`), or null; a record key (`key: true`: node,
 * store, module and input names) must not be reserved either. A step id is a value, not a key
 * (step results are held in a Map), so `__proto__` stays a valid step id.
 */
export function nameProblem(v: unknown, opts: { key?: boolean } = {}): string | null {
  if (typeof v !== "string") return "is not a string";
  if (!NAME_RE.test(v)) return `${show(v)} is not a name ([A-Za-z_][A-Za-z0-9_]*)`;
  if (opts.key === true && RESERVED_NAMES.includes(v)) return `${show(v)} is reserved: a record cannot be keyed by it`;
  return null;
}

/** Why `v` is not a namespace (one safe path segment, ≤ 80), or null. */
export function namespaceProblem(v: unknown): string | null {
  if (typeof v !== "string") return "is not a string";
  if (v.length > MAX_NAMESPACE_LENGTH || !NAMESPACE_RE.test(v)) return `${show(v)} is not a namespace ([A-Za-z0-9_][A-Za-z0-9_.-]*, at most ${MAX_NAMESPACE_LENGTH} characters)`;
  return null;
}

/** Why `v` is not a workflow code (`WF_…_V<n>`, ≤ 80), or null. */
export function codeProblem(v: unknown): string | null {
  if (typeof v !== "string") return "is not a string";
  if (v.length > MAX_CODE_LENGTH || !CODE_RE.test(v)) return `${show(v)} is not a workflow code ([A-Z][A-Z0-9_]*_V<n>, at most ${MAX_CODE_LENGTH} characters)`;
  return null;
}

/** Why `v` is not an exit name (upper case), or null. */
export function exitProblem(v: unknown): string | null {
  if (typeof v !== "string") return "is not a string";
  return EXIT_RE.test(v) ? null : `${show(v)} is not an exit name ([A-Z][A-Z0-9_]*)`;
}

/**
 * Why `v` is not a store path by its spelling, or null: a string of 1..512 characters,
 * relative (no leading `/`), `/`-separated (no `\`), no `..` segment, no NUL or other control
 * character (the schema's pattern does not see past a line break).
 */
export function storePathSyntaxProblem(v: unknown): string | null {
  if (typeof v !== "string") return "is not a string";
  const p = show(v);
  if (v.length === 0 || v.length > MAX_STORE_PATH_LENGTH) return `${p} is not 1 to ${MAX_STORE_PATH_LENGTH} characters long`;
  if (CONTROL_RE.test(v)) return `${p} contains a NUL or control character`;
  if (v.startsWith("/")) return `${p} is absolute: a store path is relative to the data root`;
  if (v.includes("\\")) return `${p} contains a backslash: a store path is '/'-separated`;
  if (v.split("/").includes("..")) return `${p} has a '..' segment: a store path stays under the data root`;
  return null;
}

/**
 * Why `v` is not a store path, or null: `storePathSyntaxProblem`, and it must name a file under
 * the data root, not the data root itself once `.` and empty segments are collapsed (the
 * compiler reports that one as `E_COMPILE_STORE_PATH`, store-paths.ts).
 */
export function storePathProblem(v: unknown): string | null {
  const bad = storePathSyntaxProblem(v);
  if (bad !== null) return bad;
  return normalStorePath(v as string) === "" ? `${show(v)} names the data root itself, not a file under it` : null;
}
