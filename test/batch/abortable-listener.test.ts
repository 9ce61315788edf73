/**
 * abort.ts `abortable`: one abort listener serves a whole iteration (ARCHITECTURE §10.1 says so),
 * removed when the iteration ends; without a signal the source is returned as it is.
 */
import { describe, expect, it } from "vitest";
import { abortable } from "../../src/batch/abort.js";

/** An AbortSignal counting the listeners added to it and those still registered. */
function countingSignal(): { signal: AbortSignal; added: () => number; live: () => number } {
  const ac = new AbortController();
  const signal = ac.signal;
  let added = 0;
  let live = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<AbortSignal["addEventListener"]>) => {
    added++;
    live++;
    add(...args);
  }) as AbortSignal["addEventListener"];
  signal.removeEventListener = ((...args: Parameters<AbortSignal["removeEventListener"]>) => {
    live--;
    remove(...args);
  }) as AbortSignal["removeEventListener"];
  return { signal, added: () => added, live: () => live };
}

describe("abortable", () => {
  it("adds one abort listener for 10,000 elements, sync or async, and removes it at the end", async () => {
    const values = Array.from({ length: 10_000 }, (_, i) => i);
    async function* gen(): AsyncGenerator<number> {
      yield* values;
    }
    for (const source of [values, gen()]) {
      const s = countingSignal();
      let sum = 0;
      for await (const v of abortable<number>(source, s.signal, undefined)) sum += v;
      expect([sum, s.added(), s.live()]).toEqual([49_995_000, 1, 0]);
    }
  });

  it("without a signal is the source itself", () => {
    const values = [1, 2, 3];
    expect(abortable(values, undefined, undefined)).toBe(values);
  });
});
