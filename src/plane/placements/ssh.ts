/**
 * The ssh placement for the process lane: the launch becomes one invocation of the system
 * OpenSSH client (`ssh`, BatchMode, no shell on OUR side), whose remote command is a small
 * POSIX-sh script built from the argv with every word single-quoted:
 *
 *   cd 'CWD' || launch-failure cwd          (only when cwd is given)
 *   command -v 'CMD' || launch-failure command
 *   exec [timeout -k GRACE Ts] env [-i] -- 'K=V'... 'CMD' 'ARG'...
 *
 * A launch failure prints `cairn-launch-failed: <what>` on stderr and exits 127, which the lane
 * maps to `launch_failed` (a command that itself prints that marker and exits 127 is
 * indistinguishable: documented). ssh's own connection/authentication failures exit 255
 * (SSH_TRANSPORT_EXIT_CODE) and map to `transport_failed`; a remote command that exits 255 is
 * indistinguishable from that. When the remote host has GNU `timeout`, the remote command is
 * also bounded there (TERM, then KILL after the grace) at the local timeout + grace +
 * SSH_REMOTE_TIMEOUT_MARGIN_MS, because killing the local ssh client does not signal a remote
 * command that has no pty; the local deadline always fires first and decides the outcome.
 */
import { SSH_REMOTE_TIMEOUT_MARGIN_MS } from "../lanes/limits.js";
import type { SshPlacement } from "./placement.js";

export const SSH_LAUNCH_FAILED_MARKER = "cairn-launch-failed: ";

/** Single-quotes a word for POSIX sh. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export interface RemoteLaunch {
  readonly command: string;
  readonly argv: readonly string[];
  /** Variables to set (the projection). */
  readonly env: Readonly<Record<string, string>>;
  readonly clearEnv: boolean;
  readonly cwd?: string;
  readonly timeoutMs: number;
  readonly killGraceMs: number;
}

function launchFailure(what: string): string {
  return `{ printf '%s\\n' ${shQuote(SSH_LAUNCH_FAILED_MARKER + what)} >&2; exit 127; }`;
}

/** The remote sh script. */
export function remoteScript(l: RemoteLaunch): string {
  const lines: string[] = [];
  if (l.cwd !== undefined) lines.push(`cd ${shQuote(l.cwd)} 2>/dev/null || ${launchFailure("cwd")}`);
  lines.push(`command -v ${shQuote(l.command)} >/dev/null 2>&1 || ${launchFailure("command")}`);
  const vars = Object.keys(l.env)
    .sort()
    .map((k) => shQuote(`${k}=${l.env[k] as string}`));
  const envWords = ["env", ...(l.clearEnv ? ["-i"] : []), "--", ...vars];
  const cmd = [...envWords, shQuote(l.command), ...l.argv.map(shQuote)].join(" ");
  const secs = (ms: number): string => `${(ms / 1000).toFixed(3)}s`;
  const remoteTimeoutMs = l.timeoutMs + l.killGraceMs + SSH_REMOTE_TIMEOUT_MARGIN_MS;
  const bounded = `timeout -k ${secs(l.killGraceMs)} ${secs(remoteTimeoutMs)} ${cmd}`;
  lines.push(`if command -v timeout >/dev/null 2>&1; then exec ${bounded}; else exec ${cmd}; fi`);
  return lines.join("\n");
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
