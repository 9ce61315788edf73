/**
 * SEMANTICS A.3, the trust rule's texts: rule 1 (an empty hash) verbatim; rule 2 (a mismatch)
 * with the two hashes quoted as Python `repr(str)` quotes them. Both stay E_SNAPSHOT_INTEGRITY
 * (`details.check` = `empty` / `attestation`); the mismatch message contains "integrity".
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import { loadSnapshot, SNAPSHOT_INTEGRITY_REASON } from "../../src/workflow/pgs/index.js";
import { pyRepr } from "../../src/workflow/pgs/trust.js";
import { cairnErrorOf, scratchPerTest, type Sandbox } from "./pgs-fixture.js";

const { box } = scratchPerTest();

/**
 * [s, repr(s)] per CPython 3.11.7, computed with
 * `for s in cases: print(json.dumps(s), json.dumps(repr(s)))`.
 */
const PY_REPR: Array<[string, string]> = [
  ["a'b\\c\u00e9\n", "\"a'b\\\\c\u00e9\\n\""], // ' and no ": double quotes, \ still escaped
  ["a'b\"c\\", "'a\\'b\"c\\\\'"], // both quotes: single quotes, ' escaped
  ['"q"', "'\"q\"'"],
  ["plain", "'plain'"],
  ["\u00ad", "'\\xad'"], // SOFT HYPHEN (Cf)
  ["x\u2028y", "'x\\u2028y'"], // LINE SEPARATOR (Zl)
  ["\ud83d\ude00", "'\ud83d\ude00'"], // an astral printable character, kept
  ["\udb40\udc01", "'\\U000e0001'"], // LANGUAGE TAG (astral Cf)
  ["\ud800", "'\\ud800'"], // a lone surrogate (Cs)
  ["\u007f\u0000\t\r", "'\\x7f\\x00\\t\\r'"],
  ["\u00a0 \u3000", "'\\xa0 \\u3000'"], // Zs but the space
  ["\ue000", "'\\ue000'"], // private use (Co)
  ["\udbff\udfff", "'\\U0010ffff'"], // unassigned (Cn)
  ["\u0378", "'\\u0378'"], // unassigned (Cn)
];

describe("Python repr of the quoted hashes (A.3 rule 2)", () => {
  it.each(PY_REPR)("repr(%j) = %s", (s, expected) => {
    expect(pyRepr(s)).toBe(expected);
  });
});

function setHash(b: Sandbox, rel: string, member: string, value: string): void {
  const p = join(b.workspace, rel);
  const doc = JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown>;
  doc[member] = value;
  writeFileSync(p, JSON.stringify(doc));
}

const METADATA = "tokenized_snapshot/platform/metadata.json";
const PLATFORM_HASH = "1f1972717f3bb27bdfe9ba8b89efae80001a19c0b46397073f79c1a1d59ddf5d";

describe("the trust rule's messages (the audit's t7)", () => {
  it("rule 2: a projection_hash holding ', \\, é and a newline is quoted as Python quotes it", () => {
    const b = box();
    setHash(b, METADATA, "projection_hash", "a'b\\c\u00e9\n");
    const err = cairnErrorOf(() => loadSnapshot(b.workspace, "platform"));
    expect(isCairnError(err, "E_SNAPSHOT_INTEGRITY")).toBe(true);
    expect(err.message).toBe(
      `[platform] Snapshot integrity failure: metadata.projection_hash="a'b\\\\c\u00e9\\n" != attestation.tokenized_projection_hash='${PLATFORM_HASH}'`,
    );
    expect(err.message).toContain("integrity");
    expect(err.details).toMatchObject({ reason: SNAPSHOT_INTEGRITY_REASON, check: "attestation" });
  });

  it("rule 1: an empty hash fails with A.3's text, verbatim", () => {
    const b = box();
    setHash(b, METADATA, "projection_hash", "");
    const err = cairnErrorOf(() => loadSnapshot(b.workspace, "platform"));
    expect(isCairnError(err, "E_SNAPSHOT_INTEGRITY")).toBe(true);
    expect(err.message).toBe("[platform] Trust verification failed: projection_hash or tokenized_projection_hash is empty.");
    expect(err.details).toMatchObject({ reason: SNAPSHOT_INTEGRITY_REASON, check: "empty" });
  });
});
