/**
 * The gateway's public option and server types (`createServer(opts)` in app.ts), and the
 * options that apply to a PGS workspace only.
 */
import type { FastifyInstance } from "fastify";
import type { Digest } from "../core/digest.js";
import type { Store } from "../store/store.js";
import type { SealedSnapshot } from "../workflow/cairn/seal.js";
import type { DataRootLock, EffectDurability } from "../workflow/effects/index.js";
import type { TornFile } from "../workflow/effects/torn-files.js";
import type { WorkflowRunner } from "./pgs-target.js";

/** The options that apply to a PGS workspace only (refused with `snapshot`). */
export const PGS_ONLY_OPTIONS = ["cacheSnapshots", "runner", "effectDurability"] as const;

/**
 * `createServer`'s options. Every member is checked before anything else, before the data root's
 * lock is taken (option-checks.ts): an unknown key (with the member it probably meant), a value
 * of the wrong type or out of range, an empty path, a closed Store is E_USAGE naming it
 * (`ServerOptions.<name> …`, `details.field`) — never ignored, never a 500 on every request.
 */
export interface ServerOptions {
  /**
   * PGS workspace root (absolute, or relative to the working directory); with `snapshot`, the
   * directory `traces/` is written under (what `cairn wf run --snapshot --workspace` names).
   * Must exist; a non-empty string (`""` is E_USAGE, never the working directory).
   */
  workspace: string;
  /**
   * Serve this sealed Cairn snapshot (`loadSealedFile`, `loadSnapshotFromStore`) instead of the
   * workspace's PGS domains: verified again and prepared once by `createServer`
   * (`E_SNAPSHOT_INTEGRITY` if its content no longer matches its digest or a module bundle its
   * recorded digest; `E_USAGE` with `details.reason = "plane_required"` if a workflow has
   * lane-bound steps). `workflow_code` then names one of its workflows, `<namespace>::<CODE>`.
   * The PGS-only options (`cacheSnapshots`, `runner`, `effectDurability`) are refused with it.
   */
  snapshot?: SealedSnapshot;
  /**
   * Data root of the CS state; default `<workspace>/data`. Must be a directory or not exist yet
   * (the runs create it): anything else fails with E_INVALID_INPUT. A non-empty string.
   */
  dataRoot?: string;
  /**
   * Record every run in a store: a Store (owned by the caller, kept open), or a factory opened
   * for each run and closed after it (so the writer lock is held only while a run records).
   * A Store already closed is E_USAGE.
   */
  store?: Store | (() => Store);
  /** Largest request body in bytes (default MAX_BODY_BYTES = 1 MiB); larger → 413. */
  maxBodyBytes?: number;
  /**
   * Largest response body in bytes (default MAX_RESPONSE_BYTES = 48 MiB): a run whose 200 would
   * be larger is answered 500 naming the size, the limit, its status and trace id (it has run).
   */
  maxResponseBytes?: number;
  /**
   * Origins whose browser pages may use the server (`cairn serve --allow-origin`): a request
   * carrying any other `Origin` header is refused 403, and is answered without
   * `Access-Control-Allow-Origin`. Each is `*` (every origin: the PGS reference's behaviour) or an
   * origin as browsers send it, `<scheme>://<host>[:<port>]`; E_USAGE otherwise. Default: none
   * (requests without `Origin` — curl, scripts — are served as always). See origin.ts.
   */
  allowOrigins?: readonly string[];
  /** Runs allowed to wait behind the running one (default MAX_QUEUED_RUNS); more → 503. A non-negative integer. */
  maxQueuedRuns?: number;
  /**
   * Most connections open at once, on all the addresses listened on (default MAX_CONNECTIONS): one
   * more is answered 503 (Retry-After) before it sends anything, and closed. A positive integer.
   */
  maxConnections?: number;
  /**
   * Most request-body bytes held at once — arriving, queued or running, from a request's head
   * until its answer (default MAX_INFLIGHT_BODY_BYTES): a request whose declared body
   * (Content-Length; `maxBodyBytes` if chunked) would take the total over it is answered 503
   * (Retry-After) before its body is read. An integer, at least `maxBodyBytes`.
   */
  maxInflightBodyBytes?: number;
  /**
   * Longest time a request may take to arrive (default REQUEST_TIMEOUT_MS); slower → 408,
   * connection closed. Checked every min(requestTimeoutMs, REQUEST_TIMEOUT_CHECK_MS); a request
   * with bytes waiting unread when it passes (a run held the event loop) gets another
   * requestTimeoutMs instead (`requestTimedOut`). An integer in 1..MAX_SERVER_TIMEOUT_MS: 0
   * (Node's "no timeout") and less are E_USAGE — the bound cannot be turned off.
   */
  requestTimeoutMs?: number;
  /**
   * How long close() lets responses still being written at its cut finish (ms; default
   * CLOSE_RESPONSE_DEADLINE_MS) before it cuts their connections too. An integer in
   * 0..MAX_SERVER_TIMEOUT_MS (0: cut at once).
   */
  closeResponseDeadlineMs?: number;
  /**
   * Told of each data-root file a run could not use because it ends in a torn line (an
   * interrupted append; effects/torn-files.ts), once per file and tail, while the server still
   * holds the data root's lock: the operator repairs it with `cairn wf repair-tail` after
   * stopping the server (`cairn serve` prints a note on stderr). The HTTP answer is the run's,
   * as the reference gives it (a BACKEND_ERROR route), without paths of this machine.
   */
  onTornFile?: (file: TornFile) => void;
  /** Cache each PGS domain's loaded snapshot across runs (default true). */
  cacheSnapshots?: boolean;
  /** Substitute for `runPgsWorkflow` (tests, instrumentation). */
  runner?: WorkflowRunner;
  /**
   * Whether the CS runtimes fsync what runs write (`runPgsWorkflow`'s `effectDurability`):
   * default `"fsync"`. `"no-fsync"` trades durability against an OS crash or power loss for
   * speed (see `EffectDurability`); `cairn serve` always uses the default.
   */
  effectDurability?: EffectDurability;
  /**
   * The data root's lock, already held by the caller (`acquireDataRootLock`): checked to cover
   * the data root (`E_USAGE` otherwise), given to every run, and not released by `close()`.
   * Without it `createServer` takes the lock itself (waiting up to `dataRootLockWaitMs`; throws
   * E_DATA_ROOT_LOCKED if it stays held) and releases it when `close()` has finished.
   */
  dataRootLock?: DataRootLock;
  /** How long `createServer` waits for the data root's lock held elsewhere (ms; default DEFAULT_DATA_ROOT_LOCK_WAIT_MS = 5000). */
  dataRootLockWaitMs?: number;
}

