/**
 * The run's output digest: the RFC 6962 Merkle root over every record's leaf hash in EU-id
 * order. The ordered merge feeds it one leaf hash per EU; combining them costs about one
 * SHA-256 per EU, which for a large run is done on a helper thread (a plain worker running
 * only the code below, no user code) while the main thread writes the output. Small runs
 * hash on the main thread, where starting a thread would cost more than it saves. Either
 * way the root is the same (tested against core/merkle).
 *
 * The helper's queue is bounded: at most TREE_MAX_CHUNKS_IN_FLIGHT chunks of
 * TREE_CHUNK_LEAVES leaf hashes are unacknowledged at once; `add` returns false when the
 * caller must `await drain()`.
 */
import { Worker } from "node:worker_threads";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import { LEAF_HASH_BYTES, LeafHashTree } from "./leaves.js";

/** Runs with at least this many EUs hash their output tree on a helper thread… */
export const TREE_WORKER_MIN_LEAVES = 1 << 16;
/** …if their --max-memory is at least this much (the helper's isolate costs some RSS). */
export const TREE_WORKER_MIN_MEMORY_BYTES = 512 * 1024 * 1024;
/** Leaf hashes per message to the helper (512 KiB). */
export const TREE_CHUNK_LEAVES = 1 << 14;
/** Most chunks sent and not yet hashed. */
export const TREE_MAX_CHUNKS_IN_FLIGHT = 4;

/** The helper keeps only log2(n) hashes: a small heap. */
const HELPER_LIMITS = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 };

const EMPTY_ROOT = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The helper thread: a CommonJS text (no TypeScript, so it runs from sources and from dist alike). */
const HELPER = `
const { parentPort } = require("node:worker_threads");
const crypto = require("node:crypto");
const sha = typeof crypto.hash === "function" ? (d) => crypto.hash("sha256", d, "binary") : (d) => crypto.createHash("sha256").update(d).digest("binary");
const node = Buffer.alloc(1 + 2 * ${LEAF_HASH_BYTES});
node[0] = 1;
const combine = (l, r) => { node.write(l, 1, ${LEAF_HASH_BYTES}, "latin1"); node.write(r, 1 + ${LEAF_HASH_BYTES}, ${LEAF_HASH_BYTES}, "latin1"); return sha(node); };
const hashes = [];
const heights = [];
parentPort.on("message", (m) => {
  if (m.type === "leaves") {
    const b = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
    for (let o = 0; o < b.length; o += ${LEAF_HASH_BYTES}) {
      let h = b.toString("latin1", o, o + ${LEAF_HASH_BYTES});
      let height = 0;
      while (heights.length > 0 && heights[heights.length - 1] === height) {
        heights.pop();
        h = combine(hashes.pop(), h);
        height++;
      }
      hashes.push(h);
      heights.push(height);
    }
    parentPort.postMessage({ type: "ack" });
  } else if (m.type === "root") {
    let r = hashes.length === 0 ? null : hashes[hashes.length - 1];
    for (let i = hashes.length - 2; i >= 0; i--) r = combine(hashes[i], r);
    parentPort.postMessage({ type: "root", root: r === null ? null : Buffer.from(r, "latin1").toString("hex") });
  }
});
`;

export interface OutputTree {
  /** Appends the leaf hash at packed[offset…]; false when the caller must `await drain()` first. */
  add(packed: Buffer, offset: number): boolean;
  drain(): Promise<void>;
  readonly size: number;
  /** The root over everything added (call once, at the end). */
  root(): Promise<Digest>;
  close(): Promise<void>;
}

/**
 * A tree for `expectedLeaves` leaves: on a helper thread for large runs with the memory to
 * spare (`maxMemoryBytes`), else on the main thread.
 */
export function outputTree(expectedLeaves: number, maxMemoryBytes: number, minForHelper = TREE_WORKER_MIN_LEAVES): OutputTree {
  return expectedLeaves >= minForHelper && maxMemoryBytes >= TREE_WORKER_MIN_MEMORY_BYTES ? new HelperTree() : new LocalTree();
}

class LocalTree implements OutputTree {
  private readonly tree = new LeafHashTree();
  add(packed: Buffer, offset: number): boolean {
    this.tree.add(packed, offset);
    return true;
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  get size(): number {
    return this.tree.size;
  }
  root(): Promise<Digest> {
    return Promise.resolve(this.tree.root());
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class HelperTree implements OutputTree {
  private readonly worker: Worker;
  private chunk = new Uint8Array(TREE_CHUNK_LEAVES * LEAF_HASH_BYTES);
  /** `chunk` as a Buffer (the target of `Buffer#copy`, which needs no view per leaf). */
  private chunkBuf = Buffer.from(this.chunk.buffer);
  private fill = 0;
  private count = 0;
  private inFlight = 0;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private rootWaiter: { resolve: (d: Digest) => void; reject: (e: Error) => void } | undefined;

  constructor() {
    this.worker = new Worker(HELPER, { eval: true, env: {}, execArgv: [], resourceLimits: HELPER_LIMITS });
    this.worker.on("message", (m: { type: string; root?: string | null }) => {
      if (m.type === "ack") {
        this.inFlight--;
        this.notify();
      } else if (m.type === "root") {
        this.rootWaiter?.resolve(m.root === null || m.root === undefined ? EMPTY_ROOT : (`sha256:${m.root}` as Digest));
        this.rootWaiter = undefined;
      }
    });
    this.worker.on("error", (err: Error) => this.fail(err));
    this.worker.on("exit", (code) => this.fail(new Error(`exited with code ${code}`)));
  }

  private fail(err: Error): void {
    this.failure ??= new CairnError(ErrorCode.INTERNAL, `the output-digest helper thread failed: ${err.message}`);
    this.notify();
    this.rootWaiter?.reject(this.failure);
    this.rootWaiter = undefined;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  add(packed: Buffer, offset: number): boolean {
    packed.copy(this.chunkBuf, this.fill, offset, offset + LEAF_HASH_BYTES);
    this.fill += LEAF_HASH_BYTES;
    this.count++;
    if (this.fill === this.chunk.length) this.send();
    return this.inFlight < TREE_MAX_CHUNKS_IN_FLIGHT;
  }

  private send(): void {
    if (this.fill === 0) return;
    const buf = this.fill === this.chunk.length ? this.chunk : this.chunk.slice(0, this.fill);
    this.worker.postMessage({ type: "leaves", buf }, [buf.buffer as ArrayBuffer]);
    this.inFlight++;
    this.chunk = new Uint8Array(TREE_CHUNK_LEAVES * LEAF_HASH_BYTES);
    this.chunkBuf = Buffer.from(this.chunk.buffer);
    this.fill = 0;
  }

  async drain(): Promise<void> {
    while (this.inFlight >= TREE_MAX_CHUNKS_IN_FLIGHT) {
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((res) => (this.wake = res));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  get size(): number {
    return this.count;
  }

  root(): Promise<Digest> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.send();
    return new Promise<Digest>((resolve, reject) => {
      this.rootWaiter = { resolve, reject };
      this.worker.postMessage({ type: "root" });
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}
