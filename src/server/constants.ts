/** Every limit and default of the HTTP gateway (`cairn serve`), in one place. */

/** Default listening address: loopback only (expose on purpose with --host). */
export const DEFAULT_HOST = "127.0.0.1";
/** Default TCP port; 0 picks a free one. */
export const DEFAULT_PORT = 8080;

/** Largest request body accepted (bytes); a larger one is answered 413. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Runs waiting for the data root while another runs. Runs are serialised (one at a time per
 * server); when this many are already waiting, a new one is answered 503 at once.
 */
export const MAX_QUEUED_RUNS = 64;

/**
 * Longest time a request may take to arrive, headers and body (ms). A client that stalls
 * mid-request is cut off (408) after it; without a bound one stalled client kept a closing
 * server (and its data-root lock) alive for as long as it liked.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * After close() has let every accepted run finish and answer, connections still open (a client
 * stalled mid-request, which Node checks against REQUEST_TIMEOUT_MS only every 30 s) are cut
 * after this grace (ms), so the server exits and releases its data-root lock.
 */
export const CLOSE_GRACE_MS = 1000;

/** Seconds a client is told to wait (`Retry-After`) after a 503. */
export const BUSY_RETRY_AFTER_SECONDS = 1;

/** The routes. */
export const RUN_ROUTE = "/api/run";
export const HEALTH_ROUTE = "/api/health";

/**
 * Names listed in one error message (the workflows a served Cairn snapshot holds, its lane-bound
 * steps); more are counted ("… and N more"), not named, so a message stays bounded.
 */
export const MAX_LISTED_NAMES = 20;

/** Status reported in every error body. */
export const STATUS_ERROR = "ERROR";
