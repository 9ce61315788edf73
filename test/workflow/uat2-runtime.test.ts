/**
 * UAT round 2, Cairn runtime findings: F13 (a sealed file is exactly the compiler's output),
 * F3 (`result_status` is no user CT output) and F6 (`wf replay` names the Cairn root it looked for).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalBytes } from "../../src/core/canonical.js";
import { sha256, type Digest } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import type { SnapshotContent } from "../../src/workflow/cairn/model.js";
import { replayRecordedRun } from "../../src/workflow/cairn/replay.js";
import { loadSealedFile, loadSnapshotFromStore, sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { RESERVED_RESULT_FIELD, userCtOutputsProblem } from "../../src/workflow/cairn/usercts.js";
import { baseDecl, compileDecl, EXAMPLES, prepared, refusal, run, tempDir, traceText } from "./cairn-fixture.js";

const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

async function compiled(): Promise<{ content: SnapshotContent; bytes: Buffer; digest: Digest }> {
  const r = await compileWorkflows([EXAMPLES]);
  const { digest, bytes } = sealedFileBytes(r.content!);
  return { content: r.content!, bytes, digest };
}

describe("F13: a sealed snapshot holds exactly what the compiler writes", () => {
  it("a sealed file with an extra top-level member is refused (file bytes and file path), though its digest still matches", async () => {
    const { bytes, digest } = await compiled();
    const doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    for (const name of ["extra", "a", "zz", "__proto_x"]) {
      const tampered = Buffer.from(canonicalBytes({ ...doc, [name]: 1 }));
      const r = refusal(() => verifySealedBytes(tampered, "tx1.json"));
      expect(r.code).toBe("E_SNAPSHOT_INTEGRITY");
      expect(r.message).toContain("integrity");
      expect(r.message).toContain(JSON.stringify(name));
      expect(r.check).toBe("structure");
      // with the digest it states expected, too
      expect(refusal(() => verifySealedBytes(tampered, "tx1.json", digest)).code).toBe("E_SNAPSHOT_INTEGRITY");
      const file = join(tempDir(), "tx1.json");
      writeFileSync(file, tampered);
      const f = refusal(() => loadSealedFile(file));
      expect([f.code, f.check]).toEqual(["E_SNAPSHOT_INTEGRITY", "structure"]);
      expect(f.message).toContain(JSON.stringify(name));
    }
    // the untouched compiler output still loads
    expect(verifySealedBytes(bytes, "cs.json", digest).digest).toBe(digest);
  });

  it("a content with an extra top-level member is refused from a re-sealed file and from the store", async () => {
    const { content } = await compiled();
    const c = { ...JSON.parse(JSON.stringify(content)), extra: { any: "thing" } } as unknown as SnapshotContent;
    const { bytes, digest } = sealedFileBytes(c);
    const r = refusal(() => verifySealedBytes(bytes, "resealed.json"));
    expect([r.code, r.check]).toEqual(["E_SNAPSHOT_INTEGRITY", "structure"]);
    expect(r.message).toContain("integrity");
    expect(r.message).toContain('"extra"');
    const artifact = Buffer.from(canonicalBytes(c));
    expect(sha256(artifact)).toBe(digest);
    const s = refusal(() => loadSnapshotFromStore({ get: () => artifact }, digest));
    expect([s.code, s.check]).toEqual(["E_SNAPSHOT_INTEGRITY", "structure"]);
    expect(s.message).toContain("integrity");
    expect(s.message).toContain('"extra"');
    // the compiler's content loads from the store
    const good = Buffer.from(canonicalBytes(content));
    expect(loadSnapshotFromStore({ get: () => good }, sha256(good)).digest).toBe(sha256(good));
  });
});

/** A one-node workflow calling user CT `m.f` of `module` (JavaScript), routing SUCCESS → OK and VIOLATION → BAD. */
function userCtDecl(): Record<string, unknown> {
  return baseDecl({
    code: "WF_RS_V1",
    entry: "a",
    modules: { m: "./m.js" },
    nodes: { a: { steps: [{ id: "s", ct: "m.f", inputs: {} }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "bad" } } } },
  });
}

