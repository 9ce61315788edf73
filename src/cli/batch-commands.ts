/**
 * Batch runs (PLEX): `cairn run`, `cairn resume`, `cairn verify`, `cairn replay`,
 * `cairn runs ls|show`.
 *
 * Exit codes: 0 completed / verified / replay matches; 1 a run with failed EUs (without
 * --allow-failures), a verify mismatch, a replay that differs, or any other failure (not
 * found, bad input, bad module…); 2 usage errors (bad flags, malformed run id).
 */
import { Command, Option } from "commander";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { stat } from "node:fs/promises";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { canonicalize } from "../core/canonical.js";
import { escapeControls, escapeControlsByLine, printableJsonText } from "../core/describe.js";
import { codePointsOver, echoedJson } from "../core/echo.js";
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import { checkOutTarget, resumeNamingOut, runNamingOut, runOutExclusions, type ExecutionResult, type RunHooks } from "../batch/engine.js";
import { parsePulseSpec, replay, verifyRun, type VerifyReport } from "../batch/verify.js";
import { iterateRuns, loadRunReport, type RunSummary } from "../batch/runs.js";
import { jsonText } from "../batch/json-text.js";
import { loadManifest, runStatus, RUN_RECEIPT_KIND, type Manifest } from "../batch/manifest.js";
import { checkRunId, loadPlan, planRoot, type RunPlan } from "../batch/plan.js";
import {
  DEFAULT_EU_TIMEOUT_MS, MAX_EU_TIMEOUT_MS, DEFAULT_MAX_MEMORY_BYTES, defaultWorkers, DEFAULT_PARTITIONS, DEFAULT_PULSE_SIZE, DEFAULT_RETRIES, DEFAULT_SEED, MAX_PARTITIONS,
  MAX_PULSE_SIZE, MAX_RETRIES, MAX_SEED_CHARS, MAX_WORKERS, MIN_MAX_MEMORY_BYTES, normalizeConfig, parseSize, seedProblem, type RunConfig, type RunConfigInput,
} from "../batch/config.js";
import { INPUT_FORMATS, type InputFormat } from "../batch/input/types.js";
import { inputIoError } from "../batch/input/source.js";
import { checkModuleFile } from "../batch/sandbox/bundle.js";
import type { Store } from "../store/store.js";
import { nonEmptyArg } from "./args.js";
import { checkOutOutsideStore, globalsOf, outputFor, refuseDashOut, refuseStdoutUnderJson, storeDirOf, withStore } from "./context.js";
import { formatDurationMs, parseCount, parseDuration } from "./duration.js";
import { humanBytes, printError, type Output } from "./output.js";
import { exitOnSignal } from "./signals.js";
import { ProgressDisplay, groupDigits, progressMode, TINY_PULSE_AVERAGE_EUS, TINY_PULSE_MIN_PULSES, tinyPulseNote } from "./progress.js";

/** Failures listed in the human summary (the JSON result and the manifest hold more). */
export const SHOWN_FAILURES = 10;
/**
 * `runs ls` keeps up to this many rows in memory to align its columns; the rows of further runs
 * go to a spill file in the OS temp directory (RowSpill), so its memory stays bounded and every
 * run is read once.
 */
export const MAX_HELD_RUN_ROWS = 10_000;
/** Bytes of spilled `runs ls` rows buffered per write to, and per read from, the spill file. */
const RUN_ROWS_SPILL_CHUNK_BYTES = 1024 * 1024;
/** Longest failure message shown on one human line. */
const SHOWN_MESSAGE_CHARS = 300;
/** Longest reduce value shown in the human summary. */
const SHOWN_REDUCE_CHARS = 2000;

// ---------------------------------------------------------------------------------------------
// Option parsing: strict, E_USAGE (exit 2) naming the flag.

/**
 * A probability in [0, 1], as an unsigned decimal number literal, with or without an exponent
 * (`0`, `0.05`, `.5`, `1`, `5e-2`, `1E0`); surrounding whitespace ignored, as by `parseCount` and
 * every numeric option. E_USAGE naming the flag (`details.field`) otherwise. Before 2026-11-28 an
 * exponent was refused (`5e-1`) and the error had no `field`. The library's `auditRate` takes any
 * number in [0, 1] (config.ts), which every text accepted here is.
 */
export function parseRate(text: string, what: string): number {
  const t = text.trim();
  const n = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(t) ? Number(t) : Number.NaN;
  if (!(n >= 0 && n <= 1)) throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: expected a number in [0, 1], e.g. 0.05`, { field: what, value: text });
  return n;
}

/** Most characters (code points) of a refused --seed its error quotes. */
const SEED_SHOWN_CHARS = 40;

/**
 * A run seed as the engine takes one (config.ts `seedProblem`: 1..MAX_SEED_CHARS characters,
 * counted as code points, no lone surrogate); E_USAGE naming the flag otherwise.
 */
function parseSeed(text: string): string {
  const problem = seedProblem(text);
  if (problem !== undefined) {
    const shown = [...text.slice(0, 2 * SEED_SHOWN_CHARS)].slice(0, SEED_SHOWN_CHARS).join("");
    throw new CairnError(ErrorCode.USAGE, `invalid --seed ${printableJsonText(JSON.stringify(shown.length < text.length ? `${shown}…` : text))}: ${problem}`, { field: "--seed" });
  }
  return text;
}

/** A size such as 256MB, 1GiB or a byte count, at least the engine's minimum. */
export function parseMemory(text: string, what: string): number {
  let n: number;
  try {
    n = parseSize(text);
  } catch (err) {
    // parseSize says why (details.reason): out of range, or not a size at all
    const reason = isCairnError(err, ErrorCode.USAGE) ? err.details.reason : undefined;
    if (reason === "too_large") {
      throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: must be at most ${Number.MAX_SAFE_INTEGER} bytes (2^53 - 1)`, { value: text });
    }
    if (reason !== "too_small") throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: use e.g. 256MB, 1GiB or a byte count`, { value: text });
    n = 0; // below any size: refused as too small below
  }
  if (!Number.isSafeInteger(n) || n < MIN_MAX_MEMORY_BYTES) {
    throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: must be at least ${humanBytes(MIN_MAX_MEMORY_BYTES)}`, { value: text });
  }
  return n;
}

