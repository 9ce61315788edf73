import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmodSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore, type Digest, type GcReport, type FsckReport, type Lineage } from "../../src/index.js";
import { cairn, json, TempDirs, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;

function run(args: string[], input?: Buffer | string): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir, input });
}

function ok(args: string[], input?: Buffer | string): RunResult {
  const r = run(args, input);
  if (r.status !== 0) throw new Error(`cairn ${args.join(" ")} exited ${String(r.status)}: ${r.err}`);
  return r;
}

function put(content: Buffer | string): Digest {
  return ok(["store", "put", "-"], content).out.trim() as Digest;
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
});
afterEach(() => temps.cleanup());

describe("cairn gc", () => {
  it("--dry-run lists but keeps; --grace 0 sweeps the unpinned artifact and keeps the pinned one", () => {
    const loose = put("loose bytes");
    const kept = put("pinned bytes");
    ok(["store", "pin", kept, "keep"]);

    const dry = json<GcReport>(ok(["gc", "--dry-run", "--grace", "0", "--json"]));
    expect(dry).toMatchObject({ dryRun: true, present: 2, reachable: 1, keptByGrace: 0, roots: { snapshots: 0, pins: 1 } });
    expect(dry.swept).toEqual([{ digest: loose, size: 11, storage: "packed" }]);
    const human = ok(["gc", "--dry-run", "--grace", "0"]).out;
    expect(human).toContain("gc (dry run): would sweep 1 artifact, 11 bytes");
    expect(human).toContain(`${loose}  11  packed\n`);
    expect(ok(["store", "get", loose]).out).toBe("loose bytes");

    const real = ok(["gc", "--grace", "0"]).out;
    expect(real.split("\n")[0]).toBe("gc: swept 1 artifact, 11 bytes (11 B)");
    expect(real).toContain(`${loose}  11  packed\n`);
    const gone = run(["store", "get", loose]);
    expect(gone.status).toBe(1);
    expect(gone.err).toContain("not found");
    expect(json<{ state: string }>(ok(["store", "stat", loose, "--json"])).state).toBe("swept");
    expect(ok(["store", "get", kept]).out).toBe("pinned bytes");

    const again = json<GcReport>(ok(["gc", "--grace", "0", "--json"]));
    expect(again.swept).toEqual([]);
    expect(ok(["fsck"]).status).toBe(0);
  });

  it("the default grace period keeps fresh artifacts; --quiet prints only the summary", () => {
    put("fresh");
    const r = json<GcReport>(ok(["gc", "--json"]));
    expect(r.swept).toEqual([]);
    expect(r.keptByGrace).toBe(1);
    expect(ok(["gc", "--quiet", "--grace", "1h"]).out).toBe("gc: swept 0 artifacts, 0 bytes (0 B)\n");
    const bad = run(["gc", "--grace", "soon"]);
    expect(bad.status).toBe(2);
    expect(bad.err).toContain("--grace");
  });

  it("sweeps large (file) artifacts too", () => {
    const big = put(Buffer.alloc(200_000, 7));
    const r = json<GcReport>(ok(["gc", "--grace", "0s", "--json"]));
    expect(r.swept).toEqual([{ digest: big, size: 200_000, storage: "file" }]);
    expect(readdirSync(join(store, "objects")).flatMap((d) => readdirSync(join(store, "objects", d)))).toEqual([]);
    expect(ok(["fsck"]).status).toBe(0);
  });
});

describe("cairn fsck", () => {
  it("exits 0 on a clean store", () => {
    put("one");
    put(Buffer.alloc(100_000, 1));
    const r = ok(["fsck"]);
    expect(r.out).toMatch(/^fsck: ok \(checked 2 artifacts, 100003 bytes, 0 receipts, 0 edges, max logseq 2\)\n$/);
    const j = json<FsckReport>(ok(["fsck", "--json"]));
    expect(j.ok).toBe(true);
    expect(j.problems).toEqual([]);
  });

  it("counts an artifact gc swept apart: its row is checked (bytes gone), nothing is re-hashed", () => {
    const kept = put("kept");
    put(Buffer.alloc(100_000, 1));
    ok(["store", "pin", kept, "keep"]);
    ok(["gc", "--grace", "0s"]);
    expect(ok(["fsck"]).out).toBe("fsck: ok (checked 2 artifacts (1 swept by gc: bytes gone, nothing to re-hash), 4 bytes, 0 receipts, 0 edges, max logseq 3)\n");
    expect(json<FsckReport>(ok(["fsck", "--json"])).checked).toEqual({ artifacts: 2, swept: 1, bytes: 4, receipts: 0, edges: 0, maxLogseq: 3 });
  });

  it("reports a corrupted file and exits 1", () => {
    const d = put(Buffer.alloc(100_000, 1));
    const hex = d.slice("sha256:".length);
    const file = join(store, "objects", hex.slice(0, 2), hex.slice(2));
    chmodSync(file, 0o644);
    writeFileSync(file, Buffer.alloc(100_000, 2));

    const r = run(["fsck"]);
    expect(r.status).toBe(1);
    expect(r.out).toContain(`artifact_corrupt  ${d}  `);
    expect(r.out).toMatch(/fsck: 1 problem /);
    const j = run(["fsck", "--json"]);
    expect(j.status).toBe(1);
    const report = json<FsckReport>(j);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toEqual(["artifact_corrupt"]);

    const get = run(["store", "get", d]);
    expect(get.status).toBe(1);
    expect(get.err).toContain("E_STORE_CORRUPT");
    expect(get.stdout.length).toBe(0);
  });
});

