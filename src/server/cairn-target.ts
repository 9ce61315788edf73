/**
 * The gateway's Cairn target: the workflows of ONE sealed Cairn snapshot (`cairn wf compile`),
 * each request run with `runCairnWorkflow` as `cairn wf run --snapshot` runs it (traces under
 * the server's workspace, CS state under its data root), without pictures.
 *
 * At start (`serveableSnapshot`, before the server takes its data-root lock): the snapshot held
 * in memory is verified again by `prepareSnapshot` — its content hashes to its digest and is
 * well-formed — and an independent copy is prepared once (module bundles re-hashed, every handler resolved), so a
 * tampered snapshot keeps the server from starting with `E_SNAPSHOT_INTEGRITY`. A snapshot with
 * lane-bound steps is refused with `E_USAGE` (`details.reason = "plane_required"`): the server
 * has no execution-plane node to run them, and it fails at start rather than per request.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { laneBoundSteps } from "../workflow/cairn/lane-compile.js";
import { prepareSnapshot, runCairnWorkflow, type PreparedSnapshot } from "../workflow/cairn/run.js";
import type { SealedSnapshot } from "../workflow/cairn/seal.js";
import type { DataRootLock } from "../workflow/effects/index.js";
import { MAX_LISTED_NAMES } from "./constants.js";
import { boundedList, HttpError, type RunTarget } from "./target.js";

/** `details.reason` of the refusal of a snapshot with lane-bound steps (as `runCairnWorkflow`'s). */
export const PLANE_REQUIRED_REASON = "plane_required";

/** Verifies and prepares a snapshot for serving (see the module comment). */
export function serveableSnapshot(sealed: SealedSnapshot): PreparedSnapshot {
  if (sealed === null || typeof sealed !== "object" || typeof sealed.digest !== "string") {
    throw new CairnError(ErrorCode.USAGE, "ServerOptions.snapshot must be a sealed Cairn snapshot (loadSealedFile, loadSnapshotFromStore)", { field: "snapshot" });
  }
  const prepared = prepareSnapshot(sealed); // re-verified there (content re-hashed, private copy)
  const lanes = Object.entries(prepared.sealed.content.workflows).flatMap(([fqdn, wf]) => laneBoundSteps(wf).map((s) => `${fqdn} ${s}`));
  if (lanes.length > 0) {
    throw new CairnError(
      ErrorCode.USAGE,
      `snapshot ${prepared.digest} has lane-bound steps (${boundedList(lanes, MAX_LISTED_NAMES)}): a server (createServer, cairn serve) has no execution-plane node to run them; run them with cairn wf run --snapshot … --plane-config, or runCairnWorkflowWithPlane`,
      { field: "snapshot", reason: PLANE_REQUIRED_REASON, snapshot: prepared.digest, steps: lanes.length },
    );
  }
  return prepared;
}

export interface CairnTargetOptions {
  snapshot: PreparedSnapshot;
  /** Where `traces/` is written. */
  workspace: string;
  dataRoot: string;
  dataRootLock: DataRootLock;
}

export function cairnTarget(o: CairnTargetOptions): RunTarget {
  const workflows = o.snapshot.sealed.content.workflows;
  const known = Object.keys(workflows);
  return {
    bind(name, payload) {
      if (!Object.prototype.hasOwnProperty.call(workflows, name.fqdn)) {
        throw new HttpError(400, `Workflow '${name.fqdn}' is not in the served snapshot ${o.snapshot.digest} (it holds: ${boundedList(known, MAX_LISTED_NAMES)})`);
      }
      return (store) =>
        runCairnWorkflow({
          snapshot: o.snapshot, workflow: name.fqdn, payload, dataRoot: o.dataRoot, baseDir: o.workspace, dataRootLock: o.dataRootLock,
          ...(store === undefined ? {} : { store }),
          render: false, // the server never draws pictures
        });
    },
  };
}
