/**
 * The linear-time engine (linear-regex.ts): a pattern it accepts means what it means to a
 * JavaScript `RegExp` with the `u` flag, or it is refused with a message naming the problem;
 * the differences it cannot fix are pinned here as documented.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileLinearRegex, LINEAR_REGEX_MEMO_SIZE, portablePattern } from "../../src/workflow/atoms/linear-regex.js";

/** Inputs every pattern below is tried on: line terminators, white space, astral and lone surrogates, RE2 lookalikes. */
const INPUTS = [
  "", "a", "A", "b", "ab", "aab", "x", "1", "_", " ", "\t", "\v", "\f", "\n", "\r", "\u2028", "\u2029", "\u0085", "\u00a0", "\u1680", "\u2000", "\u200a", "\u200b",
  "\u202f", "\u205f", "\u3000", "\ufeff", "\u180e", "\b", "\u0007", "😀", "😁", "\ud83d", "\ude00", "a😀b", "[", "]", ":", "\\", ".", "\\.", "\\x", "k<q>", "kq",
  "a\nb", "a\rb", "a\u2028b", "a\u2029b", "a\r\nb", "a b", "a\u00a0b", "ſ", "K", "AQ", "Az",
];

/**
 * Whether `new RegExp(pattern, "u" + flags)` matches `s`, searching as the specification does:
 * from each code point boundary in turn. (V8's own search also tries the middle of a surrogate
 * pair for an empty match: `/\B/u.exec("A😀a")` answers index 2, which the specification's
 * AdvanceStringIndex never visits.)
 */
function jsTest(pattern: string, flags: string, s: string): boolean {
  const sticky = new RegExp(pattern, `uy${flags}`);
  for (let k = 0; k <= s.length; k += (s.codePointAt(k) ?? 0) > 0xffff ? 2 : 1) {
    sticky.lastIndex = k;
    if (sticky.test(s)) return true;
  }
  return false;
}

/** Asserts that the linear engine finds a match exactly where `new RegExp(pattern, "u" + flags)` does. */
function agrees(pattern: string, flags = "", inputs: readonly string[] = INPUTS): void {
  const re = compileLinearRegex(pattern, flags);
  for (const s of inputs) expect(re.test(s), `/${pattern}/u${flags} on ${JSON.stringify(s)}`).toBe(jsTest(pattern, flags, s));
}

function refusal(pattern: string, flags = ""): string {
  try {
    compileLinearRegex(pattern, flags);
  } catch (err) {
    return (err as Error).message;
  }
  return "(accepted)";
}

