/**
 * UAT-8 findings 1 and 10, through the BUILT cli (CAIRN_TEST_CLI):
 *  - 1: terminal control characters a payload, a declaration, a file name or a trace carries are
 *    escaped on every human line of `wf run`, `wf replay`, `examine` and `wf compile` (ESC reads
 *    `\u001b`); `--json` keeps the real text;
 *  - 10: the human output shows at most SHOWN_VALUE_CHARS (2,000) characters of a run's surface,
 *    an examine line and a line `wf replay` quotes, cut with its full length stated; `--json`
 *    keeps the whole value.
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const NO_STORE = { CAIRN_STORE: undefined, PGS_WORKSPACE: undefined, PGS_DATA_ROOT: undefined, NO_COLOR: "1" };
const ESC = "\u001b";
/** Any character a terminal would act on (C0 but newline, DEL, C1, U+2028/2029). */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const RAW_CONTROL_RE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
const SHOWN = 2000;

const MODULE = `exports.capabilities = {
  chk: { outputs: ["ok", "x"], run(i) {
    if (i.name === "big") return { ok: true, x: "y".repeat(100000) };
    if (i.name === "ctl") return { ok: true, x: "a\\u0085b\\u2028c\\u007fd\\u001be" };
    if (i.name === "longerr") throw new Error("E".repeat(5000));
    if (i.name !== "ok") throw new Error("bad name: " + i.name);
    return { ok: true, x: "" };
  } },
};
`;
const DECL = `cairn: cairn.workflow/v1
namespace: inj
code: WF_INJ_V0
entry: n
modules: { m: ./m.js }
nodes:
  n:
    steps:
      - { id: s, ct: m.chk, inputs: { name: $.payload.name } }
    routes:
      SUCCESS: { exit: OK, reason: "done \\e[2J" }
      VIOLATION: { exit: NO, reason: rejected }
`;
const PWNED = `${ESC}]0;pwned\u0007${ESC}[2J`;
const PWNED_SHOWN = "\\u001b]0;pwned\\u0007\\u001b[2J";

/** A temp dir with the module, the declaration (under a name holding ESC) compiled to `s.snap`, and a workspace `ws<ESC>[1m`. */
function setup(): { d: string; ws: string; compile: ReturnType<typeof cairn> } {
  const d = temps.make();
  writeFileSync(join(d, "m.js"), MODULE);
  writeFileSync(join(d, `w${ESC}[31m.yaml`), DECL);
  const compile = cairn(["wf", "compile", `w${ESC}[31m.yaml`, "--out", `s${ESC}.snap`], { cwd: d, env: NO_STORE });
  expect(compile.status, compile.err).toBe(0);
  writeFileSync(join(d, "s.snap"), readFileSync(join(d, `s${ESC}.snap`)));
  const ws = `ws${ESC}[1m`;
  mkdirSync(join(d, ws));
  return { d, ws, compile };
}

function run(d: string, ws: string, name: string, extra: string[] = []): ReturnType<typeof cairn> {
  writeFileSync(join(d, "p.json"), JSON.stringify({ name }));
  return cairn([...extra, "wf", "run", "--snapshot", "s.snap", "--payload", "p.json", "--workspace", ws, "--data-root", join(d, "data"), "--no-render"], { cwd: d, env: NO_STORE });
}

/** The trace file of the run `--json` printed. */
function traceOf(d: string, r: ReturnType<typeof cairn>): string {
  const j = json<{ traceId: string; traceDir: string }>(r);
  return join(d, j.traceDir, `${j.traceId}.jsonl`);
}

