/**
 * User-acceptance finding F3 of 2026-11-27 (uatC): the JSONL evidence sink on a full disk. An
 * append lands whole or not at all: a short write followed by ENOSPC/EFBIG is truncated away
 * again (never another writer's record), and a file that ends in a torn line (a crash or SIGKILL
 * mid-append) is refused before anything is appended to it — `E_STORE_CORRUPT`
 * `torn_jsonl_tail`, naming the line, the offset and the repair — so a later record is never
 * glued onto a partial one. The library through an injected `writeSync`; the built CLI under a
 * file-size limit (`ulimit -f`: a write past it is cut short, then fails with EFBIG).
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import type { Evidence } from "../../src/plane/contracts/execution.js";
import { JsonlEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { TAIL_SCAN_CHUNK_BYTES } from "../../src/plane/evidence/jsonl-tail.js";
import { EchoLane, harness, request, scratchDir } from "./node-helpers.js";
import { CLI, TempDirs, cairn, PLANE_PROCESS_REQUEST } from "../cli/helpers.js";
import { cairnErrorOf } from "../cairn-error-of.js";

const hook = vi.hoisted(() => ({
  /**
   * When set, called instead of the next `writeSync` (then cleared): it gets the real function and
   * the call's arguments.
   */
  write: undefined as undefined | ((real: (fd: number, buf: Uint8Array, off: number, len: number) => number, fd: number, buf: Uint8Array, off: number, len: number) => number),
}));

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const writeSync = ((fd: number, buf: Uint8Array, off?: number, len?: number, pos?: number) => {
    const w = hook.write;
    if (w !== undefined && typeof off === "number" && typeof len === "number") {
      return w((f, b, o, l) => real.writeSync(f, b, o, l), fd, buf, off, len);
    }
    return (real.writeSync as (...a: unknown[]) => number)(fd, buf, off, len, pos);
  }) as typeof real.writeSync;
  return { ...real, writeSync, default: { ...real, writeSync } };
});

function enospc(): Error {
  return Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
}

/** A short write of `keep` bytes, then ENOSPC for every further write of this append. */
function shortThenFull(keep: number, before?: () => void): void {
  let calls = 0;
  hook.write = (real, fd, buf, off, len) => {
    calls++;
    if (calls === 1) {
      before?.();
      return real(fd, buf, off, Math.min(keep, len));
    }
    hook.write = undefined;
    throw enospc();
  };
}


async function records(n: number): Promise<Evidence[]> {
  const h = harness({ lane: new EchoLane("echo") });
  await h.node.execute(request(h));
  expect(h.sink.records.length).toBeGreaterThanOrEqual(n);
  return h.sink.records.slice(0, n) as Evidence[];
}

