/** Cairn snapshot runs end to end (the built CLI): trace pictures and --no-render, `wf replay`, `examine` with the run's snapshot. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { digestToBytes, type Digest } from "../../src/core/digest.js";
import { cairn } from "./helpers.js";

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const PAYLOADS = join(EXAMPLES, "payloads");
const WF = "registry::WF_REGISTER_AGENT_V0";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function box(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-wfc-"));
  dirs.push(d);
  return d;
}

interface RunDoc {
  status: string;
  traceId: string;
  traceDir: string;
  snapshot: string;
  digests: { trace: string };
}

/** Compiles the example into snap.json and the store st (cwd), returns the digest. */
function compile(cwd: string): string {
  const c = cairn(["--store", "st", "wf", "compile", EXAMPLES, "--out", "snap.json"], { cwd });
  expect(c.status).toBe(0);
  return c.out.trim().split("\n").pop()!;
}

function runJson(cwd: string, payloadFile: string, extra: string[] = []): RunDoc {
  const r = cairn(["--store", "st", "wf", "run", "--snapshot", "snap.json", "--payload", join(PAYLOADS, payloadFile), "--json", ...extra], { cwd });
  expect([0, 1]).toContain(r.status);
  return JSON.parse(r.out) as RunDoc;
}

describe("cairn wf run --snapshot: pictures", () => {
  it("writes <trace_id>.svg and .png by default; --no-render skips them; the trace is the same either way", () => {
    const cwd = box();
    compile(cwd);
    const doc = runJson(cwd, "register-ok.json");
    const id = doc.traceId;
    expect(readdirSync(join(cwd, doc.traceDir)).sort()).toEqual([`${id}.jsonl`, `${id}.md`, `${id}.png`, `${id}.svg`]);
    const svg = readFileSync(join(cwd, doc.traceDir, `${id}.svg`), "utf8");
    for (const t of ["<title>n4</title>", "<title>n4&#45;&gt;n3</title>", "REGISTERED", "ALREADY_REGISTERED"]) expect(svg).toContain(t);
    expect(readFileSync(join(cwd, doc.traceDir, `${id}.png`)).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);

    const other = box();
    compile(other);
    const plain = runJson(other, "register-ok.json", ["--no-render"]);
    expect(plain.traceId).toBe(id);
    expect(readdirSync(join(other, plain.traceDir)).sort()).toEqual([`${id}.jsonl`, `${id}.md`]);
    expect(readFileSync(join(other, plain.traceDir, `${id}.jsonl`)).equals(readFileSync(join(cwd, doc.traceDir, `${id}.jsonl`)))).toBe(true);
    expect(plain.digests).toEqual(doc.digests);
  });
});

