/**
 * The ssh placement for the process lane: the launch becomes one invocation of the system
 * OpenSSH client (`ssh`, BatchMode, no shell on OUR side). Its remote command (run by the remote
 * account's login shell, which must be a POSIX shell) is one line,
 *
 *   exec [env -i] /bin/sh -c 'STAGE2' cairn-lane
 *
 * and STAGE2, a POSIX-sh script with every word of the request single-quoted, does:
 *
 *   read the preamble from stdin        (see below; the rest of stdin is the command's)
 *   cd 'CWD' || launch-failure cwd      (only when cwd is given)
 *   export the env projection           (read from the preamble)
 *   resolve 'CMD' with `command -v` || launch-failure command
 *   print `<marker>:started\n` on stdout (the lane strips it)
 *   [timeout -k GRACE T] "$resolved" 'ARG'...  (or `env -- "$resolved" 'ARG'...` without a
 *                                       `timeout` that accepts that syntax, see below)
 *   report the exit status on the side channel, then exit with it
 *
 * Secrets never reach an argv: the env projection (names and values) travels through ssh's
 * stdin as a preamble ahead of the command's stdin, so it appears neither in the local ssh
 * argv nor in any remote argv (`ps`, /proc/PID/cmdline). The remote shell reads it with the
 * `read` builtin, which on a pipe reads one byte at a time and so never consumes the command's
 * stdin. Preamble format (every line `\n`-terminated):
 *
 *   cairn-preamble-1 <marker> <count>
 *   <name> <lines>        then <lines> raw lines: the value split at `\n` (count times)
 *
 * The side channel: STAGE2 ends stderr with `\n<marker>:<status>\n` (or
 * `\n<marker>:launch-failed:<what>\n` for a missing cwd/command, or an env name the remote
 * shell refused). `<marker>` is `cairn-exit-<random hex>`, fresh per execution and never on an
 * argv, so a command cannot forge it by accident. The lane strips the marker from stderr. Thus:
 * - a marker with a status: a raw fact (`exit_code` = the status as the remote sh reports it;
 *   a command killed by signal N is 128+N, POSIX shell convention);
 * - no status, ssh exited 255 and no `started` line on stdout: ssh's own connection or
 *   authentication failure (the command never started): `transport_failed`;
 * - no status, ssh exited 255 after `started`: the session was lost while the command ran (the
 *   connection dropped, or the remote shell itself was killed): `remote_disconnect`;
 * - no status and another exit: a raw fact with ssh's exit status.
 *
 * With `clearEnv` STAGE2 starts from an empty environment (`env -i`); /bin/sh's own PWD/OLDPWD/
 * SHLVL are unset before the projection is exported, and when the projection has no PATH the
 * command is resolved (unexported) on `/usr/bin:/bin`, the same default the local placement's
 * spawn uses. When the remote host has a `timeout` that accepts `-k GRACE T` with fractional
 * seconds (GNU coreutils, toybox, busybox built with -k and float durations), the remote command
 * is also bounded there (TERM, then KILL after the grace) at the local timeout + grace +
 * SSH_REMOTE_TIMEOUT_MARGIN_MS, because killing the local ssh client does not signal a remote
 * command that has no pty; the local deadline always fires first and decides the outcome. Whether
 * it accepts that syntax is PROBED first, by running `timeout -k GRACE T /bin/sh -c :` with the
 * very same arguments: a `timeout` that refuses them (an older busybox: no `-k`, `-t SECS`, no
 * fractions) is not used, and the command runs unbounded remotely (`env --`) instead of not at
 * all.
 */
import { randomBytes } from "node:crypto";
import { SSH_REMOTE_TIMEOUT_MARGIN_MS } from "../lanes/limits.js";
import type { SshPlacement } from "./placement.js";