/**
 * A duration in 1 ms..`max` (`parseDuration`: whole milliseconds), else E_USAGE naming `what` and
 * the text (--eu-timeout: checked here too, against config.ts's MAX_EU_TIMEOUT_MS, so that the
 * error names the flag and the value as given).
 */
function positiveDuration(text: string, what: string, max: number): number {
  const ms = parseDuration(text, what);
  if (ms < 1) throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: must be at least 1 ms`, { value: text });
  if (ms > max) throw new CairnError(ErrorCode.USAGE, `invalid ${what} ${JSON.stringify(text)}: must be at most ${formatDurationMs(max)} (${max} ms)`, { value: text });
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Human output.

function plural(n: number, one: string, many = `${one}s`): string {
  return `${groupDigits(n)} ${n === 1 ? one : many}`;
}

/**
 * `s` on one line for a human summary: newlines shown as ` ⏎ `, cut past `max` characters, and
 * every other character a terminal would not show as itself (ESC, DEL, C1, U+2028…) escaped
 * (describe.ts `escapeControls`): a failure message, a reduce value.
 */
function oneLine(s: string, max = SHOWN_MESSAGE_CHARS): string {
  const flat = s.replace(/\r?\n/g, " ⏎ ");
  return escapeControls(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}

/**
 * A failed EU's human line. Its id (canonical JSON) and message are the function's text: every
 * character a terminal would not show as itself (ESC, DEL, C1, U+2028…) is escaped here, at
 * display time (describe.ts `escapeControls`); the stored records and --json keep the real text.
 */
function failureLine(f: { id: unknown; code: string; message: string }): string {
  return `  id ${failureId(f.id)}  ${f.code}  ${oneLine(f.message)}`;
}

/**
 * A failed EU's id on its human line: its canonical JSON, or, for a string id longer than
 * MAX_ECHOED_CHARS (256 code points), quoted cut and marked `"…"… (N characters)`, as the
 * duplicate-id and E_NONDETERMINISTIC errors quote it (echo.ts `echoedJson`). Before 2026-11-28
 * a 100,000-character id made a 100,002-character column; the message beside it was already cut
 * at SHOWN_MESSAGE_CHARS. --json and the stored records keep the whole id.
 */
function failureId(id: unknown): string {
  return escapeControls(typeof id === "string" && codePointsOver(id) ? printableJsonText(echoedJson(id)) : canonicalize(id));
}

/**
 * `out.result` for a value that may hold a reduce value nested deeper than JSON.stringify can
 * recurse (json-text.ts): the same bytes as `out.printJson` when it can, else the value compact.
 */
function deepResult(out: Output, value: unknown, human: () => void): void {
  if (out.json) out.line(jsonText(value, 2) ?? "null");
  else human();
}

/** The human summary of an ExecutionResult on stdout. */
function printResult(out: Output, r: ExecutionResult): void {
  const status = r.status === "completed" ? out.paint("green", "completed") : out.paint("red", "failed");
  const c = r.counts;
  out.line(`run ${r.runId}: ${status}${r.reused ? " (already finished: nothing executed)" : ""}`);
  out.line(`EUs: ${groupDigits(c.total)} total, ${groupDigits(c.completed)} completed, ${groupDigits(c.failed)} failed, ${groupDigits(c.retried)} retried`);
  out.line(`output digest: ${r.outputDigest}`);
  out.line(`manifest digest: ${r.manifestDigest}`);
  // Data, not a confirmation: kept under --quiet (ARCHITECTURE §8; a note until 2026-11-28, when --quiet dropped the only human line naming it).
  out.line(`output artifact: ${r.outputArtifact} (cairn store get ${r.outputArtifact})`);
  if ("reduce" in r) out.line(`reduce: ${oneLine(jsonText(r.reduce) ?? "undefined", SHOWN_REDUCE_CHARS)}`);
  if (r.failures.length > 0) {
    out.line(`failures (${failuresHeading(r)}):`);
    for (const f of r.failures.slice(0, SHOWN_FAILURES)) out.line(failureLine(f));
  }
  out.note(`verify with: cairn verify ${r.runId}`);
}

function failuresHeading(r: ExecutionResult): string {
  const shown = Math.min(SHOWN_FAILURES, r.failures.length);
  return shown < r.counts.failed ? `first ${shown} of ${groupDigits(r.counts.failed)}` : plural(r.counts.failed, "EU");
}

/**
 * How to accept the failed EUs of a run, said by the command that reported them: `cairn run`
 * takes --allow-failures; `cairn resume` does not (it is part of the run's config, so of its id:
 * accepting failures is another run, which reuses the committed pulses of this one).
 */
export const ALLOW_FAILURES_HINT = {
  run: "pass --allow-failures to accept failed EUs",
  resume: "to accept failed EUs, repeat the `cairn run` command with --allow-failures: another run id, which reuses this run's committed pulses",
} as const;

/**
 * A failed run (EUs failed without --allow-failures): says so on stderr — the count, the run
 * and E_EU_FAILED (with --json, `details.failures` the first SHOWN_FAILURES). The human lines
 * of those failures are printed once, in the summary on stdout (`printResult`, kept under
 * --quiet), not repeated here.
 */
function reportFailedRun(r: ExecutionResult, json: boolean, hint: string): void {
  const err = new CairnError(
    ErrorCode.EU_FAILED,
    `${plural(r.counts.failed, "EU")} of ${groupDigits(r.counts.total)} failed in run ${r.runId} (${hint})`,
    { runId: r.runId, failed: r.counts.failed, failures: r.failures.slice(0, SHOWN_FAILURES) },
  );
  printError(err, json);
}

// ---------------------------------------------------------------------------------------------
// run / resume

/** The ExecutionResult with its keys in one fixed order (a fresh and a reused run print alike). */
export function resultJson(r: ExecutionResult): Record<string, unknown> {
  const c = r.counts;
  const o: Record<string, unknown> = {
    runId: r.runId,
    status: r.status,
    counts: { total: c.total, completed: c.completed, failed: c.failed, retried: c.retried },
    outputDigest: r.outputDigest,
    manifestDigest: r.manifestDigest,
    outputArtifact: r.outputArtifact,
  };
  if ("reduce" in r) o.reduce = r.reduce;
  o.failures = r.failures;
  o.reused = r.reused;
  return o;
}

interface RunOpts {
  /** Required: checked in the action, so that a missing <module> is reported first. */
  input?: string;
  format?: InputFormat;
  idField?: string;
  partitions?: number;
  pulseSize?: number;
  workers?: number;
  maxPulsesInFlight?: number;
  retries?: number;
  seed?: string;
  maxMemory?: number;
  out?: string;
  allowFailures?: boolean;
  auditRate?: number;
  euTimeout?: number;
}

/**
 * What the process takes by itself, and each worker (measured: ~70 MiB + ~8 MiB idle; peaks of
 * 150–182 MiB at 2 workers over 10^5 small records, 216 MiB on records of ~500 bytes).
 */
const PROCESS_FOOTPRINT_BYTES = 160 * 1024 * 1024;
const WORKER_FOOTPRINT_BYTES = 24 * 1024 * 1024;

/** Below this --max-memory (for `workers` workers) the process's own footprint exceeds it. */
function footprintBytes(workers: number): number {
  return PROCESS_FOOTPRINT_BYTES + workers * WORKER_FOOTPRINT_BYTES;
}

/**
 * Says on stderr (not with --quiet/--json) when the memory bound — --max-memory, or its default
 * when not given — cannot hold the process's RSS, or exceeds this machine's memory
 * (`os.totalmem()`): accepted (the run may fit), but the bound then does not protect the machine,
 * whose memory runs out first (before 2026-11-28 `--max-memory 1TB` on a 24 GiB machine was
 * taken silently).
 */
function noteMemoryBound(cmd: Command, c: RunConfigInput, machineBytes: number = totalmem()): void {
  const g = globalsOf(cmd);
  if (g.quiet === true || g.json === true) return;
  const bound = c.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
  const given = `${c.maxMemoryBytes === undefined ? "the default " : ""}--max-memory ${humanBytes(bound)}`;
  const workers = c.workers ?? defaultWorkers();
  if (bound < footprintBytes(workers)) {
    process.stderr.write(
      `cairn: note: ${given} is below what this process needs by itself with ${workers} worker${workers === 1 ? "" : "s"} (about ${humanBytes(footprintBytes(workers))}): it sizes the engine's buffers and the workers' heaps, but the process's memory may exceed it\n`,
    );
  } else if (machineBytes > 0 && bound > machineBytes) {
    process.stderr.write(
      `cairn: note: ${given} is more than this machine's memory (${humanBytes(machineBytes)}): the bound then does not protect the machine, whose memory runs out first\n`,
    );
  }
}

