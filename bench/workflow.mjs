/**
 * Workflow benchmarks (issue 4 §7.1): PGS v0.3 workflow runs per second, in-process, through
 * `POST /api/run` of `cairn serve`, and the one-shot CLI `cairn wf run --no-render`.
 *
 *   npm run build && node --expose-gc bench/workflow.mjs
 *   node --expose-gc bench/workflow.mjs --only inproc        (inproc | tmpfs | growth | ab | http | cli; also i, ii, iii)
 *   CAIRN_BENCH_AB_DIST=<other dist/> node --expose-gc bench/workflow.mjs --only ab   before/after of two builds
 *   CAIRN_BENCH_SCALE=0.2 node --expose-gc bench/workflow.mjs   quick run
 *
 * Workflows: `ai_governance::WF_GOVERN_AGENT_ACTION_V0` with payload
 * `payloads/agent_governance/01_valid_standard_action.json` (data root seeded with the pack's
 * license facts) and `blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0` with
 * `workspace/seeds/register_actor_unverified_payload.json`, from the fixture pack
 * (../shared/fixtures/pgs, or $PGS_FIXTURES). Every run writes its per-run trace files,
 * `<trace_id>.jsonl` and `<trace_id>.md`, exactly as `cairn wf run --no-render` does
 * (pictures off); no store unless stated.
 *
 * Data-root regime: the same payload is run again and again; each run appends to the workflow's
 * registry / audit log, so every run has another prior state and hence another trace id (a new
 * trace directory per run). The file cache follows the runtime's own appends (ARCHITECTURE
 * §11.6: bytes, SHA-256 state, the log's line summary and the registry's parsed state), so a
 * run's cost should not grow with the data root; `growth` measures that (below). To measure a
 * steady figure anyway, each data root serves
 * CAIRN_BENCH_WF_ROOT_RUNS runs (default 100) and the next run uses the next fresh, seeded data
 * root; the data roots are prepared, and their data-root locks taken (one `acquireDataRootLock`
 * per data root, passed to its runs as `dataRootLock`, as `cairn serve` does), before the timed
 * loop. The "one data root" line shows the growth over a whole measurement instead.
 *
 * `tmpfs` repeats the two in-process figures with the workspace, the data roots and the
 * baseline's files on /dev/shm: without the disk, what is left is Cairn's CPU and system-call
 * cost (informational; the disk figures are the recorded ones).
 *
 * Baselines, measured in the same process run, interleaved with Cairn (ABBA), median reported:
 *  - in-process: the raw cost of writing the same trace bytes with fs — per run, mkdirSync
 *    (recursive) of a fresh `traces/<domain>/<WF_CODE>/<id>/` directory and writeFileSync of the
 *    `.jsonl` and the `.md` (the bytes of a real run of the same workflow). Also, for
 *    information, the same files with the `.jsonl` written one write() per event, as the trace
 *    writer did before it batched its writes (one per CS call and one at the end).
 *  - HTTP: `GET /api/health` on the same server with the same clients (the HTTP round trip
 *    without a run), and the in-process rate.
 *  - CLI: a bare `node -e 0` spawn.
 *  - growth: GOVERN runs against an audit log already holding ~20 MB and ~100 MB of records
 *    (× CAIRN_BENCH_SCALE), beside the same runs on a fresh data root in the same process: the
 *    CPU per run should not depend on the log's size (the first run after the log was written
 *    reads it once and is left out: 50 warm-up runs, then CAIRN_BENCH_WF_GROWTH_RUNS runs).
 * The reference runtime (pgs_runtime 0.3.1, Python) is not runnable here: its figures are the
 * ones stated in issue 4 §7.1, printed as "quoted, not measured here".
 *
 * Environment: CAIRN_BENCH_SCALE (multiplies run counts), CAIRN_BENCH_REPS (repetitions;
 * default 3), CAIRN_BENCH_WF_RUNS (in-process runs per measurement; default 1000),
 * CAIRN_BENCH_WF_ROOT_RUNS (runs per data root; default 100), CAIRN_BENCH_WF_HTTP (requests per
 * measurement; default 600), CAIRN_BENCH_WF_CLIENTS (concurrent HTTP clients; default 4),
 * CAIRN_BENCH_WF_SPAWNS (CLI spawns per side; default 20), CAIRN_BENCH_DIST (a copy of dist/ to
 * measure instead of the live one).
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  diskOf, envInt, fmtInt, fmtNum, gc, header, interleaved, makeTmpDir, median, note, now, parseBenchArgs, removeDir, report, reps, scaled,
} from "./util.mjs";

const BENCHES = ["inproc", "tmpfs", "growth", "ab", "http", "cli"];
const opts = parseBenchArgs(process.argv.slice(2), { script: "workflow.mjs", benches: BENCHES, aliases: { i: "inproc", ii: "http", iii: "cli" } });

const HERE = fileURLToPath(new URL(".", import.meta.url));
const DIST = resolve(process.env.CAIRN_BENCH_DIST ?? join(HERE, "../dist"));
const CLI = join(DIST, "cli/main.js");
const PACK = resolve(process.env.PGS_FIXTURES ?? join(HERE, "../../shared/fixtures/pgs"));
for (const [what, p] of [["dist/workflow/pgs/index.js (run `npx tsc -p tsconfig.build.json` first)", join(DIST, "workflow/pgs/index.js")], ["the PGS fixture pack ($PGS_FIXTURES)", join(PACK, "workspace")]]) {
  if (!existsSync(p)) {
    console.error(`workflow.mjs: missing ${what}: ${p}`);
    process.exit(2);
  }
}
const pgs = await import(pathToFileURL(join(DIST, "workflow/pgs/index.js")).href);

const REPS = reps(3);
const RUNS = scaled(envInt("CAIRN_BENCH_WF_RUNS", 1000), 50);
const ROOT_RUNS = envInt("CAIRN_BENCH_WF_ROOT_RUNS", 100);
const HTTP_REQS = scaled(envInt("CAIRN_BENCH_WF_HTTP", 600), 50);
const CLIENTS = envInt("CAIRN_BENCH_WF_CLIENTS", 4);
const SPAWNS = scaled(envInt("CAIRN_BENCH_WF_SPAWNS", 20), 3);

const LICENSE_FACTS = join(PACK, "payloads/agent_governance/seed_data/license_facts.json");
const WORKFLOWS = [
  {
    key: "govern",
    fqdn: "ai_governance::WF_GOVERN_AGENT_ACTION_V0",
    payloadFile: join(PACK, "payloads/agent_governance/01_valid_standard_action.json"),
    seed: true,
    // issue 4 §7.1: "about 1,200–1,360 runs/s for this workflow"
    reference: { low: 1200, high: 1360 },
  },
  {
    key: "actor",
    fqdn: "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0",
    payloadFile: join(PACK, "workspace/seeds/register_actor_unverified_payload.json"),
    seed: false,
    // issue 4 §7.1: "about 2,480 runs/s for WF_REGISTER_ACTOR_UNVERIFIED_V0"
    reference: { low: 2480, high: 2480 },
  },
];
const REFERENCE_CLI_MS = 70; // issue 4 §7.1: "Its CLI costs about 70 ms per run"
const TARGET_VS_REFERENCE = 10;

// ------------------------------------------------------------------ fixtures

function makeWritable(p) {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of readdirSync(p)) makeWritable(join(p, e));
}

/** A writable copy of the pack's workspace. */
function copyWorkspace(dir) {
  cpSync(join(PACK, "workspace"), dir, { recursive: true });
  makeWritable(dir);
  return dir;
}

