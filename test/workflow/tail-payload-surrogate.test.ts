/**
 * A sealed Cairn snapshot run refuses a payload holding a lone surrogate before any effect
 * (before: REGISTER wrote it, the profile WRITE aborted, every retry ALREADY_EXISTS — half
 * applied for good); `cairn serve` answers 400 for such a snapshot payload; a PGS workspace
 * request keeps the reference's acceptance.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { parseRunRequest } from "../../src/server/request.js";
import { HttpError } from "../../src/server/target.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { LONE_SURROGATE_REASON as PAYLOAD_REASON, payloadLoneSurrogatePath } from "../../src/workflow/cairn/payload-text.js";
import { LONE_SURROGATE_REASON as CORE_REASON } from "../../src/core/lone-surrogate.js";
import { loneSurrogatePath } from "../../src/plane/contracts/base.js";
import { LONE_SURROGATE_REASON as NODE_REASON } from "../../src/plane/node/node.js";
import { openStore } from "../../src/store/store.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { prepareSnapshot, runCairnWorkflow, runRecordedCairnWorkflow } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { parsePayloadBytes } from "../../src/workflow/pgs/run.js";
import { EXAMPLES, tempDir } from "./cairn-fixture.js";

/** The payload as `wf run --payload` reads it: JSON text, with the escape as sent. */
const TEXT = '{"agent_name":"agent4","owner_email":"a@b\\ud800.c","scopes":["read"]}';

describe("a sealed snapshot run's payload with a lone surrogate", () => {
  it("is refused before anything runs: E_INVALID_INPUT naming $.owner_email, no effect, no trace", async () => {
    const c = await compileWorkflows([EXAMPLES]);
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap"));
    const dir = tempDir();
    const p = parsePayloadBytes(Buffer.from(TEXT), "p.json", { uniqueKeys: true });
    let err: unknown;
    try {
      runCairnWorkflow({ snapshot: snap, payload: p, dataRoot: join(dir, "data"), baseDir: dir });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe("E_INVALID_INPUT");
    expect((err as CairnError).details).toMatchObject({ field: "payload", path: "$.owner_email", reason: "lone_surrogate" });
    expect((err as CairnError).message).toContain("$.owner_email holds a lone surrogate");
    // Nothing was applied (no registry line) and no trace was written.
    const data = join(dir, "data");
    expect(existsSync(data) ? readdirSync(data, { recursive: true }).filter((f) => String(f).endsWith(".jsonl")) : []).toEqual([]);
    expect(existsSync(join(dir, "traces"))).toBe(false);
  });

  it("names strings in arrays and member names; a well-formed pair passes", () => {
    const path = (t: string) => payloadLoneSurrogatePath(parsePayloadBytes(Buffer.from(t), "p.json"));
    expect(path('{"a":{"tags":["ok","x\\udc00"]}}')).toBe("$.a.tags[1]");
    expect(path('{"ok":1,"k\\ud800":1}')).toBe('$["k\\ud800"]');
    expect(path('{"a":"\\ud83d\\ude00","b":["\\ud83d\\ude00"]}')).toBeNull();
  });
});

describe("one lone-surrogate walker for contract values and payloads", () => {
  it("walks plain objects and Maps alike, in order, member names at their member; iteratively (a deep value does not exhaust the stack)", () => {
    expect(loneSurrogatePath({ a: [1, "ok", { "k\ud800": null }] })).toEqual(["a", 2, "k\ud800"]);
    expect(loneSurrogatePath(new Map<string, unknown>([["a", [1, new Map([["b", "x\udc00"]])]]]))).toEqual(["a", 1, "b"]);
    expect(loneSurrogatePath({ a: "\ud83d\ude00", b: [{ c: "ok" }], d: "\udc00" })).toEqual(["d"]);
    let deep: unknown = "\ud800";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(loneSurrogatePath(deep)?.length).toBe(100_000);
    expect([CORE_REASON, NODE_REASON, PAYLOAD_REASON]).toEqual(["lone_surrogate", "lone_surrogate", "lone_surrogate"]);
  });
});

describe("a recorded run whose payload holds a lone surrogate (recorded before runs refused it)", () => {
  it("replays as it was recorded: the check is a new run's, not a replay's", async () => {
    const c = await compileWorkflows([EXAMPLES]);
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "snap"));
    const dir = tempDir();
    const p = parsePayloadBytes(Buffer.from(TEXT), "p.json", { uniqueKeys: true });
    const storeDir = join(dir, "store");
    // Recorded as a run before the check recorded it: the payload taken as it is.
    const store = openStore({ dir: storeDir, create: true });
    let r;
    try {
      r = runRecordedCairnWorkflow({ snapshot: snap, payload: p, dataRoot: join(dir, "data"), baseDir: dir, store });
    } finally {
      store.close();
    }
    expect(r.recorded).not.toBeNull();
    const ro = openStore({ dir: storeDir, readOnly: true });
    try {
      expect(replayCairnRun(ro, r.traceId)).toMatchObject({ identical: true, traceId: r.traceId, status: r.status, replayedTrace: r.digests.trace });
    } finally {
      ro.close();
    }
  });
});

describe("cairn serve: POST /api/run", () => {
  const body = Buffer.from(`{"workflow_code":"registry::WF_REGISTER_AGENT_V0","payload":${TEXT}}`);
  it("a sealed snapshot's request is a 400 naming the path", () => {
    let err: unknown;
    try {
      parseRunRequest(body, {}, true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).statusCode).toBe(400);
    expect((err as HttpError).message).toContain("$.owner_email holds a lone surrogate");
  });
  it("a PGS workspace's request is accepted as the reference accepts it", () => {
    expect(parseRunRequest(body, {}, false).payload.get("owner_email")).toBe("a@b\ud800.c");
  });
});
