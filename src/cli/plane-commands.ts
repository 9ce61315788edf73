/**
 * `cairn plane …`: the execution plane from the command line.
 *
 *   cairn plane keygen --out DIR [--id ID] [--force]
 *   cairn plane sign --key K [--key-id ID] --subject S --audience A --ttl SECONDS|DURATION --request req.json
 *   cairn plane describe --config node.yaml [--json]
 *   cairn plane exec --config node.yaml --request req.json [--json]
 *
 * Exit codes: 0 success (`exec`: the execution succeeded), 1 failure (`exec`: failed or rejected;
 * bad config, unreadable files), 2 usage. `exec` interrupted by SIGINT/SIGTERM/SIGHUP cancels
 * the execution, waits for its `execution.completed` evidence, closes the node and then ends by
 * the same signal (a shell reports 128 + its number), printing no result. `sign` and `exec` use the REAL clock (system time):
 * authority refs and target descriptors expire, so their validity is judged against now.
 * Everything below the CLI takes an injected clock. Ids are `taggedIds(systemClock,
 * randomIdTag())`: a random tag per node, so two processes never mint the same id.
 *
 * Store evidence (`evidence.store`): the store is opened just before the first evidence record
 * reaches any sink (the node opens every sink first: `EvidenceSink.open`) and its WRITER LOCK IS
 * HELD UNTIL THE NODE IS CLOSED, i.e. for the whole execution. A second writer on the same store
 * (another `plane exec`, `cairn gc`…) waits up to `--wait`, else fails `E_STORE_LOCKED` — for an
 * `exec`, before its first evidence record, so before anything is dispatched and with nothing
 * written to the JSONL file either. Deliberate: a lock taken per record could fail at
 * `execution.completed`, after the effect happened, leaving evidence without its end, instead of
 * failing before dispatch. (The records are pinned from the first one, `plane:open:<digest>`,
 * store-sink.ts: an exec killed after dispatch keeps its evidence through a later gc.)
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, openSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { Command, Option } from "commander";
import { systemClock } from "../core/clock.js";
import { CairnError, ErrorCode, UsageError, isCairnError } from "../core/errors.js";
import { parseLosslessJson } from "../core/json-parse.js";
import { fsyncDir, writeAllSync } from "../store/fsutil.js";
import { sweepDeadWriterTemps, taggedTempWriter, tempFileName, type TempWriter } from "../store/temp-files.js";
import { openStore, resolveStoreDir, type Store } from "../store/store.js";
import { randomIdTag, taggedIds } from "../plane/contracts/ids.js";
import { requestTextProblem } from "../plane/contracts/request-text.js";
import { requestHash } from "../plane/authority/request-hash.js";
import { toCanonical } from "../plane/contracts/base.js";
import type { ExecutionResult } from "../plane/contracts/execution.js";
import type { NodeDescriptor } from "../plane/contracts/target.js";
import { defaultKeyId, ed25519PrivateKey, generateAuthorityKeyPair, rawPublicKey, signAuthorityRef } from "../plane/authority/ed25519.js";
import { loadNodeConfig } from "../plane/config/node-config.js";
import { buildNodeFromConfig, type BuiltNode } from "../plane/config/build.js";
import { nonEmptyArg } from "./args.js";
import { fileError, globalsOf, outputFor } from "./context.js";
import { parseSecondsOrDuration } from "./duration.js";
import { printError, type Output } from "./output.js";
import { strictUtf8 } from "../core/utf8.js";
import { removeExitTemps } from "../store/temp-files.js";
import { INTERRUPT_SIGNALS } from "./signals.js";
import { makeDirs } from "../core/dirs.js";
import { abandonedWorkers } from "../plane/lanes/worker.js";

const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Longest --ttl accepted: one year. */
export const MAX_TTL_SECONDS = 366 * 24 * 3600;
/** Shortest --ttl accepted. */
export const MIN_TTL_SECONDS = 1;

function checkKeyId(id: string, flag: string): string {
  if (!KEY_ID_RE.test(id)) throw new UsageError(`${flag} ${JSON.stringify(id)} must match ${KEY_ID_RE.source}`, { [flag]: id });
  return id;
}

/**
 * The error for a file `JSON.parse` refused: one line naming the file and where it goes wrong,
 * `request r.json: not valid JSON: Expecting value: line 3 column 7 (char 19)` (details `{path,
 * line, column, char}`), as `wf run --payload` says it. The place comes from the lossless parser
 * of src/core/json-parse.ts (stricter than `JSON.parse`, so it refuses every text `JSON.parse`
 * refuses); `JSON.parse`'s own message is not used: it quotes the file's text, newlines and all.
 */
