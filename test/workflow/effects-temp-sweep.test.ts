/**
 * Temp files of killed mutable-document writes (effects/fsio.ts `sweepDeadTemps`): a run's
 * first call on a document removes the `.<name>.<pid>.<n>.tmp` files beside it whose writer
 * process is gone, and nothing else; results, traces and state digests do not change.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MUTABLE_RUNTIME, createEffectContext, type EffectContext } from "../../src/workflow/effects/index.js";
import { MAX_TEMP_PID, tempFileWriter } from "../../src/workflow/effects/fsio.js";
import { dict } from "./py-literal.js";
import { payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();
const COLLATZ_DIR = "ai_governance/collatz_conjecture";
const DOC = "collatz_results.json";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/**
 * A child process that starts a replacement of `${dirAbs}/${DOC}` as `replaceAtomic` does
 * (its own temp name, O_EXCL, part of the document written) and then waits; `await` it to have
 * it running with its temp file on disk.
 */
async function writerMidWrite(dirAbs: string): Promise<{ child: ChildProcess; temp: string }> {
  const script = [
    'const fs = require("fs");',
    `const name = ".${DOC}." + process.pid + ".0.tmp";`,
    'const fd = fs.openSync(process.argv[1] + "/" + name, "wx");',
    'fs.writeSync(fd, "{\\n  \\"collatz_results\\": {\\n");',
    'process.stdout.write(name + "\\n");',
    "setInterval(() => {}, 1000);",
  ].join("\n");
  const child = spawn(process.execPath, ["-e", script, dirAbs], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const temp = await new Promise<string>((res, rej) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      if (out.endsWith("\n")) res(out.trim());
    });
    child.on("exit", (code, signal) => rej(new Error(`writer exited early (${String(code)}, ${String(signal)})`)));
  });
  return { child, temp };
}

async function killed(child: ChildProcess): Promise<void> {
  const gone = new Promise<void>((res) => child.once("exit", () => res()));
  child.kill("SIGKILL");
  await gone;
}

describe("tempFileWriter (the exact temp-name scheme)", () => {
  it("takes `.<name>.<pid>.<n>.tmp` of that very name only", () => {
    expect(tempFileWriter(`.${DOC}.4242.0.tmp`, DOC)).toBe(4242);
    expect(tempFileWriter(`.${DOC}.4242.17.tmp`, DOC)).toBe(4242);
    for (const name of [
      `.${DOC}.4242.01.tmp`, // a counter with a leading zero
      `.${DOC}.04242.0.tmp`, // a pid with a leading zero
      `.${DOC}.0.0.tmp`, // pid 0
      `.${DOC}.${MAX_TEMP_PID + 1}.0.tmp`,
      `.${DOC}.-5.0.tmp`,
      `.${DOC}.4242.tmp`,
      `.${DOC}.4242.0.tmp.bak`,
      `${DOC}.4242.0.tmp`, // no leading dot
      `.x${DOC}.4242.0.tmp`,
      `.other.json.4242.0.tmp`, // another file's temp
      `.${DOC}.4242.0x1.tmp`,
    ]) {
      expect([name, tempFileWriter(name, DOC)]).toEqual([name, undefined]);
    }
    expect(tempFileWriter(`.${DOC}.${MAX_TEMP_PID}.0.tmp`, DOC)).toBe(MAX_TEMP_PID);
  });
});

describe("a run removes its documents' temp files of gone writers", () => {
  it("a writer killed (SIGKILL) mid-write: the next run removes its temp; a live process's temp, this process's, and other names stay; digests unchanged", async () => {
    const b = box();
    const twin = box();
    const docDir = join(b.dataRoot, COLLATZ_DIR);
    mkdirSync(docDir, { recursive: true });
    mkdirSync(join(twin.dataRoot, COLLATZ_DIR), { recursive: true });
    const dead = await writerMidWrite(docDir);
    await killed(dead.child);
    expect(existsSync(join(docDir, dead.temp))).toBe(true);
    const live = await writerMidWrite(docDir); // still running
    const deadPid = dead.child.pid as number;
    const own = `.${DOC}.${process.pid}.7.tmp`;
    const kept = [
      live.temp,
      own,
      `.${DOC}.${deadPid}.01.tmp`,
      `.other.json.${deadPid}.0.tmp`,
      `${DOC}.${deadPid}.0.tmp`,
      `.${DOC}.${deadPid}.0.tmp.bak`,
    ];
    for (const name of kept) writeFileSync(join(docDir, name), "partial");
    mkdirSync(join(docDir, `.${DOC}.${deadPid}.1.tmp`)); // the scheme's name, but a directory
    kept.push(`.${DOC}.${deadPid}.1.tmp`);

    const p = payload("collatz_conjecture/01_happy_path.json");
    const r = b.run(WF.collatz, p);
    const t = twin.run(WF.collatz, p);
    expect(r.status).toBe(t.status);
    expect(r.effects.some((e) => e.file?.path === `${COLLATZ_DIR}/${DOC}` && e.file.action === "replace")).toBe(true);
    expect(readdirSync(join(twin.dataRoot, COLLATZ_DIR))).toEqual([DOC]);
    expect(readdirSync(docDir).sort()).toEqual([...kept, DOC].sort());
    // The temp files never enter the state: the same digests (and so the same trace) as on a data root without them.
    expect(r.traceId).toBe(t.traceId);
    expect(r.digests).toEqual(t.digests);
  });

  it("sweeps once per run and document: a temp planted after the run's first call stays until the next run", () => {
    const root = dir("cairn-sweep-");
    const rel = `${COLLATZ_DIR}/${DOC}`;
    const ctxA = createEffectContext({ dataRoot: root, traceId: "A" });
    const config = dict({
      module_data_root: root,
      storage_structure_artifact: { frontmatter: { core: { entity_stores: { COLLATZ_RESULTS: { path: rel } } } } },
    });
    const md = new Map([["capability", new Map()], ["operations", new Map()]]);
    const call = (op: string, ctx: EffectContext): void => {
      MUTABLE_RUNTIME.execute({ op, payload: dict({ __pgs_store_entity__: "COLLATZ_RESULTS", key: "k", value: 1 }), config, metadata: md }, ctx);
    };
    mkdirSync(join(root, COLLATZ_DIR), { recursive: true });
    // A pid no process has: above the kernel's pid_max (at most 2^22), within the scheme's range.
    const gonePid = 2 ** 22 + 1;
    const first = `.${DOC}.${gonePid}.0.tmp`;
    writeFileSync(join(root, COLLATZ_DIR, first), "x");
    call("READ", ctxA); // a read sweeps too
    expect(existsSync(join(root, COLLATZ_DIR, first))).toBe(false);
    const second = `.${DOC}.${gonePid}.1.tmp`;
    writeFileSync(join(root, COLLATZ_DIR, second), "x");
    call("WRITE", ctxA);
    expect(readdirSync(join(root, COLLATZ_DIR)).sort()).toEqual([second, DOC].sort());
    call("READ", createEffectContext({ dataRoot: root, traceId: "B" }));
    expect(readdirSync(join(root, COLLATZ_DIR))).toEqual([DOC]);
  });
});
