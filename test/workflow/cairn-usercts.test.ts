/** User CT isolation (usercts.ts): realm escape, hostile thrown values, locale pinning, one deadline per call. */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { UserModuleRunner, USER_CT_TIMEOUT_MS } from "../../src/workflow/cairn/usercts.js";
import { fromPlain } from "../../src/workflow/pgs/value.js";
import { tempDir } from "./cairn-fixture.js";

const USERCTS = new URL("../../src/workflow/cairn/usercts.ts", import.meta.url).pathname;
const TOPLAIN = new URL("../../src/workflow/pgs/value.ts", import.meta.url).pathname;

/** A CommonJS capability module with one CT `t` whose run body is `body`, after `init` at module level. */
function mod(body: string, init = ""): UserModuleRunner {
  return new UserModuleRunner("m", `${init}\nmodule.exports.capabilities = { t: { outputs: ["v"], run(input) { ${body} } } };`);
}

function limitError(f: () => unknown): CairnError {
  try {
    f();
  } catch (err) {
    return err as CairnError;
  }
  throw new Error("expected an error");
}

describe("user CT realm", () => {
  it("the Function constructor reached through globalThis is the context's, not the host's", () => {
    const r = mod(`return { v: globalThis.constructor.constructor("return process")().pid };`).call("t", fromPlain({}), "k");
    expect(r.ok).toBe(false);
    expect(r).toMatchObject({ raised: true });
    expect(!r.ok && r.error).toMatch(/process is not defined|Cannot read/);
  });
  it("this-based and prototype-based escapes find no host process either", () => {
    const r = mod(`return { v: Object.getPrototypeOf(globalThis).constructor.constructor("return typeof process")() };`).call("t", fromPlain({}), "k");
    if (r.ok) expect(r.value).toEqual(new Map([["v", "undefined"]]));
  });
});

describe("hostile thrown values", () => {
  it("a thrown object whose message getter loops ends with the time-out error within the bound", () => {
    const t0 = Date.now();
    const err = limitError(() => mod(`throw { get message() { for (;;) {} } };`).call("t", fromPlain({}), "k"));
    expect(err).toBeInstanceOf(CairnError);
    expect(err.code).toBe("E_LIMIT_EXCEEDED");
    expect(Date.now() - t0).toBeLessThan(USER_CT_TIMEOUT_MS + 1500);
  }, 15_000);
  it("a thrown object whose toString loops ends with the time-out error too", () => {
    const err = limitError(() => mod(`throw { toString() { for (;;) {} } };`).call("t", fromPlain({}), "k"));
    expect(err.code).toBe("E_LIMIT_EXCEEDED");
  }, 15_000);
  it("a thrown object with a name getter that loops cannot hang the host", () => {
    // the host never reads `name` (or anything else) of a value user code made
    expect(mod(`throw { message: "m", get name() { for (;;) {} }, get code() { for (;;) {} } };`).call("t", fromPlain({}), "k")).toEqual({ ok: false, error: "m", raised: true });
  }, 15_000);
  it("an ordinary thrown value still gives its message", () => {
    expect(mod(`throw new Error("no way");`).call("t", fromPlain({}), "k")).toEqual({ ok: false, error: "no way", raised: true });
    expect(mod(`throw "plain";`).call("t", fromPlain({}), "k")).toEqual({ ok: false, error: "plain", raised: true });
  });
  it("describe(): a module throwing a hostile value at load time fails within the bound", () => {
    const t0 = Date.now();
    const err = limitError(() => new UserModuleRunner("m", `throw { get message() { for (;;) {} } };`).describe());
    expect(err).toBeInstanceOf(CairnError);
    expect(["E_COMPILE_MODULE", "E_LIMIT_EXCEEDED"]).toContain(err.code);
    expect(err.message).toMatch(/longer than/);
    expect(Date.now() - t0).toBeLessThan(USER_CT_TIMEOUT_MS + 1500);
  }, 15_000);
});

describe("one deadline per call", () => {
  it("module evaluation and the call share one time bound", () => {
    // Calibrate a module-level busy loop (blocks of 10^6 small-integer steps, so the counter
    // stays a small integer whatever the count) to about half the bound, then make the call
    // loop forever. One shared deadline stops the call when the bound is reached (~1.0× the
    // bound in all); a deadline per phase would let it run a whole bound more (~1.5×). A slower
    // machine only moves the stop earlier (module evaluation may hit the bound itself), so the
    // test fails only if the call got a fresh bound (or the deadline fired > 25% late).
    const loop = (n: number) => `for (let k = 0; k < ${n}; k++) { let i = 0; while (i < 1000000) i++; }`;
    const timed = (n: number) => {
      const t0 = performance.now();
      mod("return { v: 1 };", loop(n)).call("t", fromPlain({}), "k");
      return performance.now() - t0;
    };
    let n = 1;
    while (timed(n) < 100) n *= 4;
    n = Math.round((n * USER_CT_TIMEOUT_MS * 0.5) / Math.min(timed(n), timed(n)));
    const both = mod("for (;;) {}", loop(n));
    const t0 = performance.now();
    const err = limitError(() => both.call("t", fromPlain({}), "k"));
    const elapsed = performance.now() - t0;
    expect(err.code).toBe("E_LIMIT_EXCEEDED");
    expect(elapsed).toBeLessThan(USER_CT_TIMEOUT_MS * 1.25);
  }, 30_000);
});

describe("host locale", () => {
  it("user CTs see en-US and UTC whatever LANG the host has", () => {
    const dir = tempDir();
    const script = join(dir, "probe.ts");
    writeFileSync(script, `
import { UserModuleRunner } from ${JSON.stringify(USERCTS)};
import { toPlain } from ${JSON.stringify(TOPLAIN)};
const r = new UserModuleRunner("m", \`module.exports.capabilities = { t: { outputs: ["v"], run() { return { v: [
  (1234567.5).toLocaleString(), new Intl.NumberFormat().format(1234.5), new Intl.DateTimeFormat().resolvedOptions().locale,
  new Intl.DateTimeFormat().resolvedOptions().timeZone, new Date(0).toLocaleString(), new Date(0).toLocaleDateString(),
  ["b", "a", "B", "ä"].sort((x, y) => x.localeCompare(y)).join(""), new Intl.Collator().resolvedOptions().locale,
  (12345678901234567890n).toLocaleString(), [1234.5, new Date(0)].toLocaleString(), new Intl.PluralRules().resolvedOptions().locale,
] }; } } };\`).call("t", new Map(), "k");
process.stdout.write(JSON.stringify(r.ok ? toPlain(r.value) : r));
`);
    const runIn = (lang: string) => {
      const p = spawnSync(process.execPath, ["--import", "tsx", script], { env: { ...process.env, LANG: lang, LC_ALL: lang, TZ: lang.startsWith("de") ? "Europe/Berlin" : "UTC" }, encoding: "utf8" });
      expect(p.stderr).toBe("");
      return JSON.parse(p.stdout) as { v: string[] };
    };
    const de = runIn("de_DE.UTF-8");
    const en = runIn("en_US.UTF-8");
    expect(de).toEqual(en);
    expect(de.v.slice(0, 4)).toEqual(["1,234,567.5", "1,234.5", "en-US", "UTC"]);
  }, 30_000);
});
