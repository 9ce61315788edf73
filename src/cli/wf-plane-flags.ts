/**
 * The `--plane-*` flags of `cairn wf run`, checked before anything is loaded. Kept apart from
 * wf-plane.ts so that a run without them never loads the execution plane.
 */
import { basename } from "node:path";
import { UsageError } from "../core/errors.js";

export interface PlaneFlags {
  planeConfig?: string;
  planeKey?: string;
  planeSubject?: string;
  planeKeyId?: string;
}

export interface PlaneRunFlags {
  config: string;
  key: string;
  subject: string;
  keyId: string;
}

const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The plane flags of `wf run`, checked: null when none is given. */
export function planeFlags(o: PlaneFlags, snapshot: boolean): PlaneRunFlags | null {
  const given = [o.planeConfig, o.planeKey, o.planeSubject, o.planeKeyId].some((v) => v !== undefined);
  if (!given) return null;
  if (!snapshot) throw new UsageError("--plane-config, --plane-key, --plane-subject and --plane-key-id are for --snapshot runs (sealed Cairn snapshots)", { field: "--plane-config" });
  for (const [flag, v] of [["--plane-config", o.planeConfig], ["--plane-key", o.planeKey], ["--plane-subject", o.planeSubject]] as const) {
    if (v === undefined || v === "") throw new UsageError(`${flag} is required to run lane-bound steps (with --plane-config, --plane-key and --plane-subject)`, { field: flag });
  }
  const keyId = o.planeKeyId ?? basename(o.planeKey as string).replace(/\.[^.]*$/, "");
  if (!KEY_ID_RE.test(keyId)) throw new UsageError(`--plane-key-id ${JSON.stringify(keyId)} must match ${KEY_ID_RE.source}`, { field: "--plane-key-id" });
  return { config: o.planeConfig as string, key: o.planeKey as string, subject: o.planeSubject as string, keyId };
}
