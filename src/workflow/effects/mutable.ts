/**
 * CS_MUTABLE_JSON_V0 (SEMANTICS C.4): a key → value document per store entity, last write wins.
 *
 * The file is `module_data_root + "/" + entity_stores[<entity>].path` (a `path` config member
 * is ignored); the entity comes from the payload's `__pgs_store_entity__`. The document is one
 * JSON object in the *pretty* serialisation (2-space indent, `": "`, raw UTF-8, no newline at
 * EOF), member order = insertion order (an overwritten key keeps its place, a new key goes
 * last). Every save replaces the file atomically (fsio.ts); a leftover temp file from a crash
 * is never read, and the first call of a run on a document removes the ones whose writer is
 * provably gone (fsio.ts `sweepDeadTemps`, the shared rule of store/temp-files.ts: never a temp
 * of another pid space; once per run and document, `sweptFor`). A document that cannot be read
 * or parsed is BACKEND_ERROR — bare under the reference dialect (as C.4), with the reason as
 * `message` under the declared one (host.ts `backendError`).
 */
import { confineRelative, preparePath, refuseDirectoryPath, type PreparedPath } from "./confine.js";
import { configError, inputError, osErrorText } from "./errors.js";
import { readData, replaceAtomic, sweepDeadTemps } from "./fsio.js";
import { backendError, defineCsRuntime, status, type EffectDraft, type Method, type MethodResult } from "./host.js";
import { decodeUtf8 } from "./jsonl.js";
import { parsePyJson, prettyJson } from "../py/json.js";
import { pyValueRepr } from "../py/repr.js";
import { getOrNull, isDict, isPyBlank, pyTruthy, type PyDict, type PyValue } from "../py/value.js";
import { PAYLOAD_STORE_ENTITY } from "./policy.js";
import type { EffectContext } from "./types.js";

const WHERE = "CS_MUTABLE_JSON_V0";

interface Config {
  readonly moduleDataRoot: string;
  readonly entityStores: PyDict;
}

function parseConfig(config: PyDict): Config {
  const ssa = getOrNull(config, "storage_structure_artifact");
  if (!pyTruthy(ssa) || !isDict(ssa)) throw configError(`${WHERE}: config needs a storage_structure_artifact object`);
  const fm = getOrNull(ssa, "frontmatter");
  const core = isDict(fm) ? getOrNull(fm, "core") : null;
  const stores = isDict(core) ? getOrNull(core, "entity_stores") : null;
  if (!isDict(stores) || stores.size === 0) {
    throw configError(`${WHERE}: storage_structure_artifact.frontmatter.core.entity_stores must be a non-empty object`);
  }
  const root = getOrNull(config, "module_data_root");
  if (!pyTruthy(root)) throw configError(`${WHERE}: config needs a module_data_root`);
  if (typeof root !== "string") throw configError(`${WHERE}: module_data_root must be a string`);
  return { moduleDataRoot: root, entityStores: stores };
}

/** The documents (real paths) whose dead writers' temp files were swept, per run (effect context). */
const sweptFor = new WeakMap<EffectContext, Set<string>>();

/** Sweeps the dead writers' temp files of `p` on the run's first call on it (fsio.ts `sweepDeadTemps`). */
function sweepOnce(p: PreparedPath, ctx: EffectContext): void {
  if (p.realFile === undefined) return;
  let swept = sweptFor.get(ctx);
  if (swept === undefined) sweptFor.set(ctx, (swept = new Set()));
  if (swept.has(p.realFile)) return;
  swept.add(p.realFile);
  sweepDeadTemps(p);
}

/** Step 1: the entity's file (hard errors), parent directories created; its dead writers' temp files swept. */
function entityFile(cfg: Config, payload: PyDict, ctx: EffectContext): PreparedPath {
  const entity = getOrNull(payload, PAYLOAD_STORE_ENTITY);
  if (!pyTruthy(entity)) throw inputError(`${WHERE}: the step has no store entity (${PAYLOAD_STORE_ENTITY})`);
  if (typeof entity !== "string" || !cfg.entityStores.has(entity)) {
    // A name is quoted as JSON (as always); any other value is shown as Python shows it (`1`, `True`, `{'a': 1}`, bounded).
    const shown = typeof entity === "string" ? JSON.stringify(entity) : pyValueRepr(entity);
    throw inputError(`${WHERE}: store entity ${shown} is not in entity_stores`, { entity: typeof entity === "string" ? entity : shown });
  }
  const entry = getOrNull(cfg.entityStores, entity);
  const rel = isDict(entry) ? getOrNull(entry, "path") : null;
  if (!pyTruthy(rel) || typeof rel !== "string") throw configError(`${WHERE}: entity_stores.${entity} has no path`);
  const confined = confineRelative(ctx.dataRoot, cfg.moduleDataRoot, rel);
  if (ctx.refuseDirectoryPaths === true) refuseDirectoryPath(ctx.dataRoot, `${cfg.moduleDataRoot}/${rel}`);
  const p = preparePath(confined, true, ctx.durability !== "no-fsync", ctx.checkedDirs);
  sweepOnce(p, ctx);
  return p;
}

