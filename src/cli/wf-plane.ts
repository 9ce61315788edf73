/**
 * `cairn wf run --snapshot S --plane-config node.yaml --plane-key K --plane-subject S
 * [--plane-key-id ID]`: runs a sealed Cairn snapshot whose lane-bound steps (issue 5 §6.1)
 * execute through an execution-plane node built from `node.yaml` (src/workflow/cairn/lane-step.ts).
 *
 * Authority: the runtime signs each lane request itself with `--plane-key` (an Ed25519 private
 * key, as `cairn plane keygen` writes it) for `--plane-subject`, audience = the node config's
 * `authority.audience`, key id = `--plane-key-id` or the key file's name without extension,
 * valid 60 s from the plane clock. The node's trusted keys and policy decide whether that
 * subject may use each lane and operation; there is no implicit grant.
 *
 * Clock and ids: the real clock (refs and target descriptors expire) and `taggedIds` with a
 * random tag (two processes never mint the same execution ref or evidence id), as `cairn plane
 * exec`. Evidence goes to the config's sinks; with `evidence.store: true` the store is the run's
 * (`--store` / `$CAIRN_STORE`, else ./.cairn for the evidence only), so a recorded run gets its
 * edge to the evidence.
 *
 * Locks: the run's store (and an evidence store elsewhere, from its first record) keeps its
 * writer lock until the run ends, as `cairn plane exec` does for one execution (plane-commands.ts):
 * a concurrent writer on it waits up to `--wait`, else fails `E_STORE_LOCKED`. Lane evidence
 * records are pinned from their first record (`plane:open:<digest>`, evidence/store-sink.ts).
 * A recorded run whose config sends store evidence to another store is refused before either
 * store is opened (`evidenceStoreMismatch`; the library refuses it too, by Store handle).
 */
import type { KeyObject } from "node:crypto";
import { readFileSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { systemClock } from "../core/clock.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { PlaneRunFlags } from "./wf-plane-flags.js";
import { ed25519PrivateKey } from "../plane/authority/ed25519.js";
import { buildNodeFromConfig } from "../plane/config/build.js";
import { loadNodeConfig } from "../plane/config/node-config.js";
import { randomIdTag, taggedIds } from "../plane/contracts/ids.js";
import { openStore, resolveStoreDir, type Store } from "../store/store.js";
import { evidenceStoreMismatch, runCairnWorkflowWithPlane } from "../workflow/cairn/lane-step.js";
import { acquireDataRootLock } from "../workflow/effects/data-root-lock.js";
import type { CairnRunResult } from "../workflow/cairn/run.js";
import { snapshotRunSetup, type SnapshotRunOpts } from "./wf-compile.js";
import { fileError } from "./context.js";

/** `runSnapshot` (wf-compile.ts) with a plane node for the lane-bound steps. */
export async function runSnapshotWithPlane(cmd: Command, o: SnapshotRunOpts, p: PlaneRunFlags): Promise<{ result: CairnRunResult; shown: string; dataRootArg: string }> {
  const { g, hasStore, prepared, base, dataRootArg } = await snapshotRunSetup(cmd, o);
  const cfg = loadNodeConfig(p.config);
  let pem: string;
  try {
    pem = readFileSync(p.key, "utf8");
  } catch (err) {
    throw fileError("read --plane-key", p.key, err);
  }
  let privateKey: KeyObject;
  try {
    privateKey = ed25519PrivateKey(pem, `--plane-key ${p.key}`);
  } catch (err) {
    throw new CairnError(ErrorCode.INVALID_INPUT, err instanceof Error ? err.message : String(err), { path: p.key });
  }
  // The data root's lock first, then the stores' (the order `cairn serve` takes them in); held
  // across the lane-bound steps' awaits.
  const dataRootLock = acquireDataRootLock(resolve(dataRootArg), o.dataRootWaitMs === undefined ? {} : { waitMs: o.dataRootWaitMs });
  try {
    const runStoreDir = resolveStoreDir(g.store);
    // Refused before either store is opened (or created); the library refuses it too, by handle.
    if (typeof cfg.evidence.store === "string" && hasStore && !sameDirectory(resolve(cfg.evidence.store), runStoreDir)) {
      throw evidenceStoreMismatch(runStoreDir, resolve(cfg.evidence.store));
    }
    let store: Store | undefined;
    let evidenceStore: Store | undefined;
    if (hasStore) store = openStore({ dir: runStoreDir, create: true, lockTimeoutMs: g.wait ?? 0 });
    const openEvidenceStore = (): Store => {
      const dir = cfg.evidence.store === true ? runStoreDir : resolve(cfg.evidence.store as string);
      // The run's own handle for its own store, however spelled (a symlink too): a second
      // writer handle on one store is refused (E_STORE_LOCKED).
      if (store !== undefined && sameDirectory(dir, runStoreDir)) return store;
      evidenceStore = openStore({ dir, create: true, lockTimeoutMs: g.wait ?? 0 });
      return evidenceStore;
    };
    try {
      const clock = systemClock;
      const built = buildNodeFromConfig(cfg, { clock, ids: taggedIds(clock, randomIdTag()), store: cfg.evidence.store === null ? null : openEvidenceStore });
      try {
        const result = await runCairnWorkflowWithPlane({
          snapshot: prepared,
          ...(o.wf === undefined ? {} : { workflow: o.wf }),
          payload: o.payload,
          dataRoot: resolve(dataRootArg),
          baseDir: resolve(base),
          ...(store === undefined ? {} : { store }),
          render: o.render === true,
          dataRootLock,
          plane: { node: built.node, clock, authority: { privateKey, keyId: p.keyId, subject: p.subject, audience: cfg.authority.audience }, storeSink: built.storeSink },
        });
        return { result, shown: join(base, result.traceDir), dataRootArg };
      } finally {
        await built.node.close();
      }
    } finally {
      store?.close();
      (evidenceStore as Store | undefined)?.close();
    }
  } finally {
    dataRootLock.release();
  }
}

/** Whether two absolute paths name one directory (by real path when both exist). */
function sameDirectory(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}
