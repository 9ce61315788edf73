/**
 * Execution-plane benchmarks (issue 5 §7.2): each plane figure beside the same call made
 * directly, without the plane, in the same process run, with the ratio plane / direct.
 *
 *   npx tsc -p tsconfig.build.json && node --expose-gc bench/plane.mjs   full run (~3–8 min here)
 *   node --expose-gc bench/plane.mjs --quick                             short run (~1 min)
 *   node --expose-gc bench/plane.mjs --only inline                       one group (inline, process)
 *   node --expose-gc bench/plane.mjs --md --json out.json                Markdown summary; raw numbers
 *
 * inline  — admitted inline executions per second, executed one after another:
 *   `node.execute(request)` on a PlaneNode with an InlineLane (a registered trivial function
 *   `p => ({ n: p.n + 1 })`), the Ed25519 authority verifier (every request carries its own
 *   signed authority ref, bound to the whole request), one `local-process-weak`
 *   target, and an evidence sink: none, memory, JSONL file, store. Authority refs are signed
 *   before the timed loop ("pre-signed") — and, in one row, inside it ("signed in loop": what a
 *   caller pays that signs each request itself). Baseline: `await fn(payload)` on the same
 *   function. Breakdown rows (no baseline ratio target; they locate the cost): the lane alone
 *   (`InlineLane.execute` on a pre-built ExecutionRequest), `node.admit` alone, Ed25519
 *   sign / verify alone.
 * process — process-lane round trips per second: `node.execute` of a process-lane request
 *   running `echo ok` (memory sink, and JSONL sink), sequentially and with 4 in flight;
 *   baseline: `child_process.spawn("echo", ["ok"])` with piped stdio, stdin closed, stdout
 *   collected, awaiting `close` — the same concurrency.
 *
 * Ratio = plane rate / direct rate (1.00 = no overhead). Each figure is the median of REPS
 * repetitions (plane and direct interleaved, the order flipping every repetition); the
 * min–max is printed beside it. "CPU µs/op" is this process's CPU time per operation
 * (process.cpuUsage: the node's own work; a spawned command's CPU is not in it), which other
 * tenants of a shared machine disturb much less than wall time.
 *
 * Environment: CAIRN_BENCH_REPS (default 3; --quick 1), CAIRN_BENCH_DIST (a copy of dist/ to
 * measure instead of the live one), CAIRN_BENCH_PLANE_N (inline executions per repetition;
 * default 2000, --quick 500; the store-sink row runs a fifth of it), CAIRN_BENCH_PLANE_PROC_N
 * (process round trips per repetition; default 200, --quick 40). Run with --expose-gc so each
 * measurement starts after a full GC.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadMeter } from "./batch/common.mjs";
import { envInt, fmtInt, fmtNum, gc, makeTmpDir, median, now, parseBenchArgs, removeDir, report } from "./util.mjs";

// ------------------------------------------------------------------ arguments

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const opts = parseBenchArgs(
  argv.filter((a) => a !== "--quick"),
  { script: "plane.mjs [--quick]", benches: ["inline", "process"] },
);
const REPS = envInt("CAIRN_BENCH_REPS", QUICK ? 1 : 3);
const N_INLINE = envInt("CAIRN_BENCH_PLANE_N", QUICK ? 500 : 2000);
const N_STORE = Math.max(100, Math.round(N_INLINE / 5));
const N_PROC = envInt("CAIRN_BENCH_PLANE_PROC_N", QUICK ? 40 : 200);
const CONCURRENCY = 4;
const WARMUP = QUICK ? 100 : 300;

const distDir = process.env.CAIRN_BENCH_DIST || fileURLToPath(new URL("../dist", import.meta.url));
if (!existsSync(join(distDir, "index.js"))) {
  console.error(`plane.mjs: ${join(distDir, "index.js")} is missing; build first (npx tsc -p tsconfig.build.json)`);
  process.exit(1);
}
const cairn = await import(pathToFileURL(join(distDir, "index.js")).href);
const { plane, openStore, systemClock } = cairn;
const {
  PlaneNode, sequentialIds, InlineLane, ProcessLane, LocalWeakVerifier, Ed25519AuthorityVerifier, signAuthorityRef,
  MemoryEvidenceSink, JsonlEvidenceSink, StoreEvidenceSink, LOCAL_WEAK_CLASS, makeExecutionRequest, makeAdmissionRequest,
} = plane;

// ------------------------------------------------------------------ fixtures

const AUDIENCE = "cairn-bench";
const CMD = "echo";
const CMD_ARGV = ["ok"];
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const POLICY = [{ subject: "bench", lanes: ["inline", "process"], operations: ["*"] }];

/** The trivial inline function, shared by the plane and the direct baseline. */
const inc = (p) => ({ n: p.n + 1 });