/** A fresh data root (seeded with the license facts when the workflow needs them). */
function freshDataRoot(dir, wf) {
  mkdirSync(dir, { recursive: true });
  if (wf.seed) {
    const d = join(dir, "ai_governance/ai_licensing");
    mkdirSync(d, { recursive: true });
    cpSync(LICENSE_FACTS, join(d, "license_facts.json"));
    chmodSync(join(d, "license_facts.json"), 0o644);
  }
  return dir;
}

function quoted(rate, ref) {
  const lo = rate / ref.high;
  const hi = rate / ref.low;
  const refText = ref.low === ref.high ? `~${fmtInt(ref.low)} runs/s` : `~${fmtInt(ref.low)}–${fmtInt(ref.high)} runs/s`;
  const ratioText = ref.low === ref.high ? `${fmtNum(lo)}x` : `${fmtNum(lo)}–${fmtNum(hi)}x`;
  const verdict = lo >= TARGET_VS_REFERENCE ? "MET" : hi >= TARGET_VS_REFERENCE ? "MET against the low end only" : "MISSED";
  return `reference pgs_runtime 0.3.1 in-process ${refText} (quoted from issue 4 §7.1, not measured here; 2-core machine): Cairn/reference ${ratioText} | target >= ${TARGET_VS_REFERENCE}x ${verdict}`;
}