function configOf(o: RunOpts): RunConfigInput {
  const c: RunConfigInput = {};
  if (o.format !== undefined) c.format = o.format;
  if (o.idField !== undefined) c.idField = o.idField;
  if (o.partitions !== undefined) c.partitions = o.partitions;
  if (o.pulseSize !== undefined) c.pulseSize = o.pulseSize;
  if (o.workers !== undefined) c.workers = o.workers;
  if (o.maxPulsesInFlight !== undefined) c.maxPulsesInFlight = o.maxPulsesInFlight;
  if (o.retries !== undefined) c.retries = o.retries;
  if (o.seed !== undefined) c.seed = o.seed;
  if (o.maxMemory !== undefined) c.maxMemoryBytes = o.maxMemory;
  if (o.allowFailures === true) c.allowFailures = true;
  if (o.auditRate !== undefined) c.auditRate = o.auditRate;
  if (o.euTimeout !== undefined) c.euTimeoutMs = o.euTimeout;
  return c;
}

/**
 * Runs `exec` with the store open for writing and progress on stderr, prints the result, and
 * sets exit code 1 for a failed run. ^C ends the bar line and says how to continue: with the run
 * id once it is known — `knownRunId` (resume's argument) once the open store holds its plan, or
 * the first progress report that names it (the engine reports it once the plan is recorded) —
 * else as interrupted before the run started.
 */
async function executeAndReport(
  cmd: Command,
  outFile: string | undefined,
  readsStdin: boolean,
  exec: (store: Store, hooks: RunHooks) => Promise<ExecutionResult>,
  mode: "write" | "update" = "write",
  failuresHint: string = ALLOW_FAILURES_HINT.run,
  knownRunId?: string,
): Promise<void> {
  const g = globalsOf(cmd);
  const progress = new ProgressDisplay({ mode: progressMode(process.stderr, g) });
  let runId: string | undefined;
  /** Pulses of the execution, from the engine's last (`done`) progress. */
  let pulses: number | undefined;
  let reusedPulses = 0;
  // SIGINT, SIGTERM and SIGHUP end the run the same way: committed pulses stay, the hint says
  // how to continue, and the exit hooks run (an --out temp file is removed).
  const onSignal = (): void => {
    progress.interrupt();
    // The engine reports the run id once the plan is recorded (resume knows it from the start):
    // without one, nothing was planned or committed (the input and module may be stored).
    const message =
      runId === undefined
        ? "interrupted before the run started: no pulse was committed; run the same command again to start it"
        : `interrupted; committed pulses are kept: run the same command again, or \`cairn resume ${runId}\`, to continue`;
    // With --json the error is JSON on stderr, like every error (stdout stays empty).
    if (g.json === true) printError(new CairnError(ErrorCode.INTERRUPTED, message, runId === undefined ? {} : { runId }), true);
    else process.stderr.write(`cairn: ${message}\n`);
  };
  let result: ExecutionResult;
  try {
    result = await exitOnSignal(onSignal, () => withStore(cmd, mode, (store) => {
      if (knownRunId !== undefined && store.findRoot(planRoot(knownRunId)) !== undefined) runId = knownRunId;
      const hooks: RunHooks = {
        onProgress: (p) => {
          runId ??= p.runId;
          if (p.phase === "done") {
            pulses = p.pulsesDone;
            reusedPulses = p.pulsesReused;
          }
          progress.update(p);
        },
      };
      if (readsStdin) hooks.stdin = process.stdin;
      if (outFile !== undefined) hooks.outFile = outFile;
      return exec(store, hooks);
    }));
  } catch (err) {
    progress.interrupt();
    throw err;
  }
  progress.finish();
  const out = outputFor(cmd);
  deepResult(out, resultJson(result), () => printResult(out, result));
  if (!out.quiet && !out.json && outFile !== undefined) process.stderr.write(`cairn: wrote the ordered output to ${outFile}\n`);
  noteTinyPulses(out, result, pulses, reusedPulses, mode === "update" /* resume: the run exists */);
  if (result.status === "failed") {
    reportFailedRun(result, g.json === true, failuresHint);
    process.exitCode = 1;
  }
}

