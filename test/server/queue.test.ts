/** The bounded async mutex that serialises runs of the HTTP gateway. */
import { describe, expect, it } from "vitest";
import { QueueFullError, RunQueue } from "../../src/server/index.js";

const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

describe("RunQueue", () => {
  it("runs tasks one at a time, in arrival order, sync or async", async () => {
    const q = new RunQueue(10);
    const log: string[] = [];
    let active = 0;
    const task = (name: string, ms: number) => async () => {
      active++;
      expect(active).toBe(1);
      log.push(`start ${name}`);
      await tick(ms);
      log.push(`end ${name}`);
      active--;
      return name;
    };
    const results = await Promise.all([q.run(task("a", 10)), q.run(task("b", 1)), q.run(() => "sync"), q.run(task("c", 1))]);
    expect(results).toEqual(["a", "b", "sync", "c"]);
    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    expect(q.running).toBe(false);
    expect(q.waiting).toBe(0);
  });

  it("a failing task releases the lock and rejects only its caller", async () => {
    const q = new RunQueue(1);
    const bad = q.run(async () => {
      await tick();
      throw new Error("bad");
    });
    const good = q.run(() => 7);
    await expect(bad).rejects.toThrow("bad");
    await expect(good).resolves.toBe(7);
    expect(q.running).toBe(false);
  });

  it("refuses a task at once when maxWaiting tasks already wait", async () => {
    const q = new RunQueue(1);
    let release!: () => void;
    const held = q.run(() => new Promise<void>((r) => (release = r)));
    const waiting = q.run(() => "second");
    expect(q.waiting).toBe(1);
    const full = q.run(() => "third");
    await expect(full).rejects.toBeInstanceOf(QueueFullError);
    await expect(full).rejects.toMatchObject({ code: "E_LIMIT_EXCEEDED", details: { maxWaiting: 1 } });
    release();
    await held;
    await expect(waiting).resolves.toBe("second");
    await expect(q.run(() => "later")).resolves.toBe("later");
  });

  it("maxWaiting 0: only the running task; validates its bound", async () => {
    const q = new RunQueue(0);
    let release!: () => void;
    const held = q.run(() => new Promise<void>((r) => (release = r)));
    await expect(q.run(() => 1)).rejects.toThrow(/server busy: 0 run/);
    release();
    await held;
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => new RunQueue(bad)).toThrow(expect.objectContaining({ code: "E_USAGE", message: `maxWaiting must be a non-negative integer, got ${bad}` }));
    }
  });
});
