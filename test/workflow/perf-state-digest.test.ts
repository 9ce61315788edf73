/**
 * The direct canonical texts of the run's hot digests (performance work, src/workflow/pgs):
 * `stateDigest` writes the state manifest's canonical text itself, `runKey` the run key's, and
 * `runTraceId` (the runtimes' `makeTraceId`) remembers the PGS suffix by the payload's compact text. Each must give exactly
 * what the general canonical encoder (core/canonical.ts) gives, for every input, and a
 * remembered suffix must never answer for another payload.
 */
import { describe, expect, it } from "vitest";
import { canonicalDigest } from "../../src/core/canonical.js";
import { sha256, type Digest } from "../../src/core/digest.js";
import { compactPy } from "../../src/workflow/pgs/pyjson.js";
import { stateDigest, stateManifest, type StateFile } from "../../src/workflow/pgs/state.js";
import { makeTraceId, pgsSuffix, runKey, runTraceId, RUN_KEY_KIND, RUN_KEY_VERSION, type TraceIdInputs } from "../../src/workflow/pgs/trace-id.js";
import type { PyObject, PyValue } from "../../src/workflow/pgs/value.js";

const D1 = sha256("one");
const D2 = sha256("two");
const general = (files: StateFile[]): Digest => canonicalDigest(stateManifest(files));
const file = (path: string, digest: Digest | null, unusable?: StateFile["unusable"]): StateFile => ({ path, digest, bytes: undefined, ...(unusable === undefined ? {} : { unusable }) });

describe("stateDigest: the direct manifest text is the canonical one", () => {
  const paths = [
    "a/b.json",
    "ai_governance/agent_governance/governance_audit.jsonl",
    'odd "quoted" \\ name.json',
    "ctl\u0001\u001f\n\t.json",
    "del\u007f c1\u0085 ls\u2028 ps\u2029.json",
    "é/ü/日本.json",
    "emoji \u{1F600}.json", // a surrogate pair: the general encoder's path
    "lone \uD800 surrogate.json", // refused by the general encoder, as before
    "~/`$&'<>.json",
  ];
  it("matches canonicalDigest(stateManifest(…)) for regular, absent and unusable files", () => {
    const cases: StateFile[][] = [
      [],
      [file("x.json", null)],
      [file("a.json", D1), file("b.json", null), file("c.json", D2)],
      ...paths.map((p) => [file(p, D1), file(`${p}.2`, null)]),
      [file("a.json", D1), file("d", null, { kind: "directory" })],
      [file("t.json", null, { kind: "too_large", size: 5 }), file("u.json", null, { kind: "unreadable", at: "x", errno: "EACCES" })],
      [file("s.json", null, { kind: "symlink", at: "p", errno: "ELOOP" })],
    ];
    for (const files of cases) {
      let expected: Digest | Error;
      try {
        expected = general(files);
      } catch (err) {
        expected = err as Error;
      }
      if (expected instanceof Error) expect(() => stateDigest(files)).toThrow(expected.message);
      else {
        expect(stateDigest(files)).toBe(expected);
        expect(stateDigest(files)).toBe(expected); // again, from the memo
      }
    }
  });

  it("a changed digest or path gives another state digest (the memo is keyed by the whole text)", () => {
    const a = stateDigest([file("a.json", D1), file("b.json", null)]);
    const b = stateDigest([file("a.json", D2), file("b.json", null)]);
    const c = stateDigest([file("a.json", D1), file("b.json", D1)]);
    const d = stateDigest([file("a.json", D1), file("c.json", null)]);
    expect(new Set([a, b, c, d]).size).toBe(4);
    expect(stateDigest([file("a.json", D1), file("b.json", null)])).toBe(a);
  });
});

describe("runKey: the direct text is the canonical one", () => {
  it("matches canonicalDigest of the run-key object", () => {
    const base: TraceIdInputs = { snapshot: D1, workflow: "ai_governance::WF_GOVERN_AGENT_ACTION_V0", payload: D2, priorState: sha256("s") };
    const variants: TraceIdInputs[] = [
      base,
      { ...base, workflow: 'd::"q"\\::C' },
      { ...base, workflow: "d::\u0000\u2028é::C" },
      { ...base, workflow: "d::\u{1F600}::C" },
      { ...base, priorState: sha256(`${base.priorState}|plane:x`) },
    ];
    for (const i of variants) {
      expect(runKey(i)).toBe(canonicalDigest({ kind: RUN_KEY_KIND, version: RUN_KEY_VERSION, snapshot: i.snapshot, workflow: i.workflow, payload: i.payload, priorState: i.priorState }));
    }
    expect(() => runKey({ ...base, workflow: "d::\uD800::C" })).toThrow();
  });
});

describe("runTraceId: the remembered PGS suffix", () => {
  const ids: TraceIdInputs = { snapshot: D1, workflow: "dom::WF_X", payload: D2, priorState: sha256("p") };
  const payloads: PyObject[] = [
    new Map<string, PyValue>([["a", 1n]]),
    new Map<string, PyValue>([["a", 1]]), // a float: another value, another text
    new Map<string, PyValue>([["a", "1"]]),
    new Map<string, PyValue>([["b", 1n], ["a", 2n]]),
    new Map<string, PyValue>([["a", 2n], ["b", 1n]]),
    new Map<string, PyValue>([["a", [1n, "x", null, true]]]),
    new Map<string, PyValue>([["a", new Map<string, PyValue>([["k", "é\u2028"]])]]),
    new Map<string, PyValue>([["big", "x".repeat(5000)]]), // above the memo's text bound
  ];
  it("is the suffix of the payload given, with or without its text, every time", () => {
    for (let round = 0; round < 2; round++) {
      for (const p of payloads) {
        const text = compactPy(p);
        const withText = runTraceId(ids, "dom", "WF_X", p, text);
        expect(withText).toBe(makeTraceId(ids, "dom", "WF_X", p));
        expect(withText.endsWith(`__${pgsSuffix("dom", "dom::WF_X", p)}`)).toBe(true);
        // Another domain or workflow with the same payload text is not answered from the memo.
        expect(runTraceId({ ...ids, workflow: "dom2::WF_X" }, "dom2", "WF_X", p, text)).toBe(makeTraceId({ ...ids, workflow: "dom2::WF_X" }, "dom2", "WF_X", p));
      }
    }
  });
});

describe("the memo is the runtimes' alone", () => {
  it("the package's makeTraceId takes no payload text, and runTraceId is not exported (a caller passing another payload's text would have poisoned the memo for the process: review finding)", async () => {
    const { workflow } = await import("../../src/index.js");
    expect(workflow.pgs.makeTraceId).toBe(makeTraceId);
    expect(makeTraceId.length).toBe(4);
    expect((workflow.pgs as Record<string, unknown>).runTraceId).toBeUndefined();
  });
});
