/**
 * Verified gets per second of random packed 1 KiB artifacts.
 *
 * Setup: a store with N distinct 1 KiB artifacts (putBytes in transactions of 10k, durability
 * "normal") and a raw better-sqlite3 database kv(k BLOB PRIMARY KEY, v BLOB) holding the same
 * rows. Both are reopened read-only with the same cache_size and warmed with one pass.
 * Cairn: store.get(digest) (looks the row up, reads the bytes, re-hashes them).
 * Baseline: SELECT v FROM kv WHERE k = ? + sha256(v) compared with the key.
 * Both sides read the same pseudo-random sequence of keys.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  header, interleaved, loadCairn, median, now, prng, pseudoRandomBytes, report, reps, scaled, stampCounter, withTmpDir, gc, fmtInt,
  note,
} from "./util.mjs";

const { openStore } = await loadCairn();

const N = scaled(100_000, 1_000);
const GETS = scaled(100_000, 2_000);
const REPS = reps(3);

header(`gets: ${fmtInt(GETS)} random verified gets from ${fmtInt(N)} packed 1 KiB artifacts`);

await withTmpDir("gets", async (dir) => {
  const storeDir = join(dir, "store");
  const rawPath = join(dir, "raw.sqlite");
  const buf = pseudoRandomBytes(1024, 2);

  // --- build both
  const digests = new Array(N);
  const keys = new Array(N);
  {
    const store = openStore({ dir: storeDir, durability: "normal" });
    for (let start = 0; start < N; start += 10_000) {
      store.transaction(() => {
        for (let i = start; i < Math.min(N, start + 10_000); i++) {
          stampCounter(buf, i);
          digests[i] = store.putBytes(buf).digest;
        }
      });
    }
    store.close();
    const db = new Database(rawPath);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)");
    const ins = db.prepare("INSERT INTO kv(k, v) VALUES (?, ?)");
    for (let start = 0; start < N; start += 10_000) {
      db.transaction(() => {
        for (let i = start; i < Math.min(N, start + 10_000); i++) {
          stampCounter(buf, i);
          keys[i] = createHash("sha256").update(buf).digest();
          ins.run(keys[i], buf);
        }
      })();
    }
    db.close();
    for (let i = 0; i < N; i++) {
      if (digests[i] !== `sha256:${keys[i].toString("hex")}`) throw new Error(`digest mismatch at ${i}`);
    }
  }

  // --- read
  const store = openStore({ dir: storeDir, readOnly: true });
  const db = new Database(rawPath, { readonly: true });
  db.pragma("cache_size = -65536"); // as Cairn's catalog
  const sel = db.prepare("SELECT v FROM kv WHERE k = ?");

  const rnd = prng(12345);
  const order = new Uint32Array(GETS);
  for (let i = 0; i < GETS; i++) order[i] = Math.floor(rnd() * N);

  let sink = 0;
  const cairnPass = (idx) => {
    for (let i = 0; i < idx.length; i++) sink ^= store.get(digests[idx[i]])[8];
  };
  const rawPass = (idx) => {
    for (let i = 0; i < idx.length; i++) {
      const key = keys[idx[i]];
      const row = sel.get(key);
      if (!createHash("sha256").update(row.v).digest().equals(key)) throw new Error("corrupt");
      sink ^= row.v[8];
    }
  };
  // warm both caches (SQLite's and the OS's) with one sequential pass
  const all = Uint32Array.from({ length: N }, (_, i) => i);
  cairnPass(all);
  rawPass(all);

  const r = await interleaved(
    REPS,
    () => {
      gc();
      const t0 = now();
      cairnPass(order);
      return GETS / ((now() - t0) / 1000);
    },
    () => {
      gc();
      const t0 = now();
      rawPass(order);
      return GETS / ((now() - t0) / 1000);
    },
  );
  store.close();
  db.close();
  report({
    id: "gets.packed1k",
    label: "gets 1KiB packed, verified (random)",
    value: median(r.cairn),
    unit: "/s",
    baseline: { label: "raw sqlite select+sha256", value: median(r.baseline) },
    info: `${fmtInt(GETS)} gets, median of ${REPS}; cairn ${r.cairn.map(fmtInt).join("/")}, raw ${r.baseline.map(fmtInt).join("/")}`,
  });
  note(`read-only handles, cache_size=-65536 on both, warmed by one full pass (sink ${sink & 1})`);
});
