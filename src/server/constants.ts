/** Every limit and default of the HTTP gateway (`cairn serve`), in one place. */

/** Default listening address: loopback only (expose on purpose with --host). */
export const DEFAULT_HOST = "127.0.0.1";
/** Default TCP port; 0 picks a free one. */
export const DEFAULT_PORT = 8080;

/**
 * What `listen(port, "localhost")` (`cairn serve --host localhost`, any case) listens on: both
 * loopback addresses, each through its own HTTP server with the same handling (the first one's
 * address is the server's URL). Not looked up: `localhost` is loopback (RFC 6761), whatever
 * /etc/hosts says; an address the machine does not have (no IPv6) is skipped.
 */
export const LOCALHOST_ADDRESSES: readonly string[] = ["127.0.0.1", "::1"];

/**
 * How many ports `listen(0, "localhost")` tries: the system picks a free port on the first of
 * LOCALHOST_ADDRESSES only, and it may be in use on another (::1); then every listener of that
 * attempt is closed and the system picks again, up to this many times in all (E_INVALID_INPUT
 * naming the ports tried after the last). A fixed port in use on any address fails at once.
 */
export const LOCALHOST_PORT_ATTEMPTS = 8;

/** Largest request body accepted (bytes); a larger one is answered 413. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Largest response body sent (bytes): a 200 whose body would be larger is answered 500 instead,
 * naming the size, the limit and the run's status and trace id (the run has completed, its
 * effects are applied and its trace written; only the answer is withheld). Chosen above the
 * largest answer the runtimes' own work bounds let a fixture workflow make — one Collatz call
 * holds at most 40,000,000 digits (COLLATZ_MAX_TOTAL_DIGITS) in at most 2,000,000 values
 * (COLLATZ_MAX_TOTAL_VALUES), about 43 MB of `result_payload` (a 6 KB payload made a 37 MB
 * answer) — so every such run is answered as the reference answers it, and within what
 * CLOSE_RESPONSE_DEADLINE_MS is sized for (60 MB at 1 MB/s). It bounds what one answer holds in
 * memory while it is written, for any workflow, whatever its results.
 */
export const MAX_RESPONSE_BYTES = 48 * 1024 * 1024;

/**
 * Most connections open at once, on every address the server listens on together. One more is
 * answered at once, before it sends anything, 503 (the gateway's format, Retry-After,
 * `Connection: close`) and closed: without a bound only the process's file-descriptor limit
 * stopped a client opening connections. Four times the requests the run queue holds (running
 * and waiting, MAX_QUEUED_RUNS + 1), so that every queued request keeps its connection and
 * clients keep idle kept-alive ones; well under the usual descriptor limit (1024).
 */
export const MAX_CONNECTIONS = 256;

/**
 * How long a connection refused for MAX_CONNECTIONS is kept after its 503 (ms), reading and
 * dropping what the client sends (its request): closed at once with unread bytes, the kernel
 * resets it, and the client may lose the answer. At most MAX_CONNECTIONS refused connections
 * linger; beyond that one is closed right after its 503 is written.
 */
export const REFUSED_CONNECTION_LINGER_MS = 1000;

/**
 * Runs waiting for the data root while another runs. Runs are serialised (one at a time per
 * server); when this many are already waiting, a new one is answered 503 at once. A waiting
 * request whose connection closes leaves the queue then (its place and its body freed, its
 * workflow never run); one that has started runs to completion.
 */
export const MAX_QUEUED_RUNS = 64;

/**
 * Most request-body bytes held at once (bytes): the bodies arriving, waiting in the run queue and
 * running, counted from a request's head (its Content-Length; maxBodyBytes for a chunked body)
 * until its answer is sent. A request whose body would take the total over it is answered 503
 * (Retry-After) as soon as its head has arrived, before any of its body is read: 800 uploads of
 * 1 MB held 852 MB. Twice what a full run queue holds (MAX_QUEUED_RUNS + 1 bodies of
 * MAX_BODY_BYTES), so bodies arriving while the queue is full still fit.
 */
export const MAX_INFLIGHT_BODY_BYTES = 2 * (MAX_QUEUED_RUNS + 1) * MAX_BODY_BYTES;

/**
 * Longest time a request may take to arrive, headers and body (ms). A client that stalls
 * mid-request is cut off (408) after it; without a bound one stalled client kept a closing
 * server (and its data-root lock) alive for as long as it liked. A request is given another
 * REQUEST_TIMEOUT_MS, instead of a 408, when bytes of it were waiting unread as the bound passed:
 * a run holds the event loop, and Node checks the bound before it reads what arrived meanwhile.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Longest interval (ms) between two of Node's checks of REQUEST_TIMEOUT_MS
 * (`connectionsCheckingInterval`, Node's default): a server checks every
 * min(requestTimeoutMs, this), so a stalled request is cut (408) within 2 × requestTimeoutMs.
 */
export const REQUEST_TIMEOUT_CHECK_MS = 30_000;

/**
 * After close() has let every accepted run finish and start its answer, connections that are
 * idle or still receiving a request (a client stalled mid-request: Node no longer checks
 * REQUEST_TIMEOUT_MS once the server is closing) are cut after this grace (ms), so the server
 * exits and releases its data-root lock. A connection still being written a response is not
 * cut then: see CLOSE_RESPONSE_DEADLINE_MS.
 */
export const CLOSE_GRACE_MS = 1000;

/**
 * How long (ms) close() lets responses still being written at the cut (CLOSE_GRACE_MS after
 * every accepted run has answered) finish before it cuts their connections too: sized for a
 * large body to a slow but alive client (60 MB at 1 MB/s). A client that stops reading keeps a
 * closing server, and its data-root lock, at most this long.
 */
export const CLOSE_RESPONSE_DEADLINE_MS = 60_000;

/**
 * Most event-loop turns the gateway spends, between two runs, reading what arrived during the
 * last one. A run is synchronous and blocks the event loop, and Node (libuv ≥ 1.45) accepts at
 * most ONE pending connection per loop turn, so clients that open a connection per request
 * wait in the kernel's accept queue where the run queue cannot see them. Before each run the
 * gateway yields turn after turn while the previous turn accepted a connection or read a
 * request, up to this many: enough to empty a full accept queue (Node's default listen backlog
 * is 511), so excess requests get 503 and /api/health is answered between runs.
 */
export const MAX_DRAIN_TURNS = 1024;

/**
 * Most torn data-root files the gateway remembers having told its operator of
 * (ServerOptions.onTornFile): past it the memory is cleared, and a file still torn is told of again.
 */
export const MAX_TORN_FILES_NOTED = 1024;

/**
 * Longest user-supplied value (a workflow_code, one of its segments) an error message quotes in
 * full (characters); a longer one is cut to this many and marked `… (N characters)`: the rule
 * and the limit of core/echo.ts (`echoed`), which batch errors use too.
 */
export { MAX_ECHOED_CHARS } from "../core/echo.js";

/**
 * Longest error message the gateway sends (characters): a longer one (a runtime error quoting a
 * huge payload value) is cut to this many and marked `… (N characters)`.
 */
export const MAX_ERROR_CHARS = 8192;

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
