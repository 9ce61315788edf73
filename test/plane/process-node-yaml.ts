/**
 * Shared by the plane's open-root and evidence-store suites: the `node.yaml` of a node with one
 * process lane on a `local-process-weak` target, as the CLI's `--config` and `loadNodeConfig`
 * read it; and the lane-bound workflow example (`examples/plane/workflow`) set up in a directory.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { generateAuthorityKeyPair, type Ed25519KeyPair } from "../../src/plane/authority/ed25519.js";
import { loadNodeConfig, type NodeConfig } from "../../src/plane/config/node-config.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, type PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";

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

const PLANE_WORKFLOW_EXAMPLE = new URL("../../examples/plane/workflow/", import.meta.url).pathname;

/**
 * The lane-bound workflow example in `dir`: its workflow and payload, `keys/wf.pub` of a fresh key
 * pair, and its `node.yaml` (the example's own, or `WF_NODE` with this `evidence:` value);
 * returns the compiled snapshot, the node config and the key pair.
 */
export async function planeWorkflowExample(dir: string, evidence?: string): Promise<{ pair: Ed25519KeyPair; snap: PreparedSnapshot; cfg: NodeConfig }> {
  for (const f of ["shout.yaml", "payload.json"]) copyFileSync(join(PLANE_WORKFLOW_EXAMPLE, f), join(dir, f));
  if (evidence === undefined) copyFileSync(join(PLANE_WORKFLOW_EXAMPLE, "node.yaml"), join(dir, "node.yaml"));
  else writeProcessNodeYaml(dir, { ...WF_NODE, evidence });
  const pair = generateAuthorityKeyPair();
  mkdirSync(join(dir, "keys"));
  writeFileSync(join(dir, "keys", "wf.pub"), pair.publicKeyPem);
  const c = await compileWorkflows([join(dir, "shout.yaml")]);
  expect(c.diagnostics).toEqual([]);
  const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap"));
  return { pair, snap, cfg: loadNodeConfig(join(dir, "node.yaml")) };
}
