/** PGS CT atoms (SEMANTICS Part B) beyond the pack's vectors, and the Python value model under them. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import {
  AtomViolation,
  COLLATZ_MAX_SEQUENCE_LENGTH,
  CT_ATOMS,
  createCtAtomTable,
  type CtAtom,
  type PyExceptionName,
} from "../../src/workflow/atoms/index.js";
import {
  compactJson,
  compareNumbers,
  parsePyJson,
  pyCompare,
  pyEquals,
  pyTruthy,
  type PyDict,
  type PyValue,
} from "../../src/workflow/py/index.js";
import { parseIsoInstant, wholeDaysBetween } from "../../src/workflow/atoms/isodate.js";

function atom(code: string, table = CT_ATOMS): CtAtom {
  const a = Object.values(table).find((x) => x.code === code);
  if (a === undefined) throw new Error(`no atom ${code}`);
  return a;
}

/** Runs an atom on JSON inputs (every declared arg present, null when not given). */
function run(code: string, inputs: string, table = CT_ATOMS): string {
  const a = atom(code, table);
  const given = parsePyJson(inputs) as PyDict;
  const args = new Map<string, PyValue>(a.args.map((n) => [n, given.get(n) ?? null]));
  return compactJson(a.execute(args));
}

function violation(code: string, inputs: string, table = CT_ATOMS): PyExceptionName {
  try {
    run(code, inputs, table);
  } catch (err) {
    if (err instanceof AtomViolation) return err.pyException;
    throw err;
  }
  throw new Error(`${code} did not raise for ${inputs}`);
}

describe("Python value model", () => {
  it("equality: 1 == 1.0 == true, '1' != 1, null only null, NaN never, dicts unordered, deep", () => {
    const eq = (a: string, b: string): boolean => pyEquals(parsePyJson(a, { allowNonFiniteConstants: true }), parsePyJson(b, { allowNonFiniteConstants: true }));
    expect(eq("1", "1.0")).toBe(true);
    expect(eq("true", "1")).toBe(true);
    expect(eq("false", "0.0")).toBe(true);
    expect(eq('"1"', "1")).toBe(false);
    expect(eq("null", "0")).toBe(false);
    expect(eq("null", "null")).toBe(true);
    expect(eq("NaN", "NaN")).toBe(false);
    expect(eq('{"a":1,"b":[1,{"c":2}]}', '{"b":[1.0,{"c":2.0}],"a":true}')).toBe(true);
    expect(eq("[1,2]", "[1,2,3]")).toBe(false);
    expect(eq("[]", "{}")).toBe(false);
    expect(eq("9007199254740993", "9007199254740992.0")).toBe(false);
  });

  it("compares ints and floats exactly", () => {
    expect(compareNumbers(9007199254740993n, 9007199254740992)).toBe(1);
    expect(compareNumbers(2n, 2.5)).toBe(-1);
    expect(compareNumbers(-3n, -2.5)).toBe(-1);
    expect(compareNumbers(3n, Number.POSITIVE_INFINITY)).toBe(-1);
    expect(compareNumbers(true, 0.5)).toBe(1);
    expect(compareNumbers(1n, Number.NaN)).toBeUndefined();
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }), fc.double({ noNaN: true }), (i, f) => {
        const c = compareNumbers(i, f);
        const sign = Number(i) < f ? -1 : Number(i) > f ? 1 : 0;
        if (Number.isSafeInteger(Number(i)) && BigInt(Number(i)) === i) expect(c).toBe(sign);
        expect(compareNumbers(f, i)).toBe(c === 0 ? 0 : -(c as number));
      }),
    );
  });

  it("orders numbers, strings and lists like Python; other pairs are incomparable", () => {
    const cmp = (a: string, b: string, op: "<" | "<=" | ">" | ">="): boolean | "incomparable" => pyCompare(parsePyJson(a), parsePyJson(b), op);
    expect(cmp("[1,2]", "[1,3]", "<")).toBe(true);
    expect(cmp("[1,2]", "[1,2,0]", "<")).toBe(true);
    expect(cmp("[1,2]", "[1.0,2]", "<=")).toBe(true);
    expect(cmp('["b"]', '["a","z"]', ">")).toBe(true);
    expect(cmp('"\uffff"', '"😀"', "<")).toBe(true);
    expect(cmp("[null]", "[1]", "<")).toBe("incomparable");
    expect(cmp("{}", "{}", "<")).toBe("incomparable");
    expect(cmp('"1"', "1", "<")).toBe("incomparable");
    expect(cmp("[1]", "0", ">")).toBe("incomparable");
  });

  it("truthiness", () => {
    const t = (s: string): boolean => pyTruthy(parsePyJson(s, { allowNonFiniteConstants: true }));
    for (const s of ["null", "false", "0", "0.0", "-0.0", '""', "[]", "{}"]) expect(t(s)).toBe(false);
    for (const s of ["true", "1", "NaN", '" "', "[0]", '{"a":null}', "0.1"]) expect(t(s)).toBe(true);
  });
});

