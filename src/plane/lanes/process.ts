/**
 * The process lane: runs one command per execution (operation `run`), argv only (no shell),
 * in its own process group, on a `local` or `ssh` placement.
 *
 * Payload: `{ command, argv?, env?, clear_env?, cwd?, stdin?, timeout_ms? }`.
 * - `env` is the projection: variables set for the command. With `clear_env: false` (default)
 *   they are layered over the node's environment; with `clear_env: true` they are ALL the
 *   command sees (local spawn then searches PATH's default `/usr/bin:/bin` if none is given).
 *   The lane option `inherit_env: false` forces `clear_env` for every request.
 * - `cwd` must be absolute; a missing cwd is `launch_failed` (checked before spawning).
 * - `stdin` is written in full and stdin is then closed (stdin is always closed, so a command
 *   reading it sees EOF).
 *
 * Output (raw facts): `{ exit_code, signal, stdout, stderr, stdout_truncated, stderr_truncated }`.
 * stdout and stderr are UTF-8 text (a last character cut by the cap becomes U+FFFD); a stream
 * whose bytes are not UTF-8 otherwise is base64 and flagged `stdout_encoding: "base64"` /
 * `stderr_encoding: "base64"` (absent for text): never decoded lossily (common.ts encodeStream).
 * Exit 0 is `succeeded`; any other exit (or death by a signal not sent by the lane) is `failed`
 * WITHOUT a failure class. Classified failures: `launch_failed` (missing command or cwd, not
 * executable), `timeout` (SIGTERM then, after `kill_grace_ms`, SIGKILL to the group; partial
 * output kept), `cancellation` (ctx.signal; same kill), `placement_unavailable`,
 * `transport_failed` (ssh placement: ssh exited 255 and the remote side reported no exit status;
 * see placements/ssh.ts for the side channel that tells a remote status from ssh's own errors).
 *
 * On the ssh placement the env projection travels through ssh's stdin (never an argv), so env
 * names must be shell identifiers, the projection is at most MAX_SSH_ENV_BYTES, and `command`
 * may not contain `=`; anything else is an invalid lane request.
 *
 * Each of stdout and stderr keeps at most `max_output_bytes` (the rest is read and dropped, so
 * the command never blocks on a full pipe); `metrics.output_bytes` is the bytes kept and
 * `metrics.output_truncated` is true when any were dropped.
 */
import { stat } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { placementSchema, PLACEMENT_SURFACES, type Placement, type PlacementKind } from "../placements/placement.js";
import { envPreamble, newExitMarker, parseRemoteStatus, remoteScript, sshArgv, sshClientEnv, SSH_ENV_NAME, SSH_MARKER_MAX_BYTES, startedLine } from "../placements/ssh.js";
import { BoundedBuffer, capabilities, checkLaneRequest, Deadline, deadlineFailure, effectiveTimeout, encodeStream, invalidRequest, jsonPath, laneIdOption, parseLaneOptions, Run, timeoutField, timeoutOptions } from "./common.js";
import { GroupProcess } from "./group-process.js";
import { NOT_PROTO_MESSAGE, notProto } from "./http-common.js";
import type { Lane, LaneContext, LaneFailure, LaneOutcome } from "./lane.js";
import { DEFAULT_MAX_OUTPUT_BYTES, KILL_GRACE_MS, MAX_KILL_GRACE_MS, MAX_OUTPUT_BYTES_LIMIT, MAX_SSH_ENV_BYTES, MAX_STDIN_BYTES, SSH_TRANSPORT_EXIT_CODE } from "./limits.js";

export const PROCESS_OPERATIONS = ["run"] as const;
export const PROCESS_PLACEMENTS: readonly PlacementKind[] = ["local", "ssh"];

export const processLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("process"),
    placement: placementSchema.default({ kind: "local" }),
    ...timeoutOptions,
    max_output_bytes: z.number().int().positive().max(MAX_OUTPUT_BYTES_LIMIT).default(DEFAULT_MAX_OUTPUT_BYTES),
    kill_grace_ms: z.number().int().min(0).max(MAX_KILL_GRACE_MS).default(KILL_GRACE_MS),
    /** false: commands never see the node's (or the remote login's) environment, whatever the request says. */
    inherit_env: z.boolean().default(true),
  })
  .strict();
export type ProcessLaneOptions = z.input<typeof processLaneOptionsSchema>;

const noNul = (s: string): boolean => !s.includes("\0");
const envName = z.string().regex(/^[^=\0]+$/, { message: "must be a non-empty name without '=' or NUL" }).refine(notProto, { message: NOT_PROTO_MESSAGE });

