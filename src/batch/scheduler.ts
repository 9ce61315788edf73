/**
 * The deterministic pulse scheduler (PLEX §5). Records are assigned to partitions by
 * `stable_hash(id) % N`; each partition's records are cut into pulses of `pulseSize` in read
 * order. A partition's pulses run strictly one after another (the next starts once the previous
 * has committed); at most `maxPulsesInFlight` pulses are held (queued or executing; those that
 * executed and await their commit count in the bytes, not the number: below) at once, and the
 * input is not read further until one finishes (backpressure). There is no work stealing: which worker runs a pulse never
 * changes what the pulse is or what it produces.
 *
 * Memory: the partial per-partition buffers are bounded by `bufferBudgetBytes`; when they
 * would exceed it, the largest buffer (lowest partition on ties) is cut into a pulse early
 * (found in O(1) from an indexed max-heap of the buffer sizes, `scheduler-heaps.ts`, kept in
 * O(log N) per record and cut; it was an O(N) scan per cut). A buffer whose inputs reach
 * `pulseBudgetBytes` is cut too, so one pulse fits a worker's heap.
 * That decision depends only on the input and the config, never on timing, so a resumed run
 * cuts exactly the same pulses.
 *
 * Outputs: the results a started pulse holds on the main thread (record texts, error messages,
 * bytes outputs, as they arrive chunk by chunk, until the pulse settles after its commit) are
 * reported by `addOutput` and bounded by `outputBudgetBytes`: a queued pulse starts only when
 * no pulse is running, or when the outputs of the running pulses (each counted as the larger of
 * what it holds and its projection) plus its own projection fit the budget. The projection is
 * the run's observed output bytes per EU times the pulse's EUs; until the first results (or the
 * first settled pulse) are seen, only one pulse runs. This adapts only WHEN pulses start, never
 * what they are (the cuts above happen in `push`, in read order, whatever runs), so outputs,
 * digests and manifests do not depend on it. One pulse always runs: no deadlock.
 *
 * Commits: with `maxPulsesAwaitingCommit` > 0 (the engine's GROUP_COMMIT_MAX), a pulse whose
 * results are all in and whose commit is queued (`executed`) frees its slot: another pulse
 * starts while it awaits its commit, so at most `maxPulsesInFlight` pulses execute and up to
 * `maxPulsesAwaitingCommit` more await their commit, which can then share one store transaction
 * (group-commit.ts). Until it settles it still holds its partition (the partition's next pulse
 * waits), its records' bytes (in-flight budget) and its outputs (output budget); it no longer
 * counts in the number of held pulses the reader waits on. `commitUrgent` says when waiting for
 * more commits would hold up work (an idle slot, the reader waiting on the bytes they hold).
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { LargestBufferHeap, PartitionMinHeap } from "./scheduler-heaps.js";
import { estimateSize } from "./input/size.js";
import type { EURecord } from "./input/types.js";
import { partitionOf } from "./partition.js";

export interface SchedulerLimits {
  partitions: number;
  pulseSize: number;
  maxPulsesInFlight: number;
  /** Budget for records buffered in partial pulses. */
  bufferBudgetBytes: number;
  /** Most input one pulse holds: a partition's buffer that reaches it is cut (a worker's share, config.ts). */
  pulseBudgetBytes: number;
  /** Budget for records of pulses queued or running; reading waits while above it. */
  inFlightBudgetBytes: number;
  /** Budget for the results running pulses hold on the main thread; pulses start only within it (one always may). */
  outputBudgetBytes: number;
  /**
   * Most pulses that have executed and await their commit (`executed`) while others start in
   * their place: at most `maxPulsesInFlight` execute and this many more await their commit.
   * 0 (the default): a pulse holds its slot until it settles.
   */
  maxPulsesAwaitingCommit?: number;
}