// ------------------------------------------------------------------ (i) in-process

/**
 * The run options every in-process variant shares; `extra` adds a variant's options. Each run is
 * given its data root's lock, taken once per data root by `timeRuns` before the clock starts
 * (`dataRootLock`), so the timed loop does no per-run locking, as in `cairn serve`.
 */
function runner(wf, workspace, snapshot, payload, extra) {
  return (dataRoot, dataRootLock) => pgs.runPgsWorkflow({ workspace, workflow: wf.fqdn, payload, dataRoot, snapshot, dataRootLock, ...extra });
}

/** Takes a data root's lock (`acquireDataRootLock` of this build; undefined for a build without it). */
const lockDataRoot = (dataRoot) => pgs.acquireDataRootLock?.(dataRoot);

/** CPU time (user + system, µs) per run of every `timeRuns` call, for the report lines. */
let cpuPerRun = [];

/**
 * Times `n` runs of `run(dataRoot, dataRootLock)`, switching to the next prepared data root every
 * `perRoot` runs (the roots are prepared, and their locks taken with `lock`, before the clock
 * starts; the locks are released after it stops). Returns runs/s.
 */
function timeRuns(wf, root, tag, n, perRoot, run, lock = lockDataRoot) {
  const roots = [];
  for (let i = 0; i * perRoot < n; i++) roots.push(freshDataRoot(join(root, `${tag}-${i}`), wf));
  const locks = roots.map((r) => lock(r));
  gc();
  const cpu0 = process.cpuUsage();
  const t0 = now();
  let last;
  let ms;
  let cpu;
  try {
    for (let i = 0; i < n; i++) {
      const k = Math.floor(i / perRoot);
      last = run(roots[k], locks[k]);
    }
    ms = now() - t0;
    cpu = process.cpuUsage(cpu0);
  } finally {
    for (const l of locks) l?.release();
  }
  if (last.status !== "SUCCESS") throw new Error(`${wf.fqdn}: last run ended ${last.status}: ${JSON.stringify(last.error)}`);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  cpuPerRun.push((cpu.user + cpu.system) / n);
  return { rate: n / (ms / 1000), last };
}

/** Baseline: per run, mkdir -p a fresh trace-shaped directory and write the two files. */
function timeFsBaseline(base, wf, n, jsonl, md, perEvent) {
  const [domain, code] = [wf.fqdn.slice(0, wf.fqdn.indexOf("::")), wf.fqdn.slice(wf.fqdn.lastIndexOf("::") + 2)];
  const dir = join(base, "traces", domain, code);
  const lines = perEvent ? jsonl.toString("utf8").split(/(?<=\n)/) : [];
  gc();
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const id = `${String(i).padStart(16, "0")}__${code}__ABCD`;
    const d = join(dir, id);
    mkdirSync(d, { recursive: true });
    if (perEvent) {
      const fd = openSync(join(d, `${id}.jsonl`), "w");
      for (const l of lines) writeSync(fd, l);
      closeSync(fd);
    } else {
      writeFileSync(join(d, `${id}.jsonl`), jsonl);
    }
    writeFileSync(join(d, `${id}.md`), md);
  }
  const ms = now() - t0;
  rmSync(base, { recursive: true, force: true });
  return n / (ms / 1000);
}

