/**
 * Progress of a batch run on stderr (stdout stays the result's alone).
 *
 * - bar: stderr is a TTY and neither --quiet nor --json: one line redrawn in place (`\r` +
 *   clear-line), at most ~10 times a second and at least once a second (so the rate and ETA
 *   move during long pulses). The bar and the percentage are of EUs done:
 *     `[#####.....] 12,345/52,889 EUs (23%)  3,210 EU/s  ETA 14s  failed 2`
 *   The EU total is known only once the whole input has been read. Until then it is estimated
 *   from the records read and the share of the input's bytes they came from, and every figure
 *   that depends on it is marked `≈` (see `estimateTotal`):
 *     `[#####.....] 12,345/≈52,900 EUs (≈23%)  3,210 EU/s  ETA ≈14s`
 *   Before any record is read there is no estimate: `0 EUs  0 EU/s  reading…`. The ETA is `?`
 *   when no rate is measured yet, or when every record read so far is done but the total is
 *   still unknown (never `0s` while EUs may remain).
 *   The failure count is red when color is enabled (a TTY and NO_COLOR unset).
 * - lines: stderr is not a TTY (a log, a pipe, CI) and not --quiet/--json: a plain line on
 *   every phase change and at most one `cairn: 12345 EUs done, 2 failed` every 2 s.
 * - off: --quiet or --json.
 */
import type { Progress } from "../batch/engine.js";
import { colorEnabled } from "./output.js";

export type ProgressMode = "bar" | "lines" | "off";

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Least time between two redraws of the bar. */
export const BAR_REDRAW_MS = 100;
/** The bar is redrawn at least this often, even without news from the engine. */
export const BAR_TICK_MS = 1000;
/** Least time between two periodic plain lines. */
export const LINE_INTERVAL_MS = 2000;
/** Width of the bar itself, in cells. */
export const BAR_CELLS = 20;
/** The rate is measured over this much recent time (a sliding window). */
export const RATE_WINDOW_MS = 5000;

/** While the EU total is estimated, the share done is shown as at most this percentage. */
export const MAX_ESTIMATED_PERCENT = 99;

const CLEAR_LINE = "\r\u001b[2K";

/** Chooses the progress display for the run's flags and stderr. */
export function progressMode(stream: ProgressStream, opts: { json?: boolean; quiet?: boolean }): ProgressMode {
  if (opts.json === true || opts.quiet === true) return "off";
  return stream.isTTY === true ? "bar" : "lines";
}

/** `12345678` → `12,345,678` (fixed, locale-independent). */
export function groupDigits(n: number): string {
  const s = String(Math.round(n));
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Seconds as `14s`, `3m05s`, `2h07m`. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * An estimate of a run's EU total while it is still unknown: the records read so far scaled
 * by the share of the input's bytes read (the readers count a chunk's bytes as its records are
 * handed out), never below the records read (or done). Undefined before any record or byte is
 * read, and when the input's size is unknown or 0.
 */
export function estimateTotal(p: Pick<Progress, "eusRead" | "eusDone" | "inputBytesRead" | "inputBytesTotal">): number | undefined {
  const bytesTotal = p.inputBytesTotal;
  if (bytesTotal === undefined || bytesTotal <= 0 || p.inputBytesRead <= 0 || p.eusRead <= 0) return undefined;
  const share = Math.min(1, p.inputBytesRead / bytesTotal);
  return Math.max(p.eusRead, p.eusDone, Math.round(p.eusRead / share));
}

/** `done` of `total` as a whole percentage, rounded down (so 100% means all done). */
export function percentDone(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.min(100, Math.max(0, Math.floor((done * 100) / total)));
}

/** `[#####.....]`, `fraction` clamped to [0, 1]. */
export function bar(fraction: number, cells = BAR_CELLS): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.floor(f * cells);
  return `[${"#".repeat(full)}${".".repeat(cells - full)}]`;
}

const PHASE_TEXT: Record<Progress["phase"], string> = {
  ingest: "reading input",
  execute: "executing",
  merge: "merging outputs",
  done: "done",
};

export interface ProgressOptions {
  mode: ProgressMode;
  stream?: ProgressStream;
  /** Milliseconds clock (tests pass a fake one). */
  now?: () => number;
  env?: NodeJS.ProcessEnv;
  /** Start the once-a-second redraw timer in bar mode (default true). */
  tick?: boolean;
}