/** Signs a ref bound to the whole request (request_hash; payload, lane and operation from it). */
function signFor(request) {
  const t = systemClock.now();
  return signAuthorityRef({
    privateKey,
    keyId: "bench",
    subject: "bench",
    audience: AUDIENCE,
    request,
    issuedAt: t - 1000,
    expiresAt: t + 3_600_000,
  });
}

/** requestFor + its signed authority_ref. */
function signedRequest(laneId, operation, payload, i) {
  const req = requestFor(laneId, operation, payload, i);
  return { ...req, authority_ref: signFor(req) };
}

function inlinePayload(i) {
  return { n: i };
}
function procPayload() {
  return { command: CMD, argv: CMD_ARGV, timeout_ms: 10_000 };
}

/** A governed request (no request_id: the node mints one, as for a CLI request), unsigned. */
function requestFor(laneId, operation, payload, i) {
  return {
    contract_version: 1,
    lane_id: laneId,
    operation,
    idempotency_key: `k-${i}`,
    payload,
    acceptable_attestation: { classes: [LOCAL_WEAK_CLASS] },
  };
}

function presign(laneId, operation, payloadOf, n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const payload = payloadOf(i);
    out[i] = signedRequest(laneId, operation, payload, i);
  }
  return out;
}

/**
 * A registered, gated node with one lane, the local-weak verifier, the Ed25519 authority, one
 * `local-process-weak` target on the lane and the given sinks. Real clock and ids (refs expire).
 */
function makeNode(lane, sinks) {
  const clock = systemClock;
  const node = new PlaneNode({ nodeId: "bench-1", clock, ids: sequentialIds(clock) });
  const weak = new LocalWeakVerifier({ lanes: [lane.id] });
  const authority = new Ed25519AuthorityVerifier({ audience: AUDIENCE, trustedKeys: [{ id: "bench", key: publicKey }], policy: POLICY });
  node.registerLane(lane).registerTargetVerifier(weak).registerAuthorityVerifier(authority);
  for (const s of sinks) node.registerEvidenceSink(s);
  node.completeRegistration();
  const r = node.connectTarget(weak.mintAttestation({ targetId: "local", laneId: lane.id, now: clock.now() }));
  if (!r.ok) throw new Error(`connectTarget: ${r.rejection.reason}: ${r.rejection.message}`);
  return { node, authority };
}

function newInlineLane() {
  return new InlineLane({ functions: { inc } });
}

/** Sink configurations: `make(dir)` → { sinks, close() }. */
const SINKS = {
  none: () => ({ sinks: [], close() {} }),
  memory: () => {
    const s = new MemoryEvidenceSink();
    return { sinks: [s], close() {}, count: () => s.records.length };
  },
  jsonl: (dir) => ({ sinks: [new JsonlEvidenceSink(join(dir, "evidence.jsonl"), "jsonl")], close() {} }),
  store: (dir) => {
    const store = openStore({ dir: join(dir, "store") });
    return { sinks: [new StoreEvidenceSink(store, "store")], close: () => store.close() };
  },
};

