/**
 * The Python emulation reads and writes text with CPython 3.11's Unicode (14.0.0), whatever
 * Unicode version the Node build ships (UAT5 F2): `float(str)` / `int(str)` read the decimal
 * digits Unicode 14 knows and no others, `repr(str)` escapes what Python 3.11's
 * `str.isprintable()` rejects. Specific cases here; when `python3` 3.11 with unidata 14.0.0 is
 * installed, also an exhaustive comparison over every code point.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AtomViolation, CT_ATOMS, type CtAtom } from "../../src/workflow/atoms/index.js";
import { pyFloatFromString, pyIntFromString } from "../../src/workflow/py/numbers.js";
import { pyStrRepr, pyValueRepr } from "../../src/workflow/py/repr.js";
import { isPyBlank, type PyValue } from "../../src/workflow/py/value.js";
import { resolveBinding } from "../../src/workflow/pgs/grammar.js";

const KAWI_ZERO = 0x11f50; // Unicode 15.0
const NAG_MUNDARI_ZERO = 0x1e4f0; // Unicode 15.0
const GARAY_ZERO = 0x10d40; // Unicode 16.0
const ch = (cp: number): string => String.fromCodePoint(cp);

function parameterRules(): CtAtom {
  const a = Object.values(CT_ATOMS).find((x) => x.code === "CT_PURE_VALIDATE_PARAMETER_RULES_V0");
  if (a === undefined) throw new Error("no parameter-rules atom");
  return a;
}

/** The B.4 outcome of `amount <op> <value>` for a string amount: "SUCCESS" or the Python exception. */
function ruleOutcome(amount: string, op: string, value: PyValue): string {
  const inputs = new Map<string, PyValue>([
    ["parameters", new Map<string, PyValue>([["amount", amount]])],
    ["rules", [new Map<string, PyValue>([["field", "amount"], ["op", op], ["value", value]])]],
  ]);
  try {
    return (parameterRules().execute(inputs) as Map<string, PyValue>).get("result_status") as string;
  } catch (err) {
    if (err instanceof AtomViolation) return err.pyException;
    throw err;
  }
}

describe("decimal digits are Unicode 14's (Python 3.11 int()/float())", () => {
  it("digits assigned after Unicode 14 are not digits: int() and float() fail", () => {
    for (const zero of [KAWI_ZERO, NAG_MUNDARI_ZERO, GARAY_ZERO]) {
      for (let d = 0; d < 10; d++) {
        expect(pyIntFromString(ch(zero + d))).toBeUndefined();
        expect(pyFloatFromString(ch(zero + d))).toBeUndefined();
      }
    }
    expect(pyFloatFromString(`${ch(KAWI_ZERO + 1)}5`)).toBeUndefined(); // Python: ValueError
    expect(pyIntFromString(` ${ch(NAG_MUNDARI_ZERO + 1)} `)).toBeUndefined();
    expect(pyFloatFromString(`1.${ch(KAWI_ZERO + 5)}`)).toBeUndefined();
  });

  it("digits Unicode 14 knows read as Python reads them", () => {
    expect(pyIntFromString("٨")).toBe(8); // Arabic-Indic
    expect(pyIntFromString("８")).toBe(8); // fullwidth
    expect(pyIntFromString("\u3000-１_２\u2003")).toBe(-12);
    expect(pyIntFromString("𝟗𝟗")).toBe(99); // mathematical bold (a 50-digit block)
    expect(pyIntFromString(ch(0x1e950 + 7))).toBe(7); // Adlam (Unicode 9)
    expect(pyIntFromString(ch(0x16ac0 + 3))).toBe(3); // Tangsa (Unicode 14.0)
    expect(pyFloatFromString("٣.٥")).toBe(3.5);
    expect(pyFloatFromString("١e٢")).toBe(100);
    expect(pyFloatFromString(" -٠ ")).toBe(-0);
    expect(pyIntFromString("-٠")).toBe(0);
  });

  it("the parameter rule gives the reference's outcome (UAT5 F2 example)", () => {
    const kawi100 = ch(KAWI_ZERO + 1) + ch(KAWI_ZERO) + ch(KAWI_ZERO);
    // Python: float('\U00011f51\U00011f50\U00011f50') raises ValueError, so the rule fails.
    expect(ruleOutcome(kawi100, "lte", 100n)).toBe("CTExecutionError");
    expect(ruleOutcome(kawi100, "gt", 0n)).toBe("CTExecutionError");
    expect(ruleOutcome("١٠٠", "lte", 100n)).toBe("SUCCESS");
    expect(ruleOutcome("１０１", "lte", 100n)).toBe("CTExecutionError");
  });

  it("a $.results.<cc addr> binding reads only Unicode 14 digits as the address", () => {
    const results = new Map<number, PyValue>([[8, new Map<string, PyValue>([["x", "found"]])]]);
    expect(resolveBinding("$.results.٨.x", null, results)).toBe("found");
    expect(resolveBinding(`$.results.${ch(KAWI_ZERO + 8)}.x`, null, results)).toBeNull();
  });
});

