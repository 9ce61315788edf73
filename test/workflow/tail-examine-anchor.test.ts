/**
 * `examine` and what anchors a trace's last line: the store's recorded trace (a forged trace
 * whose chain was recomputed is refused against it), the summary, or nothing (reported as
 * unanchored); and a WF_COMPLETE whose status is not the last CC's (a changed last line).
 */
import Database from "better-sqlite3";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { digestToBytes, sha256 } from "../../src/core/digest.js";
import type { ArtifactReader } from "../../src/store/artifact-reader.js";
import { openStore } from "../../src/store/store.js";
import { recordedTraceRef } from "../../src/workflow/cairn/replay.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { examineTrace, firstDifferingLine, renderReport, UNANCHORED_NOTE } from "../../src/workflow/examine/index.js";
import { cairnErrorOf } from "../cairn-error-of.js";
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

/** `lines` rechained, written to `<dir>/<sub>/<traceId>.jsonl` (no summary beside it). */
function writeForged(dir: string, sub: string, traceId: string, lines: string[]): string {
  mkdirSync(join(dir, sub));
  const f = join(dir, sub, `${traceId}.jsonl`);
  writeFileSync(f, rechain(lines));
  return f;
}

describe("examine --store: the recorded trace deleted, corrupt, or another runtime's", () => {
  it("a recorded trace tombstoned in the store is compared by its recorded digest only: it still anchors the file, and a forgery is broken (UAT finding: it passed, exit 0)", async () => {
    const { r, dir, storeDir } = await recordedRun();
    const s = openStore({ dir: storeDir });
    try {
      s.delete(r.digests.trace);
    } finally {
      s.close();
    }
    const opts = { openStore: () => openStore({ dir: storeDir, readOnly: true }) };
    const root = `cairn-wf:${r.traceId}`;
    const x = examineTrace(traceFile(r), opts);
    expect(x.store).toEqual({ root, recorded: r.digests.trace, file: r.digests.trace, matches: true, deleted: "tombstoned" });
    expect(x.chain).toMatchObject({ ok: true, status: "verified", anchor: "store" });
    expect(x.notes).toContain(`the trace the store recorded for run ${r.traceId} (root ${root} → ${r.digests.trace}) is deleted from the store (tombstoned): the file was compared with its recorded digest only`);
    expect(x.exitCode).toBe(0);
    expect(renderReport(x)).toContain(`store:       ${root} → ${r.digests.trace}: bytes DELETED (tombstoned); this file has the recorded digest`);
    // A forgery (its chain recomputed, its summary removed) is broken by the recorded digest alone.
    const lines = readFileSync(traceFile(r), "utf8").trimEnd().split("\n");
    const forged = writeForged(dir, "forged", r.traceId, lines.map((l) => l.replace("agent3", "agent9")));
    const y = examineTrace(forged, opts);
    const file = y.store?.file;
    expect(y.store).toMatchObject({ root, recorded: r.digests.trace, matches: false, deleted: "tombstoned" });
    expect(file).not.toBe(r.digests.trace);
    expect(y.chain).toMatchObject({ ok: false, status: "broken", anchor: "store", brokenAt: { line: 1, kind: "not_the_recorded_trace" } });
    expect(y.chain.brokenAt?.reason).toBe(`the file (${file}) is not the trace the store recorded for run ${r.traceId} (root ${root} → ${r.digests.trace}, which is deleted from the store (tombstoned), so the first differing line cannot be named)`);
    expect(y.exitCode).toBe(1);
    expect(renderReport(y)).toContain(`store:       ${root} → ${r.digests.trace}: bytes DELETED (tombstoned); NOT this file's digest ${file}`);
  });

  it("a corrupt recorded trace is E_STORE_CORRUPT, not reported as deleted", async () => {
    const { r, dir, storeDir } = await recordedRun();
    const s = openStore({ dir: storeDir });
    try {
      expect(s.stat(r.digests.trace).storage).toBe("packed");
    } finally {
      s.close();
    }
    const db = new Database(join(storeDir, "catalog.sqlite"));
    try {
      const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(r.digests.trace)) as { bytes: Buffer };
      const bytes = Buffer.from(row.bytes);
      bytes[bytes.indexOf("agent3")] = "A".charCodeAt(0);
      expect(db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(bytes, digestToBytes(r.digests.trace)).changes).toBe(1);
    } finally {
      db.close();
    }
    const lines = readFileSync(traceFile(r), "utf8").trimEnd().split("\n");
    const forged = writeForged(dir, "forged", r.traceId, lines.map((l) => l.replace("agent3", "agent9")));
    const e = cairnErrorOf(() => examineTrace(forged, { openStore: () => openStore({ dir: storeDir, readOnly: true }) }));
    expect(e.code).toBe("E_STORE_CORRUPT");
  });

  it("a file that ends early is a missing_line at the first line it lacks", async () => {
    const { r, dir, storeDir } = await recordedRun();
    const lines = readFileSync(traceFile(r), "utf8").trimEnd().split("\n");
    const shorter = writeForged(dir, "short", r.traceId, lines.slice(0, -1));
    const x = examineTrace(shorter, { openStore: () => openStore({ dir: storeDir, readOnly: true }) });
    expect(x.chain.brokenAt).toMatchObject({ line: lines.length, kind: "missing_line" });
    expect(x.exitCode).toBe(1);
  });

  it("the first differing line is found across the pieces the recorded trace is read in, as a whole-text line split finds it", () => {
    /** The whole-text comparison the streaming one replaced. */
    const bySplit = (file: string, recorded: string) => {
      const a = file.split("\n");
      const b = recorded.split("\n");
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        if (a[i] !== b[i]) {
          if (i === b.length - 1 && b[i] === "") return { line: i + 1, kind: "extra_line" };
          if (i === a.length - 1 && a[i] === "") return { line: i + 1, kind: "missing_line" };
          return { line: i + 1, kind: "changed_line" };
        }
      }
      return { line: Math.min(a.length, b.length), kind: a.length > b.length ? "extra_line" : "missing_line" };
    };
    /** The store reader's contract over `bytes`, handing out at most `piece` bytes at a time. */
    const reader = (bytes: Buffer, piece: number): ArtifactReader => {
      let pos = 0;
      return { size: bytes.length, read: (max: number) => (pos >= bytes.length ? undefined : bytes.subarray(pos, (pos += Math.min(max, piece)))), close: () => undefined };
    };
    const base = "aa\nbbb\ncc\n";
    const cases = ["aa\nbXb\ncc\n", "aa\nbbb\ncc\ndd\n", "aa\nbbb\n", "aa\nbbb\ncc", "aa\nbbb\ncc\nd", "aa\nbb", "aa\nbbbb\ncc\n", "", "X", "aa\nbbb\ncc\n\n"];
    for (const other of cases) {
      for (const [file, recorded] of [[other, base], [base, other]] as const) {
        for (const piece of [1, 2, 3, 64]) {
          expect([file, recorded, piece, firstDifferingLine(Buffer.from(file), reader(Buffer.from(recorded), piece))]).toEqual([file, recorded, piece, bySplit(file, recorded)]);
        }
      }
    }
    expect(firstDifferingLine(Buffer.from(base), reader(Buffer.from(base), 2))).toBeUndefined();
  });

  it("the store's edited summary beside a trace the store anchors: the hint says the store anchors the trace, not that nothing does", async () => {
    const { r, storeDir } = await recordedRun();
    appendFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "\nedited\n");
    const x = examineTrace(traceFile(r), { openStore: () => openStore({ dir: storeDir, readOnly: true }) });
    expect(x.chain).toMatchObject({ ok: true, anchor: "store" });
    expect(x.summary).toMatchObject({ complete: false, diagnosis: "edited" });
    expect(x.hint).not.toContain("nothing anchors");
    expect(x.hint).toContain("the trace itself is anchored by the store (byte for byte the trace it recorded for the run)");
    expect(renderReport(x).join("\n")).not.toContain("nothing anchors");
    expect(x.exitCode).toBe(1);
  });

  it("only the trace's own runtime's root is looked up: a Cairn run's record is not a PGS trace's", async () => {
    const { r, storeDir } = await recordedRun();
    const s = openStore({ dir: storeDir, readOnly: true });
    try {
      expect(recordedTraceRef(s, r.traceId, "cairn")).toEqual({ kind: "cairn", root: `cairn-wf:${r.traceId}`, digest: r.digests.trace });
      expect(recordedTraceRef(s, r.traceId, "pgs")).toBeUndefined();
    } finally {
      s.close();
    }
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