describe("cairn wf replay (Cairn runs)", () => {
  it("replays recorded runs by id and by trace file (exit 0); an unknown id exits 1", () => {
    const cwd = box();
    compile(cwd);
    const first = runJson(cwd, "register-ok.json", ["--no-render"]);
    const second = runJson(cwd, "register-ok.json", ["--no-render"]);
    expect([first.status, second.status]).toEqual(["SUCCESS", "ALREADY_EXISTS"]);
    const human = cairn(["--store", "st", "wf", "replay", second.traceId], { cwd });
    expect(human.status).toBe(0);
    expect(human.out).toBe(`trace id: ${second.traceId}\nworkflow: ${WF}\nstatus: ALREADY_EXISTS\nreplay: identical\n`);
    const byFile = cairn(["--store", "st", "wf", "replay", join(first.traceDir, `${first.traceId}.jsonl`), "--json"], { cwd });
    expect(byFile.status).toBe(0);
    expect(JSON.parse(byFile.out)).toEqual({ identical: true, traceId: first.traceId, workflow: WF, status: "SUCCESS", recordedTrace: first.digests.trace, replayedTrace: first.digests.trace });
    const unknown = "0123456789abcdef__WF_REGISTER_AGENT_V0__ABCD";
    const missing = cairn(["--store", "st", "wf", "replay", unknown], { cwd });
    expect(missing.status).toBe(1);
    expect(missing.err).toContain(`Recorded run ${unknown} not found in the store`);
  });

  it("a changed snapshot in the store is refused: exit 1, E_SNAPSHOT_INTEGRITY", () => {
    const cwd = box();
    const digest = compile(cwd) as Digest;
    const run = runJson(cwd, "register-ok.json", ["--no-render"]);
    const db = new Database(join(cwd, "st/catalog.sqlite"));
    try {
      const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(digest)) as { bytes: Buffer };
      const bytes = Buffer.from(row.bytes);
      bytes[bytes.indexOf("malformed")] = "M".charCodeAt(0);
      db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(bytes, digestToBytes(digest));
    } finally {
      db.close();
    }
    const r = cairn(["--store", "st", "wf", "replay", run.traceId], { cwd });
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain(`snapshot integrity check failed (digest): the recorded snapshot ${digest} of run ${run.traceId} was changed in the store`);
    expect(r.err).toContain("[E_SNAPSHOT_INTEGRITY]");
    // Loading it by digest for a run is refused the same way (not as a bare E_STORE_CORRUPT).
    const byDigest = cairn(["--store", "st", "wf", "run", "--snapshot", digest, "--payload", join(PAYLOADS, "register-ok.json"), "--no-render"], { cwd });
    expect(byDigest.status).toBe(1);
    expect(byDigest.err).toContain(`snapshot integrity check failed (digest): snapshot ${digest} was changed in the store`);
    expect(byDigest.err).toContain("[E_SNAPSHOT_INTEGRITY]");
  });
});

describe("cairn examine (Cairn runs)", () => {
  it("reads the declaration from the store, or --snapshot FILE; without either it says where to look", () => {
    const cwd = box();
    const digest = compile(cwd);
    const bad = runJson(cwd, "register-bad-email.json", ["--no-render"]);
    expect(bad.status).toBe("VIOLATION");
    const fromStore = cairn(["--store", "st", "examine", bad.traceDir], { cwd });
    expect(fromStore.status).toBe(0);
    const lines = fromStore.out.split("\n");
    expect(lines).toContain("outcome:     business_violation");
    expect(lines).toContain("             step owner: CT agent.normalize_owner (addr 2)");
    expect(lines.find((l) => l.startsWith("declaration: "))).toMatch(/^declaration: register-agent\.yaml \(sha256:[0-9a-f]{12}…\), node validate of registry::WF_REGISTER_AGENT_V0 in sealed snapshot store artifact sha256:[0-9a-f]{64}$/);
    expect(lines).toContain("             routes: SUCCESS → node register, VIOLATION → exit REJECTED (the registration request is malformed)");
    expect(lines).toContain(`snapshot:    store artifact ${digest}, verified`);

    const fromFile = cairn(["examine", bad.traceDir, "--snapshot", "snap.json", "--json"], { cwd });
    expect(fromFile.status).toBe(0);
    const doc = JSON.parse(fromFile.out) as { snapshot: unknown; failure: { declaration: { source: string; cairn: { node: string; step: { id: string; declared: string } } } }; notes: string[] };
    expect(doc.snapshot).toEqual({ source: "snap.json", recorded: digest, current: digest, matches: true });
    expect(doc.failure.declaration.source).toBe("cairn_snapshot");
    expect(doc.failure.declaration.cairn).toMatchObject({ node: "validate", step: { id: "owner", declared: "ct: agent.normalize_owner" } });
    expect(doc.notes).toEqual([]);

    const none = cairn(["examine", bad.traceDir], { cwd });
    expect(none.status).toBe(0);
    expect(none.out).toContain("note:        no sealed snapshot to read the declarations from (give --snapshot FILE, the sealed file the run used, or --store with the run recorded): routes were not checked against the declaration\n");
    expect(none.out).not.toContain("declaration:");

    const missing = cairn(["examine", bad.traceDir, "--snapshot", "nope.json"], { cwd });
    expect(missing.status).toBe(1);
    expect(missing.err).toContain("snapshot file not found: nope.json");
  });
});