function notJson(what: string, path: string, text: string, cause: unknown): CairnError {
  let reason = "refused by JSON.parse";
  let where: Readonly<Record<string, unknown>> = {};
  try {
    parseLosslessJson(text);
  } catch (err) {
    if (isCairnError(err)) {
      reason = err.message;
      where = err.details;
    }
  }
  return new CairnError(ErrorCode.INVALID_INPUT, `${what} ${path}: not valid JSON: ${reason}`, { path, ...where }, { cause });
}

/** Reads a JSON object from a file (or stdin for "-"). */
function readJsonObject(path: string, what: string): Record<string, unknown> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path === "-" ? 0 : path);
  } catch (err) {
    throw fileError(`read ${what}`, path, err);
  }
  const decoded = strictUtf8(bytes);
  if ("invalidLine" in decoded) throw new CairnError(ErrorCode.INVALID_INPUT, `${what} ${path}: line ${decoded.invalidLine}: not valid UTF-8`, { path, line: decoded.invalidLine });
  const text = decoded.text;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw notJson(what, path, text, err);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new CairnError(ErrorCode.INVALID_INPUT, `${what} ${path}: must be a JSON object`, { path });
  // What JSON.parse would not keep as written (a member twice, a number a double changes) is
  // refused: what is signed or executed must be what the file says.
  const p = requestTextProblem(text);
  if (p !== null) {
    const details = { path, member: p.member, line: p.line, column: p.column, ...(p.first === undefined ? {} : { first: p.first }) };
    throw new CairnError(ErrorCode.INVALID_INPUT, `${what} ${path}: line ${p.line}, column ${p.column}: ${p.member}: ${p.message}`, details);
  }
  return v as Record<string, unknown>;
}

/**
 * An invalid request refused by `sign` (the AdmissionRequest schema, a value canonical JSON
 * cannot hold) named by its file, as every other request-file error: `request r.json:
 * AdmissionRequest: $.idempotency_key: Required` (same code; details gain `path`, the contract
 * path moving to `member`).
 */
function requestError(file: string, err: unknown): unknown {
  if (!isCairnError(err)) return err;
  const { path: member, ...rest } = err.details as { path?: unknown };
  return new CairnError(err.code, `request ${file}: ${err.message}`, { ...rest, path: file, ...(member === undefined ? {} : { member }) }, { cause: err });
}

/**
 * The writer of a temp file of `keygen` (`.<id>.key.` or `.<id>.pub.` + the tagged part of
 * store/temp-files.ts `tempFileName`), of any key id; undefined for every other name. Legacy
 * names of older builds (`.<id>.key.<pid>.<12 hex>.tmp`, no pid space) are never matched.
 */
function keygenTempWriter(name: string): TempWriter | undefined {
  // The tagged part (`<pid>-<space>-<hex>.tmp`) holds no dot but the one of `.tmp`.
  const m = /^(\.(.+)\.(?:key|pub)\.)[^.]+\.tmp$/.exec(name);
  if (m === null || !KEY_ID_RE.test(m[2] as string)) return undefined;
  return taggedTempWriter(name, m[1] as string);
}

/**
 * Writes `text` to `path` without following a symlink and without a window in which the file
 * has a wider mode: a fresh temp file in the same folder, named by the shared rule
 * (store/temp-files.ts: `.<name>.<pid>-<pid space>-<16 hex>.tmp`), is created with
 * O_CREAT|O_EXCL ("wx") and `mode`, written whole and fsynced, then moved into place — `rename` (with
 * --force: replaces whatever is at `path`, a symlink itself rather than its target) or `link`
 * (without: fails with EEXIST if `path` appeared meanwhile) — and the folder fsynced. The temp
 * file is removed on every path; one left by a killed writer is removed by the next `keygen`
 * into the folder (`keygenTempWriter`).
 */
