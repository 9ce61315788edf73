/**
 * Sealing and loading Cairn snapshots.
 *
 * - The **snapshot digest** is the SHA-256 of the RFC 8785 canonical bytes of the whole
 *   content (`SnapshotContent`: every workflow, node, step, binding, route, store, and the
 *   user CT bundle texts). In the store the content is one artifact whose digest is exactly
 *   that (untyped artifacts are the plain SHA-256 of their bytes).
 * - The **sealed file** (`--out`) is the canonical JSON of `{format, digest, content}`, and
 *   nothing else: the digest covers only `content`, so a loader refuses any other top-level
 *   member of the file (check `structure`, `details.member`), and any top-level member of the
 *   content that `SnapshotContent` does not have (file and store alike), as not compiler output.
 * - **Loading** recomputes everything and refuses any mismatch with `E_SNAPSHOT_INTEGRITY`
 *   (message contains "integrity"; `details.reason = "snapshot_integrity"`, `details.check` =
 *   `parse` (not JSON) / `canonical` (the file is not the canonical form of what it holds — a
 *   changed byte that still parses) / `digest` (the recorded digest differs from the content's)
 *   / `expected` (the content is not the snapshot the caller asked for) / `structure` (the
 *   content is not a well-formed Cairn snapshot of this version: every member the runtime
 *   reads is checked, with its type and cross-references, and names and store paths against
 *   the compiler's grammar (snapshot-grammar.ts), so a re-sealed content cannot aim the trace
 *   directory or a store file outside the workspace or data root — `structureProblem`), and each
 *   step's handler, operation, method, inputs, outputs and outcomes, each node's address,
 *   outcomes and routes, against the sealed tables and each other (snapshot-contract.ts), so
 *   the trace cannot name another capability than the one that runs). So flipping any byte of the file is
 *   refused, whatever part of the content it lies in.
 * - By digest: the content artifact is read from the store (which verifies its bytes) and the
 *   digest recomputed as well.
 */