/**
 * After an execution that committed many tiny pulses (progress.ts `tinyPulseNote`; pulses
 * reused from before a resume are not counted), says on stderr that they cost a store commit
 * each: not with --quiet, nor for a finished run answered from its manifest (nothing executed);
 * with --json too (stdout keeps its one value), except for a failed run, whose stderr holds its
 * JSON error alone.
 */
function noteTinyPulses(out: Output, result: ExecutionResult, pulses: number | undefined, reused: number, resumed: boolean): void {
  if (out.quiet || result.reused || pulses === undefined || (out.json && result.status === "failed")) return;
  const note = tinyPulseNote(pulses, result.counts.total, { executed: pulses - reused, resumed });
  if (note !== undefined) process.stderr.write(`cairn: note: ${note}\n`);
}

/**
 * The module and input paths of `cairn run`, checked before the store is opened (or created:
 * `./.cairn` in an empty directory) and before any progress is printed, with the engine's own
 * errors for them: a module without a .ts/.mts/.js/.mjs extension is E_USAGE, a missing one
 * E_NOT_FOUND, one that is not a file or cannot be read E_INVALID_INPUT (sandbox/bundle.ts
 * `checkModuleFile`, the check `bundleModule` makes); an
 * input path that cannot be stat'ed is the readers' error (input/source.ts `inputIoError`:
 * E_NOT_FOUND `input not found: <path>` for a missing one). Stdin (`-`) is not looked at. Only
 * the paths are checked: what they hold is read, and refused, by the engine as before.
 */
async function checkRunPaths(modulePath: string, input: string): Promise<void> {
  await checkModuleFile(modulePath);
  if (input === "-") return;
  try {
    await stat(input);
  } catch (err) {
    throw inputIoError(err, input);
  }
}

const RUN_HELP = `
Notes:
  The module (.ts, .mts, .js, .mjs) default-exports the execution function (input, ctx) =>
  output (it may be async). It may also export \`initial\` and \`reduce(acc, output)\`: outputs
  are then folded in EU-id order and the result is printed as "reduce".
  ctx is { id, attempt, seed, logicalTime }: the EU id, the attempt (1 on the first
  execution, 2 on the first retry…), the run seed and the logical time (ms since the epoch).
  Inside the function, Date/Date.now/performance.now are a fixed logical time and Math.random
  and crypto randomness are seeded per EU from (--seed, EU id). The CLI runs with TZ=UTC, so
  local-time Date methods (getHours, toString…) give the same answer on every machine;
  Intl / toLocale* / localeCompare default to the en-US locale (dates: UTC), and the time-zone
  name in Date#toString / toTimeString / Date() is the en-US one ("Coordinated Universal
  Time"), whatever the host's LANG / LC_ALL.
  The run id is derived from the input bytes, the bundled module, the config and the engine
  version: running the same command again continues (or reports) the same run.
  Progress goes to stderr (a bar on a terminal, plain lines otherwise; --quiet silences it).
  Each pulse costs about a millisecond of store work: after ${TINY_PULSE_MIN_PULSES} pulses or more averaging under
  ${TINY_PULSE_AVERAGE_EUS} EUs, a note on stderr says a larger --pulse-size or fewer --partitions is faster
  (the output digest does not depend on either; the run id does).
  Exit status: 0 when completed, 1 when EUs failed (unless --allow-failures) or on an error,
  2 on a usage error.`;

/** How `run` / `resume` write the output records to stdout (`--out -` is refused: refuseDashOut). */
const OUT_STDOUT_HINT = "for the records on stdout give --out /dev/stdout (the summary follows them there)";

