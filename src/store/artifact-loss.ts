/**
 * Why an artifact the store **knows** cannot be read at the head: it is tombstoned (`delete`,
 * CLI `cairn store rm`; ARCHITECTURE §5.10) or its bytes were collected by gc (state `swept`).
 * Readers that name the artifact by its role (a run's plan, manifest, snapshot, state file) use
 * this to say so, and how to get it back, instead of the store's bare "artifact … not found".
 *
 * Only the public Store API is read: `has` (visible at the head, whatever the state of its
 * bytes), `stat` (the state of a visible artifact) and `lineage` at depth 0, which answers for
 * any artifact the store has recorded, tombstoned or not (a tombstone does not hide provenance)
 * and is E_NOT_FOUND for one it never recorded.
 */
import type { Digest } from "../core/digest.js";
import { ErrorCode, isCairnError } from "../core/errors.js";
import type { Store } from "./store.js";

/** `tombstoned`: deleted (a later put of the same bytes revives it); `collected`: its bytes were swept by gc (a later put stores them again). */
export type ArtifactLoss = "tombstoned" | "collected";

/** How each loss reads in a message ("… is deleted from the store (tombstoned)"). */
export const ARTIFACT_LOSS_TEXT: Readonly<Record<ArtifactLoss, string>> = Object.freeze({
  tombstoned: "is deleted from the store (tombstoned)",
  collected: "is deleted from the store (its bytes were collected by gc)",
});

/**
 * The loss of `digest` in `store`, or undefined when it is readable (present and visible) or the
 * store never recorded it (then the caller's own "not found" stands).
 */
export function artifactLoss(store: Pick<Store, "has" | "stat" | "lineage">, digest: Digest): ArtifactLoss | undefined {
  if (store.has(digest)) return store.stat(digest).state === "swept" ? "collected" : undefined;
  try {
    store.lineage(digest, { depth: 0 });
  } catch (err) {
    if (isCairnError(err, ErrorCode.NOT_FOUND)) return undefined;
    throw err;
  }
  return "tombstoned";
}

/**
 * The loss behind `err`, an error met reading `digest` from `store`: `artifactLoss` when `err` is
 * the store's E_NOT_FOUND, else undefined (any other error is the caller's to throw).
 */
export function lossOfReadError(store: Pick<Store, "has" | "stat" | "lineage">, err: unknown, digest: Digest): ArtifactLoss | undefined {
  return isCairnError(err, ErrorCode.NOT_FOUND) ? artifactLoss(store, digest) : undefined;
}