/** Step 2: a key with at least one non-whitespace character. */
function validKey(payload: PyDict): string | undefined {
  const key = getOrNull(payload, "key");
  return typeof key === "string" && !isPyBlank(key) ? key : undefined;
}

/** Step 3: the document, or a BACKEND_ERROR message. */
function load(p: PreparedPath): { doc: PyDict; bytes: Buffer } | { error: string; bytes: Buffer } {
  let bytes: Buffer | undefined;
  try {
    bytes = readData(p);
  } catch (err) {
    return { error: `cannot read ${JSON.stringify(p.rel)}: ${osErrorText(err)}`, bytes: Buffer.alloc(0) };
  }
  if (bytes === undefined) return { doc: new Map(), bytes: Buffer.alloc(0) };
  let doc: PyValue;
  try {
    doc = parsePyJson(decodeUtf8(bytes), { allowNonFiniteConstants: true });
  } catch (err) {
    return { error: `${JSON.stringify(p.rel)} is not valid JSON: ${(err as Error).message}`, bytes };
  }
  if (!(doc instanceof Map)) return { error: `${JSON.stringify(p.rel)} does not hold a JSON object`, bytes };
  return { doc, bytes };
}

function save(p: PreparedPath, doc: PyDict, sync: boolean): EffectDraft {
  const bytes = Buffer.from(prettyJson(doc), "utf8");
  replaceAtomic(p, bytes, sync);
  return { action: "replace", path: p.rel, bytes, created: p.stat === undefined };
}

function backend(cfg: Config, ctx: EffectContext) {
  type Body = (doc: PyDict, key: string, p: PreparedPath, seen: EffectDraft, payload: PyDict) => MethodResult;
  const op =
    (needsKey: boolean, body: Body): Method =>
    (payload) => {
      const p = entityFile(cfg, payload, ctx);
      const key = validKey(payload);
      if (needsKey && key === undefined) return { result: status("VIOLATION") };
      const loaded = load(p);
      const seen: EffectDraft = { action: "read", path: p.rel, bytes: loaded.bytes, created: false };
      if ("error" in loaded) return { result: backendError(ctx.operationDialect, loaded.error), effect: seen };
      return body(loaded.doc, key ?? "", p, seen, payload);
    };

  const read = op(true, (doc, key, _p, seen) =>
    doc.has(key) ? { result: status("SUCCESS", { value: doc.get(key) ?? null }), effect: seen } : { result: status("NOT_FOUND"), effect: seen },
  );
  const write = op(true, (doc, key, p, _seen, payload) => {
    doc.set(key, getOrNull(payload, "value"));
    return { result: status("SUCCESS"), effect: save(p, doc, ctx.durability !== "no-fsync") };
  });
  const del = op(true, (doc, key, p, seen) => {
    if (!doc.has(key)) return { result: status("NOT_FOUND"), effect: seen };
    doc.delete(key);
    return { result: status("SUCCESS"), effect: save(p, doc, ctx.durability !== "no-fsync") };
  });
  const exists = op(true, (doc, key, _p, seen) => ({ result: status("SUCCESS", { exists: doc.has(key) }), effect: seen }));
  const list_keys = op(false, (doc, _key, _p, seen) => ({ result: status("SUCCESS", { keys: [...doc.keys()] }), effect: seen }));

  return { methods: Object.freeze({ read, write, delete: del, exists, list_keys }) };
}

export const MUTABLE_RUNTIME = defineCsRuntime({
  capability: "CS_MUTABLE_JSON_V0",
  handlerRef: { module: "pgs_side_effects.implementation.side_effects.persistent.CS_MUTABLE_JSON_V0.runtime", callable: "MutableJsonRuntime" },
  referenceMethods: ["read", "write", "delete", "exists", "list_keys"],
  requiresOperationsMetadata: true,
  construct(config, ctx) {
    return backend(parseConfig(config), ctx);
  },
});
