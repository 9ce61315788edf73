/**
 * The one naming rule and dead-writer rule of the temp files of atomic writes
 * (src/store/temp-files.ts, ARCHITECTURE §5.16), and the store's sites: the FORMAT file's temp
 * (fsutil.ts `writeFileAtomicSync`, swept by `recoverArtifacts` when a writer opens the store)
 * and `--out` files (out-file.ts; its sweep: test/store/out-file.test.ts). A temp named as if
 * from another pid space (a container sharing the store) survives whatever its pid; a dead
 * writer's of this pid space is removed. The data root's documents and trace directories:
 * test/workflow/effects-pidspace-sweep.test.ts and test/workflow/trace-sweep.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, watch, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/store.js";
import { writeFileAtomicSync } from "../../src/store/fsutil.js";
import {
  MAX_WRITER_PID, boundedTempPrefix, pidSpace, taggedTempWriter, tempFileName, writerIsGone, writerTempName,
} from "../../src/store/temp-files.js";
import { tempDir } from "./helpers.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function scratch(): string {
  const t = tempDir("cairn-temp-sweep-");
  cleanups.push(t.cleanup);
  return t.dir;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid as number;
}

const SPACE = pidSpace() as string;
/** A pid space that is not this process's. */
const OTHER = SPACE === "00000000" ? "00000001" : "00000000";
const HEX = "0123456789abcdef";
/** Safety net for file-system events that never come (not a speed assertion). */
const WATCH_LIMIT_MS = 10_000;

