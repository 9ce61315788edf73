/**
 * Summarises V8 .cpuprofile files (node --cpu-prof): self time by function (name + file:line)
 * and by file, top N (default 30; $TOP), and for the top few functions the callers their
 * self time comes from (one or two frames up; $CALLERS functions, default 8).
 *
 *   node bench/batch/cpuprofile-summary.mjs FILE.cpuprofile [...]
 */
import { readFileSync } from "node:fs";

const TOP = Number(process.env.TOP ?? 30);
const CALLERS = Number(process.env.CALLERS ?? 8);
const INCLUSIVE = new RegExp(
  process.env.INCLUSIVE ??
    "^(execute|ingest|storeFunction|loadFunction|storedRecords|add|toSpec|runPulse|executePulse|commitPulse|checksumOf|addOutputs|addRecord|findCommittedPulse|mergeOutputs|lines|ordered|recordManifest|buildManifest|runPulseOn|estimateSize|partitionOf|recordText|close|put|sliceBytes|request)$",
);

function shortUrl(url) {
  return url.replace(/^file:\/\/.*?\/(dist|node_modules|bench)\//, "$1/");
}

function label(cf) {
  const short = shortUrl(cf.url);
  return `${cf.functionName || "(anonymous)"}  ${short || "(native/VM)"}${cf.url ? `:${cf.lineNumber + 1}` : ""}`;
}

for (const file of process.argv.slice(2)) {
  const p = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i];
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fnAgg = new Map();
  const fileAgg = new Map();
  const callers = new Map(); // fn label -> Map(caller chain -> us)
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const key = label(cf);
    fnAgg.set(key, (fnAgg.get(key) ?? 0) + us);
    const fk = shortUrl(cf.url) || `(${cf.functionName || "VM"})`;
    fileAgg.set(fk, (fileAgg.get(fk) ?? 0) + us);
    const up = [];
    let q = parent.get(id);
    while (q !== undefined && up.length < 2) {
      const qcf = byId.get(q).callFrame;
      up.push(label(qcf));
      q = parent.get(q);
    }
    const chain = up.join("  <-  ") || "(root)";
    if (!callers.has(key)) callers.set(key, new Map());
    const m = callers.get(key);
    m.set(chain, (m.get(chain) ?? 0) + us);
  }
  // Inclusive time: each sample counts once for every distinct matching function on its stack.
  const incl = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    let q = id;
    while (q !== undefined) {
      const cf = byId.get(q).callFrame;
      if (INCLUSIVE.test(cf.functionName) && cf.url !== "") {
        const key = label(cf);
        if (!seen.has(key)) {
          seen.add(key);
          incl.set(key, (incl.get(key) ?? 0) + us);
        }
      }
      q = parent.get(q);
    }
  }
  const fmt = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
  console.log("\nself time by function:");
  for (const [k, us] of sorted(fnAgg).slice(0, TOP)) console.log(`${fmt(us)}  ${k}`);
  console.log("\nself time by file:");
  for (const [k, us] of sorted(fileAgg).slice(0, TOP)) console.log(`${fmt(us)}  ${k}`);
  console.log("\ncallers of the top functions:");
  for (const [k] of sorted(fnAgg).slice(0, CALLERS)) {
    console.log(`  ${k}`);
    for (const [chain, us] of sorted(callers.get(k)).slice(0, 4)) console.log(`    ${fmt(us)}  <-  ${chain}`);
  }
  console.log(`\ninclusive time of ${INCLUSIVE}:`);
  for (const [k, us] of sorted(incl).slice(0, TOP)) console.log(`${fmt(us)}  ${k}`);
}
