/**
 * Streaming ingest and verified read of one large artifact (default 1 GiB).
 *
 * Source: an async iterable of 1 MiB chunks: one pseudo-random 1 MiB buffer reused, with a
 * counter (and the repetition number) written into its first 8 bytes so every chunk differs.
 * The generator awaits nothing, so its cost is only the loop itself and it is the same for
 * every side.
 *
 * Figures:
 *  - ingest: `store.put(chunks)` MB/s (hash + write to tmp/ + fsync + catalog commit + rename)
 *    vs sha256 over the same chunk sequence (the target baseline: "hashing is the floor"),
 *    and, for information, vs a raw "sha256 + write + fsync" of the same sequence to a plain
 *    file on the same disk (the disk-bound floor).
 *  - streamed read: `openReadStream(digest)` consumed to the end vs createReadStream + sha256
 *    of a file with the same size on the same disk (both files just written: page cache warm).
 *  - get (information): `store.get(digest)` of a smaller file artifact (default 64 MiB; get()
 *    refuses more than 256 MiB) vs readFileSync + sha256.
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import {
  diskOf, header, interleaved, loadCairn, makeTmpDir, mbps, median, note, now, pseudoRandomBytes, removeDir, report, reps, scaled,
  gc, fmtInt,
} from "./util.mjs";

const { openStore } = await loadCairn();

const MIB = 1024 * 1024;
const CHUNKS = scaled(1024, 16); // MiB
const BYTES = CHUNKS * MIB;
const GET_MIB = Math.min(256, scaled(64, 4));
const REPS = reps(3);

/** `n` distinct 1 MiB chunks; `rep` makes sequences of different repetitions differ too. */
async function* chunks(n, rep, buf) {
  for (let i = 0; i < n; i++) {
    buf.writeUInt32BE(rep, 0);
    buf.writeUInt32BE(i, 4);
    yield buf;
  }
}

const dir = makeTmpDir("ingest");
try {
  header(`ingest: ${fmtInt(CHUNKS)} MiB stream in 1 MiB chunks`);
  console.log(`disk: ${diskOf(dir)}`);
  const buf = pseudoRandomBytes(MIB, 3);
  const store = openStore({ dir: join(dir, "store"), durability: "normal" });

  // ---- ingest vs sha256
  let lastDigest;
  const putRates = [];
  const shaRates = [];
  const diskRates = [];
  // A new raw file per repetition, all deleted only at the end: on this kind of VM, writing
  // into page-cache pages freed by a just-deleted file is ~3x faster than into fresh memory,
  // and Cairn's artifacts are never deleted during the run, so neither side may reuse pages.
  const rawFile = (rep) => join(dir, `raw-${rep}.bin`);
  for (let rep = 0; rep < REPS; rep++) {
    const sides = [
      async () => {
        gc();
        const t0 = now();
        const res = await store.put(chunks(CHUNKS, rep, buf));
        putRates.push(mbps(BYTES, now() - t0));
        if (res.size !== BYTES || !res.created) throw new Error("unexpected put result");
        lastDigest = res.digest;
      },
      async () => {
        gc();
        const t0 = now();
        const h = createHash("sha256");
        for await (const c of chunks(CHUNKS, rep, buf)) h.update(c);
        h.digest();
        shaRates.push(mbps(BYTES, now() - t0));
      },
      async () => {
        gc();
        const t0 = now();
        const h = createHash("sha256");
        const fh = await open(rawFile(rep), "wx", 0o644);
        for await (const c of chunks(CHUNKS, rep, buf)) {
          h.update(c);
          await fh.write(c);
        }
        await fh.sync();
        await fh.close();
        h.digest();
        diskRates.push(mbps(BYTES, now() - t0));
      },
    ];
    // rotate the order each repetition
    for (let k = 0; k < sides.length; k++) await sides[(k + rep) % sides.length]();
  }
  const fmtAll = (xs) => xs.map(fmtInt).join("/");
  report({
    id: "ingest.put",
    label: `ingest put(stream) ${CHUNKS} MiB`,
    value: median(putRates),
    unit: "MB/s",
    baseline: { label: "sha256 only", value: median(shaRates) },
    target: 0.6,
    info: `median of ${REPS}; put ${fmtAll(putRates)}, sha256 ${fmtAll(shaRates)}`,
  });
  report({
    id: "ingest.put_vs_disk",
    label: `ingest put(stream) ${CHUNKS} MiB (vs disk floor, info)`,
    value: median(putRates),
    unit: "MB/s",
    baseline: { label: "sha256+write+fsync raw file", value: median(diskRates) },
    info: `median of ${REPS}; raw ${fmtAll(diskRates)}`,
  });

  // ---- streamed verified read vs raw read + sha256 (both files were just written)
  const readStore = openStore({ dir: join(dir, "store"), readOnly: true });
  const r = await interleaved(
    REPS,
    async () => {
      gc();
      const t0 = now();
      let n = 0;
      for await (const c of readStore.openReadStream(lastDigest)) n += c.length;
      if (n !== BYTES) throw new Error("short read");
      return mbps(BYTES, now() - t0);
    },
    async () => {
      gc();
      const t0 = now();
      const h = createHash("sha256");
      let n = 0;
      for await (const c of createReadStream(rawFile(REPS - 1), { highWaterMark: MIB })) {
        h.update(c);
        n += c.length;
      }
      h.digest();
      if (n !== BYTES) throw new Error("short read");
      return mbps(BYTES, now() - t0);
    },
  );
  report({
    id: "ingest.read_stream",
    label: `read openReadStream ${CHUNKS} MiB, verified`,
    value: median(r.cairn),
    unit: "MB/s",
    baseline: { label: "createReadStream+sha256", value: median(r.baseline) },
    info: `median of ${REPS}; page cache warm; cairn ${fmtAll(r.cairn)}, raw ${fmtAll(r.baseline)}`,
  });
  for (let rep = 0; rep < REPS; rep++) rmSync(rawFile(rep), { force: true });

  // ---- get() of a smaller file artifact vs readFileSync + sha256
  const getBytes = GET_MIB * MIB;
  const big = Buffer.allocUnsafe(getBytes);
  for (let off = 0; off < getBytes; off += MIB) {
    buf.writeUInt32BE(0xffffffff, 0);
    buf.writeUInt32BE(off / MIB, 4);
    buf.copy(big, off);
  }
  const getDigest = store.putBytes(big).digest;
  const getRaw = join(dir, "get.bin");
  {
    const fh = await open(getRaw, "wx");
    await fh.writeFile(big);
    await fh.close();
  }
  const g = await interleaved(
    REPS,
    () => {
      gc();
      const t0 = now();
      const b = readStore.get(getDigest);
      if (b.length !== getBytes) throw new Error("short get");
      return mbps(getBytes, now() - t0);
    },
    () => {
      gc();
      const t0 = now();
      const b = readFileSync(getRaw);
      createHash("sha256").update(b).digest();
      return mbps(getBytes, now() - t0);
    },
  );
  report({
    id: "ingest.get",
    label: `read get() ${GET_MIB} MiB file artifact, verified`,
    value: median(g.cairn),
    unit: "MB/s",
    baseline: { label: "readFileSync+sha256", value: median(g.baseline) },
    info: `median of ${REPS}; page cache warm; cairn ${fmtAll(g.cairn)}, raw ${fmtAll(g.baseline)}`,
  });
  readStore.close();
  store.close();
  note("MB = 10^6 bytes; the put includes fsync of the file, the catalog commit and the rename into objects/");
} finally {
  removeDir(dir);
}
