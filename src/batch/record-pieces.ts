/**
 * A pulse's large artifacts as pieces for `store.putPieces`, so a commit does not hold a second
 * copy of them: the records artifact (each record's UTF-8 and a newline) and the attempt log
 * (its canonical JSON, RFC 8785: `[` the entries' canonical forms joined by `,` `]`).
 */

/**
 * A pulse's records of at least this many characters are stored in pieces: joining them, or
 * encoding them into one buffer, would hold a second copy of them while they commit.
 */
export const PIECEWISE_RECORDS_MIN_CHARS = 1024 * 1024;

/** The size of the pieces `utf8Pieces` encodes into. */
export const RECORDS_PIECE_BYTES = 1024 * 1024;

/**
 * The UTF-8 of `strings`, one after the other, in pieces of at most `pieceBytes`, encoded into
 * one buffer reused from piece to piece (a string longer than a piece comes as its own bytes).
 * For `store.putPieces`, which writes each piece before it asks for the next.
 */
export function* utf8Pieces(strings: Iterable<string>, pieceBytes = RECORDS_PIECE_BYTES): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(pieceBytes);
  let off = 0;
  for (const s of strings) {
    // A UTF-16 code unit takes at most 3 bytes of UTF-8; past that bound, the exact length.
    if (off + 3 * s.length > pieceBytes) {
      if (off > 0) yield buf.subarray(0, off);
      off = 0;
      if (3 * s.length > pieceBytes && Buffer.byteLength(s, "utf8") > pieceBytes) {
        yield Buffer.from(s, "utf8");
        continue;
      }
    }
    off += buf.write(s, off, "utf8");
  }
  if (off > 0) yield buf.subarray(0, off);
}

/** A records artifact's bytes in pieces: each record followed by a newline. */
export function recordsPieces(texts: readonly string[], pieceBytes = RECORDS_PIECE_BYTES): Generator<Buffer> {
  return utf8Pieces(
    (function* () {
      for (const t of texts) {
        yield t;
        yield "\n";
      }
    })(),
    pieceBytes,
  );
}

/** `canonicalize(log)`'s bytes in pieces, from its entries' canonical texts (`entries`). */
export function canonicalArrayPieces(entries: readonly string[], pieceBytes = RECORDS_PIECE_BYTES): Generator<Buffer> {
  return utf8Pieces(
    (function* () {
      yield "[";
      for (let i = 0; i < entries.length; i++) yield i === 0 ? entries[i] as string : `,${entries[i] as string}`;
      yield "]";
    })(),
    pieceBytes,
  );
}
