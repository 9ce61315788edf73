/**
 * The ordered merge's sources: every finished EU record in EU-id order, each with its Merkle
 * leaf hash, through one synchronous cursor (no object or promise per EU).
 *
 * - Index ids (the default): partition = stable_hash(i) mod N, and each partition's pulses
 *   hold its EUs in increasing index order (records are assigned in read order and a
 *   partition's pulses are numbered in cut order). So for i = 0 … total−1 the next record is
 *   the next one of partition `partitionOf(i)`: a streaming k-way merge over the committed
 *   records artifacts, with no ordering index. Each partition reads its current pulse's records
 *   artifact through the store's verified sequential reader (`Store.openReader`), a window of
 *   at most RECORD_WINDOW_BYTES at a time (`RecordWindows`, or one record longer than it, held whole while
 *   it is decoded), so the merge holds about one window per partition, not its pulses' records.
 *   Leaf hashes wait in a spill file (32 bytes per EU), so memory does not grow with the run.
 * - `--id-field` ids: the ordering index (order-index.ts), which sorts by canonical id bytes.
 *
 * Both check what they hand out: every EU 0 … total−1 exactly once (index ids: each record's
 * id is checked against its position), else E_INTERNAL.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { trackExitTemp, untrackExitTemp } from "../store/temp-files.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import type { Store } from "../store/store.js";
import { LEAF_HASH_BYTES, writeLeafHash } from "./leaves.js";
import { runScratchError, type OrderIndex } from "./order-index.js";
import { partitionOf } from "./partition.js";
import { RECORD_WINDOW_BYTES, RecordWindows } from "./record-windows.js";
import { indexIdEnd, recordsArtifactCorrupt } from "./records.js";

const COMMA = 0x2c;
const NEWLINE = 0x0a;

/** A pulse whose records artifact does not hold its record count. */
function recordCount(p: MergePulse, held: string): CairnError {
  return recordsArtifactCorrupt(p, p.records, `holds ${held} records, expected ${p.eus}`);
}

/** Where a committed pulse's records and leaf hashes are, for the merge. */
export interface MergePulse {
  partition: number;
  index: number;
  records: Digest;
  eus: number;
  /** Byte offset of its leaf hashes in the LeafSpill. */
  leafOffset: number;
}

/** The name of the leaf spill in `runScratchError`'s messages. */
const SPILL_NAME = "leaf spill";

/**
 * An append-only temporary file of packed leaf hashes. A spill that cannot be created or
 * written (a full disk) is E_STORE_IO naming it (`runScratchError`); an append that fails
 * leaves `size` as it was.
 */
export class LeafSpill {
  private readonly fd: number;
  private size = 0;

  constructor(private readonly path: string) {
    trackExitTemp(path); // removed if a signal ends the process (cli/signals.ts)
    try {
      rmSync(path, { force: true });
      this.fd = openSync(path, "w+");
    } catch (err) {
      untrackExitTemp(path);
      throw runScratchError(SPILL_NAME, path, err);
    }
  }

  /** Appends `leaves` and returns their offset. */
  append(leaves: Uint8Array): number {
    const at = this.size;
    let done = 0;
    try {
      while (done < leaves.length) done += writeSync(this.fd, leaves, done, leaves.length - done, at + done);
    } catch (err) {
      throw runScratchError(SPILL_NAME, this.path, err);
    }
    this.size += leaves.length;
    return at;
  }

  /** Reads `length` bytes at `offset` into `into` (reused when big enough) and returns them. */
  read(offset: number, length: number, into?: Buffer): Buffer {
    const b = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, b, done, length - done, offset + done);
      if (n === 0) throw new CairnError(ErrorCode.INTERNAL, `leaf spill ${this.path} ends at ${offset + done}, expected ${offset + length}`);
      done += n;
    }
    return b;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.path, { force: true });
    untrackExitTemp(this.path);
  }
}

/**
 * A synchronous cursor: after next() returns true, `text` is the record and its leaf hash is at
 * leaves[leafOffset…]. `close` releases what it reads (also after a failure; idempotent).
 */
export interface MergeCursor {
  next(): boolean;
  close(): void;
  text: string;
  leaves: Buffer;
  leafOffset: number;
}

interface PartitionCursor {
  pulses: MergePulse[];
  /** Next pulse of `pulses` to load. */
  nextPulse: number;
  /** The loaded pulse (its records artifact's windows are undefined once read to its end). */
  pulse: MergePulse | undefined;
  windows: RecordWindows | undefined;
  /** Records of the loaded pulse decoded so far. */
  decoded: number;
  /** The current window's records, and the pulse position of its first one. */
  texts: string[];
  textsStart: number;
  leaves: Buffer;
  /** The partition's reusable leaf buffer (the largest pulse's size so far). */
  leafBuffer: Buffer | undefined;
  pos: number;
}

/** The k-way merge for index ids (see the file comment). */
export class IndexIdMerge implements MergeCursor {
  text = "";
  leaves: Buffer = Buffer.alloc(0);
  leafOffset = 0;
  /** The most bytes decoded into text at once (at most a window, or one record longer than it). */
  maxDecodedBytes = 0;
  private i = 0;
  private readonly cursors: PartitionCursor[];

  constructor(
    private readonly store: Store,
    private readonly spill: LeafSpill,
    private readonly partitions: number,
    pulses: readonly MergePulse[],
    private readonly total: number,
    /** RECORD_WINDOW_BYTES (at least 1); smaller only in tests. */
    private readonly windowBytes = RECORD_WINDOW_BYTES,
  ) {
    this.cursors = Array.from({ length: partitions }, () => ({
      pulses: [],
      nextPulse: 0,
      pulse: undefined,
      windows: undefined,
      decoded: 0,
      texts: [],
      textsStart: 0,
      leaves: Buffer.alloc(0),
      leafBuffer: undefined,
      pos: 0,
    }));
    for (const p of pulses) (this.cursors[p.partition] as PartitionCursor).pulses.push(p);
    for (const c of this.cursors) c.pulses.sort((a, b) => a.index - b.index);
  }

