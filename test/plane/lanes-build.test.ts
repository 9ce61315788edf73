import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { buildLane, buildLaneFromSpec, LANE_KINDS, laneSpecSchema } from "../../src/plane/lanes/index.js";
import { exec } from "./fixtures/lanes/harness.js";

function errorOf(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    return err as CairnError;
  }
  throw new Error("did not throw");
}

describe("buildLane / buildLaneFromSpec", () => {
  it("lists the lane kinds", () => {
    expect(LANE_KINDS).toEqual(["inline", "worker", "process", "http", "jsonrpc", "sse", "websocket"]);
  });

  it("builds every kind from a bare name except jsonrpc (which needs a transport)", () => {
    for (const kind of LANE_KINDS.filter((k) => k !== "jsonrpc")) {
      const lane = buildLaneFromSpec(kind);
      expect(lane.id).toBe(kind);
      expect(lane.capabilities().lane_id).toBe(kind);
    }
    expect(errorOf(() => buildLaneFromSpec("jsonrpc")).message).toBe("lane jsonrpc: $.transport: Required");
  });

  it("builds from an object spec with options and a custom id", async () => {
    const lane = buildLaneFromSpec({ kind: "process", id: "shell-free", max_output_bytes: 4 });
    expect(lane.id).toBe("shell-free");
    const { outcome } = await exec(lane, "run", { command: "echo", argv: ["123456"] });
    expect(outcome.output).toMatchObject({ stdout: "1234", stdout_truncated: true });
  });

  it("errors are E_INVALID_INPUT naming the field", () => {
    const e = errorOf(() => buildLane("process", { max_output_bytes: -1 }));
    expect(e).toBeInstanceOf(CairnError);
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toBe("lane process: $.max_output_bytes: Number must be greater than 0");
    expect(e.details).toEqual({ lane_kind: "process", path: "$.max_output_bytes" });
    expect(errorOf(() => buildLane("http", { allowed_methods: ["GET", "BREW"] })).message).toMatch(/^lane http: \$\.allowed_methods\[1\]: /);
    expect(errorOf(() => buildLane("http", { retries: 3 })).message).toBe("lane http: $.retries: unknown key");
    expect(errorOf(() => buildLane("ftp")).message).toBe("lane ftp: $.kind: unknown lane kind (known: inline, worker, process, http, jsonrpc, sse, websocket)");
    expect(errorOf(() => buildLaneFromSpec({ id: "x" })).message).toBe("lane: $.kind: is required");
    expect(errorOf(() => buildLaneFromSpec(42)).message).toBe("lane: $: must be a lane kind or an object with kind");
  });

  it("resolves relative paths against baseDir", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-build-"));
    const fixtures = new URL("./fixtures/lanes/", import.meta.url).pathname;
    const lane = buildLane("jsonrpc", { transport: { kind: "stdio", command: process.execPath, argv: [join(fixtures, "peer.mjs")], cwd: "sub/.." } }, { baseDir: dir });
    expect((await exec(lane, "call", { method: "env" })).outcome.output).toEqual({ result: { peer: null, cwd: dir } });
    const worker = buildLane("worker", { modules: { add: { module: "worker-fns.mjs", export: "add" } } }, { baseDir: fixtures });
    expect((await exec(worker, "add", { a: 1, b: 1 })).outcome.output).toMatchObject({ sum: 2 });
  });

  it("takes inline functions from the build context", async () => {
    const lane = buildLane("inline", {}, { inlineFunctions: { hello: () => "world" } });
    expect((await exec(lane, "hello", {})).outcome.output).toBe("world");
  });

  it("laneSpecSchema accepts names and objects", () => {
    expect(laneSpecSchema.safeParse("http").success).toBe(true);
    expect(laneSpecSchema.safeParse({ kind: "process", max_output_bytes: 1 }).success).toBe(true);
    expect(laneSpecSchema.safeParse("ftp").success).toBe(false);
  });
});