function check(res, want) {
  if (res.status !== "succeeded") {
    throw new Error(`plane execution did not succeed: ${JSON.stringify({ status: res.status, rejection: res.rejection, failure: res.failure })}`);
  }
  if (want !== undefined && JSON.stringify(res.output) !== JSON.stringify(want)) throw new Error(`unexpected output ${JSON.stringify(res.output)}`);
}

// ------------------------------------------------------------------ measurement

/**
 * Times `body()` (which performs `n` operations) with a load meter; returns
 * { rate, ms, cpuUsPerOp, others }.
 */
async function measure(n, body) {
  gc();
  const meter = loadMeter();
  const t0 = now();
  await body();
  const ms = now() - t0;
  const load = meter.stop();
  return { rate: n / (ms / 1000), ms, cpuUsPerOp: (load.ownCpuMs * 1000) / n, others: load.others };
}

/** Runs `sides` (name → async rep → result) REPS times, rotating the order each repetition. */
async function rotated(sides) {
  const names = Object.keys(sides);
  const out = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < REPS; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length];
      out[name].push(await sides[name](r));
    }
  }
  return out;
}

function summary(results) {
  const rates = results.map((r) => r.rate);
  return {
    rate: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    cpuUsPerOp: median(results.map((r) => r.cpuUsPerOp)),
    others: Math.max(...results.map((r) => (Number.isFinite(r.others) ? r.others : 0))),
  };
}

const rows = [];

/** Reports a plane figure beside its direct baseline (both summaries). */
function row(id, label, p, b, baselineLabel, extra = {}) {
  const info = `median of ${REPS}; ${fmtInt(p.min)}–${fmtInt(p.max)}/s vs ${fmtInt(b.min)}–${fmtInt(b.max)}/s; CPU ${fmtNum(p.cpuUsPerOp, 1)} vs ${fmtNum(b.cpuUsPerOp, 1)} µs/op; others ≤ ${fmtNum(Math.max(p.others, b.others))} cores`;
  const ratio = report({ id, label, value: p.rate, unit: "/s", baseline: { label: baselineLabel, value: b.rate }, info });
  rows.push({
    id,
    figure: label,
    plane: p.rate,
    planeRange: [p.min, p.max],
    baseline: b.rate,
    baselineLabel,
    baselineRange: [b.min, b.max],
    ratio,
    usPerOp: 1e6 / p.rate,
    baseUsPerOp: 1e6 / b.rate,
    overheadUs: 1e6 / p.rate - 1e6 / b.rate,
    cpuUsPerOp: p.cpuUsPerOp,
    baseCpuUsPerOp: b.cpuUsPerOp,
    others: Math.max(p.others, b.others),
    ...extra,
  });
}

/** A breakdown figure (no baseline): µs per operation. */
function part(id, label, s) {
  console.log(`${label}: ${fmtInt(s.rate)}/s = ${fmtNum(1e6 / s.rate, 1)} µs/op (CPU ${fmtNum(s.cpuUsPerOp, 1)} µs/op)  [median of ${REPS}; ${fmtInt(s.min)}–${fmtInt(s.max)}/s]`);
  rows.push({ id, figure: label, plane: s.rate, planeRange: [s.min, s.max], baseline: null, ratio: null, usPerOp: 1e6 / s.rate, cpuUsPerOp: s.cpuUsPerOp, others: s.others });
}

// ------------------------------------------------------------------ inline

/** The direct baseline runs this many calls per repetition (a few ms: timer and GC noise stay small). */
const N_DIRECT = 1_000_000;

async function directInline(n = N_DIRECT) {
  let acc = 0;
  const r = await measure(n, async () => {
    for (let i = 0; i < n; i++) acc += (await inc(inlinePayload(i))).n;
  });
  if (acc !== (n * (n + 1)) / 2) throw new Error("direct baseline miscounted");
  return r;
}