export interface ScheduledPulse {
  partition: number;
  index: number;
  records: EURecord[];
  bytes: number;
  /** Bytes of results this pulse holds on the main thread so far (`addOutput`); released when it settles. */
  outputBytes: number;
  /** Started and not yet `executed` (nor settled): it holds one of the `maxPulsesInFlight` slots. */
  executing?: boolean;
}

/** What the scheduler's accounting saw over a run (for the run report and tests). */
export interface SchedulerStats {
  /** Most pulses running (started, not settled nor `executed`) at once. */
  peakRunning: number;
  /** Most output bytes held by running pulses at once (`addOutput`). */
  peakOutputBytes: number;
}


export class PulseScheduler {
  private readonly buffers: EURecord[][];
  /** Per partition: its buffer's bytes, the largest at the top (the memory-budget cut's choice). */
  private readonly bufferBytes: LargestBufferHeap;
  /** Per partition: the buffer's size for the pulse budget (at least its records' input lengths). */
  private readonly pulseBytes: number[];
  private readonly nextIndex: number[];
  private readonly queues: ScheduledPulse[][];
  /**
   * The partitions with a queued pulse and none running, smallest first: what `pump` starts,
   * in ascending order, instead of walking every partition (or every queued one).
   */
  private readonly ready = new PartitionMinHeap();
  private readonly busy: boolean[];
  private buffered = 0;
  private held = 0;
  private heldBytes = 0;
  /** The started pulses (not settled): executing, or executed and awaiting their commit. */
  private readonly active = new Set<ScheduledPulse>();
  /** Of `active`, those executing (started, not `executed`); the others await their commit. */
  private running = 0;
  /** Output bytes held by the running pulses. */
  private outputBytes = 0;
  /** Projected output bytes and results reported over the run, and the output bytes of settled pulses with their EUs: the projection. */
  private seenBytes = 0;
  private seenResults = 0;
  private settledBytes = 0;
  private settledEus = 0;
  private readonly peaks: SchedulerStats = { peakRunning: 0, peakOutputBytes: 0 };
  private failure: unknown;
  private waiter: (() => void) | undefined;
  private idle: (() => void) | undefined;

  /**
   * `onCommitUrgent` is called whenever `commitUrgent()` may have become true (a pulse executed
   * or settled, the reader waiting for room).
   */
  constructor(
    private readonly limits: SchedulerLimits,
    private readonly execute: (p: ScheduledPulse) => Promise<void>,
    private readonly onCommitUrgent?: () => void,
  ) {
    const n = limits.partitions;
    this.buffers = Array.from({ length: n }, () => []);
    this.bufferBytes = new LargestBufferHeap(n);
    this.pulseBytes = new Array<number>(n).fill(0);
    this.nextIndex = new Array<number>(n).fill(0);
    this.queues = Array.from({ length: n }, () => []);
    this.busy = new Array<boolean>(n).fill(false);
  }

  /** Adds one record; resolves when the scheduler can take another (backpressure). */
  async add(r: EURecord): Promise<void> {
    if (!this.push(r)) await this.room();
  }

  /**
   * Adds one record without waiting. Returns false when the caller must `await room()`
   * before adding another (backpressure); the read loop then pays a promise only when full.
   */
  push(r: EURecord): boolean {
    this.check();
    const p = partitionOf(r.id, this.limits.partitions);
    const size = r.inputSize ?? estimateSize(r.input);
    (this.buffers[p] as EURecord[]).push(r);
    this.bufferBytes.add(p, size);
    // The pulse budget also counts a record's length in the input, which `estimateSize` (a
    // walk of at most 1024 values) can undercount by far for a big record.
    this.pulseBytes[p] = (this.pulseBytes[p] as number) + Math.max(size, r.rawBytes ?? 0, r.inputJson?.length ?? 0);
    this.buffered += size;
    if ((this.buffers[p] as EURecord[]).length >= this.limits.pulseSize || (this.pulseBytes[p] as number) >= this.limits.pulseBudgetBytes) this.cut(p);
    while (this.buffered > this.limits.bufferBudgetBytes) this.cut(this.largestBuffer());
    return !this.full();
  }

