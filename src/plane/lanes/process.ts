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
 * Exit 0 is `succeeded`; any other exit (or death by a signal not sent by the lane) is `failed`
 * WITHOUT a failure class. Classified failures: `launch_failed` (missing command or cwd, not
 * executable), `timeout` (SIGTERM then, after `kill_grace_ms`, SIGKILL to the group; partial
 * output kept), `cancellation` (ctx.signal; same kill), `placement_unavailable`,
 * `transport_failed` (ssh placement: ssh exited 255).
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
import { checkPlacement, placementSchema, PLACEMENT_SURFACES, type Placement, type PlacementKind } from "../placements/placement.js";
import { remoteScript, sshArgv, SSH_LAUNCH_FAILED_MARKER } from "../placements/ssh.js";
import {
  BoundedBuffer,
  capabilities,
  checkLaneId,
  Deadline,
  deadlineFailure,
  effectiveTimeout,
  invalidRequest,
  laneIdOption,
  parsePayload,
  Run,
  timeoutField,
  timeoutOptions,
} from "./common.js";
import { GroupProcess } from "./group-process.js";
import type { Lane, LaneContext, LaneOutcome } from "./lane.js";
import { DEFAULT_MAX_OUTPUT_BYTES, KILL_GRACE_MS, MAX_OUTPUT_BYTES_LIMIT, MAX_STDIN_BYTES, SSH_TRANSPORT_EXIT_CODE } from "./limits.js";

export const PROCESS_OPERATIONS = ["run"] as const;
export const PROCESS_PLACEMENTS: readonly PlacementKind[] = ["local", "ssh"];
/** Hard maximum for `kill_grace_ms`. */
export const MAX_KILL_GRACE_MS = 10_000;

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
const envName = z.string().regex(/^[^=\0]+$/, { message: "must be a non-empty name without '=' or NUL" });

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
}

export class ProcessLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof processLaneOptionsSchema>;

  constructor(options: ProcessLaneOptions = {}) {
    this.opts = processLaneOptionsSchema.parse(options);
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
    const bad =
      checkLaneId(this.id, request) ??
      (PROCESS_OPERATIONS.includes(request.operation as "run") ? null : invalidRequest("$.operation", `must be one of ${PROCESS_OPERATIONS.join(", ")}`)) ??
      checkPlacement(this.id, PROCESS_PLACEMENTS, this.opts.placement, request.admission_request.placement);
    if (bad !== null) return run.failWith(bad);
    const parsed = parsePayload(processPayloadSchema, request);
    if (!parsed.ok) return run.failWith(parsed.failure);
    const p = parsed.value;
    run.timeoutMs = effectiveTimeout(p.timeout_ms, this.opts);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before launch");

    const placement = this.opts.placement;
    let launch: Launch;
    if (placement.kind === "ssh") {
      const script = remoteScript({ command: p.command, argv: p.argv, env: p.env, clearEnv: p.clear_env || !this.opts.inherit_env, ...(p.cwd === undefined ? {} : { cwd: p.cwd }), timeoutMs: run.timeoutMs, killGraceMs: this.opts.kill_grace_ms });
      launch = { command: placement.ssh_command, argv: sshArgv(placement, script), env: { ...process.env } };
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
    const out = new BoundedBuffer(this.opts.max_output_bytes);
    const err = new BoundedBuffer(this.opts.max_output_bytes);
    proc.child.stdout.on("data", (c: Buffer) => out.push(c));
    proc.child.stderr.on("data", (c: Buffer) => err.push(c));
    proc.child.stdin.on("error", () => undefined); // EPIPE when the command exits without reading
    proc.child.stdin.end(p.stdin ?? "");

    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    void deadline.fired.then(() => proc.terminate(this.opts.kill_grace_ms));
    await proc.closed;
    deadline.dispose();

    const stderrText = err.text();
    const output: Record<string, JsonValue> = {
      exit_code: proc.exitCode,
      signal: proc.signal,
      stdout: out.text(),
      stderr: stderrText,
      stdout_truncated: out.truncated,
      stderr_truncated: err.truncated,
    };
    const io = { bytes: out.kept + err.kept, truncated: out.truncated || err.truncated };
    if (deadline.reason !== null) {
      return deadlineFailure(run, deadline.reason, output, io);
    }
    if (this.opts.placement.kind === "ssh") {
      if (proc.exitCode === SSH_TRANSPORT_EXIT_CODE) {
        return run.fail("transport_failed", `ssh exited ${SSH_TRANSPORT_EXIT_CODE}: ${stderrText.trim().split("\n").pop() ?? ""}`, output, { reason: "ssh_failed", exit_code: SSH_TRANSPORT_EXIT_CODE }, io);
      }
      if (proc.exitCode === 127 && stderrText.startsWith(SSH_LAUNCH_FAILED_MARKER)) {
        const what = stderrText.slice(SSH_LAUNCH_FAILED_MARKER.length).trim();
        const reason = what === "cwd" ? "cwd_missing" : "command_not_found";
        return run.fail("launch_failed", `cannot launch ${p.command} on the ssh placement: ${what} missing`, output, { reason, command: p.command }, io);
      }
    }
    return run.fact(proc.exitCode === 0 ? "succeeded" : "failed", output, io);
  }
}