/** `node.execute` over `requests` (pre-signed), or signing each inside the loop. */
async function planeInline(sinkName, n, { signInLoop = false } = {}) {
  const dir = makeTmpDir(`plane-${sinkName}`);
  const sink = SINKS[sinkName](dir);
  try {
    const { node } = makeNode(newInlineLane(), sink.sinks);
    const reqs = signInLoop ? null : presign("inline", "inc", inlinePayload, n);
    const r = await measure(n, async () => {
      for (let i = 0; i < n; i++) {
        let req;
        if (reqs !== null) req = reqs[i];
        else {
          const payload = inlinePayload(i);
          req = signedRequest("inline", "inc", payload, i);
        }
        const res = await node.execute(req);
        if (i === 0 || i === n - 1) check(res, { n: i + 1 });
        else if (res.status !== "succeeded") check(res);
      }
    });
    await node.close();
    if (sink.count !== undefined && sink.count() !== 4 * n) throw new Error(`expected ${4 * n} evidence records, got ${sink.count()}`);
    return r;
  } finally {
    sink.close();
    removeDir(dir);
  }
}

/**
 * The lane alone: `lane.execute` on pre-built ExecutionRequests (what the node dispatches), no
 * admission, no evidence, no result contract.
 */
async function laneOnly(lane, operation, payloadOf, n, c = 1) {
  const { node } = makeNode(lane, []);
  const descriptor = node.describe().verified_targets[0];
  const clock = systemClock;
  const ids = sequentialIds(clock);
  const reqs = presign(lane.id, operation, payloadOf, n).map((r, i) => {
    const admission = makeAdmissionRequest({ ...r, request_id: `adm-${i}`, acceptable_attestation: { contract_version: 1, ...r.acceptable_attestation } });
    return makeExecutionRequest({
      contract_version: 1, execution_ref: `exec-${i}`, admission_request: admission, target_descriptor: descriptor,
      lane_id: lane.id, operation, payload: admission.payload, provenance: { kind: "node_admitted", admission_ref: `adm-${i}` },
    });
  });
  const ctx = () => ({ clock, ids, signal: new globalThis.AbortController().signal, emit() {} });
  const r = await measure(n, () =>
    pool(n, c, async (i) => {
      const o = await lane.execute(reqs[i], ctx());
      if (o.status !== "succeeded") throw new Error(`lane: ${JSON.stringify(o)}`);
    }),
  );
  await lane.close?.();
  return r;
}

/** `node.admit` alone (admission + admission evidence, no dispatch), memory sink. */
async function admitOnly(n) {
  const { node } = makeNode(newInlineLane(), [new MemoryEvidenceSink()]);
  const reqs = presign("inline", "inc", inlinePayload, n);
  return measure(n, async () => {
    for (let i = 0; i < n; i++) {
      const a = await node.admit(reqs[i]);
      if (!a.ok) throw new Error(`admit: ${a.rejection.reason}`);
    }
  });
}

async function signOnly(n) {
  return measure(n, async () => {
    for (let i = 0; i < n; i++) signFor(requestFor("inline", "inc", inlinePayload(i), i));
  });
}

async function verifyOnly(n) {
  const { authority } = makeNode(newInlineLane(), []);
  const reqs = presign("inline", "inc", inlinePayload, n).map((r, i) =>
    makeAdmissionRequest({ ...r, request_id: `adm-${i}`, acceptable_attestation: { contract_version: 1, ...r.acceptable_attestation } }),
  );
  const t = systemClock.now();
  return measure(n, async () => {
    for (let i = 0; i < n; i++) {
      const v = authority.verify(reqs[i].authority_ref, { request: reqs[i], now: t });
      if (!v.ok) throw new Error(`verify: ${v.details.reason}`);
    }
  });
}

