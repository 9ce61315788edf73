/**
 * Cross-check for the zip-fips demo WITHOUT Cairn: runs validate.ts's default export and
 * reduce over the CSV in this process (record order = EU-id order), prints the reduce result
 * as sorted-key JSON (the same shape `cairn run --json` reports), then every anomalous row.
 * Also checks the data-set facts the README relies on (row count, (ZIP, STCOUNTYFP) unique).
 *
 *   npx tsx examples/zip-fips/check-local.ts [../shared/data/zip-county-fips-2017-06.csv]
 *
 * The file has no quoting (verified: it contains no `"`), so a split on CRLF and "," is exact.
 */
import { readFileSync } from "node:fs";
import validate, { initial, reduce, type RowResult, type Summary } from "./validate.js";

const file = process.argv[2] ?? "../shared/data/zip-county-fips-2017-06.csv";
const text = readFileSync(file, "latin1");
if (text.includes('"')) throw new Error("file contains quotes; this simple splitter does not handle them");
const lines = text.split("\r\n");
if (lines[lines.length - 1] === "") lines.pop();
const header = (lines.shift() as string).split(",");

/** JSON with object keys sorted (what canonical JSON does for these integer/string values). */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
  }
  return v;
}

const t0 = performance.now();
let acc = JSON.parse(JSON.stringify(initial)) as Summary;
const bad: Array<{ index: number; line: number; raw: string; out: RowResult }> = [];
const pairs = new Set<string>();
let dupPairs = 0;
lines.forEach((raw, index) => {
  const fields = raw.split(",");
  if (fields.length !== header.length) throw new Error(`line ${index + 2}: ${fields.length} fields`);
  const rec = Object.fromEntries(header.map((h, i) => [h, fields[i]]));
  const out = validate(rec);
  acc = reduce(acc, JSON.parse(JSON.stringify(out)) as RowResult);
  if (!out.valid) bad.push({ index, line: index + 2, raw, out });
  const key = `${rec.ZIP},${rec.STCOUNTYFP}`;
  if (pairs.has(key)) dupPairs++;
  pairs.add(key);
});
const ms = performance.now() - t0;

console.log(JSON.stringify(sorted(acc)));
console.error(`rows=${lines.length} invalid=${bad.length} duplicate(ZIP,STCOUNTYFP)=${dupPairs} states=${Object.keys(acc.states).length} time=${ms.toFixed(0)}ms`);
for (const b of bad) console.error(`id=${b.index} line=${b.line} ${b.raw}  ${b.out.anomalies.join(",")}`);