describe("repr(str) escapes what Python 3.11's str.isprintable() rejects", () => {
  it("characters assigned after Unicode 14 are escaped", () => {
    expect(pyStrRepr(ch(KAWI_ZERO + 1))).toBe("'\\U00011f51'");
    expect(pyStrRepr(`a${ch(NAG_MUNDARI_ZERO + 4)}b`)).toBe("'a\\U0001e4f4b'");
    expect(pyStrRepr(ch(0x1f6dc))).toBe("'\\U0001f6dc'"); // an emoji of Unicode 15
    expect(pyStrRepr(ch(0x10d50))).toBe("'\\U00010d50'"); // a Garay letter (Unicode 16)
    expect(pyValueRepr(new Map<string, PyValue>([[ch(0x11b05), [ch(0x11f04)]]]))).toBe("{'\\U00011b05': ['\\U00011f04']}");
  });

  it("what Unicode 14 assigns keeps its form", () => {
    expect(pyStrRepr("é😀中 ")).toBe("'é😀中 '");
    expect(pyStrRepr(ch(0x16ac0))).toBe(`'${ch(0x16ac0)}'`); // Tangsa (Unicode 14.0)
    expect(pyStrRepr("\xa0\u0378\u200b\ud800\x7f\x00")).toBe("'\\xa0\\u0378\\u200b\\ud800\\x7f\\x00'");
    expect(pyStrRepr("\t\n\r'\\")).toBe('"\\t\\n\\r\'\\\\"');
    expect(pyStrRepr(ch(0xe000))).toBe("'\\ue000'");
  });
});

// ---- exhaustive, against the interpreter itself ----

/** Python 3.11 with Unicode 14.0.0 on PATH, or why not. */
function findPython(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync("python3", ["-c", "import sys, unicodedata; print(sys.version_info[:2] == (3, 11), unicodedata.unidata_version)"], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) return { ok: false, reason: `python3 not runnable (${r.error?.message ?? r.stderr.trim()})` };
  const out = r.stdout.trim();
  return out === "True 14.0.0" ? { ok: true } : { ok: false, reason: `python3 is not CPython 3.11 with unidata 14.0.0 (${out})` };
}
const PYTHON = findPython();
if (!PYTHON.ok) console.log(`py-unicode: exhaustive comparison with CPython skipped: ${PYTHON.reason}`);

/**
 * Per code point: int()/float() of the character and of it followed by "1", isspace(),
 * isprintable(), and a digest of every repr(). int()/float() are called only for ASCII,
 * `isdecimal()` and `isspace()` characters: CPython turns any other character into `?` before
 * parsing (`_PyUnicode_TransformDecimalAndSpaceToASCII`), so they all raise, and raising a
 * million ValueErrors takes the interpreter half a minute.
 */