async function benchInline() {
  console.log(`\n== inline: admitted executions/s (sequential; ${fmtInt(N_INLINE)} per repetition, store sink ${fmtInt(N_STORE)}) ==`);
  // warm-up: JIT the plane's and the baseline's paths
  await directInline(WARMUP);
  await planeInline("memory", WARMUP);
  await planeInline("jsonl", Math.min(WARMUP, 200));
  await planeInline("store", Math.min(WARMUP, 100));

  const sides = {
    direct: () => directInline(),
    none: () => planeInline("none", N_INLINE),
    memory: () => planeInline("memory", N_INLINE),
    jsonl: () => planeInline("jsonl", N_INLINE),
    signed: () => planeInline("memory", N_INLINE, { signInLoop: true }),
    store: () => planeInline("store", N_STORE),
  };
  const r = await rotated(sides);
  const d = summary(r.direct);
  row("plane.inline.none", "inline, no sink, pre-signed", summary(r.none), d, "direct call");
  row("plane.inline.memory", "inline, memory sink, pre-signed", summary(r.memory), d, "direct call");
  row("plane.inline.jsonl", "inline, JSONL sink, pre-signed", summary(r.jsonl), d, "direct call");
  row("plane.inline.signed", "inline, memory sink, signed in loop", summary(r.signed), d, "direct call");
  row("plane.inline.store", `inline, store sink, pre-signed (${fmtInt(N_STORE)}/rep)`, summary(r.store), d, "direct call");

  console.log("-- breakdown (where a plane execution's time goes) --");
  const b = await rotated({
    lane: () => laneOnly(newInlineLane(), "inc", inlinePayload, N_INLINE),
    admit: () => admitOnly(N_INLINE),
    sign: () => signOnly(N_INLINE),
    verify: () => verifyOnly(N_INLINE),
  });
  part("plane.inline.lane_only", "InlineLane.execute alone (no node)", summary(b.lane));
  part("plane.inline.admit_only", "node.admit alone (memory sink, 2 evidence records)", summary(b.admit));
  part("plane.ed25519.sign", "signAuthorityRef alone", summary(b.sign));
  part("plane.ed25519.verify", "Ed25519AuthorityVerifier.verify alone", summary(b.verify));
}

// ------------------------------------------------------------------ process

/** spawn + stdin closed + stdout collected + awaiting close. */
function spawnOnce() {
  return new Promise((resolve, reject) => {
    const child = spawn(CMD, CMD_ARGV, { stdio: "pipe" });
    const chunks = [];
    child.stdout.on("data", (c) => chunks.push(c));
    child.stderr.on("data", () => undefined);
    child.on("error", reject);
    child.stdin.end();
    child.on("close", (code) => {
      const out = Buffer.concat(chunks).toString("utf8");
      if (code !== 0 || out !== "ok\n") reject(new Error(`spawn: exit ${code}, stdout ${JSON.stringify(out)}`));
      else resolve(out);
    });
  });
}

