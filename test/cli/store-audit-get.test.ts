/**
 * `cairn store get` to stdout when the read fails: the error is reported like every other error
 * (one `cairn: … [CODE]` line on stderr, or one JSON error object with --json; exit 1), never as
 * an uncaught exception with a Node stack trace, and a corrupt artifact's bytes never reach stdout.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CLI, storeCli, TempDirs } from "./helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;

const { run, ok } = storeCli(() => ({ cwd: dir, store }));

/** Stores `bytes` and returns its digest. */
function put(bytes: Buffer): string {
  const file = join(dir, `in-${randomBytes(4).toString("hex")}.bin`);
  writeFileSync(file, bytes);
  return ok(["store", "put", file]).out.trim();
}

/** Flips one byte of a large artifact's file under objects/ (inverts it: a random artifact may already hold any fixed byte). */
function corruptFile(digest: string, at: number): void {
  const hex = digest.slice("sha256:".length);
  const file = join(store, "objects", hex.slice(0, 2), hex.slice(2));
  chmodSync(file, 0o644);
  const fd = openSync(file, "r+");
  try {
    const byte = Buffer.alloc(1);
    if (readSync(fd, byte, 0, 1, at) !== 1) throw new Error(`${file} has no byte at ${String(at)}`);
    byte[0] = 0xff ^ (byte[0] as number);
    writeSync(fd, byte, 0, 1, at);
  } finally {
    closeSync(fd);
  }
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
  ok(["init"]);
});
afterEach(() => temps.cleanup());

describe("cairn store get to stdout: read failures", () => {
  it("a corrupt large artifact: one coded error line, exit 1, no stack trace, nothing on stdout", () => {
    const d = put(randomBytes(200_000));
    corruptFile(d, 1000);
    const r = run(["store", "get", d]);
    expect(r.status).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.err).toMatch(new RegExp(`^cairn: artifact ${d} is corrupt: [^\\n]*\\[E_STORE_CORRUPT\\]\\n$`));
    expect(r.err).not.toContain("    at ");
    // -o reports the same error.
    const o = run(["store", "get", d, "-o", join(dir, "out.bin")]);
    expect(o.status).toBe(1);
    expect(o.err).toContain("[E_STORE_CORRUPT]");
    expect(existsSync(join(dir, "out.bin"))).toBe(false);
  });

  it("with --json: exactly one JSON error object on stderr, exit 1", () => {
    const d = put(randomBytes(3 * 1024 * 1024)); // several stream chunks
    corruptFile(d, 2 * 1024 * 1024 + 5);
    const r = run(["--json", "store", "get", d]);
    expect(r.status).toBe(1);
    expect(r.stdout.length).toBe(0);
    const lines = r.err.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    const e = JSON.parse(lines[0] as string) as { error: { code: string; message: string; details: { digest: string } } };
    expect(e.error.code).toBe("E_STORE_CORRUPT");
    expect(e.error.message).toContain(d);
    expect(e.error.details.digest).toBe(d);
  });

  it("a healthy large artifact still streams every byte", () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 17);
    const d = put(bytes);
    const r = ok(["store", "get", d]);
    expect(r.stdout.equals(bytes)).toBe(true);
    expect(r.err).toBe("");
  });

  it.skipIf(!existsSync("/dev/full"))("a stdout that cannot be written (ENOSPC): a coded E_STORE_IO error, exit 1", () => {
    const d = put(randomBytes(200_000));
    for (const json of [false, true]) {
      const full = openSync("/dev/full", "w");
      try {
        const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
        delete env.CAIRN_STORE;
        const r = spawnSync(process.execPath, [CLI, "--store", store, ...(json ? ["--json"] : []), "store", "get", d], {
          cwd: dir,
          env,
          stdio: ["ignore", full, "pipe"],
        });
        expect(r.status).toBe(1);
        const err = r.stderr.toString("utf8");
        if (json) {
          expect(JSON.parse(err)).toEqual({ error: { code: "E_STORE_IO", message: expect.stringContaining("cannot write stdout: ENOSPC") as string, details: { path: "stdout" } } });
        } else {
          expect(err).toMatch(/^cairn: cannot write stdout: ENOSPC[^\n]*\[E_STORE_IO\]\n$/);
        }
      } finally {
        closeSync(full);
      }
    }
  });
});
