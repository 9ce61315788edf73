/**
 * Checks of argument and option values shared by the commands. An empty value where a path (or
 * another name) is expected — `cairn examine ""`, `--config ""` — is a usage error (E_USAGE,
 * exit 2) naming the argument or flag, raised while the command line is parsed, before any
 * work: never read as the current directory, never reported as "not found".
 *
 * With commander: `.option("--config <file>", "…", nonEmptyArg("--config"))`,
 * `.argument("<file>", "…", nonEmptyArg("argument <file>"))`; a variadic argument (whose parser
 * would have to collect the list itself) is checked in the action with `requireNonEmpty`.
 */
import type { EventEmitter } from "node:events";
import type { Command, Option } from "commander";
import { echoedJson } from "../core/echo.js";
import { CairnError, UsageError } from "../core/errors.js";

/** `value`, or E_USAGE `<what> must not be empty` (details `{field: what}`) when it is "". */
export function requireNonEmpty(value: string, what: string): string {
  if (value === "") throw new UsageError(`${what} must not be empty`, { field: what });
  return value;
}

/** A commander parser (option or argument) refusing an empty value: see `requireNonEmpty`. */
export function nonEmptyArg(what: string): (value: string) => string {
  return (value) => requireNonEmpty(value, what);
}

/**
 * `f`'s result; a CairnError it throws whose `details.field` is a library option named in
 * `flags` (`{ workflow: "--wf" }`) is thrown again naming the CLI flag the user passed instead,
 * code, message, other details and cause unchanged (ARCHITECTURE §7 "Naming options": a library
 * error names the caller's option, the CLI's `--json` error its flag).
 */
export async function withCliFields<T>(flags: Readonly<Record<string, string>>, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    const field = err instanceof CairnError ? err.details.field : undefined;
    if (!(err instanceof CairnError) || typeof field !== "string" || !Object.hasOwn(flags, field)) throw err;
    throw new CairnError(err.code, err.message, { ...err.details, field: flags[field] }, { cause: err.cause });
  }
}

/** Options meant to be given several times (`repeatable`): their values collect. */
const REPEATABLE: WeakSet<Option> = new WeakSet();

/**
 * Marks `option` as meant to be given several times (its parser collects the values, e.g.
 * `serve --allow-origin`): `refuseRepeatedOptions` lets it repeat. A variadic option
 * (`<values...>`) is repeatable without it.
 */
export function repeatable(option: Option): Option {
  REPEATABLE.add(option);
  return option;
}

/** How an option's value is quoted in the "given twice" message: JSON, cut when long. */
function shownOptionValue(v: unknown): string {
  return v === undefined || v === null ? "no value" : echoedJson(v, SHOWN_OPTION_VALUE_CHARS);
}
const SHOWN_OPTION_VALUE_CHARS = 80;

/**
 * Refuses an option given twice on `cmd` and every command below it (ARCHITECTURE §8: nothing
 * silently dropped or guessed). Commander keeps the last value of an option given twice
 * (`--format jsonl --format csv` read CSV); here the second occurrence is E_USAGE (exit 2)
 * `--format given twice ("jsonl", then "csv"): give it once`, details `{field, values}`, the
 * flag named by its long form whichever spelling was used (`-o`, `--out=x`). Raised from
 * commander's own `option:<name>` events, as the line is parsed: the same tokens commander
 * reads as that option (not a value that looks like a flag, `--seed --x`; nothing after `--`;
 * a global option before or after the subcommand — the program parses both), before the
 * value's parser runs.
 *
 * Not refused: an option marked `repeatable` or variadic (its values collect), and a boolean
 * flag given twice (`--json --json`, `-q -q`: the same meaning twice, nothing dropped). Two
 * flags setting the same value the opposite ways (`--render` and `--no-render`, a negatable
 * pair) conflict: E_USAGE `--no-render conflicts with --render: give one of them`.
 *
 * Call once the command tree is complete (options added later are not watched).
 */
export function refuseRepeatedOptions(cmd: Command): void {
  const given = new Map<string, { option: Option; value: unknown }>();
  for (const option of cmd.options) {
    if (option.variadic || REPEATABLE.has(option)) continue;
    const takesValue = option.required || option.optional;
    const key = option.attributeName();
    const flag = option.long ?? option.short ?? option.flags;
    // Before commander's own listener (which parses and stores the value). Command is an
    // EventEmitter (its typings declare only `on`).
    (cmd as unknown as EventEmitter).prependListener(`option:${option.name()}`, (value: unknown) => {
      const first = given.get(key);
      if (first === undefined) {
        given.set(key, { option, value });
        return;
      }
      if (first.option !== option) {
        const firstFlag = first.option.long ?? first.option.short ?? first.option.flags;
        throw new UsageError(`${flag} conflicts with ${firstFlag}: give one of them`, { field: flag });
      }
      if (!takesValue) return;
      throw new UsageError(`${flag} given twice (${shownOptionValue(first.value)}, then ${shownOptionValue(value)}): give it once`, {
        field: flag,
        values: [first.value ?? null, value ?? null],
      });
    });
  }
  for (const sub of cmd.commands) refuseRepeatedOptions(sub);
}