describe("B.1 generate_id", () => {
  it.each([
    ['{"prefix":"IN","data":"consistent"}', "IN_c918e775137f8254"],
    ['{"prefix":"TX","data":12345}', "TX_d3ff95909dfb2231"],
    ['{"prefix":"WF","data":{"version":"v1","workflow":"build"}}', "WF_75382b9a6ab93c66"],
    ['{"prefix":"AC","data":"test_account"}', "AC_ac8cc683f338b84f"],
    ['{"prefix":"ID","data":{"value":null}}', "ID_1c197daef20de3f4"],
  ])("%s → %s", (inputs, id) => expect(run("CT_PURE_GENERATE_ID_V0", inputs)).toBe(`{"id":"${id}"}`));

  it("raises KeyError when called directly without its members, TypeError for a non-string prefix", () => {
    const a = atom("CT_PURE_GENERATE_ID_V0");
    expect(() => a.execute(new Map([["prefix", "X"]]))).toThrow(/missing input 'data'/);
    expect(violation("CT_PURE_GENERATE_ID_V0", '{"prefix":["X"],"data":1}')).toBe("TypeError");
  });
});

describe("B.2 set membership / B.3 lookup", () => {
  it("membership uses Python equality and raises otherwise", () => {
    expect(run("CT_PURE_VALIDATE_SET_MEMBERSHIP_V0", '{"allowed_set":[null,"x"],"value":null}')).toBe('{"result_status":"SUCCESS","is_member":true}');
    expect(run("CT_PURE_VALIDATE_SET_MEMBERSHIP_V0", '{"allowed_set":[[1,{"a":2}]],"value":[1.0,{"a":2.0}]}')).toContain("true");
    expect(violation("CT_PURE_VALIDATE_SET_MEMBERSHIP_V0", '{"allowed_set":["1"],"value":1}')).toBe("CTExecutionError");
    expect(violation("CT_PURE_VALIDATE_SET_MEMBERSHIP_V0", '{"allowed_set":{"a":1},"value":"a"}')).toBe("CTExecutionError");
  });

  it("lookup matches string keys only and raises TypeError for unhashable keys", () => {
    expect(run("CT_PURE_LOOKUP_V0", '{"key":"","map":{"":0}}')).toBe('{"result":0}');
    expect(violation("CT_PURE_LOOKUP_V0", '{"key":true,"map":{"true":1}}')).toBe("CTExecutionError");
    expect(violation("CT_PURE_LOOKUP_V0", '{"key":["a"],"map":{"a":1}}')).toBe("TypeError");
    expect(violation("CT_PURE_LOOKUP_V0", '{"key":"toString","map":{}}')).toBe("CTExecutionError");
  });
});