export interface CairnServer {
  /** The fastify instance (routes registered, not listening until `listen`). */
  readonly app: FastifyInstance;
  /**
   * Starts listening; port 0 picks a free port. Resolves to the base URL, `http://host:port`.
   * `localhost` (any case) listens on each of LOCALHOST_ADDRESSES that the machine has, on one
   * port, every one with the same handling; the URL names the first. An address that cannot be
   * bound (in use: E_INVALID_INPUT `cannot listen on <host>:<port>: address already in use
   * (<address>)`, as `cairn serve` reports it) closes the server (its data root's lock released)
   * and fails. A server listens once: listen() again is E_USAGE (also after close()). A port
   * outside 0..65535 or an empty host is E_USAGE.
   */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting connections and refuses new runs (503 with Retry-After, also for a request
   * whose body was still arriving when close() began, and — read first, while it still listens
   * (`drainArrivals`) — for one that had wholly reached the kernel, in the accept queue or unread
   * on an accepted connection: closing the listener at once reset those; nothing has run for
   * them), answers with
   * `Connection: close`, waits for every run already accepted and for open connections, then
   * releases the data root's lock (unless the caller gave it). CLOSE_GRACE_MS after every
   * accepted run has answered, connections idle or still receiving a request are cut; those
   * still being written a response are left to finish it (then closed), for at most
   * `closeResponseDeadlineMs` more. Idempotent.
   */
  close(): Promise<void>;
  /** The base URL while listening, else null. */
  readonly url: string | null;
  /** Resolved workspace and data root. */
  readonly workspace: string;
  readonly dataRoot: string;
  /** The digest of the Cairn snapshot served, or null for a PGS workspace. */
  readonly snapshot: Digest | null;
  /** Runs accepted and not finished: the running one and those waiting behind it. */
  readonly runsInFlight: number;
  /** Connections open (accepted and not refused for `maxConnections`), on every address. */
  readonly connectionsOpen: number;
  /** Request-body bytes counted against `maxInflightBodyBytes` now. */
  readonly bodyBytesInFlight: number;
}
