/** The batch progress display (src/cli/progress.ts) and the run flags' parsers, in-process. */
import { describe, expect, it } from "vitest";
import type { Progress } from "../../src/batch/engine.js";
import { bar, estimateTotal, formatEta, groupDigits, LINE_INTERVAL_MS, percentDone, ProgressDisplay, progressMode, type ProgressStream } from "../../src/cli/progress.js";
import { parseMemory, parseRate } from "../../src/cli/batch-commands.js";
import { parseCount } from "../../src/cli/duration.js";
import { isCairnError } from "../../src/core/errors.js";

class FakeStream implements ProgressStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns?: number,
  ) {}
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function p(over: Partial<Progress>): Progress {
  return { phase: "execute", runId: "0123456789abcdef", inputBytesRead: 0, inputBytesTotal: undefined, eusDone: 0, eusFailed: 0, eusRead: 0, eusTotal: undefined, pulsesDone: 0, pulsesReused: 0, ...over };
}

const NO_COLOR = { NO_COLOR: "1" };

describe("ProgressDisplay: an estimated total until the input is read", () => {
  const bar = (o: { now: () => number }): { out: FakeStream; d: ProgressDisplay } => {
    const out = new FakeStream(true);
    return { out, d: new ProgressDisplay({ mode: "bar", stream: out, env: NO_COLOR, now: o.now, tick: false }) };
  };

  it("estimates the total from the records read and the share of bytes read, marked ≈", () => {
    const c = clock();
    const { d } = bar(c);
    d.update(p({ eusDone: 100, eusRead: 300, inputBytesRead: 250, inputBytesTotal: 1000 }));
    c.advance(10_000);
    // 300 records from a quarter of the bytes: ≈1,200 EUs; 1,100 left at 10 EU/s.
    expect(d.barText()).toBe("[#...................] 100/≈1,200 EUs (≈8%)  10 EU/s  ETA ≈1m50s");
    d.finish();
  });

  it("shows EUs done, not bytes read, when the whole input was read in one go (the ETA is never 0s while EUs remain)", () => {
    const c = clock();
    const { d } = bar(c);
    d.update(p({ eusDone: 50, eusRead: 250, inputBytesRead: 1000, inputBytesTotal: 1000 }));
    c.advance(10_000);
    expect(d.barText()).toBe("[####................] 50/≈250 EUs (≈20%)  5 EU/s  ETA ≈40s");
    // Every record read so far is done, but the total is not known: no ETA, and not 100%.
    d.update(p({ eusDone: 250, eusRead: 250, inputBytesRead: 1000, inputBytesTotal: 1000 }));
    expect(d.barText()).toBe("[###################.] 250/≈250 EUs (≈99%)  20 EU/s  ETA ?");
  });

  it("keeps the largest estimate (it does not sink back), then shows the real total", () => {
    const c = clock();
    const { d } = bar(c);
    d.update(p({ eusDone: 100, eusRead: 300, inputBytesRead: 250, inputBytesTotal: 1000 }));
    c.advance(10_000);
    d.update(p({ eusDone: 400, eusRead: 400, inputBytesRead: 500, inputBytesTotal: 1000 }));
    // This update alone would estimate 800; the estimate stays 1,200.
    expect(d.barText()).toBe("[######..............] 400/≈1,200 EUs (≈33%)  30 EU/s  ETA ≈27s");
    c.advance(10_000);
    d.update(p({ eusDone: 600, eusRead: 1000, inputBytesRead: 1000, inputBytesTotal: 1000, eusTotal: 1000 }));
    expect(d.barText()).toBe("[############........] 600/1,000 EUs (60%)  20 EU/s  ETA 20s");
  });

  it("without records or bytes read there is no estimate; failures still show", () => {
    const c = clock();
    const { d } = bar(c);
    d.update(p({}));
    expect(d.barText()).toBe("0 EUs  0 EU/s  reading…");
    c.advance(1000);
    d.update(p({ eusDone: 10, eusRead: 20, eusFailed: 1, inputBytesRead: 0, inputBytesTotal: 1000 }));
    expect(d.barText()).toBe("10 EUs  10 EU/s  reading…  failed 1");
    d.update(p({ eusDone: 10, eusRead: 20, eusFailed: 1, inputBytesRead: 100, inputBytesTotal: 1000 }));
    expect(d.barText()).toBe("[#...................] 10/≈200 EUs (≈5%)  10 EU/s  ETA ≈19s  failed 1");
  });

  it("plain lines are unchanged while the total is estimated", () => {
    const c = clock();
    const out = new FakeStream(false);
    const d = new ProgressDisplay({ mode: "lines", stream: out, env: NO_COLOR, now: c.now });
    d.update(p({ eusDone: 0 }));
    c.advance(LINE_INTERVAL_MS);
    d.update(p({ eusDone: 50, eusRead: 250, inputBytesRead: 1000, inputBytesTotal: 1000 }));
    expect(out.text).toBe("cairn: executing (0 EUs done)\ncairn: 50 EUs done, 0 failed\n");
  });
});