describe("B.4 parameter rules", () => {
  const rules = (params: string, rs: string): string => `{"parameters":${params},"rules":${rs}}`;
  const ok = (params: string, rs: string): void => {
    expect(run("CT_PURE_VALIDATE_PARAMETER_RULES_V0", rules(params, rs))).toBe('{"result_status":"SUCCESS","valid":true,"failed_rule":null}');
  };
  const bad = (params: string, rs: string): PyExceptionName => violation("CT_PURE_VALIDATE_PARAMETER_RULES_V0", rules(params, rs));

  it("in: list membership, str substring, dict keys; missing allowed fails; null/number allowed raise", () => {
    ok('{"t":"ell"}', '[{"field":"t","op":"in","allowed":"hello"}]');
    ok('{"t":"k"}', '[{"field":"t","op":"in","allowed":{"k":0}}]');
    expect(bad('{"t":"k"}', '[{"field":"t","op":"in"}]')).toBe("CTExecutionError");
    expect(bad('{"t":1}', '[{"field":"t","op":"in","allowed":"1"}]')).toBe("TypeError");
    expect(bad('{"t":"a"}', '[{"field":"t","op":"in","allowed":null}]')).toBe("TypeError");
    expect(bad('{"t":"a"}', '[{"field":"t","op":"in","allowed":3}]')).toBe("TypeError");
    expect(bad('{"t":[1]}', '[{"field":"t","op":"in","allowed":{"a":1}}]')).toBe("TypeError");
  });

  it("numeric ops: float() of strings, inf, NaN compares false, lists lexicographic, incomparable raises", () => {
    ok('{"q":" 1_000 "}', '[{"field":"q","op":"gte","value":"999.5"}]');
    ok('{"q":"inf"}', '[{"field":"q","op":"gt","value":1e308}]');
    expect(bad('{"q":"nan"}', '[{"field":"q","op":"lte","value":100}]')).toBe("CTExecutionError");
    ok('{"q":[1,2]}', '[{"field":"q","op":"lt","value":[1,3]}]');
    expect(bad('{"q":{"a":1}}', '[{"field":"q","op":"lt","value":{"a":2}}]')).toBe("TypeError");
    expect(bad('{"q":5}', '[{"field":"q","op":"lt"}]')).toBe("CTExecutionError");
    ok('{"q":9007199254740993}', '[{"field":"q","op":"gt","value":9007199254740992.0}]');
  });

  it("fields and ops: non-string fields never match, unhashable fields raise, non-string ops fail closed", () => {
    ok('{"1":null}', '[{"field":1,"op":"eq","value":null}]');
    expect(bad("{}", '[{"field":["a"],"op":"not_null"}]')).toBe("TypeError");
    expect(bad('{"a":1}', '[{"field":"a","op":7}]')).toBe("CTExecutionError");
    ok('{"a":1}', '[{"field":0,"op":"eq","value":5},{"field":"a","op":null},[]]');
  });

  it("the first failing rule raises even when later ones would raise TypeError", () => {
    expect(bad('{"a":1,"b":[1]}', '[{"field":"a","op":"eq","value":2},{"field":"b","op":"lt","value":0}]')).toBe("CTExecutionError");
  });
});

describe("B.5 collatz / B.6 termination", () => {
  it("computes exact sequences beyond 2^53 and keeps first-occurrence key order", () => {
    const big = 2n ** 64n + 1n;
    const out = parsePyJson(run("CT_PURE_COLLATZ_STEP_V0", `{"numbers":[${big},27,3,27]}`)) as PyDict;
    const seqs = out.get("sequences") as PyDict;
    expect([...seqs.keys()]).toEqual([big.toString(), "27", "3"]);
    const s = seqs.get(big.toString()) as bigint[];
    expect(s[0]).toBe(big);
    expect(s[1]).toBe(3n * big + 1n);
    expect(s[s.length - 1]).toBe(1n);
    expect((seqs.get("27") as bigint[]).length).toBe(112);
  });

  it("bounds the work per sequence", () => {
    expect(COLLATZ_MAX_SEQUENCE_LENGTH).toBeGreaterThan(1000);
  });

  it("termination treats anything Python-equal to 1 as the end", () => {
    expect(run("CT_PURE_TERMINATION_CHECK_V0", '{"sequences":{"a":[2,true],"b":[2,1.0],"c":[1,2],"d":null}}')).toBe('{"all_terminate":false,"non_terminating":["c","d"]}');
  });
});

describe("B.7 evaluate inactivity", () => {
  const code = "CT_PURE_EVALUATE_INACTIVITY_V0";

  it("uses the injected clock when current_date is falsy (default: 2025-01-01T00:00:00Z)", () => {
    expect(run(code, '{"last_active_date":"2024-12-01T00:00:00Z","threshold_days":30}')).toBe('{"is_inactive":true,"days_inactive":31}');
    const table = createCtAtomTable({ clock: fixedClock(Date.UTC(2024, 11, 11, 12)) });
    expect(run(code, '{"last_active_date":"2024-12-01T00:00:00Z","current_date":"","threshold_days":30}', table)).toBe('{"is_inactive":false,"days_inactive":10}');
    expect(run(code, '{"last_active_date":"2024-12-01","current_date":"2024-12-02","threshold_days":1}', table)).toBe('{"is_inactive":true,"days_inactive":1}');
  });

  it("accepts week dates, basic forms, fractions and offsets; threshold may be float or bool", () => {
    expect(run(code, '{"last_active_date":"2025-W01-1","current_date":"20250101T000000","threshold_days":2.5}')).toBe('{"is_inactive":false,"days_inactive":2}');
    expect(run(code, '{"last_active_date":"2025-01-01T23:59:59.999999-01:00","current_date":"2025-01-03T01:00:00+0100","threshold_days":true}')).toBe('{"is_inactive":false,"days_inactive":0}');
  });

  it("raises for a non-string date (AttributeError) and a non-number threshold (TypeError)", () => {
    expect(violation(code, '{"last_active_date":"2025-01-01","current_date":5,"threshold_days":1}')).toBe("AttributeError");
    expect(violation(code, '{"last_active_date":"x","current_date":"2025-01-01","threshold_days":"30"}')).toBe("TypeError");
  });

  it("rewrites only a trailing Z (B.7 wording), so an inner Z stays a date/time separator", () => {
    expect(run(code, '{"last_active_date":"2025-01-01Z10:00Z","current_date":"2025-01-02T10:00:00Z","threshold_days":1}')).toBe('{"is_inactive":true,"days_inactive":1}');
    expect(run(code, '{"last_active_date":"2025-01-01T10:00Zx","current_date":"2025-01-02T10:00:00Z","threshold_days":1}')).toBe('{"is_inactive":true,"days_inactive":999}');
  });
});

