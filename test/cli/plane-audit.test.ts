/** `cairn plane exec` (the BUILT cli) on a peer result that cannot be canonically encoded. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cairn, spawnCairn, TempDirs } from "./helpers.js";

const temps = new TempDirs();
let dir: string;

let server: Server;
let origin: string;

const config = (): string => `node_id: n1
authority: { audience: aud, trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }],
             policy: [{ subject: alice, lanes: ["*"], operations: ["*"] }] }
lanes: [{ kind: jsonrpc, id: rpc, transport: { kind: http, url: "${origin}/rpc" } }]
targets: [{ target_id: peer, lane_id: rpc, attestation_class: declared-endpoint-weak, endpoint: "${origin}" }]
evidence: { jsonl: evidence.jsonl }
`;

const REQUEST = {
  contract_version: 1,
  lane_id: "rpc",
  operation: "call",
  idempotency_key: "k1",
  payload: { method: "anything" },
  acceptable_attestation: { classes: ["declared-endpoint-weak"] },
};

beforeAll(async () => {
  // A JSON-RPC peer answering every call with a result holding a lone surrogate (`"\\ud800"` as
  // a JSON escape: valid JSON text, not well-formed Unicode).
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      const { id } = JSON.parse(body) as { id: string };
      res.writeHead(200, { "content-type": "application/json" }).end(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":"\\ud800"}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = temps.make();
  expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd: dir }).status).toBe(0);
  writeFileSync(join(dir, "node.yaml"), config());
  writeFileSync(join(dir, "req.json"), JSON.stringify(REQUEST));
  const signed = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "aud", "--ttl", "120", "--request", "req.json"], { cwd: dir });
  expect(signed.status).toBe(0);
  writeFileSync(join(dir, "signed.json"), signed.out);
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  temps.cleanup();
});

describe("cairn plane exec: a peer result holding a lone surrogate", () => {
  it("is failed/protocol_framing_failed (invalid_json) with and without --json, never E_CANONICAL; evidence binds the output", async () => {
    for (const flags of [["--json"], []]) {
      // async: this process serves the peer while the CLI runs
      const { stdout, stderr, exited } = spawnCairn(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", ...flags], { cwd: dir });
      const done = await exited;
      const r = { code: done.code, out: stdout(), err: stderr() };
      expect(r.err).toBe("");
      expect(r.code).toBe(1);
      if (flags.length > 0) {
        expect(JSON.parse(r.out)).toMatchObject({ status: "failed", output: null, failure: { class: "protocol_framing_failed", details: { reason: "invalid_json" } } });
      } else {
        expect(r.out).toMatch(/^failed {2}exec-\d+-[0-9a-f]{16}-\d+ {2}protocol_framing_failed: the frame holds a value JSON cannot carry canonically/);
        // output null: no bare `null` line, the status line then the evidence note
        expect(r.out.split("\n")).toEqual([expect.stringMatching(/^failed {2}exec-\d+-[0-9a-f]{16}-\d+ {2}protocol_framing_failed: /), expect.stringMatching(/^evidence: \S/), ""]);
      }
    }
    const completed = readFileSync(join(dir, "evidence.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { evidence_type: string; payload: { output?: { fingerprint: unknown } } })
      .filter((e) => e.evidence_type === "execution.completed");
    expect(completed).toHaveLength(2);
    for (const e of completed) expect(e.payload.output?.fingerprint).not.toBeNull();
  });
});