/** The names created in `dir` while `write` runs (inotify: the temp file of an atomic write, which is renamed away). */
async function namesCreatedBy(dir: string, write: () => void, expected: RegExp): Promise<string[]> {
  const seen = new Set<string>();
  const w = watch(dir);
  try {
    const found = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no name matching ${String(expected)} appeared in ${dir}; saw ${[...seen].join(", ")}`)), WATCH_LIMIT_MS);
      w.on("change", (_type, name) => {
        if (typeof name !== "string") return;
        seen.add(name);
        if (expected.test(name)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    write();
    await found;
  } finally {
    w.close();
  }
  return [...seen];
}

describe("the naming rule (temp-files.ts)", () => {
  it("names a temp file <prefix><pid>-<pid space>-<16 hex>.tmp, and reads the writer back from exactly that", () => {
    expect(SPACE).toMatch(/^[0-9a-f]{8}$/);
    const name = tempFileName(".doc.json.");
    expect(name).toMatch(new RegExp(`^\\.doc\\.json\\.${process.pid}-${SPACE}-[0-9a-f]{16}\\.tmp$`));
    expect(taggedTempWriter(name, ".doc.json.")).toEqual({ pid: process.pid, space: SPACE });
    expect(writerTempName("p.", 42, null, HEX)).toBe(`p.${HEX}.tmp`); // pid space unknown: no pid, never swept
    expect(taggedTempWriter(`p.${MAX_WRITER_PID}-${OTHER}-${HEX}.tmp`, "p.")).toEqual({ pid: MAX_WRITER_PID, space: OTHER });
    for (const bad of [
      `p.${HEX}.tmp`,
      `p.0-${SPACE}-${HEX}.tmp`, // pid 0
      `p.042-${SPACE}-${HEX}.tmp`, // a leading zero
      `p.${MAX_WRITER_PID + 1}-${SPACE}-${HEX}.tmp`,
      `p.42-ABCDEF01-${HEX}.tmp`, // upper-case hex
      `p.42-${SPACE}0-${HEX}.tmp`, // a 9-digit tag
      `p.42-${SPACE}-${HEX}0.tmp`, // 17 hex digits
      `p.42-${SPACE}-${HEX}.tmp.bak`,
      `q.42-${SPACE}-${HEX}.tmp`, // another prefix
      `p.42.${HEX}.tmp`, // a legacy pid-only name
    ]) {
      expect([bad, taggedTempWriter(bad, "p.")]).toEqual([bad, undefined]);
    }
  });

  it("a writer is gone only when its pid space is this process's and its pid runs nowhere here; a legacy name by its pid alone", () => {
    const dead = deadPid();
    expect(writerIsGone({ pid: dead, space: SPACE })).toBe(true);
    expect(writerIsGone({ pid: dead, space: OTHER })).toBe(false); // another container or host: its pid says nothing here
    expect(writerIsGone({ pid: process.ppid, space: SPACE })).toBe(false); // runs
    expect(writerIsGone({ pid: process.pid, space: SPACE })).toBe(false); // this process
    expect(writerIsGone({ pid: dead, space: null })).toBe(true);
    expect(writerIsGone({ pid: process.ppid, space: null })).toBe(false);
  });

  it("writeFileAtomicSync writes through a temp file named by the rule", async () => {
    const dir = scratch();
    const tagged = new RegExp(`^FORMAT\\.${process.pid}-${SPACE}-[0-9a-f]{16}\\.tmp$`);
    const names = await namesCreatedBy(dir, () => writeFileAtomicSync(join(dir, "FORMAT"), "x"), tagged);
    expect(names.filter((n) => n !== "FORMAT").every((n) => tagged.test(n))).toBe(true);
    expect(readdirSync(dir)).toEqual(["FORMAT"]);
  });
});

describe("a long name's temp file (boundedTempPrefix)", () => {
  // The tagged part made `<name>.` + 40 bytes: a file whose name is near the 255-byte limit had a
  // temp name too long to create (ENAMETOOLONG), a limit that moved with the pid's digits.
  it("stays within 255 bytes for a 250-byte file name, and the sweep's prefix finds it; short prefixes are unchanged", () => {
    const d = tempDir("cairn-tempname-");
    try {
      for (const name of ["x".repeat(250), "é".repeat(120), "a".repeat(199)]) {
        const prefix = `.${name}.`;
        const tmp = tempFileName(join(d.dir, prefix));
        const base = tmp.slice(d.dir.length + 1);
        expect(Buffer.byteLength(base)).toBeLessThanOrEqual(255);
        writeFileSync(tmp, "partial"); // creatable
        expect(taggedTempWriter(base, prefix)).toEqual({ pid: process.pid, space: SPACE });
        writeFileAtomicSync(join(d.dir, name), "whole"); // the atomic write of that very file works
      }
      expect(boundedTempPrefix(".doc.json.")).toBe(".doc.json.");
      const long = `.${"é".repeat(120)}.`;
      expect(boundedTempPrefix(long)).toMatch(/^\.é{79}~[0-9a-f]{16}\.$/);
      expect(boundedTempPrefix(`${long}x`)).not.toBe(boundedTempPrefix(long));
    } finally {
      d.cleanup();
    }
  });
});

describe("the FORMAT file's temp files (recoverArtifacts)", () => {
  it("a writer's open removes a dead writer's of this pid space; another pid space's, a live one's, this process's and directories stay", () => {
    const dir = join(scratch(), "store");
    openStore({ dir, lockTimeoutMs: 0 }).close();
    const dead = deadPid();
    const swept = [
      writerTempName("FORMAT.", dead, SPACE, HEX),
      `FORMAT.${dead}.0a1b2c3d4e5f.tmp`, // legacy (pid only): removed by its pid, as before
    ];
    const kept = [
      writerTempName("FORMAT.", dead, OTHER, HEX), // a container sharing the store: its pid says nothing here
      writerTempName("FORMAT.", process.ppid, SPACE, HEX),
      writerTempName("FORMAT.", process.pid, SPACE, HEX),
      `FORMAT.${process.ppid}.0a1b2c3d4e5f.tmp`,
      `${writerTempName("FORMAT.", dead, SPACE, HEX)}.bak`,
    ];
    for (const n of [...swept, ...kept]) writeFileSync(join(dir, n), '{"format":');
    const asDir = writerTempName("FORMAT.", dead, SPACE, "00000000000000aa");
    mkdirSync(join(dir, asDir));
    const before = readdirSync(dir);
    const store = openStore({ dir, lockTimeoutMs: 0 });
    try {
      expect(store.recovery).toEqual({ removed: 2, placed: 0, finishedSweeps: 0 });
    } finally {
      store.close();
    }
    expect(readdirSync(dir).sort()).toEqual(before.filter((n) => !swept.includes(n)).sort());
    for (const n of [...kept, asDir]) expect(readdirSync(dir)).toContain(n);
  });
});
