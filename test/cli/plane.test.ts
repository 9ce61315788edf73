/** `cairn plane …` end to end against the BUILT cli: keygen → sign → exec on a real process lane. */
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalDigest, canonicalize } from "../../src/core/canonical.js";
import { signAuthorityRef } from "../../src/plane/authority/ed25519.js";
import { requestHash } from "../../src/plane/authority/request-hash.js";
import { TempDirs, cairn, json, type RunResult, PLANE_PROCESS_REQUEST } from "./helpers.js";

const temps = new TempDirs();
let dir: string;

const CONFIG = `node_id: local-1
authority: { audience: cairn-local, trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }],
             policy: [{ subject: alice, lanes: [process, http], operations: ["*"] }] }
lanes: [inline, process, http]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: { jsonl: evidence.jsonl, store: true }
`;

const REQUEST = PLANE_PROCESS_REQUEST;

function run(args: string[], input?: string): RunResult {
  return cairn(args, { cwd: dir, env: { CAIRN_STORE: join(dir, "store") }, ...(input === undefined ? {} : { input }) });
}

function write(name: string, value: unknown): string {
  writeFileSync(join(dir, name), typeof value === "string" ? value : JSON.stringify(value));
  return name;
}

function sign(reqFile: string, extra: string[] = []): Record<string, unknown> {
  const r = run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "cairn-local", "--ttl", "60", "--request", reqFile, ...extra]);
  expect(r.err).toBe("");
  expect(r.status).toBe(0);
  return json(r);
}

const ID = (p: string) => new RegExp(`^${p}-\\d{13}-[0-9a-f]{16}-\\d+$`);

beforeAll(() => {
  dir = temps.make();
  const k = run(["plane", "keygen", "--out", "keys", "--id", "ops", "--json"]);
  expect(k.status).toBe(0);
  const kj = json<Record<string, string>>(k);
  expect(kj).toEqual({ id: "ops", private_key_file: "keys/ops.key", public_key_file: "keys/ops.pub", ed25519: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
  write("node.yaml", CONFIG);
  write("req.json", REQUEST);
});
afterAll(() => temps.cleanup());

describe("cairn plane keygen", () => {
  it("writes a private key readable only by its owner and a public key", () => {
    expect(statSync(join(dir, "keys/ops.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "keys/ops.key"), "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(join(dir, "keys/ops.pub"), "utf8")).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  });
  it("refuses to overwrite, derives an id when none is given, rejects bad ids", () => {
    const again = run(["plane", "keygen", "--out", "keys", "--id", "ops"]);
    expect(again.status).toBe(1);
    expect(again.err).toContain("already exists");
    const anon = run(["plane", "keygen", "--out", "k2", "--json"]);
    expect(json<{ id: string }>(anon).id).toMatch(/^key-[0-9a-f]{16}$/);
    expect(run(["plane", "keygen", "--out", "k3", "--id", "../evil"]).status).toBe(2);
  });
  it("never follows a symlink at the key path and leaves no temp files; --force replaces the link itself", () => {
    const victim = join(dir, "victim.txt");
    writeFileSync(victim, "do not touch\n");
    mkdirSync(join(dir, "k4"), { recursive: true });
    symlinkSync(victim, join(dir, "k4", "s.key"));
    const refused = run(["plane", "keygen", "--out", "k4", "--id", "s"]);
    expect(refused.status).toBe(1);
    expect(refused.err).toContain("already exists");
    const forced = run(["plane", "keygen", "--out", "k4", "--id", "s", "--force"]);
    expect(forced.status).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("do not touch\n");
    expect(lstatSync(join(dir, "k4", "s.key")).isSymbolicLink()).toBe(false);
    expect(statSync(join(dir, "k4", "s.key")).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, "k4")).sort()).toEqual(["s.key", "s.pub"]);
  });
});

describe("cairn plane sign", () => {
  it("prints the request with a signed authority_ref bound to the whole request (request_hash), the payload hash, lane and operation", () => {
    const s = sign("req.json");
    const { authority_ref: ref, ...rest } = s as { authority_ref: Record<string, unknown> };
    expect(rest).toEqual(REQUEST);
    expect(ref).toEqual({
      contract_version: 1,
      ref: expect.stringMatching(/^auth-[0-9a-f]{16}$/),
      subject: "alice",
      audience: "cairn-local",
      payload_hash: canonicalDigest(REQUEST.payload),
      issued_at: expect.any(Number),
      expires_at: (ref.issued_at as number) + 60_000,
      key_id: "ops",
      lane_id: "process",
      operation: "run",
      signature: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
      metadata: { request_hash: requestHash(REQUEST) },
    });
    expect(Math.abs((ref.issued_at as number) - Date.now())).toBeLessThan(60_000);
  });
  it("reads the request from stdin with --request -", () => {
    const r = run(["plane", "sign", "--key", "keys/ops.key", "--key-id", "ops", "--subject", "alice", "--audience", "cairn-local", "--ttl", "5", "--request", "-"], JSON.stringify(REQUEST));
    expect(r.status).toBe(0);
    expect(json<{ authority_ref: { payload_hash: string; key_id: string } }>(r).authority_ref).toMatchObject({ payload_hash: canonicalDigest(REQUEST.payload), key_id: "ops" });
  });
  it("usage errors exit 2", () => {
    expect(run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "a", "--request", "req.json"]).status).toBe(2); // no --ttl
    for (const ttl of ["0", "31622401"]) {
      const r = run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "a", "--ttl", ttl, "--request", "req.json"]);
      expect(r.status).toBe(2);
      expect(r.err).toContain(`invalid --ttl "${ttl}": expected an integer in 1..31622400 [E_USAGE]`);
    }
    expect(run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "a", "--ttl", "abc", "--request", "req.json"]).status).toBe(2);
    const missing = run(["plane", "sign", "--key", "nope.key", "--subject", "alice", "--audience", "a", "--ttl", "5", "--request", "req.json"]);
    expect(missing.status).toBe(1);
    expect(missing.err).toContain("nope.key");
  });
});

