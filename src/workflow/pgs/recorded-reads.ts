/**
 * How `wf replay` (both runtimes: pgs/replay.ts, cairn/replay.ts) reads a recorded run's
 * artifacts. One the store knows but cannot return — tombstoned by `cairn store rm`, or its bytes
 * collected by gc (store/artifact-loss.ts) — is E_NOT_FOUND naming the run, which of its
 * artifacts it is (its snapshot, a snapshot file, its payload, its prior state…), that it is
 * deleted, and how to store it again where there is a way; `details`: `traceId`, `role`,
 * `digest`, `reason` (`tombstoned` | `collected`), and `path` for a file. Before, the replay
 * ended with the store's bare "artifact … not found (deleted: tombstoned)".
 */
import type { Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, isCairnError } from "../../core/errors.js";
import { ARTIFACT_LOSS_TEXT, lossOfReadError, type ArtifactLoss } from "../../store/artifact-loss.js";
import type { Store } from "../../store/store.js";
import { stateFileBytes } from "./record.js";

/** Which recorded artifact of a run a replay reads (`details.role`). */
export type RecordedRole = "trace" | "effects" | "snapshot" | "snapshot file" | "payload" | "prior-state manifest" | "prior-state file";

/** How a deleted snapshot of a sealed Cairn snapshot run is stored again. */
export const CAIRN_SNAPSHOT_REMEDY =
  "To replay the run, store the snapshot again: cairn wf compile of its unchanged declarations with this store stores the same snapshot, which restores it";

/** How a deleted PGS snapshot (its manifest or one of its files) is stored again. */
export const PGS_SNAPSHOT_REMEDY =
  "A recorded run (cairn wf run with this store) of the same, unchanged workspace stores the same snapshot again, which restores it";

/** How a prior-state file missing from the store is stored again: its exact bytes, put whole, are found first (record.ts `stateFileBytes`). */
export function stateFileRemedy(digest: Digest): string {
  return `A file with exactly its bytes (SHA-256 ${digest.slice("sha256:".length)}), stored with cairn store put FILE, makes it readable again`;
}

/** What a read names besides the artifact: a file's path, and how to store it again. */
export interface RecordedReadOptions {
  path?: string;
  remedy?: string;
}

function lostError(traceId: string, role: RecordedRole, digest: Digest, loss: ArtifactLoss, o: RecordedReadOptions): CairnError {
  const what = o.path === undefined ? `${role} ${digest}` : `${role} ${JSON.stringify(o.path)} (${digest})`;
  return new CairnError(ErrorCode.NOT_FOUND, `Recorded run ${traceId} cannot be replayed: its ${what} ${ARTIFACT_LOSS_TEXT[loss]}${o.remedy === undefined ? "" : `. ${o.remedy}`}`, {
    traceId, role, digest, reason: loss, ...(o.path === undefined ? {} : { path: o.path }),
  });
}

/**
 * `err`, met reading run `traceId`'s `role` artifact `digest` (`store.get`, or a loader that reads
 * it itself such as cairn/seal.ts `loadSnapshotFromStore`): the E_NOT_FOUND of this module when
 * the store knows the artifact but cannot return it, else `err` unchanged.
 */
export function recordedReadError(store: Store, err: unknown, traceId: string, role: RecordedRole, digest: Digest, o: RecordedReadOptions = {}): unknown {
  const loss = lossOfReadError(store, err, digest);
  return loss === undefined ? err : lostError(traceId, role, digest, loss, o);
}

/** The bytes of run `traceId`'s recorded `role` artifact `digest` (`store.get`; errors: `recordedReadError`). */
export function recordedBytes(store: Store, traceId: string, role: RecordedRole, digest: Digest, o: RecordedReadOptions = {}): Buffer {
  try {
    return store.get(digest);
  } catch (err) {
    throw recordedReadError(store, err, traceId, role, digest, o);
  }
}

/**
 * The bytes of the prior-state file `path` (`digest`) of run `traceId`, from its prior-state
 * manifest `priorState` (record.ts `stateFileBytes`). A file the store cannot return is
 * E_NOT_FOUND naming the run and the file, with what the store said (deleted, a deleted chunk,
 * or not there at all) and the remedy; `details` add `traceId`, `role`, `path` to the loader's.
 */
export function recordedStateFile(store: Store, traceId: string, priorState: Digest, path: string, digest: Digest): Buffer {
  try {
    return stateFileBytes(store, priorState, digest);
  } catch (err) {
    if (!isCairnError(err, ErrorCode.NOT_FOUND)) throw err;
    throw new CairnError(ErrorCode.NOT_FOUND, `Recorded run ${traceId} cannot be replayed: its prior-state file ${JSON.stringify(path)}: ${err.message}. ${stateFileRemedy(digest)}`, {
      ...(err.details ?? {}), traceId, role: "prior-state file" satisfies RecordedRole, path, digest,
    });
  }
}