describe("estimateTotal and percentDone", () => {
  it("scales the records read by the share of bytes read, never below the records read or done", () => {
    const base = { eusDone: 0, eusRead: 0, inputBytesRead: 0, inputBytesTotal: 1000 as number | undefined };
    expect(estimateTotal(base)).toBeUndefined();
    expect(estimateTotal({ ...base, eusRead: 10 })).toBeUndefined(); // no bytes counted yet
    expect(estimateTotal({ ...base, inputBytesRead: 10 })).toBeUndefined(); // no records yet
    expect(estimateTotal({ ...base, eusRead: 10, inputBytesRead: 10, inputBytesTotal: undefined })).toBeUndefined();
    expect(estimateTotal({ ...base, eusRead: 10, inputBytesRead: 10, inputBytesTotal: 0 })).toBeUndefined();
    expect(estimateTotal({ ...base, eusRead: 10, inputBytesRead: 300 })).toBe(33);
    expect(estimateTotal({ ...base, eusRead: 10, inputBytesRead: 1000 })).toBe(10);
    expect(estimateTotal({ ...base, eusRead: 10, inputBytesRead: 2000 })).toBe(10);
    expect(estimateTotal({ ...base, eusRead: 10, eusDone: 12, inputBytesRead: 1000 })).toBe(12);
  });

  it("rounds percentages down", () => {
    expect(percentDone(0, 10)).toBe(0);
    expect(percentDone(999, 1000)).toBe(99);
    expect(percentDone(1000, 1000)).toBe(100);
    expect(percentDone(0, 0)).toBe(100);
  });
});

describe("progress helpers", () => {
  it("groups digits, formats ETAs and draws bars", () => {
    expect(groupDigits(0)).toBe("0");
    expect(groupDigits(999)).toBe("999");
    expect(groupDigits(12345)).toBe("12,345");
    expect(groupDigits(52889123)).toBe("52,889,123");
    expect(formatEta(14)).toBe("14s");
    expect(formatEta(13.2)).toBe("14s");
    expect(formatEta(185)).toBe("3m05s");
    expect(formatEta(7620)).toBe("2h07m");
    expect(formatEta(Number.POSITIVE_INFINITY)).toBe("?");
    expect(bar(0.25, 10)).toBe("[##........]");
    expect(bar(1, 4)).toBe("[####]");
    expect(bar(2, 4)).toBe("[####]");
    expect(bar(Number.NaN, 4)).toBe("[....]");
  });

  it("chooses bar on a TTY, lines otherwise, off with --quiet or --json", () => {
    expect(progressMode({ write: () => true, isTTY: true }, {})).toBe("bar");
    expect(progressMode({ write: () => true, isTTY: false }, {})).toBe("lines");
    expect(progressMode({ write: () => true }, {})).toBe("lines");
    expect(progressMode({ write: () => true, isTTY: true }, { quiet: true })).toBe("off");
    expect(progressMode({ write: () => true, isTTY: true }, { json: true })).toBe("off");
  });
});

