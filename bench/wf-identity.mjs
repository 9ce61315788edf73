/**
 * Byte identity of two builds' PGS outputs (for performance work on src/workflow): runs every
 * runnable workflow of the fixture pack over all its payloads, twice in sequence on one data
 * root, plus runs on an unseeded data root, runs right after external changes to the data-root
 * files (an append, same-size in-place rewrites), and runs that end in ERROR (an unmapped
 * handler, a symlink escaping the data root), with each build and each `effectDurability`, and
 * compares the whole output trees (traces, summaries, data roots, run results) byte for byte.
 *
 *   node bench/wf-identity.mjs <dist A> <dist B>      exit 0 when identical, 1 when not
 *
 * Each side runs in its own process, in the same directory (so absolute paths cannot differ).
 * Fixtures: ../shared/fixtures/pgs, or $PGS_FIXTURES.
 */
import { spawnSync } from "node:child_process";
import {
  appendFileSync, chmodSync, closeSync, cpSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync,
  statSync, symlinkSync, writeFileSync, writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const PACK = resolve(process.env.PGS_FIXTURES ?? join(HERE, "../../shared/fixtures/pgs"));
const MODES = ["fsync", "no-fsync"];

function makeWritable(p) {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of readdirSync(p)) makeWritable(join(p, e));
}

/** One side: runs everything with `dist` into `out` (which must not exist). */
async function emit(dist, out, mode) {
  const { runPgsWorkflow, readPayloadFile } = await import(pathToFileURL(join(resolve(dist), "workflow/pgs/index.js")).href);
  mkdirSync(out, { recursive: true });
  const ws = join(out, "ws");
  cpSync(join(PACK, "workspace"), ws, { recursive: true });
  makeWritable(ws);
  const seed = (dr) => {
    mkdirSync(join(dr, "ai_governance/ai_licensing"), { recursive: true });
    const f = join(dr, "ai_governance/ai_licensing/license_facts.json");
    cpSync(join(PACK, "payloads/agent_governance/seed_data/license_facts.json"), f);
    chmodSync(f, 0o644);
    return dr;
  };
  const dr = seed(join(out, "data"));
  const bare = join(out, "data-bare");
  mkdirSync(bare);
  // A symlink escaping the data root, as the audit log and as a parent directory.
  const evil = seed(join(out, "data-evil"));
  mkdirSync(join(evil, "ai_governance/agent_governance"), { recursive: true });
  writeFileSync(join(out, "outside.jsonl"), "");
  symlinkSync(join(out, "outside.jsonl"), join(evil, "ai_governance/agent_governance/governance_audit.jsonl"));
  const evil2 = join(out, "data-evil2");
  mkdirSync(evil2);
  symlinkSync(out, join(evil2, "blockchain"));

  const P = (r) => join(PACK, "payloads", r);
  const actor = join(PACK, "workspace/seeds/register_actor_unverified_payload.json");
  const govern = readdirSync(P("agent_governance")).filter((f) => f.endsWith(".json")).sort().map((f) => ["ai_governance::WF_GOVERN_AGENT_ACTION_V0", P(`agent_governance/${f}`)]);
  const jobs = [
    ["blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", actor],
    ...govern,
    ...readdirSync(P("collatz_conjecture")).sort().map((f) => ["ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", P(`collatz_conjecture/${f}`)]),
    ["ai_governance::WF_PROVISION_AI_LICENSING_V0", P("ai_licensing/provision_ai_licensing_payload.json")],
    ["ai_governance::WF_PROVISION_AI_LICENSING_V0", P("ai_licensing/quota_exceeded_payload.json")],
    ["ai_governance::WF_DENY_PROVISION_V0", P("ai_licensing/deny_provision_payload.json")],
    ["ai_governance::WF_AUTO_RECLAIM_V0", P("ai_licensing/auto_reclaim_payload.json")],
    ["ai_governance::WF_AUTO_RECLAIM_V0", P("ai_licensing/provision_ai_licensing_payload.json")],
    ["blockchain::WF_CREATE_WALLET_V0", actor], // needs an atom Cairn lacks: ERROR
  ];
  const lines = [];
  const one = (tag, [wf, pf], root) => {
    try {
      const r = runPgsWorkflow({ workspace: ws, workflow: wf, payload: readPayloadFile(pf), dataRoot: root, effectDurability: mode });
      const { status, exitCode, traceId, events, digests, effects, error, path, violations, surface } = r;
      lines.push(`${tag} ${wf} ${pf.split("/").pop()} ${JSON.stringify({ status, exitCode, traceId, events, digests, effects, error, path, violations, surface: [...surface.keys()] })}`);
    } catch (e) {
      lines.push(`${tag} ${wf} ${pf.split("/").pop()} THROW ${e.code} ${String(e.message).split(out).join("<out>")}`);
    }
  };
  for (let rep = 0; rep < 2; rep++) for (const job of jobs) one(`rep${rep}`, job, dr);
  // Changes by "another process" right after a run (here the same process: the harder case for a cache).
  const inPlace = (f, from, to) => {
    const b = readFileSync(f);
    const i = b.lastIndexOf(Buffer.from(from));
    if (i < 0) throw new Error(`${from} not in ${f}`);
    const fd = openSync(f, "r+");
    writeSync(fd, Buffer.from(to), 0, Buffer.byteLength(to), i);
    closeSync(fd);
  };
  const ag = join(dr, "ai_governance/agent_governance");
  /** Applies an external change; a failure (a build that wrote other files) is recorded, not fatal. */
  const change = (tag, f) => {
    try {
      f();
    } catch (e) {
      lines.push(`${tag} change failed: ${String(e.message).split(out).join("<out>")}`);
    }
  };
  one("t0", govern[0], dr);
  change("t1", () => appendFileSync(join(ag, "governance_audit.jsonl"), `${readFileSync(join(ag, "governance_audit.jsonl"), "utf8").split("\n")[0]}\n`));
  one("t1", govern[0], dr);
  change("t2", () => inPlace(join(ag, "governance_actions.json"), "AGOV_", "AGOW_"));
  one("t2", govern[0], dr);
  change("t3", () => inPlace(join(ag, "governance_audit.jsonl"), "2025", "2026"));
  one("t3", govern[0], dr);
  change("t4", () => inPlace(join(dr, "ai_governance/ai_licensing/license_facts.json"), '"active"', '"revokd"'));
  one("t4", govern[0], dr);
  change("t5", () => {
    const tmp = join(ag, "replacement");
    writeFileSync(tmp, readFileSync(join(ag, "governance_actions.json"), "utf8").replace(/AGOW_/g, "AGOX_"));
    renameSync(tmp, join(ag, "governance_actions.json"));
  });
  one("t5", govern[0], dr);
  for (const job of govern) one("bare", job, bare);
  one("evil", govern[0], evil);
  one("evil", govern[0], evil);
  one("evil2", ["blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", actor], evil2);
  writeFileSync(join(out, "results.txt"), `${lines.join("\n")}\n`);
}

