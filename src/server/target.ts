/**
 * What the gateway serves (app.ts): a PGS workspace (pgs-target.ts) or a sealed Cairn snapshot
 * (cairn-target.ts), behind one interface, so that both share one fastify app, one set of
 * routes and one error mapping. Also the two errors every target throws to that mapping.
 */
import type { Store } from "../store/store.js";
import type { PgsRunResult, PyObject, WorkflowName } from "../workflow/pgs/index.js";

/** A request the gateway refuses with 400 (or another 4xx). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** A run that failed on the server side (500), with its trace id when one was assigned. */
export class RunFailure extends Error {
  constructor(
    message: string,
    readonly traceId: string | null,
  ) {
    super(message);
    this.name = "RunFailure";
  }
}

/** One validated request's run, called inside the run queue with the run's store (if any). */
export type BoundRun = (store: Store | undefined) => PgsRunResult | Promise<PgsRunResult>;

export interface RunTarget {
  /**
   * Checks that `name` is a workflow this target serves and binds its run over `payload`.
   * Throws `HttpError` (400: an unknown domain or workflow) or `RunFailure` (500: the
   * workflow's definitions failed to load) before the request enters the run queue.
   */
  bind(name: WorkflowName, payload: PyObject): BoundRun;
}

/** `items` joined with ", ", at most `max` of them named; the rest are counted ("… and 3 more"). */
export function boundedList(items: readonly string[], max: number): string {
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown}, … and ${items.length - max} more` : shown;
}
