/**
 * `cairn serve` escapes the user text on its stderr lines (the torn-file note quoting the data
 * root as given, the start-up lines), as `wf run` escapes its notes: a data root named with ESC
 * or a newline could forge terminal output or a line of its own (it was written raw).
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startLines, tornFileLine } from "../../src/cli/serve-command.js";
import { cairn, killChildrenAfterEach, serveCairn, TempDirs } from "./helpers.js";

const ESC = "\u001b";
/** Any character a terminal would act on (C0 but newline, DEL, C1, U+2028/2029). */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const RAW_CONTROL_RE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
const NO_STORE = { CAIRN_STORE: undefined, PGS_WORKSPACE: undefined, PGS_DATA_ROOT: undefined };
/** A snapshot writing a mutable store: a torn a.json makes its run a BACKEND_ERROR, with the note. */
const DECL = `cairn: cairn.workflow/v1
namespace: t
code: WF_M_V0
entry: n
stores:
  a: { kind: mutable, path: a.json }
nodes:
  n:
    steps:
      - { id: s1, cs: a, op: WRITE, inputs: { key: { const: k }, value: { const: 1 } } }
    routes: { default: { exit: E, reason: e } }
`;
/** A data root named with ESC and a newline (it then reads as a line of its own). */
const DATA = `d${ESC}[31m\ncairn: listening on evil`;
const DATA_SHOWN = "d\\u001b[31m\\ncairn: listening on evil";
/** Safety net for the note to arrive on stderr (not a speed assertion). */
const NOTE_LIMIT_MS = 20_000;

const temps = new TempDirs();
const children = killChildrenAfterEach(() => temps.cleanup());

async function post(url: string): Promise<string> {
  const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ workflow_code: "t::WF_M_V0", payload: {} }) });
  const body = (await res.json()) as { status: string; error?: string };
  return body.error === undefined ? body.status : `${body.status}: ${body.error}`;
}

describe("serve: the lines on stderr escape control characters", () => {
  it("the torn-file note names the data root (as given) and the file escaped", () => {
    expect(tornFileLine({ path: `a${ESC}[2J.json`, offset: 10, bytes: 3 }, DATA)).toBe(
      `cairn: note: "a\\u001b[2J.json" ends in a torn line (3 bytes after offset 10 without a newline, an interrupted append): runs refuse it until it is repaired with: cairn wf repair-tail --data-root '${DATA_SHOWN}' 'a\\u001b[2J.json' (stop the server first)`,
    );
  });

  it("the start-up lines are escaped", () => {
    expect(startLines(null, "http://127.0.0.1:8080")).toEqual(["cairn: listening on http://127.0.0.1:8080"]);
    expect(startLines(`sha256:${ESC}[2J`, `http://h${ESC}\n:1`)).toEqual(["cairn: serving snapshot sha256:\\u001b[2J", "cairn: listening on http://h\\u001b\\n:1"]);
  });

  it("a served run meeting a torn file under a data root named with ESC and a newline: one escaped note line", async () => {
    const d = temps.make();
    writeFileSync(join(d, "w.yaml"), DECL);
    expect(cairn(["wf", "compile", "w.yaml", "--out", "s.snap"], { cwd: d, env: NO_STORE }).status).toBe(0);
    mkdirSync(join(d, DATA));
    const s = await serveCairn(d, ["--snapshot", "s.snap", "--data-root", DATA], (c) => children.push(c));
    expect(await post(s.url)).toBe("SUCCESS");
    appendFileSync(join(d, DATA, "a.json"), '{"k');
    expect(await post(s.url)).toBe("BACKEND_ERROR");
    const deadline = Date.now() + NOTE_LIMIT_MS;
    while (!s.stderr().includes("(stop the server first)\n")) {
      if (Date.now() > deadline) throw new Error(`no torn-file note; stderr: ${s.stderr()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // The counts are the store's (its file's layout): the test is about the names.
    const told = s.stderr().replace(/\(\d+ bytes after offset \d+ /g, "(N bytes after offset M ");
    expect(told).toContain(`\ncairn: note: "a.json" ends in a torn line (N bytes after offset M without a newline, an interrupted append): runs refuse it until it is repaired with: cairn wf repair-tail --data-root '${DATA_SHOWN}' a.json (stop the server first)\n`);
    // Only the server's own lines: the data root's newline did not start one.
    expect(s.stderr().split("\n").filter((l) => l.startsWith("cairn: listening on "))).toEqual([`cairn: listening on ${s.url}`]);
    expect(s.stderr()).not.toMatch(RAW_CONTROL_RE);
  });
});
