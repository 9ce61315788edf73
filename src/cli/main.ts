#!/usr/bin/env node
/**
 * The `cairn` command line. Exit codes: 0 success, 1 failure (not found, corrupt, locked,
 * I/O, fsck problems…), 2 usage error (bad arguments, malformed digest).
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { CairnError, ErrorCode, exitCodeFor, isCairnError, osErrorText } from "../core/errors.js";
import { parseDuration } from "./duration.js";
import { checkLockWait } from "../store/lock.js";
import { printError } from "./output.js";
import { nonEmptyArg, refuseRepeatedOptions } from "./args.js";

// The first statement of the program (ESM evaluates the imports above first; none of them reads
// the time zone): batch workers share this process's time zone, so local-time Date methods in
// user functions (getHours, toString…) agree on every machine.
process.env.TZ = "UTC";

function packageVersion(): string {
  // Same relative path from src/cli/main.ts and dist/cli/main.js.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "0.0.0";
}

/**
 * The subcommands, grouped by the module that defines them, in help order. Modules are imported
 * on demand: a one-shot command (`cairn wf run …`) loads only its own module and its
 * dependencies, not the batch engine, the plane or esbuild. `--version` loads none; help and
 * unknown commands load all.
 */
const COMMAND_GROUPS: readonly { names: readonly string[]; load: () => Promise<Command[]> }[] = [
  { names: ["init", "store"], load: async () => { const m = await import("./store-commands.js"); return [m.initCommand(), m.storeCommand()]; } },
  {
    names: ["snapshot", "gc", "fsck", "lineage"],
    load: async () => { const m = await import("./maintenance-commands.js"); return [m.snapshotCommand(), m.gcCommand(), m.fsckCommand(), m.lineageCommand()]; },
  },
  {
    names: ["run", "resume", "verify", "replay", "runs"],
    load: async () => { const m = await import("./batch-commands.js"); return [m.runCommand(), m.resumeCommand(), m.verifyCommand(), m.replayCommand(), m.runsCommand()]; },
  },
  { names: ["wf"], load: async () => [(await import("./workflow-commands.js")).wfCommand()] },
  { names: ["serve"], load: async () => [(await import("./serve-command.js")).serveCommand()] },
  { names: ["examine"], load: async () => [(await import("./examine-commands.js")).examineCommand()] },
  { names: ["plane"], load: async () => [(await import("./plane-commands.js")).planeCommand()] },
];

/**
 * `--store`'s help. Most commands use `--store`, else `$CAIRN_STORE`, else `./.cairn`; those
 * for which a store is optional (a run, a compile, the gateway, an examination) record into or
 * read from one only when one is named (context.ts `storeDirOf`; wf-compile.ts, examine-commands.ts,
 * workflow-commands.ts, serve-command.ts).
 */
const STORE_HELP =
  "store directory (default: $CAIRN_STORE, else ./.cairn; `wf run`, `wf compile`, `serve` and `examine` use a store only when --store or $CAIRN_STORE is set)";

/** Global options that take a value (their value is not the subcommand's name). */
const VALUE_OPTIONS: ReadonlySet<string> = new Set(["--store", "--wait"]);

/** The subcommand named in `args` (argv without node and script), if any. */
function requestedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    // `cairn --help wf` prints the top-level help, which lists every command: load them all.
    if (a === "--" || a === "-h" || a === "--help") return undefined;
    if (VALUE_OPTIONS.has(a)) { i++; continue; }
    if (a.startsWith("-")) continue;
    return a;
  }
  return undefined;
}

/** The command modules `args` needs: the one group naming its subcommand, else all of them. */
async function loadCommands(args: readonly string[]): Promise<Command[]> {
  const name = requestedCommand(args);
  // `cairn --version` prints the version and exits: it needs no command module.
  const isVersion = (a: string): boolean => a === "-V" || a === "--version";
  if (name === undefined && args.some(isVersion) && args.every((a) => isVersion(a) || a === "--json" || a === "-q" || a === "--quiet")) return [];
  const group = name === undefined ? undefined : COMMAND_GROUPS.find((g) => g.names.includes(name));
  const groups = group === undefined ? COMMAND_GROUPS : [group];
  return (await Promise.all(groups.map((g) => g.load()))).flat();
}

