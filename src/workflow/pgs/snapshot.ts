/**
 * Loading a PGS v0.3 workspace snapshot for one domain (SEMANTICS A.1–A.3).
 *
 * Files are read in the reference order (dispatch, handlers, metadata, attestation, forward,
 * reverse) plus topology.json (for the recomputed trust hash); the first missing one fails with
 * `Required snapshot file missing: <path>`. Every address becomes an integer; the newer
 * dispatch format (object routing targets, `start_key`) is refused with a clear error. The
 * trust rule (trust.ts) runs after the structure is known to be v0.3.
 *
 * The package is read-only and carries the snapshot digest: the canonical digest of the list
 * of its eight files and their SHA-256 digests (see `snapshotManifest`).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { canonicalDigest } from "../../core/canonical.js";
import { sha256, type Digest } from "../../core/digest.js";
import { MAX_SNAPSHOT_FILE_BYTES, TOKENIZED_DIR, TRUST_DIR, VOCABULARY_DIR } from "./constants.js";
import { parsePyJson } from "./pyjson.js";
import { pyIntFromHexString, pyIntFromString } from "../py/numbers.js";
import { verifyTrust } from "./trust.js";
import type { PyObject, PyValue } from "./value.js";
import { Vocabulary } from "./vocab.js";
import { strictUtf8 } from "../../core/utf8.js";

export const SNAPSHOT_MANIFEST_KIND = "cairn.pgs.snapshot";
export const SNAPSHOT_MANIFEST_VERSION = 1;
export const UNSUPPORTED_FORMAT_REASON = "unsupported_snapshot_format";

/** The snapshot files in reading order: [role, directory, file name]. */
export const SNAPSHOT_FILES = [
  ["dispatch", TOKENIZED_DIR, "dispatch.json"],
  ["handlers", TOKENIZED_DIR, "handlers.json"],
  ["metadata", TOKENIZED_DIR, "metadata.json"],
  ["attestation", TRUST_DIR, "structure_attestation.json"],
  ["forward", VOCABULARY_DIR, "forward.json"],
  ["reverse", VOCABULARY_DIR, "reverse.json"],
  ["topology", TOKENIZED_DIR, "topology.json"],
  ["vocabularyMetadata", VOCABULARY_DIR, "metadata.json"],
] as const;

/**
 * Files the runtime never reads (SEMANTICS A.1: `vocabulary_snapshot/<d>/metadata.json` is "not
 * read by the runtime"): recorded in the snapshot (and its digest) when present, neither
 * required nor parsed.
 */
const UNREAD_ROLES: ReadonlySet<string> = new Set(["vocabularyMetadata"]);

export type SnapshotRole = (typeof SNAPSHOT_FILES)[number][0];

export interface SnapshotFile {
  role: SnapshotRole;
  /** Path relative to the workspace root, with `/` separators. */
  path: string;
  digest: Digest;
  bytes: Buffer;
}

export interface EntryPoint {
  start: number;
  rb: number;
}

/** The loaded, trusted snapshot of one domain. Treat as read-only. */
export interface PgsPackage {
  domain: string;
  routing: Map<number, Map<number, Map<number, number>>>;
  entry: Map<number, EntryPoint>;
  bindings: Map<number, Map<number, PyValue>>;
  /** `pipeline[cc]` = the step list, kept verbatim. */
  pipeline: Map<number, PyValue[]>;
  ct: Map<number, PyValue>;
  cs: Map<number, PyValue>;
  rbPolicy: Map<number, Map<number, PyValue>>;
  vocab: Vocabulary;
  files: SnapshotFile[];
  /** Canonical digest of the snapshot manifest (identity of the snapshot). */
  digest: Digest;
}