  next(): boolean {
    const i = this.i;
    if (i >= this.total) {
      this.checkExhausted();
      return false;
    }
    const c = this.cursors[partitionOf(i, this.partitions)] as PartitionCursor;
    while (c.pos >= c.texts.length) {
      if (c.windows !== undefined) this.decode(c);
      else this.load(c, i);
    }
    const text = c.texts[c.pos] as string;
    // A completed record starts with its id, a failed or bytes record ends with it.
    const idEnd = indexIdEnd(text, i);
    if ((idEnd < 0 || text.charCodeAt(idEnd) !== COMMA) && !text.endsWith(`,"id":${i}}`)) {
      throw new CairnError(ErrorCode.INTERNAL, `ordered merge: expected the record of EU ${i}, found ${text.slice(0, 200)}`, { id: i });
    }
    this.text = text;
    this.leaves = c.leaves;
    this.leafOffset = (c.textsStart + c.pos) * LEAF_HASH_BYTES;
    c.pos++;
    this.i = i + 1;
    return true;
  }

  /** Loads the partition's next pulse (its first window is decoded by `next`). */
  private load(c: PartitionCursor, i: number): void {
    const p = c.pulses[c.nextPulse];
    if (p === undefined) throw new CairnError(ErrorCode.INTERNAL, `ordered merge: no committed record for EU ${i}`, { id: i });
    c.nextPulse++;
    // The previous pulse's records are garbage before the next pulse is read.
    c.texts = [];
    c.pos = 0;
    c.textsStart = 0;
    c.pulse = p;
    c.decoded = 0;
    // The whole artifact is counted as it is verified, before any of its records is handed out.
    let newlines = 0;
    let last = NEWLINE;
    const reader = this.store.openReader(p.records, {
      onVerify: (chunk) => {
        for (let at = chunk.indexOf(NEWLINE); at >= 0; at = chunk.indexOf(NEWLINE, at + 1)) newlines++;
        if (chunk.length > 0) last = chunk[chunk.length - 1] as number;
      },
    });
    if (newlines !== p.eus) throw recordCount(p, `${newlines}`);
    if (last !== NEWLINE) throw recordsArtifactCorrupt(p, p.records, "does not end with a newline");
    c.windows = new RecordWindows(reader, this.windowBytes);
    // One leaf buffer per partition, reused from pulse to pulse (no garbage per pulse).
    c.leaves = this.spill.read(p.leafOffset, p.eus * LEAF_HASH_BYTES, c.leafBuffer);
    if (c.leaves.buffer !== c.leafBuffer?.buffer) c.leafBuffer = c.leaves;
  }

  /**
   * Reads and decodes the loaded pulse's next window (`RecordWindows.next`). At the artifact's
   * end, checks that it ended with a newline and held the pulse's record count.
   */
  private decode(c: PartitionCursor): void {
    const windows = c.windows as RecordWindows;
    const p = c.pulse as MergePulse;
    c.textsStart += c.texts.length;
    c.texts = [];
    c.pos = 0;
    const texts = windows.next();
    if (windows.maxDecodedBytes > this.maxDecodedBytes) this.maxDecodedBytes = windows.maxDecodedBytes;
    if (texts === undefined) {
      c.windows = undefined;
      if (windows.tail.length > 0) throw recordsArtifactCorrupt(p, p.records, "does not end with a newline");
      if (c.decoded !== p.eus) throw recordCount(p, `${c.decoded}`);
      return;
    }
    c.texts = texts;
    c.decoded += texts.length;
    if (c.decoded > p.eus) {
      windows.close();
      c.windows = undefined;
      throw recordCount(p, `more than ${p.eus}`);
    }
  }

  close(): void {
    for (const c of this.cursors) {
      c.windows?.close();
      c.windows = undefined;
    }
  }

  private checkExhausted(): void {
    for (const c of this.cursors) {
      // A pulse read up to its last record has not yet been read to its end: its end's checks.
      if (c.windows !== undefined && c.pos >= c.texts.length) this.decode(c);
      if (c.pos < c.texts.length || c.windows !== undefined || c.nextPulse < c.pulses.length) {
        throw new CairnError(ErrorCode.INTERNAL, `ordered merge: records beyond the ${this.total} read`, { total: this.total });
      }
    }
  }
}

/** The ordering index's scan as a cursor (records stored without a leaf are hashed here). */
export class OrderIndexMerge implements MergeCursor {
  text = "";
  leaves: Buffer = Buffer.alloc(LEAF_HASH_BYTES);
  leafOffset = 0;
  private readonly rows: Iterator<{ text: string; leaf: Buffer | null }>;
  private readonly scratch = Buffer.alloc(LEAF_HASH_BYTES);

  constructor(index: OrderIndex) {
    this.rows = index.orderedWithLeaves();
  }

  close(): void {
    this.rows.return?.();
  }

  next(): boolean {
    const r = this.rows.next();
    if (r.done === true) return false;
    this.text = r.value.text;
    if (r.value.leaf !== null && r.value.leaf.length === LEAF_HASH_BYTES) this.leaves = r.value.leaf;
    else {
      writeLeafHash(this.text, this.scratch, 0);
      this.leaves = this.scratch;
    }
    return true;
  }
}