function writeFileAtomic(path: string, text: string, mode: number, overwrite: boolean): void {
  const dir = resolve(path, "..");
  const tmp = join(dir, tempFileName(`.${basename(path)}.`));
  const fd = openSync(tmp, "wx", mode);
  try {
    try {
      const bytes = Buffer.from(text, "utf8");
      // A short write (ENOSPC, EFBIG) is continued: the next write fails rather than a truncated key being linked into place.
      writeAllSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (overwrite) renameSync(tmp, path);
    else linkSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncDir(dir);
}

/** Removes `path` if it is there (not a directory), then fsyncs its folder. */
function removeDurably(path: string): void {
  if (lstatSync(path, { throwIfNoEntry: false }) === undefined) return;
  rmSync(path, { force: true });
  fsyncDir(resolve(path, ".."));
}

/** The SPKI PEM of the Ed25519 private key in `keyFile` (PKCS#8 PEM, as `keygen` writes it). */
function publicKeyOf(keyFile: string): string {
  let pem: string;
  try {
    pem = readFileSync(keyFile, "utf8");
  } catch (err) {
    throw fileError("read key", keyFile, err);
  }
  try {
    return createPublicKey(ed25519PrivateKey(pem, keyFile)).export({ format: "pem", type: "spki" }).toString();
  } catch (err) {
    throw new CairnError(
      ErrorCode.CONFLICT,
      `${keyFile} already exists and ${basename(keyFile, ".key")}.pub is missing, but it is not an Ed25519 private key to derive it from (use --force to overwrite)`,
      { path: keyFile },
      { cause: err },
    );
  }
}

/** Whether something (a dangling symlink too) is at `path`. */
function isThere(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false; // ENOTDIR, EACCES…: nothing that can be reached
  }
}

/**
 * `keygen --out DIR` naming something that is there but is no directory (a file, a dangling or
 * looping symlink): E_STORE_IO naming the flag and saying so, as for any output that cannot be
 * written. A missing DIR is made; what cannot be looked at (EACCES, a file as a parent) is left
 * to mkdir, which fails the same way.
 */
function checkOutDir(dir: string): void {
  if (!isThere(dir)) return;
  let reason: string;
  let errno: string | undefined;
  try {
    if (statSync(dir).isDirectory()) return;
    reason = "not a directory";
    errno = "ENOTDIR";
  } catch (err) {
    errno = (err as NodeJS.ErrnoException).code;
    reason = errno === "ENOENT" ? "not a directory (a symbolic link to a path that does not exist)" : errno === "ELOOP" ? "not a directory (a symbolic link loop)" : (err as Error).message;
  }
  throw new CairnError(ErrorCode.STORE_IO, `cannot write key files in --out ${dir}: ${reason}`, { field: "--out", path: dir, errno });
}

function keygenCommand(): Command {
  return new Command("keygen")
    .description(
      "generate an Ed25519 authority key pair: DIR/<id>.key (private, mode 600) and DIR/<id>.pub (public); " +
        "an existing <id>.key without <id>.pub gets its .pub written from it (no new key)",
    )
    .requiredOption("--out <dir>", "folder to write the key files to (created if missing)", nonEmptyArg("--out"))
    .option("--id <id>", "key id (default: key-<16 hex of sha256(public key)>)")
    .option("--force", "overwrite existing key files")
    .action((opts: { out: string; id?: string; force?: boolean }, cmd: Command) => {
      const out = outputFor(cmd);
      const force = opts.force === true;
      const kp = generateAuthorityKeyPair();
      const id = opts.id === undefined ? defaultKeyId(kp.publicKeyPem) : checkKeyId(opts.id, "--id");
      const keyFile = join(opts.out, `${id}.key`);
      const pubFile = join(opts.out, `${id}.pub`);
      // Before the key files are looked for: under a file they are never there (ENOTDIR), and
      // mkdir's EEXIST must not read as a key file that exists.
      checkOutDir(opts.out);
      // A keygen killed between its two files leaves <id>.key without <id>.pub: the public key is
      // written from that private key, which stays as it is (no new key: it may be in use).
      const recover = !force && existsSync(keyFile) && !existsSync(pubFile);
      if (!force && !recover) {
        for (const f of [keyFile, pubFile]) {
          if (existsSync(f)) throw new CairnError(ErrorCode.CONFLICT, `${f} already exists (use --force to overwrite)`, { path: f });
        }
      }
      const publicKeyPem = recover ? publicKeyOf(keyFile) : kp.publicKeyPem;
      try {
        makeDirs(opts.out);
        // Temp files of keygens killed before they removed theirs (a hard link to a private key among them).
        sweepDeadWriterTemps(opts.out, keygenTempWriter);
        // --force replacing a pair: the old <id>.pub goes first (durably), so a kill before the new
        // one is in place leaves a .key without .pub — which the next keygen completes from that
        // key — never a new .key beside the old .pub.
        if (force && !recover) removeDurably(pubFile);
        if (!recover) writeFileAtomic(keyFile, kp.privateKeyPem, 0o600, force);
        writeFileAtomic(pubFile, publicKeyPem, 0o644, force);
      } catch (err) {
        // Another keygen made the same key file meanwhile (after the check above): the same
        // conflict — only if one is there (an EEXIST of mkdir: --out became a file meanwhile).
        const f = [keyFile, pubFile].find(isThere);
        if (!force && (err as NodeJS.ErrnoException).code === "EEXIST" && f !== undefined) {
          throw new CairnError(ErrorCode.CONFLICT, `${f} already exists (use --force to overwrite)`, { path: f });
        }
        checkOutDir(opts.out);
        throw fileError("write key files in", opts.out, err, "write");
      }
      // `recovered` only when <id>.pub was written from an existing <id>.key.
      const result = { id, private_key_file: keyFile, public_key_file: pubFile, ed25519: rawPublicKey(publicKeyPem), ...(recover ? { recovered: true } : {}) };
      out.result(result, () => {
        out.line(id);
        if (recover) out.note(`${keyFile} had no ${basename(pubFile)}: wrote ${pubFile} (public) from it; no new key was generated`);
        else out.note(`wrote ${keyFile} (private) and ${pubFile} (public)`);
      });
    });
}

function signCommand(): Command {
  return new Command("sign")
    .description("print a request with a signed authority_ref bound to the whole request (request_hash), its payload hash, lane and operation")
    .requiredOption("--key <file>", "Ed25519 private key (PEM, from `cairn plane keygen`)", nonEmptyArg("--key"))
    .option("--key-id <id>", "key id the node knows the public key by (default: the key file's name without extension)")
    .addOption(new Option("--subject <subject>", "who the authority is granted to (matched against the node's policy)").makeOptionMandatory().argParser(nonEmptyArg("--subject")))
    .addOption(new Option("--audience <audience>", "the node audience the ref is for").makeOptionMandatory().argParser(nonEmptyArg("--audience")))
    .addOption(
      new Option("--ttl <seconds|duration>", "lifetime: whole seconds (60), or a duration with a unit (90s, 10m, 1.5h, 2d); 1s..366d")
        .makeOptionMandatory()
        .argParser((v) => parseSecondsOrDuration(v, "--ttl", MAX_TTL_SECONDS, MIN_TTL_SECONDS)),
    )
    .requiredOption("--request <file>", "the request JSON (\"-\" for stdin)", nonEmptyArg("--request"))
    .action((opts: { key: string; keyId?: string; subject: string; audience: string; ttl: number; request: string }, cmd: Command) => {
      const out = outputFor(cmd);
      const keyId = checkKeyId(opts.keyId ?? basename(opts.key).replace(/\.[^.]*$/, ""), "--key-id");
      let pem: string;
      try {
        pem = readFileSync(opts.key, "utf8");
      } catch (err) {
        throw fileError("read key", opts.key, err);
      }
      let privateKey: KeyObject;
      try {
        privateKey = ed25519PrivateKey(pem, `--key ${opts.key}`);
      } catch (err) {
        throw new CairnError(ErrorCode.INVALID_INPUT, err instanceof Error ? err.message : String(err), { path: opts.key }, { cause: err });
      }
      const req = readJsonObject(opts.request, "request");
      const now = systemClock.now();
      const { authority_ref: _old, ...unsigned } = req;
      try {
        requestHash(unsigned); // validates the request as the node admits it
      } catch (err) {
        throw requestError(opts.request, err);
      }
      const authority_ref = signAuthorityRef({
        privateKey,
        keyId,
        subject: opts.subject,
        audience: opts.audience,
        request: unsigned, // binds every field but request_id (request_hash), plus payload/lane/operation
        issuedAt: now,
        expiresAt: now + opts.ttl, // --ttl in ms (parseSecondsOrDuration)
      });
      out.printJson({ ...unsigned, authority_ref });
    });
}

type NodeRun<T> = (built: BuiltNode) => Promise<T>;

/**
 * Loads the config, builds the node (opening the store lazily, just before the first evidence
 * record, if evidence goes there), runs `fn`, closes all. The store's writer lock is held from
 * then until the node is closed (module comment).
 */
async function withNode<T>(cmd: Command, configPath: string, fn: NodeRun<T>): Promise<T> {
  const cfg = loadNodeConfig(configPath);
  const g = globalsOf(cmd);
  let store: Store | null = null;
  const open = (): Store => {
    const dir = cfg.evidence.store === true ? resolveStoreDir(g.store) : resolve(cfg.evidence.store as string);
    store = openStore({ dir, create: true, lockTimeoutMs: g.wait ?? 0 });
    return store;
  };
  const clock = systemClock;
  // A random tag per node: ids of two processes never collide, even in one millisecond (ids.ts).
  const built = buildNodeFromConfig(cfg, { clock, ids: taggedIds(clock, randomIdTag()), store: cfg.evidence.store === null ? null : open });
  try {
    return await fn(built);
  } finally {
    await built.node.close();
    (store as Store | null)?.close();
  }
}

function printDescriptor(out: Output, d: NodeDescriptor): void {
  out.line(`node ${d.node_id}  registration ${d.registration_complete ? "complete" : "incomplete"}  contract_version ${d.contract_version_range.min}..${d.contract_version_range.max}`);
  out.line(`authority: ${d.authority_verifier ?? "-"}  policy bundle ${String(d.metadata.policy_bundle_hash ?? "-")}`);
  out.line("lanes:");
  for (const l of d.registered_lanes) out.line(`  ${l.lane_id}  protocols ${l.protocols.join(",") || "-"}  surfaces ${l.surfaces.join(",") || "-"}`);
  out.line("target verifiers:");
  for (const v of d.registered_target_verifiers) out.line(`  ${v.verifier_id}  classes ${v.capability_classes.join(",")}`);
  out.line("targets:");
  for (const t of d.verified_targets) {
    out.line(`  ${t.target_id}  lane ${t.lane_id}  ${t.attested_capability_classes.join(",")}  expires ${t.expires_at === undefined ? "never" : new Date(t.expires_at).toISOString()}`);
  }
  const sinks = d.metadata.evidence_sinks;
  out.line(`evidence sinks: ${Array.isArray(sinks) && sinks.length > 0 ? sinks.join(", ") : "none"}`);
}

function describeCommand(): Command {
  return new Command("describe")
    .description("build the node from its config and print its NodeDescriptor (lanes, verifiers, verified targets)")
    .requiredOption("--config <file>", "node config (YAML)", nonEmptyArg("--config"))
    .action(async (opts: { config: string }, cmd: Command) => {
      const out = outputFor(cmd);
      await withNode(cmd, opts.config, async ({ node }) => {
        const d = node.describe();
        out.result(d, () => printDescriptor(out, d));
      });
    });
}

function printResult(out: Output, r: ExecutionResult, stored: BuiltNode["storeSink"]): void {
  const status = r.status === "succeeded" ? out.paint("green", r.status) : out.paint("red", r.status);
  const why = r.rejection !== undefined ? `  ${r.rejection.reason}: ${r.rejection.message}` : r.failure !== undefined ? `  ${r.failure.class}: ${r.failure.message}` : "";
  out.line(`${status}  ${r.execution_ref ?? "-"}${why}`);
  // null is a lane's "no output" (a failure): nothing to show; --json still has `output: null`.
  if (r.output !== undefined && r.output !== null) out.line(JSON.stringify(r.output, null, 2));
  out.note(`evidence: ${r.evidence.join(", ") || "-"}`);
  if (stored !== null && stored.recorded.length > 0) {
    const input = stored.recorded.find((x) => x.input !== null)?.input;
    const output = stored.recorded.find((x) => x.output !== null)?.output;
    out.note(`stored: input ${input ?? "-"}, output ${output ?? "-"} (cairn lineage <digest>)`);
  }
}

/** How often an interrupted `exec` re-cancels executions that became cancellable since the signal. */
const CANCEL_POLL_MS = 10;

/** Signals after which an interrupted `exec` stops waiting for its execution to end. */
const SIGNALS_BEFORE_ABANDON = 3;

/**
 * Runs `body` (one `node.execute`) with SIGINT/SIGTERM/SIGHUP handled: the first signal cancels
 * every running execution of `node` — each once: a ref already cancelled is not asked again (the
 * node writes one `execution.cancelled` record per execution anyway) — and any that becomes cancellable
 * until `body` settles, and aborts the signal `body` passes to `execute`, so an execution still in
 * admission (or waiting for the store's lock) is never dispatched and one running stops its work (a
 * process lane TERM, then KILLs, the command's process group) and the node emits
 * `execution.completed`. `body`'s result is then returned with the signal; the caller closes the
 * node and re-raises it. A second signal is absorbed (the wait is bounded by the lane's kill
 * grace): leaving then would orphan a command that ignores TERM. The third ends the process at
 * once (its default action), without waiting.
 */
async function cancelOnSignal<T>(node: BuiltNode["node"], body: (signal: AbortSignal) => Promise<T>): Promise<{ value: T; signal: NodeJS.Signals | null }> {
  let caught: NodeJS.Signals | null = null;
  // Passed to `execute`: an abort before dispatch (a signal during admission or the store's lock
  // wait) means nothing is dispatched (node.ts, DISPATCH GATE).
  const abort = new AbortController();
  let count = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  const cancelled = new Set<string>();
  const cancelAll = (): void => {
    for (const ref of node.runningRefs()) {
      if (cancelled.has(ref)) continue;
      cancelled.add(ref);
      void node.cancel(ref).catch(() => undefined);
    }
  };
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count >= SIGNALS_BEFORE_ABANDON - 1) for (const s of INTERRUPT_SIGNALS) process.removeListener(s, handler);
    if (count > 1) return;
    caught = signal;
    abort.abort(new Error(`interrupted by ${signal}`));
    cancelAll();
    timer = setInterval(cancelAll, CANCEL_POLL_MS);
  };
  for (const s of INTERRUPT_SIGNALS) process.on(s, handler);
  try {
    const value = await body(abort.signal);
    return { value, signal: caught };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const s of INTERRUPT_SIGNALS) process.removeListener(s, handler);
  }
}

