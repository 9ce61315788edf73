/**
 * A writing command (`cairn run`, `resume`, `store put`) signalled while it waits for the store's
 * writer lock held by another process, through the BUILT cli (CAIRN_TEST_CLI): context.ts
 * `withStore` polls the lock (signals.ts `openStoreInterruptibly`), so the command's signal
 * handler (`exitOnSignal`) ends it at once — by the signal, with its interruption message, no
 * --out file or temp file left — instead of when --wait runs out (earlier builds waited in
 * SQLite's busy handler, which blocks the thread: the handler ran only after the whole wait).
 * When the wait runs out the error is E_STORE_LOCKED worded as before.
 */
import { type ChildProcess } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { cairn, json, jsonError, holdWriterLock, killChildrenAfterEach, spawnCairn, TempDirs } from "./helpers.js";

const temps = new TempDirs();
const children = killChildrenAfterEach(() => temps.cleanup());

/** Far longer than the test: a command still waiting for the lock when signalled ends only by its handler. */
const LONG_WAIT = "600s";
/** How long a signalled command may take to end (its lock wait is LONG_WAIT). */
const END_WITHIN_MS = 15_000;
/** Time for the command to start and reach its lock wait (a signal earlier ends it the same way). */
const SETTLE_MS = 2_000;

/** Another process holding `<store>/writer.lock` until killed (helpers.ts `holdWriterLock`). */
const holdLock = (store: string): Promise<ChildProcess> => holdWriterLock(store, children);

async function endsBy(c: ReturnType<typeof spawnCairn>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timeout = sleep(END_WITHIN_MS).then(() => ({ code: -1, signal: "timed out" as NodeJS.Signals }));
  return Promise.race([c.exited, timeout]);
}

/** A directory with an initialised store `st`, a module and an input of three records. */
function setup(): string {
  const d = temps.make();
  expect(cairn(["--store", "st", "init"], { cwd: d }).status).toBe(0);
  writeFileSync(join(d, "m.mjs"), "export default (x) => x.n * 2;\n");
  writeFileSync(join(d, "in.jsonl"), '{"n":1}\n{"n":2}\n{"n":3}\n');
  return d;
}

describe("a writing command signalled during the store's lock wait", () => {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    it(`cairn run --out, ${sig}: ends by ${sig} at once, says nothing was committed, leaves no --out file nor temp file`, { timeout: 60_000 }, async () => {
      const d = setup();
      await holdLock(join(d, "st"));
      const run = spawnCairn(["--store", "st", "--wait", LONG_WAIT, "run", "m.mjs", "--input", "in.jsonl", "--out", "out.jsonl"], { cwd: d });
      children.push(run.child);
      await sleep(SETTLE_MS);
      run.child.kill(sig);
      expect(await endsBy(run)).toEqual({ code: null, signal: sig });
      expect(run.stderr()).toContain("cairn: interrupted before the run started: no pulse was committed");
      expect(run.stdout()).toBe("");
      expect(readdirSync(d).sort()).toEqual(["in.jsonl", "m.mjs", "st"]);
      expect(readdirSync(join(d, "st", "tmp"))).toEqual([]);
    });
  }

  it("cairn store put, SIGINT: ends by SIGINT at once, stores nothing", { timeout: 60_000 }, async () => {
    const d = setup();
    writeFileSync(join(d, "f.txt"), "hello\n");
    await holdLock(join(d, "st"));
    const put = spawnCairn(["--store", "st", "--wait", LONG_WAIT, "store", "put", "f.txt"], { cwd: d });
    children.push(put.child);
    await sleep(SETTLE_MS);
    put.child.kill("SIGINT");
    expect(await endsBy(put)).toEqual({ code: null, signal: "SIGINT" });
    expect(put.stdout()).toBe("");
    expect(readdirSync(join(d, "st", "tmp"))).toEqual([]);
    expect(json<unknown[]>(cairn(["--store", "st", "--json", "store", "ls"], { cwd: d }))).toEqual([]);
  });

  it("cairn resume, SIGINT: ends by SIGINT at once", { timeout: 60_000 }, async () => {
    const d = setup();
    const runId = "0123456789abcdef";
    await holdLock(join(d, "st"));
    const resume = spawnCairn(["--store", "st", "--wait", LONG_WAIT, "resume", runId, "--out", "out.jsonl"], { cwd: d });
    children.push(resume.child);
    await sleep(SETTLE_MS);
    resume.child.kill("SIGINT");
    expect(await endsBy(resume)).toEqual({ code: null, signal: "SIGINT" });
    expect(readdirSync(d).sort()).toEqual(["in.jsonl", "m.mjs", "st"]);
  });

  it("the lock kept past --wait: cairn run fails E_STORE_LOCKED worded as before (the store, the wait), exit 1, no --out file", { timeout: 60_000 }, async () => {
    const d = setup();
    await holdLock(join(d, "st"));
    const r = cairn(["--json", "--store", "st", "--wait", "300ms", "run", "m.mjs", "--input", "in.jsonl", "--out", "out.jsonl"], { cwd: d });
    expect([r.status, r.out]).toEqual([1, ""]);
    const e = jsonError(r);
    expect(e).toMatchObject({ code: "E_STORE_LOCKED", details: { waitedMs: 300, path: join(d, "st") } });
    expect(e.message).toBe(`store ${join(d, "st")} is locked by another writer (waited 300 ms); retry when it finishes`);
    expect(readdirSync(d).sort()).toEqual(["in.jsonl", "m.mjs", "st"]);
  });
});
