/**
 * Printing for the CLI. Data goes to stdout: either exactly one JSON value (--json) or human
 * lines. Notes (confirmations, summaries) are human-only and --quiet drops them. Errors go
 * to stderr. Color is used only on a TTY and never when NO_COLOR is set.
 */
import { escapeControls, escapeControlsByLine } from "../core/describe.js";
import { echoed } from "../core/echo.js";
import { isCairnError } from "../core/errors.js";

export interface GlobalOptions {
  store?: string;
  json?: boolean;
  quiet?: boolean;
  wait?: number;
}

interface Sink {
  /** False when the sink's buffer is full: wait for 'drain' before writing more (a stream). */
  write(s: string): unknown;
  isTTY?: boolean;
  once?(event: "drain" | "close", listener: () => void): unknown;
  off?(event: "drain" | "close", listener: () => void): unknown;
}

/** True when ANSI color may be written to `stream` (a TTY, and NO_COLOR unset or empty). */
export function colorEnabled(stream: Sink, env: NodeJS.ProcessEnv = process.env): boolean {
  const noColor = env.NO_COLOR;
  return stream.isTTY === true && (noColor === undefined || noColor === "");
}

export type Style = "red" | "green" | "yellow" | "dim" | "bold";
const SGR: Record<Style, string> = { red: "31", green: "32", yellow: "33", dim: "2", bold: "1" };

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  private readonly color: boolean;
  /** The sink closed while `written` waited for it to drain: it never will. */
  private closed = false;

  constructor(
    opts: GlobalOptions,
    private readonly out: Sink = process.stdout,
  ) {
    this.json = opts.json === true;
    this.quiet = opts.quiet === true;
    this.color = colorEnabled(out);
  }

  /** Wraps `s` in an ANSI style when color is enabled. */
  paint(style: Style, s: string): string {
    return this.color ? `\u001b[${SGR[style]}m${s}\u001b[0m` : s;
  }

  /** Prints one JSON value (the whole of stdout for a --json command). */
  printJson(value: unknown): void {
    this.out.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Prints a human data line (kept under --quiet). */
  line(s: string): void {
    this.out.write(`${s}\n`);
  }

  /** Prints a human note (dropped under --quiet). */
  note(s: string): void {
    if (!this.quiet) this.out.write(`${s}\n`);
  }

  /** JSON mode: prints `value`; human mode: runs `human`. */
  result(value: unknown, human: () => void): void {
    if (this.json) this.printJson(value);
    else human();
  }

  /** Prints `key: value` lines for a flat record (undefined values shown as `-`). */
  fields(rec: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(rec)) this.line(`${k}: ${v === undefined ? "-" : String(v)}`);
  }

  /**
   * Streams a list: a JSON array in JSON mode (written item by item), else one human line each,
   * waiting for the sink to drain whenever a write says its buffer is full, so a listing to a
   * slow pipe (`cairn store roots --json | …`) is not queued in memory whole. The bytes are those
   * of `list`. Resolves with the number of items once the last one is handed to the sink.
   */
  async streamList<T>(items: Iterable<T>, human: (item: T) => string): Promise<number> {
    let n = 0;
    for (const item of items) {
      await this.written(this.json ? `${n === 0 ? "[\n" : ",\n"}  ${JSON.stringify(item)}` : `${human(item)}\n`);
      n++;
    }
    if (this.json) await this.written(n === 0 ? "[]\n" : "\n]\n");
    return n;
  }

  /**
   * Writes `s` and, when the sink's buffer is full, waits until it drains (or closes: a closed
   * stdout is main.ts's to report, and nothing is waited for after it).
   */
  async written(s: string): Promise<void> {
    const sink = this.out;
    if (sink.write(s) !== false || sink.once === undefined || this.closed) return;
    await new Promise<void>((resolve) => {
      const drained = (): void => {
        sink.off?.("close", closed);
        resolve();
      };
      const closed = (): void => {
        this.closed = true;
        sink.off?.("drain", drained);
        resolve();
      };
      sink.once?.("drain", drained);
      sink.once?.("close", closed);
    });
  }
}

/** The JSON shape of an error. */
export function errorJson(code: string, message: string, details?: unknown): { error: Record<string, unknown> } {
  const error: Record<string, unknown> = { code, message };
  if (details !== undefined && details !== null && typeof details === "object" && Object.keys(details).length > 0) error.details = details;
  return { error };
}

/**
 * Prints an error to stderr: `cairn: <message> [<code>]` (the message's control characters
 * escaped, its lines kept), or one JSON object with --json.
 */
export function printError(err: unknown, json: boolean, stream: Sink = process.stderr): void {
  let code: string;
  let message: string;
  let details: unknown;
  if (isCairnError(err)) {
    ({ code, message, details } = err);
  } else {
    code = "E_INTERNAL";
    message = err instanceof Error ? err.message : String(err);
  }
  if (json) {
    stream.write(`${JSON.stringify(errorJson(code, message, details))}\n`);
    return;
  }
  const prefix = colorEnabled(stream) ? "\u001b[31mcairn:\u001b[0m" : "cairn:";
  // A message may quote user text (an input path, a module's error): every character a terminal
  // would not show as itself (ESC, DEL, C1, U+2028, a carriage return…) is escaped on the human
  // line (describe.ts `escapeControlsByLine`: text already escaped, such as `\u001b`, is left as
  // it is); the lines of a message written as several (an E_NONDETERMINISTIC diff) are kept. The
  // JSON error keeps the message as it is.
  stream.write(`${prefix} ${escapeControlsByLine(message)} [${code}]\n`);
}

/**
 * Longest text of a value a human summary shows: a workflow run's surface (`wf run`), a trace
 * line `wf replay` quotes, an `examine` report line (a CT's message can be megabytes). As the
 * batch summary cuts its reduce value (batch-commands.ts `SHOWN_REDUCE_CHARS`); --json and the
 * files written keep the whole value.
 */
export const SHOWN_VALUE_CHARS = 2000;

/**
 * User text (a value's JSON text, a trace line) as a human summary prints it: cut past `max`
 * characters with its full length stated (echo.ts `echoed`: `… (N characters)`), and every
 * character a terminal would not show as itself (ESC, BEL, DEL, C1, U+2028…) escaped, its lines
 * kept (describe.ts `escapeControlsByLine`): a pretty-printed surface stays several lines.
 */
export function shownValue(text: string, max = SHOWN_VALUE_CHARS): string {
  return escapeControlsByLine(echoed(text, max));
}

/**
 * `shownValue` for text printed as one line (an `examine` report line, a trace line): a newline
 * in it is escaped too (`\n`, describe.ts `escapeControls`), so user text cannot start a line
 * of its own.
 */
export function shownLine(text: string, max = SHOWN_VALUE_CHARS): string {
  return escapeControls(echoed(text, max));
}

/** Shortens a digest for dense human output: `sha256:0123456789ab…`. */
export function shortDigest(d: string): string {
  return d.length > 19 ? `${d.slice(0, 19)}…` : d;
}

/** Human byte count: `512 B`, `1.5 KiB`, … (exact byte count kept alongside where it matters). */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i] as string}`;
}