/** Every line of `path` is one JSON object and the file ends in a newline. */
function parsedLines(path: string): unknown[] {
  const text = readFileSync(path, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((l) => JSON.parse(l) as unknown);
}

describe("F3: a failed append leaves no partial record", () => {
  it("a short write then ENOSPC is E_STORE_IO and the file is cut back to its old bytes; the next append is whole", async () => {
    const [a, b, c] = await records(3);
    const path = join(scratchDir(), "ev.jsonl");
    const sink = new JsonlEvidenceSink(path);
    sink.emit(a!);
    const before = readFileSync(path);
    shortThenFull(50);
    const err = cairnErrorOf(() => sink.emit(b!));
    expect(hook.write).toBeUndefined(); // the injected short write and ENOSPC both happened
    expect(err.code).toBe("E_STORE_IO");
    expect(err.message).toBe(`cannot write evidence file ${path}: ENOSPC: no space left on device`);
    expect(err.details).toEqual({ path, code: "ENOSPC" });
    expect(readFileSync(path).equals(before)).toBe(true); // before the fix: 50 bytes of b without a newline
    sink.emit(c!);
    expect(readFileSync(path, "utf8")).toBe(`${canonicalize(a)}\n${canonicalize(c)}\n`);
    expect(parsedLines(path)).toHaveLength(2);
  });

  it("a failed first append leaves an empty file (it was created by that append)", async () => {
    const [a] = await records(1);
    const path = join(scratchDir(), "new.jsonl");
    shortThenFull(7);
    expect(cairnErrorOf(() => new JsonlEvidenceSink(path).emit(a!)).code).toBe("E_STORE_IO");
    expect(statSync(path).size).toBe(0);
  });

  it("another writer's record that landed before the partial bytes is kept (only this append's bytes are cut)", async () => {
    const [a, b, c] = await records(3);
    const path = join(scratchDir(), "shared.jsonl");
    const sink = new JsonlEvidenceSink(path);
    sink.emit(a!);
    const other = `${canonicalize(c)}\n`;
    shortThenFull(40, () => appendFileSync(path, other)); // another process appends between our fstat and our write
    expect(cairnErrorOf(() => sink.emit(b!)).code).toBe("E_STORE_IO");
    expect(readFileSync(path, "utf8")).toBe(`${canonicalize(a)}\n${other}`);
  });

  it("bytes that are not this append's at the end of the file are never cut: the error says the file may be torn", async () => {
    const [a, b] = await records(2);
    const path = join(scratchDir(), "raced.jsonl");
    const sink = new JsonlEvidenceSink(path);
    sink.emit(a!);
    let calls = 0;
    hook.write = (real, fd, buf, off, _len) => {
      if (++calls === 1) {
        const n = real(fd, buf, off, 30);
        appendFileSync(path, "{\"other\":1}\n"); // another writer's record right after our partial bytes
        return n;
      }
      hook.write = undefined;
      throw enospc();
    };
    const err = cairnErrorOf(() => sink.emit(b!));
    expect(err.message).toBe(
      `cannot write evidence file ${path}: ENOSPC: no space left on device; part of the record was written and could not be removed: the file may end in a torn line`,
    );
    expect(err.details).toEqual({ path, code: "ENOSPC", partial_record: true });
    const line = `${canonicalize(b)}\n`;
    expect(readFileSync(path, "utf8")).toBe(`${canonicalize(a)}\n${line.slice(0, 30)}{"other":1}\n`);
  });

  it("through the node: a failure at the first record dispatches nothing and leaves the file as it was", async () => {
    const lane = new EchoLane("echo");
    const h = harness({ lane, complete: false });
    const path = join(scratchDir(), "node.jsonl");
    writeFileSync(path, '{"earlier":1}\n');
    h.node.registerEvidenceSink(new JsonlEvidenceSink(path)).completeRegistration();
    shortThenFull(10);
    await expect(h.node.execute(request(h))).rejects.toMatchObject({ code: "E_STORE_IO" });
    expect(lane.calls).toHaveLength(0);
    expect(readFileSync(path, "utf8")).toBe('{"earlier":1}\n');
  });
});

describe("F3: a file ending in a torn line is refused, never appended to", () => {
  it("a torn append (not JSON) is E_STORE_CORRUPT torn_jsonl_tail naming line, offset and the truncation; the file is untouched", async () => {
    const [a, b] = await records(2);
    const path = join(scratchDir(), "torn.jsonl");
    const first = `${canonicalize(a)}\n`;
    const torn = `${canonicalize(b)}`.slice(0, 60);
    writeFileSync(path, first + torn);
    const err = cairnErrorOf(() => new JsonlEvidenceSink(path).emit(b!));
    const offset = Buffer.byteLength(first);
    expect(err.toJSON()).toEqual({
      code: "E_STORE_CORRUPT",
      message:
        `evidence file ${path} ends in a torn line (line 2: 60 bytes after offset ${offset} without a newline, an interrupted append): ` +
        `refusing to append to it; repair it, with no other process appending to it, by truncating it to ${offset} bytes, which removes only the unfinished record (truncate -s ${offset} ${path}), or move it aside`,
      details: { path, reason: "torn_jsonl_tail", line: 2, offset, bytes: 60, complete: false },
    });
    expect(readFileSync(path, "utf8")).toBe(first + torn);
    // the repair the message names, then appends work again
    truncateSync(path, offset);
    new JsonlEvidenceSink(path).emit(b!);
    expect(parsedLines(path)).toHaveLength(2);
  });

  it("a complete record missing only its newline: the repair is to add the newline (nothing is lost)", async () => {
    const [a, b] = await records(2);
    const path = join(scratchDir(), "it's complete.jsonl");
    writeFileSync(path, canonicalize(a));
    const err = cairnErrorOf(() => new JsonlEvidenceSink(path).emit(b!));
    const q = `'${path.replace(/'/g, "'\\''")}'`;
    expect(err.message).toBe(
      `evidence file ${path} ends in a torn line (line 1: ${Buffer.byteLength(canonicalize(a))} bytes after offset 0 without a newline, a complete JSON object: its newline is missing): ` +
        `refusing to append to it; repair it, with no other process appending to it, by adding the missing newline (printf '\\n' >> ${q})`,
    );
    expect(err.details).toMatchObject({ reason: "torn_jsonl_tail", line: 1, offset: 0, complete: true });
    expect(spawnSync("sh", ["-c", `printf '\\n' >> ${q}`]).status).toBe(0);
    new JsonlEvidenceSink(path).emit(b!);
    expect(parsedLines(path)).toEqual([JSON.parse(canonicalize(a)), JSON.parse(canonicalize(b))]);
  });

  it("finds the torn line across scan chunks: many lines before it, and a torn line longer than a chunk", async () => {
    const [a] = await records(1);
    const path = join(scratchDir(), "big.jsonl");
    const line = '{"pad":"' + "x".repeat(1000) + '"}\n';
    const lines = Math.ceil((3 * TAIL_SCAN_CHUNK_BYTES) / line.length);
    const torn = '{"pad":"' + "y".repeat(2 * TAIL_SCAN_CHUNK_BYTES);
    writeFileSync(path, line.repeat(lines) + torn);
    const err = cairnErrorOf(() => new JsonlEvidenceSink(path).emit(a!));
    expect(err.details).toEqual({ path, reason: "torn_jsonl_tail", line: lines + 1, offset: line.length * lines, bytes: torn.length, complete: false });
  });

  it("an empty file, a file of complete lines and one ending in \\r\\n are appended to", async () => {
    const [a] = await records(1);
    const d = scratchDir();
    for (const [name, content] of [["empty", ""], ["lines", '{"x":1}\n{"y":2}\n'], ["crlf", '{"x":1}\r\n']] as const) {
      const path = join(d, `${name}.jsonl`);
      writeFileSync(path, content);
      new JsonlEvidenceSink(path).emit(a!);
      expect(readFileSync(path, "utf8")).toBe(`${content}${canonicalize(a)}\n`);
    }
  });

  it("a file ending in a lone \\r (not a newline the sink writes) is refused", async () => {
    const [a] = await records(1);
    const path = join(scratchDir(), "cr.jsonl");
    writeFileSync(path, '{"x":1}\r');
    expect(cairnErrorOf(() => new JsonlEvidenceSink(path).emit(a!)).details).toMatchObject({ reason: "torn_jsonl_tail", line: 1, offset: 0, bytes: 8 });
  });
});

describe("F3 (built CLI): plane exec under a file-size limit, then without it", () => {
  const temps = new TempDirs();
  let dir: string;
  /** Bytes a file may reach under `ulimit -f 1` (the shell counts 512- or 1024-byte blocks). */
  let blockBytes: number;
  afterAll(() => temps.cleanup());

  beforeAll(() => {
    dir = temps.make();
    expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd: dir }).status).toBe(0);
    writeFileSync(
      join(dir, "node.yaml"),
      `node_id: local-1
authority: { audience: cairn-local, trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }],
             policy: [{ subject: alice, lanes: [process], operations: ["*"] }] }
lanes: [process]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: { jsonl: evidence.jsonl }
`,
    );
    for (const k of ["k1", "k2", "k3"]) {
      // the command leaves a mark in the exec's folder when it runs
      const req = { ...PLANE_PROCESS_REQUEST, idempotency_key: k, payload: { command: "sh", argv: ["-c", `echo ${k} >> effects.txt`], timeout_ms: 5000 } };
      writeFileSync(join(dir, `${k}.json`), JSON.stringify(req));
      const s = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "cairn-local", "--ttl", "600", "--request", `${k}.json`], { cwd: dir });
      expect(s.status).toBe(0);
      writeFileSync(join(dir, `s-${k}.json`), s.out);
    }
    const probe = spawnSync("sh", ["-c", 'ulimit -f 1 && exec "$0" -e "$1"', process.execPath, "const fs=require('fs');const fd=fs.openSync('probe','w');let n=0;try{for(;;)n+=fs.writeSync(fd,Buffer.alloc(256));}catch{}console.log(n)"], { cwd: dir });
    blockBytes = Number(probe.stdout.toString().trim());
    expect([512, 1024]).toContain(blockBytes);
  });

  function exec(key: string, limitBlocks?: number) {
    if (limitBlocks === undefined) return cairn(["plane", "exec", "--config", "node.yaml", "--request", `s-${key}.json`], { cwd: dir });
    const r = spawnSync("sh", ["-c", `ulimit -f ${limitBlocks} && exec "$0" "$@"`, process.execPath, CLI, "plane", "exec", "--config", "node.yaml", "--request", `s-${key}.json`], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1", CAIRN_STORE: "" },
    });
    return { status: r.status, err: r.stderr.toString(), out: r.stdout.toString() };
  }

  it("the append cut by the limit is removed (E_STORE_IO, nothing dispatched); the next exec's records are whole lines", () => {
    const path = join(dir, "evidence.jsonl");
    const blocks = 8;
    // valid lines up to 10 bytes short of the limit: the first record crosses it
    const pad = (n: number) => `{"pad":"${"p".repeat(n - 11)}"}\n`;
    const target = blocks * blockBytes - 10;
    const full = Math.floor(target / 200);
    const prefill = pad(200).repeat(full - 1) + pad(target - 200 * (full - 1));
    expect(prefill.length).toBe(target);
    writeFileSync(path, prefill);

    const r1 = exec("k1", blocks);
    expect(r1.err).toBe(`cairn: cannot write evidence file ${path}: EFBIG: file too large [E_STORE_IO]\n`);
    expect(r1.status).toBe(1);
    expect(readFileSync(path, "utf8")).toBe(prefill); // before the fix: 10 bytes of a record, no newline
    expect(existsSync(join(dir, "effects.txt"))).toBe(false); // failed at admission.accepted: nothing ran

    const r2 = exec("k2");
    expect(r2.err).toBe("");
    expect(r2.status).toBe(0);
    const lines = parsedLines(path) as Array<Record<string, unknown>>;
    const added = lines.slice(full);
    expect(added.map((e) => e.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
    expect(readFileSync(join(dir, "effects.txt"), "utf8")).toBe("k2\n");
  });

  it("a torn tail (an append SIGKILLed mid-write) refuses the exec before anything runs: E_STORE_CORRUPT naming the repair", () => {
    const path = join(dir, "evidence.jsonl");
    const good = readFileSync(path, "utf8");
    const torn = '{"contract_version":1,"emitted_at":';
    appendFileSync(path, torn);
    const r = exec("k3");
    expect(r.err).toBe(
      `cairn: evidence file ${path} ends in a torn line (line ${good.split("\n").length}: ${torn.length} bytes after offset ${good.length} without a newline, an interrupted append): ` +
        `refusing to append to it; repair it, with no other process appending to it, by truncating it to ${good.length} bytes, which removes only the unfinished record (truncate -s ${good.length} ${path}), or move it aside [E_STORE_CORRUPT]\n`,
    );
    expect(r.status).toBe(1);
    expect(readFileSync(join(dir, "effects.txt"), "utf8")).toBe("k2\n"); // k3 did not run
    truncateSync(path, good.length);
    expect(exec("k3").status).toBe(0);
    expect(readFileSync(join(dir, "effects.txt"), "utf8")).toBe("k2\nk3\n");
    expect(parsedLines(path).length).toBe(good.split("\n").length - 1 + 4);
  });
});