/** Runs `op(i)` for i < n with `c` in flight. */
async function pool(n, c, op) {
  let next = 0;
  const worker = async () => {
    while (next < n) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
}

async function directProcess(n, c) {
  return measure(n, () => pool(n, c, () => spawnOnce()));
}

async function planeProcess(sinkName, n, c) {
  const dir = makeTmpDir(`plane-proc-${sinkName}`);
  const sink = SINKS[sinkName](dir);
  try {
    const { node } = makeNode(new ProcessLane(), sink.sinks);
    const reqs = presign("process", "run", procPayload, n);
    const r = await measure(n, () =>
      pool(n, c, async (i) => {
        const res = await node.execute(reqs[i]);
        check(res);
        if (res.output.stdout !== "ok\n" || res.output.exit_code !== 0) throw new Error(`process output ${JSON.stringify(res.output)}`);
      }),
    );
    await node.close();
    return r;
  } finally {
    sink.close();
    removeDir(dir);
  }
}

async function benchProcess() {
  console.log(`\n== process: round trips/s (\`${[CMD, ...CMD_ARGV].join(" ")}\`; ${fmtInt(N_PROC)} per repetition) ==`);
  await directProcess(Math.min(20, N_PROC), 1);
  await planeProcess("memory", Math.min(20, N_PROC), 1);
  const r = await rotated({
    direct1: () => directProcess(N_PROC, 1),
    memory1: () => planeProcess("memory", N_PROC, 1),
    jsonl1: () => planeProcess("jsonl", N_PROC, 1),
    directC: () => directProcess(N_PROC, CONCURRENCY),
    memoryC: () => planeProcess("memory", N_PROC, CONCURRENCY),
    lane1: () => laneOnly(new ProcessLane(), "run", procPayload, N_PROC),
  });
  row("plane.process.seq.memory", "process echo ok, sequential, memory sink", summary(r.memory1), summary(r.direct1), "spawn, sequential");
  row("plane.process.seq.jsonl", "process echo ok, sequential, JSONL sink", summary(r.jsonl1), summary(r.direct1), "spawn, sequential");
  row(`plane.process.c${CONCURRENCY}.memory`, `process echo ok, ${CONCURRENCY} in flight, memory sink`, summary(r.memoryC), summary(r.directC), `spawn, ${CONCURRENCY} in flight`);
  row("plane.process.seq.lane_only", "ProcessLane.execute alone (no node), sequential", summary(r.lane1), summary(r.direct1), "spawn, sequential");
}

// ------------------------------------------------------------------ main

function table(md) {
  const head = ["figure", "plane", "µs/op", "direct", "direct µs/op", "ratio", "overhead µs/op", "CPU µs/op (plane / direct)", "others ≤"];
  const body = rows.map((r) => [
    r.figure,
    `${fmtInt(r.plane)}/s`,
    fmtNum(r.usPerOp, 1),
    r.baseline === null ? "—" : `${fmtInt(r.baseline)}/s`,
    r.baseline === null ? "—" : fmtNum(r.baseUsPerOp, 2),
    r.ratio === null ? "—" : r.ratio < 0.01 ? r.ratio.toExponential(1) : fmtNum(r.ratio, 2),
    r.baseline === null ? "—" : fmtNum(r.overheadUs, 1),
    r.baseline === null ? fmtNum(r.cpuUsPerOp, 1) : `${fmtNum(r.cpuUsPerOp, 1)} / ${fmtNum(r.baseCpuUsPerOp, 2)}`,
    Number.isFinite(r.others) ? `${fmtNum(r.others)} cores` : "",
  ]);
  if (md) {
    return [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...body.map((r) => `| ${r.join(" | ")} |`)].join("\n");
  }
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ");
  return [line(head), w.map((x) => "-".repeat(x)).join("  "), ...body.map(line)].join("\n");
}

let model = cpus()[0]?.model ?? "unknown";
try {
  const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
  if (m) model = m[1];
} catch {
  // not Linux
}
const started = now();
console.log(`Cairn execution-plane benchmarks — ${new Date().toISOString()}${QUICK ? " (--quick)" : ""}`);
console.log(`node ${process.version}, ${cpus().length} CPUs (${model}); reps ${REPS}; benches: ${opts.only.join(", ")}`);
console.log(`Cairn build: ${distDir} (plane/node/node.js modified ${statSync(join(distDir, "plane", "node", "node.js")).mtime.toISOString()})`);
console.log("ratio = plane rate / direct rate (1.00 = no overhead); others = most CPU other processes took during a measurement of the row");
if (opts.only.includes("inline")) await benchInline();
if (opts.only.includes("process")) await benchProcess();
console.log(`\n== summary (${fmtNum((now() - started) / 1000, 0)} s) ==`);
console.log(table(opts.md));
if (opts.json) {
  writeFileSync(opts.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, quick: QUICK, reps: REPS, nInline: N_INLINE, nStore: N_STORE, nProcess: N_PROC, rows }, null, 2)}\n`);
  console.log(`\nwrote ${opts.json}`);
}