/** The first word of the preamble (its format version). */
export const SSH_PREAMBLE_VERSION = "cairn-preamble-1";
/** The marker's prefix; a random suffix makes it unique per execution. */
export const SSH_EXIT_MARKER_PREFIX = "cairn-exit-";
/** The longest side-channel suffix STAGE2 writes to stderr (`\n<marker>:launch-failed:command\n`). */
export const SSH_MARKER_MAX_BYTES = 96;
/** The PATH a cleared environment resolves the command on (Node's spawn default). */
export const SSH_CLEAR_ENV_PATH = "/usr/bin:/bin";
/** Variables /bin/sh exports on its own (dash: PWD, OLDPWD; bash: SHLVL), unset under clear_env. */
export const SSH_SHELL_OWN_VARS = ["PWD", "OLDPWD", "SHLVL"] as const;
/** Env names the ssh placement accepts: shell identifiers, not the script's own `__cairn_` names. */
export const SSH_ENV_NAME = /^(?!__cairn_)[A-Za-z_][A-Za-z0-9_]*$/;
/** The env the local ssh client gets (plus SSH_AUTH_SOCK when the placement sets `use_agent`). */
export const SSH_CLIENT_ENV = ["HOME", "PATH", "USER"] as const;

/** Single-quotes a word for POSIX sh. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export interface RemoteLaunch {
  readonly command: string;
  readonly argv: readonly string[];
  /** The projection. Only its NAMES shape the script (whether PATH is set); values go in the preamble. */
  readonly env: Readonly<Record<string, string>>;
  readonly clearEnv: boolean;
  readonly cwd?: string;
  readonly timeoutMs: number;
  readonly killGraceMs: number;
}

/** A fresh side-channel marker. */
export function newExitMarker(): string {
  return `${SSH_EXIT_MARKER_PREFIX}${randomBytes(12).toString("hex")}`;
}

/** The preamble that carries `marker` and the env projection (sorted by name) on stdin. */
export function envPreamble(marker: string, env: Readonly<Record<string, string>>): string {
  const names = Object.keys(env).sort();
  let out = `${SSH_PREAMBLE_VERSION} ${marker} ${names.length}\n`;
  for (const k of names) {
    const lines = (env[k] as string).split("\n");
    out += `${k} ${lines.length}\n${lines.map((l) => `${l}\n`).join("")}`;
  }
  return out;
}

/** The script /bin/sh runs remotely (STAGE2). Contains no env value. */
export function stage2Script(l: RemoteLaunch): string {
  const secs = (ms: number): string => `${(ms / 1000).toFixed(3)}s`;
  const remoteTimeoutMs = l.timeoutMs + l.killGraceMs + SSH_REMOTE_TIMEOUT_MARGIN_MS;
  const args = l.argv.map(shQuote).join(" ");
  const bound = `timeout -k ${secs(l.killGraceMs)} ${secs(remoteTimeoutMs)}`;
  const tail = args === "" ? "" : ` ${args}`;
  const lines = [
    `IFS=' ' read -r __cairn_v __cairn_m __cairn_n || exit 125`,
    `[ "$__cairn_v" = ${SSH_PREAMBLE_VERSION} ] || exit 125`,
    `__cairn_f() { printf '\\n%s:launch-failed:%s\\n' "$__cairn_m" "$1" >&2; exit 127; }`,
  ];
  if (l.cwd !== undefined) lines.push(`cd ${shQuote(l.cwd)} 2>/dev/null || __cairn_f cwd`);
  if (l.clearEnv) lines.push(`unset ${SSH_SHELL_OWN_VARS.join(" ")}`);
  lines.push(
    `while [ "$__cairn_n" -gt 0 ]; do`,
    `  IFS=' ' read -r __cairn_k __cairn_l || __cairn_f preamble`,
    `  __cairn_x= ; __cairn_s=`,
    `  while [ "$__cairn_l" -gt 0 ]; do`,
    `    IFS= read -r __cairn_y || __cairn_f preamble`,
    `    __cairn_x=$__cairn_x$__cairn_s$__cairn_y; __cairn_s='\n'; __cairn_l=$((__cairn_l - 1))`,
    `  done`,
    `  export "$__cairn_k=$__cairn_x" || __cairn_f env`,
    `  __cairn_n=$((__cairn_n - 1))`,
    `done`,
  );
  if (l.clearEnv && !Object.hasOwn(l.env, "PATH")) lines.push(`PATH=${SSH_CLEAR_ENV_PATH}`);
  lines.push(
    `__cairn_c=$(command -v ${shQuote(l.command)}) || __cairn_f command`,
    `printf '%s:started\\n' "$__cairn_m"`,
    `if command -v timeout >/dev/null 2>&1 && ${bound} /bin/sh -c : >/dev/null 2>&1; then ${bound} "$__cairn_c"${tail}; else env -- "$__cairn_c"${tail}; fi`,
    `__cairn_st=$?`,
    `printf '\\n%s:%s\\n' "$__cairn_m" "$__cairn_st" >&2`,
    `exit "$__cairn_st"`,
  );
  return lines.join("\n");
}