/**
 * What to do when no file descriptor is left: this process's limit (EMFILE) or the system's
 * (ENFILE). The code is E_STORE_IO, as for every such failure (store/artifact-reads.ts,
 * batch/sandbox/start-error.ts): the files are not at fault.
 */
const FD_EXHAUSTED_HINTS: Readonly<Record<string, string>> = {
  EMFILE: "too many open files (EMFILE): raise the limit (ulimit -n) and retry",
  ENFILE: "too many open files in the system (ENFILE): raise the system's limit or close other programs, and retry",
};
/** `details.reason` of `fdExhaustedError`. */
const FD_EXHAUSTED_REASON = "open_files_exhausted";
/** A file every system has, opened (and closed) to ask whether a descriptor is left. */
const FD_PROBE_PATH = "/dev/null";

/** EMFILE or ENFILE when `err` is an fs error of that errno, or when a descriptor cannot be had right now; else undefined. */
function fdExhaustedErrno(err: unknown): string | undefined {
  const e = err as Partial<NodeJS.ErrnoException> | null;
  if (typeof e?.syscall === "string" && typeof e.code === "string" && Object.hasOwn(FD_EXHAUSTED_HINTS, e.code)) return e.code;
  try {
    closeSync(openSync(FD_PROBE_PATH, "r"));
    return undefined;
  } catch (probe) {
    const code = (probe as NodeJS.ErrnoException).code;
    return code !== undefined && Object.hasOwn(FD_EXHAUSTED_HINTS, code) ? code : undefined;
  }
}

/**
 * A failure that is not Cairn's own error (`isCairnError`) while the process has no file
 * descriptor left: E_STORE_IO saying so and what to do, Node's text kept. Node's ESM resolver
 * reports a package.json it could not open for want of a descriptor as a missing package
 * ("Cannot find package …esbuild", ERR_MODULE_NOT_FOUND), and a module file as the raw fs error:
 * both were E_INTERNAL. Undefined for anything else (printed as it is). `during` prefixes the
 * message (what could not be done).
 */
function fdExhaustedError(err: unknown, during?: string): CairnError | undefined {
  if (isCairnError(err)) return undefined;
  const errno = fdExhaustedErrno(err);
  if (errno === undefined) return undefined;
  const node = err instanceof Error ? err.message : String(err);
  return new CairnError(ErrorCode.STORE_IO, `${during === undefined ? "" : `${during}: `}${FD_EXHAUSTED_HINTS[errno] as string} (Node reported: ${node})`, { errno, reason: FD_EXHAUSTED_REASON }, { cause: err });
}

/** Subcommands added with addCommand() do not inherit settings; copy them down the tree. */
function inheritSettings(cmd: Command): void {
  for (const sub of cmd.commands) {
    sub.copyInheritedSettings(cmd);
    inheritSettings(sub);
  }
}

/**
 * `help [command]` for every command with subcommands, in place of commander's implicit one,
 * which shows the parent's help and then exits like a missing command for an unknown name
 * (`cairn help bogus`). This one prints the named command's help (`cairn help wf compile`: the
 * command path), and for an unknown name fails as `cairn bogus` does. Added after
 * inheritSettings: it must keep its own help option (none) and take the extra names.
 */
function addHelpCommands(cmd: Command): void {
  for (const sub of cmd.commands) addHelpCommands(sub);
  if (cmd.commands.length === 0 || cmd.commands.some((c) => c.name() === "help")) return;
  const help = new Command("help").description("display help for command").argument("[command]", "the command to describe");
  help.copyInheritedSettings(cmd);
  help
    .allowExcessArguments(true)
    .action((_name: string | undefined, _opts: unknown, self: Command) => {
      let target = cmd;
      for (const name of self.args) {
        const next = target.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (next === undefined) throw new CairnError(ErrorCode.USAGE, `unknown command '${name}'`);
        target = next;
      }
      target.help();
    });
  cmd.addCommand(help);
}