export function runCommand(): Command {
  return new Command("run")
    .description("run a function over every record of an input (an exhaustive, verifiable batch run)")
    .argument("<module>", "execution module: .ts, .mts, .js or .mjs with a default export function", nonEmptyArg("argument <module>"))
    // Not `requiredOption`: commander checks required options before arguments, so `cairn run`
    // alone said "--input not specified" instead of naming the missing <module>.
    .option("--input <path|->", "input file, directory (--format files), or - for stdin (required)", nonEmptyArg("--input"))
    .addOption(new Option("--format <format>", "input format").choices(INPUT_FORMATS).default("jsonl"))
    .option("--id-field <field>", "take each EU's id from this field (default: the 0-based record index)", nonEmptyArg("--id-field"))
    .addOption(new Option("--partitions <n>", `number of partitions (default ${DEFAULT_PARTITIONS})`).argParser((v) => parseCount(v, "--partitions", MAX_PARTITIONS, 1)))
    .addOption(new Option("--pulse-size <k>", `most EUs per pulse (default ${DEFAULT_PULSE_SIZE})`).argParser((v) => parseCount(v, "--pulse-size", MAX_PULSE_SIZE, 1)))
    .addOption(new Option("--workers <w>", "most worker threads (default: CPUs, at most 8; one starts with the run, another only when the ones started are busy)").argParser((v) => parseCount(v, "--workers", MAX_WORKERS, 1)))
    .addOption(
      new Option("--max-pulses-in-flight <m>", "most pulses running at once; reading waits while this many are queued or running (default 2 × workers)").argParser((v) =>
        parseCount(v, "--max-pulses-in-flight", 4 * MAX_WORKERS, 1),
      ),
    )
    .addOption(new Option("--retries <r>", `re-executions of an EU whose attempt fails: it throws, exceeds --eu-timeout or crashes its worker (default ${DEFAULT_RETRIES})`).argParser((v) => parseCount(v, "--retries", MAX_RETRIES, 0)))
    .option("--seed <s>", `run seed for the per-EU seeded randomness (1..${MAX_SEED_CHARS} characters; default ${DEFAULT_SEED})`, parseSeed)
    .addOption(new Option("--max-memory <size>", `memory bound, e.g. 256MB, 1GiB (default ${humanBytes(DEFAULT_MAX_MEMORY_BYTES)})`).argParser((v) => parseMemory(v, "--max-memory")))
    .option("--out <file>", "also write the ordered output (JSONL) to this file (not -: stdout is /dev/stdout)", nonEmptyArg("--out"))
    .option("--allow-failures", "exit 0 even when EUs failed (failures are still recorded)")
    .addOption(new Option("--audit-rate <p>", "re-execute this fraction of pulses on a fresh worker and compare (0..1, default 0)").argParser((v) => parseRate(v, "--audit-rate")))
    .addOption(new Option("--eu-timeout <ms>", `end an EU's attempt that has not settled after this long: it is retried like one that throws (up to --retries), then failed (ms, or 30s, 5m…; default ${DEFAULT_EU_TIMEOUT_MS} ms)`).argParser((v) => positiveDuration(v, "--eu-timeout", MAX_EU_TIMEOUT_MS)))
    .addHelpText("after", RUN_HELP)
    .action(async (modulePath: string, opts: RunOpts, cmd: Command) => {
      const input = opts.input;
      if (input === undefined) throw new CairnError(ErrorCode.USAGE, "required option '--input <path|->' not specified", { field: "--input" });
      const config = configOf(opts);
      if (input === "-" && opts.format === "files") throw new CairnError(ErrorCode.USAGE, "the files format reads a directory, not stdin");
      normalizeConfig(config); // the engine's config errors (E_USAGE) before the store is opened or created
      await checkRunPaths(modulePath, input);
      // Before the store is opened (or created): --out must not replace the module's source or the
      // input file, nor land in an input directory (engine.ts `runOutExclusions`) or in the store
      // (its catalog replaced under the open database destroys the store), nor be a directory
      // (it was E_STORE_IO once the store was open) or one the store would be created in, nor lie
      // in a directory that does not exist, also through a dangling symlink, nor be a symlink loop
      // (engine.ts `checkOutTarget`). A refusal creates no store. The engine does not check again
      // (`runNamingOut`'s `outChecked`).
      refuseDashOut("--out", opts.out, OUT_STDOUT_HINT);
      await checkOutOutsideStore(cmd, "--out", opts.out, await runOutExclusions(modulePath, input, opts.format));
      if (opts.out !== undefined) await checkOutTarget("--out", opts.out, storeDirOf(cmd));
      noteMemoryBound(cmd, config);
      await executeAndReport(cmd, opts.out, input === "-", (store, hooks) => runNamingOut("--out", store, input, modulePath, config, hooks, true));
    });
}

export function resumeCommand(): Command {
  return new Command("resume")
    .description("continue an interrupted run from its last committed pulse (or report a finished one)")
    .argument("<runId>", "run id (16 hex digits)")
    .option("--out <file>", "also write the ordered output (JSONL) to this file (not -: stdout is /dev/stdout)", nonEmptyArg("--out"))
    .addHelpText("after", "\nOutput and exit status are those of `cairn run`.")
    .action(async (runId: string, opts: { out?: string }, cmd: Command) => {
      checkRunId(runId);
      refuseDashOut("--out", opts.out, OUT_STDOUT_HINT);
      refuseStdoutUnderJson(cmd, "--out", opts.out);
      // The other --out checks (the store, a directory, a missing directory: engine.ts
      // `checkOutFile`) are the engine's, once the store is open and the run found: an unknown run
      // (E_NOT_FOUND) or a missing store is the more basic error (before 2026-11-28 the CLI checked
      // --out first). "update" creates no store, so nothing is left behind by a refusal.
      // "update": a run can only be resumed from a store that exists (a mistyped --store made an empty one).
      // The run id is known from the start: a ^C before the engine's first report (its first
      // worker still importing the module) names it too (before 2026-11-28: "before the run started").
      await executeAndReport(cmd, opts.out, false, (store, hooks) => resumeNamingOut("--out", store, runId, hooks), "update", ALLOW_FAILURES_HINT.resume, runId);
    });
}

// ---------------------------------------------------------------------------------------------
// verify / replay

/**
 * A human line of a verify finding: `<code>  pulse <p>  <message>`, without the pulse column when
 * the message already starts by naming its pulse (`pulse 0/0: receipt …`, `pulse 0/0 holds …`,
 * `pulse 0/0's records …`): `receipt_mismatch  pulse 0/0: receipt …`, not the pulse twice.
 * --json lists `pulse` and `message` as they are.
 */