/** A temp dir on tmpfs (/dev/shm), removed at exit; undefined when there is none. */
function makeShmDir(tag) {
  if (!existsSync("/dev/shm")) return undefined;
  const dir = mkdtempSync(join("/dev/shm", `cairn-bench-${tag}-`));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `tmpfs`: the same measurement with the workspace (traces), the data roots and the baseline's
 * files on tmpfs instead of the disk — no journal, no device: what is left is Cairn's CPU cost
 * and the system calls. Informational (not the configuration of the figures above).
 */
async function benchInProcess(tmpfs = false) {
  header(`workflow (i) in-process: snapshot loaded once, JSONL trace + .md on, pictures off${tmpfs ? " — ON TMPFS (/dev/shm), not the disk" : ""}`);
  note(`${RUNS} runs per measurement, ${ROOT_RUNS} runs per data root, ${REPS} repetitions (median), interleaved with the baseline`);
  const results = {};
  for (const wf of WORKFLOWS) {
    const root = tmpfs ? makeShmDir(`wf-${wf.key}`) : makeTmpDir(`wf-${wf.key}`);
    if (root === undefined) {
      note("no /dev/shm: tmpfs measurement skipped");
      return results;
    }
    const domain = wf.fqdn.slice(0, wf.fqdn.indexOf("::"));
    const payload = pgs.readPayloadFile(wf.payloadFile);
    const workspace = copyWorkspace(join(root, "workspace"));
    const snapshot = pgs.loadSnapshot(workspace, domain);
    const run = runner(wf, workspace, snapshot, payload, {});

    // Warm-up, and the bytes of a real run's trace files for the fs baseline.
    const warm = timeRuns(wf, root, "warm", 200, ROOT_RUNS, run);
    const jsonl = readFileSync(join(warm.last.traceDirAbs, `${warm.last.traceId}.jsonl`));
    const md = readFileSync(join(warm.last.traceDirAbs, `${warm.last.traceId}.md`));
    const chain = pgs.verifyTraceChain(join(warm.last.traceDirAbs, `${warm.last.traceId}.jsonl`));
    if (!chain.ok) throw new Error(`trace chain does not verify: ${JSON.stringify(chain.problem)}`);
    note(load1());
    note(`${wf.fqdn}: ${warm.last.events} events, ${jsonl.length} B .jsonl + ${md.length} B .md per run, path ${warm.last.path.length} nodes, ${warm.last.effects.length} CS calls`);
    const clearTraces = () => rmSync(join(workspace, "traces"), { recursive: true, force: true });
    clearTraces();

    const name = wf.key === "govern" ? "GOVERN_AGENT_ACTION" : "REGISTER_ACTOR_UNVERIFIED";
    let rate;
    for (const mode of ["fsync", "no-fsync"]) {
      const label = `${name} in-process, effectDurability ${mode}${mode === "fsync" ? " (default)" : " (as the reference: no fsync)"}`;
      const runMode = runner(wf, workspace, snapshot, payload, { effectDurability: mode });
      cpuPerRun = [];
      const r = await interleaved(
        REPS,
        () => {
          const x = timeRuns(wf, root, "data", RUNS, ROOT_RUNS, runMode).rate;
          clearTraces();
          return x;
        },
        () => timeFsBaseline(join(root, "fsbase"), wf, RUNS, jsonl, md, false),
      );
      const m = median(r.cairn);
      report({
        id: `workflow.inproc${tmpfs ? ".tmpfs" : ""}.${wf.key}.${mode}`, label: tmpfs ? `${label} [tmpfs]` : label, value: m, unit: "/s",
        baseline: { label: "fs: mkdir -p + writeFileSync .jsonl + .md per run", value: median(r.baseline) },
        info: `runs/s, Cairn [${r.cairn.map(fmtInt).join(", ")}] baseline [${r.baseline.map(fmtInt).join(", ")}]; Cairn CPU (user+sys) ${fmtInt(median(cpuPerRun))} µs/run`,
      });
      console.log(`  ${quoted(m, wf.reference)}`);
      if (mode === "fsync") rate = m;
      results[`${wf.key}.${mode}`] = m;
    }
    results[wf.key] = rate;
    const label = `${name} in-process`;

    if (tmpfs) {
      rmSync(root, { recursive: true, force: true });
      continue;
    }
    // Information: the baseline with one write() per event, as the trace writer did before batching.
    const perEvent = [];
    for (let i = 0; i < REPS; i++) perEvent.push(timeFsBaseline(join(root, "fsbase"), wf, RUNS, jsonl, md, true));
    note(`fs baseline with the .jsonl written one write() per event (${jsonl.toString("utf8").split("\n").length - 1} writes): ${fmtInt(median(perEvent))} runs/s [${perEvent.map(fmtInt).join(", ")}]`);

    for (const v of VARIANTS) {
      if (!v.applies(wf)) continue;
      const vr = [];
      const n = v.runs ?? RUNS;
      for (let i = 0; i < REPS; i++) {
        const ctx = v.setup === undefined ? {} : v.setup(root, i);
        vr.push(timeRuns(wf, root, `v${i}`, n, v.perRoot ?? ROOT_RUNS, runner(wf, workspace, snapshot, payload, v.options(ctx))).rate);
        v.teardown?.(ctx);
        clearTraces();
      }
      note(`${label}, ${v.label}: ${fmtInt(median(vr))} runs/s [${vr.map(fmtInt).join(", ")}] (${n} runs; ratio to the default configuration above ${fmtNum(median(vr) / rate)})`);
    }
    removeDir(root);
  }
  return results;
}

/** Further in-process configurations (default effectDurability), each reported as an informational line. */
const STORE_RUNS = Math.max(20, Math.round(RUNS / 5));
const VARIANTS = [
  {
    label: `one data root for the whole measurement (${RUNS} runs: the CS files grow)`,
    applies: () => true,
    perRoot: Number.MAX_SAFE_INTEGER,
    options: () => ({}),
  },
  {
    label: "recording every run in a store (the start record and the record: two store transactions per run, durability normal)",
    applies: () => true,
    runs: STORE_RUNS,
    setup: (root, i) => {
      const dir = join(root, `store-${i}`);
      return { dir, store: storeApi.openStore({ dir, create: true, durability: "normal" }) };
    },
    options: (ctx) => ({ store: ctx.store }),
    teardown: (ctx) => {
      ctx.store.close();
      rmSync(ctx.dir, { recursive: true, force: true });
    },
  },
];
const storeApi = await import(pathToFileURL(join(DIST, "index.js")).href);

// ------------------------------------------------------------------ A/B: this build against another

/**
 * Before/after comparison of two builds in one process (CAIRN_BENCH_AB_DIST = the other
 * build's dist/): blocks of runs alternate between the two builds' `runPgsWorkflow` on tmpfs
 * (no disk noise), same workspace copy, fresh data roots; CPU time (user + system) and wall
 * time per run, medians over the blocks. Both builds run with their default options.
 */
async function benchAb() {
  const other = process.env.CAIRN_BENCH_AB_DIST;
  header("workflow A/B: this build vs CAIRN_BENCH_AB_DIST, in-process on tmpfs, default options");
  if (other === undefined || other === "") {
    note("CAIRN_BENCH_AB_DIST is not set: skipped");
    return;
  }
  const pgsB = await import(pathToFileURL(join(resolve(other), "workflow/pgs/index.js")).href);
  const BLOCK = scaled(200, 20);
  const BLOCKS = 2 * Math.max(3, REPS);
  note(`${BLOCKS} blocks of ${BLOCK} runs per build, alternating (ABBA); ${load1()}; other build: ${resolve(other)}`);
  for (const wf of WORKFLOWS) {
    const root = makeShmDir(`wf-ab-${wf.key}`) ?? makeTmpDir(`wf-ab-${wf.key}`);
    const domain = wf.fqdn.slice(0, wf.fqdn.indexOf("::"));
    const workspace = copyWorkspace(join(root, "workspace"));
    const sides = [pgs, pgsB].map((lib) => {
      const snapshot = lib.loadSnapshot(workspace, domain);
      const payload = lib.readPayloadFile(wf.payloadFile);
      // A build without data-root locks ignores `dataRootLock`.
      return (dataRoot, dataRootLock) => lib.runPgsWorkflow({ workspace, workflow: wf.fqdn, payload, dataRoot, snapshot, dataRootLock });
    });
    // Both sides get the data root's lock taken before the clock (by whichever build has the API).
    const lockAb = (dataRoot) => (pgs.acquireDataRootLock ?? pgsB.acquireDataRootLock)?.(dataRoot);
    for (const run of sides) timeRuns(wf, root, "warm", BLOCK, ROOT_RUNS, run, lockAb);
    const cpu = [[], []];
    const wall = [[], []];
    for (let b = 0; b < BLOCKS; b++) {
      const order = b % 2 === 0 ? [0, 1] : [1, 0];
      for (const side of order) {
        cpuPerRun = [];
        const { rate } = timeRuns(wf, root, `ab${side}`, BLOCK, ROOT_RUNS, sides[side], lockAb);
        cpu[side].push(cpuPerRun[0]);
        wall[side].push(1e6 / rate);
        rmSync(join(workspace, "traces"), { recursive: true, force: true });
      }
    }
    const [cThis, cOther] = cpu.map(median);
    const [wThis, wOther] = wall.map(median);
    const name = wf.key === "govern" ? "GOVERN_AGENT_ACTION" : "REGISTER_ACTOR_UNVERIFIED";
    console.log(
      `${name} A/B on tmpfs: CPU ${fmtInt(cThis)} µs/run (this) vs ${fmtInt(cOther)} µs/run (other): ${fmtNum(cOther / cThis)}x less CPU | ` +
        `wall ${fmtInt(wThis)} vs ${fmtInt(wOther)} µs/run: ${fmtNum(wOther / wThis)}x  [CPU this ${cpu[0].map(fmtInt).join(", ")}; other ${cpu[1].map(fmtInt).join(", ")}]`,
    );
    rmSync(root, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ (ii) HTTP

/** Starts `cairn serve --port 0` as a child process; resolves to { url, stop }. */
function startServer(workspace, dataRoot) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(process.execPath, [CLI, "serve", "--workspace", workspace, "--data-root", dataRoot, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const onData = (d) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m !== null) {
        child.stderr.off("data", onData);
        child.stderr.resume();
        resolveStart({
          url: m[1],
          stop: () =>
            new Promise((done) => {
              child.once("exit", () => done());
              child.kill("SIGTERM");
            }),
        });
      }
    };
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`cairn serve exited (${code}) before listening: ${err}`)));
  });
}

