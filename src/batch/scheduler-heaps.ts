/**
 * The scheduler's partial-buffer sizes with the largest one at hand (scheduler.ts): an indexed
 * binary max-heap over all N partitions, ordered by (bytes desc, partition asc). `top()` is
 * exactly what a scan over partitions 0 … N−1 keeping the first strictly larger one returns —
 * the largest buffer, the lowest partition on ties — in O(1); `add` and `set` move the
 * partition up or down in O(log N). Before 2026-11-28 the scheduler scanned all N partitions
 * at every memory-budget cut: 100 000 small records under `--partitions 65536 --max-memory
 * 64MB` make 11 000 such cuts, ~6 s of scans.
 *
 * The order is a strict total order on partitions for any sizes that are not NaN (sizes are
 * `estimateSize` figures: finite, at least `SIZE_RECORD_BASE`), so the top is unique and does
 * not depend on the history of updates. All sizes start at 0, where the identity layout
 * (slot i holds partition i) is a valid heap: a parent's slot, hence partition, is lower.
 */
export class LargestBufferHeap {
  /** Per partition: its buffer's bytes. */
  private readonly keys: Float64Array;
  /** Per heap slot: the partition in it. */
  private readonly heap: Uint32Array;
  /** Per partition: its heap slot. */
  private readonly slot: Uint32Array;

  constructor(partitions: number) {
    this.keys = new Float64Array(partitions);
    this.heap = new Uint32Array(partitions);
    this.slot = new Uint32Array(partitions);
    for (let i = 0; i < partitions; i++) {
      this.heap[i] = i;
      this.slot[i] = i;
    }
  }

  /** The bytes of partition `p`'s buffer. */
  get(p: number): number {
    return this.keys[p] as number;
  }

  /** Adds `bytes` to partition `p`'s buffer bytes (the per-record path); returns the new bytes. */
  add(p: number, bytes: number): number {
    const keys = this.keys;
    const old = keys[p] as number;
    const now = old + bytes;
    keys[p] = now;
    if (now > old) {
      const i = this.slot[p] as number;
      // Usually already below a larger parent: one comparison, no move.
      if (i > 0) {
        const q = this.heap[(i - 1) >>> 1] as number;
        const kq = keys[q] as number;
        if (!(kq > now || (kq === now && q < p))) this.up(i);
      }
    } else if (now < old) this.down(this.slot[p] as number);
    return now;
  }

  /** Sets partition `p`'s buffer bytes. */
  set(p: number, bytes: number): void {
    const old = this.keys[p] as number;
    this.keys[p] = bytes;
    if (bytes > old) this.up(this.slot[p] as number);
    else if (bytes < old) this.down(this.slot[p] as number);
  }

  /** The partition with the largest buffer, the lowest one on ties. */
  top(): number {
    return this.heap[0] as number;
  }

  /** Whether partition `a` orders before `b`: more bytes, or as many and a lower partition. */
  private before(a: number, b: number): boolean {
    const ka = this.keys[a] as number;
    const kb = this.keys[b] as number;
    return ka > kb || (ka === kb && a < b);
  }

  private place(i: number, p: number): void {
    this.heap[i] = p;
    this.slot[p] = i;
  }

  private up(i: number): void {
    const heap = this.heap;
    const p = heap[i] as number;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const q = heap[parent] as number;
      if (!this.before(p, q)) break;
      this.place(i, q);
      i = parent;
    }
    this.place(i, p);
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const p = heap[i] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(heap[r] as number, heap[l] as number)) c = r;
      const q = heap[c] as number;
      if (!this.before(q, p)) break;
      this.place(i, q);
      i = c;
    }
    this.place(i, p);
  }
}

/**
 * The partitions with a queued pulse and none running, smallest first (a binary min-heap):
 * what the scheduler starts, in ascending order, when a pulse settles or is cut. Push and pop
 * are O(log N). It replaced an ascending array of the queued partitions (busy ones included)
 * whose removals (`splice`) moved the whole array: at the end of the input every partition's
 * partial buffer is cut, so under `--partitions 65536` ~51 000 pulses queue at once and each
 * start moved ~51 000 entries (about 2.5 s of a 100 000-record run's scheduler time).
 */
export class PartitionMinHeap {
  private readonly heap: number[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** The smallest partition (the heap is not empty). */
  peek(): number {
    return this.heap[0] as number;
  }

  /** Adds partition `p` (not in the heap). */
  push(p: number): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(p);
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const q = heap[parent] as number;
      if (q <= p) break;
      heap[i] = q;
      i = parent;
    }
    heap[i] = p;
  }

  /** Removes and returns the smallest partition (the heap is not empty). */
  pop(): number {
    const heap = this.heap;
    const top = heap[0] as number;
    const last = heap.pop() as number;
    const n = heap.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (heap[r] as number) < (heap[l] as number) ? r : l;
      const q = heap[c] as number;
      if (q >= last) break;
      heap[i] = q;
      i = c;
    }
    heap[i] = last;
    return top;
  }
}