export const processPayloadSchema = z
  .object({
    command: z.string().min(1).refine(noNul, { message: "must not contain NUL" }),
    argv: z.array(z.string().refine(noNul, { message: "must not contain NUL" })).default([]),
    env: z.record(envName, z.string().refine(noNul, { message: "must not contain NUL" })).default({}),
    clear_env: z.boolean().default(false),
    cwd: z.string().refine(isAbsolute, { message: "must be an absolute path" }).optional(),
    stdin: z.string().refine((s) => Buffer.byteLength(s) <= MAX_STDIN_BYTES, { message: `must be at most ${MAX_STDIN_BYTES} bytes` }).optional(),
    timeout_ms: timeoutField.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const k of Object.keys(p.env)) {
      if (!envName.safeParse(k).success) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["env", k], message: "must be a name without '=' or NUL" });
    }
  });
export type ProcessPayload = z.output<typeof processPayloadSchema>;

interface Launch {
  readonly command: string;
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
  /** ssh: the side-channel marker and the preamble written to stdin ahead of the request's stdin. */
  readonly ssh?: { readonly marker: string; readonly preamble: string };
}

/** What the ssh placement cannot carry (it sends the projection through stdin). */
function sshPayloadProblem(p: ProcessPayload): LaneFailure | null {
  if (p.command.includes("=")) return invalidRequest("$.payload.command", "must not contain '=' on the ssh placement");
  let bytes = 0;
  for (const [k, v] of Object.entries(p.env)) {
    if (!SSH_ENV_NAME.test(k)) return invalidRequest(jsonPath(["payload", "env", k]), "must be a shell identifier ([A-Za-z_][A-Za-z0-9_]*, not starting with __cairn_) on the ssh placement");
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_SSH_ENV_BYTES) return invalidRequest("$.payload.env", `must be at most ${MAX_SSH_ENV_BYTES} bytes on the ssh placement`);
  return null;
}

/** Keeps the last `cap` bytes of a stream. */
class TailBuffer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const joined = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.buf = joined.length > this.cap ? Buffer.from(joined.subarray(joined.length - this.cap)) : joined;
  }
  bytes(): Buffer {
    return this.buf;
  }
}

