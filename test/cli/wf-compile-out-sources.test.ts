/**
 * UAT 2026-11-27 F12 (high): `wf compile --out` over a file the compile reads — a declaration, a
 * capability module, a file a module imports — was written (exit 0), replacing the user's source
 * with the sealed snapshot. It is E_USAGE (exit 2) before anything is written; the file stays.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cairn, jsonError } from "./helpers.js";

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function box(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-wfout-"));
  dirs.push(d);
  cpSync(EXAMPLES, join(d, "ex"), { recursive: true });
  return d;
}

const DECL = [
  "cairn: cairn.workflow/v1", "namespace: t", "code: WF_OUT_V0", "entry: a",
  "modules: { m: ./m.ts }",
  "nodes:", "  a:", "    steps: [ { id: s, ct: m.f, inputs: { x: $.payload } } ]", "    routes: { default: { exit: OK, reason: ok } }", "",
].join("\n");
const MODULE = 'import { twice } from "./lib/util.ts";\nexport const capabilities = { f: { outputs: ["y"], run: (i: { x: unknown }) => ({ y: twice(1) }) } };\n';
const LIB = "export const twice = (n: number): number => 2 * n;\n";

describe("wf compile --out never writes over a file the compile reads", () => {
  it("the declaration, its directory's declaration, the module: E_USAGE naming it, exit 2, file unchanged", () => {
    const cwd = box();
    for (const [args, target] of [
      [["ex", "--out", "ex/register-agent.yaml"], "ex/register-agent.yaml"],
      [["ex/register-agent.yaml", "--out", "ex/modules/agent-capabilities.ts"], "ex/modules/agent-capabilities.ts"],
    ] as const) {
      const before = readFileSync(join(cwd, target));
      const r = cairn(["wf", "compile", ...args, "--json"], { cwd });
      expect([r.status, r.out]).toEqual([2, ""]);
      const e = jsonError(r);
      expect(e.code).toBe("E_USAGE");
      expect(e.message).toBe(`--out ${target} is a file this compile reads (${join(cwd, target)})`);
      expect(readFileSync(join(cwd, target)).equals(before)).toBe(true);
    }
  });

  it("a file a module imports, and a declaration reached through a symlink: refused too; another path is written", () => {
    const cwd = box();
    writeFileSync(join(cwd, "w.yaml"), DECL);
    writeFileSync(join(cwd, "m.ts"), MODULE);
    mkdirSync(join(cwd, "lib"));
    writeFileSync(join(cwd, "lib", "util.ts"), LIB);
    symlinkSync(join(cwd, "w.yaml"), join(cwd, "link.yaml"));
    const lib = readFileSync(join(cwd, "lib/util.ts"), "utf8");
    const r1 = cairn(["wf", "compile", "w.yaml", "--out", "lib/util.ts"], { cwd });
    expect(r1.status).toBe(2);
    expect(r1.err).toContain(`--out lib/util.ts is a file this compile reads (${join(cwd, "lib/util.ts")})`);
    expect(readFileSync(join(cwd, "lib/util.ts"), "utf8")).toBe(lib);
    const r2 = cairn(["wf", "compile", "w.yaml", "--out", "link.yaml"], { cwd });
    expect(r2.status).toBe(2);
    expect(readFileSync(join(cwd, "w.yaml"), "utf8")).toBe(DECL);
    const ok = cairn(["wf", "compile", "w.yaml", "--out", "sealed.json"], { cwd });
    expect(ok.status).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, "sealed.json"), "utf8"))).toHaveProperty("digest");
  });
});
