/**
 * The `.md` summary's Path section of a run a runtime error aborted inside its first node: the
 * path lists the nodes that completed (none), and the section says the node was entered and
 * aborted, as the Failure point does (before 2026-11-28 it said "No node was visited."); the
 * earlier form, which `wf replay` may find beside an old trace, is derivable (`earlierSummaryForm`).
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { earlierSummaryForm, renderSummary, type SummaryInput } from "../../src/workflow/pgs/summary.js";
import type { PgsRunResult } from "../../src/workflow/pgs/index.js";
import type { CairnRunResult } from "../../src/workflow/cairn/run.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import type { Digest } from "../../src/core/digest.js";
import { openStore } from "../../src/store/store.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { baseDecl, prepared, run, tempDir } from "./cairn-fixture.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

const summaryOf = (r: PgsRunResult | CairnRunResult): string => readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8");
/** The text of a `## <name>` section, without its heading and the blank lines around it. */
function section(md: string, name: string): string {
  const start = md.indexOf(`\n## ${name}\n\n`);
  expect(start).toBeGreaterThan(0);
  const body = md.slice(start + name.length + 6);
  return body.slice(0, body.indexOf("\n\n## "));
}

const COLLATZ_IN = "ai_governance::IN_COLLATZ_INPUT_VALIDATED_V0";
const COLLATZ_CC = "ai_governance::CC_COMPUTE_SEQUENCES_V0";

