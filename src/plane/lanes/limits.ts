/**
 * Every limit the lanes and placements enforce (timeouts, waits, sizes, counts), as named
 * constants. A lane option may lower or raise a default within the hard maxima below; nothing is
 * unbounded. Protocol constants that are not limits (WebSocket close codes, the JSON-RPC error
 * code, the ssh side-channel format) stay beside their lane.
 */

/** Timeout used when neither the request payload nor the lane options give one. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Hard upper bound on any lane's timeout (lane options cannot exceed it). */
export const MAX_TIMEOUT_MS = 3_600_000;
/**
 * The global fetch (undici) applies its own defaults: `headersTimeout` and `bodyTimeout` of
 * 300 s (the latter an idle timeout between body chunks). Cairn does not depend on the `undici`
 * package, so it cannot pass a dispatcher with other values.
 */
export const UNDICI_DEFAULT_TIMEOUT_MS = 300_000;
/**
 * Hard upper bound on the timeout of every fetch-based execution (http, sse, jsonrpc over HTTP):
 * kept 10 s under undici's defaults, so the lane's own deadline always fires first and a slow
 * peer is reported as `timeout`, never as an undici error.
 */
export const HTTP_MAX_TIMEOUT_MS = UNDICI_DEFAULT_TIMEOUT_MS - 10_000;

/** process: grace between SIGTERM and SIGKILL to the process group (the reference's 200 ms). */
export const KILL_GRACE_MS = 200;
/** process: hard maximum for `kill_grace_ms`. */
export const MAX_KILL_GRACE_MS = 10_000;
/** process: how long to wait for stdio to close after the group was SIGKILLed before giving up. */
export const CLOSE_AFTER_KILL_MS = 500;
/** process: default cap on captured bytes per stream (stdout, stderr). */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** process: hard maximum for `max_output_bytes`. */
export const MAX_OUTPUT_BYTES_LIMIT = 64 * 1024 * 1024;
/** process: cap on the stdin a request may carry. */
export const MAX_STDIN_BYTES = 16 * 1024 * 1024;

/** http/sse/jsonrpc-over-http: default cap on response body bytes. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/** Hard maximum for `max_response_bytes`. */
export const MAX_RESPONSE_BYTES_LIMIT = 64 * 1024 * 1024;
/** http: methods a lane may be configured to allow (and the default allow-list). */
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export const DEFAULT_HTTP_METHODS: readonly HttpMethod[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
export type HttpMethod = (typeof HTTP_METHODS)[number];
/** http/sse/jsonrpc-over-http: characters of a refused `content-encoding` value quoted in the failure. */
export const CONTENT_ENCODING_QUOTE_CHARS = 256;
/** http: cap on the request body a request may carry. */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024;

/** jsonrpc: cap on one newline-delimited frame from a stdio peer. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
export const MAX_FRAME_BYTES_LIMIT = 64 * 1024 * 1024;
/** jsonrpc: cap on notifications (and peer requests) accepted during one execution. */
export const DEFAULT_MAX_NOTIFICATIONS = 1000;
/** jsonrpc: cap on captured peer stderr bytes. */
export const MAX_PEER_STDERR_BYTES = 64 * 1024;
/** jsonrpc: characters of an offending frame quoted in a framing failure (`details.frame`). */
export const FRAME_EXCERPT_CHARS = 256;

/**
 * Every lane: cap on the ExecutionEvents one execution may emit, and on their total size (the
 * UTF-8 bytes of each event payload's JSON). Beyond either, the event is not emitted and the
 * execution fails `protocol_framing_failed` with `details.reason: "event_cap_exceeded"`.
 * Lane-specific bounds (sse/websocket `max_events`, jsonrpc `max_notifications`) are never
 * above it.
 */
export const MAX_EVENTS_PER_EXECUTION = 100_000;
export const MAX_EVENT_BYTES_PER_EXECUTION = 64 * 1024 * 1024;
/** Every lane: characters of an event type and of the error quoted when an event cannot be emitted (`invalid_event`). */
export const EVENT_ERROR_QUOTE_CHARS = 256;

/** sse/websocket: default cap on events (messages) per execution. */
export const DEFAULT_MAX_EVENTS = 1000;
export const MAX_EVENTS_LIMIT = MAX_EVENTS_PER_EXECUTION;
/** sse/websocket: default cap on stream bytes per execution. */
export const DEFAULT_MAX_STREAM_BYTES = 4 * 1024 * 1024;
export const MAX_STREAM_BYTES_LIMIT = 256 * 1024 * 1024;
/** sse: cap on the body kept from a non-2xx response (also never above DEFAULT_MAX_RESPONSE_BYTES). */
export const SSE_ERROR_BODY_BYTES = 64 * 1024;

/** worker: V8 old-generation heap cap for a lane worker thread. */
export const WORKER_MAX_OLD_GENERATION_MB = 256;
/** worker: bounds for `max_old_generation_mb`. */
export const MIN_WORKER_HEAP_MB = 16;
export const MAX_WORKER_HEAP_MB = 8192;
/**
 * worker: how long the lane waits for `worker.terminate()` before it returns anyway. Terminate
 * cannot interrupt a worker blocked in a synchronous native call (`execSync`, a synchronous fs
 * call on a hung mount, a native addon): such a worker is abandoned (unref'd) and exits only when
 * the call returns; the lane never waits for it beyond this bound.
 */
export const WORKER_TERMINATE_WAIT_MS = 250;
/**
 * worker: most abandoned workers (still blocked in a native call after their execution ended)
 * alive when a worker is about to start; at or beyond it the lane starts none (`launch_failed`,
 * `too_many_abandoned_workers`) until one ends. Checked at the start: executions already running
 * when the cap is reached can still be abandoned, so the bound is this plus the executions
 * running at once.
 */
export const MAX_ABANDONED_WORKERS = 4;
/** worker: cap on captured worker stdout/stderr (discarded beyond; never reaches the node's stdout). */
export const WORKER_MAX_CONSOLE_BYTES = 64 * 1024;

/** ssh: default connect timeout handed to `ssh -o ConnectTimeout` (seconds, ssh's unit). */
export const SSH_CONNECT_TIMEOUT_S = 5;
/** ssh: hard maximum for `connect_timeout_s`. */
export const MAX_SSH_CONNECT_TIMEOUT_S = 600;
/** ssh: the exit status ssh itself uses for connection/authentication errors. */
export const SSH_TRANSPORT_EXIT_CODE = 255;
/**
 * ssh: the remote `timeout` fires this long after the local deadline plus the kill grace, so the
 * local deadline always decides the outcome (`timeout`) and the remote bound only cleans up a
 * command the dropped connection left running.
 */
export const SSH_REMOTE_TIMEOUT_MARGIN_MS = 500;
/**
 * ssh: cap on the env projection (names + values, UTF-8 bytes) sent through ssh's stdin ahead of
 * the command's stdin (the remote shell reads it with `read`, one byte at a time).
 */
export const MAX_SSH_ENV_BYTES = 64 * 1024;