  /** Resolves once the scheduler can take another record. */
  async room(): Promise<void> {
    while (this.full()) {
      const wait = new Promise<void>((res) => (this.waiter = res));
      this.onCommitUrgent?.(); // the reader waits: the pulses awaiting their commit may be what it waits for
      await wait;
      this.check();
    }
  }

  /** Pulses awaiting their commit count in the bytes, not in the number (they no longer run). */
  private full(): boolean {
    return this.held - this.awaiting() >= this.limits.maxPulsesInFlight || (this.heldBytes > this.limits.inFlightBudgetBytes && this.active.size > 0);
  }

  /** Pulses that have executed and await their commit. */
  private awaiting(): number {
    return this.active.size - this.running;
  }

  /** Cuts every partial buffer (in partition order) and waits for all pulses to finish. */
  async finish(): Promise<void> {
    this.check();
    for (let p = 0; p < this.limits.partitions; p++) if ((this.buffers[p] as EURecord[]).length > 0) this.cut(p);
    while (this.held > 0) {
      await new Promise<void>((res) => (this.idle = res));
      this.check();
    }
  }

  /** Waits for running pulses to settle after a failure elsewhere (no new pulses start). */
  async drain(): Promise<void> {
    this.failure ??= new CairnError(ErrorCode.INTERNAL, "scheduler drained");
    while (this.active.size > 0) await new Promise<void>((res) => (this.idle = res));
  }

  /**
   * Counts `bytes` of results (`results` of them) that `pulse`, running, now holds on the main
   * thread until it settles. `projected` (at least `bytes`) is what those results' EUs are
   * expected to hold by then, for the projection (a failure that will be retried comes back).
   * The first results of the run let waiting pulses be considered.
   */
  addOutput(pulse: ScheduledPulse, bytes: number, results: number, projected = bytes): void {
    const first = this.seenResults === 0 && this.settledEus === 0;
    pulse.outputBytes += bytes;
    this.seenBytes += projected;
    this.seenResults += results;
    if (this.active.has(pulse)) {
      this.outputBytes += bytes;
      if (this.outputBytes > this.peaks.peakOutputBytes) this.peaks.peakOutputBytes = this.outputBytes;
    }
    if (first && results > 0) this.pump();
  }

  /**
   * `pulse` (running) has executed and now only awaits its commit: its slot is free for another
   * pulse (up to `maxPulsesAwaitingCommit` awaiting), while it keeps its partition (the next
   * pulse of the partition starts once it settles), its records' bytes and its outputs until
   * it settles. What pulses are and what they produce does not change; only when they start.
   */
  executed(pulse: ScheduledPulse): void {
    if (pulse.executing !== true || (this.limits.maxPulsesAwaitingCommit ?? 0) === 0) return;
    pulse.executing = false;
    this.running--;
    this.pump();
    if (!this.full()) this.wake();
    this.onCommitUrgent?.();
  }

  /**
   * Whether the pulses awaiting their commit should commit now rather than wait for more to join
   * them: when fewer than `maxPulsesInFlight` pulses execute (a slot is idle: no pulse can start
   * before one settles, or none is left to start), when no more may await their commit (none
   * may start), or when the reader waits on the in-flight bytes, which they hold. While every
   * slot executes, waiting delays nothing that could run.
   */
  commitUrgent(): boolean {
    return (
      this.running < this.limits.maxPulsesInFlight ||
      this.active.size >= this.maxActive() ||
      (this.waiter !== undefined && this.heldBytes > this.limits.inFlightBudgetBytes)
    );
  }

  /** Most pulses started and not settled: those executing and those awaiting their commit. */
  private maxActive(): number {
    return this.limits.maxPulsesInFlight + (this.limits.maxPulsesAwaitingCommit ?? 0);
  }