function verifyLine(f: { code: string; pulse?: string; message: string }): string {
  const named = f.pulse !== undefined && f.message.startsWith(`pulse ${f.pulse}`) && /^(?:$|[:\s'])/.test(f.message.slice(`pulse ${f.pulse}`.length));
  return `${f.code}${f.pulse === undefined || named ? "" : `  pulse ${f.pulse}`}  ${escapeControlsByLine(f.message)}`;
}

/**
 * `reexecuted`: whether --reexecute was given. Without it, a manifest with a reduce value has
 * `reduceCheck` "not_checked" (plain verify does not fold it again, ARCHITECTURE §10.17): a
 * "verified" line says so, as a forged value under a re-pinned manifest would otherwise read as
 * verified. With it, a reduce left unchecked is a `reduce_not_checked` note, listed.
 */
function printVerify(out: Output, r: VerifyReport, reexecuted: boolean): void {
  const reduceUnfolded = !reexecuted && r.reduceCheck === "not_checked";
  for (const p of r.problems) out.line(verifyLine(p));
  // Checks that could not be made (not problems: the exit status stays 0 when nothing else is wrong).
  for (const n of r.unchecked) out.line(verifyLine(n));
  const eusNotChecked = r.unchecked.filter((n) => n.code === "eu_not_checked").length;
  const notChecked = `${eusNotChecked > 0 ? `, ${plural(eusNotChecked, "EU record")} NOT checked` : ""}${r.unchecked.some((n) => n.code === "reduce_not_checked") ? ", the reduce NOT checked" : ""}`;
  const reexec = `${r.pulsesReexecuted > 0 ? `, re-executed ${plural(r.pulsesReexecuted, "pulse")}` : ""}${r.reduceRefolded ? ", folded the reduce again" : ""}${notChecked}`;
  if (r.ok) {
    const unfolded = reduceUnfolded ? " (the reduce value is not re-folded without --reexecute)" : "";
    out.line(`verified: ${plural(r.pulsesChecked, "pulse")}, ${plural(r.recordsChecked, "record")}${reexec}${unfolded} (run ${r.runId}, manifest ${r.manifestDigest})`);
  } else {
    out.line(`${out.paint("red", "MISMATCH")}: ${plural(r.problems.length, "problem")} in run ${r.runId} (checked ${plural(r.pulsesChecked, "pulse")}, ${plural(r.recordsChecked, "record")}${reexec})`);
  }
}

/**
 * A verify that found problems, as an error (on stderr, after the report on stdout, as `replay`
 * reports a differing checksum): E_VERIFY_MISMATCH naming the run, the number of problems listed
 * and their codes.
 */
function verifyMismatch(r: VerifyReport): CairnError {
  const codes = [...new Set(r.problems.map((p) => p.code))];
  return new CairnError(ErrorCode.VERIFY_MISMATCH, `run ${r.runId} does not verify: ${plural(r.problems.length, "problem")} (${codes.join(", ")})`, {
    runId: r.runId,
    manifestDigest: r.manifestDigest,
    problems: r.problems.length,
    codes,
  });
}

export function verifyCommand(): Command {
  return new Command("verify")
    .description("re-check a finished run from the store: manifest, every pulse checksum and receipt, the output digest")
    .argument("<runId>", "run id (16 hex digits)")
    .option("--reexecute", "also re-execute pulses on fresh workers and compare every record")
    .addOption(new Option("--sample <k>", "re-execute only a deterministic sample of k pulses, k ≥ 1 (implies --reexecute)").argParser((v) => parseCount(v, "--sample", undefined, 1)).implies({ reexecute: true }))
    .addHelpText(
      "after",
      "\nExit status: 0 verified, 1 mismatch (the report on stdout, then E_VERIFY_MISMATCH on stderr; or the run is not found / not finished, or its manifest cannot be read: one over 256 MiB, stored by an older build, is E_LIMIT_EXCEEDED saying how to write it again), 2 usage error.\nWithout --reexecute the manifest's reduce value is not folded again (the verified line says so).\nA failures or attempts artifact the manifest names but does not contain (a contains edge from it, which keeps it through gc) is a mismatch: not_contained.\nA reduce whose re-fold times out or crashes (--reexecute) is listed as reduce_not_checked, and a re-executed EU record that differs where an attempt of it timed out or crashed (in the run or on re-execution) as eu_not_checked, not as a mismatch: they do not change the exit status.",
    )
    .action(async (runId: string, opts: { reexecute?: boolean; sample?: number }, cmd: Command) => {
      checkRunId(runId);
      // A signal removes verify's scratch databases in the OS temp directory (verify-input.ts) before it ends the process.
      const ok = await exitOnSignal(() => {}, () => withStore(cmd, "read", async (store, out) => {
        const vo: { reexecute?: boolean; sample?: number } = { reexecute: opts.reexecute === true };
        if (opts.sample !== undefined) vo.sample = opts.sample;
        const r = await verifyRun(store, runId, vo);
        out.result(r, () => printVerify(out, r, vo.reexecute === true));
        if (!r.ok) printError(verifyMismatch(r), out.json);
        return r.ok;
      }));
      if (!ok) process.exitCode = 1;
    });
}

export function replayCommand(): Command {
  return new Command("replay")
    .description("re-execute one pulse of a finished run, print its records (JSONL) and compare its checksum")
    .argument("<runId>", "run id (16 hex digits)")
    .requiredOption("--pulse <p>", "the pulse: partition/index (e.g. 0/0) or its ordinal in the manifest (0, 1, …)")
    .addHelpText("after", "\nThe records go to stdout; whether the checksum matches the stored one goes to stderr.\nExit status: 0 matches, 1 differs (or not found, or stdout closed early: `| head`), 2 usage error.")
    .action(async (runId: string, opts: { pulse: string }, cmd: Command) => {
      checkRunId(runId);
      parsePulseSpec(opts.pulse, "--pulse"); // the library's rule, named as the option, before the store is opened
      const matches = await withStore(cmd, "read", async (store, out) => {
        const r = await replay(store, runId, opts.pulse);
        const name = `${r.pulse.partition}/${r.pulse.index}`;
        if (out.json) out.printJson(r);
        else {
          if (r.records.length > 0) out.line(r.records.join("\n"));
          if (r.matches && !out.quiet) process.stderr.write(`cairn: pulse ${name} of run ${runId}: ${plural(r.records.length, "record")}, checksum ${r.checksum} matches the stored one\n`);
        }
        if (!r.matches) {
          printError(
            new CairnError(ErrorCode.VERIFY_MISMATCH, `pulse ${name} of run ${runId}: re-executed checksum ${r.checksum} differs from the stored ${r.storedChecksum}`, {
              runId,
              pulse: name,
              checksum: r.checksum,
              storedChecksum: r.storedChecksum,
            }),
            out.json,
          );
        }
        return r.matches;
      });
      if (!matches) process.exitCode = 1;
    });
}

// ---------------------------------------------------------------------------------------------
// runs ls / show

/** Widens `widths` to hold `row`'s cells. */
function widen(widths: number[], row: readonly string[]): void {
  row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
}

/** One table row: every cell but the last padded to its column's width, two spaces apart. */
function padRow(row: readonly string[], widths: readonly number[]): string {
  return row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] as number))).join("  ");
}

const RUNS_HEADER = ["RUN", "STATE", "STATUS", "TOTAL/FAILED", "INPUT", "FUNCTION"];

// eslint-disable-next-line no-control-regex -- control characters are what is escaped
const CONTROL_CHAR_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * A `runs ls` cell as printed: as it is, unless it holds a control character (a newline, a
 * tab…: an input path or module name can) or starts with a double quote; then as a JSON string
 * — quoted, with every control character escaped (`\n`, `\t`, `\u0085`) — so each run stays
 * one line and such a cell reads back unambiguously. (`--json` gives the names as they are.)
 */