export async function buildProgram(args: readonly string[] = process.argv.slice(2)): Promise<Command> {
  const program = new Command("cairn")
    .description("Cairn: a deterministic, verifiable execution runtime with a content-addressed store")
    .version(packageVersion(), "-V, --version", "print the version")
    .addOption(new Option("--store <dir>", STORE_HELP).argParser(nonEmptyArg("--store")))
    .option("--json", "print exactly one JSON value to stdout (errors as JSON on stderr; `store get` without -o still writes the bytes)")
    .option("-q, --quiet", "print only essential output")
    .addOption(new Option("--wait <ms>", "how long a writer waits for the store's writer lock (ms, or 5s, 1m…)").argParser((v) => checkLockWait(parseDuration(v, "--wait"), "--wait")))
    .exitOverride()
    // main() prints parse errors itself; with --json also the help commander shows for a
    // missing subcommand stays off stderr, which then holds the one JSON error.
    .configureOutput(argsWantJson(args) ? { outputError: () => undefined, writeErr: () => undefined } : { outputError: () => undefined })
    .configureHelp({ showGlobalOptions: true });
  for (const cmd of await loadCommands(args)) program.addCommand(cmd);
  inheritSettings(program);
  addHelpCommands(program);
  // An option that takes one value, given twice, is E_USAGE (args.ts): never last-wins.
  refuseRepeatedOptions(program);
  return program;
}

/** Whether `--json` is among the arguments before any `--`. */
function argsWantJson(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--json");
}

/** Whether --json was asked for, even when parsing failed part-way. */
function wantsJson(program: Command, args: string[]): boolean {
  return program.opts<{ json?: boolean }>().json === true || argsWantJson(args);
}

/** Runs the CLI and returns the process exit code. Never throws. */
export async function main(argv: string[] = process.argv): Promise<number> {
  let program: Command;
  try {
    program = await buildProgram(argv.slice(2));
  } catch (caught) {
    // A command module that fails to load is a bug (or a broken install): report it like any
    // error — unless no file descriptor was left to read it (`fdExhaustedError`).
    const err = fdExhaustedError(caught, "cannot load the command's modules") ?? caught;
    printError(err, argv.slice(2).includes("--json"));
    return exitCodeFor(err);
  }
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
      // Help shown because a subcommand is missing is already on stderr; say so as a usage error too.
      if (err.code === "commander.help") {
        if (err.exitCode === 0) return 0;
        printError(new CairnError(ErrorCode.USAGE, "missing command (--help lists them)"), wantsJson(program, argv.slice(2)));
        return 2;
      }
      // One line: commander puts its suggestion ("(Did you mean run?)") on a line of its own.
      printError(new CairnError(ErrorCode.USAGE, err.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ")), wantsJson(program, argv.slice(2)));
      return 2;
    }
    if ((err as NodeJS.ErrnoException).code === "EPIPE") return 1; // the reader went away
    // A module loaded on demand later (esbuild's plugin, the plane…) may meet the same limit.
    const e = fdExhaustedError(err) ?? err;
    printError(e, wantsJson(program, argv.slice(2)));
    return exitCodeFor(e);
  }
}

process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  // A closed pipe (`cairn store get … | head`) is not worth a stack trace.
  if (err.code === "EPIPE") process.exit(1);
  // Any other failure to write stdout (ENOSPC, EIO…) is reported like every error — one line on
  // stderr (or JSON with --json), exit 1 — never as an uncaught exception. Nothing else may
  // destroy stdout (`store get` copies to it without `pipeline`), but an error that is not a
  // write error is still reported as itself.
  const json = argsWantJson(process.argv.slice(2));
  const e = isCairnError(err) ? err : new CairnError(ErrorCode.STORE_IO, `cannot write stdout: ${osErrorText(err)}`, { path: "stdout" }, { cause: err });
  printError(e, json);
  process.exit(exitCodeFor(e));
});

process.exitCode = await main();
