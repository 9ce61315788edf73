/** Shared by suites of every room: the CairnError a call throws. */
import { CairnError } from "../src/core/errors.js";

/** The CairnError `f` throws; any other throw propagates, and not throwing fails. */
export function cairnErrorOf(f: () => unknown): CairnError {
  try {
    f();
  } catch (e) {
    if (e instanceof CairnError) return e;
    throw e;
  }
  throw new Error("expected a CairnError");
}
