/** A reduce over an ordered output, in chunks cut by output position (`WorkerPool.openReduce`). */
import type { ReduceItem } from "./protocol.js";

/** One reduce over an ordered output, on one worker (`WorkerPool.openReduce`). */
export interface ReduceSession {
  /** Folds one chunk (at most REDUCE_CHUNK_SIZE outputs, cut by output position) into `acc`; returns the canonical JSON text. */
  chunk(acc: string, items: ReduceItem[]): Promise<string>;
  /** Releases the worker's slot and retires the worker. Idempotent. */
  close(): Promise<void>;
}

/**
 * `reduce` sends outputs to a worker in chunks of this many. The accumulator crosses a
 * thread boundary (as canonical JSON) only between chunks, at positions that depend on
 * nothing but the output order, so the result is the same on every config.
 */
export const REDUCE_CHUNK_SIZE = 1024;

/**
 * Folds `outputs` (completed EU outputs, in EU-id order) into `acc` through an open reduce
 * session, in chunks of REDUCE_CHUNK_SIZE cut by output position; returns the canonical JSON
 * text. Rejects as `ReduceSession.chunk` does, or with what reading `outputs` throws.
 */
export async function foldOrdered(session: ReduceSession, acc: string, outputs: Iterable<ReduceItem> | AsyncIterable<ReduceItem>): Promise<string> {
  let chunk: ReduceItem[] = [];
  for await (const item of outputs) {
    chunk.push(item);
    if (chunk.length === REDUCE_CHUNK_SIZE) {
      acc = await session.chunk(acc, chunk);
      chunk = [];
    }
  }
  return chunk.length > 0 ? session.chunk(acc, chunk) : acc;
}
/**
 * A chunk is sent in parts of about this many bytes of outputs (at least one output each),
 * the accumulator staying live in the worker between the parts of a chunk: so outputs of any
 * size never make one message larger than a worker's heap, and the result is the same as one
 * message per chunk.
 */
export const REDUCE_PART_BYTES = 4 * 1024 * 1024;
