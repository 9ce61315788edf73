/**
 * Sealing and loading Cairn snapshots.
 *
 * - The **snapshot digest** is the SHA-256 of the RFC 8785 canonical bytes of the whole
 *   content (`SnapshotContent`: every workflow, node, step, binding, route, store, and the
 *   user CT bundle texts). In the store the content is one artifact whose digest is exactly
 *   that (untyped artifacts are the plain SHA-256 of their bytes).
 * - The **sealed file** (`--out`) is the canonical JSON of `{format, digest, content}`.
 * - **Loading** recomputes everything and refuses any mismatch with `E_SNAPSHOT_INTEGRITY`
 *   (message contains "integrity"; `details.reason = "snapshot_integrity"`, `details.check` =
 *   `parse` (not JSON) / `canonical` (the file is not the canonical form of what it holds — a
 *   changed byte that still parses) / `digest` (the recorded digest differs from the content's)
 *   / `expected` (the content is not the snapshot the caller asked for) / `structure` (the
 *   content is not a Cairn snapshot of this version)). So flipping any byte of the file is
 *   refused, whatever part of the content it lies in.
 * - By digest: the content artifact is read from the store (which verifies its bytes) and the
 *   digest recomputed as well.
 */
import { readFileSync, statSync } from "node:fs";
import { canonicalBytes } from "../../core/canonical.js";
import { isDigest, sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { Store } from "../../store/store.js";
import { SNAPSHOT_FILE_FORMAT, SNAPSHOT_KIND, SNAPSHOT_VERSION, type SnapshotContent } from "./model.js";

export const SNAPSHOT_MEDIA_TYPE = "application/vnd.cairn.workflow.snapshot+json";
export const MODULE_MEDIA_TYPE = "application/vnd.cairn.workflow.module+javascript";
export const SNAPSHOT_INTEGRITY_REASON = "snapshot_integrity";
/** Largest sealed snapshot file read. */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

export type SealCheck = "parse" | "canonical" | "digest" | "expected" | "structure";

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

function checkStructure(content: unknown): SnapshotContent {
  const c = content as Partial<SnapshotContent> | null;
  if (c === null || typeof c !== "object" || Array.isArray(c) || c.kind !== SNAPSHOT_KIND || c.version !== SNAPSHOT_VERSION || typeof c.workflows !== "object" || c.workflows === null || typeof c.modules !== "object" || c.modules === null) {
    throw integrity("structure", `not a ${SNAPSHOT_KIND} version ${SNAPSHOT_VERSION}`);
  }
  return c as SnapshotContent;
}

/** Verifies sealed-file bytes (see the module comment). */
export function verifySealedBytes(bytes: Buffer, shown: string, expected?: Digest): SealedSnapshot {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw integrity("parse", `${shown} is not valid JSON (${(err as Error).message})`, { path: shown });
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
    throw integrity("structure", `${shown} is not a sealed Cairn snapshot (${SNAPSHOT_FILE_FORMAT})`, { path: shown });
  }
  const actual = sha256(canonicalBytes(env.content));
  if (actual !== env.digest) throw integrity("digest", `${shown}: the content's digest is ${actual}, the seal says ${env.digest}`, { path: shown, recorded: env.digest, actual });
  if (expected !== undefined && actual !== expected) throw integrity("expected", `${shown} is snapshot ${actual}, not the expected ${expected}`, { path: shown, expected, actual });
  return { digest: actual, content: checkStructure(env.content) };
}

/** Loads and verifies a sealed snapshot file. */
export function loadSealedFile(path: string, expected?: Digest): SealedSnapshot {
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

/** Loads a snapshot's content artifact from the store by digest and verifies it. */
export function loadSnapshotFromStore(store: Pick<Store, "get">, digest: Digest): SealedSnapshot {
  if (!isDigest(digest)) throw new CairnError(ErrorCode.DIGEST_INVALID, `not a digest: ${digest}`);
  const bytes = Buffer.from(store.get(digest));
  let content: unknown;
  try {
    content = JSON.parse(bytes.toString("utf8"));
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