describe("cairn lineage", () => {
  it("shows the nodes and edges of a receipt recorded through the library", () => {
    const s = openStore({ dir: store });
    let program: Digest, input: Digest, output: Digest, receipt: Digest;
    try {
      program = s.putBytes(Buffer.from("program v1")).digest;
      input = s.putBytes(Buffer.from("input data")).digest;
      output = s.putBytes(Buffer.from("output data")).digest;
      receipt = s.recordReceipt({ program, inputs: [input], outputs: [output], status: "succeeded" }).digest;
    } finally {
      s.close();
    }

    const up = json<Lineage>(ok(["lineage", output, "--json"]));
    expect(up.start).toBe(output);
    expect(up.direction).toBe("up");
    expect(up.nodes).toEqual([
      { digest: output, depth: 0 },
      { digest: receipt, depth: 1 },
      ...[program, input].sort().map((digest) => ({ digest, depth: 2 })),
    ]);
    expect(up.edges.map((e) => `${e.type}/${e.role}`).sort()).toEqual(["execution/input", "execution/output", "execution/program"]);
    expect(up.edges.find((e) => e.role === "output")).toMatchObject({ from: [receipt], to: [output] });

    const down = json<Lineage>(ok(["lineage", input, "--down", "--json"]));
    expect(down.direction).toBe("down");
    expect(down.nodes).toEqual([
      { digest: input, depth: 0 },
      { digest: receipt, depth: 1 },
      { digest: output, depth: 2 },
    ]);
    expect(down.edges.map((e) => e.role)).toEqual(["input", "output"]);

    const shallow = json<Lineage>(ok(["lineage", output, "--up", "--depth", "1", "--json"]));
    expect(shallow.nodes.map((n) => n.digest)).toEqual([output, receipt]);

    const human = ok(["lineage", output]).out;
    expect(human).toContain(`  [0] ${output}\n`);
    expect(human).toContain(`  [1] ${receipt}\n`);
    expect(human).toContain(`  [2] ${program}\n`);
    // one column ordered by (depth, digest), not indented as if it were a tree
    expect(human).toContain(`nodes (depth, digest):\n  [0] ${output}\n  [1] ${receipt}\n`);
    expect(human).not.toMatch(/^ {3,}\[/m);
    expect(human).toContain(`  execution/output  ${receipt.slice(0, 19)}… → ${output.slice(0, 19)}…\n`);

    expect(run(["lineage", output, "--up", "--down"]).status).toBe(2);
    expect(run(["lineage", output, "--depth", "5000"]).status).toBe(2);
  });

  it("--snapshot walks as of the snapshot", () => {
    const s = openStore({ dir: store });
    let program: Digest, output: Digest;
    try {
      program = s.putBytes(Buffer.from("p")).digest;
      output = s.putBytes(Buffer.from("o")).digest;
      s.createSnapshot("before");
      s.recordReceipt({ program, inputs: [], outputs: [output], status: "succeeded" });
    } finally {
      s.close();
    }
    expect(json<Lineage>(ok(["lineage", output, "--json"])).nodes).toHaveLength(3);
    const before = json<Lineage>(ok(["lineage", output, "--snapshot", "before", "--json"]));
    expect(before.nodes).toEqual([{ digest: output, depth: 0 }]);
    expect(before.edges).toEqual([]);
  });

  it("an unknown digest is exit 1 'not found'", () => {
    put("x");
    const r = run(["lineage", `sha256:${"0".repeat(64)}`]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("not found");
  });
});