describe("UAT-8 finding 1: user text escaped on the human lines", () => {
  it("wf compile: the compiled-from and --out lines escape the file names", () => {
    const { compile } = setup();
    expect(compile.out).toContain("compiled inj::WF_INJ_V0 (1 node) from w\\u001b[31m.yaml\n");
    expect(compile.out).toContain("sealed snapshot written to s\\u001b.snap\n");
    expect(compile.out).not.toMatch(RAW_CONTROL_RE);
  });

  it("wf run: the exit reason and the trace dir are escaped; --json keeps them", () => {
    const { d, ws } = setup();
    const r = run(d, ws, "ok");
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain("\nexit: OK (done \\u001b[2J)\n");
    expect(r.out).toMatch(/\ntrace dir: ws\\u001b\[1m\/traces\/inj\/WF_INJ_V0\/[0-9a-f]{16}__WF_INJ_V0__[0-9A-F]{4}\n/);
    expect(r.out).not.toMatch(RAW_CONTROL_RE);
    const j = json<{ exit: { reason: string }; traceDir: string }>(run(d, ws, "ok", ["--json"]));
    expect(j.exit.reason).toBe(`done ${ESC}[2J`);
    expect(j.traceDir.startsWith(`ws${ESC}[1m/`)).toBe(true);
  });

  it("examine: the message, hint and path lines escape payload data and the exit reason", () => {
    const { d, ws } = setup();
    const bad = run(d, ws, PWNED, ["--json"]);
    expect(bad.status).toBe(1);
    const e = cairn(["examine", traceOf(d, bad), "--snapshot", "s.snap"], { cwd: d, env: NO_STORE });
    expect(e.status, e.err).toBe(0);
    expect(e.out).toContain(`\nmessage:     VIOLATION from step s (m.chk): Atom raised exception: m.chk: bad name: ${PWNED_SHOWN}\n`);
    expect(e.out).toMatch(/\nhint: {8}.*bad name: \\u001b\]0;pwned\\u0007\\u001b\[2J/);
    expect(e.out).toMatch(/^trace: {7}\/.*\/ws\\u001b\[1m\/traces\//);
    expect(e.out).not.toMatch(RAW_CONTROL_RE);
    const ej = json<{ failure: { message: string } }>(cairn(["--json", "examine", traceOf(d, bad), "--snapshot", "s.snap"], { cwd: d, env: NO_STORE }));
    expect(ej.failure.message).toContain(`bad name: ${PWNED}`);

    const ok = run(d, ws, "ok", ["--json"]);
    const eo = cairn(["examine", traceOf(d, ok), "--snapshot", "s.snap"], { cwd: d, env: NO_STORE });
    expect(eo.status, eo.err).toBe(0);
    expect(eo.out).toContain("\npath:        n=SUCCESS → OK (done \\u001b[2J)\n");
    expect(eo.out).not.toMatch(RAW_CONTROL_RE);
  });

  it("wf run: a surface holding DEL, C1, U+2028 and ESC is printed escaped; --json keeps it", () => {
    const { d, ws } = setup();
    const r = run(d, ws, "ctl");
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain('\nsurface: {\n  "ok": true,\n  "x": "a\\u0085b\\u2028c\\u007fd\\u001be"\n}\n');
    expect(r.out).not.toMatch(RAW_CONTROL_RE);
    expect(json<{ surface: { x: string } }>(run(d, ws, "ctl", ["--json"])).surface.x).toBe("a\u0085b\u2028c\u007fd\u001be");
  });

  it("wf replay: a differing trace line holding ESC and C1 is printed escaped", () => {
    const { d, ws } = setup();
    const r = run(d, ws, "ok", ["--json", "--store", "st"]);
    expect(r.status, r.err).toBe(0);
    const trace = traceOf(d, r);
    writeFileSync(trace, readFileSync(trace, "utf8").replace('"exit":"OK"', `"exit":"O${ESC}[2J\u0085K"`));
    const rep = cairn(["--store", "st", "wf", "replay", trace], { cwd: d, env: NO_STORE });
    expect(rep.status).toBe(1);
    expect(rep.out).toContain("\nfirst difference: trace-file line 5\n");
    expect(rep.out).toMatch(/\n {2}recorded: \{.*"exit":"O\\u001b\[2J\\u0085K".*\}\n/);
    expect(rep.out).toMatch(/\n {2}replayed: \{.*"exit":"OK".*\}\n/);
    expect(rep.out).not.toMatch(RAW_CONTROL_RE);
  });
});

describe("UAT-8 finding 10: the human output is bounded", () => {
  it("wf run: a 100,000-character surface is cut at 2,000 characters with its length stated; --json has it whole", () => {
    const { d, ws } = setup();
    const r = run(d, ws, "big");
    expect(r.status, r.err).toBe(0);
    const text = `{\n  "ok": true,\n  "x": "${"y".repeat(100000)}"\n}`;
    expect(r.out).toContain(`\nsurface: ${text.slice(0, SHOWN)}… (${text.length} characters)\n`);
    expect(r.out.length).toBeLessThan(SHOWN + 1000);
    expect(json<{ surface: { x: string } }>(run(d, ws, "big", ["--json"])).surface.x).toHaveLength(100000);
    // The trace summary keeps the whole surface, as the help says.
    const j = json<{ traceId: string; traceDir: string }>(run(d, ws, "big", ["--json"]));
    expect(readFileSync(join(d, j.traceDir, `${j.traceId}.md`), "utf8")).toContain(`"${"y".repeat(100000)}"`);
  });

  it("examine: a 5,000-character message is cut with its length stated, the line's own words kept", () => {
    const { d, ws } = setup();
    const r = run(d, ws, "longerr", ["--json"]);
    expect(r.status).toBe(1);
    const e = cairn(["examine", traceOf(d, r)], { cwd: d, env: NO_STORE });
    const message = `VIOLATION from step s (m.chk): Atom raised exception: m.chk: ${"E".repeat(5000)}`;
    expect(e.out).toContain(`\nmessage:     ${message.slice(0, SHOWN)}… (${message.length} characters)\n`);
    // The hint quotes the message too: cut the same way, its remedy after it printed whole.
    for (const l of e.out.split("\n")) expect(l.length).toBeLessThan(SHOWN + 400);
  });

  it("the help texts say where the whole value is", () => {
    const d = temps.make();
    expect(cairn(["wf", "run", "--help"], { cwd: d, env: NO_STORE }).out).toContain("the whole surface is in --json and <trace_id>.md");
    expect(readdirSync(d)).toEqual([]);
  });
});

describe("wf run's path line names a node a runtime error aborted inside its pipeline (UAT-8 finding 5)", () => {
  it("the entered node is shown with the step that failed, as examine shows it (it printed an empty path)", () => {
    const d = temps.make();
    writeFileSync(
      join(d, "w.yaml"),
      `cairn: cairn.workflow/v1
namespace: cs
code: WF_AB_V0
entry: w
stores:
  a: { kind: mutable, path: a.json }
  b: { kind: mutable, path: link/b.json }
nodes:
  w:
    steps:
      - { id: s1, cs: a, op: WRITE, inputs: { key: { const: k }, value: { const: 1 } } }
      - { id: s2, cs: b, op: WRITE, inputs: { key: { const: k }, value: { const: 1 } } }
    routes: { default: { exit: E, reason: e } }
`,
    );
    expect(cairn(["wf", "compile", "w.yaml", "--out", "s.snap"], { cwd: d, env: NO_STORE }).status).toBe(0);
    mkdirSync(join(d, "d", "link"), { recursive: true });
    symlinkSync(join(d, "elsewhere.json"), join(d, "d", "link", "b.json"));
    writeFileSync(join(d, "p.json"), "{}");
    const r = cairn(["wf", "run", "--snapshot", "s.snap", "--payload", "p.json", "--data-root", "d", "--workspace", ".", "--no-render"], { cwd: d, env: NO_STORE });
    expect(r.status).toBe(1);
    expect(r.out).toContain("\npath: w (aborted at step s2)\n");
    expect(r.err).toContain("[E_PATH_CONFINEMENT]");
  });
});
