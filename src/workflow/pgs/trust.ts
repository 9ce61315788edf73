/**
 * The PGS trust rule (SEMANTICS A.3), made stricter: besides comparing
 * `metadata.projection_hash` with `attestation.tokenized_projection_hash`, Cairn recomputes
 * `projection_hash` from topology.json (SHA-256 of the canonical JSON of
 * `{nodes, edges, adjacency}`) and refuses any mismatch.
 *
 * Every failure is `E_SNAPSHOT_INTEGRITY` with `details.reason = "snapshot_integrity"` and
 * `details.check` = `empty` | `attestation` | `recomputed`. The messages of `empty` and
 * `attestation` are A.3's rules 1 and 2 verbatim (rule 1's has no "integrity": a mismatch is
 * what must say it, and both mismatch messages do); `recomputed` has its own.
 */
import { createHash } from "node:crypto";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { pyStrRepr } from "../py/repr.js";
import { canonicalPy } from "./pyjson.js";
import { member, type PyValue } from "./value.js";

export const SNAPSHOT_INTEGRITY_REASON = "snapshot_integrity";

export type IntegrityCheck = "empty" | "attestation" | "recomputed";

function integrityError(domain: string, check: IntegrityCheck, message: string, extra: Record<string, unknown> = {}): CairnError {
  return new CairnError(ErrorCode.SNAPSHOT_INTEGRITY, message, { reason: SNAPSHOT_INTEGRITY_REASON, check, domain, ...extra });
}

/** A hash field read as a string; missing or non-string counts as empty (the reference uses `str(x or "")`). */
function hashField(v: PyValue): string {
  return typeof v === "string" ? v : "";
}

/** Python `repr(str)`, as A.3's mismatch message quotes the hashes (py/repr.ts `pyStrRepr`). */
export const pyRepr = pyStrRepr;

/** SHA-256 hex of the canonical JSON of `{nodes, edges, adjacency}` of a topology.json value. */
export function projectionHash(topology: PyValue): string {
  const body = new Map<string, PyValue>([
    ["nodes", member(topology, "nodes")],
    ["edges", member(topology, "edges")],
    ["adjacency", member(topology, "adjacency")],
  ]);
  return createHash("sha256").update(canonicalPy(body), "utf8").digest("hex");
}

/** Applies the trust rule; throws the integrity error (message contains "integrity") on failure. */
export function verifyTrust(domain: string, metadata: PyValue, attestation: PyValue, topology: PyValue, topologyFile: string): void {
  const a = hashField(member(metadata, "projection_hash"));
  const b = hashField(member(attestation, "tokenized_projection_hash"));
  if (a === "" || b === "") {
    throw integrityError(
      domain,
      "empty",
      `[${domain}] Trust verification failed: projection_hash or tokenized_projection_hash is empty.`,
    );
  }
  if (a !== b) {
    throw integrityError(
      domain,
      "attestation",
      `[${domain}] Snapshot integrity failure: metadata.projection_hash=${pyRepr(a)} != attestation.tokenized_projection_hash=${pyRepr(b)}`,
      { projectionHash: a, attested: b },
    );
  }
  const recomputed = projectionHash(topology);
  if (recomputed !== a) {
    throw integrityError(
      domain,
      "recomputed",
      `[${domain}] Snapshot integrity failure: ${topologyFile} hashes to projection_hash=${pyRepr(recomputed)} but metadata and attestation say ${pyRepr(a)}`,
      { file: topologyFile, projectionHash: a, recomputed },
    );
  }
}
