/**
 * The data root's mutable documents under the shared temp-file rule (store/temp-files.ts,
 * ARCHITECTURE §5.16): `replaceAtomic` names its temp `.<name>.<pid>-<pid space>-<16 hex>.tmp`,
 * and a run's first call on a document removes a dead writer's of this pid space — never one
 * named as if from another pid space (a container sharing the data root), whose pid says nothing
 * here. Legacy pid-only names keep their rule (effects-temp-sweep.test.ts).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, watch, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MUTABLE_RUNTIME, createEffectContext } from "../../src/workflow/effects/index.js";
import { tempFileWriter } from "../../src/workflow/effects/fsio.js";
import { pidSpace, writerTempName } from "../../src/store/temp-files.js";
import { dict } from "./py-literal.js";
import { scratchPerTest } from "./pgs-fixture.js";

const { dir } = scratchPerTest();
const DOC_DIR = "doc";
const DOC = "state.json";
const SPACE = pidSpace() as string;
const OTHER = SPACE === "00000000" ? "00000001" : "00000000";
const HEX = "0123456789abcdef";
/** Safety net for file-system events that never come (not a speed assertion). */
const WATCH_LIMIT_MS = 10_000;

/** One call of the mutable runtime on `root/doc/state.json`, in a fresh run (effect context). */
function call(root: string, op: "READ" | "WRITE"): void {
  const config = dict({
    module_data_root: root,
    storage_structure_artifact: { frontmatter: { core: { entity_stores: { E: { path: `${DOC_DIR}/${DOC}` } } } } },
  });
  const md = new Map([["capability", new Map()], ["operations", new Map()]]);
  MUTABLE_RUNTIME.execute({ op, payload: dict({ __pgs_store_entity__: "E", key: "k", value: 1 }), config, metadata: md }, createEffectContext({ dataRoot: root, traceId: "T" }));
}

describe("mutable documents' temp files (fsio.ts) under the shared rule", () => {
  it("a write's temp file is named by the rule, and the sweep reads its writer back", async () => {
    const root = dir("cairn-pidspace-sweep-");
    mkdirSync(join(root, DOC_DIR));
    const tagged = new RegExp(`^\\.state\\.json\\.${process.pid}-${SPACE}-[0-9a-f]{16}\\.tmp$`);
    const seen: string[] = [];
    const w = watch(join(root, DOC_DIR));
    try {
      const found = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no temp file seen; saw ${seen.join(", ")}`)), WATCH_LIMIT_MS);
        w.on("change", (_t, name) => {
          if (typeof name !== "string") return;
          seen.push(name);
          if (tagged.test(name)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      call(root, "WRITE");
      await found;
    } finally {
      w.close();
    }
    const temp = seen.find((n) => tagged.test(n)) as string;
    expect(tempFileWriter(temp, DOC)).toBe(process.pid);
    expect(readdirSync(join(root, DOC_DIR))).toEqual([DOC]);
  });

  it("a run's first call removes a dead writer's temp of this pid space; another pid space's, a live one's and this process's stay", () => {
    const root = dir("cairn-pidspace-sweep-");
    const docDir = join(root, DOC_DIR);
    mkdirSync(docDir);
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number; // exited
    const prefix = `.${DOC}.`;
    const swept = writerTempName(prefix, dead, SPACE, HEX);
    const kept = [
      writerTempName(prefix, dead, OTHER, HEX), // a container sharing the data root: its pid says nothing here
      writerTempName(prefix, process.ppid, SPACE, HEX), // runs
      writerTempName(prefix, process.pid, SPACE, HEX), // this process
      writerTempName(".other.json.", dead, SPACE, HEX), // another document's
    ];
    for (const n of [swept, ...kept]) writeFileSync(join(docDir, n), "{\n  \"k\": ");
    call(root, "READ");
    expect(readdirSync(docDir).sort()).toEqual(kept.sort());
  });
});
