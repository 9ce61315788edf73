/**
 * `Output.streamList` respects backpressure (audit 6): when a write says the sink's buffer is
 * full it waits for 'drain' (or 'close') before writing the next item, so a listing to a slow
 * pipe is not queued in memory whole (`Output.list` queued 269 MB for `store roots --json | wc`
 * at 200k roots). It writes the bytes `list` writes, JSON and human.
 */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { Output } from "../../src/cli/output.js";

/** A sink whose buffer holds `capacity` characters: write returns false once it is over, until drained. */
class SlowSink extends EventEmitter {
  text = "";
  buffered = 0;
  writesWhileFull = 0;
  private full = false;

  constructor(private readonly capacity: number) {
    super();
  }

  write(s: string): boolean {
    if (this.full) this.writesWhileFull++;
    this.text += s;
    this.buffered += s.length;
    this.full = this.buffered >= this.capacity;
    return !this.full;
  }

  /** The reader takes everything buffered. */
  drain(): void {
    this.buffered = 0;
    this.full = false;
    this.emit("drain");
  }
}

class Plain {
  text = "";
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

const ITEMS = Array.from({ length: 50 }, (_, i) => ({ name: `root-${i}`, digest: `sha256:${String(i).repeat(8)}` }));

async function drainUntil(sink: SlowSink, done: Promise<number>): Promise<number> {
  let settled = false;
  void done.then(() => (settled = true));
  let turns = 0;
  for (;;) {
    await new Promise((r) => setImmediate(r));
    if (settled) return done;
    // Waiting: nothing was written while the sink was full, and it holds what one item overfilled.
    expect(sink.writesWhileFull).toBe(0);
    sink.drain();
    turns++;
    if (turns > 1000) throw new Error("streamList never finished");
  }
}

describe("Output.streamList", () => {
  for (const json of [true, false]) {
    it(`waits for 'drain' whenever a write fills the sink, and writes the listing's bytes (${json ? "--json" : "human"})`, async () => {
      // What a listing is: a JSON array with one item per line (--json), else one line per item.
      const plain = { text: json ? `[\n${ITEMS.map((r) => `  ${JSON.stringify(r)}`).join(",\n")}\n]\n` : ITEMS.map((r) => `${r.name}  ${r.digest}\n`).join("") };
      const n = ITEMS.length;
      const slow = new SlowSink(200);
      const done = new Output({ json }, slow).streamList(ITEMS, (r) => `${r.name}  ${r.digest}`);
      // It stops at the first full buffer (a few items in), not after the whole list.
      expect(slow.text.length).toBeLessThan(plain.text.length / 4);
      expect(await drainUntil(slow, done)).toBe(n);
      expect(slow.text).toBe(plain.text);
      expect(slow.writesWhileFull).toBe(0);
    });
  }

  it("an empty list is [] (--json) or nothing", async () => {
    for (const json of [true, false]) {
      const b = new Plain();
      expect(await new Output({ json }, b).streamList([], () => "x")).toBe(0);
      expect(b.text).toBe(json ? "[]\n" : "");
    }
  });

  it("a sink that closes while full ends the wait (stdout's EPIPE is main.ts's to report)", async () => {
    const slow = new SlowSink(1);
    const done = new Output({ json: true }, slow).streamList(ITEMS.slice(0, 2), (r) => r.name);
    await new Promise((r) => setImmediate(r));
    expect(slow.text).toBe('[\n  {"name":"root-0","digest":"sha256:00000000"}');
    slow.emit("close"); // never drains: the rest is written without waiting
    expect(await done).toBe(2);
    expect(slow.listenerCount("drain") + slow.listenerCount("close")).toBe(0);
  });
});