export function tableCell(s: string): string {
  if (!CONTROL_CHAR_RE.test(s) && !s.startsWith('"')) return s;
  return printableJsonText(JSON.stringify(s));
}

/** A run's row; STATUS is `unreadable` for a run whose plan, report or manifest cannot be read. */
function summaryCells(s: RunSummary): string[] {
  const counts = s.counts === undefined ? "-" : `${s.counts.total}/${s.counts.failed}`;
  return [s.runId, s.state, s.error !== undefined ? "unreadable" : (s.status ?? "-"), counts, tableCell(s.input), tableCell(s.function)];
}

/** A `runs ls` row as read: its cells, and the line saying on stderr why the run could not be read (if so). */
interface RunRow {
  cells: string[];
  warning?: string;
}

function runRow(s: RunSummary): RunRow {
  const row: RunRow = { cells: summaryCells(s) };
  if (s.error !== undefined) row.warning = `cairn: run ${s.runId}: ${escapeControlsByLine(s.error.message)} [${s.error.code}]\n`;
  return row;
}

/**
 * Rows of `runs ls` past the ones held in memory, written once to a file in the OS temp
 * directory (one JSON line each, buffered up to RUN_ROWS_SPILL_CHUNK_BYTES) and read back in
 * order in chunks of that size. The file is unlinked as soon as it is open where the OS allows
 * it (so no kill leaves it behind), else when the spill is closed.
 */
class RowSpill {
  private readonly path = join(tmpdir(), `cairn-runs-ls-${process.pid}-${randomBytes(4).toString("hex")}.jsonl`);
  private readonly fd: number;
  private unlinked = false;
  private pending = "";
  private size = 0;

  constructor() {
    this.fd = openSync(this.path, "wx+", 0o600);
    try {
      unlinkSync(this.path);
      this.unlinked = true;
    } catch {
      // not while it is open (Windows): removed by close()
    }
  }

  push(row: RunRow): void {
    this.pending += `${JSON.stringify(row)}\n`;
    if (this.pending.length >= RUN_ROWS_SPILL_CHUNK_BYTES) this.flush();
  }

  private flush(): void {
    const bytes = Buffer.from(this.pending, "utf8");
    this.pending = "";
    let at = 0;
    while (at < bytes.length) at += writeSync(this.fd, bytes, at, bytes.length - at, this.size + at);
    this.size += bytes.length;
  }

  /** The rows pushed, in order. */
  *rows(): Generator<RunRow> {
    this.flush();
    const chunk = Buffer.alloc(RUN_ROWS_SPILL_CHUNK_BYTES);
    const decoder = new StringDecoder("utf8");
    let rest = "";
    for (let pos = 0; pos < this.size; ) {
      const n = readSync(this.fd, chunk, 0, Math.min(chunk.length, this.size - pos), pos);
      if (n === 0) throw new CairnError(ErrorCode.INTERNAL, `the runs ls spill file ${this.path} ended at byte ${pos} of ${this.size}`);
      pos += n;
      const lines = (rest + decoder.write(chunk.subarray(0, n))).split("\n");
      rest = lines.pop() as string;
      for (const line of lines) yield JSON.parse(line) as RunRow;
    }
  }

  close(): void {
    closeSync(this.fd);
    if (!this.unlinked) rmSync(this.path, { force: true });
  }
}

/**
 * The human `runs ls` table, columns aligned as wide as their widest cell. Every run is read
 * once: up to `heldRows` (MAX_HELD_RUN_ROWS) rows are held in memory, the rest spilled to a
 * temp file (RowSpill), and the table is printed from those rows once the column widths are
 * known, so every row printed is the one the widths were taken from. (Before, more than
 * MAX_HELD_RUN_ROWS runs were read a second time to print: a run finished or planned between
 * the two readings was printed wider than its column, unaligned.) A run whose plan, report or
 * manifest cannot be read is said on stderr just before its row.
 */
export async function printRunsTable(store: Store, out: Output, heldRows = MAX_HELD_RUN_ROWS): Promise<void> {
  const widths: number[] = [];
  widen(widths, RUNS_HEADER);
  const held: RunRow[] = [];
  let spill: RowSpill | undefined;
  try {
    for (const s of iterateRuns(store)) {
      const row = runRow(s);
      widen(widths, row.cells);
      if (spill === undefined && held.length < heldRows) held.push(row);
      else (spill ??= new RowSpill()).push(row);
    }
    if (held.length === 0 && spill === undefined) {
      out.note("no runs");
      return;
    }
    if (!out.quiet) await out.written(`${padRow(RUNS_HEADER, widths)}\n`);
    for (const rows of [held, spill?.rows() ?? []]) {
      for (const row of rows) {
        if (row.warning !== undefined) process.stderr.write(row.warning);
        await out.written(`${padRow(row.cells, widths)}\n`);
      }
    }
  } finally {
    spill?.close();
  }
}

function configLine(c: RunConfig): string {
  return [
    `format ${c.format}`,
    `id field ${c.idField === null ? "(record index)" : tableCell(c.idField)}`,
    `partitions ${c.partitions}`,
    `pulse size ${c.pulseSize}`,
    `workers ${c.workers}`,
    `max pulses in flight ${c.maxPulsesInFlight}`,
    `retries ${c.retries}`,
    `seed ${printableJsonText(JSON.stringify(c.seed))}`,
    `max memory ${humanBytes(c.maxMemoryBytes)}`,
    `allow failures ${c.allowFailures ? "yes" : "no"}`,
    `audit rate ${c.auditRate}`,
    `EU timeout ${c.euTimeoutMs} ms`,
    `logical time ${c.logicalTimeMs}`,
  ].join(", ");
}

/**
 * The run report's resource figures (kept out of the manifest, which must come out
 * byte-identical after a resume), as one line; undefined when the run has no report.
 */
