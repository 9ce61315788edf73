/**
 * Puts of distinct 1 KiB artifacts per second.
 *
 * Cairn: store.transaction(() => { for (…) store.putBytes(buf) }) in batches of 10k (the
 * figure with a target), 1k, and unbatched autocommit, for durability "normal" and "full".
 * Baseline: raw better-sqlite3, WAL + the same synchronous level + the same cache_size as
 * Cairn's catalog, table kv(k BLOB PRIMARY KEY, v BLOB) — like Cairn's artifacts table this
 * is a rowid table plus a unique index on the 32-byte key — with the sha256 key computed per
 * row and inserted in transactions of the same size.
 *
 * Every configuration uses a fresh store / database in a temp dir.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  header, interleaved, loadCairn, makeTmpDir, median, now, pseudoRandomBytes, removeDir, report, reps, scaled, stampCounter, gc,
  fmtInt, note,
} from "./util.mjs";

const { openStore } = await loadCairn();

const N = scaled(100_000, 1_000);
const REPS = reps(3);
const VALUE_BYTES = 1024;

/** Cairn: puts `n` distinct values in transactions of `batch` (1 = autocommit per put). Returns puts/s. */
function cairnPuts(durability, n, batch) {
  const dir = makeTmpDir("puts-cairn");
  try {
    const store = openStore({ dir, durability });
    const buf = pseudoRandomBytes(VALUE_BYTES, 1);
    gc();
    const t0 = now();
    if (batch === 1) {
      for (let i = 0; i < n; i++) {
        stampCounter(buf, i);
        store.putBytes(buf);
      }
    } else {
      for (let start = 0; start < n; start += batch) {
        const end = Math.min(n, start + batch);
        store.transaction(() => {
          for (let i = start; i < end; i++) {
            stampCounter(buf, i);
            store.putBytes(buf);
          }
        });
      }
    }
    const ms = now() - t0;
    store.close();
    return n / (ms / 1000);
  } finally {
    removeDir(dir);
  }
}

/** Raw better-sqlite3 with the same rows. Returns rows/s. */
function rawPuts(durability, n, batch) {
  const dir = makeTmpDir("puts-raw");
  try {
    const db = new Database(join(dir, "raw.sqlite"));
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${durability === "full" ? "FULL" : "NORMAL"}`);
    db.pragma("cache_size = -65536"); // as Cairn's catalog
    db.exec("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)");
    const ins = db.prepare("INSERT INTO kv(k, v) VALUES (?, ?)");
    const buf = pseudoRandomBytes(VALUE_BYTES, 1);
    const one = (i) => {
      stampCounter(buf, i);
      ins.run(createHash("sha256").update(buf).digest(), buf);
    };
    const many = db.transaction((start, end) => {
      for (let i = start; i < end; i++) one(i);
    });
    gc();
    const t0 = now();
    if (batch === 1) {
      for (let i = 0; i < n; i++) one(i);
    } else {
      for (let start = 0; start < n; start += batch) many(start, Math.min(n, start + batch));
    }
    const ms = now() - t0;
    db.close();
    return n / (ms / 1000);
  } finally {
    removeDir(dir);
  }
}

header(`puts: ${fmtInt(N)} distinct 1 KiB artifacts`);

const configs = [];
for (const durability of ["normal", "full"]) {
  configs.push({ durability, batch: 10_000, n: N, target: durability === "normal" ? 0.5 : undefined });
  configs.push({ durability, batch: 1_000, n: N });
  // Autocommit is slow (one WAL commit per put; with "full" one fsync per put): fewer puts.
  configs.push({ durability, batch: 1, n: Math.min(N, durability === "full" ? scaled(2_000, 200) : scaled(10_000, 500)) });
}

for (const c of configs) {
  const batchLabel = c.batch === 1 ? "unbatched(autocommit)" : `batched(${c.batch >= 1000 ? `${c.batch / 1000}k` : c.batch})`;
  const r = await interleaved(
    REPS,
    () => cairnPuts(c.durability, c.n, c.batch),
    () => rawPuts(c.durability, c.n, c.batch),
  );
  report({
    id: `puts.${c.durability}.${c.batch === 1 ? "autocommit" : `batch${c.batch}`}`,
    label: `puts 1KiB ${batchLabel} durability=${c.durability}`,
    value: median(r.cairn),
    unit: "/s",
    baseline: { label: "raw sqlite", value: median(r.baseline) },
    target: c.target,
    info: `${fmtInt(c.n)} puts, median of ${REPS}; cairn ${r.cairn.map(fmtInt).join("/")}, raw ${r.baseline.map(fmtInt).join("/")}`,
  });
}
note("baseline: better-sqlite3 WAL, same synchronous level, cache_size=-65536, kv(k BLOB PRIMARY KEY, v BLOB), sha256 key per row");