/** Receives the engine's Progress callbacks and draws them. Call `finish()` when the run ends. */
export class ProgressDisplay {
  readonly mode: ProgressMode;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly color: boolean;
  private readonly started: number;
  private last: Progress | undefined;
  private lastPhase: Progress["phase"] | undefined;
  /** When execution ended (the merge began): the rate is frozen from then on. */
  private executeEnd: number | undefined;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastLine: number;
  private drawn = false;
  private timer: NodeJS.Timeout | undefined;
  /** (time, eusDone) samples for the rate, oldest first. */
  private samples: Array<{ t: number; done: number }> = [];
  /**
   * The estimated EU total while the real one is unknown: the largest estimate so far, so it
   * does not sink back while a batch of records is handed to the scheduler (each estimate is
   * low by up to one reader batch).
   */
  private estimate: number | undefined;

  constructor(opts: ProgressOptions) {
    this.mode = opts.mode;
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? (() => Date.now());
    this.color = colorEnabled(this.stream, opts.env ?? process.env);
    this.started = this.now();
    this.lastLine = this.started;
    if (this.mode === "bar" && opts.tick !== false) {
      this.timer = setInterval(() => this.redraw(), BAR_TICK_MS);
      this.timer.unref();
    }
  }

  /** The engine's onProgress hook. */
  readonly update = (p: Progress): void => {
    if (this.mode === "off") return;
    const t = this.now();
    this.last = { ...p };
    this.sample(t, p.eusDone);
    if (p.phase === "execute" && p.eusTotal === undefined) {
      const est = estimateTotal(p);
      if (est !== undefined) this.estimate = Math.max(this.estimate ?? 0, est);
    }
    const phaseChanged = p.phase !== this.lastPhase;
    this.lastPhase = p.phase;
    if ((p.phase === "merge" || p.phase === "done") && this.executeEnd === undefined) this.executeEnd = t;
    if (this.mode === "lines") {
      if (phaseChanged) this.phaseLine(p);
      // Not while reading the input: no EU has run (the engine's second ingest report, naming the
      // run once its plan is recorded, printed "0 EUs done" after a slow ingest).
      else if (p.phase !== "ingest" && t - this.lastLine >= LINE_INTERVAL_MS) {
        this.write(`cairn: ${p.eusDone} EUs done, ${p.eusFailed} failed${p.eusTotal === undefined ? "" : ` of ${p.eusTotal}`}\n`);
        this.lastLine = t;
      }
      return;
    }
    if (phaseChanged || t - this.lastDraw >= BAR_REDRAW_MS) this.draw(t);
  };