/** The remote command handed to ssh (run by the remote login shell). Contains no env value. */
export function remoteScript(l: RemoteLaunch): string {
  return `exec ${l.clearEnv ? "env -i " : ""}/bin/sh -c ${shQuote(stage2Script(l))} cairn-lane`;
}

/** The local `ssh` argv (without the binary) running `script` on the placement's host. */
export function sshArgv(p: SshPlacement, script: string): string[] {
  const argv = [
    "-F", p.config_file,
    "-T",
    "-o", "BatchMode=yes",
    "-o", `StrictHostKeyChecking=${p.strict_host_key_checking}`,
    "-o", `ConnectTimeout=${p.connect_timeout_s}`,
    "-o", "LogLevel=ERROR",
  ];
  if (p.known_hosts_file !== undefined) argv.push("-o", `UserKnownHostsFile=${p.known_hosts_file}`);
  if (p.identity_file !== undefined) argv.push("-o", "IdentitiesOnly=yes", "-i", p.identity_file);
  if (p.port !== undefined) argv.push("-p", String(p.port));
  argv.push("--", p.destination, script);
  return argv;
}

/** The environment of the local ssh client: HOME, PATH, USER, and SSH_AUTH_SOCK only with `use_agent`. */
export function sshClientEnv(p: SshPlacement, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of SSH_CLIENT_ENV) if (from[k] !== undefined) env[k] = from[k];
  if (p.use_agent && from.SSH_AUTH_SOCK !== undefined) env.SSH_AUTH_SOCK = from.SSH_AUTH_SOCK;
  return env;
}

/** The line STAGE2 prints on stdout right before it runs the command. */
export function startedLine(marker: string): string {
  return `${marker}:started\n`;
}

/** What the side channel said, and the stderr without it. */
export type RemoteStatus = { kind: "exit"; status: number } | { kind: "launch_failed"; what: string } | { kind: "none" };

/**
 * Finds the side-channel suffix `\n<marker>:<report>\n` at the end of `tail` (the last bytes of
 * ssh's stderr). Returns the report and how many bytes of the stream it occupies.
 */
export function parseRemoteStatus(tail: Buffer, marker: string): { status: RemoteStatus; bytes: number } {
  const text = tail.toString("latin1");
  const start = text.lastIndexOf(`\n${marker}:`);
  if (start === -1 || !text.endsWith("\n")) return { status: { kind: "none" }, bytes: 0 };
  const report = text.slice(start + marker.length + 2, -1);
  const bytes = text.length - start;
  const exit = /^(\d{1,3})$/.exec(report);
  if (exit !== null) return { status: { kind: "exit", status: Number(exit[1]) }, bytes };
  const launch = /^launch-failed:([a-z]+)$/.exec(report);
  if (launch !== null) return { status: { kind: "launch_failed", what: launch[1] as string }, bytes };
  return { status: { kind: "none" }, bytes: 0 };
}
