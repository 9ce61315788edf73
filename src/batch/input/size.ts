/**
 * The rough in-memory size of a record's input that the scheduler's memory budgets use
 * (`estimateSize`), and its constants, shared with `canonicalLineSize` (canonical-line.ts),
 * which computes the same figure from a JSON line without parsing it.
 */

/** The size estimate walks at most this many values per record. */
export const SIZE_ESTIMATE_MAX_NODES = 1024;
/** Per string: base + 2 bytes per UTF-16 code unit. */
export const SIZE_STRING_BASE = 16;
/** Per array: base + a slot per element. */
export const SIZE_ARRAY_BASE = 16;
export const SIZE_ARRAY_SLOT = 8;
/** Per object member: base + 2 bytes per key code unit (the object itself adds nothing). */
export const SIZE_MEMBER_BASE = 24;
/** Per number, boolean or null. */
export const SIZE_SCALAR = 16;
/** Per binary input: base + its bytes. */
export const SIZE_BYTES_BASE = 64;
/** Per record. */
export const SIZE_RECORD_BASE = 64;

/** Rough in-memory size of a record's input (never exact; used for budgets only). */
export function estimateSize(v: unknown): number {
  let nodes = 0;
  let size = 0;
  const stack: unknown[] = [v];
  while (stack.length > 0 && nodes < SIZE_ESTIMATE_MAX_NODES) {
    const x = stack.pop();
    nodes++;
    if (typeof x === "string") size += SIZE_STRING_BASE + 2 * x.length;
    else if (x instanceof Uint8Array) size += SIZE_BYTES_BASE + x.byteLength;
    else if (Array.isArray(x)) {
      size += SIZE_ARRAY_BASE + SIZE_ARRAY_SLOT * x.length;
      for (const e of x) stack.push(e);
    } else if (x !== null && typeof x === "object") {
      for (const [k, e] of Object.entries(x)) {
        size += SIZE_MEMBER_BASE + 2 * k.length;
        stack.push(e);
      }
    } else size += SIZE_SCALAR;
  }
  return size + SIZE_RECORD_BASE;
}