  /** Lets the reader waiting for room (if any) go on. */
  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The accounting's peaks so far. */
  get stats(): SchedulerStats {
    return { ...this.peaks };
  }

  /**
   * Whether `next` may start now: always when nothing runs; otherwise only once outputs have
   * been seen, and when the running pulses' outputs (each the larger of what it holds and its
   * projection) plus `next`'s projection fit `outputBudgetBytes`.
   */
  private admits(next: ScheduledPulse): boolean {
    if (this.active.size === 0) return true;
    if (this.seenResults === 0 && this.settledEus === 0) return false;
    const perEu = Math.max(this.seenResults === 0 ? 0 : this.seenBytes / this.seenResults, this.settledEus === 0 ? 0 : this.settledBytes / this.settledEus);
    let bytes = perEu * next.records.length;
    for (const r of this.active) bytes += Math.max(r.outputBytes, perEu * r.records.length);
    return bytes <= this.limits.outputBudgetBytes;
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * The partition with the largest buffer, the lowest on ties — what a scan of partitions
   * 0 … N−1 keeping the first strictly larger one picks — in O(1) (the heap; updates are
   * O(log N)). Which buffer is cut decides the pulses: it must never change.
   */
  private largestBuffer(): number {
    return this.bufferBytes.top();
  }

  private cut(p: number): void {
    const records = this.buffers[p] as EURecord[];
    const bytes = this.bufferBytes.get(p);
    this.buffers[p] = [];
    this.bufferBytes.set(p, 0);
    this.pulseBytes[p] = 0;
    this.buffered -= bytes;
    const index = this.nextIndex[p] as number;
    this.nextIndex[p] = index + 1;
    const queue = this.queues[p] as ScheduledPulse[];
    if (queue.length === 0 && !this.busy[p]) this.ready.push(p);
    queue.push({ partition: p, index, records, bytes, outputBytes: 0 });
    this.held++;
    this.heldBytes += bytes;
    this.pump();
  }

  private pump(): void {
    if (this.failure !== undefined) return;
    // The idle partitions with a queued pulse in ascending order, as a walk over all partitions
    // would meet them (none becomes idle or queued during the walk: settles are asynchronous
    // and cuts happen in `push`/`finish`; a walk nested in `execute`, via `addOutput`, only
    // starts more, so the outer one goes on with what is left, as the walk did).
    const maxActive = this.maxActive();
    while (this.ready.size > 0 && this.running < this.limits.maxPulsesInFlight && this.active.size < maxActive) {
      const p = this.ready.peek();
      const queue = this.queues[p] as ScheduledPulse[];
      // Partition order holds for outputs too: a pulse that does not fit waits, and so do the
      // partitions after it, until a running pulse settles.
      if (!this.admits(queue[0] as ScheduledPulse)) break;
      this.ready.pop();
      const pulse = queue.shift() as ScheduledPulse;
      this.busy[p] = true;
      this.active.add(pulse);
      pulse.executing = true;
      this.running++;
      if (this.running > this.peaks.peakRunning) this.peaks.peakRunning = this.running;
      this.execute(pulse).then(
        () => this.settle(pulse),
        (err: unknown) => {
          this.failure ??= err;
          this.settle(pulse);
        },
      );
    }
  }

  private settle(pulse: ScheduledPulse): void {
    if (pulse.executing === true) {
      pulse.executing = false;
      this.running--;
    }
    this.busy[pulse.partition] = false;
    if ((this.queues[pulse.partition] as ScheduledPulse[]).length > 0) this.ready.push(pulse.partition);
    this.held--;
    this.heldBytes -= pulse.bytes;
    this.active.delete(pulse);
    this.outputBytes -= pulse.outputBytes;
    this.settledBytes += pulse.outputBytes;
    this.settledEus += pulse.records.length;
    this.pump();
    this.wake();
    if (this.held === 0 || this.failure !== undefined) {
      const i = this.idle;
      this.idle = undefined;
      i?.();
    }
    this.onCommitUrgent?.();
  }
}