/** Every entry under `dir`: relative path → bytes (files) or `-> target` (symlinks). */
function tree(dir) {
  const out = new Map();
  const walk = (d, rel) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      const r = rel === "" ? e : `${rel}/${e}`;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(r, `-> ${readlinkSync(p)}`);
      else if (st.isDirectory()) walk(p, r);
      else out.set(r, readFileSync(p));
    }
  };
  walk(dir, "");
  return out;
}

function differences(a, b) {
  const diffs = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === undefined || y === undefined) diffs.push(`${k}: only in ${x === undefined ? "B" : "A"}`);
    else if (typeof x === "string" || typeof y === "string" ? x !== y : !x.equals(y)) diffs.push(`${k}: differs`);
  }
  return diffs;
}

if (process.argv[2] === "--emit") {
  await emit(process.argv[3], process.argv[4], process.argv[5]);
} else {
  const [a, b] = process.argv.slice(2);
  if (a === undefined || b === undefined) {
    console.error("usage: node bench/wf-identity.mjs <dist A> <dist B>");
    process.exit(2);
  }
  const base = mkdtempSync(join(tmpdir(), "cairn-wf-identity-"));
  let same = true;
  try {
    for (const mode of MODES) {
      const trees = [a, b].map((dist, i) => {
        const out = join(base, "out");
        const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--emit", dist, out, mode], { stdio: ["ignore", "inherit", "inherit"] });
        if (r.status !== 0) throw new Error(`side ${"AB"[i]} (${dist}) exited ${r.status}`);
        const kept = join(base, `${"AB"[i]}-${mode}`);
        renameSync(out, kept);
        return tree(kept);
      });
      const diffs = differences(trees[0], trees[1]);
      const traces = [...trees[0].keys()].filter((k) => k.startsWith("ws/traces/") && k.endsWith(".jsonl")).length;
      console.log(`${mode}: ${diffs.length === 0 ? "IDENTICAL" : "DIFFERENT"} (${trees[0].size} entries, ${traces} trace .jsonl files)`);
      for (const d of diffs.slice(0, 20)) console.log(`  ${d}`);
      same &&= diffs.length === 0;
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  process.exit(same ? 0 : 1);
}