/** `total` requests from `clients` concurrent loops; returns requests/s. */
async function load(total, clients, request) {
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        next++;
        await request();
      }
    }),
  );
  return total / ((now() - t0) / 1000);
}

async function benchHttp(inproc) {
  header(`workflow (ii) POST /api/run of \`cairn serve\` (child process), ${CLIENTS} concurrent clients over HTTP/1.1 keep-alive (fetch)`);
  note(`${HTTP_REQS} requests per measurement, ${REPS} repetitions (median); each repetition starts a fresh server on a fresh data root`);
  for (const wf of WORKFLOWS) {
    const root = makeTmpDir(`wf-http-${wf.key}`);
    const workspace = copyWorkspace(join(root, "workspace"));
    const body = JSON.stringify({ workflow_code: wf.fqdn, payload: JSON.parse(readFileSync(wf.payloadFile, "utf8")) });
    const post = (url) => async () => {
      const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body });
      const doc = await res.json();
      if (res.status !== 200 || doc.status !== "SUCCESS") throw new Error(`POST /api/run: HTTP ${res.status} ${JSON.stringify(doc)}`);
    };
    const health = (url) => async () => {
      const res = await fetch(`${url}/api/health`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET /api/health: HTTP ${res.status}`);
    };
    note(`${wf.fqdn}: ${load1()}`);
    const runs = [];
    const base = [];
    for (let i = 0; i < REPS; i++) {
      const srv = await startServer(workspace, freshDataRoot(join(root, `data-${i}`), wf));
      try {
        await load(50, CLIENTS, post(srv.url)); // warm-up (loads the snapshot)
        await load(200, CLIENTS, health(srv.url));
        if (i % 2 === 0) {
          runs.push(await load(HTTP_REQS, CLIENTS, post(srv.url)));
          base.push(await load(HTTP_REQS, CLIENTS, health(srv.url)));
        } else {
          base.push(await load(HTTP_REQS, CLIENTS, health(srv.url)));
          runs.push(await load(HTTP_REQS, CLIENTS, post(srv.url)));
        }
      } finally {
        await srv.stop();
      }
      rmSync(join(workspace, "traces"), { recursive: true, force: true });
    }
    const rate = median(runs);
    const label = `${wf.key === "govern" ? "GOVERN_AGENT_ACTION" : "REGISTER_ACTOR_UNVERIFIED"} POST /api/run`;
    report({
      id: `workflow.http.${wf.key}`, label, value: rate, unit: "/s",
      baseline: { label: `GET /api/health, same server and clients`, value: median(base) },
      info: `runs/s, Cairn [${runs.map(fmtInt).join(", ")}] baseline [${base.map(fmtInt).join(", ")}]`,
    });
    if (inproc?.[wf.key] !== undefined) note(`in-process rate measured above: ${fmtInt(inproc[wf.key])} runs/s (HTTP/in-process ${fmtNum(rate / inproc[wf.key])})`);
    note(`no reference figure is stated for the HTTP gateway; runs are serialised by the server's run queue (one at a time); ${HTTP_REQS + 50} runs per data root`);
    removeDir(root);
  }
}