function resourcesLine(loaded: ReturnType<typeof loadRunReport>): string | undefined {
  if (loaded === undefined) return undefined;
  const { report: r, digest } = loaded;
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  // The output admission's figures (engine.ts), in reports of 2026-11-26 on.
  const admission = typeof r.peakPulsesRunning === "number" && typeof r.peakOutputBytes === "number"
    ? `, at most ${groupDigits(r.peakPulsesRunning)} pulses running at once, holding at most ${humanBytes(r.peakOutputBytes)} of outputs`
    : "";
  return `resources (run report ${digest}, of the execution that finished the run): wall ${s(r.wallMs)}, CPU ${s(r.cpuUserMs)} user + ${s(r.cpuSystemMs)} system, peak RSS ${humanBytes(r.peakRssBytes)}, ${groupDigits(r.pulsesExecuted)} pulses executed, ${groupDigits(r.pulsesReused)} reused${admission}`;
}

/**
 * The human `runs show` line of a finished run's run receipt (manifest.ts `recordManifest`:
 * function + input, params {kind, plan} ⇒ output + manifest), looked up by the action the
 * manifest names (`verify` takes the plan from the run's pinned root: the same receipt unless
 * the manifest was forged, which `verify` reports): its digest and status; none for a run finished before 2026-11-26 (none recorded); a
 * receipt the store cannot read is said, not an error (`cairn verify` reports it). `--json`
 * prints the stored manifest as it is, so it does not carry this.
 */
function runReceiptLine(store: Store, m: Manifest): string {
  try {
    const r = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
    return r === undefined ? "run receipt: none recorded (a run finished before 2026-11-26 recorded none)" : `run receipt: ${r.digest} (status ${r.status})`;
  } catch (err) {
    if (!isCairnError(err)) throw err;
    return `run receipt: cannot be read: ${escapeControls(err.message)} (cairn verify ${m.runId} reports it)`;
  }
}

function printRunShow(out: Output, runId: string, plan: RunPlan, planDigest: string, done: { manifest: Manifest; digest: string } | undefined, report: ReturnType<typeof loadRunReport>, receipt: string | undefined): void {
  const m = done?.manifest;
  const status = m === undefined ? undefined : runStatus(m);
  // A reader cannot tell a run another process is executing from one that was interrupted (it
  // does not take the writer lock), nor from one that failed and kept its plan (a crash, a full
  // disk, an audit's E_NONDETERMINISTIC: engine.ts `withNondeterministicRun`): the hint says all
  // three, and that a resume repeats a failure that repeats (before 2026-11-28 it advised a
  // resume as if every such run were interrupted).
  out.line(`run ${runId}: ${m === undefined ? `incomplete: still running in another process, or interrupted or failed (cairn resume ${runId} continues an interrupted run; a failure that repeats, such as a nondeterministic function's, fails it again)` : `completed, status ${status as string}`}`);
  out.line(`engine: ${plan.engine.name} ${plan.engine.version}`);
  out.line(`plan: ${planDigest}`);
  if (done !== undefined) out.line(`manifest: ${done.digest}`);
  if (receipt !== undefined) out.line(receipt);
  out.line(`function: ${tableCell(plan.function.name)} ${plan.function.artifact}`);
  out.line(`input: ${plan.input.artifact} (${plan.input.format}${m === undefined ? "" : `, ${plural(m.input.records, "record")}`})`);
  out.line(`config: ${configLine(plan.config)}`);
  if (m === undefined) return;
  const c = m.counts;
  out.line(`EUs: ${groupDigits(c.total)} total, ${groupDigits(c.completed)} completed, ${groupDigits(c.failed)} failed, ${groupDigits(c.retried)} retried`);
  out.line(`pulses: ${groupDigits(m.pulses.length)}`);
  out.line(`output digest: ${m.output.digest}`);
  out.line(`output artifact: ${m.output.artifact}`);
  // Every failure, when more failed than the manifest lists inline (manifest.ts MAX_MANIFEST_FAILURES).
  if (m.failuresArtifact !== undefined) out.line(`failures artifact: ${m.failuresArtifact}`);
  if (m.reduce !== null) out.line(`reduce: ${oneLine(jsonText(m.reduce.value) ?? "undefined", SHOWN_REDUCE_CHARS)}`);
  const res = resourcesLine(report);
  if (res !== undefined) out.line(res);
  if (m.failures.length > 0) {
    // The manifest lists the first failures (manifest.ts MAX_MANIFEST_FAILURES); counts.failed all of them.
    const shown = Math.min(SHOWN_FAILURES, m.failures.length);
    const all = Math.max(m.counts.failed, m.failures.length);
    out.line(`failures (${shown < all ? `first ${shown} of ${groupDigits(all)}` : plural(all, "EU")}):`);
    for (const f of m.failures.slice(0, SHOWN_FAILURES)) out.line(failureLine(f));
  }
}

export function runsCommand(): Command {
  const ls = new Command("ls")
    .description("list batch runs: runId  state  status  total/failed  input  function (status `unreadable`: the run's manifest cannot be read, said on stderr; an input or function name holding a control character is shown as a JSON string)")
    .action(async (_opts, cmd: Command) => {
      await withStore(cmd, "read", async (store, out) => {
        // Streamed: --json item by item; the table in one reading, rows past MAX_HELD_RUN_ROWS spilled to a temp file (printRunsTable).
        if (out.json) await out.streamList(iterateRuns(store), () => "");
        else await printRunsTable(store, out);
      });
    });
  const show = new Command("show")
    .description("describe a run: config, input, function, counts, output digest, pulses, failures (--json: the manifest, or the plan if incomplete)")
    .argument("<runId>", "run id (16 hex digits)")
    .action(async (runId: string, _opts: unknown, cmd: Command) => {
      checkRunId(runId);
      await withStore(cmd, "read", (store, out) => {
        const { plan, planDigest } = loadPlan(store, runId);
        const done = loadManifest(store, runId);
        // Read (and checked: E_STORE_CORRUPT naming it) before anything is printed.
        const report = done === undefined ? undefined : loadRunReport(store, runId);
        const receipt = done === undefined || out.json ? undefined : runReceiptLine(store, done.manifest);
        deepResult(out, done?.manifest ?? plan, () => printRunShow(out, runId, plan, planDigest, done, report, receipt));
      });
    });
  return new Command("runs").description("batch runs recorded in the store: ls, show").addCommand(ls).addCommand(show);
}