export class ProcessLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof processLaneOptionsSchema>;

  constructor(options: ProcessLaneOptions = {}) {
    this.opts = parseLaneOptions("process", processLaneOptionsSchema, options);
    this.id = this.opts.id;
  }

  get placement(): Placement {
    return this.opts.placement;
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["process"], [PLACEMENT_SURFACES[this.opts.placement.kind]], false);
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request);
    const parsed = checkLaneRequest(this.id, PROCESS_OPERATIONS, PROCESS_PLACEMENTS, this.opts.placement, request, processPayloadSchema);
    if (!parsed.ok) return run.failWith(parsed.failure);
    const p = parsed.value;
    run.timeoutMs = effectiveTimeout(p.timeout_ms, this.opts);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before launch");

    const placement = this.opts.placement;
    let launch: Launch;
    if (placement.kind === "ssh") {
      const problem = sshPayloadProblem(p);
      if (problem !== null) return run.failWith(problem);
      const script = remoteScript({ command: p.command, argv: p.argv, env: p.env, clearEnv: p.clear_env || !this.opts.inherit_env, ...(p.cwd === undefined ? {} : { cwd: p.cwd }), timeoutMs: run.timeoutMs, killGraceMs: this.opts.kill_grace_ms });
      const marker = newExitMarker();
      launch = { command: placement.ssh_command, argv: sshArgv(placement, script), env: sshClientEnv(placement), ssh: { marker, preamble: envPreamble(marker, p.env) } };
    } else {
      if (p.cwd !== undefined) {
        const isDir = await stat(p.cwd).then((s) => s.isDirectory(), () => false);
        if (!isDir) return run.fail("launch_failed", `cwd ${p.cwd} is not an existing directory`, null, { reason: "cwd_missing", cwd: p.cwd });
      }
      const env = p.clear_env || !this.opts.inherit_env ? { ...p.env } : { ...process.env, ...p.env };
      launch = { command: p.command, argv: p.argv, env, ...(p.cwd === undefined ? {} : { cwd: p.cwd }) };
    }
    return this.supervise(run, launch, p, ctx);
  }

  private async supervise(run: Run, launch: Launch, p: ProcessPayload, ctx: LaneContext): Promise<LaneOutcome> {
    const started = await GroupProcess.start(launch.command, launch.argv, { env: launch.env, ...(launch.cwd === undefined ? {} : { cwd: launch.cwd }) });
    if (!(started instanceof GroupProcess)) {
      const code = started.error.code ?? "unknown";
      const reason = code === "ENOENT" ? "command_not_found" : code === "EACCES" ? "command_not_executable" : "spawn_error";
      return run.fail("launch_failed", `cannot launch ${launch.command}: ${started.error.message}`, null, { reason, code, command: launch.command });
    }
    const proc = started;
    const cap = this.opts.max_output_bytes;
    // Over ssh, stdout starts and stderr ends with the side channel: keep room for it beyond the cap.
    const out = new BoundedBuffer(launch.ssh === undefined ? cap : cap + SSH_MARKER_MAX_BYTES);
    const err = new BoundedBuffer(launch.ssh === undefined ? cap : cap + SSH_MARKER_MAX_BYTES);
    const tail = new TailBuffer(SSH_MARKER_MAX_BYTES);
    proc.child.stdout.on("data", (c: Buffer) => out.push(c));
    proc.child.stderr.on("data", (c: Buffer) => {
      err.push(c);
      if (launch.ssh !== undefined) tail.push(c);
    });
    proc.child.stdin.on("error", () => undefined); // EPIPE when the command exits without reading
    proc.child.stdin.end(launch.ssh === undefined ? (p.stdin ?? "") : launch.ssh.preamble + (p.stdin ?? ""));

    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    void deadline.fired.then(() => proc.terminate(this.opts.kill_grace_ms));
    await proc.closed;
    deadline.dispose();

    // The side channel (ssh only): the remote status, stripped from stderr.
    const remote = launch.ssh === undefined ? { status: { kind: "none" as const }, bytes: 0 } : parseRemoteStatus(tail.bytes(), launch.ssh.marker);
    const stderrSeen = err.seen - remote.bytes;
    const stderrBytes = err.bytes().subarray(0, Math.min(stderrSeen, cap));
    const stderrTruncated = stderrSeen > cap;
    const stderrText = encodeStream(stderrBytes, stderrTruncated);
    const startLine = launch.ssh === undefined ? "" : startedLine(launch.ssh.marker);
    const remoteStarted = startLine !== "" && out.bytes().subarray(0, startLine.length).toString("latin1") === startLine;
    const skip = remoteStarted ? startLine.length : 0;
    const stdoutSeen = out.seen - skip;
    const stdoutBytes = out.bytes().subarray(skip, skip + Math.min(stdoutSeen, cap));
    const stdoutTruncated = stdoutSeen > cap;
    const stdoutText = encodeStream(stdoutBytes, stdoutTruncated);
    const remoteExit = remote.status.kind === "exit" ? remote.status.status : null;
    const output: Record<string, JsonValue> = {
      exit_code: remoteExit ?? proc.exitCode,
      signal: remoteExit === null ? proc.signal : null,
      stdout: stdoutText.text,
      stderr: stderrText.text,
      stdout_truncated: stdoutTruncated,
      stderr_truncated: stderrTruncated,
      ...(stdoutText.base64 ? { stdout_encoding: "base64" } : {}),
      ...(stderrText.base64 ? { stderr_encoding: "base64" } : {}),
    };
    const io = { bytes: stdoutBytes.length + stderrBytes.length, truncated: stdoutTruncated || stderrTruncated };
    if (deadline.reason !== null) {
      return deadlineFailure(run, deadline.reason, output, io);
    }
    if (launch.ssh !== undefined) {
      if (remote.status.kind === "launch_failed") {
        const what = remote.status.what;
        const reason = what === "cwd" ? "cwd_missing" : what === "command" ? "command_not_found" : what === "env" ? "env_rejected" : "preamble_failed";
        const message = what === "cwd" || what === "command" ? `${what} missing` : what === "env" ? "the remote shell refused the env projection" : "the remote shell could not read the preamble";
        return run.fail("launch_failed", `cannot launch ${p.command} on the ssh placement: ${message}`, output, { reason, command: p.command }, io);
      }
      if (remoteExit === null && proc.exitCode === SSH_TRANSPORT_EXIT_CODE && remoteStarted) {
        return run.fail("remote_disconnect", "the ssh session ended while the remote command ran, without its exit status", output, { reason: "session_lost", exit_code: SSH_TRANSPORT_EXIT_CODE }, io);
      }
      if (remoteExit === null && proc.exitCode === SSH_TRANSPORT_EXIT_CODE) {
        return run.fail("transport_failed", `ssh exited ${SSH_TRANSPORT_EXIT_CODE}: ${stderrBytes.toString("utf8").trim().split("\n").pop() ?? ""}`, output, { reason: "ssh_failed", exit_code: SSH_TRANSPORT_EXIT_CODE }, io);
      }
    }
    return run.fact(output.exit_code === 0 ? "succeeded" : "failed", output, io);
  }
}