function readSnapshotFile(workspace: string, rel: string): Buffer {
  const abs = join(workspace, rel);
  let size: number;
  try {
    const st = statSync(abs);
    if (!st.isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `Snapshot file is not a regular file: ${abs}`, { file: rel });
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new CairnError(ErrorCode.NOT_FOUND, `Required snapshot file missing: ${abs}`, { file: rel });
    }
    throw err instanceof CairnError ? err : new CairnError(ErrorCode.INVALID_INPUT, `cannot read snapshot file ${abs}: ${(err as Error).message}`, { file: rel });
  }
  if (size > MAX_SNAPSHOT_FILE_BYTES) {
    throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `Snapshot file ${abs} is ${size} bytes, more than the ${MAX_SNAPSHOT_FILE_BYTES}-byte limit`, { file: rel });
  }
  return readFileSync(abs);
}

/** Field path helper for error messages: `dispatch.json: routing["53"]["11"]`. */
class Where {
  constructor(
    readonly file: string,
    readonly path: string,
  ) {}
  at(k: string): Where {
    return new Where(this.file, this.path === "" ? k : `${this.path}[${JSON.stringify(k)}]`);
  }
  fail(msg: string, reason?: string): never {
    const details: Record<string, unknown> = { file: this.file, field: this.path };
    if (reason !== undefined) details.reason = reason;
    throw new CairnError(ErrorCode.INVALID_INPUT, `${this.file}: ${this.path} ${msg}`, details);
  }
}

const NEWER_FORMAT_HINT =
  "this is the newer PGS dispatch format (object routing targets / start_key, node-key bindings), which a v0.3 loader does not accept";

/** Python `int(x)` for the shapes snapshots use: ints, integral floats, decimal strings (`pyIntFromString`: Python's text rule); `int(x, 16)` for hex ones (`pyIntFromHexString`, the same text rule). */
function toInt(v: PyValue, where: Where, hex = false): number {
  let n: number | undefined;
  if (typeof v === "bigint") n = Number(v);
  else if (typeof v === "number" && Number.isInteger(v)) n = v;
  else if (typeof v === "string") {
    n = hex ? pyIntFromHexString(v) : pyIntFromString(v);
  }
  if (n === undefined || !Number.isSafeInteger(n)) {
    if (v instanceof Map) where.fail(`is an object, not an integer address: ${NEWER_FORMAT_HINT}`, UNSUPPORTED_FORMAT_REASON);
    where.fail(`must be an integer address, got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`);
  }
  return n;
}

function asObject(v: PyValue, where: Where): PyObject {
  if (!(v instanceof Map)) where.fail("must be an object");
  return v;
}

/** A top-level section; missing (or null) counts as empty. */
function section(root: PyObject, name: string, where: Where): PyObject {
  const v = root.get(name);
  return v === undefined || v === null ? new Map() : asObject(v, where.at(name));
}

function intKeyed<T>(obj: PyObject, where: Where, f: (v: PyValue, w: Where) => T): Map<number, T> {
  const out = new Map<number, T>();
  for (const [k, v] of obj) {
    const w = where.at(k);
    out.set(toInt(k, w), f(v, w));
  }
  return out;
}

function convertDispatch(root: PyObject, file: string) {
  const w = new Where(file, "");
  const routing = intKeyed(section(root, "routing", w), w.at("routing"), (wf, ww) =>
    intKeyed(asObject(wf, ww), ww, (node, wn) => intKeyed(asObject(node, wn), wn, (target, wt) => toInt(target, wt))),
  );
  const entry = intKeyed(section(root, "entry", w), w.at("entry"), (e, we): EntryPoint => {
    const o = asObject(e, we);
    if (o.has("start_key")) we.at("start_key").fail(`is present: ${NEWER_FORMAT_HINT}`, UNSUPPORTED_FORMAT_REASON);
    for (const [k, v] of o) toInt(v, we.at(k)); // every entry value converts to int (A.2)
    if (!o.has("start")) we.fail('lacks "start"');
    if (!o.has("rb")) we.fail('lacks "rb"');
    return { start: toInt(o.get("start") as PyValue, we.at("start")), rb: toInt(o.get("rb") as PyValue, we.at("rb")) };
  });
  const bindings = intKeyed(section(root, "bindings", w), w.at("bindings"), (wf, ww) => intKeyed(asObject(wf, ww), ww, (b) => b));
  const pipeline = intKeyed(section(root, "pipeline", w), w.at("pipeline"), (steps, ws): PyValue[] => (Array.isArray(steps) ? steps : ws.fail("must be a list of steps")));
  return { routing, entry, bindings, pipeline };
}

