/**
 * `cairn runs ls` (audit 6): a run whose manifest cannot be read back is listed with status
 * `unreadable` (and, with --json, an `error` member) and said on stderr, and the listing goes
 * on with exit 0; before, one such manifest (a 282 MB one, over the store's in-memory read
 * limit) made `runs ls` fail for every run in the store. The table is streamed: up to
 * MAX_HELD_RUN_ROWS rows are held to align the columns, past that they are spilled to a temp
 * file (one reading of the runs); both ways print the same bytes as the listing did when it held every run.
 */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, run as runBatch } from "../../src/index.js";
import { manifestRoot } from "../../src/batch/plan.js";
import { MANIFEST_MEDIA_TYPE } from "../../src/batch/manifest.js";
import { listRuns, type RunSummary } from "../../src/batch/runs.js";
import { printRunsTable } from "../../src/cli/batch-commands.js";
import { Output } from "../../src/cli/output.js";
import { cairn, TempDirs, type RunResult } from "./helpers.js";
import { planRun } from "../batch/fixtures/engine-helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;

function cli(args: string[]): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir });
}


/** The table as `runs ls` printed it when it held every run: columns as wide as their widest cell. */
function table(runs: RunSummary[], unreadable: ReadonlySet<string> = new Set()): string {
  const rows = [
    ["RUN", "STATE", "STATUS", "TOTAL/FAILED", "INPUT", "FUNCTION"],
    ...runs.map((s) => [s.runId, s.state, unreadable.has(s.runId) ? "unreadable" : (s.status ?? "-"), s.counts === undefined ? "-" : `${s.counts.total}/${s.counts.failed}`, s.input, s.function]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length))) as number[];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join("  ")).join("\n") + "\n";
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
});
afterEach(() => temps.cleanup());

/** A finished run, two planned ones (one with a long function name), and another finished run. */
async function fourRuns(): Promise<string[]> {
  const s = openStore({ dir: store, durability: "normal" });
  try {
    const a = (await runBatch(s, [1, 2, 3], { code: "export default (x) => x;\n", name: "a.mjs" }, { workers: 1, partitions: 1 })).runId;
    const b = planRun(s, "b-with-a-longer-name.mjs", "{}\n");
    const c = planRun(s, "c.mjs", "[]\n");
    const d = (await runBatch(s, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], { code: "export default (x) => { if (x === 4) throw new Error('no'); return x; };\n", name: "d.mjs" }, { workers: 1, partitions: 1, allowFailures: true })).runId;
    return [a, b, c, d];
  } finally {
    s.close();
  }
}

class Sink {
  text = "";
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

describe("runs ls prints the same table whether it holds the rows or spills them", () => {
  it("held (few runs) and spilled (more than the rows held) print the bytes of the whole listing", async () => {
    await fourRuns();
    const s = openStore({ dir: store, readOnly: true });
    try {
      const expected = table(listRuns(s));
      const held = new Sink();
      await printRunsTable(s, new Output({}, held));
      const spilled = new Sink();
      await printRunsTable(s, new Output({}, spilled), 2);
      expect(held.text).toBe(expected);
      expect(spilled.text).toBe(expected);
      const quiet = new Sink();
      await printRunsTable(s, new Output({ quiet: true }, quiet), 0);
      expect(quiet.text).toBe(expected.slice(expected.indexOf("\n") + 1));
    } finally {
      s.close();
    }
    // The built CLI prints it too.
    const r = cli(["runs", "ls"]);
    expect([r.status, r.err]).toEqual([0, ""]);
    const s2 = openStore({ dir: store, readOnly: true });
    try {
      expect(r.out).toBe(table(listRuns(s2)));
    } finally {
      s2.close();
    }
  });
});

describe("runs ls with a run whose manifest cannot be read", () => {
  it("lists it as unreadable, says why on stderr, lists the others, exit 0 (--json: an error member)", async () => {
    const [a, b, c, d] = await fourRuns();
    const before = cli(["runs", "ls", "--json"]);
    expect(before.status).toBe(0);
    const s = openStore({ dir: store, durability: "normal" });
    let bad: string;
    try {
      bad = s.putBytes(Buffer.from("{not json"), { mediaType: MANIFEST_MEDIA_TYPE }).digest;
      s.unpin(manifestRoot(a as string));
      s.pin(manifestRoot(a as string), bad as `sha256:${string}`, "run");
    } finally {
      s.close();
    }
    const human = cli(["runs", "ls"]);
    expect(human.status).toBe(0);
    expect(human.err).toMatch(new RegExp(`^cairn: run ${a}: its manifest is not JSON: [^\\n]+ \\[E_STORE_CORRUPT\\]\\n$`));
    const listed = JSON.parse(before.out) as RunSummary[];
    const first = listed[0] as RunSummary;
    const { status: _s, counts: _c, outputDigest: _o, ...rest } = first;
    const marked = { ...rest, manifest: bad, error: { code: "E_STORE_CORRUPT", message: expect.stringMatching(/^its manifest is not JSON: /) as unknown as string } };
    expect(human.out).toBe(table([marked, ...listed.slice(1)], new Set([a as string])));
    const j = cli(["runs", "ls", "--json"]);
    expect(j.status).toBe(0);
    const after = JSON.parse(j.out) as RunSummary[];
    expect(after.map((x) => x.runId)).toEqual([a, b, c, d]);
    expect(after[0]).toEqual(marked);
    expect(j.out.split("\n").slice(2).join("\n")).toBe(before.out.split("\n").slice(2).join("\n")); // the other runs' bytes unchanged
  });
});
