/**
 * Audit b4: error stacks inside the user-CT sandbox (usercts.ts). A stack a CT can read (and put
 * into a result or a thrown message, hence into the trace) shows only the module's own frames
 * (`cairn-module:<name>:<line>:<column>` of the bundle text): no frame of Cairn or the host, so
 * no install path, whatever the install location or the process's --stack-trace-limit.
 */
import { spawnSync } from "node:child_process";
import { cpSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserModuleRunner } from "../../src/workflow/cairn/usercts.js";
import { fromPlain, toPlain } from "../../src/workflow/pgs/value.js";
import { baseDecl, prepared, run, tempDir, traceText } from "./cairn-fixture.js";

const REPO = new URL("../../", import.meta.url).pathname;

/** A CommonJS module: `init` at module level, then one CT `t` whose run body is `body` (on line 3). */
function mod(body: string, init = "", name = "m"): UserModuleRunner {
  return new UserModuleRunner(name, `${init}\nmodule.exports.capabilities = { t: { outputs: ["v"], run(input) {\n${body}\n} } };`);
}

/** The CT's `v`, or its violation message. */
function result(r: UserModuleRunner): unknown {
  const o = r.call("t", fromPlain({}), "k");
  return o.ok ? (toPlain(o.value) as { v: unknown }).v : o.error;
}

/** No host frame: no file URL, no absolute path, no Node internals, no Cairn source file. */
function hostFree(text: string): void {
  expect(text).not.toMatch(/file:|node:|\/|\\|usercts|evalmachine|cairn-ct/);
}

describe("error stacks inside a user CT", () => {
  it("err.stack shows the module's own frames only, at the bundle's lines and columns", () => {
    const stack = result(mod(`return { v: inner() };`, `function inner() { return new Error("x").stack; }`));
    expect(stack).toBe("Error: x\n    at inner (cairn-module:m:1:27)\n    at Object.run (cairn-module:m:3:13)");
    hostFree(stack as string);
  });

  it("a message built from a stack (the audit's module) is host-free too", () => {
    const msg = result(mod(`throw new Error("trace: " + new Error("x").stack);`));
    expect(msg).toBe("trace: Error: x\n    at Object.run (cairn-module:m:3:29)");
  });

  it("engine errors, builtin callbacks and captureStackTrace: module frames only", () => {
    const v = result(mod(`
      const te = [1].map(() => { try { null.x; } catch (e) { return e.stack; } })[0];
      const o = {}; Error.captureStackTrace(o);
      return { v: [te, o.stack, top] };`, `const top = new Error("load").stack;`));
    expect(v).toEqual([
      // no `Array.map (<anonymous>)` frame: only the module's own
      "TypeError: Cannot read properties of null (reading 'x')\n    at cairn-module:m:4:45\n    at Object.run (cairn-module:m:4:22)",
      "Error\n    at Object.run (cairn-module:m:5:27)",
      "Error: load\n    at cairn-module:m:1:13",
    ]);
  });

  it("the formatter and the global Error cannot be replaced to reach host CallSites", () => {
    const leak = `(e, frames) => frames.map((f) => String(f.getFileName())).join(",")`;
    // sloppy code: the assignments are ignored; strict code gets a TypeError
    const sloppy = result(mod(`
      try { Error.prepareStackTrace = ${leak}; } catch (e) {}
      try { globalThis.Error = { prepareStackTrace: ${leak} }; } catch (e) {}
      try { delete globalThis.Error; } catch (e) {}
      try { Object.defineProperty(Error, "prepareStackTrace", { value: ${leak} }); } catch (e) {}
      try { Object.defineProperty(globalThis, "Error", { value: { prepareStackTrace: ${leak} } }); } catch (e) {}
      try { Reflect.setPrototypeOf(Error, { prepareStackTrace: ${leak} }); } catch (e) {}
      Array.prototype[Symbol.iterator] = function () { throw new Error("patched"); };
      Function.prototype.call = function () { throw new Error("patched"); };
      return { v: [new Error("x").stack, typeof Error, Error.prepareStackTrace.name] };`));
    expect(sloppy).toEqual(["Error: x\n    at Object.run (cairn-module:m:12:20)", "function", "prepareStackTrace"]);
    const strict = result(mod(`"use strict"; Error.prepareStackTrace = ${leak}; return { v: 1 };`));
    expect(strict).toMatch(/^Cannot assign to read only property 'prepareStackTrace'/);
    // a larger frame limit shows more of the module's frames, never a host one
    const deep = result(mod(`Error.stackTraceLimit = 100; return { v: new Error("x").stack };`)) as string;
    expect(deep).toBe("Error: x\n    at Object.run (cairn-module:m:3:42)");
  });

  it("the frame limit is pinned (10), whatever the process's --stack-trace-limit", () => {
    const dir = tempDir();
    const script = join(dir, "probe.ts");
    writeFileSync(script, `
import { UserModuleRunner } from ${JSON.stringify(join(REPO, "src/workflow/cairn/usercts.ts"))};
const r = new UserModuleRunner("m", 'function d(n) { return n === 0 ? new Error("x").stack : d(n - 1); }\\nmodule.exports.capabilities = { t: { outputs: ["v"], run() { return { v: [d(30), String(Error.stackTraceLimit)] }; } } };').call("t", new Map(), "k");
process.stdout.write(JSON.stringify(r.ok ? [...r.value] : r));
`);
    const runWith = (flags: string[]) => {
      const p = spawnSync(process.execPath, [...flags, "--import", "tsx", script], { cwd: REPO, encoding: "utf8" });
      expect(p.stderr).toBe("");
      return p.stdout;
    };
    const plain = runWith([]);
    expect(runWith(["--stack-trace-limit=3"])).toBe(plain);
    expect(runWith(["--stack-trace-limit=200"])).toBe(plain);
    const [[, [stack, limit]]] = JSON.parse(plain) as [[string, [string, string]]];
    expect(limit).toBe("10");
    expect(stack.split("\n")).toHaveLength(11);
    hostFree(stack);
  }, 60_000);

  it("the same CT gives the same stack text from two install locations", () => {
    // A second copy of the sources (as another install would be), each run in its own process.
    const other = tempDir("cairn-install-");
    cpSync(join(REPO, "src"), join(other, "src"), { recursive: true });
    symlinkSync(join(REPO, "node_modules"), join(other, "node_modules"));
    const probe = (root: string) => {
      const script = join(tempDir(), "probe.ts");
      writeFileSync(script, `
import { UserModuleRunner } from ${JSON.stringify(join(root, "src/workflow/cairn/usercts.ts"))};
const r = new UserModuleRunner("0123456789ab", 'module.exports.capabilities = { t: { outputs: ["v"], run() { throw new Error("trace: " + new Error("x").stack); } } };').call("t", new Map(), "k");
process.stdout.write(JSON.stringify(r));
`);
      const p = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: REPO, encoding: "utf8" });
      expect(p.stderr).toBe("");
      return p.stdout;
    };
    const a = probe(REPO);
    const b = probe(other);
    expect(b).toBe(a);
    expect(JSON.parse(a)).toEqual({ ok: false, error: "trace: Error: x\n    at Object.run (cairn-module:0123456789ab:1:90)", raised: true });
  }, 60_000);

  it("a run whose CT surfaces a stack: the trace holds module frames only, the same in two directories", async () => {
    const decl = baseDecl({
      modules: { m: "./m.ts" },
      nodes: { start: { steps: [{ id: "st", ct: "m.st", inputs: {} }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "NO", reason: "no" } } } },
    });
    const files = { "m.ts": `export const capabilities = {\n  st: { outputs: ["a"], run: () => { throw new Error("trace: " + new Error("x").stack); } },\n};\n` };
    const a = await prepared(decl, files);
    const b = await prepared(decl, files);
    const ra = run(a.snap, {}, a.dir);
    const rb = run(b.snap, {}, b.dir);
    expect(ra.status).toBe("VIOLATION");
    expect(traceText(rb)).toBe(traceText(ra));
    const step = traceText(ra).trim().split("\n").map((l) => JSON.parse(l) as { event_type: string; detail: { error?: string } }).find((e) => e.event_type === "CC_STEP")!;
    const digest = [...a.snap.modules.keys()][0]!.slice(7, 19);
    expect(step.detail.error).toMatch(new RegExp(`^Atom raised exception: m\\.st: trace: Error: x\\n {4}at Object\\.run \\(cairn-module:${digest}:\\d+:\\d+\\)$`));
    expect(traceText(ra)).not.toMatch(/file:|\/work\/|\/tmp\//);
  });
});

