/** Shared helpers of the PGS runtime tests: writable copies of the read-only fixture pack. */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { afterEach } from "vitest";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compactPy, readPayloadFile, runPgsWorkflow, type PgsRunResult, type RunPgsOptions } from "../../src/workflow/pgs/index.js";

/** The fixture pack (read-only; never written). */
export const PACK = fileURLToPath(new URL("../../../shared/fixtures/pgs/", import.meta.url));
export const PAYLOADS = join(PACK, "payloads");
export const LICENSE_FACTS_SEED = join(PAYLOADS, "agent_governance/seed_data/license_facts.json");
export const ACTOR_PAYLOAD = join(PACK, "workspace/seeds/register_actor_unverified_payload.json");

export const WF = {
  actor: "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0",
  govern: "ai_governance::WF_GOVERN_AGENT_ACTION_V0",
  collatz: "ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0",
  provision: "ai_governance::WF_PROVISION_AI_LICENSING_V0",
  deny: "ai_governance::WF_DENY_PROVISION_V0",
  reclaim: "ai_governance::WF_AUTO_RECLAIM_V0",
} as const;

function makeWritable(p: string): void {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of readdirSync(p)) makeWritable(join(p, e));
}

export interface Sandbox {
  root: string;
  workspace: string;
  dataRoot: string;
  run(workflow: string, payloadFile: string, opts?: Partial<RunPgsOptions>): PgsRunResult;
  read(rel: string): string;
  cleanup(): void;
}

/** A fresh temp dir holding a writable copy of the workspace and an empty data root (seeded on request). */
export function sandbox(opts: { seedLicenseFacts?: boolean } = {}): Sandbox {
  const root = mkdtempSync(join(tmpdir(), "cairn-pgs-"));
  const workspace = join(root, "workspace");
  const dataRoot = join(root, "data");
  cpSync(join(PACK, "workspace"), workspace, { recursive: true });
  makeWritable(workspace);
  mkdirSync(dataRoot);
  if (opts.seedLicenseFacts === true) {
    mkdirSync(join(dataRoot, "ai_governance/ai_licensing"), { recursive: true });
    cpSync(LICENSE_FACTS_SEED, join(dataRoot, "ai_governance/ai_licensing/license_facts.json"));
    chmodSync(join(dataRoot, "ai_governance/ai_licensing/license_facts.json"), 0o644);
  }
  return {
    root,
    workspace,
    dataRoot,
    run: (workflow, payloadFile, o = {}) => runPgsWorkflow({ workspace, workflow, payload: readPayloadFile(payloadFile), dataRoot, ...o }),
    read: (rel) => readFileSync(join(dataRoot, rel), "utf8"),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export function payload(rel: string): string {
  return join(PAYLOADS, rel);
}

/** `CODE=STATUS` per visited node (namespace dropped), for compact path assertions. */
export function pathOf(r: PgsRunResult): string[] {
  return r.path.map((p) => `${p.node.slice(p.node.lastIndexOf("::") + 2)}=${p.status}`);
}

export function surfaceOf(r: PgsRunResult): string {
  return compactPy(r.surface);
}

export function callsOf(r: PgsRunResult): string[] {
  return r.effects.map((c) => `${c.step}:${c.op}:${c.status}`);
}

/**
 * Sandboxes (`box`; seeded with the license facts unless `sandboxOpts` says otherwise) and temp
 * dirs (`dir`) that are removed after each test of the calling file (call it at the top level of
 * a test file).
 */
export function scratchPerTest(sandboxOpts: { seedLicenseFacts?: boolean } = { seedLicenseFacts: true }): { box: () => Sandbox; dir: (prefix?: string) => string } {
  const boxes: Sandbox[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const b of boxes.splice(0)) b.cleanup();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return {
    box: () => {
      const b = sandbox(sandboxOpts);
      boxes.push(b);
      return b;
    },
    dir: (prefix = "cairn-wf-test-") => {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
  };
}

export { cairnErrorOf } from "../cairn-error-of.js";

/** A run's trace file and summary (`<traceId>.jsonl`, `<traceId>.md`) and the summary's text. */
export function traceFiles(traceDirAbs: string, traceId: string): { trace: string; md: string; text: string } {
  const md = join(traceDirAbs, `${traceId}.md`);
  return { trace: join(traceDirAbs, `${traceId}.jsonl`), md, text: readFileSync(md, "utf8") };
}
