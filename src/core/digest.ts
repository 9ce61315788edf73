/**
 * Digests are strings `sha256:<64 lowercase hex>`. The algorithm prefix is part of the
 * value so another algorithm can be added later without ambiguity.
 */
import * as nodeCrypto from "node:crypto";
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { CairnError, ErrorCode } from "./errors.js";

export type Digest = `sha256:${string}`;

export const DIGEST_ALGORITHM = "sha256";
export const DIGEST_PREFIX = "sha256:";
/** Length of a raw SHA-256 digest in bytes. */
export const DIGEST_BYTES = 32;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True when `s` is a well-formed digest string. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === "string" && DIGEST_RE.test(s);
}

/** Validates and returns a digest string; throws E_DIGEST_INVALID naming the value otherwise. */
export function parseDigest(s: string, what = "digest"): Digest {
  if (isDigest(s)) return s;
  const shown = typeof s === "string" ? JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s) : String(s);
  throw new CairnError(
    ErrorCode.DIGEST_INVALID,
    `malformed ${what} ${shown}: expected "sha256:" followed by 64 lowercase hex digits`,
    { value: s },
  );
}

type OneShotHash = (algorithm: string, data: Uint8Array | string, outputEncoding: "buffer" | "hex" | "binary") => Buffer | string;
/** `crypto.hash` (Node >= 20.12) is markedly faster than createHash for small inputs; fall back when absent. */
const oneShot = (nodeCrypto as unknown as { hash?: OneShotHash }).hash;

/** SHA-256 of `data` as 32 raw bytes (the shared hot path of digests and Merkle trees). */
export const sha256Buf: (data: Uint8Array | string) => Buffer =
  typeof oneShot === "function"
    ? (data) => oneShot("sha256", data, "buffer") as Buffer
    : (data) => createHash("sha256").update(data).digest();

/**
 * SHA-256 of `data` as a 32-character binary (latin1) string. For tiny inputs this costs less
 * than half of a Buffer result (no ArrayBuffer to allocate and collect): the Merkle hot paths
 * keep their hashes as such strings.
 */
export const sha256Bin: (data: Uint8Array | string) => string =
  typeof oneShot === "function"
    ? (data) => oneShot("sha256", data, "binary") as string
    : (data) => createHash("sha256").update(data).digest("binary");

/** The digest of `bytes` (a string is hashed as UTF-8). */
export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${typeof oneShot === "function" ? (oneShot("sha256", bytes, "hex") as string) : createHash("sha256").update(bytes).digest("hex")}`;
}

/** The raw 32 bytes of a SHA-256 over `bytes`. */
export function sha256Raw(bytes: Uint8Array | string): Buffer {
  return sha256Buf(bytes);
}

/** Raw 32 digest bytes of a digest string. */
export function digestToBytes(d: Digest): Buffer {
  return Buffer.from(parseDigest(d).slice(DIGEST_PREFIX.length), "hex");
}

/** Digest string from 32 raw bytes. */
export function digestFromBytes(raw: Uint8Array): Digest {
  if (raw.length !== DIGEST_BYTES) {
    throw new CairnError(ErrorCode.DIGEST_INVALID, `raw digest must be ${DIGEST_BYTES} bytes, got ${raw.length}`);
  }
  return `sha256:${Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("hex")}`;
}

/** The hex part of a digest (used for file names). */
export function digestHex(d: Digest): string {
  return d.slice(DIGEST_PREFIX.length);
}

/** Incremental digest for inputs that arrive in pieces. */
export class Hasher {
  private readonly h: Hash = createHash("sha256");
  private n = 0;

  update(chunk: Uint8Array | string): this {
    this.h.update(chunk);
    this.n += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
    return this;
  }

  /** Bytes hashed so far. */
  get size(): number {
    return this.n;
  }

  digest(): Digest {
    return `sha256:${this.h.digest("hex")}`;
  }
}

/** A pass-through stream that hashes what flows through it; read `digest()` after 'finish'. */
export class DigestStream extends Transform {
  private readonly hasher = new Hasher();
  private result: Digest | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hasher.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = this.hasher.digest();
    cb();
  }

  get size(): number {
    return this.hasher.size;
  }

  digest(): Digest {
    if (this.result === undefined) throw new CairnError(ErrorCode.INTERNAL, "DigestStream.digest() called before the stream finished");
    return this.result;
  }
}

/** Digest of everything an async iterable (e.g. a Readable) yields. Memory stays constant. */
export async function digestStream(source: AsyncIterable<Uint8Array | string>): Promise<{ digest: Digest; size: number }> {
  const h = new Hasher();
  for await (const chunk of source) h.update(chunk);
  return { size: h.size, digest: h.digest() };
}