describe("a promise the module rejects and never handles", () => {
  /** Runs `body` (a script importing usercts.ts through tsx) in a child process: its exit status, stdout and stderr. */
  function child(body: string): { status: number | null; stdout: string; stderr: string } {
    const dir = tempDir();
    const script = join(dir, "rej.mts");
    writeFileSync(script, `import { UserModuleRunner } from ${JSON.stringify(join(REPO, "src/workflow/cairn/usercts.ts"))};\nimport { fromPlain } from ${JSON.stringify(join(REPO, "src/workflow/pgs/value.ts"))};\n${body}\n`);
    const p = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: REPO, encoding: "utf8" });
    return { status: p.status, stdout: p.stdout, stderr: p.stderr };
  }

  it("is ignored: the run's result stands and the process lives on", () => {
    const r = child(`
const m = new UserModuleRunner("m", 'module.exports.capabilities = { t: { outputs: ["v"], run() { Promise.reject(new Error("late")); Promise.any([]); (async () => { throw new Error("async"); })(); return { v: "ok" }; } } };');
const o = m.call("t", fromPlain({}), "k");
setTimeout(() => console.log(JSON.stringify({ ok: o.ok, alive: true })), 50);`);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe('{"ok":true,"alive":true}');
    expect(r.status).toBe(0);
  }, 60_000);

  it("the host's own unhandled rejections still end the process, as without the guard", () => {
    const r = child(`
const m = new UserModuleRunner("m", 'module.exports.capabilities = { t: { outputs: ["v"], run() { return { v: "ok" }; } } };');
m.call("t", fromPlain({}), "k");
Promise.reject(new Error("host rejection"));`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("host rejection");
  }, 60_000);
});
