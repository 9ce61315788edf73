#!/usr/bin/env node
/**
 * The `cairn` command line. Exit codes: 0 success, 1 failure (not found, corrupt, locked,
 * I/O, fsck problems…), 2 usage error (bad arguments, malformed digest).
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { CairnError, ErrorCode, exitCodeFor } from "../core/errors.js";
import { parseDuration } from "./duration.js";
import { printError } from "./output.js";
import { initCommand, storeCommand } from "./store-commands.js";
import { fsckCommand, gcCommand, lineageCommand, snapshotCommand } from "./maintenance-commands.js";
import { replayCommand, resumeCommand, runCommand, runsCommand, verifyCommand } from "./batch-commands.js";
import { wfCommand } from "./workflow-commands.js";
import { examineCommand } from "./examine-commands.js";
import { serveCommand } from "./serve-command.js";
import { planeCommand } from "./plane-commands.js";

// The first statement of the program (ESM evaluates the imports above first; none of them reads
// the time zone): batch workers share this process's time zone, so local-time Date methods in
// user functions (getHours, toString…) agree on every machine.
process.env.TZ = "UTC";

function packageVersion(): string {
  // Same relative path from src/cli/main.ts and dist/cli/main.js.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "0.0.0";
}

/** Subcommands added with addCommand() do not inherit settings; copy them down the tree. */
function inheritSettings(cmd: Command): void {
  for (const sub of cmd.commands) {
    sub.copyInheritedSettings(cmd);
    inheritSettings(sub);
  }
}

export function buildProgram(): Command {
  const program = new Command("cairn")
    .description("Cairn: a deterministic, verifiable execution runtime with a content-addressed store")
    .version(packageVersion(), "-V, --version", "print the version")
    .addOption(new Option("--store <dir>", "store directory (default: $CAIRN_STORE, else ./.cairn)"))
    .option("--json", "print exactly one JSON value to stdout (errors as JSON on stderr)")
    .option("-q, --quiet", "print only essential output")
    .addOption(new Option("--wait <ms>", "how long a writer waits for the store's writer lock (ms, or 5s, 1m…)").argParser((v) => parseDuration(v, "--wait")))
    .exitOverride()
    .configureOutput({ outputError: () => undefined }) // main() prints parse errors itself
    .configureHelp({ showGlobalOptions: true });
  program
    .addCommand(initCommand())
    .addCommand(storeCommand())
    .addCommand(snapshotCommand())
    .addCommand(gcCommand())
    .addCommand(fsckCommand())
    .addCommand(lineageCommand())
    .addCommand(runCommand()).addCommand(resumeCommand()).addCommand(verifyCommand()).addCommand(replayCommand()).addCommand(runsCommand())
    .addCommand(wfCommand()).addCommand(serveCommand())
    .addCommand(examineCommand())
    .addCommand(planeCommand());
  inheritSettings(program);
  return program;
}

/** Whether --json was asked for, even when parsing failed part-way. */
function wantsJson(program: Command, args: string[]): boolean {
  if (program.opts<{ json?: boolean }>().json === true) return true;
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--json");
}

/** Runs the CLI and returns the process exit code. Never throws. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
      // Help shown because a subcommand is missing is already on stderr: just exit 2.
      if (err.code === "commander.help") return err.exitCode === 0 ? 0 : 2;
      printError(new CairnError(ErrorCode.USAGE, err.message.replace(/^error: /, "")), wantsJson(program, argv.slice(2)));
      return 2;
    }
    if ((err as NodeJS.ErrnoException).code === "EPIPE") return 1; // the reader went away
    printError(err, wantsJson(program, argv.slice(2)));
    return exitCodeFor(err);
  }
}

process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  // A closed pipe (`cairn store get … | head`) is not worth a stack trace.
  if (err.code === "EPIPE") process.exit(1);
  throw err;
});

process.exitCode = await main();