describe("another process's append caught mid-write", () => {
  it("is waited for, not refused as a torn tail: the sink appends once the other record has landed", async () => {
    const dir = scratchDir();
    const file = join(dir, "shared.jsonl");
    writeFileSync(file, '{"kind":"first"}\n');
    // Another writer that stalls between two halves of its record (as a writer descheduled
    // mid-write looks to a reader), then finishes it 40 ms later.
    const { spawn } = await import("node:child_process");
    const writer = spawn(process.execPath, [
      "-e",
      `const fs = require("node:fs"); fs.appendFileSync(${JSON.stringify(file)}, '{"kind":"other",'); setTimeout(() => fs.appendFileSync(${JSON.stringify(file)}, '"n":1}\\n'), 40);`,
    ]);
    const exited = new Promise<number | null>((done) => writer.on("exit", done));
    while (!readFileSync(file, "utf8").endsWith(",")) await new Promise((r) => setTimeout(r, 1));
    // Before: refused at once, E_STORE_CORRUPT "ends in a torn line", advising a truncate that
    // would have cut the other writer's record.
    new JsonlEvidenceSink(file, "shared").emit({ kind: "execution.started", execution_id: "mine" } as unknown as Evidence);
    expect(await exited).toBe(0);
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(["first", "other", "execution.started"]);
  });
});
