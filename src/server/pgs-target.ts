/**
 * The gateway's PGS target: the domains of one PGS v0.3 workspace, run with `runPgsWorkflow`
 * (or a substitute runner). A domain's snapshot is loaded and trust-checked on its first request
 * and cached for the server's life (unless `cache` is false); a load failure is not cached.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import type { DataRootLock, EffectDurability } from "../workflow/effects/index.js";
import { loadSnapshot, TOKENIZED_DIR, type PgsPackage, type PgsRunResult, type RunPgsOptions, type WorkflowName } from "../workflow/pgs/index.js";
import { HttpError, RunFailure, type RunTarget } from "./target.js";

/** Runs one workflow; `runPgsWorkflow` unless a test or an embedder substitutes it. */
export type WorkflowRunner = (opts: RunPgsOptions) => PgsRunResult | Promise<PgsRunResult>;

export interface PgsTargetOptions {
  workspace: string;
  dataRoot: string;
  dataRootLock: DataRootLock;
  cache: boolean;
  runner: WorkflowRunner;
  effectDurability: EffectDurability | undefined;
  /** Error text with absolute paths replaced by their tokens. */
  messageOf: (err: unknown) => string;
}

export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function pgsTarget(o: PgsTargetOptions): RunTarget {
  const snapshots = new Map<string, PgsPackage>();

  /** The domain's snapshot: 400 for an unknown domain, 500 when it fails to load or verify. */
  function snapshotFor(name: WorkflowName): PgsPackage {
    const cached = snapshots.get(name.domain);
    if (cached !== undefined) return cached;
    if (!isDirectory(join(o.workspace, TOKENIZED_DIR, name.domain))) {
      throw new HttpError(400, `Unknown domain '${name.domain}' in '${name.fqdn}': the workspace has no ${TOKENIZED_DIR}/${name.domain}/`);
    }
    let pkg: PgsPackage;
    try {
      pkg = loadSnapshot(o.workspace, name.domain);
    } catch (err) {
      throw new RunFailure(`Snapshot of domain '${name.domain}' failed to load: ${o.messageOf(err)}`, null);
    }
    if (o.cache) snapshots.set(name.domain, pkg);
    return pkg;
  }

  return {
    bind(name, payload) {
      const pkg = snapshotFor(name);
      const addr = pkg.vocab.tryAddr(name.fqdn);
      if (addr === undefined) throw new HttpError(400, `WF FQDN not in vocab: '${name.fqdn}'`);
      if (!pkg.entry.has(addr)) throw new HttpError(400, `'${name.fqdn}' is not a workflow of domain '${name.domain}' (no entry point)`);
      return (store) =>
        o.runner({
          workspace: o.workspace, workflow: name.fqdn, payload, dataRoot: o.dataRoot, snapshot: pkg, store, dataRootLock: o.dataRootLock,
          render: false, // the server never draws pictures
          ...(o.effectDurability === undefined ? {} : { effectDurability: o.effectDurability }),
        });
    },
  };
}
