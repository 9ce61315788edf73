/**
 * The gateway's bounds on what it sends and what it decodes, over real HTTP (src/server/app.ts):
 * a 200 larger than maxResponseBytes (MAX_RESPONSE_BYTES) is a 500 naming the size, the limit
 * and the run's trace (the run happened); a body that is not UTF-8 is a 400 naming the offset of
 * its first bad byte (it used to be decoded with U+FFFD and run).
 */
import { isUtf8 } from "node:buffer";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLOSE_RESPONSE_DEADLINE_MS, MAX_BODY_BYTES, MAX_RESPONSE_BYTES } from "../../src/server/index.js";
import { firstInvalidUtf8 } from "../../src/core/utf8.js";
import { COLLATZ_MAX_TOTAL_DIGITS, COLLATZ_MAX_TOTAL_VALUES } from "../../src/workflow/atoms/index.js";
import { WF } from "../workflow/pgs-fixture.js";
import { gatewayScratch } from "./fixture.js";

const { box, serve } = gatewayScratch();

async function post(url: string, body: string | Buffer): Promise<{ status: number; text: string; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", body });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

describe("the response size bound", () => {
  const body = JSON.stringify({ workflow_code: WF.collatz, payload: { numbers: [27, 97] } });

  it("an answer over maxResponseBytes is a 500 naming its size, the limit, the status and the trace of the run, which did happen", async () => {
    // The answer's size, from a server with the default limit (the run is deterministic: same trace id on a fresh sandbox).
    const { url: refUrl } = await serve(box());
    const ref = await post(refUrl, body);
    expect(ref.status).toBe(200);
    expect(ref.body.status).toBe("SUCCESS");
    const size = Buffer.byteLength(ref.text);

    // Only duration_ms (wall-clock) varies between runs: a few characters at most.
    const JITTER = 16;
    const b = box();
    const limit = size - 4 * JITTER;
    const { url } = await serve(b, { maxResponseBytes: limit });
    const r = await post(url, body);
    expect(r.status).toBe(500);
    expect(Object.keys(r.body)).toEqual(["status", "error", "trace_id", "workflow_code"]);
    expect(r.body.status).toBe("ERROR");
    expect(r.body.trace_id).toBe(ref.body.trace_id);
    expect(r.body.workflow_code).toBe(WF.collatz);
    const m = new RegExp(
      `^Response too large: the answer to this run is (\\d+) bytes, over the ${limit}-byte response limit \\(MAX_RESPONSE_BYTES\\); ` +
        `the run itself completed with status SUCCESS: its effects are applied and its trace ${String(ref.body.trace_id)} is written — only this answer is withheld$`,
    ).exec(r.body.error as string);
    expect(m).not.toBeNull();
    expect(Math.abs(Number(m?.[1]) - size)).toBeLessThan(JITTER);
    // The run happened: its trace is complete.
    const trace = join(b.workspace, "traces/ai_governance/WF_DEMO_COLLATZ_CONJECTURE_V0", String(ref.body.trace_id), `${String(ref.body.trace_id)}.jsonl`);
    expect(existsSync(trace)).toBe(true);
    expect(readFileSync(trace, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { event_type: string }).event_type).at(-1)).toBe("WF_COMPLETE");

    // An answer within the limit is sent whole.
    const { url: okUrl } = await serve(box(), { maxResponseBytes: size + 4 * JITTER });
    const ok = await post(okUrl, body);
    expect(ok.status).toBe(200);
    expect(ok.text).toBe(ref.text.replace(/"duration_ms":[0-9.e-]+/, `"duration_ms":${String(ok.body.duration_ms)}`));
  });

  it("MAX_RESPONSE_BYTES admits every answer the Collatz bounds admit, and stays within what close() is sized for", () => {
    // Digits, a separator and two brackets per value (at worst one sequence per value), the
    // payload's numbers echoed (≤ the body), and the envelope.
    const collatzMax = COLLATZ_MAX_TOTAL_DIGITS + 3 * COLLATZ_MAX_TOTAL_VALUES + MAX_BODY_BYTES + 1024;
    expect(MAX_RESPONSE_BYTES).toBeGreaterThan(collatzMax);
    expect(MAX_RESPONSE_BYTES).toBeLessThanOrEqual((CLOSE_RESPONSE_DEADLINE_MS / 1000) * 1024 * 1024); // 1 MiB/s until the deadline
  });
});

describe("a body that is not UTF-8", () => {
  it.each([
    ["a lone 0xFF", [0x7b, 0xff, 0x7d], 1, "0xff 0x7d"],
    ["a continuation byte first", [0x7b, 0x22, 0x80], 2, "0x80"],
    ["an overlong '/' (C0 AF)", [0x7b, 0xc0, 0xaf, 0x7d], 1, "0xc0 0xaf 0x7d"],
    ["a surrogate (ED A0 80)", [0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22], 2, "0xed 0xa0 0x80 0x22"],
    ["above U+10FFFF (F4 90 80 80)", [0x7b, 0xf4, 0x90, 0x80, 0x80], 1, "0xf4 0x90 0x80 0x80"],
    ["a sequence cut short at the end (E2 82)", [0x7b, 0x22, 0xc3, 0xa9, 0xe2, 0x82], 4, "0xe2 0x82"],
  ])("%s: 400 naming the offset of the first bad byte; nothing runs", async (_what, bytes, offset, shown) => {
    const b = box();
    const { url } = await serve(b);
    const r = await post(url, Buffer.from(bytes));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ status: "ERROR", error: `Invalid JSON body: the request body is not valid UTF-8 (byte offset ${offset}: ${shown})` });
    expect(existsSync(join(b.workspace, "traces"))).toBe(false);
  });

  it("firstInvalidUtf8 agrees with Node's isUtf8 on every 1..3-byte string and on random bytes", () => {
    const wrong: string[] = [];
    const check = (buf: Buffer): void => {
      const at = firstInvalidUtf8(buf);
      // -1 exactly for UTF-8; else everything before `at` is UTF-8, and no valid sequence starts at it.
      const ok = at === -1
        ? isUtf8(buf)
        : !isUtf8(buf) && isUtf8(buf.subarray(0, at)) && [1, 2, 3, 4].every((n) => at + n > buf.length || !isUtf8(buf.subarray(at, at + n)));
      if (!ok) wrong.push(`${buf.toString("hex")} → ${at}`);
    };
    for (let a = 0; a < 256; a++) {
      check(Buffer.from([a]));
      for (let c = 0; c < 256; c++) {
        check(Buffer.from([a, c]));
        if (a >= 0xe0 && a <= 0xf4) for (const d of [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff]) check(Buffer.from([a, c, d]));
      }
    }
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 20_000; i++) {
      const len = 1 + (i % 12);
      // Mostly valid text with a stray byte now and then.
      check(Buffer.concat([Buffer.from("é€😀a".repeat(i % 3)), Buffer.from(Array.from({ length: len }, next))]));
    }
    expect(wrong).toEqual([]);
  });
});