describe("PGS runs", () => {
  it("aborted in its first CC: the entry boundary node completed, so the Path section lists it, as before; no earlier form differs", () => {
    const b = sandbox();
    boxes.push(b);
    // The collatz workflow's first CC (pipeline 8) names a CT address the handlers do not hold: a runtime error in it.
    const dispatch = join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json");
    const d = JSON.parse(readFileSync(dispatch, "utf8")) as { pipeline: Record<string, Array<{ addr: number }>> };
    (d.pipeline["8"] as Array<{ addr: number }>)[0]!.addr = 9999;
    writeFileSync(dispatch, JSON.stringify(d, null, 2));
    const r = b.run(WF.collatz, payload("collatz_conjecture/02_single_number.json"));
    expect([r.status, r.path.map((p) => `${p.node}=${p.status}`), r.error?.cc]).toEqual(["ERROR", [`${COLLATZ_IN}=ACK`], COLLATZ_CC]);
    const md = summaryOf(r);
    expect(section(md, "Path")).toBe(`1. \`${COLLATZ_IN}\` (boundary, addr 32): ACK`);
    expect(section(md, "Failure point")).toBe(`The run was aborted by a runtime error in \`${COLLATZ_CC}\`, step \`compute_sequences\`: CT addr 9999 not found in handlers — snapshot may be stale`);
    expect(earlierSummaryForm(md)).toBeUndefined();
  });

  it("a run whose nodes completed keeps its Path section (numbered hops); no earlier form differs", () => {
    const b = sandbox();
    boxes.push(b);
    const r = b.run(WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"));
    expect(r.status).toBe("VIOLATION");
    const md = summaryOf(r);
    expect(section(md, "Path")).toBe(r.path.map((p, i) => `${i + 1}. \`${p.node}\` (${p.kind === "cc" ? "CC" : "boundary"}, addr ${p.addr}): ${p.status}`).join("\n"));
    expect(earlierSummaryForm(md)).toBeUndefined();
  });
});

describe("a Cairn run aborted in its first node", () => {
  it("the Path section says no node completed (the entry node's CS step left the data root)", async () => {
    const decl = baseDecl({
      entry: "save",
      stores: { reg: { kind: "registry", path: "s/reg.jsonl" } },
      nodes: {
        save: {
          steps: [{ id: "r", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.name" } }],
          routes: { SUCCESS: { exit: "DONE", reason: "saved" }, default: { exit: "FAILED", reason: "registry failed" } },
        },
      },
    });
    const { snap, dir } = await prepared(decl);
    mkdirSync(join(dir, "data"), { recursive: true });
    symlinkSync(tempDir(), join(dir, "data", "s")); // the store's directory leads out of the data root
    const r = run(snap, { name: "ada" }, dir);
    const cc = "test::WF_TEST_V0::save";
    expect([r.status, r.error?.code, r.error?.cc, r.path]).toEqual(["ERROR", "E_PATH_CONFINEMENT", cc, []]);
    const md = summaryOf(r);
    expect(section(md, "Path")).toBe(`No node completed: the run was aborted in \`${cc}\`.`);
    expect(section(md, "Failure point").startsWith(`The run was aborted by a runtime error in \`${cc}\`, step \`r\`: `)).toBe(true);
    expect(md.endsWith("\n## Exit\n\nNo declared exit was reached.\n")).toBe(true);
    expect(earlierSummaryForm(md)).toBe(md.replace(`\n## Path\n\nNo node completed: the run was aborted in \`${cc}\`.\n`, "\n## Path\n\nNo node was visited.\n"));
  });
});

describe("renderSummary without a node", () => {
  const D = `sha256:${"0".repeat(64)}` as Digest;
  const input = (error: SummaryInput["error"]): SummaryInput => ({
    traceId: "t", workflow: "d::WF_X_V0", status: "ERROR", exitCode: 1, error,
    digests: { snapshot: D, payload: D, priorState: D, posteriorState: D }, events: 2, chainHead: D,
    path: [], violations: [], effects: [], before: [], after: [], surface: fromPlain({}) as PyObject,
  });

  it("an error outside any node: \"No node was visited.\" as before", () => {
    const md = renderSummary(input({ message: "boom", cc: null, step: null }));
    expect(section(md, "Path")).toBe("No node was visited.");
    expect(section(md, "Failure point")).toBe("The run was aborted by a runtime error before any node ran: boom");
    expect(earlierSummaryForm(md)).toBeUndefined();
  });

  it("an error in a node: the node is named in the Path section too", () => {
    const md = renderSummary(input({ message: "boom", cc: "d::CC_A_V0", step: "s" }));
    expect(section(md, "Path")).toBe("No node completed: the run was aborted in `d::CC_A_V0`.");
    expect(section(md, "Failure point")).toBe("The run was aborted by a runtime error in `d::CC_A_V0`, step `s`: boom");
    expect(earlierSummaryForm(md)).toBe(md.replace("No node completed: the run was aborted in `d::CC_A_V0`.", "No node was visited."));
  });
});

describe("wf replay of a run aborted in its first node", () => {
  it("the summary beside the trace file (this build's Path line) replays identical", async () => {
    const decl = baseDecl({
      entry: "read",
      stores: { log: { kind: "appendonly", path: "s/log.jsonl" } },
      nodes: { read: { steps: [{ id: "all", cs: "log", op: "GET_ALL", inputs: {} }], routes: { SUCCESS: { exit: "READ", reason: "read" }, default: { exit: "BROKEN", reason: "log unreadable" } } } },
    });
    const { snap, dir } = await prepared(decl);
    mkdirSync(join(dir, "data/s"), { recursive: true });
    writeFileSync(join(dir, "data/s/log.jsonl"), '{"torn": tr'); // a torn tail: the run aborts with a hard error in its entry node
    const store = openStore({ dir: join(dir, "store"), create: true });
    try {
      const r = run(snap, { x: 1 }, dir, { store });
      expect([r.status, r.path, r.error?.cc]).toEqual(["ERROR", [], "test::WF_TEST_V0::read"]);
      expect(section(summaryOf(r), "Path")).toBe("No node completed: the run was aborted in `test::WF_TEST_V0::read`.");
      expect(replayCairnRun(store, join(r.traceDirAbs, `${r.traceId}.jsonl`))).toMatchObject({ identical: true, status: "ERROR", replayedTrace: r.digests.trace });
      // The summary an earlier build wrote for this run ("No node was visited.") is still its own;
      // any other edit of the summary is a difference.
      const mdPath = join(r.traceDirAbs, `${r.traceId}.md`);
      const earlier = earlierSummaryForm(readFileSync(mdPath, "utf8")) as string;
      expect(earlier).toContain("\n## Path\n\nNo node was visited.\n");
      writeFileSync(mdPath, earlier);
      expect(replayCairnRun(store, join(r.traceDirAbs, `${r.traceId}.jsonl`))).toMatchObject({ identical: true });
      writeFileSync(mdPath, earlier.replace("No node was visited.", "No node was visited!"));
      expect(replayCairnRun(store, join(r.traceDirAbs, `${r.traceId}.jsonl`))).toMatchObject({ identical: false, firstDifference: { artifact: "summary" } });
    } finally {
      store.close();
    }
  });
});
