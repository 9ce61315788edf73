/** `cairn wf compile` and `cairn wf run --snapshot` end to end (the built CLI), plus `cairn examine` on their traces. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cairn } from "./helpers.js";

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const PAYLOADS = join(EXAMPLES, "payloads");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function box(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-wfc-"));
  dirs.push(d);
  return d;
}

describe("cairn wf compile + wf run --snapshot + examine", () => {
  it("compiles, runs (SUCCESS, then ALREADY_EXISTS routed to success, then a VIOLATION) and examines", () => {
    const cwd = box();
    const c = cairn(["wf", "compile", EXAMPLES, "--out", "snap.json"], { cwd });
    expect(c.status).toBe(0);
    const digest = c.out.trim().split("\n").pop()!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(c.out).toContain("compiled registry::WF_REGISTER_AGENT_V0 (4 nodes)");
    const j = cairn(["wf", "compile", EXAMPLES, "--json"], { cwd });
    expect(JSON.parse(j.out)).toMatchObject({ ok: true, digest, out: null, workflows: [{ workflow: "registry::WF_REGISTER_AGENT_V0", nodes: 4 }] });

    const ok = cairn(["wf", "run", "--snapshot", "snap.json", "--payload", join(PAYLOADS, "register-ok.json"), "--json"], { cwd });
    expect(ok.status).toBe(0);
    const doc = JSON.parse(ok.out) as Record<string, unknown>;
    expect(doc).toMatchObject({ status: "SUCCESS", exitCode: 0, workflow: "registry::WF_REGISTER_AGENT_V0", snapshot: digest, exit: { name: "REGISTERED" } });
    expect((doc.path as Array<{ node: string; status: string }>).map((p) => `${p.node.split("::").pop()}=${p.status}`)).toEqual(["validate=SUCCESS", "register=SUCCESS", "profile=SUCCESS", "audit=SUCCESS"]);
    expect(doc.traceDir).toBe(`traces/registry/WF_REGISTER_AGENT_V0/${doc.traceId as string}`);
    expect(doc).toHaveProperty("surface");
    expect(existsSync(join(cwd, "data/registry/agents.jsonl"))).toBe(true);
    const ex = cairn(["examine", doc.traceDir as string, "--json"], { cwd });
    expect(ex.status).toBe(0);
    expect(JSON.parse(ex.out)).toMatchObject({ chain: { ok: true }, outcome: { class: "success", status: "SUCCESS" } });

    const again = cairn(["wf", "run", "--snapshot", "snap.json", "--payload", join(PAYLOADS, "register-ok.json")], { cwd });
    expect(again.status).toBe(0);
    expect(again.out).toContain("status: ALREADY_EXISTS");
    expect(again.out).toContain("exit: ALREADY_REGISTERED");

    const bad = cairn(["wf", "run", "--snapshot", "snap.json", "--payload", join(PAYLOADS, "register-bad-shape.json"), "--json"], { cwd });
    expect(bad.status).toBe(1);
    const badDoc = JSON.parse(bad.out) as { status: string; traceDir: string; violations: unknown[] };
    expect(badDoc.status).toBe("VIOLATION");
    expect(badDoc.violations).toHaveLength(1);
    const exBad = cairn(["examine", badDoc.traceDir], { cwd });
    expect(exBad.status).toBe(0);
    expect(exBad.out).toContain("business_violation");
  });

  it("compile errors exit 1, each naming file, node, field and code; usage errors exit 2", () => {
    const cwd = box();
    const decl = readFileSync(join(EXAMPLES, "register-agent.yaml"), "utf8").replace("op: APPEND", "op: APPEND_ALL").replace("SUCCESS: profile", "SUCCESS: profle");
    writeFileSync(join(cwd, "broken.yaml"), decl);
    writeFileSync(join(cwd, "agent-capabilities.ts"), "");
    const r = cairn(["wf", "compile", "broken.yaml"], { cwd });
    expect(r.status).toBe(1);
    expect(r.err).toContain("cairn: broken.yaml: modules.agent: capability module ./modules/agent-capabilities.ts cannot be read");
    expect(r.err).toContain('cairn: broken.yaml: node register: routes.SUCCESS: routes SUCCESS to node "profle", which is not declared [E_COMPILE_MISSING_NODE]');
    expect(r.err).toContain('cairn: broken.yaml: node audit: steps[0].op: a appendonly store has no operation "APPEND_ALL"');
    expect(r.err).toMatch(/\[E_COMPILE_FAILED\]\n$/);
    const j = cairn(["wf", "compile", "broken.yaml", "--json", "--out", "x.json"], { cwd });
    expect(j.status).toBe(1);
    const errors = (JSON.parse(j.out) as { ok: boolean; errors: Array<{ code: string; file: string; node: string | null; field: string }> }).errors;
    expect(errors.map((e) => e.code)).toContain("E_COMPILE_UNKNOWN_OPERATION");
    expect(errors.find((e) => e.code === "E_COMPILE_UNKNOWN_OPERATION")).toMatchObject({ file: "broken.yaml", node: "audit", field: "steps[0].op" });
    expect(JSON.parse(j.err)).toMatchObject({ error: { code: "E_COMPILE_FAILED" } });
    expect(existsSync(join(cwd, "x.json"))).toBe(false);
    expect(cairn(["wf", "compile"], { cwd }).status).toBe(2);
    expect(cairn(["wf", "compile", "nope.yaml"], { cwd }).status).toBe(1);
    expect(cairn(["wf", "run", "--snapshot", "sha256:" + "0".repeat(64)], { cwd }).status).toBe(2);
  });

  it("a tampered snapshot file is refused before anything runs", () => {
    const cwd = box();
    expect(cairn(["wf", "compile", EXAMPLES, "--out", "snap.json"], { cwd }).status).toBe(0);
    const bytes = readFileSync(join(cwd, "snap.json"));
    const i = bytes.indexOf("already registered");
    bytes[i] = "A".charCodeAt(0);
    writeFileSync(join(cwd, "snap.json"), bytes);
    const r = cairn(["wf", "run", "--snapshot", "snap.json", "--payload", join(PAYLOADS, "register-ok.json")], { cwd });
    expect(r.status).toBe(1);
    expect(r.err).toContain("integrity");
    expect(r.err).toContain("[E_SNAPSHOT_INTEGRITY]");
    expect(existsSync(join(cwd, "traces"))).toBe(false);
  });

  it("with a store: compile stores the snapshot and run loads it by digest and records the run", () => {
    const cwd = box();
    const c = cairn(["--store", "st", "wf", "compile", EXAMPLES], { cwd });
    expect(c.status).toBe(0);
    const digest = c.out.trim().split("\n").pop()!;
    const r = cairn(["--store", "st", "wf", "run", "--snapshot", digest, "--payload", join(PAYLOADS, "register-ok.json"), "--json"], { cwd });
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out) as { receipt?: string; traceId: string; snapshot: string };
    expect(doc.snapshot).toBe(digest);
    expect(doc.receipt).toMatch(/^sha256:/);
    const roots = cairn(["--store", "st", "store", "roots", "--json"], { cwd });
    expect(roots.out).toContain(`cairn-wf:${doc.traceId}`);
    expect(roots.out).toContain(`cairn-wf-snapshot:${digest}`);
  });
});
