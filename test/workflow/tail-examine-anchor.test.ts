/**
 * `examine` and what anchors a trace's last line: the store's recorded trace (a forged trace
 * whose chain was recomputed is refused against it), the summary, or nothing (reported as
 * unanchored); and a WF_COMPLETE whose status is not the last CC's (a changed last line).
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { openStore } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { examineTrace, renderReport, UNANCHORED_NOTE } from "../../src/workflow/examine/index.js";
import { EXAMPLES, payload, tempDir } from "./cairn-fixture.js";

const PAYLOAD = { agent_name: "agent3", owner_email: "o3@x.io", scopes: ["read"] };
const traceFile = (r: CairnRunResult) => join(r.traceDirAbs, `${r.traceId}.jsonl`);

/** Runs the example workflow over PAYLOAD, recorded into `<dir>/store`. */
async function recordedRun(): Promise<{ r: CairnRunResult; dir: string; storeDir: string }> {
  const c = await compileWorkflows([EXAMPLES]);
  const { bytes } = sealedFileBytes(c.content!);
  const dir = tempDir();
  const storeDir = join(dir, "store");
  const store = openStore({ dir: storeDir, create: true });
  try {
    const r = runCairnWorkflow({ snapshot: prepareSnapshot(verifySealedBytes(bytes, "snap")), payload: payload(PAYLOAD), dataRoot: join(dir, "data"), baseDir: dir, store });
    expect(r.status).toBe("SUCCESS");
    return { r, dir, storeDir };
  } finally {
    store.close();
  }
}

/** `lines` with each line's seq and prev recomputed (sha256 of the previous line's bytes): a forged but self-consistent chain. */
function rechain(lines: string[]): string {
  const out: string[] = [];
  for (const l of lines) {
    const ev = JSON.parse(l) as Record<string, unknown>;
    ev.seq = out.length;
    ev.prev = out.length === 0 ? null : sha256(out[out.length - 1] as string);
    out.push(JSON.stringify(ev));
  }
  return `${out.join("\n")}\n`;
}

describe("examine --store: the store's recorded trace anchors the file", () => {
  it("a forged trace (a value changed, the chain recomputed, no summary) is broken against the store; the real one is anchored to it", async () => {
    const { r, dir, storeDir } = await recordedRun();
    const original = readFileSync(traceFile(r));
    const lines = original.toString("utf8").trimEnd().split("\n");
    const start = lines.findIndex((l) => l.includes('"CC_START"'));
    const forgedDir = join(dir, "forged");
    mkdirSync(forgedDir);
    const forged = join(forgedDir, `${r.traceId}.jsonl`);
    writeFileSync(forged, rechain(lines.map((l, i) => (i === start + 1 ? l.replace("agent3", "agent9") : l))));
    const opts = { openStore: () => openStore({ dir: storeDir, readOnly: true }) };

    // Without the store the forgery verifies (nothing anchors its lines), and says so.
    const alone = examineTrace(forged);
    expect(alone.chain).toMatchObject({ ok: true, status: "verified", anchor: "none" });
    expect(alone.notes).toContain(UNANCHORED_NOTE);
    expect(renderReport(alone).find((l) => l.startsWith("chain:"))).toMatch(/^chain: +ok, last line unanchored: /);

    const x = examineTrace(forged, opts);
    const root = `cairn-wf:${r.traceId}`;
    expect(x.store).toEqual({ root, recorded: r.digests.trace, file: sha256(readFileSync(forged)), matches: false });
    expect(x.chain.ok).toBe(false);
    expect(x.chain.status).toBe("broken");
    expect(x.chain.brokenAt).toMatchObject({ line: start + 2, kind: "changed_line" });
    expect(x.chain.brokenAt?.reason).toContain(`root ${root} → ${r.digests.trace}`);
    expect(x.exitCode).toBe(1);
    expect(renderReport(x)).toContain(`store:       DIFFERENT: ${root} → ${r.digests.trace}, this file ${sha256(readFileSync(forged))}`);

    // The real trace, without its summary: anchored to the store.
    const copyDir = join(dir, "copy");
    mkdirSync(copyDir);
    const copy = join(copyDir, `${r.traceId}.jsonl`);
    copyFileSync(traceFile(r), copy);
    const y = examineTrace(copy, opts);
    expect(y.store).toEqual({ root, recorded: r.digests.trace, file: r.digests.trace, matches: true });
    expect(y.chain).toMatchObject({ ok: true, status: "verified", anchor: "store" });
    expect(y.notes).not.toContain(UNANCHORED_NOTE);
    expect(y.exitCode).toBe(0);
    expect(renderReport(y).find((l) => l.startsWith("chain:"))).toContain(`matches the trace the store recorded (${root})`);

    // A line appended (chained on): extra_line at the first line the recorded trace lacks.
    const longer = join(forgedDir, "longer.jsonl");
    writeFileSync(longer, rechain([...lines, lines[lines.length - 1] as string]));
    const z = examineTrace(longer, opts);
    expect(z.chain.brokenAt).toMatchObject({ line: lines.length + 1, kind: "extra_line" });
    expect(z.exitCode).toBe(1);
  });

  it("a store without a record of the run: said so, not an error", async () => {
    const { r, dir } = await recordedRun();
    const empty = join(dir, "empty-store");
    openStore({ dir: empty, create: true }).close();
    rmSync(join(r.traceDirAbs, `${r.traceId}.md`));
    const x = examineTrace(traceFile(r), { openStore: () => openStore({ dir: empty, readOnly: true }) });
    expect(x.store).toEqual({ root: null, recorded: null, file: r.digests.trace, matches: null });
    expect(x.notes.some((n) => n.startsWith(`the store holds no recorded run of trace ${r.traceId}`))).toBe(true);
    expect(x.chain.anchor).toBe("none");
    expect(x.exitCode).toBe(0);
  });
});

describe("examine: the end status is the last CC's", () => {
  it("a WF_COMPLETE changed to VIOLATION (no summary) is not a success: the trace contradicts itself, exit 1", async () => {
    const { r } = await recordedRun();
    const file = traceFile(r);
    rmSync(join(r.traceDirAbs, `${r.traceId}.md`));
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    const last = lines.length - 1;
    writeFileSync(file, rechain(lines.map((l, i) => (i === last ? l.replace('"SUCCESS"', '"VIOLATION"') : l))));
    const x = examineTrace(file);
    expect(x.chain).toMatchObject({ ok: true, anchor: "none" });
    expect(x.outcome.status).toBe("VIOLATION");
    expect(x.outcome.class).not.toBe("success");
    expect(x.outcome.class).toBe("graph_structure_error");
    expect(x.hint).toContain("WF_COMPLETE");
    expect(x.exitCode).toBe(1);
  });
});