// ------------------------------------------------------------------ (iii) CLI

async function benchCli() {
  header("workflow (iii) one-shot CLI: `cairn wf run ... --no-render`, wall time per spawn");
  note(`${SPAWNS} spawns per side, interleaved with \`node -e 0\`; mean reported (median in brackets)`);
  for (const wf of WORKFLOWS) {
    const root = makeTmpDir(`wf-cli-${wf.key}`);
    const workspace = copyWorkspace(join(root, "workspace"));
    const dataRoot = freshDataRoot(join(root, "data"), wf);
    const args = [CLI, "wf", "run", "--workspace", workspace, "--wf", wf.fqdn, "--payload", wf.payloadFile, "--data-root", dataRoot, "--no-render"];
    const once = (argv) => {
      const t0 = now();
      const r = spawnSync(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
      const ms = now() - t0;
      if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
      return ms;
    };
    note(`${wf.fqdn}: ${load1()}`);
    once(args); // warm the page cache
    once(["-e", "0"]);
    const r = await interleaved(SPAWNS, () => once(args), () => once(["-e", "0"]));
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const cliMs = mean(r.cairn);
    const label = `${wf.key === "govern" ? "GOVERN_AGENT_ACTION" : "REGISTER_ACTOR_UNVERIFIED"} cairn wf run --no-render`;
    report({
      id: `workflow.cli.${wf.key}`, label, value: cliMs, unit: "ms", lowerIsBetter: true,
      baseline: { label: "node -e 0", value: mean(r.baseline) },
      info: `mean of ${SPAWNS}; medians ${fmtNum(median(r.cairn), 1)} ms vs ${fmtNum(median(r.baseline), 1)} ms`,
    });
    const nodeMs = mean(r.baseline);
    note(`above a bare Node start: ${fmtNum(cliMs - nodeMs, 1)} ms per run`);
    note(
      `reference CLI ~${REFERENCE_CLI_MS} ms per run (quoted from issue 4 §7.1, not measured here): reference/Cairn ${fmtNum(REFERENCE_CLI_MS / cliMs)} ` +
        `(${cliMs <= REFERENCE_CLI_MS ? "faster than" : "slower than"} the quoted figure)`,
    );
    removeDir(root);
  }
}

const GROWTH_RUNS = scaled(envInt("CAIRN_BENCH_WF_GROWTH_RUNS", 500), 50);
const GROWTH_LOG_MB = [20, 100].map((mb) => Math.max(1, Math.round(mb * Math.min(1, Number(process.env.CAIRN_BENCH_SCALE ?? 1)))));

/** CPU and wall per GOVERN run with the audit log pre-filled to `mb` MB (0: fresh data root), after a warm-up. */
function timeGrowth(root, wf, run, mb) {
  const dr = freshDataRoot(join(root, `growth-${mb}`), wf);
  if (mb > 0) {
    const d = join(dr, "ai_governance/agent_governance");
    mkdirSync(d, { recursive: true });
    const line = `{"record_id": "x", "sequence_number": 1, "timestamp": "2020-01-01T00:00:00.000000", "actor_id": "a", "stream_id": "s", "record": {"pad": "${"p".repeat(400)}"}}\n`;
    writeFileSync(join(d, "governance_audit.jsonl"), line.repeat(Math.round((mb * 1e6) / line.length)));
  }
  const lock = lockDataRoot(dr);
  try {
    for (let i = 0; i < 50; i++) run(dr, lock);
    gc();
    const cpu0 = process.cpuUsage();
    const t0 = now();
    let last;
    for (let i = 0; i < GROWTH_RUNS; i++) last = run(dr, lock);
    const ms = now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (last.status !== "SUCCESS") throw new Error(`${wf.fqdn}: last run ended ${last.status}: ${JSON.stringify(last.error)}`);
    return { cpuUs: (cpu.user + cpu.system) / GROWTH_RUNS, wallUs: (ms * 1000) / GROWTH_RUNS };
  } finally {
    lock?.release();
    rmSync(dr, { recursive: true, force: true });
  }
}

async function benchGrowth() {
  const wf = WORKFLOWS.find((w) => w.key === "govern");
  header(`workflow growth: GOVERN_AGENT_ACTION against a large audit log (${GROWTH_LOG_MB.join(" / ")} MB) vs a fresh data root, in-process`);
  const root = makeTmpDir("wf-growth");
  const workspace = copyWorkspace(join(root, "workspace"));
  const snapshot = pgs.loadSnapshot(workspace, "ai_governance");
  const run = runner(wf, workspace, snapshot, pgs.readPayloadFile(wf.payloadFile), {});
  const clear = () => rmSync(join(workspace, "traces"), { recursive: true, force: true });
  for (const mb of GROWTH_LOG_MB) {
    const fresh = [];
    const big = [];
    for (let r = 0; r < REPS; r++) {
      fresh.push(timeGrowth(root, wf, run, 0));
      clear();
      big.push(timeGrowth(root, wf, run, mb));
      clear();
    }
    const f = median(fresh.map((x) => x.cpuUs));
    const b = median(big.map((x) => x.cpuUs));
    report({
      id: `workflow.growth.${mb}mb`, label: `GOVERN CPU per run, audit log of ${mb} MB`, value: b, unit: "µs", lowerIsBetter: true,
      baseline: { label: "fresh data root", value: f },
      info: `target: flat (ratio ~1); wall ${fmtInt(median(big.map((x) => x.wallUs)))} vs ${fmtInt(median(fresh.map((x) => x.wallUs)))} µs; ${GROWTH_RUNS} runs × ${REPS}`,
    });
  }
  removeDir(root);
}

// ------------------------------------------------------------------ main

console.log(`workflow benchmarks: node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), disk ${diskOf(makeTmpDir("probe"))}`);
console.log(`dist: ${DIST}; fixtures: ${PACK}; gc ${typeof globalThis.gc === "function" ? "exposed" : "not exposed (run with --expose-gc)"}`);
const load1 = () => `load average ${loadavg().map((x) => fmtNum(x)).join(" ")}`;
console.log(load1());
const t0 = now();
let inproc;
if (opts.only.includes("inproc")) inproc = await benchInProcess();
if (opts.only.includes("tmpfs")) await benchInProcess(true);
if (opts.only.includes("growth")) await benchGrowth();
if (opts.only.includes("ab")) await benchAb();
if (opts.only.includes("http")) await benchHttp(inproc);
if (opts.only.includes("cli")) await benchCli();
console.log(`\nworkflow benchmarks done in ${fmtNum((now() - t0) / 1000, 1)} s; ${load1()}`);
if (opts.json !== undefined) writeFileSync(opts.json, `${JSON.stringify({ inproc }, null, 2)}\n`);
