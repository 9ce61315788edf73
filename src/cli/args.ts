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
