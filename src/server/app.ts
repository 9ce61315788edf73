/**
 * The HTTP gateway (issue 4 §6, SEMANTICS A.12 "HTTP gateway"): a fastify app over ONE target
 * and one data root — a PGS workspace (`runPgsWorkflow`, pgs-target.ts) or, with
 * `ServerOptions.snapshot`, a sealed Cairn snapshot (`runCairnWorkflow`, cairn-target.ts).
 * Both share the routes, the request rules, the run queue and the error mapping below.
 *
 *   POST /api/run      {workflow_code, payload}
 *     200 {status, trace_id, duration_ms, workflow_code, result_payload} for every completed run,
 *         whatever its terminal status (SUCCESS, ALREADY_EXISTS, VIOLATION, NOT_FOUND…);
 *         result_payload is the run's surface (what `cairn wf run --json` prints as `surface`);
 *         duration_ms is the wall-clock time of the run, reported here only (never in traces).
 *     400 {status:"ERROR", error} an empty body or one that is not UTF-8 (at once; the message
 *         names the offset of the first bad byte); invalid
 *         JSON, a body that is not an object, a workflow_code that is not a string
 *         `<domain>::<WF_CODE>`, a payload that is not an object; PGS: an unknown domain (no
 *         tokenized_snapshot/<domain>/) or a workflow the domain does not have; Cairn: a workflow
 *         the snapshot does not hold (the message lists those it holds). All but the first two
 *         are found when the request's turn in the run queue comes (the body waits there as its
 *         raw bytes, ≤ maxBodyBytes, and is parsed then), so they are answered after the runs
 *         ahead of it, and a request refused 503 (queue full, closing) was never parsed.
 *     403 {status:"ERROR", error} (any route, before the body is read) an `Origin` header the
 *         origin policy does not allow (`allowOrigins`), or, listening on loopback, a request
 *         with `Origin` whose `Host` does not name that address (DNS rebinding): origin.ts.
 *     413 {status:"ERROR", error} body larger than `maxBodyBytes`.
 *     415 {status:"ERROR", error} (any route, after the 403 check, before the body is read) a
 *         `Content-Encoding` other than `identity` (gzip, br…): no content coding is decoded
 *         (the answer carries `Accept-Encoding: identity`). Any Content-Type is read as JSON.
 *     500 {status:"ERROR", error, trace_id, workflow_code} the PGS snapshot failed to load or
 *         verify (trace_id null), the run failed before it had a trace (null), a runtime error
 *         aborted it (trace_id of the trace that ends with the ERROR event), writing its
 *         summary or recording it failed after its effects were applied (its trace_id), or its
 *         200 would be larger than `maxResponseBytes` (it ran: its trace_id and status are named).
 *     503 {status:"ERROR", error} too many runs already waiting, the server is closing, or the
 *         store is locked by another writer (nothing ran) (Retry-After); also, as soon as its
 *         head has arrived (any route, before the body is read), a request whose declared body
 *         would take the bodies held — arriving, queued, running — over `maxInflightBodyBytes`
 *         (MAX_INFLIGHT_BODY_BYTES); and, written raw at once, a connection beyond
 *         `maxConnections` (MAX_CONNECTIONS) open, which is then closed (`refuseOverLimit`).
 *     408 a request still arriving after requestTimeoutMs (REQUEST_TIMEOUT_MS), unless bytes of
 *         it were waiting unread when that passed (a run held the event loop): it then gets
 *         another requestTimeoutMs (`requestTimedOut`); 431 headers too large; 400 a request
 *         Node's HTTP parser refuses — these three are written by the 'clientError' handler in
 *         the same {status:"ERROR", error} format (ACAO only when every origin is allowed).
 *   GET /api/health → {ok:true}. Anything else → 404 {status:"ERROR", error}.
 *
 * Error messages quote a user value (the workflow_code, its segments) in full only up to
 * MAX_ECHOED_CHARS characters, and no error message is longer than MAX_ERROR_CHARS.
 *
 * Responses are compact JSON in the Python value model (ints stay ints, `1.0` stays `1.0`), with
 * `Access-Control-Allow-Origin: *` for a request without `Origin` (as the reference) and the
 * origin itself for an allowed one (origin.ts). Runs are serialised with a bounded async mutex so that runs
 * against the data root never interleave in this process; before each run the gateway reads what
 * arrived during the previous one (`drainArrivals`), and the server holds its data root's
 * cross-process lock (src/workflow/effects/data-root-lock.ts) from `createServer` until `close()`
 * resolves, so no other process (a `cairn wf run`, a second server) runs workflows on it
 * meanwhile: `createServer` fails with E_DATA_ROOT_LOCKED when another process holds it, and
 * each run is given the held lock (no per-run locking). PGS snapshots are loaded on first
 * use per domain and cached (like the reference gateway); a load failure is not cached. A Cairn
 * snapshot is verified and prepared once, in `createServer`, before the lock is taken. Error
 * messages name the workspace and data root as `{{workspace}}` / `{{module_data_root}}`, never
 * by absolute path.
 */
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerOptions as HttpServerOptions, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createRequire } from "node:module";
import type { ConnectionError, FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import { echoed } from "../core/echo.js";
import { describeArgument } from "../core/describe.js";
import type { Store } from "../store/store.js";
import type { PreparedSnapshot } from "../workflow/cairn/run.js";
import { checkDataRootHoldsState, lockForRun, type DataRootLock } from "../workflow/effects/index.js";
import { tornFilesOf, type TornFile } from "../workflow/effects/torn-files.js";
import {
  compactPy, DEFAULT_DATA_ROOT_NAME, MODULE_DATA_ROOT_TOKEN, runPgsWorkflow, WORKSPACE_TOKEN,
  type PgsRunResult, type WorkflowName,
} from "../workflow/pgs/index.js";
import { cairnTarget, serveableSnapshot } from "./cairn-target.js";
import {
  BUSY_RETRY_AFTER_SECONDS, CLOSE_GRACE_MS, CLOSE_RESPONSE_DEADLINE_MS, DEFAULT_HOST, DEFAULT_PORT, HEALTH_ROUTE, LOCALHOST_ADDRESSES, LOCALHOST_PORT_ATTEMPTS, MAX_BODY_BYTES, MAX_CONNECTIONS,
  MAX_DRAIN_TURNS, MAX_ECHOED_CHARS, MAX_INFLIGHT_BODY_BYTES, MAX_QUEUED_RUNS, MAX_RESPONSE_BYTES, MAX_TORN_FILES_NOTED, REFUSED_CONNECTION_LINGER_MS,
  REQUEST_TIMEOUT_CHECK_MS, REQUEST_TIMEOUT_MS, RUN_ROUTE,
} from "./constants.js";
import { corsDecision, isLoopbackAddress, loopbackHosts, originPolicy } from "./origin.js";
import { isDirectory, pgsTarget } from "./pgs-target.js";
import { checkServerOptions } from "./option-checks.js";
import { PGS_ONLY_OPTIONS, type CairnServer, type ServerOptions } from "./options.js";
import { QueueFullError, RunQueue } from "./queue.js";
import { arrivedBody, boundEchoes, clientErrorOf, ClientGone, contentEncodingRefusal, echoedValues, errorDoc, parseRunRequest, sendJson, sendText, type Parsed } from "./request.js";
import { HttpError, RunFailure, type RunTarget } from "./target.js";

export type { WorkflowRunner } from "./pgs-target.js";
export type { CairnServer, ServerOptions } from "./options.js";

/**
 * fastify, loaded on the first `createServer` call rather than when this module is imported:
 * the CLI loads only the command module a one-shot command needs (src/cli/main.ts), but its
 * full `--help` loads every one, `cairn serve` included, and library code may import this
 * module without serving; loading fastify and its dependencies once made up ~40 % of a
 * one-shot `cairn wf run` start-up (--cpu-prof, when the CLI still imported every command). fastify is a CommonJS package, so a plain `require` loads the
 * same module the static import did; this is not handler resolution (no dynamic import, §11.4).
 */
let fastifyFactory: typeof import("fastify").fastify | undefined;
function loadFastify(): typeof import("fastify").fastify {
  fastifyFactory ??= (createRequire(import.meta.url)("fastify") as typeof import("fastify")).fastify;
  return fastifyFactory;
}

/** Highest TCP port `listen` takes. */
const MAX_PORT = 65_535;

/** The error `listen` fails with: Node names the address and port (`listen EADDRINUSE: address already in use ::1:8080`). */
interface ListenError extends NodeJS.ErrnoException {
  address?: string;
  port?: number;
}

/**
 * A listen failure as a CairnError (what `cairn serve` prints): E_INVALID_INPUT `cannot listen on
 * <host>:<port>: address already in use (<address>:<port>)` naming the address Node could not
 * bind (with `localhost`, it may be ::1 only), or Node's message for another errno; a CairnError
 * (no free port on every localhost address) as it is.
 */
function listenError(err: unknown, host: string, port: number): CairnError {
  if (isCairnError(err)) return err;
  const e = err as ListenError;
  const where = typeof e.address === "string" ? ` (${e.address.includes(":") ? `[${e.address}]` : e.address}:${String(e.port)})` : "";
  return new CairnError(ErrorCode.INVALID_INPUT, `cannot listen on ${host}:${port}: ${e.code === "EADDRINUSE" ? `address already in use${where}` : e.message}`, {
    host, port, errno: e.code, address: e.address,
  });
}

/** `server.listen({port, host})` as a promise: rejects with the listen error (EADDRINUSE…). */
function listenOn(server: HttpServer, port: number, host: string): Promise<void> {
  return new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen({ port, host }, () => {
      server.off("error", fail);
      done();
    });
  });
}