describe("cairn plane exec", () => {
  it("keygen → sign → exec on the process lane: exact ExecutionResult JSON, exit 0, evidence in JSONL and the store", () => {
    write("signed.json", sign("req.json"));
    const r = run(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"]);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    const res = json<Record<string, unknown>>(r);
    expect(res).toEqual({
      contract_version: 1,
      events: [],
      evidence: [expect.stringMatching(ID("ev")), expect.stringMatching(ID("ev")), expect.stringMatching(ID("ev")), expect.stringMatching(ID("ev"))],
      execution_ref: expect.stringMatching(ID("exec")),
      output: { exit_code: 0, signal: null, stderr: "", stderr_truncated: false, stdout: "ok\n", stdout_truncated: false },
      provenance: { admission_ref: expect.stringMatching(ID("adm")), details: {}, kind: "node_admitted" },
      status: "succeeded",
    });
    // stdout is exactly the key-sorted result, two-space indented
    expect(r.out).toBe(`${JSON.stringify(JSON.parse(canonicalize(res)), null, 2)}\n`);
    const lines = readFileSync(join(dir, "evidence.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((e) => [e.evidence_type, e.evidence_id, e.request_id, e.target_id, e.attestation_class, e.lane_id])).toEqual(
      ["admission.accepted", "target.selected", "execution.started", "execution.completed"].map((t, i) => [
        t,
        (res.evidence as string[])[i],
        (res.provenance as { admission_ref: string }).admission_ref,
        "local",
        "local-process-weak",
        "process",
      ]),
    );
    // the store holds the evidence; lineage walks from the output artifact back to the input
    const ls = json<Array<{ digest: string; mediaType: string }>>(run(["store", "ls", "--json"]));
    const output = ls.find((a) => a.mediaType === "application/vnd.cairn.plane.output+json")?.digest as string;
    const input = ls.find((a) => a.mediaType === "application/vnd.cairn.plane.request+json")?.digest as string;
    const lin = json<{ nodes: Array<{ digest: string }>; edges: Array<{ type: string; role: string }> }>(run(["lineage", output, "--json"]));
    expect(lin.nodes).toHaveLength(6);
    expect(lin.nodes.map((n) => n.digest)).toContain(input);
    expect(lin.edges.map((e) => `${e.type}/${e.role}`)).toEqual(["plane.evidence/input", "plane.evidence/previous", "plane.evidence/previous", "plane.evidence/previous", "plane.evidence/output"]);
  });

  it("human output", () => {
    write("signed-h.json", sign("req.json"));
    const r = run(["plane", "exec", "--config", "node.yaml", "--request", "signed-h.json"]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^succeeded {2}exec-\d{13}-[0-9a-f]{16}-\d+\n\{\n {2}"exit_code": 0,/);
    expect(r.out).toMatch(/\nstored: input sha256:[0-9a-f]{64}, output sha256:[0-9a-f]{64} \(cairn lineage <digest>\)\n$/);
  });

  function rejected(file: string): { reason: string; details: Record<string, unknown> } {
    const r = run(["plane", "exec", "--config", "node.yaml", "--request", file, "--json"]);
    expect(r.status).toBe(1);
    const res = json<{ status: string; execution_ref: null; rejection: { reason: string; details: Record<string, unknown> }; error: unknown }>(r);
    expect(res.status).toBe("rejected");
    expect(res.execution_ref).toBeNull();
    expect(res.error).toEqual(res.rejection); // the CLI contract reads error.reason
    return res.rejection;
  }

  it("rejections exit 1 with the reason code: unsigned, tampered payload, wrong audience, expired, policy", () => {
    expect(rejected("req.json").reason).toBe("authority_ref_missing");
    const signed = sign("req.json");
    write("tampered.json", { ...signed, payload: { command: "rm", argv: ["-rf", "/tmp/x"] } });
    expect(rejected("tampered.json")).toMatchObject({ reason: "authority_rejected", details: { reason: "payload_hash_mismatch" } });
    write("aud.json", run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "elsewhere", "--ttl", "60", "--request", "req.json"]).out);
    expect(rejected("aud.json")).toMatchObject({ reason: "authority_rejected", details: { reason: "audience_mismatch" } });
    write("bob.json", run(["plane", "sign", "--key", "keys/ops.key", "--subject", "bob", "--audience", "cairn-local", "--ttl", "60", "--request", "req.json"]).out);
    expect(rejected("bob.json")).toMatchObject({ reason: "policy_denied", details: { subject: "bob" } });
    const past = Date.now() - 120_000;
    const expiredRef = signAuthorityRef({
      privateKey: readFileSync(join(dir, "keys/ops.key"), "utf8"),
      keyId: "ops",
      subject: "alice",
      audience: "cairn-local",
      request: REQUEST,
      issuedAt: past,
      expiresAt: past + 60_000,
    });
    write("expired.json", { ...REQUEST, authority_ref: expiredRef });
    expect(rejected("expired.json")).toMatchObject({ reason: "authority_expired", details: { reason: "expired" } });
    // every other bound field: rewriting it after signing is request_hash_mismatch
    const rewrites: Record<string, unknown> = {
      acceptable_attestation: { classes: ["local-process-weak", "other"] },
      placement: { kind: "ssh" },
      idempotency_key: "k-other",
      metadata: { who: "mallory" },
      constraints: [1],
      provenance: { kind: "node_admitted", details: { x: 1 } },
      sandbox_profile: { profile_ref: "p", bundle_hash: "h" },
    };
    for (const [field, value] of Object.entries(rewrites)) {
      write("rewritten.json", { ...signed, [field]: value });
      expect(rejected("rewritten.json"), field).toMatchObject({ reason: "authority_rejected", details: { reason: "request_hash_mismatch" } });
    }
    // a request_id added after signing is fine (it is not bound: the node mints one when missing)
    write("with-id.json", { ...signed, request_id: "my-id-1" });
    expect(run(["plane", "exec", "--config", "node.yaml", "--request", "with-id.json", "--json"]).status).toBe(0);
    write("v2.json", { ...signed, contract_version: 2 });
    expect(rejected("v2.json").reason).toBe("contract_version_mismatch");
    write("inline.json", { ...REQUEST, lane_id: "inline" });
    write("inline-signed.json", sign("inline.json"));
    expect(rejected("inline-signed.json").reason).toBe("policy_denied");
  });

  it("a missing command is failed/launch_failed, a timeout is failed/timeout, a non-zero exit is a raw fact (exit 1)", () => {
    const exec = (payload: object) => {
      write("p.json", { ...REQUEST, payload });
      write("p-signed.json", sign("p.json"));
      const r = run(["plane", "exec", "--config", "node.yaml", "--request", "p-signed.json", "--json"]);
      expect(r.status).toBe(1);
      return json<{ status: string; failure?: { class: string }; output: Record<string, unknown> }>(r);
    };
    const missing = exec({ command: "/definitely/not/here", argv: [] });
    expect([missing.status, missing.failure?.class]).toEqual(["failed", "launch_failed"]);
    const slow = exec({ command: "sleep", argv: ["5"], timeout_ms: 300 });
    expect([slow.status, slow.failure?.class]).toEqual(["failed", "timeout"]);
    const nonzero = exec({ command: "sh", argv: ["-c", "echo partial; exit 3"] });
    expect(nonzero.status).toBe("failed");
    expect(nonzero.failure).toBeUndefined();
    expect(nonzero.output).toMatchObject({ exit_code: 3, stdout: "partial\n" });
  });

  it("bad input: unreadable or non-JSON request exits 1; missing options exit 2", () => {
    write("bad.json", "{nope");
    const bad = run(["plane", "exec", "--config", "node.yaml", "--request", "bad.json"]);
    expect(bad.status).toBe(1);
    expect(bad.err).toContain("not valid JSON");
    writeFileSync(join(dir, "latin1.json"), Buffer.from('{"contract_version": 1,\n "x": "caf\xe9"}', "latin1"));
    const latin1 = run(["plane", "exec", "--config", "node.yaml", "--request", "latin1.json"]);
    expect(latin1.status).toBe(1);
    expect(latin1.err).toContain("latin1.json: line 2: not valid UTF-8");
    expect(run(["plane", "exec", "--config", "node.yaml"]).status).toBe(2);
    // a request that is JSON but not an AdmissionRequest is a rejection, not a crash
    write("weird.json", { contract_version: 1, lane_id: 7 });
    expect(rejected("weird.json")).toMatchObject({ reason: "invalid_request", details: { path: "$.lane_id" } });
  });
});

describe("cairn plane exec redaction", () => {
  it("a secret in the payload (env, argv, stdin) and echoed on stdout reaches neither the JSONL file nor the store", async () => {
    const { readdirSync } = await import("node:fs");
    const SECRET = "sk-live-CLI-S3CR3T-9f8e7d6c";
    const d = temps.make();
    const cfg = CONFIG.replace("keys/ops.pub", join(dir, "keys/ops.pub"));
    writeFileSync(join(d, "node.yaml"), cfg);
    const payload = { command: "sh", argv: ["-c", `echo "$API_TOKEN"; cat; echo ${SECRET}`], env: { API_TOKEN: SECRET }, stdin: `password=${SECRET}\n`, timeout_ms: 5000 };
    writeFileSync(join(d, "req.json"), JSON.stringify({ ...REQUEST, payload, idempotency_key: SECRET.slice(0, 3) }));
    const signed = cairn(["plane", "sign", "--key", join(dir, "keys/ops.key"), "--subject", "alice", "--audience", "cairn-local", "--ttl", "60", "--request", "req.json"], { cwd: d });
    writeFileSync(join(d, "signed.json"), signed.out);
    const env = { CAIRN_STORE: join(d, "store") };
    const r = cairn(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd: d, env });
    expect(r.status).toBe(0);
    expect(json<{ output: { stdout: string } }>(r).output.stdout).toBe(`${SECRET}\npassword=${SECRET}\n${SECRET}\n`); // the caller gets the raw output
    const files: string[] = [];
    const walk = (p: string): void => {
      for (const e of readdirSync(p, { withFileTypes: true })) (e.isDirectory() ? walk : (f: string) => files.push(f))(join(p, e.name));
    };
    walk(join(d, "store"));
    files.push(join(d, "evidence.jsonl"));
    expect(files.length).toBeGreaterThan(2);
    for (const f of files) expect(readFileSync(f).includes(Buffer.from("S3CR3T")), f).toBe(false);
    // and every artifact read back through the CLI
    const ls = json<Array<{ digest: string }>>(cairn(["store", "ls", "--json"], { cwd: d, env }));
    expect(ls.length).toBe(6);
    for (const a of ls) expect(cairn(["store", "get", a.digest], { cwd: d, env }).stdout.includes(Buffer.from("S3CR3T"))).toBe(false);
  });
});

