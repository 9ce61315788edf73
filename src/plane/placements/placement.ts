/**
 * Placements: WHERE a lane's effect runs. Every lane runs `local` (in or beside the node's own
 * process); the process lane can also run over `ssh` (the system OpenSSH client). `guest` (a
 * guest-bridge, as in the reference model) is a recognised kind that no lane supports yet.
 *
 * A lane's placement is fixed by the NODE's configuration (operator-controlled: a request can
 * never name an arbitrary host). A request may state the placement kind it expects in
 * `admission_request.placement` (`{ "kind": "ssh" }`); when that kind is not the lane's
 * configured placement, or the lane kind cannot run there, the execution fails with
 * `placement_unavailable` before any I/O. There is no fallback to another placement.
 */
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import type { LaneFailure } from "../lanes/lane.js";
import { MAX_SSH_CONNECT_TIMEOUT_S, SSH_CONNECT_TIMEOUT_S } from "../lanes/limits.js";

export const PLACEMENT_KINDS = ["local", "ssh", "guest"] as const;
export type PlacementKind = (typeof PLACEMENT_KINDS)[number];

/** The reference model's surface names, reported in LaneCapabilities.surfaces. */
export const PLACEMENT_SURFACES: Readonly<Record<PlacementKind, string>> = Object.freeze({
  local: "local_subprocess",
  ssh: "ssh_exec",
  guest: "guest_bridge",
});

export const localPlacementSchema = z.object({ kind: z.literal("local") }).strict();

export const sshPlacementSchema = z
  .object({
    kind: z.literal("ssh"),
    /** `host` or `user@host`. Must not start with `-` (it would be read as an ssh option). */
    destination: z.string().regex(/^[^\s-][^\s]*$/, { message: "must be a host or user@host without spaces, not starting with -" }),
    port: z.number().int().min(1).max(65535).optional(),
    /** Private key (`ssh -i`, with IdentitiesOnly=yes). */
    identity_file: z.string().min(1).optional(),
    /** known_hosts file (`UserKnownHostsFile`); default: the user's. */
    known_hosts_file: z.string().min(1).optional(),
    /** `StrictHostKeyChecking`: `yes` (default, fail closed), `accept-new` or `no`. */
    strict_host_key_checking: z.enum(["yes", "accept-new", "no"]).default("yes"),
    connect_timeout_s: z.number().int().min(1).max(MAX_SSH_CONNECT_TIMEOUT_S).default(SSH_CONNECT_TIMEOUT_S),
    /** The ssh client binary. */
    ssh_command: z.string().min(1).default("ssh"),
    /** The ssh config file (`-F`); default `/dev/null`, so user config cannot alter the launch. */
    config_file: z.string().min(1).default("/dev/null"),
    /**
     * Hand the node's SSH_AUTH_SOCK to the ssh client (agent authentication). Default false: the
     * client gets only HOME, PATH and USER from the node's environment.
     */
    use_agent: z.boolean().default(false),
  })
  .strict();
export type SshPlacement = z.output<typeof sshPlacementSchema>;

export const guestPlacementSchema = z.object({ kind: z.literal("guest") }).passthrough();

export const placementSchema = z.discriminatedUnion("kind", [localPlacementSchema, sshPlacementSchema, guestPlacementSchema]);
export type Placement = z.output<typeof placementSchema>;

export const LOCAL_PLACEMENT: Placement = Object.freeze({ kind: "local" });

/** What a request may state about placement: only the kind it expects. */
const requestedPlacementSchema = z.object({ kind: z.string().min(1) }).strict();

/** The placement failure (never retried elsewhere: no fallback). */
export function placementUnavailable(message: string, details: Record<string, JsonValue>): LaneFailure {
  return { class: "placement_unavailable", message, details };
}

/**
 * Checks the lane can run on `configured`, and that the request's stated placement (if any)
 * is that placement. Returns the failure, or null.
 */
export function checkPlacement(
  laneId: string,
  supported: readonly PlacementKind[],
  configured: Placement,
  requested: Record<string, JsonValue> | undefined,
): LaneFailure | null {
  if (!supported.includes(configured.kind)) {
    return placementUnavailable(`lane ${laneId} cannot run on a ${configured.kind} placement`, {
      lane_id: laneId,
      placement: configured.kind,
      supported: [...supported],
    });
  }
  if (requested === undefined) return null;
  const r = requestedPlacementSchema.safeParse(requested);
  if (!r.success) {
    return placementUnavailable("admission_request.placement must be { kind } only", { lane_id: laneId, requested });
  }
  if (r.data.kind !== configured.kind) {
    return placementUnavailable(`lane ${laneId} runs on ${configured.kind}, not ${r.data.kind}`, {
      lane_id: laneId,
      requested: r.data.kind,
      placement: configured.kind,
      supported: [configured.kind],
    });
  }
  return null;
}
