/**
 * `cairn runs show` of a finished run names its run receipt (manifest.ts `recordManifest`:
 * function + input, params {kind: "cairn.batch.run", plan} ⇒ output + manifest), found as
 * `verify` finds it: `run receipt: <digest> (status succeeded|failed)` after the manifest line;
 * `none recorded` when the store has none (runs finished before 2026-11-26). Before 2026-11-28
 * it was not shown. `--json` still prints the stored manifest byte for byte (the receipt is not
 * added to it: the manifest is a stored, digest-addressed document). Through the BUILT cli
 * (CAIRN_TEST_CLI).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import type { Receipt } from "../../src/store/receipts.js";
import { RUN_RECEIPT_KIND, type Manifest } from "../../src/batch/manifest.js";
import { cairn, json, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

/** The run receipt of `m` as the store holds it. */
function receiptOf(store: string, m: Manifest): Receipt {
  const s = openStore({ dir: store, readOnly: true, create: false });
  try {
    const r = s.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
    if (r === undefined) throw new Error("no run receipt");
    return r;
  } finally {
    s.close();
  }
}

describe("cairn runs show: the run receipt", () => {
  it("names its digest and status after the manifest; --json is the stored manifest as before", () => {
    const dir = temps.make();
    writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
    writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n{"n":2}\n');
    const ran = cairn(["--store", "st", "--json", "--quiet", "run", "id.mjs", "--input", "in.jsonl"], { cwd: dir });
    expect(ran.status, ran.err).toBe(0);
    const { runId, manifestDigest, outputArtifact } = json<{ runId: string; manifestDigest: string; outputArtifact: string }>(ran);
    const m = json<Manifest>(cairn(["--store", "st", "--json", "runs", "show", runId], { cwd: dir }));
    expect(JSON.stringify(m)).toBe(cairn(["--store", "st", "store", "get", manifestDigest], { cwd: dir }).out);
    const r = receiptOf(join(dir, "st"), m);
    expect(r.outputs).toEqual([outputArtifact, manifestDigest]);
    const lines = cairn(["--store", "st", "runs", "show", runId], { cwd: dir }).out.split("\n");
    const at = lines.indexOf(`manifest: ${manifestDigest}`);
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe(`run receipt: ${r.digest} (status succeeded)`);
  });

  it("a failed run's receipt says failed; a run without one says none recorded", () => {
    const dir = temps.make();
    writeFileSync(join(dir, "fail.mjs"), "export default (x) => { if (x.n === 2) throw new Error('no'); return x; };\n");
    writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n{"n":2}\n');
    const ran = cairn(["--store", "st", "--json", "--quiet", "run", "fail.mjs", "--input", "in.jsonl", "--retries", "0"], { cwd: dir });
    expect(ran.status).toBe(1);
    const { runId } = json<{ runId: string }>(ran);
    const m = json<Manifest>(cairn(["--store", "st", "--json", "runs", "show", runId], { cwd: dir }));
    const r = receiptOf(join(dir, "st"), m);
    expect(r.status).toBe("failed");
    expect(cairn(["--store", "st", "runs", "show", runId], { cwd: dir }).out.split("\n")).toContain(`run receipt: ${r.digest} (status failed)`);
    // As a run finished before 2026-11-26 (none recorded): the receipt pruned from the catalog.
    const s = openStore({ dir: join(dir, "st") });
    try {
      s.pruneReceipt(r.digest);
    } finally {
      s.close();
    }
    const shown = cairn(["--store", "st", "runs", "show", runId], { cwd: dir });
    expect(shown.status).toBe(0);
    expect(shown.out.split("\n")).toContain("run receipt: none recorded (a run finished before 2026-11-26 recorded none)");
  });
});
