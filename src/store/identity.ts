/**
 * Artifact identity. Decision (format v1): the optional 32-bit type tag IS part of identity.
 *
 * - An untyped artifact's digest is the plain SHA-256 of its bytes, so anyone can check it
 *   with `sha256sum`.
 * - A typed artifact's digest is SHA-256 over a frame: the 16-byte magic
 *   `cairn-asl-typed\0`, the tag as 4 bytes big-endian, then the bytes. Identical bytes
 *   with different tags (or with and without a tag) therefore get different digests.
 * - To keep the mapping digest → (tag, bytes) unambiguous, an untyped artifact whose bytes
 *   begin with the magic is refused (E_INVALID_INPUT).
 *
 * Test vectors pin all of this in test/store/identity.test.ts.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { Hasher } from "../core/digest.js";

export const TYPED_FRAME_MAGIC = Buffer.from("cairn-asl-typed\0", "latin1");
export const TYPE_TAG_MAX = 0xffff_ffff;

/** Validates a type tag (an unsigned 32-bit integer) or undefined. */
export function checkTypeTag(tag: number | undefined): number | undefined {
  if (tag === undefined) return undefined;
  if (!Number.isInteger(tag) || tag < 0 || tag > TYPE_TAG_MAX) {
    throw new CairnError(ErrorCode.USAGE, `type_tag must be an integer in 0..${TYPE_TAG_MAX}, got ${String(tag)}`, { typeTag: tag });
  }
  return tag;
}

/** A hasher already fed with the identity frame for `tag` (nothing for untyped artifacts). */
export function identityHasher(tag: number | undefined): Hasher {
  const h = new Hasher();
  if (tag !== undefined) {
    const frame = Buffer.alloc(TYPED_FRAME_MAGIC.length + 4);
    TYPED_FRAME_MAGIC.copy(frame, 0);
    frame.writeUInt32BE(tag, TYPED_FRAME_MAGIC.length);
    h.update(frame);
  }
  return h;
}

/** Throws when an untyped artifact's leading bytes collide with the typed-frame magic. */
export function checkUntypedPrefix(head: Uint8Array, tag: number | undefined): void {
  if (tag !== undefined || head.length < TYPED_FRAME_MAGIC.length) return;
  if (Buffer.from(head.buffer, head.byteOffset, TYPED_FRAME_MAGIC.length).equals(TYPED_FRAME_MAGIC)) {
    throw new CairnError(
      ErrorCode.INVALID_INPUT,
      "untyped artifact bytes may not begin with the reserved typed-frame magic \"cairn-asl-typed\\0\"; store it with a type_tag",
    );
  }
}

/** Formats a tag for messages and listings: `0x0000002a`. */
export function formatTypeTag(tag: number | undefined): string {
  return tag === undefined ? "-" : `0x${tag.toString(16).padStart(8, "0")}`;
}
