/**
 * `cairn plane sign/exec/describe` against the BUILT cli: request files holding a member twice
 * or a number a double changes are refused naming file, member and position; an invalid request
 * refused by `sign` names its file; node-config errors name the config as given; ids minted by
 * two processes in one millisecond (`plane exec`, `wf run --plane-config`) differ.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { TempDirs, cairn, json, jsonError, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;

const CONFIG = `node_id: n1
authority: { audience: aud1, trusted_keys: [ { id: ops, public_key_file: keys/ops.pub } ], policy: [ { subject: alice, lanes: ["*"], operations: ["*"] } ] }
lanes: [ process ]
targets: [ { target_id: t, lane_id: process, attestation_class: local-process-weak } ]
evidence: { jsonl: evidence.jsonl }
`;

/** Date.now frozen at one instant, the same in every process given `frozen()` (they share a millisecond). */
let T: number;
const frozen = (): Record<string, string> => ({ NODE_OPTIONS: `--import ${join(dir, "freeze.mjs")}` });

function run(args: string[], env: Record<string, string> = {}): RunResult {
  return cairn(args, { cwd: dir, env });
}

const SIGN = ["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "aud1", "--ttl", "300", "--request"];

function signed(name: string, request: Record<string, unknown>, env: Record<string, string> = {}): string {
  writeFileSync(join(dir, `${name}.req.json`), JSON.stringify(request));
  const r = run([...SIGN, `${name}.req.json`], env);
  expect(r.err).toBe("");
  writeFileSync(join(dir, `${name}.json`), r.out);
  return `${name}.json`;
}

const request = (key: string, argv: string[]) => ({
  contract_version: 1,
  idempotency_key: key,
  lane_id: "process",
  operation: "run",
  payload: { command: "echo", argv },
  acceptable_attestation: { classes: ["local-process-weak"] },
});

beforeAll(() => {
  dir = temps.make();
  expect(run(["plane", "keygen", "--out", "keys", "--id", "ops"]).status).toBe(0);
  writeFileSync(join(dir, "node.yaml"), CONFIG);
  T = Date.now();
  writeFileSync(join(dir, "freeze.mjs"), `const T = ${T}; Date.now = () => T;\n`);
});
afterAll(() => temps.cleanup());

describe("request files: a member written twice", () => {
  it("sign refuses it at any depth, naming file, member and both positions", () => {
    writeFileSync(
      join(dir, "dup.json"),
      '{"contract_version":1,"idempotency_key":"dup1","lane_id":"process","operation":"run",\n "payload":{"command":"echo","argv":["FIRST"],"argv":["SECOND"]},\n "acceptable_attestation":{"classes":["local-process-weak"]}}\n',
    );
    const r = run(["--json", ...SIGN, "dup.json"]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
    expect(jsonError(r)).toEqual({
      code: "E_INVALID_INPUT",
      message: 'request dup.json: line 2, column 47: $.payload.argv: member "argv" written twice in one object (first at line 2, column 30): JSON.parse would keep the last value and drop the other',
      details: { path: "dup.json", member: "$.payload.argv", line: 2, column: 47, first: { line: 2, column: 30 } },
    });
  });
  it("exec refuses a signed request with a decoy member prepended, before anything runs", () => {
    const s = readFileSync(join(dir, signed("ok", request("k-ok", ["SECOND"]))), "utf8");
    writeFileSync(join(dir, "decoy.json"), s.replace("{\n", '{\n  "payload": {"command": "echo", "argv": ["DECOY"]},\n'));
    const r = run(["plane", "exec", "--config", "node.yaml", "--request", "decoy.json"]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/^cairn: request decoy\.json: line \d+, column 3: \$\.payload: member "payload" written twice in one object \(first at line 2, column 3\): .* \[E_INVALID_INPUT\]\n$/);
    // the undecorated file runs
    const ok = run(["plane", "exec", "--config", "node.yaml", "--request", "ok.json", "--json"]);
    expect(ok.status, ok.err).toBe(0);
    expect(json<{ output: { stdout: string } }>(ok).output.stdout).toBe("SECOND\n");
  });
});

describe("request files: numbers a double would change", () => {
  const big = (metadata: string) =>
    `{"contract_version":1,"idempotency_key":"big","lane_id":"process","operation":"run",\n "payload":{"command":"echo","argv":["x"],"timeout_ms":5000},\n "metadata":${metadata},\n "acceptable_attestation":{"classes":["local-process-weak"]}}`;
  it("sign refuses an integer beyond ±(2^53−1) and an over-long decimal, telling to write it as a string", () => {
    writeFileSync(join(dir, "big.json"), big('{"ok":9007199254740991,"account":12345678901234567890}'));
    const r = run(["--json", ...SIGN, "big.json"]);
    expect(r.status).toBe(1);
    expect(jsonError(r)).toEqual({
      code: "E_INVALID_INPUT",
      message:
        "request big.json: line 3, column 46: $.metadata.account: the integer 12345678901234567890 is beyond ±(2^53−1), the largest integer kept exactly (canonical JSON numbers are IEEE doubles): it would become 12345678901234567000; write it as a string",
      details: { path: "big.json", member: "$.metadata.account", line: 3, column: 46 },
    });
    writeFileSync(join(dir, "dec.json"), big('{"amount":0.1000000000000000055511151231257827}'));
    const d = run([...SIGN, "dec.json"]);
    expect(d.status).toBe(1);
    expect(d.err).toBe(
      "cairn: request dec.json: line 3, column 23: $.metadata.amount: the number 0.1000000000000000055511151231257827 is not kept exactly (canonical JSON numbers are IEEE doubles): it would become 0.1; write it as a string [E_INVALID_INPUT]\n",
    );
  });
  it("exec refuses them too (stdin included); numbers a double keeps are signed and run as written", () => {
    const r = cairn(["plane", "exec", "--config", "node.yaml", "--request", "-"], { cwd: dir, input: big('{"n":9007199254740993}') });
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^cairn: request -: line 3, column 18: \$\.metadata\.n: the integer 9007199254740993 is beyond/);
    writeFileSync(join(dir, "fine.json"), big('{"a":9007199254740991,"b":0.1,"c":2.0,"d":1e21,"e":-0.5e-3,"s":"12345678901234567890"}'));
    const s = run([...SIGN, "fine.json"]);
    expect(s.status, s.err).toBe(0);
    expect(json<{ metadata: unknown }>(s).metadata).toEqual({ a: 9007199254740991, b: 0.1, c: 2, d: 1e21, e: -0.0005, s: "12345678901234567890" });
  });
});

describe("an invalid request refused by sign names the request file", () => {
  it("schema errors and values canonical JSON cannot hold", () => {
    writeFileSync(join(dir, "r.json"), '{"contract_version":1,"lane_id":"process","operation":"run","payload":{}}');
    const r = run(["--json", ...SIGN, "r.json"]);
    expect(r.status).toBe(1);
    expect(jsonError(r)).toEqual({
      code: "E_INVALID_INPUT",
      message: "request r.json: AdmissionRequest: $.idempotency_key: Required",
      details: { contract: "AdmissionRequest", path: "r.json", member: "$.idempotency_key" },
    });
    writeFileSync(join(dir, "ls.json"), JSON.stringify(request("k", ["x"])).replace('"x"', '"\\ud800"'));
    const l = run([...SIGN, "ls.json"]);
    expect(l.status).toBe(1);
    expect(l.err).toMatch(/^cairn: request ls\.json: .*lone surrogate.*\$\.payload\.argv\[0\]/);
  });
});

describe("node-config errors name the config file as given", () => {
  it("relative stays relative, for loader, lane-option and trusted-key errors alike", () => {
    const cases: Array<[string, string]> = [
      [CONFIG.replace("lanes: [ process ]", "lanes: [ process, process ]"), 'cairn: bad.yaml: lanes[1]: duplicate lane id "process" [E_INVALID_INPUT]\n'],
      [CONFIG.replace("lanes: [ process ]", "lanes: [ {kind: process, max_output_bytes: 0} ]"), "cairn: bad.yaml: lanes[0].max_output_bytes: Number must be greater than 0 [E_INVALID_INPUT]\n"],
      [CONFIG.replace("keys/ops.pub", "keys/ops.key"), expect.stringMatching(/^cairn: bad\.yaml: authority\.trusted_keys\[0\]\.public_key_file: trusted key ops: .*PRIVATE key/)],
    ] as Array<[string, string]>;
    for (const [yaml, expected] of cases) {
      writeFileSync(join(dir, "bad.yaml"), yaml);
      const r = run(["plane", "describe", "--config", "bad.yaml"]);
      expect(r.status).toBe(1);
      expect(r.err).toEqual(expected);
    }
    // given absolute, named absolute
    const abs = join(dir, "bad.yaml");
    const a = run(["--json", "plane", "describe", "--config", abs]);
    expect(jsonError(a).message).toMatch(new RegExp(`^${abs.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: authority\\.trusted_keys\\[0\\]`));
    expect(jsonError(a).details).toMatchObject({ file: abs, key: "authority.trusted_keys[0].public_key_file" });
  });
});

describe("ids minted by two processes in one millisecond differ", () => {
  it("plane exec: execution refs and evidence ids in a shared evidence file", () => {
    const a = signed("sa", request("ka", ["A"]), frozen());
    const b = signed("sb", request("kb", ["B"]), frozen());
    writeFileSync(join(dir, "evidence.jsonl"), "");
    const refs = [a, b].map((f) => {
      const r = run(["plane", "exec", "--config", "node.yaml", "--request", f, "--json"], frozen());
      expect(r.status, r.err).toBe(0);
      return json<{ execution_ref: string }>(r).execution_ref;
    });
    // the clock is frozen: same millisecond in both
    expect(refs.every((r) => r.startsWith(`exec-${T}-`))).toBe(true);
    expect(refs[0]).not.toBe(refs[1]);
    const ids = readFileSync(join(dir, "evidence.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { evidence_id: string }).evidence_id);
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
  });
  it("wf run --plane-config: the lane steps' evidence ids", () => {
    const SHOUT = `process.stdout.write(JSON.stringify({digest:"ok"}))`;
    const decl = {
      cairn: "cairn.workflow/v1",
      namespace: "lanes",
      code: "WF_IDS_V0",
      entry: "n",
      nodes: {
        n: {
          steps: [{ id: "up", ct: "hash", inputs: { value: "$.payload.text" }, lane: { kind: "process", operation: "run", payload: { object: { command: { const: process.execPath }, argv: { const: ["-e", SHOUT] }, timeout_ms: { const: 20000 } } }, acceptable_attestation: { classes: ["local-process-weak"] }, result_json: "stdout" } }],
          routes: { SUCCESS: { exit: "DONE", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "x" }, BACKEND_ERROR: { exit: "BROKEN", reason: "failed" } },
        },
      },
    };
    writeFileSync(join(dir, "wf.yaml"), stringify(decl));
    for (const p of ["p1", "p2"]) writeFileSync(join(dir, `${p}.json`), JSON.stringify({ text: p }));
    writeFileSync(join(dir, "wfnode.yaml"), CONFIG.replace("evidence.jsonl", "wf-evidence.jsonl"));
    expect(run(["wf", "compile", "wf.yaml", "--out", "snap.json"]).status).toBe(0);
    for (const p of ["p1", "p2"]) {
      const r = run(["wf", "run", "--snapshot", "snap.json", "--payload", `${p}.json`, "--plane-config", "wfnode.yaml", "--plane-key", "keys/ops.key", "--plane-subject", "alice", "--json", "--no-render"], frozen());
      expect(r.status, r.err).toBe(0);
    }
    const ids = readFileSync(join(dir, "wf-evidence.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { evidence_id: string }).evidence_id);
    expect(ids).toHaveLength(8);
    expect(ids.every((id) => id.startsWith(`ev-${T}-`))).toBe(true);
    expect(new Set(ids).size).toBe(8);
  });
});
