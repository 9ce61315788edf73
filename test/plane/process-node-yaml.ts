/**
 * Shared by the plane's open-root and evidence-store suites: the `node.yaml` of a node with one
 * process lane on a `local-process-weak` target, as the CLI's `--config` and `loadNodeConfig`
 * read it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ProcessNodeYaml {
  /** The `evidence:` value, e.g. `{ jsonl: evidence.jsonl, store: true }`. */
  evidence: string;
  nodeId?: string;
  audience?: string;
  /** The trusted key's id: its public key is read from `keys/<keyId>.pub`. */
  keyId?: string;
  /** One policy entry. */
  policy?: string;
}

/** The generic node (`n1`, audience `aud`, key `ops`, subject alice may use every lane and operation). */
export const OPS_NODE = { nodeId: "n1", audience: "aud", keyId: "ops", policy: '{ subject: alice, lanes: ["*"], operations: ["*"] }' } as const;
/** The lane-bound workflow example's node (`examples/plane/workflow`). */
export const WF_NODE = { nodeId: "wf-local", audience: "cairn-wf", keyId: "wf", policy: "{ subject: wf-runtime, lanes: [process], operations: [run] }" } as const;

/** Writes `<dir>/node.yaml`. */
export function writeProcessNodeYaml(dir: string, o: ProcessNodeYaml): void {
  const n = { ...OPS_NODE, ...o };
  writeFileSync(
    join(dir, "node.yaml"),
    `node_id: ${n.nodeId}
authority: { audience: ${n.audience}, trusted_keys: [{ id: ${n.keyId}, public_key_file: keys/${n.keyId}.pub }], policy: [${n.policy}] }
lanes: [process]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: ${n.evidence}
`,
  );
}
