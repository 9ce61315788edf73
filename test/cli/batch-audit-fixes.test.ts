/**
 * Batch CLI findings of the 2026-11 audit, through the BUILT cli (`npm run build` first, or
 * CAIRN_TEST_CLI): --max-memory above 2^53 - 1, and `--store ./.cairn --input .` with
 * `--format files` (the store inside the input directory is not input).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isCairnError, ErrorCode } from "../../src/index.js";
import { parseMemory } from "../../src/cli/batch-commands.js";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { CLI, cairn, json, TempDirs } from "./helpers.js";

const temps = new TempDirs();
let dir: string;

beforeEach(() => {
  dir = temps.make();
});
afterEach(() => temps.cleanup());

function usageMessage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (isCairnError(err, ErrorCode.USAGE)) return err.message;
    throw err;
  }
  throw new Error("no error");
}

describe("--max-memory", () => {
  it("a value above 2^53 - 1 bytes says it is too large, not too small", () => {
    expect(usageMessage(() => parseMemory("9007199254740993", "--max-memory"))).toBe('invalid --max-memory "9007199254740993": must be at most 9007199254740991 bytes (2^53 - 1)');
    expect(usageMessage(() => parseMemory("99999999TB", "--max-memory"))).toContain("must be at most");
    expect(usageMessage(() => parseMemory("1MB", "--max-memory"))).toContain("must be at least 32.0 MiB");
    expect(parseMemory("9007199254740991", "--max-memory")).toBe(Number.MAX_SAFE_INTEGER);
    writeFileSync(join(dir, "m.mjs"), "export default (x) => x;\n");
    writeFileSync(join(dir, "in.jsonl"), "1\n");
    const r = cairn(["--store", join(dir, "s"), "run", "m.mjs", "--input", "in.jsonl", "--max-memory", "9007199254740993"], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.err).toContain("must be at most 9007199254740991 bytes");
  });
});

describe("--format files with the store inside the input directory", () => {
  it("`--store ./.cairn --input .` reads only the input files, and running again reports the same run", () => {
    writeFileSync(join(dir, "len.mjs"), "export default (b) => b.length;\n");
    writeFileSync(join(dir, "a.txt"), "a");
    const args = ["--store", "./.cairn", "--json", "run", "len.mjs", "--input", ".", "--format", "files", "--id-field", "name", "--workers", "1"];
    const first = cairn(args, { cwd: dir });
    expect(first.status, first.err).toBe(0);
    const a = json<{ runId: string; counts: { total: number }; reused: boolean }>(first);
    expect(a.counts.total).toBe(2); // a.txt and len.mjs, not the store's catalog, WAL or lock
    const second = json<{ runId: string; reused: boolean }>(cairn(args, { cwd: dir }));
    expect(second).toMatchObject({ runId: a.runId, reused: true });
    const same = cairn(["--store", ".", "run", "len.mjs", "--input", ".", "--format", "files"], { cwd: dir });
    expect(same.status).toBe(2);
    expect(same.err).toContain("is the store");
  });
});

describe("a function writing to file descriptor 1", () => {
  it("goes to stderr like console.log: `run --json` prints only its report on stdout", () => {
    // What pino and sonic-boom do: write to the descriptor, not to process.stdout (whose fd is
    // undefined in a worker thread).
    writeFileSync(
      join(dir, "fd1.mjs"),
      [
        'import fs, { writeSync } from "node:fs";',
        'import { promisify } from "node:util";',
        "export default async (x) => {",
        '  writeSync(1, `sync ${x}\\n`);',
        '  fs.writeSync(1, Buffer.from(`buffer ${x}\\n`));',
        '  const { bytesWritten } = await promisify(fs.write)(1, `async ${x}\\n`);',
        '  fs.appendFileSync(1, `append ${x}\\n`);',
        "  return bytesWritten;",
        "};",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "in.jsonl"), "1\n2\n");
    const r = cairn(["--store", join(dir, "s"), "--json", "run", "fd1.mjs", "--input", "in.jsonl", "--workers", "1", "--out", join(dir, "o.jsonl")], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    expect(json<{ status: string }>(r).status).toBe("completed"); // stdout is exactly the JSON report
    for (const line of ["sync 1", "buffer 2", "async 1", "append 2"]) expect(r.err).toContain(line);
    expect(readFileSync(join(dir, "o.jsonl"), "utf8")).toBe('{"id":0,"output":8}\n{"id":1,"output":8}\n');
  });
});

describe("the host's locale", () => {
  it("does not reach an output: Intl and toLocale* default to en-US and (for dates) UTC in the sandbox", () => {
    writeFileSync(
      join(dir, "loc.mjs"),
      [
        "export default () => [",
        "  (1234567.5).toLocaleString(),",
        "  new Intl.NumberFormat().format(0.5),",
        "  new Date(86400000).toLocaleString(),",
        "  new Date(0).toLocaleDateString(undefined, { month: 'long' }),",
        "  Intl.DateTimeFormat().resolvedOptions().locale,",
        "  ['b', 'a', 'B'].sort((x, y) => x.localeCompare(y)).join(''),",
        "  'i'.toLocaleUpperCase(),",
        "  (1.5).toLocaleString('de-DE'),",
        "  new Date(0).toLocaleTimeString('en-US', { timeZone: 'Asia/Tokyo' }),",
        // No requested locale available, or none given: ICU's fallback is the host's default.
        "  (1234.5).toLocaleString([]),",
        "  new Intl.NumberFormat('tlh').format(1234.5),",
        "  new Intl.DateTimeFormat([], { month: 'long' }).format(0),",
        "  'i'.toLocaleUpperCase([]),",
        "  new (class extends Intl.NumberFormat {})().resolvedOptions().locale,",
        "];",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "in.jsonl"), "1\n");
    const outputs = ["de_DE.UTF-8", "tr_TR.UTF-8", "C.UTF-8"].map((lang) => {
      const r = cairn(["--store", join(dir, `s-${lang}`), "--json", "run", "loc.mjs", "--input", "in.jsonl", "--workers", "1", "--out", join(dir, `${lang}.jsonl`)], { cwd: dir, env: { LANG: lang, LC_ALL: lang } });
      expect(r.status, r.err).toBe(0);
      return readFileSync(join(dir, `${lang}.jsonl`), "utf8");
    });
    // Before: "1.234.567,5", "0,5", "2.1.1970, 00:00:00", "Januar", "de-DE" under de_DE; "İ" under tr_TR.
    expect(outputs[0]).toBe('{"id":0,"output":["1,234,567.5","0.5","1/2/1970, 12:00:00 AM","January","en-US","abB","I","1,5","9:00:00 AM","1,234.5","1,234.5","January","I","en-US"]}\n');
    expect(new Set(outputs).size).toBe(1);
  });
});

describe("the host's time zone, through the library (no CLI to set TZ=UTC)", () => {
  it("does not reach Intl or toLocale* date output: they default to UTC in the sandbox", () => {
    const lib = join(CLI, "..", "..", "index.js");
    const script = [
      `import { openStore, run } from ${JSON.stringify(pathToFileURL(lib).href)};`,
      `const store = openStore({ dir: ${JSON.stringify(join(dir, "tz-store"))} });`,
      "const code = 'export default () => [new Date(0).toLocaleString(), new Intl.DateTimeFormat(undefined, { hour: \"numeric\" }).format(0), new Date(0).toLocaleTimeString(\"en-US\", { timeZone: \"Asia/Tokyo\" })];';",
      "const r = await run(store, [1], { code, name: 'tz.mjs' }, { workers: 1 });",
      "let out; for await (const rec of (await import(" + JSON.stringify(pathToFileURL(lib).href) + ")).streamOutputs(store, r.runId)) out = rec;",
      "console.log(JSON.stringify(out));",
      "store.close();",
    ].join("\n");
    const res = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: { ...process.env, TZ: "Asia/Tokyo" }, encoding: "utf8" });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain('["1/1/1970, 12:00:00 AM","12 AM","9:00:00 AM"]');
  });
});
