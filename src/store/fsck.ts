/**
 * fsck: re-hashes every stored artifact and checks the catalog's consistency. It reports
 * every problem it finds (up to MAX_REPORTED_PROBLEMS, then a count of the rest) and never
 * repairs anything itself; crash recovery has already run because fsck opens the store as
 * the writer.
 */
import { closeSync, existsSync, openSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { canonicalize } from "../core/canonical.js";
import { digestFromBytes, digestToBytes, sha256, type Digest } from "../core/digest.js";
import { isCairnError } from "../core/errors.js";
import type { Catalog } from "./catalog.js";
import { OBJECTS_DIR, TMP_DIR, objectPath, readyPath } from "./layout.js";
import { verifyBytes, verifyFd, type ArtifactRow } from "./artifacts.js";
import { edgeId } from "./edges.js";
import { actionKey } from "./receipts.js";

/** Problems listed one by one before fsck only counts the rest. */
export const MAX_REPORTED_PROBLEMS = 10_000;
/** Packed artifacts verified per catalog read. */
const FSCK_PAGE = 1000;

export type FsckProblemCode =
  | "sqlite_integrity"
  | "artifact_corrupt"
  | "artifact_missing"
  | "swept_bytes_present"
  | "orphan_file"
  | "stray_file"
  | "dangling_reference"
  | "edge_invalid"
  | "receipt_invalid"
  | "logseq_gap"
  | "logseq_duplicate"
  | "too_many_problems";

export interface FsckProblem {
  code: FsckProblemCode;
  subject: string;
  message: string;
}

export interface FsckReport {
  ok: boolean;
  problems: FsckProblem[];
  checked: { artifacts: number; bytes: number; receipts: number; edges: number; maxLogseq: number };
}

class Problems {
  readonly list: FsckProblem[] = [];
  private extra = 0;
  add(code: FsckProblemCode, subject: string, message: string): void {
    if (this.list.length < MAX_REPORTED_PROBLEMS) this.list.push({ code, subject, message });
    else this.extra++;
  }
  done(): FsckProblem[] {
    if (this.extra > 0) this.list.push({ code: "too_many_problems", subject: "store", message: `${this.extra} more problems not listed` });
    return this.list;
  }
}

export async function fsck(root: string, cat: Catalog): Promise<FsckReport> {
  const p = new Problems();
  const checked = { artifacts: 0, bytes: 0, receipts: 0, edges: 0, maxLogseq: 0 };

  const integrity = cat.db.pragma("quick_check") as Array<{ quick_check: string }>;
  for (const r of integrity) if (r.quick_check !== "ok") p.add("sqlite_integrity", "catalog", r.quick_check);

  // 1. Artifacts: re-hash every present one; swept ones must hold no bytes.
  const fileRows: ArtifactRow[] = [];
  const fileKeys = new Set<string>();
  let after = 0;
  for (;;) {
    const page = cat
      .stmt("SELECT logseq, digest, size, media_type, type_tag, storage, state, deleted, events, created_at, bytes FROM artifacts WHERE logseq > ? ORDER BY logseq LIMIT ?")
      .all(after, FSCK_PAGE) as Array<ArtifactRow & { bytes: Buffer | null }>;
    if (page.length === 0) break;
    for (const r of page) {
      after = r.logseq;
      const d = digestFromBytes(r.digest);
      checked.artifacts++;
      if (r.storage === 1) {
        fileKeys.add(r.digest.toString("hex"));
        if (r.state === 0) fileRows.push(r);
        else if (existsSync(objectPath(root, d))) p.add("swept_bytes_present", d, `artifact ${d} was swept but its file is still present`);
        continue;
      }
      if (r.state !== 0) {
        if (r.bytes !== null) p.add("swept_bytes_present", d, `artifact ${d} was swept but its packed bytes are still present`);
        continue;
      }
      if (r.bytes === null) {
        p.add("artifact_missing", d, `artifact ${d}: packed bytes are missing`);
        continue;
      }
      checked.bytes += r.bytes.length;
      try {
        verifyBytes(d, r, r.bytes);
      } catch (err) {
        p.add("artifact_corrupt", d, (err as Error).message);
      }
    }
  }
  for (const r of fileRows) {
    const d = digestFromBytes(r.digest);
    let fd: number;
    try {
      fd = openSync(existsSync(objectPath(root, d)) ? objectPath(root, d) : readyPath(root, d), "r");
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") throw err;
      p.add("artifact_missing", d, `artifact ${d}: its file is missing`);
      continue;
    }
    try {
      await verifyFd(d, r, fd);
      checked.bytes += r.size;
    } catch (err) {
      if (isCairnError(err)) p.add("artifact_corrupt", d, err.message);
      else throw err;
    } finally {
      closeSync(fd);
    }
  }

  // 2. Files nobody references.
  const objects = join(root, OBJECTS_DIR);
  if (existsSync(objects)) {
    for (const ent of readdirSync(objects, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const dir = ent.name;
      const full = join(objects, dir);
      if (!ent.isDirectory()) {
        p.add("orphan_file", join(OBJECTS_DIR, dir), `file ${join(OBJECTS_DIR, dir)} belongs to no artifact`);
        continue;
      }
      for (const name of readdirSync(full).sort()) {
        const hex = `${dir}${name}`;
        if (!/^[0-9a-f]{64}$/.test(hex) || !fileKeys.has(hex)) {
          p.add("orphan_file", join(OBJECTS_DIR, dir, name), `file ${join(OBJECTS_DIR, dir, name)} belongs to no artifact`);
        }
      }
    }
  }
  const tmp = join(root, TMP_DIR);
  if (existsSync(tmp)) {
    for (const name of readdirSync(tmp).sort()) {
      p.add("stray_file", join(TMP_DIR, name), `temporary file ${join(TMP_DIR, name)} was left behind`);
    }
  }

  // 3. References must point at known artifacts.
  const dangling = (sql: string, what: string): void => {
    for (const r of cat.db.prepare(sql).all() as Array<{ d: Buffer }>) {
      const d = digestFromBytes(r.d);
      p.add("dangling_reference", d, `${what} references ${d}, which is not an artifact in this store`);
    }
  };
  const known = "NOT IN (SELECT digest FROM artifacts)";
  dangling(`SELECT DISTINCT node AS d FROM edge_nodes WHERE node ${known}`, "an edge");
  dangling(`SELECT DISTINCT digest AS d FROM roots WHERE digest ${known}`, "a root");
  dangling(`SELECT DISTINCT digest AS d FROM artifact_events WHERE digest ${known}`, "a tombstone");
  dangling(`SELECT DISTINCT digest AS d FROM receipts WHERE digest ${known}`, "a receipt record");

  // 4. Edges: every edge has nodes on both sides and its id matches its content.
  const orphanNodes = cat.db.prepare("SELECT DISTINCT edge_logseq AS l FROM edge_nodes WHERE edge_logseq NOT IN (SELECT logseq FROM edges)").all() as Array<{ l: number }>;
  for (const r of orphanNodes) p.add("edge_invalid", `logseq ${r.l}`, `edge nodes at logseq ${r.l} belong to no edge`);
  const nodesOf = cat.stmt("SELECT side, node FROM edge_nodes WHERE edge_logseq = ? ORDER BY side, pos");
  for (const e of cat.db.prepare("SELECT logseq, edge_id, edge_type, role FROM edges ORDER BY logseq").all() as Array<{
    logseq: number;
    edge_id: Buffer;
    edge_type: string;
    role: string;
  }>) {
    checked.edges++;
    const nodes = nodesOf.all(e.logseq) as Array<{ side: number; node: Buffer }>;
    const from = nodes.filter((n) => n.side === 0).map((n) => digestFromBytes(n.node));
    const to = nodes.filter((n) => n.side === 1).map((n) => digestFromBytes(n.node));
    const id = digestFromBytes(e.edge_id);
    if (from.length === 0 || to.length === 0) p.add("edge_invalid", id, `edge ${id} has no ${from.length === 0 ? "from" : "to"} nodes`);
    else if (edgeId({ from, to, type: e.edge_type, role: e.role }) !== id) p.add("edge_invalid", id, `edge ${id} does not match its content`);
  }

  // 5. Receipts: canonical bodies whose digest and action key match, referencing known artifacts.
  const knownStmt = cat.stmt("SELECT 1 FROM artifacts WHERE digest = ?");
  for (const r of cat.db.prepare("SELECT logseq, digest, action_key, body FROM receipts ORDER BY logseq").all() as Array<{
    logseq: number;
    digest: Buffer;
    action_key: Buffer;
    body: string;
  }>) {
    checked.receipts++;
    const d = digestFromBytes(r.digest);
    let body: { program: Digest; inputs: Digest[]; outputs: Digest[]; params: unknown };
    try {
      body = JSON.parse(r.body) as typeof body;
      if (canonicalize(body) !== r.body) throw new Error("body is not canonical JSON");
      if (sha256(r.body) !== d) throw new Error("body does not hash to the receipt digest");
      if (actionKey(body.program, body.inputs, body.params as never) !== digestFromBytes(r.action_key)) throw new Error("action key does not match the body");
    } catch (err) {
      p.add("receipt_invalid", d, `receipt ${d}: ${(err as Error).message}`);
      continue;
    }
    for (const ref of [body.program, ...body.inputs, ...body.outputs]) {
      if (knownStmt.get(digestToBytes(ref)) === undefined) {
        p.add("dangling_reference", ref, `receipt ${d} references ${ref}, which is not an artifact in this store`);
      }
    }
  }

  // 6. Logseq: every value 1..max accounted for exactly once.
  const union = [
    "SELECT logseq AS l FROM artifacts",
    "SELECT logseq FROM artifact_events",
    "SELECT logseq FROM receipts",
    "SELECT logseq FROM edges",
    "SELECT logseq FROM snapshots",
    "SELECT logseq FROM roots",
    "SELECT logseq FROM removals",
    "SELECT target_logseq FROM removals",
  ].join(" UNION ALL ");
  let expect = 1;
  for (const r of cat.db.prepare(`SELECT l FROM (${union}) ORDER BY l`).iterate() as Iterable<{ l: number }>) {
    if (r.l < expect) p.add("logseq_duplicate", `logseq ${r.l}`, `logseq ${r.l} is used by more than one record`);
    else {
      if (r.l > expect) p.add("logseq_gap", `logseq ${expect}`, `logseq ${expect}${r.l - 1 > expect ? `..${r.l - 1}` : ""} missing: no record has it`);
      expect = r.l + 1;
    }
  }
  checked.maxLogseq = expect - 1;
  const problems = p.done();
  return { ok: problems.length === 0, problems, checked };
}
