/**
 * `cairn examine` (the BUILT cli, CAIRN_TEST_CLI): a hint quoting a failure message longer than
 * SHOWN_VALUE_CHARS (2,000) cuts the quoted message, its length stated, and prints its own words
 * — the remedy — whole (the whole line was cut at 2,000 characters: "check the CT-IR ct["20"] in
 * …handlers.json" was lost). A newline inside the message stays escaped (`\n`) inside its line.
 * --json keeps the whole message, in failure.message and in the hint.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json } from "./helpers.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const SHOWN = 2000;
const HANDLERS = "tokenized_snapshot/ai_governance/handlers.json";
const NO_STORE = { CAIRN_STORE: undefined, PGS_WORKSPACE: undefined, PGS_DATA_ROOT: undefined, NO_COLOR: "1" };

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

/** A Collatz run whose CT 20 names an output symbol of 5,000 characters holding a newline: its CT_EXECUTION_FAILED message quotes it. */
function longCtFailure(): { b: Sandbox; trace: string; symbol: string } {
  const b = sandbox();
  boxes.push(b);
  const symbol = `${"s".repeat(100)}\n${"t".repeat(4899)}`;
  const p = join(b.workspace, HANDLERS);
  const j = JSON.parse(readFileSync(p, "utf8")) as { ct: Record<string, { ct_ir: { outputs: { sequences: { from: string } } } }> };
  (j.ct["20"] as { ct_ir: { outputs: { sequences: { from: string } } } }).ct_ir.outputs.sequences.from = symbol;
  writeFileSync(p, JSON.stringify(j, null, 2));
  const r = b.run(WF.collatz, payload("collatz_conjecture/01_happy_path.json"));
  return { b, trace: join(r.traceDirAbs, `${r.traceId}.jsonl`), symbol };
}

describe("examine: a hint quoting a long message keeps its remedy", () => {
  it("the message is cut where it is quoted, with its length stated; the hint's own words are printed whole", () => {
    const { b, trace, symbol } = longCtFailure();
    const j = json<{ outcome: { class: string }; failure: { message: string }; hint: string }>(cairn(["--json", "examine", trace], { cwd: b.root, env: NO_STORE }));
    expect(j.outcome.class).toBe("ct_error");
    const message = j.failure.message;
    expect(message).toContain(`symbol '${symbol}' was not produced`);
    expect(message.length).toBeGreaterThan(5000);
    // --json: the whole message, in failure.message and in the hint.
    expect(j.hint).toContain(message);

    const e = cairn(["examine", trace], { cwd: b.root, env: NO_STORE });
    expect(e.status, e.err).toBe(1);
    const shown = `${message.slice(0, SHOWN).replace("\n", "\\n")}… (${message.length} characters)`;
    const remedy = `. This is not an atom's rule violation but a CT execution failure (CT_EXECUTION_FAILED): check the CT-IR ct["20"] in ${HANDLERS}.`;
    expect(e.out).toContain(`\nhint:        ai_governance::CC_COMPUTE_SEQUENCES_V0: ${shown}${remedy}\n`);
    expect(e.out).toContain(`\nmessage:     ${shown}\n`);
    // The newline of the message stays inside its report line.
    for (const l of e.out.split("\n")) expect(l.length).toBeLessThan(SHOWN + 400);
  });
});
