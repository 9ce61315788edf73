/**
 * OutFile (src/store/out-file.ts): the temp files of atomic writes are named after their
 * writer's pid and pid space (`.cairn-out-<pid>-<space>-<hex>.tmp`), and the next atomic write
 * into a directory removes those whose writer provably no longer runs (a SIGKILLed
 * `cairn run --out` cannot clean up): same pid space, pid not running. Never a live writer's,
 * never one of another pid space (another container, host or boot), never another name.
 * The CLI side (a real SIGKILL): test/cli/batch-out-stale.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pidSpace, withOutFile } from "../../src/store/out-file.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const p = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(p.stdout);
}

describe("stale temp files of atomic writes", () => {
  it("this process's pid space is known here (Linux: boot_id and pid namespace), as 8 hex digits", () => {
    expect(pidSpace()).toMatch(/^[0-9a-f]{8}$/);
  });

  it("are removed by the next atomic write into the directory; a live writer's, another pid space's and other names are kept", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-outfile-"));
    dirs.push(dir);
    const space = pidSpace() as string;
    const other = space === "00000000" ? "00000001" : "00000000";
    const dead = deadPid();
    const stale = `.cairn-out-${dead}-${space}-0123456789abcdef.tmp`;
    const kept = [
      `.cairn-out-${process.ppid}-${space}-fedcba9876543210.tmp`, // our parent runs
      `.cairn-out-${dead}-${other}-0123456789abcdef.tmp`, // another container, host or boot: its pid says nothing here
      `.cairn-out-${dead}-0123456789abcdef.tmp`, // pid only (builds of 2026-11-26): which pid space is unknown
      ".cairn-out-0123456789abcdef.tmp", // an older name without a pid
      `.cairn-out-${dead}-${space}-0123456789abcdef.tmp.bak`, // not the exact scheme
    ];
    for (const n of [stale, ...kept]) writeFileSync(join(dir, n), "partial");
    // A directory of that name is not a temp file of ours.
    const staleDir = `.cairn-out-${dead}-${space}-00000000000000aa.tmp`;
    mkdirSync(join(dir, staleDir));
    await withOutFile(join(dir, "out.txt"), async (out) => {
      // While writing, this process's own temp file is there, named after its pid and pid space.
      expect(readdirSync(dir).filter((n) => n.startsWith(`.cairn-out-${process.pid}-${space}-`))).toHaveLength(1);
      await out?.write(Buffer.from("done"));
    });
    expect(readFileSync(join(dir, "out.txt"), "utf8")).toBe("done");
    expect(readdirSync(dir).sort()).toEqual([...kept, staleDir, "out.txt"].sort());
  });
});

describe("short writes", () => {
  // One write(2) may write less than asked (a file size limit, a full disk); the next one then
  // fails. OutFile wrote each chunk with one write and ignored the count, so a chunk cut short
  // as the last one was committed as a truncated file, exit 0 (found with `ulimit -f`).
  it("a chunk written in part is written on to the end, not committed short", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-outfile-"));
    dirs.push(dir);
    const probe = await open(join(dir, "probe"), "w");
    type Write = (buf: Uint8Array, offset?: number, length?: number, ...rest: unknown[]) => Promise<{ bytesWritten: number }>;
    const proto = Object.getPrototypeOf(probe) as { write: Write };
    await probe.close();
    const write = proto.write;
    let calls = 0;
    // The kernel's short write: the first call writes at most 100 bytes (really), and says so.
    proto.write = function (this: unknown, buf: Uint8Array, offset = 0, length = buf.length - offset, ...rest: unknown[]): Promise<{ bytesWritten: number }> {
      calls++;
      return write.call(this, buf, offset, calls === 1 ? Math.min(length, 100) : length, ...rest);
    };
    const data = Buffer.alloc(5000, 7);
    try {
      await withOutFile(join(dir, "out.bin"), async (out) => {
        await out?.write(data);
      });
    } finally {
      proto.write = write;
    }
    expect(calls).toBeGreaterThan(1);
    expect(readFileSync(join(dir, "out.bin")).equals(data)).toBe(true);
  });
});
