/**
 * File-system failures the tests cannot cause as root (a full disk, permission denied, a
 * read-only file system), injected by instrumenting `node:fs` and `node:fs/promises` for one
 * path at a time (every other call is performed) — FINDINGS F8:
 *
 * - a large put whose temp `.part` cannot be created, written, fsynced or made read-only is E_STORE_IO "cannot
 *   write <part>: ENOSPC: no space left on device" (EACCES, EROFS, EIO alike), never the raw fs
 *   error (E_INTERNAL); the `.part` is removed and nothing is recorded;
 * - fsck meeting a directory under the store it cannot list (objects/, a fan-out directory,
 *   tmp/) reports an `unreadable_directory` entry naming it and goes on (§5.15 "every finding is
 *   a report entry"), instead of throwing EACCES without a path.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, openStore, type Store } from "../../src/index.js";
import { SMALL_ARTIFACT_MAX_BYTES } from "../../src/store/layout.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn, expectCairnAsync } from "./helpers.js";

type Op = "open" | "write" | "fsync" | "chmod" | "opendir";

const hook = vi.hoisted(() => ({
  /** The error an fs call `op` on `path` fails with, or undefined to perform it. */
  fail: undefined as undefined | ((op: string, path: string) => Error | undefined),
}));

/** An fs error as Node makes it: "<CODE>: <text>, <syscall> '<path>'". */
function fsError(code: string, text: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, syscall, path, errno: -1 });
}

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const pathOfFd = (fd: number): string => {
    try {
      return real.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return `fd:${fd}`;
    }
  };
  const check = (op: string, path: string): void => {
    const err = hook.fail?.(op, path);
    if (err !== undefined) throw err;
  };
  const openSync = ((p: import("node:fs").PathLike, ...rest: unknown[]) => {
    check("open", String(p));
    return (real.openSync as (...a: unknown[]) => number)(p, ...rest);
  }) as typeof real.openSync;
  const writeSync = ((fd: number, ...rest: unknown[]) => {
    check("write", pathOfFd(fd));
    return (real.writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof real.writeSync;
  const fsyncSync = (fd: number): void => {
    check("fsync", pathOfFd(fd));
    real.fsyncSync(fd);
  };
  const opendirSync = ((p: import("node:fs").PathLike, o?: unknown) => {
    check("opendir", String(p));
    return real.opendirSync(p, o as never);
  }) as typeof real.opendirSync;
  const chmodSync = (p: import("node:fs").PathLike, mode: import("node:fs").Mode): void => {
    check("chmod", String(p));
    real.chmodSync(p, mode);
  };
  const patched = { openSync, writeSync, fsyncSync, chmodSync, opendirSync };
  return { ...real, ...patched, default: { ...real, ...patched } };
});

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const open = (async (p: import("node:fs").PathLike, ...rest: unknown[]) => {
    const path = String(p);
    const err = hook.fail?.("open", path);
    if (err !== undefined) throw err;
    const fh = (await (real.open as (...a: unknown[]) => Promise<import("node:fs/promises").FileHandle>)(p, ...rest));
    // The handle's write and sync go through the hook too.
    return new Proxy(fh, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if ((prop === "write" || prop === "sync") && typeof v === "function") {
          return async (...args: unknown[]) => {
            const e = hook.fail?.(prop === "write" ? "write" : "fsync", path);
            if (e !== undefined) throw e;
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }) as typeof real.open;
  return { ...real, open, default: { ...real, open } };
});

const open: Store[] = [];
afterEach(() => {
  hook.fail = undefined;
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function writer(): { s: Store; dir: string } {
  const dir = join(makeTempDir(), "store");
  const s = openStore({ dir });
  open.push(s);
  return { s, dir };
}

const large = (fill: number): Buffer => Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 1000, fill);

async function* chunks(b: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += 16 * 1024) yield b.subarray(i, i + 16 * 1024);
}

/** Fails `op` on any `.part` file with `err(path)`. */
function failPart(op: Op, err: (path: string) => Error): void {
  hook.fail = (o, p) => (o === op && p.endsWith(".part") ? err(p) : undefined);
}

const CASES: Array<{ op: Op; make: (p: string) => Error; text: string }> = [
  { op: "open", make: (p) => fsError("EACCES", "permission denied", "open", p), text: "EACCES: permission denied" },
  { op: "open", make: (p) => fsError("EROFS", "read-only file system", "open", p), text: "EROFS: read-only file system" },
  { op: "write", make: (p) => fsError("ENOSPC", "no space left on device", "write", p), text: "ENOSPC: no space left on device" },
  { op: "fsync", make: (p) => fsError("EIO", "i/o error", "fsync", p), text: "EIO: i/o error" },
  // Before: named the .ready file the temp file was about to be renamed to.
  { op: "chmod", make: (p) => fsError("EPERM", "operation not permitted", "chmod", p), text: "EPERM: operation not permitted" },
];

describe("a large put whose temp file cannot be created or written", () => {
  for (const c of CASES) {
    it(`${c.op} fails ${c.text.split(":")[0]}: E_STORE_IO "cannot write <part>: ${c.text}" (putBytes and streamed put); no .part left, nothing recorded`, async () => {
      const { s, dir } = writer();
      const re = new RegExp(`^cannot write ${join(dir, "tmp")}/[0-9]+-[0-9a-f]{16}\\.part: ${c.text}$`);
      failPart(c.op, c.make);
      const e1 = expectCairn(() => s.putBytes(large(1)), ErrorCode.STORE_IO);
      expect(e1.message).toMatch(re);
      expect(e1.details?.path).toMatch(/\.part$/);
      const e2 = await expectCairnAsync(s.put(chunks(large(2))), ErrorCode.STORE_IO);
      expect(e2.message).toMatch(re);
      hook.fail = undefined;
      expect(readdirSync(join(dir, "tmp"))).toEqual([]);
      expect([...s.list()]).toEqual([]);
      // Once the disk has room again, the same put works.
      expect(s.putBytes(large(1)).created).toBe(true);
    });
  }
});

describe("fsck meeting a directory it cannot list", () => {
  it("an unreadable fan-out directory is an unreadable_directory entry naming it, in order; the other checks run", async () => {
    const { s, dir } = writer();
    const a = s.putBytes(large(5)).digest;
    const ab = a.slice("sha256:".length, "sha256:".length + 2);
    const other = ab === "00" ? "01" : "00";
    mkdirSync(join(dir, "objects", other), { recursive: true });
    writeFileSync(join(dir, "objects", other, "x"), "");
    writeFileSync(join(dir, "tmp", "1-0123456789abcdef.part"), ""); // a name Cairn writes: anything else is tmp_foreign
    const fanOut = join(dir, "objects", ab);
    hook.fail = (op, p) => (op === "opendir" && p === fanOut ? fsError("EACCES", "permission denied", "opendir", p) : undefined);
    const r = await s.fsck();
    expect(r.ok).toBe(false);
    const entry = {
      code: "unreadable_directory",
      subject: join("objects", ab),
      message: `directory ${join("objects", ab)} cannot be read (EACCES: permission denied): its entries were not checked`,
    };
    const orphan = { code: "orphan_file", subject: join("objects", other, "x"), message: `file ${join("objects", other, "x")} belongs to no artifact` };
    const stray = { code: "stray_file", subject: join("tmp", "1-0123456789abcdef.part"), message: `temporary file ${join("tmp", "1-0123456789abcdef.part")} was left behind` };
    expect(r.problems).toEqual(other < ab ? [orphan, entry, stray] : [entry, orphan, stray]);
    expect(r.problemCount).toBe(3);
    expect(r.checked.artifacts).toBe(1); // the artifact's file itself was read (its path is known)
  });

  it("objects/ and tmp/ themselves unreadable: one entry each", async () => {
    const { s, dir } = writer();
    s.putBytes(Buffer.from("packed"));
    const objects = join(dir, "objects");
    const tmp = join(dir, "tmp");
    hook.fail = (op, p) => (op === "opendir" && (p === objects || p === tmp) ? fsError("EIO", "i/o error", "opendir", p) : undefined);
    const r = await s.fsck();
    expect(r.problems).toEqual([
      { code: "unreadable_directory", subject: "objects", message: "directory objects cannot be read (EIO: i/o error): its entries were not checked" },
      { code: "unreadable_directory", subject: "tmp", message: "directory tmp cannot be read (EIO: i/o error): its entries were not checked" },
    ]);
    expect(existsSync(objects)).toBe(true);
  });

  it("a non-fs error while listing is not a finding (it is thrown on)", async () => {
    const { s, dir } = writer();
    s.putBytes(large(6));
    const objects = join(dir, "objects");
    hook.fail = (op, p) => (op === "opendir" && p === objects ? new TypeError("a bug") : undefined);
    await expect(s.fsck()).rejects.toThrow("a bug");
  });
});
