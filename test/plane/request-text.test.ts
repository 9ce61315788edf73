/** Request-file text checks (duplicate members, numbers a double changes) and tagged ids. */
import { describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import { randomIdTag, sequentialIds, taggedIds } from "../../src/plane/contracts/ids.js";
import { MAX_QUOTED_NUMBER_CHARS, numberLiteralProblem, requestTextProblem } from "../../src/plane/contracts/request-text.js";

describe("requestTextProblem: duplicate members", () => {
  it("names the member by its path and both positions, at any depth", () => {
    const text = '{"a":1,\n "payload":{"command":"echo","argv":["FIRST"],"argv":["SECOND"]}}';
    expect(requestTextProblem(text)).toEqual({
      member: "$.payload.argv",
      line: 2,
      column: 47,
      first: { line: 2, column: 30 },
      message: 'member "argv" written twice in one object (first at line 2, column 30): JSON.parse would keep the last value and drop the other',
    });
    // a decoy prepended to a signed request: the top-level member
    expect(requestTextProblem('{\n  "payload": {"x": 1},\n  "lane_id": "p",\n  "payload": {"x": 2}\n}')).toMatchObject({ member: "$.payload", line: 4, column: 3, first: { line: 2, column: 3 } });
    // inside an array element, and escaped spellings of one name
    expect(requestTextProblem('{"m":[{"k":1},{"k":1,"\\u006b":2}]}')).toMatchObject({ member: "$.m[1].k", line: 1, column: 22 });
    // a name that is not an identifier, columns in code points (a non-BMP character is one column)
    expect(requestTextProblem('{"\u{1F600}":{"a b":1,"a b":2}}')).toMatchObject({ member: '$["\u{1F600}"]["a b"]', line: 1, column: 15 });
  });
  it("accepts the same name in different objects, and names that only look alike", () => {
    expect(requestTextProblem('{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}],"s":"\\"x\\":1,\\"x\\":2","A":1,"a ":2}')).toBeNull();
  });
});

describe("requestTextProblem: numbers", () => {
  it("refuses integer literals beyond ±(2^53−1), naming member and position", () => {
    const text = '{"metadata":{\n  "ok":9007199254740991, "neg":-9007199254740991,\n  "account":12345678901234567890}}';
    expect(requestTextProblem(text)).toEqual({
      member: "$.metadata.account",
      line: 3,
      column: 13,
      message: "the integer 12345678901234567890 is beyond ±(2^53−1), the largest integer kept exactly (canonical JSON numbers are IEEE doubles): it would become 12345678901234567000; write it as a string",
    });
    expect(requestTextProblem('{"n":[1,2,9007199254740992]}')).toMatchObject({ member: "$.n[2]", column: 11 });
    expect(requestTextProblem('{"n":-9007199254740992}')).toMatchObject({ member: "$.n" });
    // the workflow rule: by range, even a value a double holds exactly (2^54)
    expect(numberLiteralProblem("18014398509481984")).toMatch(/^the integer 18014398509481984 is beyond/);
  });
  it("refuses a decimal whose double is not the literal's value; keeps every literal a double reads exactly", () => {
    expect(numberLiteralProblem("0.1000000000000000055511151231257827")).toBe(
      "the number 0.1000000000000000055511151231257827 is not kept exactly (canonical JSON numbers are IEEE doubles): it would become 0.1; write it as a string",
    );
    expect(numberLiteralProblem("1e400")).toMatch(/it would become Infinity; write it as a string$/);
    expect(numberLiteralProblem("-1e400")).toMatch(/it would become -Infinity;/);
    expect(numberLiteralProblem("1e-400")).toMatch(/it would become 0;/);
    expect(numberLiteralProblem("3.14159265358979323846")).toMatch(/it would become 3.141592653589793;/);
    expect(numberLiteralProblem("1.00000000000000000000000001")).toMatch(/it would become 1;/);
    expect(numberLiteralProblem("123456789012345678901e0")).toMatch(/it would become 123456789012345680000;/);
    // a float literal of a whole value a double does not hold
    expect(numberLiteralProblem("9007199254740993.0")).toMatch(/it would become 9007199254740992;/);
    for (const ok of ["0", "-0", "0.0", "-0.0", "0.1", "0.10", "2.0", "1e3", "1E+3", "10e-1", "1.5e-7", "0.000001", "1e21", "1e-7", "123.456", "0.30000000000000004", "5e-324", "1.7976931348623157e308", "9007199254740991", "-9007199254740991", "9007199254740992.0"]) {
      expect(numberLiteralProblem(ok), ok).toBeNull();
    }
  });
  it("quotes a long literal cut, with its length", () => {
    const long = "9".repeat(200);
    expect(numberLiteralProblem(long)).toContain(`the integer ${"9".repeat(MAX_QUOTED_NUMBER_CHARS)}… (200 characters) is beyond`);
  });
  it("skips numbers inside strings and member names; reports the first problem; a duplicate first", () => {
    expect(requestTextProblem('{"12345678901234567890":"0.1000000000000000055511151231257827","s":"-1e400"}')).toBeNull();
    expect(requestTextProblem('{"a":1e400,"b":12345678901234567890}')).toMatchObject({ member: "$.a" });
    expect(requestTextProblem('{"a":1e400,"b":1,"b":2}')).toMatchObject({ member: "$.b" });
    expect(requestTextProblem("12345678901234567890")).toMatchObject({ member: "$", line: 1, column: 1 });
  });
});

describe("taggedIds", () => {
  it("is sequentialIds with the tag after the time: deterministic for a given tag", () => {
    const clock = fixedClock(1700);
    const a = taggedIds(clock, "0123456789abcdef");
    expect([a.next("adm"), a.next("exec"), a.next("ev")]).toEqual(["adm-1700-0123456789abcdef-1", "exec-1700-0123456789abcdef-2", "ev-1700-0123456789abcdef-3"]);
    const b = sequentialIds(clock);
    expect([b.next("adm"), b.next("exec")]).toEqual(["adm-1700-1", "exec-1700-2"]);
  });
  it("two sources with different tags never mint the same id in one millisecond", () => {
    const clock = fixedClock(1700);
    const x = taggedIds(clock, randomIdTag());
    const y = taggedIds(clock, randomIdTag());
    const xs = Array.from({ length: 5 }, () => x.next("ev"));
    const ys = Array.from({ length: 5 }, () => y.next("ev"));
    expect(new Set([...xs, ...ys]).size).toBe(10);
    expect(randomIdTag()).toMatch(/^[0-9a-f]{16}$/);
  });
  it("refuses a tag that would not keep ids safe identifiers", () => {
    for (const bad of ["", "A", "a-b", "a.b", "x".repeat(33)]) expect(() => taggedIds(fixedClock(1), bad)).toThrow(/id tag/);
  });
});