const PY_ORACLE = String.raw`
import hashlib, json, sys
def num(f, s):
    try:
        v = f(s)
    except ValueError:
        return None
    return v if isinstance(v, int) else repr(v)
chars = [chr(cp) for cp in range(0x110000)]
out = {"int1": {}, "intx1": {}, "floatx1": {}}
for cp, c in enumerate(chars):
    if cp < 0x80 or c.isdecimal() or c.isspace():
        for key, f, s in (("int1", int, c), ("intx1", int, c + "1"), ("floatx1", float, c + "1")):
            v = num(f, s)
            if v is not None:
                out[key][cp] = v
out["space"] = [cp for cp, c in enumerate(chars) if c.isspace()]
out["printable"] = [cp for cp, c in enumerate(chars) if c.isprintable()]
out["reprSha256"] = hashlib.sha256("".join([repr(c) + "\n" for c in chars]).encode("utf-8")).hexdigest()
json.dump(out, sys.stdout)
`;

interface Oracle {
  int1: Record<string, number>;
  intx1: Record<string, number>;
  floatx1: Record<string, string>;
  space: number[];
  printable: number[];
  reprSha256: string;
}

function runOracle(): Oracle {
  const r = spawnSync("python3", ["-c", PY_ORACLE], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Oracle;
}

/** Python's repr of a float result, for comparing `float()`s (repr distinguishes -0.0, inf). */
function floatRepr(x: number | undefined): string | undefined {
  if (x === undefined) return undefined;
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return Object.is(x, -0) ? "-0.0" : Number.isInteger(x) ? `${x}.0` : String(x);
}

describe("every code point against CPython 3.11 (unidata 14.0.0)", () => {
  it.skipIf(!PYTHON.ok)(`int(), float(), isspace() and repr() of every character${PYTHON.ok ? "" : ` (skipped: ${PYTHON.reason})`}`, () => {
    const py = runOracle();
    const space = new Set(py.space);
    const printable = new Set(py.printable);
    const diffs: string[] = [];
    const note = (what: string, cp: number, ours: unknown, theirs: unknown): void => {
      if (diffs.length < 20) diffs.push(`${what} U+${cp.toString(16).toUpperCase().padStart(4, "0")}: cairn ${String(ours)}, python ${String(theirs)}`);
      else if (diffs.length === 20) diffs.push("…");
    };
    const hash = createHash("sha256");
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      const c = ch(cp);
      const i1 = pyIntFromString(c);
      if (i1 !== py.int1[cp]) note("int(c)", cp, i1, py.int1[cp]);
      const ix = pyIntFromString(`${c}1`);
      if (ix !== py.intx1[cp]) note("int(c + '1')", cp, ix, py.intx1[cp]);
      const fx = floatRepr(pyFloatFromString(`${c}1`));
      if (fx !== py.floatx1[cp]) note("float(c + '1')", cp, fx, py.floatx1[cp]);
      if (isPyBlank(c) !== space.has(cp)) note("isspace", cp, isPyBlank(c), space.has(cp));
      const r = pyStrRepr(c);
      const raw = r === `'${c}'` || r === `"${c}"`;
      if (raw !== printable.has(cp) && !"\\'".includes(c)) note("printable", cp, raw, printable.has(cp));
      hash.update(`${r}\n`, "utf8");
    }
    expect(diffs).toEqual([]);
    expect(hash.digest("hex")).toBe(py.reprSha256);
  }, 300_000);

  it.skipIf(!PYTHON.ok)(`the committed table is what scripts/gen-py-unicode.py writes${PYTHON.ok ? "" : ` (skipped: ${PYTHON.reason})`}`, () => {
    const script = fileURLToPath(new URL("../../scripts/gen-py-unicode.py", import.meta.url));
    const r = spawnSync("python3", [script, "--check"], { encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`).toContain("up to date");
    expect(r.status).toBe(0);
  }, 120_000);
});
