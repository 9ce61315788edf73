/**
 * User-acceptance findings of 2026-11-27 (u1) through the BUILT cli (`$CAIRN_TEST_CLI`):
 * `plane exec` with its JSONL evidence on a FIFO nobody reads fails at once with E_STORE_IO
 * instead of blocking its thread beyond the reach of signals (F11); a request holding a lone
 * surrogate is `invalid_request` (F13); a `placement: {kind: "ssh"}` asked of a local lane is
 * `placement_unavailable` (F3); a jsonrpc lane over stdio is targetable (F12); a bad lane id in
 * the config is named (F4).
 */
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { cairn, CLI, json, reapAfterEach, spawnCairn, TempDirs } from "./helpers.js";

/** Safety net for a child that never ends (not a speed assertion). */
const WAIT_LIMIT_MS = 30_000;

const PEER = fileURLToPath(new URL("../plane/fixtures/lanes/peer.mjs", import.meta.url));

const CONFIG = `node_id: n1
authority: { audience: aud1, trusted_keys: [ { id: ops, public_key_file: keys/ops.pub } ], policy: [ { subject: alice, lanes: ["*"], operations: ["*"] } ] }
lanes: [ process ]
targets:
  - { target_id: t, lane_id: process, attestation_class: local-process-weak }
evidence: { jsonl: evidence.jsonl }
`;

/** CONFIG plus a jsonrpc lane over stdio (the test peer) with a local-process-weak target. */
const RPC_CONFIG = CONFIG.replace("lanes: [ process ]", `lanes: [ process, { kind: jsonrpc, id: rpc, transport: { kind: stdio, command: ${JSON.stringify(process.execPath)}, argv: [ ${JSON.stringify(PEER)} ] } } ]`).replace(
  "targets:\n",
  "targets:\n  - { target_id: t-rpc, lane_id: rpc, attestation_class: local-process-weak }\n",
);

const temps = new TempDirs();
const { children } = reapAfterEach(temps);

function setup(config = CONFIG): string {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const dir = temps.make();
  expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd: dir }).status).toBe(0);
  writeFileSync(join(dir, "node.yaml"), config);
  return dir;
}

const REQUEST = {
  contract_version: 1,
  lane_id: "process",
  operation: "run",
  idempotency_key: "k1",
  payload: { command: "/bin/sh", argv: ["-c", "touch ran"] },
  acceptable_attestation: { classes: ["local-process-weak"] },
};

function sign(dir: string, request: Record<string, unknown>): string {
  writeFileSync(join(dir, "req.json"), JSON.stringify(request));
  const r = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "aud1", "--ttl", "300", "--request", "req.json"], { cwd: dir });
  expect(r.err).toBe("");
  writeFileSync(join(dir, "signed.json"), r.out);
  return "signed.json";
}

describe("F11: plane exec with its evidence JSONL on a FIFO nobody reads", () => {
  it("fails at once with E_STORE_IO naming the file (never blocks), nothing dispatched", async () => {
    const dir = setup(CONFIG.replace("jsonl: evidence.jsonl", "jsonl: ev.fifo"));
    execFileSync("mkfifo", [join(dir, "ev.fifo")]);
    const signed = sign(dir, REQUEST);
    const c = spawnCairn(["plane", "exec", "--config", "node.yaml", "--request", signed, "--json"], { cwd: dir });
    children.push(c.child);
    // Before the fix the process blocked in open(2) on its main thread: no signal handler could
    // run, only SIGKILL ended it. The safety net kills it and fails the test.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<"blocked">((resolve) => (timer = setTimeout(() => resolve("blocked"), WAIT_LIMIT_MS)));
    const ended = await Promise.race([c.exited, limit]);
    clearTimeout(timer);
    expect(ended).toEqual({ code: 1, signal: null });
    const path = join(dir, "ev.fifo");
    expect(JSON.parse(c.stderr())).toEqual({
      error: { code: "E_STORE_IO", message: `cannot write evidence file ${path}: not a regular file (a FIFO); evidence is appended to a regular file only`, details: { path, reason: "not_regular_file" } },
    });
    expect(c.stdout()).toBe("");
    expect(existsSync(join(dir, "ran"))).toBe(false);
  });
});

describe("admission through the CLI", () => {
  it("F13: an unsigned request holding a lone surrogate is invalid_request naming the member, not authority_ref_missing", () => {
    const dir = setup();
    writeFileSync(join(dir, "sur.json"), JSON.stringify(REQUEST).replace('"touch ran"', '"\\ud800"'));
    const r = cairn(["plane", "exec", "--config", "node.yaml", "--request", "sur.json", "--json"], { cwd: dir });
    expect(r.status).toBe(1);
    expect(json(r)).toMatchObject({ status: "rejected", error: { reason: "invalid_request", details: { path: "$.payload.argv[1]", reason: "lone_surrogate" } } });
  });

  it("F3: placement ssh on the local process lane is placement_unavailable", () => {
    const dir = setup();
    const r = cairn(["plane", "exec", "--config", "node.yaml", "--request", sign(dir, { ...REQUEST, placement: { kind: "ssh" } }), "--json"], { cwd: dir });
    expect(r.status).toBe(1);
    expect(json(r)).toMatchObject({
      status: "rejected",
      error: { reason: "placement_unavailable", details: { lane_id: "process", requested: "ssh", placement: "local", classes: ["local-process-weak"] } },
    });
    expect(existsSync(join(dir, "ran"))).toBe(false);
  });

  it("F12: a jsonrpc lane over stdio with a local-process-weak target runs a governed request", () => {
    const dir = setup(RPC_CONFIG);
    const req = { contract_version: 1, lane_id: "rpc", operation: "call", idempotency_key: "k1", payload: { method: "add", params: { a: 2, b: 40 } }, acceptable_attestation: { classes: ["local-process-weak"] } };
    const r = cairn(["plane", "exec", "--config", "node.yaml", "--request", sign(dir, req), "--json"], { cwd: dir });
    expect(r.err).toBe("");
    expect(json(r)).toMatchObject({ status: "succeeded", output: { result: { sum: 42 } } });
  });

  it("F4: a bad lane id in the config is named", () => {
    const dir = setup(CONFIG.replace("lanes: [ process ]", 'lanes: [ { kind: process, id: "bad id!" } ]'));
    const r = cairn(["plane", "describe", "--config", "node.yaml"], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.err).toBe("cairn: node.yaml: lanes[0].id: must match ^[a-z][a-z0-9_.-]{0,63}$ [E_INVALID_INPUT]\n");
  });
});