  /** Stops the timer; in bar mode draws the final state and ends the line. Idempotent. */
  finish(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === "bar" && this.drawn) {
      this.draw(this.now());
      this.write("\n");
      this.drawn = false;
    }
  }

  /** Ends a half-drawn bar line so that a message can follow (e.g. on an error or ^C). */
  interrupt(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === "bar" && this.drawn) {
      this.write("\n");
      this.drawn = false;
    }
  }

  /** The current text of the bar line (without control characters). */
  barText(t = this.now()): string {
    const p = this.last;
    if (p === undefined) return "reading input…";
    const rate = this.rate(t);
    const rateText = `${groupDigits(rate)} EU/s`;
    const failed = p.eusFailed > 0 ? `  ${this.paintRed(`failed ${groupDigits(p.eusFailed)}`)}` : "";
    if (p.phase === "ingest") return "reading input…";
    if (p.eusTotal === undefined) {
      const est = p.phase === "execute" ? this.estimate : undefined;
      if (est === undefined) return `${groupDigits(p.eusDone)} EUs  ${rateText}  reading…${failed}`;
      // Records read but not yet done remain for sure; with none, the rest is unknown.
      const left = est - p.eusDone;
      const eta = rate > 0 && left > 0 ? `ETA ≈${formatEta(left / rate)}` : "ETA ?";
      // Not known to be complete, so never shown as 100%.
      const pct = Math.min(MAX_ESTIMATED_PERCENT, percentDone(p.eusDone, est));
      return `${bar(pct / 100)} ${groupDigits(p.eusDone)}/≈${groupDigits(est)} EUs (≈${pct}%)  ${rateText}  ${eta}${failed}`;
    }
    const total = p.eusTotal;
    const fraction = total === 0 ? 1 : p.eusDone / total;
    let tail: string;
    if (p.phase === "merge") tail = "merging…";
    else if (p.phase === "done") tail = `done in ${formatEta((t - this.started) / 1000)}`;
    else tail = rate > 0 ? `ETA ${formatEta((total - p.eusDone) / rate)}` : "ETA ?";
    return `${bar(fraction)} ${groupDigits(p.eusDone)}/${groupDigits(total)} EUs (${percentDone(p.eusDone, total)}%)  ${rateText}  ${tail}${failed}`;
  }

  private redraw(): void {
    if (this.last !== undefined) this.draw(this.now());
  }

  private draw(t: number): void {
    let text = this.barText(t);
    const cols = this.stream.columns;
    // A line that wraps cannot be redrawn with \r: cut it to the terminal width (color codes
    // only surround the final "failed N", so cutting plain text keeps them balanced enough).
    if (cols !== undefined && cols > 1 && visibleLength(text) > cols - 1) text = stripAnsi(text).slice(0, cols - 1);
    this.write(`${CLEAR_LINE}${text}`);
    this.drawn = true;
    this.lastDraw = t;
  }

  private phaseLine(p: Progress): void {
    let s: string;
    switch (p.phase) {
      case "ingest":
        s = "cairn: reading input";
        break;
      case "execute":
        s = `cairn: ${PHASE_TEXT.execute} (${p.eusDone} EUs done${p.pulsesReused > 0 ? `, ${p.pulsesReused} pulses reused` : ""})`;
        break;
      case "merge":
        s = `cairn: ${PHASE_TEXT.merge} (${p.eusDone} EUs, ${p.eusFailed} failed)`;
        break;
      case "done":
        s = `cairn: done: ${p.eusDone} EUs, ${p.eusFailed} failed, ${p.pulsesDone} pulses (${p.pulsesReused} reused)`;
        break;
    }
    this.write(`${s}\n`);
    this.lastLine = this.now();
  }

  private sample(t: number, done: number): void {
    this.samples.push({ t, done });
    while (this.samples.length > 2 && t - (this.samples[1] as { t: number }).t >= RATE_WINDOW_MS) this.samples.shift();
  }

  /** EUs per second over the recent window (or since the start when the window is short). */
  private rate(now: number): number {
    if (this.executeEnd !== undefined) {
      const ms = this.executeEnd - this.started;
      return ms > 0 ? ((this.last?.eusDone ?? 0) * 1000) / ms : 0;
    }
    const t = now;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined) return 0;
    const windowMs = t - first.t;
    if (windowMs >= 500 && last.done > first.done) return ((last.done - first.done) * 1000) / windowMs;
    const sinceStart = t - this.started;
    return sinceStart > 0 ? (last.done * 1000) / sinceStart : 0;
  }

  private paintRed(s: string): string {
    return this.color ? `\u001b[31m${s}\u001b[0m` : s;
  }

  private write(s: string): void {
    this.stream.write(s);
  }
}

/** A finished execution of at least this many pulses… */
export const TINY_PULSE_MIN_PULSES = 1000;
/** …averaging fewer EUs than this per pulse gets `tinyPulseNote`. */
export const TINY_PULSE_AVERAGE_EUS = 16;

/**
 * The note `cairn run` / `resume` prints on stderr after an execution of a run of `pulses`
 * pulses holding `eus` EUs in all, when they are tiny (TINY_PULSE_AVERAGE_EUS) and the execution
 * committed many of them (`executed`, default all; TINY_PULSE_MIN_PULSES; a resume reuses the
 * pulses committed before): each pulse costs about a millisecond of store work (its artifacts,
 * receipt and edges; many share one transaction since 2026-11-28, group-commit.ts), so such a run
 * spends its time storing pulses. Undefined otherwise. Only the output digest is the same for any
 * --pulse-size and --partitions: both are part of the config, so of the run id and the manifest
 * (which is also why a resumed run keeps them: `resumed` words the advice for a new run).
 */
export function tinyPulseNote(pulses: number, eus: number, o: { executed?: number; resumed?: boolean } = {}): string | undefined {
  if ((o.executed ?? pulses) < TINY_PULSE_MIN_PULSES || eus >= TINY_PULSE_AVERAGE_EUS * pulses) return undefined;
  // Rounded down, so an average just below TINY_PULSE_AVERAGE_EUS never shows as it.
  const average = (Math.floor((eus * 10) / pulses) / 10).toFixed(1);
  const faster = o.resumed === true
    ? "A new run with a larger --pulse-size or fewer --partitions is faster (a resumed run keeps its own: they are part of its id); "
    : "A larger --pulse-size or fewer --partitions is faster; ";
  return (
    `${groupDigits(pulses)} pulses averaged ${average} ${average === "1.0" ? "EU" : "EUs"} each; each pulse costs about a millisecond ` +
    `of store work (its artifacts, receipt and edges), which can take most of a run's time. ${faster}` +
    "the output digest does not depend on either (the run id and manifest do)"
  );
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\u001b\[[0-9;]*m/g;

function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, "");
}

function visibleLength(s: string): number {
  return stripAnsi(s).length;
}