describe("ISO instants (Python 3.11 fromisoformat subset)", () => {
  it.each([
    ["2025-01-20T11:00:00+00:00", "2025-01-20T11:00:00Z"],
    ["2025-03-01T00:00:00+02:00", "2025-02-28T22:00:00Z"],
    ["2025-01-01", "2025-01-01T00:00:00Z"],
    ["2025-01-01 10", "2025-01-01T10:00:00Z"],
    ["2025-01-01T10:30:15,25", "2025-01-01T10:30:15.250Z"],
    ["2026-W53", "2026-12-28T00:00:00Z"],
    ["2020-W53-7", "2021-01-03T00:00:00Z"],
    ["0001-01-01", "0001-01-01T00:00:00Z"],
    ["2025-01-01T10:00:00+00:00:00.5", "2025-01-01T10:00:00Z"],
  ])("%s = %s", (s, iso) => {
    const d = new Date(iso);
    expect(parseIsoInstant(s)).toBe(BigInt(d.getTime()) * 1000n);
  });

  it.each(["2025-02-29", "2025-13-01", "2025-01-01T24:00", "2025-01-01T10:00+24:00", "2025-W53", "9999-W52-7", "2025-01", "2025-01-01T", "2025-01-01T10:00z", "2025-01-01T10:00Z23", "not-a-date"])(
    "%s is not a date",
    (s) => expect(parseIsoInstant(s)).toBeUndefined(),
  );

  it("floors whole days toward -infinity", () => {
    const day = 86_400_000_000n;
    expect(wholeDaysBetween(0n, day - 1n)).toBe(0n);
    expect(wholeDaysBetween(0n, -1n)).toBe(-1n);
    expect(wholeDaysBetween(0n, -day)).toBe(-1n);
    expect(wholeDaysBetween(0n, -day - 1n)).toBe(-2n);
  });
});

describe("B.8 training / B.9 quota / B.10 extract", () => {
  it("quota compares exact ints and accepts bools", () => {
    expect(run("CT_PURE_CHECK_QUOTA_AVAILABLE_V0", '{"assigned_count":99999999999999999998,"quota":99999999999999999999}')).toBe('{"quota_available":true}');
    expect(run("CT_PURE_CHECK_QUOTA_AVAILABLE_V0", '{"assigned_count":-5,"quota":0}')).toBe('{"quota_available":true}');
    expect(violation("CT_PURE_CHECK_QUOTA_AVAILABLE_V0", '{"assigned_count":"1","quota":2}')).toBe("TypeError");
  });

  it("training accepts only booleans", () => {
    expect(violation("CT_PURE_CHECK_TRAINING_STATUS_V0", '{"training_completed":1}')).toBe("TypeError");
  });

  it("extract: number accepts bools and floats, unknown types are unchecked, from must not be null", () => {
    expect(run("CT_PURE_EXTRACT_V0", '{"from":{"a":true},"path":"a","type":"number"}')).toBe('{"result":true}');
    expect(run("CT_PURE_EXTRACT_V0", '{"from":{"a":[1]},"path":"a","type":"widget"}')).toBe('{"result":[1]}');
    expect(run("CT_PURE_EXTRACT_V0", '{"from":{"a":{"b":{}}},"path":"a.b","type":"object"}')).toBe('{"result":{}}');
    expect(run("CT_PURE_EXTRACT_V0", '{"from":[1],"path":"0","type":"array"}')).toBe('{"result":null}');
    expect(violation("CT_PURE_EXTRACT_V0", '{"path":"a","type":"string"}')).toBe("ValueError");
    expect(violation("CT_PURE_EXTRACT_V0", '{"from":{},"path":1,"type":"string"}')).toBe("AttributeError");
  });

  it("passthrough returns its input object itself", () => {
    const value = new Map<string, PyValue>([["k", "v"]]);
    expect(atom("CT_PURE_PASSTHROUGH_V0").execute(new Map([["value", value]]))).toBe(value);
  });
});
