/**
 * The registry's rebuilt state is cached across calls and runs of a process (effects/registry.ts
 * `REGISTRY_STATE`, filecache.ts): a value RESOLVE hands out must not be a reference into it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REGISTRY_RUNTIME, createEffectContext, type CsResult } from "../../src/workflow/effects/index.js";
import { isDict, isList, type PyDict } from "../../src/workflow/py/value.js";
import { dict } from "./py-literal.js";
import { scratchPerTest } from "./pgs-fixture.js";

const { dir } = scratchPerTest();
const MD = new Map([["capability", new Map()], ["operations", new Map()]]);

describe("CS_REGISTRY_V0 RESOLVE and the cached state", () => {
  it("a caller changing a resolved target_cs / target_ref in place does not change what later calls and runs resolve", () => {
    const root = dir("cairn-reg-cache-");
    const config = dict({ path: `${root}/reg.jsonl` });
    const call = (op: string, payload: PyDict, traceId: string): CsResult =>
      REGISTRY_RUNTIME.execute({ op, payload, config, metadata: MD }, createEffectContext({ dataRoot: root, traceId }));
    const reg = call("REGISTER", dict({ key: "k", target_cs: { nested: [1, 2], name: "x" }, target_ref: ["r"] }), "R");
    expect(reg.outcome).toBe("SUCCESS");
    const fileBefore = readFileSync(join(root, "reg.jsonl"), "utf8");
    const first = call("RESOLVE", dict({ key_or_address: "k" }), "A");
    expect(first.outcome).toBe("SUCCESS");
    const cs = first.result.get("target_cs");
    const ref = first.result.get("target_ref");
    if (!isDict(cs) || !isList(ref)) throw new Error("expected an object and a list");
    // What a consumer that changes its inputs in place would do.
    cs.set("name", "changed");
    const nested = cs.get("nested");
    if (!isList(nested)) throw new Error("expected a list");
    nested.push(3n);
    ref.length = 0;
    // The file is unchanged, so the next run's RESOLVE is answered from the cached state.
    const second = call("RESOLVE", dict({ key_or_address: "k" }), "B");
    expect(second.result).toEqual(dict({ result_status: "SUCCESS", target_cs: { nested: [1, 2], name: "x" }, target_ref: ["r"] }));
    expect(readFileSync(join(root, "reg.jsonl"), "utf8")).toBe(fileBefore);
  });
});
