/**
 * `--data-root-wait` of `cairn wf run` and `cairn serve`: how long to wait for the data root's
 * lock while another process holds it (src/workflow/effects/data-root-lock.ts) before failing
 * with E_DATA_ROOT_LOCKED. A duration as for `--wait` (`1500`, `500ms`, `5s`, `1m`…), at most
 * MAX_DATA_ROOT_LOCK_WAIT_MS; default DEFAULT_DATA_ROOT_LOCK_WAIT_MS (5 s).
 */
import { checkDataRootLockWait, DEFAULT_DATA_ROOT_LOCK_WAIT_MS } from "../workflow/effects/data-root-lock.js";
import { parseDuration } from "./duration.js";

export const DATA_ROOT_WAIT_FLAG = "--data-root-wait <ms>";
export const DATA_ROOT_WAIT_DESCRIPTION = "how long to wait for the data root's lock while another process holds it (ms, or 5s, 1m…)";
export { DEFAULT_DATA_ROOT_LOCK_WAIT_MS };

/** Parses `--data-root-wait` into whole milliseconds (E_USAGE naming the flag otherwise). */
export function parseDataRootWait(text: string): number {
  return checkDataRootLockWait(parseDuration(text, "--data-root-wait"), "--data-root-wait");
}