describe("ProgressDisplay: bar", () => {
  it("redraws one line with counts, rate, ETA and failures", () => {
    const s = new FakeStream(true, 200);
    const c = clock();
    const d = new ProgressDisplay({ mode: "bar", stream: s, now: c.now, env: NO_COLOR, tick: false });
    d.update(p({ phase: "ingest" }));
    expect(s.text).toBe("\r\u001b[2Kreading input…");
    c.advance(1000);
    d.update(p({ eusDone: 1000 }));
    expect(d.barText()).toBe("1,000 EUs  1,000 EU/s  reading…");
    c.advance(1000);
    d.update(p({ eusDone: 3000, eusFailed: 2, eusTotal: 12000 }));
    // 3,000 EUs over the 2 s window since the first sample; 9,000 left.
    expect(d.barText()).toBe("[#####...............] 3,000/12,000 EUs (25%)  1,500 EU/s  ETA 6s  failed 2");
    expect(s.chunks.every((ch) => ch.startsWith("\r\u001b[2K"))).toBe(true);
    expect(s.text).not.toContain("\n");
    d.finish();
    expect(s.text.endsWith("\n")).toBe(true);
  });

  it("throttles redraws to one per 100 ms, but always draws a phase change", () => {
    const s = new FakeStream(true);
    const c = clock();
    const d = new ProgressDisplay({ mode: "bar", stream: s, now: c.now, env: NO_COLOR, tick: false });
    d.update(p({ eusDone: 1 }));
    for (let i = 2; i < 50; i++) {
      c.advance(5);
      d.update(p({ eusDone: i }));
    }
    expect(s.chunks.length).toBe(3); // t=0, t≈100, t≈200 (49 updates over 245 ms)
    d.update(p({ phase: "merge", eusDone: 50, eusTotal: 50 }));
    expect(s.chunks.length).toBe(4);
    expect(s.chunks[3]).toContain("merging…");
  });

  it("paints failures red only when color is enabled", () => {
    const colored = new FakeStream(true);
    const d1 = new ProgressDisplay({ mode: "bar", stream: colored, now: clock().now, env: {}, tick: false });
    d1.update(p({ eusDone: 5, eusFailed: 1 }));
    expect(colored.text).toContain("\u001b[31mfailed 1\u001b[0m");
    const plain = new FakeStream(true);
    const d2 = new ProgressDisplay({ mode: "bar", stream: plain, now: clock().now, env: NO_COLOR, tick: false });
    d2.update(p({ eusDone: 5, eusFailed: 1 }));
    expect(plain.text).not.toContain("\u001b[31m");
    expect(plain.text).toContain("failed 1");
  });

  it("cuts the line to the terminal width", () => {
    const s = new FakeStream(true, 30);
    const d = new ProgressDisplay({ mode: "bar", stream: s, now: clock().now, env: NO_COLOR, tick: false });
    d.update(p({ eusDone: 123456, eusTotal: 999999, eusFailed: 3 }));
    const last = s.chunks[s.chunks.length - 1] as string;
    expect(last.slice("\r\u001b[2K".length).length).toBe(29);
  });

  it("interrupt() ends a drawn line; nothing is written when nothing was drawn", () => {
    const s = new FakeStream(true);
    const d = new ProgressDisplay({ mode: "bar", stream: s, now: clock().now, env: NO_COLOR, tick: false });
    d.interrupt();
    expect(s.text).toBe("");
    d.update(p({ eusDone: 1 }));
    d.interrupt();
    expect(s.text.endsWith("\n")).toBe(true);
    d.finish();
    expect(s.text.split("\n").length).toBe(2);
  });
});