function convertHandlers(root: PyObject, file: string) {
  const w = new Where(file, "");
  const ct = intKeyed(section(root, "ct", w), w.at("ct"), (v) => v);
  const cs = intKeyed(section(root, "cs", w), w.at("cs"), (v) => v);
  const rbPolicy = intKeyed(section(root, "rb_policy", w), w.at("rb_policy"), (rb, wr) => intKeyed(asObject(rb, wr), wr, (v) => v));
  return { ct, cs, rbPolicy };
}

function convertVocab(forward: PyObject, reverse: PyObject, fwdFile: string, revFile: string): Vocabulary {
  const fw = new Where(fwdFile, "");
  const rw = new Where(revFile, "");
  const byAddr = new Map<number, string>();
  for (const [k, v] of forward) {
    byAddr.set(toInt(k, fw.at(k), true), typeof v === "string" ? v : fw.at(k).fail("must be an FQDN string"));
  }
  const byFqdn = new Map<string, number>();
  for (const [k, v] of reverse) byFqdn.set(k, toInt(v, rw.at(k), true));
  return new Vocabulary(byAddr, byFqdn);
}

/** The manifest whose canonical digest is the snapshot digest. */
export function snapshotManifest(domain: string, files: readonly SnapshotFile[]): { kind: string; version: number; domain: string; files: Array<{ path: string; digest: Digest }> } {
  return { kind: SNAPSHOT_MANIFEST_KIND, version: SNAPSHOT_MANIFEST_VERSION, domain, files: files.map((f) => ({ path: f.path, digest: f.digest })) };
}

/** Loads and verifies the snapshot of `domain` under `workspace`. */
export function loadSnapshot(workspace: string, domain: string): PgsPackage {
  const files: SnapshotFile[] = [];
  const parsed = new Map<SnapshotRole, PyObject>();
  for (const [role, dir, name] of SNAPSHOT_FILES) {
    const rel = `${dir}/${domain}/${name}`;
    const unread = UNREAD_ROLES.has(role);
    if (unread && !existsSync(join(workspace, rel))) continue;
    const bytes = readSnapshotFile(workspace, rel);
    files.push({ role, path: rel, digest: sha256(bytes), bytes });
    if (unread) continue;
    const decoded = strictUtf8(bytes);
    if ("invalidLine" in decoded) throw new CairnError(ErrorCode.INVALID_INPUT, `Snapshot file ${rel} is not valid UTF-8 (line ${decoded.invalidLine})`, { file: rel, line: decoded.invalidLine });
    const v = parsePyJson(decoded.text, rel);
    parsed.set(role, asObject(v, new Where(rel, "(root)")));
  }
  const get = (r: SnapshotRole): PyObject => parsed.get(r) as PyObject;
  const d = convertDispatch(get("dispatch"), `${TOKENIZED_DIR}/${domain}/dispatch.json`);
  const h = convertHandlers(get("handlers"), `${TOKENIZED_DIR}/${domain}/handlers.json`);
  const vocab = convertVocab(get("forward"), get("reverse"), `${VOCABULARY_DIR}/${domain}/forward.json`, `${VOCABULARY_DIR}/${domain}/reverse.json`);
  verifyTrust(domain, get("metadata"), get("attestation"), get("topology"), `${TOKENIZED_DIR}/${domain}/topology.json`);
  return { domain, ...d, ...h, vocab, files, digest: canonicalDigest(snapshotManifest(domain, files)) };
}