function execCommand(): Command {
  return new Command("exec")
    .description(
      "admit and execute one request on the node; prints the ExecutionResult (exit 0 succeeded, 1 failed or rejected; on SIGINT/SIGTERM/SIGHUP the execution is cancelled, then the process ends by that signal). " +
        "With evidence.store the store's writer lock is held for the whole execution: a concurrent writer on that store (another exec) waits up to --wait, else fails E_STORE_LOCKED before anything is dispatched",
    )
    .requiredOption("--config <file>", "node config (YAML)", nonEmptyArg("--config"))
    .requiredOption("--request <file>", "the request JSON, usually signed with `cairn plane sign` (\"-\" for stdin)", nonEmptyArg("--request"))
    .action(async (opts: { config: string; request: string }, cmd: Command) => {
      const out = outputFor(cmd);
      const req = readJsonObject(opts.request, "request");
      let interrupted: NodeJS.Signals | null = null;
      await withNode(cmd, opts.config, async ({ node, storeSink }) => {
        const { value: result, signal } = await cancelOnSignal(node, (signal) => node.execute(req, { signal }));
        if (signal !== null) {
          interrupted = signal;
          // Like every error: stderr (JSON with --json), stdout stays empty.
          const message = `interrupted by ${signal}: execution ${result.execution_ref ?? "-"} ended ${result.status}${result.failure === undefined ? "" : ` (${result.failure.class})`}; evidence: ${result.evidence.join(", ") || "-"}`;
          const details = { signal, execution_ref: result.execution_ref, status: result.status, failure_class: result.failure?.class ?? null, evidence: result.evidence };
          if (out.json) printError(new CairnError(ErrorCode.INTERRUPTED, message, details), true);
          else process.stderr.write(`cairn: ${message}\n`);
          return;
        }
        // Only --json needs the canonical form; the node never returns a result it cannot encode.
        out.result(out.json ? (JSON.parse(toCanonical(result)) as unknown) : result, () => printResult(out, result, storeSink));
        process.exitCode = result.status === "succeeded" ? 0 : 1;
      });
      if (interrupted !== null) {
        // The node and its store are closed: end the way shells expect (128 + the signal number).
        // (The signal's default action also ends a process that an abandoned worker would hold.)
        removeExitTemps();
        process.kill(process.pid, interrupted);
        return;
      }
      if (abandonedWorkers() > 0 && !out.quiet) {
        // Node joins every worker thread before the process exits; one blocked in a synchronous
        // native call cannot be terminated, so the process lingers until that call returns.
        process.stderr.write(
          "cairn: the result is final, but a worker of this execution is blocked in a synchronous native call that cannot be interrupted: the process exits when that call returns (interrupt to end it now)\n",
        );
      }
    });
}

export function planeCommand(): Command {
  return new Command("plane")
    .description("execution plane: keys, signed authority refs, node description and governed execution")
    .addCommand(keygenCommand())
    .addCommand(signCommand())
    .addCommand(describeCommand())
    .addCommand(execCommand());
}