describe("F3: result_status is no user CT output", () => {
  it("a user CT result holding result_status is a contract VIOLATION; it never reaches the node result or the surface", async () => {
    for (const returned of ['{ a: 1, result_status: "NOT_FOUND" }', '{ result_status: "SUCCESS" }', "{ result_status: null }"]) {
      const { snap, dir } = await prepared(userCtDecl(), { "m.js": `exports.capabilities = { f: { outputs: ["a"], run() { return ${returned}; } } };\n` });
      const r = run(snap, {}, dir);
      expect(r.status, returned).toBe("VIOLATION");
      expect(r.exit).toEqual({ name: "BAD", reason: "bad" });
      expect(r.surface.has(RESERVED_RESULT_FIELD)).toBe(false);
      const step = traceText(r).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { event_type: string; result_status: unknown; detail: Record<string, unknown> }).find((e) => e.event_type === "CC_STEP");
      expect(step?.result_status).toBe("VIOLATION");
      expect(step?.detail.error).toBe('user CT m.f broke its contract: step s: its result holds "result_status", a member no result may carry (the outcome is SUCCESS when run returns, VIOLATION when it throws)');
    }
  });

  it("the same CT without the member still succeeds", async () => {
    const { snap, dir } = await prepared(userCtDecl(), { "m.js": 'exports.capabilities = { f: { outputs: ["a"], run() { return { a: 1, status: "NOT_FOUND" }; } } };\n' });
    const r = run(snap, {}, dir);
    expect(r.status).toBe("SUCCESS");
    expect([...r.surface.keys()]).toEqual(["a", "status"]);
  });

  it("userCtOutputsProblem refuses result_status as a declared output name, and only it", () => {
    expect(userCtOutputsProblem("m", "f", ["a", "result_status"])).toBe('user CT m.f declares the output "result_status", which no result may carry (a node\'s result never holds it; a user CT\'s outcome is SUCCESS when run returns, VIOLATION when it throws)');
    expect(userCtOutputsProblem("m", "f", ["a", "status", "result", "Result_Status"])).toBeNull();
    expect(userCtOutputsProblem("m", "f", [])).toBeNull();
  });

  it("a step calling a CT that declares result_status as an output does not compile (E_COMPILE_SCHEMA at the step)", async () => {
    const { r, lines } = await compileDecl(userCtDecl(), "wf.yaml", { "m.js": 'exports.capabilities = { f: { outputs: ["a", "result_status"], run() { return { a: 1 }; } } };\n' });
    expect(r.content).toBeUndefined();
    const d = r.diagnostics.find((x) => x.code === "E_COMPILE_SCHEMA");
    expect(d, lines.join("\n")).toMatchObject({ node: "a", field: "steps[0].ct" });
    expect(d?.message).toContain('declares the output "result_status"');
  });
});

describe("F6: wf replay of a run never recorded names the root it looked for", () => {
  it("a Cairn trace file: cairn-wf:<id>, not the PGS root; a bare trace id: both roots", async () => {
    const { snap, dir } = await prepared(baseDecl());
    const res = run(snap, { x: 1 }, dir);
    expect(res.status).toBe("SUCCESS");
    const store = openStore({ dir: join(dir, "store"), create: true });
    stores.push(store);
    const tracePath = join(res.traceDirAbs, `${res.traceId}.jsonl`);
    const e = refusal(() => replayRecordedRun(store, tracePath));
    expect(e.code).toBe("E_NOT_FOUND");
    expect(e.message).toBe(`Recorded run ${res.traceId} not found in the store: no root cairn-wf:${res.traceId}`);
    const bare = refusal(() => replayRecordedRun(store, res.traceId));
    expect(bare.code).toBe("E_NOT_FOUND");
    expect(bare.message).toBe(`Recorded run ${res.traceId} not found in the store: no root cairn-wf:${res.traceId} (a sealed Cairn snapshot run) or pgs:${res.traceId} (a PGS workspace run)`);
    // a PGS trace (its WF_START names no snapshot): the PGS root, as before
    const first = JSON.parse(traceText(res).split("\n", 1)[0] as string) as { detail: Record<string, unknown> };
    delete first.detail.snapshot;
    const pgsTrace = join(tempDir(), `${res.traceId}.jsonl`);
    writeFileSync(pgsTrace, `${JSON.stringify(first)}\n`);
    const pgs = refusal(() => replayRecordedRun(store, pgsTrace));
    expect([pgs.code, pgs.message]).toEqual(["E_NOT_FOUND", `Recorded run ${res.traceId} not found in the store: no root pgs:${res.traceId}`]);
  });
});