describe("linear-regex: refusals", () => {
  it("backreferences, numbered and named, are refused (\\k<q> was the literal k<q>)", () => {
    expect(refusal("(a)\\1")).toBe("error parsing regexp: invalid escape sequence: `\\1`");
    // RE2 read \12 as octal 012 (a newline); RegExp, as a backreference to group 12.
    expect(refusal(`${"(a)".repeat(12)}\\12`)).toBe("error parsing regexp: invalid escape sequence: `\\12`");
    expect(refusal("[\\1]")).toBe("error parsing regexp: invalid escape sequence: `\\1`");
    expect(refusal("(?<q>a)\\k<q>")).toBe("error parsing regexp: named backreferences are not supported: `\\k<q>`");
    expect(refusal("\\k")).toBe("error parsing regexp: named backreferences are not supported: `\\k`");
  });

  it("lookaround is refused", () => {
    for (const p of ["(?=", "(?!", "(?<=", "(?<!"]) expect(refusal(`a${p}b)`), p).toBe(`error parsing regexp: lookahead and lookbehind are not supported: \`${p}\``);
    expect(refusal("[(?=b)]")).toBe("(accepted)");
  });

  it("RE2-only escapes are refused, inside a class too", () => {
    for (const e of ["A", "z", "Z", "G", "Q", "E", "a", "C"]) {
      expect(refusal(`x\\${e}`), e).toBe(`error parsing regexp: invalid escape sequence (RE2 syntax, not JavaScript): \`\\${e}\``);
      expect(refusal(`[x\\${e}]`), e).toBe(`error parsing regexp: invalid escape sequence (RE2 syntax, not JavaScript): \`\\${e}\``);
    }
    expect(refusal("\\Qa.b\\E")).toBe("error parsing regexp: invalid escape sequence (RE2 syntax, not JavaScript): `\\Q`");
  });

  it("\\p and \\P need braces and a name RE2 knows; those agree with RegExp", () => {
    expect(refusal("\\pL")).toBe("error parsing regexp: invalid escape sequence (JavaScript writes \\p{…} with braces): `\\pL`");
    expect(refusal("[\\PN]")).toBe("error parsing regexp: invalid escape sequence (JavaScript writes \\p{…} with braces): `\\PN`");
    expect(refusal("\\p{Letter}")).toBe("error parsing regexp: invalid character class range: `\\p{Letter}`");
    expect(refusal("\\p{Greek}")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Invalid property name");
    expect(refusal("\\p{Script=Greek}")).toBe("error parsing regexp: invalid character class range: `\\p{Script=Greek}`");
    for (const p of ["\\p{Lu}", "\\P{Lu}", "\\p{Alphabetic}", "\\p{White_Space}", "[^\\p{Emoji}]", "\\p{Any}"]) agrees(p);
  });

  it("\\P{…} with the i flag is refused (RegExp folds case after complementing)", () => {
    expect(refusal("\\P{Lu}", "i")).toBe("error parsing regexp: \\P{…} is not supported with the i flag (RegExp folds case after complementing; write [^\\p{…}] or drop i): `\\P{Lu}`");
    expect(refusal("[a\\P{Lu}]", "i")).toBe("error parsing regexp: \\P{…} is not supported with the i flag (RegExp folds case after complementing; write [^\\p{…}] or drop i): `\\P{Lu}`");
    agrees("\\P{Lu}");
    agrees("[^\\p{Lu}]", "i");
  });

  it("inline flags and (?P<name>…) are refused", () => {
    expect(refusal("(?i)a")).toBe("error parsing regexp: inline flags are not supported (use the flags): `(?i)`");
    expect(refusal("(?i:a)")).toBe("error parsing regexp: inline flags are not supported (use the flags): `(?i:`");
    expect(refusal("(?s-m:a)")).toBe("error parsing regexp: inline flags are not supported (use the flags): `(?s-m:`");
    expect(refusal("a(?")).toBe("error parsing regexp: inline flags are not supported (use the flags): `(?`");
    expect(refusal("(?P<n>a)")).toBe("error parsing regexp: (?P…) is not JavaScript syntax (a named group is (?<name>…)): `(?P<`");
    expect(refusal("(?P=n)")).toBe("error parsing regexp: (?P…) is not JavaScript syntax (a named group is (?<name>…)): `(?P=`");
    // Literal text in a class is not a group.
    agrees("[(?i)]");
  });

  it("\\S inside a class is refused; \\s inside a class is JavaScript's white space", () => {
    expect(refusal("[a\\S]")).toBe("error parsing regexp: \\S inside a character class is not supported (write (?:\\S|[…])): `\\S`");
    expect(refusal("[^\\S]")).toBe("error parsing regexp: \\S inside a character class is not supported (write (?:\\S|[…])): `\\S`");
  });

  it("what RE2 accepts but RegExp (u) does not is refused: POSIX classes, \\x{…}, {,n}, identity escapes", () => {
    expect(refusal("[[:alpha:]]")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Lone quantifier brackets");
    expect(refusal("\\x{41}")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Invalid escape");
    expect(refusal("a{,3}")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Incomplete quantifier");
    expect(refusal("\\-")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Invalid escape");
    expect(refusal("\\_")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Invalid escape");
    expect(refusal("\\012")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Invalid decimal escape");
    expect(refusal("^*")).toBe("error parsing regexp: not a valid JavaScript pattern (u flag): Nothing to repeat");
    // What RE2 refuses keeps RE2's message.
    expect(refusal("^[a-z]+(")).toBe("error parsing regexp: missing closing ): `^[a-z]+(`");
    expect(refusal("a{1001}")).toBe("error parsing regexp: invalid repeat count: `{1001}`");
  });
});

describe("linear-regex: meaning agrees with RegExp (u flag)", () => {
  it("a [ inside a class is a literal, not a POSIX class", () => {
    agrees("[[:alpha:]");
    agrees("^[x[:\\]]+$");
    expect(compileLinearRegex("[[:alpha:]", "").test("b")).toBe(false);
  });

  it("[] matches nothing and [^] any code point", () => {
    for (const p of ["[]", "a[]", "a|[]", "^[^]$", "a[^]b", "[^]", "[]*x", "[^]+"]) for (const f of ["", "i", "s"]) agrees(p, f);
    expect(compileLinearRegex("^[^]$", "").test("😀")).toBe(true);
    expect(compileLinearRegex("[]", "").test("[]")).toBe(false);
  });

  it("an escaped surrogate pair is one code point, in and out of classes", () => {
    for (const p of ["\\ud83d\\ude00", "^\\ud83d\\ude00$", "^\\uD83D\\uDE00+$", "^[\\ud83d\\ude00]$", "^[\\ud83d\\ude00-\\ud83d\\ude4f]$", "^[^\\ud83d\\ude00]$", "\\ud83d", "^\\ude00$", "^\\u{1f600}$"]) agrees(p);
    expect(compileLinearRegex("^\\ud83d\\ude00$", "").test("😀")).toBe(true);
    expect(portablePattern("\\ud83d\\ude00", "")).toBe("\\u{1f600}");
    // Not a pair: an escaped backslash, then "ud83d…" literally; a trail in \u{…} form.
    agrees("^\\\\ud83d\\ude00$", "", ["\\ud83d\ude00", "😀"]);
    agrees("\\ud83d\\u{de00}");
  });

  it(". excludes \\n, \\r, \\u2028, \\u2029 without s, and matches them with s", () => {
    for (const p of [".", "^.$", "a.b", "^.*$", "a[.]b", "\\.", "\\\\.", "[\\\\.]+"]) for (const f of ["", "s", "i", "is"]) agrees(p, f);
    expect(compileLinearRegex("a.b", "").test("a\rb")).toBe(false);
    expect(compileLinearRegex("a.b", "s").test("a\u2028b")).toBe(true);
    expect(portablePattern("\\\\.\\.[.]", "")).toBe("\\\\[^\\n\\r\\u2028\\u2029]\\.[.]");
  });

  it("\\s and \\S are JavaScript's Unicode white space, in classes too", () => {
    for (const p of ["\\s", "^\\s+$", "\\S", "^\\S$", "[\\s]", "^[a\\s]+$", "[^\\s]", "^[^a\\s]$", "[\\s-]", "a\\sb"]) for (const f of ["", "i"]) agrees(p, f);
    expect(compileLinearRegex("^\\s$", "").test("\u00a0")).toBe(true);
    expect(compileLinearRegex("\\S", "").test("\u3000")).toBe(false);
  });

  it("[\\b] is a backspace; escapes are read in pairs (\\\\. , \\. , \\])", () => {
    for (const p of ["[\\b]", "\\\\.", "\\.", "[\\]]", "^[\\]\\[]+$", "\\\\\\\\", "\\\\[a]", "\\[a\\]", "a\\b", "\\Ba"]) agrees(p);
  });
});

describe("linear-regex: documented differences (pinned)", () => {
  it("with m, ^ and $ recognise only \\n as a line end", () => {
    expect(compileLinearRegex("^b", "m").test("a\nb")).toBe(true);
    for (const s of ["a\rb", "a\u2028b", "a\u2029b"]) {
      expect(/^b/mu.test(s)).toBe(true);
      expect(compileLinearRegex("^b", "m").test(s), JSON.stringify(s)).toBe(false);
      expect(compileLinearRegex("a$", "m").test(s), JSON.stringify(s)).toBe(false);
    }
  });

  it("a quantified group keeps an earlier iteration's capture; an empty iteration ends the loop", () => {
    expect([...(compileLinearRegex("(?:(a)|b)+", "").exec("ab") ?? [])]).toEqual(["ab", "a"]);
    expect([.../(?:(a)|b)+/u.exec("ab")!]).toEqual(["ab", undefined]);
    expect(compileLinearRegex("(|a)*", "").exec("aa")?.[0]).toBe("");
    expect(/(|a)*/u.exec("aa")?.[0]).toBe("aa");
    expect([...(compileLinearRegex("(a*)*", "").exec("b") ?? [])]).toEqual(["", ""]);
    // Whether it matches does not change.
    agrees("^(?:(a)|b)+$");
    agrees("^(|a)*$");
  });

  it("with i, \\b takes ſ and K as non-word characters (\\w agrees)", () => {
    expect(/\bſ/iu.test("ſ")).toBe(true);
    expect(compileLinearRegex("\\bſ", "i").test("ſ")).toBe(false);
    agrees("\\w", "i");
    agrees("\\W", "i");
    agrees("^[^\\W]$", "i");
  });
});

describe("linear-regex: memo", () => {
  it("returns the compiled pattern for the same flags and pattern; empties itself when full", () => {
    const first = compileLinearRegex("^memo-a$", "i");
    expect(compileLinearRegex("^memo-a$", "i")).toBe(first);
    expect(compileLinearRegex("^memo-a$", "")).not.toBe(first);
    expect(compileLinearRegex("^memo-a$", "s")).not.toBe(compileLinearRegex("^memo-a$", ""));
    for (let k = 0; k < LINEAR_REGEX_MEMO_SIZE; k++) compileLinearRegex(`^memo-${k}$`, "");
    expect(compileLinearRegex("^memo-a$", "i")).not.toBe(first);
    expect(compileLinearRegex("^memo-a$", "i").test("MEMO-A")).toBe(true);
    expect(() => compileLinearRegex("(", "")).toThrow();
    expect(() => compileLinearRegex("(", "")).toThrow();
  });
});

describe("linear-regex: property — agrees with RegExp (u flag) on generated patterns", () => {
  /** Pattern text for each atom; literals include the alphabet's own characters, escaped and not. */
  const ATOMS = [
    "a", "A", " ", "\u00a0", "😀", "\\ud83d\\ude00", "\\u{1f600}", "\\n", "\\r", "\\u2028", "1", "\\.", "\\\\",
    ".", "\\s", "\\S", "\\d", "\\D", "\\w", "\\W", "\\p{Lu}", "\\p{Zs}",
    "[aA]", "[^a]", "[a-z]", "[\\s]", "[^\\s]", "[a\\s]", "[^ a]", "[\\d\\n]", "[.]", "[😀a]", "[^\\ud83d\\ude00]", "[\\u2028-\\u2029]", "[]", "[^]", "[\\w]", "[^\\n]",
  ];
  const ALPHABET = ["\n", "\r", "\u2028", "a", "A", " ", "\u00a0", "😀", "1"];
  const pattern: fc.Arbitrary<string> = fc.letrec<{ alt: string; seq: string; term: string }>((tie) => ({
    alt: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("seq"), fc.tuple(tie("seq"), tie("alt")).map(([a, b]) => `${a}|${b}`)),
    seq: fc.array(tie("term"), { minLength: 0, maxLength: 4 }).map((ts) => ts.join("")),
    term: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom(...ATOMS),
      fc.constantFrom("^", "$", "\\b", "\\B"),
      fc.tuple(fc.constantFrom(...ATOMS), fc.constantFrom("*", "+", "?", "*?", "+?", "{1,2}")).map(([a, q]) => a + q),
      fc.tuple(fc.constantFrom("(", "(?:", "(?<g>"), tie("alt"), fc.constantFrom("", "*", "+", "?", "{2}")).map(([o, a, q]) => `${o}${a})${q}`),
    ),
  })).alt.filter((p) => (p.match(/\(\?<g>/g) ?? []).length <= 1);
  const input = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 8 }).map((cs) => cs.join(""));

  for (const flags of ["", "s", "i", "is"]) {
    it(`flags "${flags}": test() answers as RegExp does`, () => {
      fc.assert(
        fc.property(pattern, fc.array(input, { minLength: 1, maxLength: 12 }), (p, strings) => {
          agrees(p, flags, strings);
        }),
        { numRuns: 400 },
      );
    });
  }
});