/** Stops `server` listening and destroys its connections; resolves once it is closed. */
function shut(server: HttpServer): Promise<void> {
  return new Promise<void>((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
}

export function createServer(opts: ServerOptions): CairnServer {
  checkServerOptions(opts); // every member, before the lock (option-checks.ts)
  const workspace = resolve(opts.workspace);
  // Named as the caller passed them (`details.field` the ServerOptions key): `cairn serve` checks
  // both first, with its own flags (until 2026-11-28 these said "--workspace", "--data-root").
  if (!isDirectory(workspace)) throw new CairnError(ErrorCode.NOT_FOUND, `workspace ${opts.workspace} is not a directory`, { field: "workspace", path: opts.workspace });
  const dataRoot = resolve(opts.dataRoot ?? join(workspace, DEFAULT_DATA_ROOT_NAME));
  // A data root that exists but cannot hold state is refused at start, named as given (the server
  // used to start and fail every run with 500, ENOTDIR); each run checks it again (the runtimes).
  checkDataRootHoldsState(dataRoot, opts.dataRoot ?? join(opts.workspace, DEFAULT_DATA_ROOT_NAME), "dataRoot");
  let snapshot: PreparedSnapshot | undefined;
  if (opts.snapshot !== undefined) {
    const pgsOnly = PGS_ONLY_OPTIONS.filter((k) => opts[k] !== undefined);
    if (pgsOnly.length > 0) throw new CairnError(ErrorCode.USAGE, `ServerOptions.${pgsOnly.join(", ")} appl${pgsOnly.length === 1 ? "ies" : "y"} to a PGS workspace only, not with a Cairn snapshot`, { field: pgsOnly[0] });
    snapshot = serveableSnapshot(opts.snapshot); // before the lock: a refused snapshot never waits for it
  }
  // Held for the server's life (released by close()), or the caller's (checked, never released).
  const ownLock = lockForRun(dataRoot, opts.dataRootLock, opts.dataRootLockWaitMs);
  const dataRootLock = (ownLock ?? opts.dataRootLock) as DataRootLock;
  try {
    return serverOver(opts, { workspace, dataRoot, dataRootLock, snapshot }, ownLock);
  } catch (err) {
    ownLock?.release();
    throw err;
  }
}

interface Served {
  workspace: string;
  dataRoot: string;
  dataRootLock: DataRootLock;
  /** The prepared Cairn snapshot, or undefined for the workspace's PGS domains. */
  snapshot: PreparedSnapshot | undefined;
}

/** `createServer` with the data root's lock held (`ownLock`: the one `close()` releases). */
function serverOver(opts: ServerOptions, served: Served, ownLock: DataRootLock | undefined): CairnServer {
  const { workspace, dataRoot, dataRootLock } = served;
  // The options were checked by createServer (option-checks.ts): positive integers, an in-flight
  // bound that holds the largest body, an allowed-origin list of origins.
  const maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const maxResponseBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const policy = originPolicy(opts.allowOrigins);
  const queue = new RunQueue(opts.maxQueuedRuns ?? MAX_QUEUED_RUNS);
  const maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
  const maxInflightBodyBytes = opts.maxInflightBodyBytes ?? MAX_INFLIGHT_BODY_BYTES;

  // Absolute paths never leave the server: longest first, so a data root inside the workspace wins.
  const replacements = ([[dataRoot, MODULE_DATA_ROOT_TOKEN], [workspace, WORKSPACE_TOKEN]] as Array<[string, string]>).sort((a, b) => b[0].length - a[0].length);
  const scrub = (s: string): string => replacements.reduce((acc, [from, to]) => (from === "/" ? acc : acc.split(from).join(to)), s);
  const messageOf = (err: unknown): string => scrub(err instanceof Error ? err.message : String(err));

  const target: RunTarget = served.snapshot === undefined
    ? pgsTarget({ workspace, dataRoot, dataRootLock, cache: opts.cacheSnapshots ?? true, runner: opts.runner ?? runPgsWorkflow, effectDurability: opts.effectDurability, messageOf })
    : cairnTarget({ snapshot: served.snapshot, workspace, dataRoot, dataRootLock });

  /** Set by close(): new runs are refused (503) and responses ask clients to close the connection. */
  let closing = false;
  const requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const timeoutMessage = `Request timeout: the request did not arrive within ${requestTimeoutMs} ms`;
  const closeResponseDeadlineMs = opts.closeResponseDeadlineMs ?? CLOSE_RESPONSE_DEADLINE_MS;

  /**
   * Bumped whenever something arrives: a connection accepted, a request's head read, a request's
   * body complete. `drainArrivals` yields while it moves.
   */
  let arrivals = 0;

  /**
   * Reads what arrived during the previous run before the next one starts. A run is synchronous
   * (it holds the event loop until it ends), and libuv accepts at most one pending connection
   * per loop turn, so one yield per run let clients that open a connection per request (curl,
   * Python) wait in the kernel's accept queue, unseen by the run queue: 120 concurrent curl
   * requests all got 200 (no 503) and a health check waited 21 s for the whole backlog. So
   * yield turn after turn — each accepts one more connection and reads the requests of those
   * accepted before, which are queued, refused 503 past the bound, or answered (/api/health) —
   * while the previous turn saw an arrival, at least 2 turns (the first may not reach the
   * poll phase) and at most MAX_DRAIN_TURNS. A request still arriving when the drain ends (a
   * client that waits for `100 Continue` before its body, a slow one) is read at a later one.
   */
  async function drainArrivals(): Promise<void> {
    for (let turn = 1; turn <= MAX_DRAIN_TURNS; turn++) {
      const seen = arrivals;
      await new Promise<void>((resolveTurn) => setImmediate(resolveTurn));
      if (turn >= 2 && arrivals === seen) return;
    }
  }

  /**
   * Queues a request's raw body (≤ maxBodyBytes) and, when its turn comes, drains the arrivals,
   * parses and validates it (400), binds it to the target (400 / 500) and runs it. The body is
   * parsed only then, so a waiting request holds its bytes, not its parsed payload (100 queued
   * 1 MB bodies of many keys held 1.9 GB as parsed Maps).
   *
   * A request whose connection is reset, fails or is closed by the server while it waits is
   * withdrawn from the queue then (ClientGone: not run, not answered), so its place and its body
   * are freed at once: nobody can receive its answer. A client's FIN alone is a half-close
   * (httpAllowHalfOpen, `attach`): its request stays queued, runs and is answered — TCP cannot
   * tell it from a client that closed its socket without a reset, whose run is then performed
   * too (only its answer is lost). It used to keep its place (a gone client's request counted against
   * maxQueuedRuns, and its body stayed in memory, no longer counted in bodyBytesInFlight) until
   * its turn came. At its turn, a request whose connection has closed meanwhile (during the
   * drain) is not run either; one whose run has started runs to completion, whatever its client
   * does (its effects are applied and its trace written; only the answer may be lost).
   */
  async function execute(body: Buffer, seen: Parsed, socket: Socket): Promise<{ result: PgsRunResult; durationMs: number; name: WorkflowName }> {
    if (closing) throw new HttpError(503, "server is closing");
    if (socket.destroyed) throw new ClientGone();
    const c = connections.get(socket);
    const gone = new AbortController();
    const withdraw = (): void => gone.abort(new ClientGone());
    c?.waiting.add(withdraw);
    try {
      return await queue.run(() => {
        c?.waiting.delete(withdraw); // its turn: it runs to completion
        return runNow(body, seen, socket);
      }, { signal: gone.signal });
    } finally {
      c?.waiting.delete(withdraw);
    }
  }

  /** Torn files already told of (`path` → `offset:bytes`), at most MAX_TORN_FILES_NOTED. */
  const tornNoted = new Map<string, string>();
  function noteTornFiles(result: PgsRunResult, tell: (file: TornFile) => void): void {
    for (const t of tornFilesOf(result.effects, dataRoot)) {
      const tail = `${t.offset}:${t.bytes}`;
      if (tornNoted.get(t.path) === tail) continue;
      if (tornNoted.size >= MAX_TORN_FILES_NOTED) tornNoted.clear();
      tornNoted.set(t.path, tail);
      try {
        tell(t);
      } catch {
        // A hint only: a throwing callback does not turn the run's answer into an error.
      }
    }
  }

  /** `execute`'s run, once the request's turn has come. */
  async function runNow(body: Buffer, seen: Parsed, socket: Socket): Promise<{ result: PgsRunResult; durationMs: number; name: WorkflowName }> {
    await drainArrivals();
    // The client is gone (it disconnected, or its connection was closed for a malformed
    // request after this one): nobody can learn the outcome, so the run is not started.
    if (socket.destroyed) throw new ClientGone();
    const req = parseRunRequest(body, seen, served.snapshot !== undefined);
    const run = target.bind(req.name, req.payload);
    let store: Store | undefined;
    try {
      store = typeof opts.store === "function" ? opts.store() : opts.store;
    } catch (err) {
      // Another process holds the store: nothing has run yet, so a retry is safe.
      if (isCairnError(err, ErrorCode.STORE_LOCKED)) throw new HttpError(503, "the store is locked by another writer; retry later");
      throw err;
    }
    try {
      const t0 = performance.now();
      const result = await run(store);
      const durationMs = Math.round((performance.now() - t0) * 1000) / 1000;
      if (opts.onTornFile !== undefined) noteTornFiles(result, opts.onTornFile);
      return { result, durationMs, name: req.name };
    } finally {
      if (typeof opts.store === "function") store?.close();
    }
  }

  // Node checks its timeouts every connectionsCheckingInterval (30 s by default): a smaller
  // timeout is checked as often as it lasts, so a stalled request is cut within twice it. And
  // Node applies max(headersTimeout, requestTimeout) to a request whose headers have arrived:
  // with its default headersTimeout (60 s) a stalled body was cut only after 60–90 s.
  // (requestTimeout is given here too: Node refuses a headersTimeout over the requestTimeout it is created with.)
  // Every HTTP server of the gateway (one per address listened on) is created with these.
  // (requestTimeoutMs is a positive integer: option-checks.ts refuses 0, Node's "no timeout".)
  const httpOptions: HttpServerOptions = {
    connectionsCheckingInterval: Math.min(requestTimeoutMs, REQUEST_TIMEOUT_CHECK_MS), headersTimeout: requestTimeoutMs, requestTimeout: requestTimeoutMs,
  };

  // return503OnClosing off: while closing, the route answers 503 itself (`closing` below), in the
  // gateway's error format with Retry-After and CORS, instead of fastify's bare 503.
  const app = loadFastify()({
    logger: false,
    bodyLimit: maxBodyBytes,
    return503OnClosing: false,
    forceCloseConnections: "idle",
    requestTimeout: requestTimeoutMs,
    http: httpOptions,
    // Errors fastify raises before routing (a malformed URL…): the gateway's format and CORS too
    // (the hooks have not run: the origin policy is applied here).
    frameworkErrors: (err, request, reply) => {
      void sendJson(withCors(reply, request.headers.origin), 400, errorDoc(scrub(err.message)));
    },
    // Errors Node's HTTP server raises before any request exists (408 request timeout, 431
    // headers too large, 400 a request its parser refuses): the gateway's format (refuseConnection).
    // A request timeout is decided after the next read (requestTimedOut).
    // (The servers of further addresses get the same handler: `attach`.)
    clientErrorHandler: onClientError,
  });

  function onClientError(err: ConnectionError, socket: Socket): void {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") return requestTimedOut(socket);
    refuseConnection(socket, clientErrorOf(err), err);
  }

  /** An error answer written raw on a connection (no request object): the gateway's format, `Connection: close`. */
  function rawAnswer(code: number, message: string, extraHeaders = ""): string {
    const text = JSON.stringify(errorDoc(message));
    return (
      `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? "Error"}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
      `${extraHeaders}${policy.any ? "Access-Control-Allow-Origin: *\r\n" : ""}Connection: close\r\n\r\n${text}`
    );
  }

  /**
   * Writes an error raised before any request exists raw (there is no reply) in the gateway's
   * format, with `Access-Control-Allow-Origin: *` only when every origin is allowed (the request's
   * `Origin` is not known here), and closes the connection — unless a request on that connection
   * still has its response open (being written, or still waiting in the run queue: the client
   * would take the error for that request's answer), then the connection is only closed (a
   * queued run whose connection is gone is not started: see `execute`).
   */
  function refuseConnection(socket: Socket, [code, message]: [number, string], err?: Error): void {
    if (socket.writable && !answering(socket)) socket.write(rawAnswer(code, message));
    socket.destroy(err);
  }

  /**
   * A request on `socket` has been arriving for longer than the bound: Node's check
   * (ERR_HTTP_REQUEST_TIMEOUT), or a reprieve's timer (`timed`: the message it reprieved). Both
   * fire in the event loop's timers phase, which comes BEFORE the poll phase that reads the
   * sockets: after a run that held the loop for longer than the bound, what arrived during it is
   * still unread, and a request whose bytes all came in time was answered 408. So the decision
   * waits for the next read (`setImmediate` runs after it): if none were read, the message
   * stalled and is answered 408; if bytes were, and the message timed is still arriving, it gets
   * another bound (`reprieve`); if it has wholly arrived meanwhile, nothing more is done (Node
   * times the connection's next message itself).
   *
   * The message Node timed is the one in progress when it reported: the request whose body is
   * arriving, or, when every request on the connection is complete, a head still arriving — the
   * next request the connection delivers ('request' below fills it in).
   */
  function requestTimedOut(socket: Socket, timed?: Timed): void {
    const c = connections.get(socket);
    if (c !== undefined && timed === undefined) {
      timed = { req: [...c.responses.values()].find((req) => !req.complete) };
      if (timed.req === undefined) c.awaitingHead = timed;
    }
    const mark = socket.bytesRead;
    setImmediate(() => {
      if (socket.destroyed) return;
      if (c === undefined || timed === undefined || socket.bytesRead === mark) refuseConnection(socket, [408, timeoutMessage]);
      else if (stillArriving(socket, c, timed)) reprieve(socket, c, timed);
    });
  }

  /**
   * Whether the message `timed` is still arriving on `socket`: its request is not complete, or,
   * its head still arriving when it was timed, no request has been delivered since and the
   * connection is not idle. A request that has wholly arrived — queued, running, answered —
   * never is: a reprieve once armed for one (its bound then cut a queued or running request's
   * connection, or sent an answered, idle one an unsolicited 408).
   */
  function stillArriving(socket: Socket, c: Connection, timed: Timed): boolean {
    return timed.req !== undefined ? !timed.req.complete : !isIdle(socket, c);
  }

  /**
   * Gives the message `timed` on `socket` another `requestTimeoutMs` (Node no longer times it:
   * it dropped the connection from its checks when it reported the timeout, and times the
   * connection's next message again). When the timer fires, a message that has wholly arrived
   * meanwhile (its answer may still be queued, running or open on a kept-alive connection) is
   * left alone; one still arriving is decided again as above.
   */
  function reprieve(socket: Socket, c: Connection, timed: Timed): void {
    if (c.reprieve !== undefined) clearTimeout(c.reprieve);
    const timer = setTimeout(() => {
      if (c.reprieve === timer) c.reprieve = undefined;
      if (stillArriving(socket, c, timed)) requestTimedOut(socket, timed);
    }, reprieveMs);
    timer.unref();
    c.reprieve = timer;
  }

  /** `reply` with the CORS headers the origin policy gives a request whose `Origin` is `origin`. */
  function withCors(reply: FastifyReply, origin: string | undefined): FastifyReply {
    const cors = corsDecision(policy, origin);
    if (cors.allowOrigin !== null) reply.header("Access-Control-Allow-Origin", cors.allowOrigin);
    if (cors.vary) reply.header("Vary", "Origin");
    return reply;
  }

  /**
   * Why a request is refused before anything else (403), or null: an `Origin` the policy does not
   * allow, or — for a request carrying `Origin`, when the server listens on a loopback address —
   * a `Host` that is not a name of that address (DNS rebinding: a page whose name now resolves
   * to 127.0.0.1 sends that name). A request without `Origin` is not checked: browsers send it
   * on every request but same-origin GET/HEAD (so on every POST), and a client reaching the
   * server through a port forward (`ssh -L 9000:127.0.0.1:8080`: `Host: localhost:9000`) was
   * refused (origin.ts). A request without `Host` (HTTP/1.0: Node refuses an HTTP/1.1 one) is
   * not a browser's.
   */
  function refusal(request: FastifyRequest): string | null {
    const { origin, host } = request.headers;
    if (!corsDecision(policy, origin).allowed) {
      return `Cross-origin request refused: Origin '${echoed(String(origin), MAX_ECHOED_CHARS)}' is not allowed (allow it with cairn serve --allow-origin <origin>, or ServerOptions.allowOrigins)`;
    }
    const addr = app.server.address();
    if (origin !== undefined && host !== undefined && addr !== null && typeof addr === "object" && isLoopbackAddress(addr.address)) {
      const names = loopbackHosts(addr.address, addr.port);
      if (!names.includes(host.toLowerCase())) {
        return `Request refused: Host '${echoed(host, MAX_ECHOED_CHARS)}' does not name this server's loopback address (expected one of ${names.join(", ")})`;
      }
    }
    return null;
  }

  // Every open connection: the responses on it not yet closed, and how many bytes it had read
  // when its last response closed (more since: a next request is arriving). close() cuts only
  // the connections idle or still receiving a request, never one being written a response.
  interface Connection {
    /** Each open response, with its request (complete once its body has been read). */
    responses: Map<ServerResponse, IncomingMessage>;
    readMark: number;
    /** The request timeout's extension, while a message is given more time (`reprieve`). */
    reprieve?: NodeJS.Timeout;
    /** A message timed out while its head was arriving: the next request delivered is its request. */
    awaitingHead?: Timed;
    /**
     * The releases of the body shares of its requests still holding one, run when the connection
     * closes: one 'close' listener for all of them (a listener per pipelined request would pass
     * Node's MaxListeners warning at 11).
     */
    shares: Set<() => void>;
    /**
     * The withdrawals of its requests waiting in the run queue (`execute`), run when the
     * connection closes: a request whose client has gone leaves the queue before its turn.
     */
    waiting: Set<() => void>;
  }
  /** A message Node timed out (`requestTimedOut`). */
  interface Timed {
    /** Its request; undefined while its head is still arriving. */
    req: IncomingMessage | undefined;
  }
  const connections = new Map<Socket, Connection>();
  /** Told when the last connection in `connections` has closed (`connectionsClosed`). */
  let onNoConnections: (() => void) | undefined;
  /** Resolves once `connections` is empty. */
  function connectionsClosed(): Promise<void> {
    return connections.size === 0 ? Promise.resolve() : new Promise<void>((done) => (onNoConnections = done));
  }
  /** How long a reprieve lasts: the bound Node applies. */
  const reprieveMs = requestTimeoutMs;
  /** No request open on it and no byte of a next one (what Node calls an idle connection). */
  const isIdle = (socket: Socket, c: Connection): boolean => c.responses.size === 0 && socket.bytesRead === c.readMark;
  /** Connections refused for maxConnections that are still open (answered, lingering: `refuseOverLimit`). */
  let lingering = 0;

  /**
   * Gives `server` — the fastify server, and the server of each further address `listen` binds —
   * the gateway's handling of connections: the connection limit, the tracking of connections
   * and their responses (close(), the request timeout's reprieve), the keep-alive close, the
   * replaced closeIdleConnections and (`clientError`) the raw errors in the gateway's format.
   * Before, only the first server had it: with `localhost`, fastify listened on
   * ::1 through a second server with Node's bare 400/408, no connection tracking, and close()
   * resolved (releasing the lock) with connections on it still open.
   */
  function attach(server: HttpServer, withClientError: boolean): void {
    if (withClientError) server.on("clientError", onClientError);
    // A client may end its sending side once its request is sent (shutdown(SHUT_WR): `nc -N`,
    // socat, HTTP/1.0-style clients) and still read the answer. With Node's default
    // (httpAllowHalfOpen false) that FIN made Node end the connection at once: a request
    // answered in the same turn escaped, but a run waiting for its queue turn was withdrawn as
    // if its client had gone — never run, 0 bytes answered. Half-open, Node keeps the connection
    // until the last response on it is written, then ends it. (A FIN cannot be told from a
    // client that closed its socket altogether; only a connection that is reset, fails or is
    // closed by the server withdraws a waiting request: `execute`.)
    (server as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // Node's HTTP server reads a connection through its 'connection' listener: a connection over
    // the limit must not reach it (it would parse a request, and fastify answer it), so that
    // listener is called from the gateway's own, for the connections admitted.
    const http = server.listeners("connection") as Array<(socket: Socket) => void>;
    server.removeAllListeners("connection");
    server.on("connection", (socket: Socket) => {
      arrivals++;
      if (connections.size >= maxConnections) return refuseOverLimit(socket);
      for (const listener of http) listener.call(server, socket);
      const c: Connection = { responses: new Map(), readMark: 0, shares: new Set(), waiting: new Set() };
      connections.set(socket, c);
      socket.once("close", () => {
        connections.delete(socket);
        if (connections.size === 0) onNoConnections?.();
        if (c.reprieve !== undefined) clearTimeout(c.reprieve);
        for (const release of [...c.shares]) release();
        for (const withdraw of [...c.waiting]) withdraw();
      });
    });
    // Node closes a kept-alive connection idle for keepAliveTimeout from a timer, which, as the
    // request timeout's check (requestTimedOut), fires before what arrived during a long run is
    // read: the request a client sent on it in time was lost with the connection. A listener here
    // takes over that close (Node then leaves the socket alone) and makes it after the next read,
    // only if nothing arrived (if something did, Node has stopped the idle timer as it read it).
    server.on("timeout", (socket: Socket) => {
      const mark = socket.bytesRead;
      setImmediate(() => {
        if (!socket.destroyed && socket.bytesRead === mark) socket.destroy();
      });
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      arrivals++;
      const socket = req.socket;
      const c = connections.get(socket);
      if (c === undefined) return;
      c.responses.set(res, req);
      if (c.awaitingHead !== undefined) {
        c.awaitingHead.req = req;
        c.awaitingHead = undefined;
      }
      res.once("close", () => {
        c.responses.delete(res);
        c.readMark = socket.bytesRead;
        // While closing, a connection is closed once its last response is all handed to the
        // kernel (gracefully: the client still receives it), even one kept alive.
        if (closing && isIdle(socket, c)) socket.destroySoon();
      });
    });
    // Node's own closeIdleConnections (server.close(), i.e. fastify's close, calls it) destroys a
    // connection whose response has been end()ed but is not all written yet (it tests the
    // response's `finished`, which end() sets): a large 200 to a slow client was cut at close()
    // (5.9 MB of 26 MB). Replaced by one that spares every connection not idle.
    server.closeIdleConnections = () => {
      for (const [socket, c] of connections) if (isIdle(socket, c)) socket.destroy();
    };
  }

  /**
   * Answers a connection over maxConnections at once, before it has sent anything: 503 in the
   * gateway's format with Retry-After and `Connection: close`, then closes it. Node's HTTP server
   * never sees it. It lingers REFUSED_CONNECTION_LINGER_MS reading and dropping what the client
   * sends (closed with unread bytes, the kernel would reset it and the client could lose the
   * answer) — unless maxConnections refused connections already linger: then it is closed as
   * soon as the answer is written.
   */
  function refuseOverLimit(socket: Socket): void {
    socket.on("error", () => {}); // a reset by the client: nothing to answer
    const answer = rawAnswer(
      503,
      `server busy: ${connections.size} connections already open (the ${maxConnections}-connection limit, MAX_CONNECTIONS); retry later`,
      `Retry-After: ${BUSY_RETRY_AFTER_SECONDS}\r\n`,
    );
    if (lingering >= maxConnections) {
      socket.end(answer, () => socket.destroy());
      return;
    }
    lingering++;
    const timer = setTimeout(() => socket.destroy(), REFUSED_CONNECTION_LINGER_MS);
    timer.unref();
    socket.once("close", () => {
      lingering--;
      clearTimeout(timer);
    });
    socket.once("end", () => socket.destroy());
    socket.end(answer);
    socket.resume();
  }

  const servers: HttpServer[] = [app.server];
  attach(app.server, false); // fastify attaches clientErrorHandler itself
  /** The responses on `socket` whose head has been sent and whose body is not all handed to the kernel yet. */
  function writingTo(socket: Socket): boolean {
    return [...(connections.get(socket)?.responses.keys() ?? [])].some((res) => res.headersSent && !res.writableFinished && !res.destroyed);
  }
  /**
   * Whether a request on `socket` that has wholly arrived still has its response open (queued,
   * running or being written): an error on the connection is then about a later request, and
   * written there it would read as this one's answer. (A request still arriving, whose body
   * stalled, is the one a 408 answers.)
   */
  function answering(socket: Socket): boolean {
    return [...(connections.get(socket)?.responses ?? [])].some(([res, req]) => req.complete && !res.writableFinished && !res.destroyed);
  }

  /**
   * close()'s cut: connections idle or still receiving a request are destroyed; one being
   * written a response is left to finish it (then closed, above). Returns the timer that
   * destroys whatever is still open after closeResponseDeadlineMs.
   */
  function cutConnections(): NodeJS.Timeout {
    for (const socket of connections.keys()) if (!writingTo(socket)) socket.destroy();
    const deadline = setTimeout(() => {
      for (const socket of connections.keys()) socket.destroy();
    }, closeResponseDeadlineMs);
    deadline.unref();
    return deadline;
  }

  // One parser for every content type: the body is always read as bytes and parsed when its run
  // starts (losslessly, in the Python value model), so a missing or odd Content-Type is no
  // excuse to refuse.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: maxBodyBytes }, (_req, body, done) => done(null, body));

  /** Request-body bytes held now (arriving, queued, running), against maxInflightBodyBytes. */
  let bodyBytesInFlight = 0;
  /** What each request holds of bodyBytesInFlight, until its response or its connection closes. */
  const bodyShares = new WeakMap<IncomingMessage, { bytes: number }>();

  /**
   * The bytes a request's body may take: its Content-Length, or maxBodyBytes for a chunked one;
   * 0 for none, or for one over maxBodyBytes (answered 413 without being read).
   */
  function declaredBody(request: FastifyRequest): number {
    if (request.headers["transfer-encoding"] !== undefined) return maxBodyBytes;
    const n = Number(request.headers["content-length"] ?? 0); // Node's parser refused a malformed one
    return Number.isSafeInteger(n) && n > 0 && n <= maxBodyBytes ? n : 0;
  }

  // Before the body is read: a browser page the origin policy does not allow, or a re-bound DNS
  // name, gets 403 and nothing else (origin.ts). Then the body budget: a request whose body
  // would take the bytes held over maxInflightBodyBytes gets 503 before any of it is read (Node
  // reads and drops it after the answer); otherwise its share is held until its response closes
  // (answered) or its connection does.
  app.addHook("onRequest", async (request, reply) => {
    const why = refusal(request);
    if (why !== null) return sendJson(reply, 403, errorDoc(why));
    // A compressed body is not decoded: refused before any of it is read, not parsed as JSON.
    const coding = contentEncodingRefusal(request.headers["content-encoding"]);
    if (coding !== null) return sendJson(reply.header("Accept-Encoding", "identity"), 415, errorDoc(coding));
    const bytes = declaredBody(request);
    if (bytes === 0) return;
    if (bodyBytesInFlight + bytes > maxInflightBodyBytes) {
      return sendJson(
        reply.header("Retry-After", String(BUSY_RETRY_AFTER_SECONDS)),
        503,
        errorDoc(
          `server busy: request bodies of ${bodyBytesInFlight} bytes are already arriving or waiting to run, and this one's ${bytes} bytes ` +
            `would exceed the ${maxInflightBodyBytes}-byte limit (MAX_INFLIGHT_BODY_BYTES); retry later`,
        ),
      );
    }
    const share = { bytes };
    bodyBytesInFlight += bytes;
    bodyShares.set(request.raw, share);
    // Released once, on whichever comes first: its response closes, or its connection does. A
    // request pipelined behind one whose response is still open has its response queued by
    // Node, not attached to the socket: when the client goes, that response never emits
    // 'close' — each such connection kept up to maxBodyBytes held for good, and ~130 of them
    // made every POST a 503 until restart. (The request's own 'close' is no signal: Node emits
    // it as soon as its body has been read, while the request still waits in the run queue.)
    // The connection's one 'close' listener runs the releases of its requests (Connection.shares).
    const socket = request.raw.socket;
    const c = connections.get(socket);
    const release = (): void => {
      reply.raw.off("close", release);
      if (c === undefined) socket.off("close", release);
      else c.shares.delete(release);
      bodyBytesInFlight -= share.bytes;
      share.bytes = 0;
    };
    reply.raw.once("close", release);
    if (c === undefined) socket.once("close", release);
    else c.shares.add(release);
    if (socket.destroyed) release(); // its connection is gone already: no 'close' is to come
  });
  // A chunked body, read: its share becomes its size.
  app.addHook("preValidation", async (request) => {
    const share = bodyShares.get(request.raw);
    if (share !== undefined && Buffer.isBuffer(request.body) && request.body.length < share.bytes) {
      bodyBytesInFlight -= share.bytes - request.body.length;
      share.bytes = request.body.length;
    }
  });

  app.addHook("onSend", async (request, reply) => {
    withCors(reply, request.headers.origin);
    // While closing, a kept-alive connection would hold close() open until its keep-alive
    // timeout (~72 s): ask the client to close it after this response.
    if (closing) reply.header("Connection", "close");
  });

  app.get(HEALTH_ROUTE, async (_req, reply) => sendJson(reply, 200, { ok: true }));

  // The CORS preflight, for a request the policy allows (onRequest refused the others 403): a
  // page of an origin allowed by name may also be granted access to a private network (Chrome's
  // Private Network Access asks before a public page reaches a loopback or LAN address).
  app.options(RUN_ROUTE, async (request, reply) => {
    if (request.headers["access-control-request-private-network"] === "true" && corsDecision(policy, request.headers.origin).named) {
      reply.header("Access-Control-Allow-Private-Network", "true");
    }
    return reply.code(204).header("Access-Control-Allow-Methods", "POST, OPTIONS").header("Access-Control-Allow-Headers", "Content-Type").send();
  });

  app.post(RUN_ROUTE, async (request, reply) => {
    arrivals++;
    const seen: Parsed = {};
    try {
      const { result: r, durationMs, name } = await execute(arrivedBody(request.body), seen, request.raw.socket);
      if (r.error !== null) throw new RunFailure(`Runtime error: ${scrub(r.error.message)}`, r.traceId);
      // The envelope is plain JSON; the surface keeps the Python value model (ints stay ints,
      // `1.0` stays `1.0`, key order kept), exactly as `cairn wf run --json` and the traces print it.
      const head = JSON.stringify({ status: r.status, trace_id: r.traceId, duration_ms: durationMs, workflow_code: name.fqdn });
      const text = `${head.slice(0, -1)},"result_payload":${compactPy(r.surface)}}`;
      const size = Buffer.byteLength(text);
      if (size > maxResponseBytes) {
        throw new RunFailure(
          `Response too large: the answer to this run is ${size} bytes, over the ${maxResponseBytes}-byte response limit (MAX_RESPONSE_BYTES); ` +
            `the run itself completed with status ${r.status}: its effects are applied and its trace ${r.traceId} is written — only this answer is withheld`,
          r.traceId,
        );
      }
      return sendText(reply, 200, text);
    } catch (err) {
      if (err instanceof ClientGone) return reply; // no one to answer; nothing ran
      const echo = (message: string): string => boundEchoes(message, echoedValues(seen.code));
      if (err instanceof HttpError) return sendJson(err.statusCode === 503 ? reply.header("Retry-After", String(BUSY_RETRY_AFTER_SECONDS)) : reply, err.statusCode, errorDoc(echo(err.message)));
      if (err instanceof QueueFullError) return sendJson(reply.header("Retry-After", String(BUSY_RETRY_AFTER_SECONDS)), 503, errorDoc(err.message));
      // A failure after the run had its trace (writing its summary, recording it) names the trace.
      const traceId = err instanceof RunFailure ? err.traceId : isCairnError(err) && typeof err.details.traceId === "string" ? err.details.traceId : null;
      const message = err instanceof RunFailure ? err.message : isCairnError(err) ? `${messageOf(err)} [${err.code}]` : `Internal error: ${messageOf(err)}`;
      const workflowCode = seen.name === undefined ? null : echoed(seen.name.fqdn, MAX_ECHOED_CHARS);
      return sendJson(reply, 500, errorDoc(echo(message), { trace_id: traceId, workflow_code: workflowCode }));
    }
  });

  app.setNotFoundHandler(async (request, reply) => sendJson(reply, 404, errorDoc(`Not found: ${request.method} ${echoed(request.url.split("?")[0] ?? "", MAX_ECHOED_CHARS)}`)));

  // Errors raised by fastify itself (body too large → 413, malformed request → 400…).
  app.setErrorHandler(async (err: FastifyError, _request, reply) => {
    const code = typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (code === 413) return sendJson(reply, 413, errorDoc(`Request body is larger than the ${maxBodyBytes}-byte limit`));
    if (code < 500) return sendJson(reply, code, errorDoc(scrub(err.message)));
    return sendJson(reply, code, errorDoc(`Internal error: ${messageOf(err)}`, { trace_id: null }));
  });

  /**
   * Listens on each of `addresses` (`listen("localhost")`'s further ones) on `port`, one HTTP
   * server each with the gateway's handling (`attach`), added to `servers`. An address the
   * machine does not have is skipped. Returns null, or — the port in use on one of them — that
   * error, with this attempt's servers closed (none is added); throws any other error.
   */
  async function listenFurther(addresses: readonly string[], port: number): Promise<ListenError | null> {
    const bound: HttpServer[] = [];
    for (const address of addresses) {
      const server = createHttpServer(httpOptions, app.routing);
      // What fastify sets on its own server (keep-alive, timeouts, limits), the same here.
      server.keepAliveTimeout = app.server.keepAliveTimeout;
      server.requestTimeout = app.server.requestTimeout;
      server.headersTimeout = app.server.headersTimeout;
      server.timeout = app.server.timeout;
      server.maxRequestsPerSocket = app.server.maxRequestsPerSocket;
      server.maxHeadersCount = app.server.maxHeadersCount;
      attach(server, true);
      try {
        await listenOn(server, port, address);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT") continue; // the machine has no such address
        await Promise.all(bound.map(shut));
        if (code === "EADDRINUSE") return err as ListenError;
        throw err;
      }
      bound.push(server);
    }
    servers.push(...bound);
    if (closing) for (const server of bound) server.close(); // close() began meanwhile
    return null;
  }

  /** fastify's server: closed (with any connection a client made meanwhile), then listening again on a port the system picks. */
  async function relisten(address: string): Promise<void> {
    await shut(app.server);
    await listenOn(app.server, 0, address);
  }

  let url: string | null = null;
  /** Set by the first listen(): a server listens once. */
  let listening = false;
  let closed: Promise<void> | null = null;
  const self: CairnServer = {
    app,
    workspace,
    dataRoot,
    snapshot: served.snapshot?.digest ?? null,
    get runsInFlight() {
      return (queue.running ? 1 : 0) + queue.waiting;
    },
    get connectionsOpen() {
      return connections.size;
    },
    get bodyBytesInFlight() {
      return bodyBytesInFlight;
    },
    get url() {
      return url;
    },
    async listen(port = DEFAULT_PORT, host = DEFAULT_HOST) {
      // A closed server has released its data root: it must not take requests again.
      if (closed !== null) throw new CairnError(ErrorCode.USAGE, "the server is closed: create another one to listen again");
      // One listen per server: a second one failed with fastify's raw FastifyError (and one
      // while the first was still binding raced it).
      if (listening) throw new CairnError(ErrorCode.USAGE, `the server is already listening${url === null ? "" : ` on ${url}`}: listen() is called once per server`);
      if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > MAX_PORT) {
        throw new CairnError(ErrorCode.USAGE, `listen port must be an integer in 0..${MAX_PORT} (0: one the system picks), got ${describeArgument(port)}`, { field: "port" });
      }
      if (typeof host !== "string" || host.trim() === "") throw new CairnError(ErrorCode.USAGE, `listen host must be a non-empty string, got ${describeArgument(host)}`, { field: "host" });
      listening = true;
      // `localhost` is not given to fastify: it would bind its other addresses through servers
      // of its own, without the gateway's handling (`attach`).
      const [first = host, ...more] = host.toLowerCase() === "localhost" ? LOCALHOST_ADDRESSES : [host];
      try {
        await app.listen({ port, host: first });
      } catch (err) {
        // As documented: an address that cannot be bound closes the server (its lock released).
        await self.close();
        throw listenError(err, host, port);
      }
      // With port 0 the system picks a port free on the first address only: one in use on a
      // further address (::1) made `cairn serve --host localhost --port 0` fail. Then this
      // attempt's listeners are closed and the system picks again (LOCALHOST_PORT_ATTEMPTS).
      const tried: number[] = [];
      for (;;) {
        tried.push((app.server.address() as AddressInfo).port);
        let taken: ListenError | null;
        try {
          taken = await listenFurther(more, tried[tried.length - 1] as number);
          if (taken === null) break;
          if (port === 0 && tried.length < LOCALHOST_PORT_ATTEMPTS && !closing) {
            await relisten(first);
            continue;
          }
        } catch (err) {
          await self.close();
          throw listenError(err, host, port);
        }
        await self.close();
        if (port !== 0 || tried.length < LOCALHOST_PORT_ATTEMPTS) throw listenError(taken, host, port); // a fixed port (or close() began): naming the address in use
        throw new CairnError(
          ErrorCode.INVALID_INPUT,
          `cannot listen on ${host} with a free port: each of the ${tried.length} ports the system chose on ${first} (${tried.join(", ")}) ` +
            `was in use on ${String(taken.address)} (LOCALHOST_PORT_ATTEMPTS); name a port free on every address`,
          { host, address: taken.address, ports: tried },
        );
      }
      const addr = app.server.address() as AddressInfo;
      const h = addr.family === "IPv6" || addr.address.includes(":") ? `[${addr.address}]` : addr.address;
      url = `http://${h}:${addr.port}`;
      return url;
    },
    close() {
      if (closed !== null) return closed;
      closing = true;
      // Requests that have wholly reached the kernel — in the accept queue, or on a connection
      // accepted but not read yet — are read first, while the server still listens, and refused
      // 503 (`server is closing`: nothing ran for them) or queued and run, as any between two
      // runs (`drainArrivals`). Closed at once, the listening socket reset those still in the
      // accept queue, and the cut below those accepted but unread: a SIGTERM during a run left
      // every request sent meanwhile with `Connection reset by peer`, unable to tell whether its
      // run had happened.
      closed = drainArrivals().then(() => shutDown());
      return closed;
    },
  };

  /** close() once what had arrived is read: stops listening, waits for the accepted runs and connections, releases the lock. */
  function shutDown(): Promise<void> {
    // The data root's lock is released only once every accepted run has finished: fastify's
    // close() waits for open connections, not for runs (with `inject` it resolves at once).
    // Once every accepted run has answered, connections still open get CLOSE_GRACE_MS, then
    // those idle or still receiving a request (a client stalled mid-request) are cut, and those
    // being written a response get closeResponseDeadlineMs more to finish it (cutConnections);
    // otherwise fastify's close() would wait for them as long as their clients liked.
    let cut: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    void queue.idle().then(() => {
      cut = setTimeout(() => (deadline = cutConnections()), CLOSE_GRACE_MS);
      cut.unref();
    });
    // The servers of further addresses (`listen("localhost")`) stop listening now; close() waits
    // for their connections as fastify's close waits for its own server's.
    const others = servers.slice(1).map((server) => new Promise<void>((done) => server.close(() => done())));
    return Promise.all([app.close(), ...others])
      .then(() => {
        url = null;
      })
      .finally(() => queue.idle())
      // Node calls a server closed once its last connection is destroyed, before that
      // socket's 'close' (which removes it from `connections`): close() resolved with
      // connectionsOpen 1. Every one is destroyed by now, so this waits only for those events.
      .finally(() => connectionsClosed())
      .finally(() => {
        if (cut !== undefined) clearTimeout(cut);
        if (deadline !== undefined) clearTimeout(deadline);
        ownLock?.release();
      });
  }
  return self;
}
