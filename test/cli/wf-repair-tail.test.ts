/**
 * `cairn wf repair-tail`: the operator's way out of a torn JSON-lines data-root file (a run
 * killed in the middle of an append). Runs refuse such a file and name the command; the command
 * truncates the file to its last complete line under the data root's lock, says what it removed,
 * and refuses anything it must not touch.
 */
import { appendFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireDataRootLock } from "../../src/workflow/effects/data-root-lock.js";
import { cairn, json, jsonError, sha256Hex, type RunResult } from "./helpers.js";
import { payload, scratchPerTest, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const REGISTRY = "ai_governance/ai_licensing/license_registry.json";
const AUDIT = "ai_governance/ai_licensing/audit_log.jsonl";
const PROVISION = payload("ai_licensing/provision_ai_licensing_payload.json");
const DENY = payload("ai_licensing/deny_provision_payload.json");
/** The environment variables that would choose a data root or workspace behind the test's back. */
const NO_ENV = { PGS_DATA_ROOT: undefined, PGS_WORKSPACE: undefined };

const { box } = scratchPerTest({}); // fresh, unseeded data roots, removed after each test

function wfRun(b: Sandbox, wf: string, file: string, extra: string[] = []): RunResult {
  return cairn(["wf", "run", "--no-render", "--workspace", "workspace", "--wf", wf, "--payload", file, "--data-root", "data", ...extra], { cwd: b.root, env: NO_ENV });
}

function repair(b: Sandbox, args: string[], env: Record<string, string | undefined> = NO_ENV): RunResult {
  return cairn(["wf", "repair-tail", ...args], { cwd: b.root, env });
}

const bytesOf = (b: Sandbox, rel: string): Buffer => readFileSync(join(b.dataRoot, rel));


describe("a torn registry: BACKEND_ERROR naming the repair, repaired, the next run succeeds", () => {
  it("human and --json", () => {
    const b = box();
    expect(wfRun(b, WF.provision, PROVISION).status).toBe(0);
    const clean = bytesOf(b, REGISTRY);
    const torn = '{"key": "e-9", "address": "ADDR_';
    appendFileSync(join(b.dataRoot, REGISTRY), torn);

    // The registry refuses the file with a bare BACKEND_ERROR (as the reference): the CLI names the file and the repair.
    const failed = wfRun(b, WF.provision, PROVISION);
    expect(failed.status).toBe(1);
    expect(failed.out).toContain("status: BACKEND_ERROR");
    const command = `cairn wf repair-tail --data-root data ${REGISTRY}`;
    expect(failed.out).toContain(
      `note: "${REGISTRY}" ends in a torn line (${torn.length} bytes after offset ${clean.length} without a newline, an interrupted append): runs refuse it until it is repaired with: ${command}`,
    );
    const j = json<{ status: string; tornFiles: unknown[] }>(wfRun(b, WF.provision, PROVISION, ["--json"]));
    expect(j.status).toBe("BACKEND_ERROR");
    expect(j.tornFiles).toEqual([{ path: REGISTRY, offset: clean.length, bytes: torn.length, repair: command }]);
    expect(bytesOf(b, REGISTRY).toString()).toBe(`${clean.toString()}${torn}`); // refused, not touched

    const fixed = repair(b, ["--data-root", "data", REGISTRY]);
    expect(fixed.err).toBe("");
    expect(fixed.status).toBe(0);
    expect(fixed.out).toBe(
      `${REGISTRY}: removed the torn last line: ${torn.length} bytes after offset ${clean.length} (${sha256Hex(torn)})\n` +
        `  removed bytes: ${JSON.stringify(torn)}\n` +
        `  the file now ends with its last complete line (${clean.length} bytes)\n`,
    );
    expect(bytesOf(b, REGISTRY).equals(clean)).toBe(true);

    const next = wfRun(b, WF.provision, PROVISION, ["--json"]);
    expect(next.status).toBe(0);
    const after = json<{ status: string; tornFiles?: unknown }>(next);
    expect(after.status).toBe("ALREADY_EXISTS"); // the registry is usable again: the key is known
    expect(after.tornFiles).toBeUndefined();

    // Again: nothing to repair, nothing changed.
    const again = repair(b, ["--data-root", "data", REGISTRY, "--json"]);
    expect(again.status).toBe(0);
    expect(json(again)).toEqual({ dataRoot: "data", path: REGISTRY, repaired: false, removedBytes: 0, size: clean.length });
    expect(repair(b, ["--data-root", "data", REGISTRY]).out).toBe(`${REGISTRY}: ends with a complete line (${clean.length} bytes): nothing to repair\n`);
    expect(bytesOf(b, REGISTRY).equals(clean)).toBe(true);
  });
});

describe("a torn append-only log: E_STORE_CORRUPT naming the repair, repaired, the next run succeeds", () => {
  it("the refusal names the command; --json reports what was removed (the first bytes, bounded)", () => {
    const b = box();
    expect(wfRun(b, WF.deny, DENY).status).toBe(0);
    const clean = bytesOf(b, AUDIT);
    // A long torn record, cut inside a multi-byte character.
    const torn = Buffer.concat([Buffer.from(`{"record_id": "x", "pad": "${"é".repeat(100)}`), Buffer.from([0xc3])]);
    appendFileSync(join(b.dataRoot, AUDIT), torn);

    const failed = wfRun(b, WF.deny, DENY, ["--json"]);
    expect(failed.status).toBe(1);
    const err = jsonError(failed);
    expect(err.code).toBe("E_STORE_CORRUPT");
    expect(err.message).toBe(
      `Runtime error: "${AUDIT}" ends in a torn line (${torn.length} bytes after offset ${clean.length} without a newline, an interrupted append): ` +
        `refusing to use it; repair it with \`cairn wf repair-tail --data-root <data root> "${AUDIT}"\` or repairTornTail (truncates to ${clean.length} bytes)`,
    );

    const fixed = repair(b, ["--data-root", "data", AUDIT, "--json"]);
    expect(fixed.status).toBe(0);
    expect(json(fixed)).toEqual({
      dataRoot: "data",
      path: AUDIT,
      repaired: true,
      removedBytes: torn.length,
      removedDigest: sha256Hex(torn),
      // The first 64 bytes: 27 ASCII, then 18 "é" (2 bytes each) and the first byte of the next: U+FFFD.
      removedHead: `{"record_id": "x", "pad": "${"é".repeat(18)}\ufffd`,
      size: clean.length,
    });
    expect(bytesOf(b, AUDIT).equals(clean)).toBe(true);
    const next = wfRun(b, WF.deny, DENY, ["--json"]);
    expect(next.status).toBe(0);
    expect(json<{ status: string }>(next).status).toBe("SUCCESS");
  });
});

describe("refusals leave every file as it was", () => {
  it("a file name holding control characters is printed escaped (2026-11-28: it reached the terminal raw)", () => {
    const b = box();
    const name = "t\u001b[2Jx.jsonl";
    writeFileSync(join(b.dataRoot, name), '{"a": 1}\n{"b"');
    const r = repair(b, ["--data-root", "data", name]);
    expect(r.status, r.err).toBe(0);
    expect(r.out.split("\n")[0]).toBe('t\\u001b[2Jx.jsonl: removed the torn last line: 4 bytes after offset 9 (' + sha256Hex('{"b"') + ")");
    expect(r.out).not.toContain("\u001b");
  });

  it("paths outside the data root, a symlink, a missing file, a directory", () => {
    const b = box();
    expect(wfRun(b, WF.deny, DENY).status).toBe(0);
    appendFileSync(join(b.dataRoot, AUDIT), '{"x": 1');
    const before = bytesOf(b, AUDIT);
    writeFileSync(join(b.root, "outside.jsonl"), '{"a": 1}\n{"b"');
    symlinkSync(join(b.root, "outside.jsonl"), join(b.dataRoot, "link.jsonl"));
    symlinkSync(join(b.dataRoot, AUDIT), join(b.dataRoot, "inside-link.jsonl"));
    const cases: Array<[string, string, string]> = [
      ["../outside.jsonl", "E_PATH_CONFINEMENT", `path confinement: "../outside.jsonl" contains a '..' segment`],
      [join(b.root, "outside.jsonl"), "E_PATH_CONFINEMENT", `path confinement: ${JSON.stringify(join(b.root, "outside.jsonl"))} is outside the data root`],
      ["link.jsonl", "E_PATH_CONFINEMENT", `path confinement: "link.jsonl" is a symlink (a symlinked final component is never followed)`],
      ["inside-link.jsonl", "E_PATH_CONFINEMENT", `path confinement: "inside-link.jsonl" is a symlink (a symlinked final component is never followed)`],
      ["nothere.jsonl", "E_NOT_FOUND", `no file "nothere.jsonl" under the data root data`],
      ["ai_governance", "E_STORE_IO", `cannot read "ai_governance": not a regular file`],
    ];
    for (const [file, code, message] of cases) {
      const r = repair(b, ["--data-root", "data", file, "--json"]);
      expect([file, r.status, r.out]).toEqual([file, 1, ""]);
      expect([file, jsonError(r).code, jsonError(r).message]).toEqual([file, code, message]);
    }
    expect(bytesOf(b, AUDIT).equals(before)).toBe(true);
    expect(readFileSync(join(b.root, "outside.jsonl"), "utf8")).toBe('{"a": 1}\n{"b"');
    // An absolute path inside the data root is accepted.
    const abs = repair(b, ["--data-root", "data", join(b.dataRoot, AUDIT), "--json"]);
    expect(abs.status).toBe(0);
    expect(json<{ path: string; removedBytes: number }>(abs)).toMatchObject({ path: AUDIT, removedBytes: 7 });
  });

  it("a mutable JSON document (no trailing newline by design) is refused: E_INVALID_INPUT not_json_lines", () => {
    const b = box();
    const docs: Record<string, string> = { "m/state.json": '{\n  "k": 1,\n  "n": [\n    2\n  ]\n}', "m/empty.json": "{}" };
    for (const [rel, text] of Object.entries(docs)) {
      const p = join(b.dataRoot, rel);
      mkdirSync(join(p, ".."), { recursive: true });
      writeFileSync(p, text);
      const r = repair(b, ["--data-root", "data", rel, "--json"]);
      expect(r.status).toBe(1);
      expect(jsonError(r)).toMatchObject({ code: "E_INVALID_INPUT", details: { reason: "not_json_lines", path: rel } });
      expect(jsonError(r).message).toMatch(/^refusing to repair "m\/(state|empty)\.json": it is (one multi-line JSON document|a single unterminated line in the pretty form of a CS_MUTABLE_JSON_V0 document) .*; nothing was changed$/);
      expect(readFileSync(p, "utf8")).toBe(text);
    }
  });

  it("usage errors (exit 2): an empty <file> or --data-root, no data root at all", () => {
    const b = box();
    const empty = repair(b, ["--data-root", "data", ""]);
    expect([empty.status, empty.err]).toEqual([2, "cairn: argument <file> must not be empty [E_USAGE]\n"]);
    const emptyRoot = repair(b, ["--data-root", "", AUDIT]);
    expect([emptyRoot.status, emptyRoot.err]).toEqual([2, "cairn: --data-root must not be empty [E_USAGE]\n"]);
    const none = repair(b, [AUDIT]);
    expect([none.status, none.err]).toEqual([2, "cairn: --data-root <dir> (or $PGS_DATA_ROOT, or --workspace / $PGS_WORKSPACE) is required [E_USAGE]\n"]);
    // The data root as for `wf run`: $PGS_DATA_ROOT, else <workspace>/data.
    expect(repair(b, [AUDIT], { PGS_DATA_ROOT: "data", PGS_WORKSPACE: undefined }).err).toBe(`cairn: no file "${AUDIT}" under the data root data [E_NOT_FOUND]\n`);
    expect(repair(b, ["--workspace", "workspace", AUDIT]).err).toBe(`cairn: no file "${AUDIT}" under the data root workspace/data [E_NOT_FOUND]\n`);
  });

  it("takes the data root's lock like a run: E_DATA_ROOT_LOCKED while another holder has it, the file untouched", () => {
    const b = box();
    expect(wfRun(b, WF.deny, DENY).status).toBe(0);
    appendFileSync(join(b.dataRoot, AUDIT), '{"x": 1');
    const before = bytesOf(b, AUDIT);
    const lock = acquireDataRootLock(b.dataRoot);
    try {
      const r = repair(b, ["--data-root", "data", AUDIT, "--data-root-wait", "0", "--json"]);
      expect(r.status).toBe(1);
      expect(jsonError(r).code).toBe("E_DATA_ROOT_LOCKED");
      expect(bytesOf(b, AUDIT).equals(before)).toBe(true);
    } finally {
      lock.release();
    }
    expect(repair(b, ["--data-root", "data", AUDIT]).status).toBe(0);
    expect(bytesOf(b, AUDIT).length).toBe(before.length - 7);
  });
});