describe("ProgressDisplay: lines and off", () => {
  it("prints phase changes and at most one count line every 2 s", () => {
    const s = new FakeStream(false);
    const c = clock();
    const d = new ProgressDisplay({ mode: "lines", stream: s, now: c.now, env: NO_COLOR });
    d.update(p({ phase: "ingest" }));
    c.advance(100);
    d.update(p({ eusDone: 10 }));
    for (let i = 0; i < 10; i++) {
      c.advance(500);
      d.update(p({ eusDone: 20 + i * 10, eusFailed: 2 }));
    }
    d.update(p({ phase: "merge", eusDone: 120, eusFailed: 2, eusTotal: 120 }));
    d.update(p({ phase: "done", eusDone: 120, eusFailed: 2, eusTotal: 120, pulsesDone: 12, pulsesReused: 3 }));
    d.finish();
    expect(s.text.split("\n").filter((l) => l !== "")).toEqual([
      "cairn: reading input",
      "cairn: executing (10 EUs done)",
      "cairn: 50 EUs done, 2 failed",
      "cairn: 90 EUs done, 2 failed",
      "cairn: merging outputs (120 EUs, 2 failed)",
      "cairn: done: 120 EUs, 2 failed, 12 pulses (3 reused)",
    ]);
  });

  it("no count line while the input is read: the second ingest report (the run id, once the plan is recorded) after a slow ingest printed \"0 EUs done\" (review finding)", () => {
    const s = new FakeStream(false);
    const c = clock();
    const d = new ProgressDisplay({ mode: "lines", stream: s, now: c.now, env: NO_COLOR });
    d.update(p({ phase: "ingest", runId: undefined }));
    c.advance(3_000);
    d.update(p({ phase: "ingest" }));
    c.advance(10);
    d.update(p({ inputBytesTotal: 100 }));
    d.finish();
    expect(s.text.split("\n").filter((l) => l !== "")).toEqual(["cairn: reading input", "cairn: executing (0 EUs done)"]);
  });

  it("off writes nothing", () => {
    const s = new FakeStream(true);
    const d = new ProgressDisplay({ mode: "off", stream: s, now: clock().now });
    d.update(p({ phase: "ingest" }));
    d.update(p({ eusDone: 5 }));
    d.finish();
    expect(s.text).toBe("");
  });
});

describe("run flag parsers", () => {
  const usage = (fn: () => unknown): boolean => {
    try {
      fn();
    } catch (err) {
      return isCairnError(err, "E_USAGE");
    }
    return false;
  };

  it("parseCount (every integer flag) is strict, around surrounding spaces", () => {
    expect(parseCount("8", "--partitions", 10, 1)).toBe(8);
    expect(parseCount(" 8 ", "--partitions", 10, 1)).toBe(8);
    expect(parseCount("0", "--retries", 10, 0)).toBe(0);
    for (const bad of ["0", "11", "3x", "-1", "1.5", "1e1", "", " ", "0x2", "+3", "8 8"]) expect(usage(() => parseCount(bad, "--partitions", 10, 1))).toBe(true);
  });

  it("parseRate accepts [0, 1]", () => {
    expect(parseRate("0", "--audit-rate")).toBe(0);
    expect(parseRate("0.05", "--audit-rate")).toBe(0.05);
    expect(parseRate(".5", "--audit-rate")).toBe(0.5);
    expect(parseRate("1", "--audit-rate")).toBe(1);
    expect(parseRate("1e-1", "--audit-rate")).toBe(0.1); // an exponent is a number too (UAT 8 of 2026-11-28)
    for (const bad of ["1.01", "-0.1", "abc", "", "5%", "2e0"]) expect(usage(() => parseRate(bad, "--audit-rate"))).toBe(true);
  });

  it("parseMemory takes sizes of at least 32 MiB", () => {
    expect(parseMemory("256MB", "--max-memory")).toBe(256 * 1024 * 1024);
    expect(parseMemory("1GiB", "--max-memory")).toBe(1024 ** 3);
    expect(parseMemory(String(64 * 1024 * 1024), "--max-memory")).toBe(64 * 1024 * 1024);
    for (const bad of ["1MB", "0", "lots", "-5MB", ""]) expect(usage(() => parseMemory(bad, "--max-memory"))).toBe(true);
  });
});