describe("cairn plane describe and config errors", () => {
  it("describe --json prints the NodeDescriptor; describing never creates a store", () => {
    const d2 = temps.make();
    writeFileSync(join(d2, "node.yaml"), CONFIG.replace("keys/ops.pub", join(dir, "keys/ops.pub")));
    const r = cairn(["plane", "describe", "--config", "node.yaml", "--json"], { cwd: d2, env: { CAIRN_STORE: join(d2, "store") } });
    expect(r.status).toBe(0);
    const d = json<Record<string, unknown>>(r);
    expect(d).toMatchObject({
      contract_version: 1,
      node_id: "local-1",
      contract_version_range: { min: 1, max: 1 },
      authority_verifier: "cairn.plane:ed25519-authority:v1",
      registration_complete: true,
      registered_target_verifiers: [{ verifier_id: "cairn.plane:local-weak-verifier:v1", attestation_types: ["local-process-weak"], capability_classes: ["local-process-weak"] }],
      metadata: { policy_bundle_hash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), evidence_sinks: ["jsonl", "store"] },
    });
    expect((d.registered_lanes as Array<{ lane_id: string }>).map((l) => l.lane_id)).toEqual(["http", "inline", "process"]);
    expect((d.verified_targets as Array<Record<string, unknown>>).map((t) => [t.target_id, t.lane_id, t.attested_capability_classes])).toEqual([["local", "process", ["local-process-weak"]]]);
    expect(() => statSync(join(d2, "store"))).toThrow();
    const human = cairn(["plane", "describe", "--config", "node.yaml"], { cwd: d2 });
    expect(human.out).toContain("targets:\n  local  lane process  local-process-weak  expires ");
  });

  it("config errors name the key", () => {
    const cases: Array<[string, string]> = [
      [CONFIG.replace("public_key_file: keys/ops.pub", "public_key_file: keys/missing.pub"), "authority.trusted_keys[0].public_key_file: cannot read"],
      [CONFIG.replace("node_id: local-1", "node_id: local-1\nsurprise: 1"), "surprise: unknown key"],
      [CONFIG.replace("audience: cairn-local,", ""), "authority.audience: Required"],
      [CONFIG.replace("lane_id: process, attestation_class", "lane_id: ghost, attestation_class"), "targets[0].lane_id: lane \"ghost\" is not declared in lanes"],
      [CONFIG.replace("attestation_class: local-process-weak", "attestation_class: microvm"), "targets[0].attestation_class: unsupported attestation class"],
      [CONFIG.replace("lanes: [inline, process, http]", "lanes: [inline, {kind: process, max_output_bytes: -1}, http]"), "lanes[1].max_output_bytes"],
      [CONFIG.replace("lanes: [inline, process, http]", "lanes: [inline, process, http, teleport]"), "lanes[3].kind: unknown lane kind"],
      [CONFIG.replace("lanes: [inline, process, http]", "lanes: [inline, process]"), 'authority.policy[0].lanes[1]: lane "http" is not declared in lanes'],
      // a private key configured as the public key file is refused, naming exactly that key
      [
        CONFIG.replace("trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }]", "trusted_keys: [{ id: a, public_key_file: keys/ops.pub }, { id: ab, public_key_file: keys/ops.key }]"),
        "authority.trusted_keys[1].public_key_file: trusted key ab: is a PRIVATE key",
      ],
    ];
    for (const [text, msg] of cases) {
      write("bad.yaml", text);
      const r = run(["plane", "describe", "--config", "bad.yaml"]);
      expect(r.status, msg).toBe(1);
      expect(r.err).toContain(`bad.yaml: ${msg}`);
    }
  });
});

describe("examples/plane", () => {
  it("the example config and requests work as the README says", async () => {
    const { cpSync } = await import("node:fs");
    const { fileURLToPath } = await import("node:url");
    const d = temps.make();
    cpSync(fileURLToPath(new URL("../../examples/plane/", import.meta.url)), d, { recursive: true });
    const env = { CAIRN_STORE: join(d, "store") };
    const c = (args: string[]) => cairn(args, { cwd: d, env });
    expect(c(["plane", "keygen", "--out", "keys", "--id", "ops"]).status).toBe(0);
    expect(c(["plane", "describe", "--config", "node.yaml"]).status).toBe(0);
    for (const [req, status, cls] of [
      ["request.json", 0, undefined],
      ["timeout-request.json", 1, "timeout"],
    ] as const) {
      const signed = c(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "cairn-local", "--ttl", "60", "--request", req]);
      expect(signed.status).toBe(0);
      writeFileSync(join(d, "signed.json"), signed.out);
      const r = c(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"]);
      expect(r.status).toBe(status);
      expect(json<{ failure?: { class: string } }>(r).failure?.class).toBe(cls);
    }
    expect(readFileSync(join(d, "evidence.jsonl"), "utf8").trim().split("\n")).toHaveLength(8);
  });
});