import { readFileSync, statSync } from "node:fs";
import { canonicalBytes } from "../../core/canonical.js";
import { checkPathArgument } from "../../core/describe.js";
import { isDigest, sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { jsonTextTooDeep } from "../../core/json-walk.js";
import { withoutBom } from "../../core/utf8.js";
import { MAX_PAYLOAD_DEPTH, PYJSON_MAX_DEPTH } from "../py/json.js";
import type { Store } from "../../store/store.js";
import { SNAPSHOT_FILE_FORMAT, SNAPSHOT_KIND, SNAPSHOT_VERSION, type SnapshotContent } from "./model.js";
import { CAIRN_WORKFLOW_FORMAT } from "./schema.js";
import { codeProblem, exitProblem, nameProblem, namespaceProblem, storePathProblem } from "./snapshot-grammar.js";
import { floatsProblem } from "./sealed-value.js";
import { parseBindingPath } from "./paths.js";
import { workflowContractProblem } from "./snapshot-contract.js";

export const SNAPSHOT_MEDIA_TYPE = "application/vnd.cairn.workflow.snapshot+json";
export const MODULE_MEDIA_TYPE = "application/vnd.cairn.workflow.module+javascript";
export const SNAPSHOT_INTEGRITY_REASON = "snapshot_integrity";
/** Largest sealed snapshot file read. */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

export type SealCheck = "parse" | "canonical" | "digest" | "expected" | "structure";

/**
 * Deepest nesting of a sealed file's JSON (objects and arrays): `PYJSON_MAX_DEPTH` (512), the
 * deepest value the runtime's serialisers take. The compiler seals far less (a declaration nests
 * at most `MAX_DECLARATION_DEPTH` = 256 levels, cairn/depth.ts; sealing adds a few levels above
 * it and at most half again inside input builders). A deeper file — sealed by a build before
 * 2026-11-27, or made by hand — is refused before anything walks it recursively (it used to fail
 * every run with `E_INTERNAL`, "Maximum call stack size exceeded"). A stored content alike.
 */
export const SEALED_MAX_DEPTH = PYJSON_MAX_DEPTH;

/** E_SNAPSHOT_INTEGRITY (`structure`) when `text` nests past SEALED_MAX_DEPTH. */
function refuseTooDeep(text: string, shown: string, details: Record<string, unknown>): void {
  const deep = jsonTextTooDeep(text, SEALED_MAX_DEPTH);
  if (deep !== null) {
    throw integrity("structure", `${shown} nests deeper than ${SEALED_MAX_DEPTH} levels (line ${deep.line}, column ${deep.column}): the compiler never seals such a snapshot (a declaration nests at most ${MAX_PAYLOAD_DEPTH} levels); recompile its declarations with this build`, { ...details, line: deep.line, column: deep.column });
  }
}

function integrity(check: SealCheck, message: string, details: Record<string, unknown> = {}): CairnError {
  return new CairnError(ErrorCode.SNAPSHOT_INTEGRITY, `snapshot integrity check failed (${check}): ${message}`, { reason: SNAPSHOT_INTEGRITY_REASON, check, ...details });
}

export interface SealedSnapshot {
  digest: Digest;
  content: SnapshotContent;
}

/** The bytes of the sealed file for `content`. */
export function sealedFileBytes(content: SnapshotContent): { digest: Digest; bytes: Buffer } {
  const digest = sha256(canonicalBytes(content));
  return { digest, bytes: Buffer.from(canonicalBytes({ format: SNAPSHOT_FILE_FORMAT, digest, content })) };
}

type Obj = Record<string, unknown>;
/** The members of the sealed file, exactly (`sealedFileBytes`). */
const SEALED_FILE_MEMBERS: readonly string[] = ["format", "digest", "content"];
/** The top-level members of a snapshot content, exactly (`SnapshotContent`, as compile.ts writes it). */
const CONTENT_MEMBERS: readonly string[] = ["kind", "version", "format", "maxHops", "workflows", "modules"];
/** The first member of `o` (in key order) that is not one of `known`, or null. */
function unknownMember(o: Obj, known: readonly string[]): string | null {
  return Object.keys(o).find((k) => !known.includes(k)) ?? null;
}
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
const own = (o: Obj, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** The first `{const, floats}` of a lane payload template whose `floats` is malformed (as for a step input's constant). */
function laneConstProblem(t: unknown, at: string): string | null {
  if (!isObj(t)) return null; // the lane's own checks (lane-compile.ts) shape the rest
  if (own(t, "const")) return floatsProblem(t as { const: unknown }, at);
  if (own(t, "object") && isObj(t.object)) {
    for (const [k, x] of Object.entries(t.object)) {
      const e = laneConstProblem(x, `${at}.object.${k}`);
      if (e !== null) return e;
    }
  }
  if (own(t, "array") && Array.isArray(t.array)) {
    for (let i = 0; i < t.array.length; i++) {
      const e = laneConstProblem(t.array[i], `${at}.array[${i}]`);
      if (e !== null) return e;
    }
  }
  if (own(t, "json")) return laneConstProblem(t.json, `${at}.json`);
  return null;
}

/** The first structural problem of a binding, or null. */
function bindingProblem(b: unknown, at: string): string | null {
  if (!isObj(b)) return `${at} is not a binding object`;
  if (own(b, "bind")) {
    const p = b.bind;
    if (!isObj(p) || !isStr(p.path) || !["payload", "results", "steps"].includes(p.root as string) || !(p.name === null || isStr(p.name)) || !Array.isArray(p.segments) || !p.segments.every((x) => isStr(x) || Number.isInteger(x))) return `${at}.bind is not a binding path`;
    if (p.root !== "payload" && !isStr(p.name)) return `${at}.bind names no node or step`;
    // The runtime follows root / name / segments; the trace and examine show the path: they must agree.
    const parsed = parseBindingPath(p.path);
    if (typeof parsed === "string") return `${at}.bind.path ${JSON.stringify(p.path)} is not a binding path: ${parsed}`;
    if (parsed.root !== p.root || parsed.name !== p.name || JSON.stringify(parsed.segments) !== JSON.stringify(p.segments)) return `${at}.bind: root, name and segments are not those of its path ${JSON.stringify(p.path)}`;
    return null;
  }
  if (own(b, "const")) return floatsProblem(b as { const: unknown }, at);
  if (own(b, "object")) {
    if (!isObj(b.object)) return `${at}.object is not an object`;
    for (const [k, x] of Object.entries(b.object)) {
      const e = bindingProblem(x, `${at}.object.${k}`);
      if (e !== null) return e;
    }
    return null;
  }
  if (own(b, "array")) {
    if (!Array.isArray(b.array)) return `${at}.array is not an array`;
    for (let i = 0; i < b.array.length; i++) {
      const e = bindingProblem(b.array[i], `${at}.array[${i}]`);
      if (e !== null) return e;
    }
    return null;
  }
  return `${at} is none of bind / const / object / array`;
}

/**
 * The first structural problem of a snapshot content (every member the runtime reads, with its
 * type and cross-references: entry and route targets, step stores, module digests), or null.
 * Names and paths are held to the grammar the compiler enforces (snapshot-grammar.ts): each
 * workflow is keyed `<namespace>::<code>`, the namespace is one safe path segment and the code a
 * workflow code (they name the trace directory), node, step, store, module and input names
 * are names, exits exit names, the source a base name, and every store path a
 * relative path with no `..`, `\`, NUL or control character (it is opened under the data root).
 * `maxHops` is not required: the runtime falls back to CAIRN_MAX_HOPS (run.ts).
 */
export function structureProblem(content: unknown): string | null {
  const c = content;
  if (!isObj(c) || c.kind !== SNAPSHOT_KIND || c.version !== SNAPSHOT_VERSION) return `not a ${SNAPSHOT_KIND} version ${SNAPSHOT_VERSION}`;
  const extra = unknownMember(c, CONTENT_MEMBERS);
  if (extra !== null) return `unknown top-level member ${JSON.stringify(extra)}`;
  if (!isObj(c.workflows)) return "workflows is not an object";
  if (!isObj(c.modules)) return "modules is not an object";
  for (const [d, m] of Object.entries(c.modules)) {
    if (!isDigest(d)) return `modules: ${JSON.stringify(d)} is not a digest`;
    if (!isObj(m) || !isStr(m.code) || !isObj(m.capabilities)) return `modules.${d} is not {code, capabilities}`;
    for (const [k, x] of Object.entries(m.capabilities)) if (!isObj(x) || !isStrList(x.outputs)) return `modules.${d}.capabilities.${k}.outputs is not a list of strings`;
  }
  for (const [fqdn, w] of Object.entries(c.workflows)) {
    const at = `workflows.${fqdn}`;
    if (!isObj(w)) return `${at} is not an object`;
    for (const k of ["namespace", "code", "entry"]) if (!isStr(w[k])) return `${at}.${k} is not a string`;
    const nsBad = namespaceProblem(w.namespace) ?? (fqdn.startsWith(`${w.namespace as string}::`) ? null : "is not the namespace of the workflow's key");
    if (nsBad !== null) return `${at}.namespace ${nsBad}`;
    const codeBad = codeProblem(w.code) ?? (fqdn === `${w.namespace as string}::${w.code as string}` ? null : "is not the code of the workflow's key");
    if (codeBad !== null) return `${at}.code ${codeBad}`;
    if (!(w.description === null || isStr(w.description))) return `${at}.description is not a string or null`;
    if (!isObj(w.source) || !isStr(w.source.file) || !isStr(w.source.digest)) return `${at}.source is not {file, digest}`;
    if (w.source.file === "" || w.source.file === "." || w.source.file === ".." || w.source.file.includes("/") || w.source.file.includes("\0")) return `${at}.source.file ${JSON.stringify(w.source.file)} is not a base name`;
    if (w.maxHops !== undefined && typeof w.maxHops !== "number") return `${at}.maxHops is not a number`;
    if (!isObj(w.stores)) return `${at}.stores is not an object`;
    for (const [k, st] of Object.entries(w.stores)) {
      if (!isObj(st) || !["registry", "appendonly", "mutable"].includes(st.kind as string) || !isStr(st.capability) || !isStr(st.path)) return `${at}.stores.${k} is not {kind, capability, path}`;
      const nameBad = nameProblem(k, { key: true });
      if (nameBad !== null) return `${at}.stores: store name ${nameBad}`;
      const pathBad = storePathProblem(st.path);
      if (pathBad !== null) return `${at}.stores.${k}.path ${pathBad}`;
    }
    if (!isObj(w.modules)) return `${at}.modules is not an object`;
    for (const [k, m] of Object.entries(w.modules)) {
      if (!isObj(m) || !isStr(m.path) || !isStr(m.digest)) return `${at}.modules.${k} is not {path, digest}`;
      const bad = nameProblem(k, { key: true });
      if (bad !== null) return `${at}.modules: module name ${bad}`;
    }
    if (!isObj(w.nodes)) return `${at}.nodes is not an object`;
    const nodes = w.nodes;
    if (!own(nodes, w.entry as string)) return `${at}.entry names no node`;
    for (const [key, n] of Object.entries(nodes)) {
      const nat = `${at}.nodes.${key}`;
      const keyBad = nameProblem(key, { key: true });
      if (keyBad !== null) return `${at}.nodes: node key ${keyBad}`;
      if (!isObj(n)) return `${nat} is not an object`;
      if (!isPosInt(n.addr)) return `${nat}.addr is not a positive integer`;
      if (!(n.maxVisits === null || isPosInt(n.maxVisits))) return `${nat}.maxVisits is not a positive integer or null`;
      if (!isStrList(n.outcomes)) return `${nat}.outcomes is not a list of strings`;
      if (!isObj(n.routes)) return `${nat}.routes is not an object`;
      for (const [o, r] of Object.entries(n.routes)) {
        if (isObj(r) && isStr(r.node)) {
          if (!own(nodes, r.node)) return `${nat}.routes.${o} names no node`;
        } else if (!(isObj(r) && isStr(r.exit) && isStr(r.reason))) return `${nat}.routes.${o} is neither {node} nor {exit, reason}`;
        else if (exitProblem(r.exit) !== null) return `${nat}.routes.${o}.exit ${exitProblem(r.exit) as string}`;
      }
      if (!Array.isArray(n.steps)) return `${nat}.steps is not a list`;
      for (let i = 0; i < n.steps.length; i++) {
        const s: unknown = n.steps[i];
        const sat = `${nat}.steps[${i}]`;
        if (!isObj(s) || !isStr(s.id)) return `${sat} is not a step with an id`;
        const idBad = nameProblem(s.id);
        if (idBad !== null) return `${sat}.id ${idBad}`;
        if (!isObj(s.inputs)) return `${sat}.inputs is not an object`;
        for (const [k, b] of Object.entries(s.inputs)) {
          const inBad = nameProblem(k, { key: true });
          if (inBad !== null) return `${sat}.inputs: input name ${inBad}`;
          const e = bindingProblem(b, `${sat}.inputs.${k}`);
          if (e !== null) return e;
        }
        if (!isStrList(s.outputs) || !isStrList(s.outcomes)) return `${sat}.outputs / outcomes are not lists of strings`;
        if (!isObj(s.onResult) || !Object.values(s.onResult).every((a) => a === "continue" || a === "exit")) return `${sat}.onResult is not a map to continue / exit`;
        if (s.lane !== undefined && (!isObj(s.lane) || !isStr(s.lane.laneId) || !isStr(s.lane.kind) || !isStr(s.lane.operation) || !isObj(s.lane.payload))) return `${sat}.lane is not a lane binding`;
        if (s.lane !== undefined) {
          const t = laneConstProblem((s.lane as Record<string, unknown>).payload, `${sat}.lane.payload`);
          if (t !== null) return t;
        }
        if (s.kind === "cs") {
          for (const k of ["store", "capability", "op", "method"]) if (!isStr(s[k])) return `${sat}.${k} is not a string`;
          if (!own(w.stores, s.store as string)) return `${sat}.store names no store of the workflow`;
        } else if (s.kind === "ct") {
          const h = s.handler;
          if (isObj(h) && h.type === "atom") {
            if (!isStr(h.name) || !isStr(h.ref)) return `${sat}.handler is not {type: atom, name, ref}`;
          } else if (isObj(h) && h.type === "user") {
            if (!isStr(h.module) || !isStr(h.digest) || !isStr(h.capability)) return `${sat}.handler is not {type: user, module, digest, capability}`;
            if (!own(c.modules, h.digest)) return `${sat}.handler names module ${h.digest}, which the snapshot does not hold`;
          } else return `${sat}.handler is neither an atom nor a user CT`;
        } else return `${sat}.kind is neither ct nor cs`;
      }
    }
    const contract = workflowContractProblem(c, w, at);
    if (contract !== null) return contract;
  }
  return null;
}

function checkStructure(content: unknown): SnapshotContent {
  const problem = structureProblem(content);
  if (problem !== null) throw integrity("structure", problem === `not a ${SNAPSHOT_KIND} version ${SNAPSHOT_VERSION}` ? problem : `not a well-formed ${SNAPSHOT_KIND} version ${SNAPSHOT_VERSION}: ${problem}`);
  return content as SnapshotContent;
}

/** `<shown> is not a sealed Cairn snapshot (<format>)`: the start of every message for a file that is none. */
const notSealed = (shown: string): string => `${shown} is not a sealed Cairn snapshot (${SNAPSHOT_FILE_FORMAT})`;

/** What to do with a Cairn declaration given as a snapshot: the CLI's command, or the library's (until 2026-11-28 the command only). */
const compileFirst = (shown: string): string => `: it is a Cairn workflow declaration (cairn: ${CAIRN_WORKFLOW_FORMAT}), not compiler output; compile it first: cairn wf compile ${shown} --out <snapshot>, or compileWorkflows`;

/**
 * A YAML (or BOM-led JSON) declaration's marker line, `cairn: cairn.workflow/v1` at the top
 * level, quoted or not, in a text that is not JSON (only looked for then, to name a declaration
 * given as a snapshot).
 */
const DECLARATION_MARKER_RE = /^(["']?)cairn\1[ \t]*:[ \t]*(["']?)cairn\.workflow\/v1\2[ \t]*(?:#[^\n]*)?\r?$/m;

/** Whether `text`, which JSON.parse refused, is a Cairn declaration (YAML, or JSON after a BOM). */
function looksLikeDeclarationText(text: string): boolean {
  const body = withoutBom(text);
  try {
    return isDeclarationDoc(JSON.parse(body));
  } catch {
    return DECLARATION_MARKER_RE.test(body);
  }
}

const isDeclarationDoc = (doc: unknown): boolean => isObj(doc) && doc.cairn === CAIRN_WORKFLOW_FORMAT;

/** Verifies sealed-file bytes (see the module comment). */
export function verifySealedBytes(bytes: Buffer, shown: string, expected?: Digest): SealedSnapshot {
  let doc: unknown;
  const text = bytes.toString("utf8");
  refuseTooDeep(text, shown, { path: shown });
  try {
    doc = JSON.parse(text);
  } catch (err) {
    if (looksLikeDeclarationText(text)) throw integrity("parse", `${notSealed(shown)}${compileFirst(shown)}`, { path: shown, declaration: true });
    throw integrity("parse", `${shown} is not valid JSON (${(err as Error).message})`, { path: shown });
  }
  // A file that does not even claim to be a sealed snapshot (no `format` member naming it: a
  // declaration, a payload, a PGS snapshot…) is said to be none, whether or not its bytes are
  // canonical; only a file that claims it is held to the canonical form ("changed after sealing").
  if (!isObj(doc) || doc.format !== SNAPSHOT_FILE_FORMAT) {
    const declaration = isDeclarationDoc(doc);
    throw integrity("structure", `${notSealed(shown)}${declaration ? compileFirst(shown) : ""}`, { path: shown, ...(declaration ? { declaration: true } : {}) });
  }
  let canonical: Uint8Array;
  try {
    canonical = canonicalBytes(doc);
  } catch (err) {
    throw integrity("canonical", `${shown} holds a value with no canonical form (${(err as Error).message})`, { path: shown });
  }
  if (!Buffer.from(canonical).equals(bytes)) throw integrity("canonical", `${shown} is not in canonical form: its bytes were changed after sealing`, { path: shown });
  const env = doc as { format?: unknown; digest?: unknown; content?: unknown };
  if (env === null || typeof env !== "object" || env.format !== SNAPSHOT_FILE_FORMAT || typeof env.digest !== "string" || env.content === null || typeof env.content !== "object") {
    throw integrity("structure", notSealed(shown), { path: shown });
  }
  // The digest covers only `content`: a member added beside it would ride along unverified.
  const extra = unknownMember(env as Obj, SEALED_FILE_MEMBERS);
  if (extra !== null) throw integrity("structure", `${shown} is not a sealed Cairn snapshot (${SNAPSHOT_FILE_FORMAT}): unknown top-level member ${JSON.stringify(extra)}`, { path: shown, member: extra });
  const actual = sha256(canonicalBytes(env.content));
  if (actual !== env.digest) throw integrity("digest", `${shown}: the content's digest is ${actual}, the seal says ${env.digest}`, { path: shown, recorded: env.digest, actual });
  if (expected !== undefined && actual !== expected) throw integrity("expected", `${shown} is snapshot ${actual}, not the expected ${expected}`, { path: shown, expected, actual });
  return { digest: actual, content: checkStructure(env.content) };
}

/**
 * Re-verifies a snapshot held in memory (what `verifySealedBytes` / `loadSealedFile` /
 * `loadSnapshotFromStore` returned, which the caller may have changed since): its content's
 * canonical bytes hash to its digest and it is well-formed (`E_SNAPSHOT_INTEGRITY` otherwise,
 * checks `canonical` / `digest` / `structure`). Returns an independent copy of the content
 * (parsed back from those canonical bytes), so later changes to the caller's object cannot
 * reach what was verified.
 */
export function reverifySealedSnapshot(s: SealedSnapshot, shown: string): SealedSnapshot {
  let bytes: Buffer;
  try {
    bytes = canonicalBytes(s.content);
  } catch (err) {
    throw integrity("canonical", `${shown} holds a value with no canonical form (${(err as Error).message})`);
  }
  const actual = sha256(bytes);
  if (actual !== s.digest) throw integrity("digest", `${shown}: the content's digest is ${actual}, the seal says ${String(s.digest)}`, { recorded: s.digest, actual });
  return { digest: actual, content: checkStructure(JSON.parse(bytes.toString("utf8")) as unknown) };
}

/** Loads and verifies a sealed snapshot file. */
export function loadSealedFile(path: string, expected?: Digest): SealedSnapshot {
  checkPathArgument("loadSealedFile", "path", path);
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `snapshot ${path} is not a regular file`, { path });
    if (st.size > MAX_SNAPSHOT_BYTES) throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `snapshot ${path} is ${st.size} bytes, more than the ${MAX_SNAPSHOT_BYTES}-byte limit`, { path });
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError(ErrorCode.NOT_FOUND, `snapshot file not found: ${path}`, { path });
  }
  return verifySealedBytes(bytes, path, expected);
}

/**
 * Loads a snapshot's content artifact from the store by digest and verifies it. Any damage is
 * `E_SNAPSHOT_INTEGRITY`, also when the store itself finds the artifact's bytes changed
 * (`E_STORE_CORRUPT`); `what` names the snapshot in that message, `details` go with it.
 */
export function loadSnapshotFromStore(store: Pick<Store, "get">, digest: Digest, what = `snapshot ${digest}`, details: Record<string, unknown> = {}): SealedSnapshot {
  if (!isDigest(digest)) throw new CairnError(ErrorCode.DIGEST_INVALID, `not a digest: ${digest}`);
  let bytes: Buffer;
  try {
    bytes = Buffer.from(store.get(digest));
  } catch (err) {
    if (err instanceof CairnError && err.code === ErrorCode.STORE_CORRUPT) {
      throw integrity("digest", `${what} was changed in the store: ${err.message}`, { snapshot: digest, ...details });
    }
    throw err;
  }
  let content: unknown;
  const text = bytes.toString("utf8");
  refuseTooDeep(text, `artifact ${digest}`, { snapshot: digest, ...details });
  try {
    content = JSON.parse(text);
  } catch (err) {
    throw integrity("parse", `artifact ${digest} is not JSON (${(err as Error).message})`);
  }
  if (!Buffer.from(canonicalBytes(content)).equals(bytes)) throw integrity("canonical", `artifact ${digest} is not in canonical form`);
  const actual = sha256(bytes);
  if (actual !== digest) throw integrity("digest", `artifact ${digest} hashes to ${actual}`);
  return { digest, content: checkStructure(content) };
}

/** Root (kind `pin`) that keeps a compiled snapshot through gc. */
export const SNAPSHOT_ROOT_PREFIX = "cairn-wf-snapshot:";

/**
 * Stores a compiled snapshot: the content artifact (its digest is the snapshot digest), the
 * module bundles, `contains` edges, and the root `cairn-wf-snapshot:<digest>`.
 */
export function storeSnapshot(store: Store, content: SnapshotContent): Digest {
  return store.transaction(() => {
    const digest = store.putBytes(canonicalBytes(content), { mediaType: SNAPSHOT_MEDIA_TYPE }).digest;
    const mods = Object.keys(content.modules).sort().map((d) => store.putBytes(Buffer.from((content.modules[d] as { code: string }).code, "utf8"), { mediaType: MODULE_MEDIA_TYPE }).digest);
    if (mods.length > 0) store.addEdge({ from: [digest], to: [...new Set(mods)], type: "contains", role: "cairn.workflow.module" });
    store.pin(`${SNAPSHOT_ROOT_PREFIX}${digest}`, digest, "pin");
    return digest;
  });
}
