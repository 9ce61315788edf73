import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cairn, json, sha256Hex, TempDirs, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;

/** Runs the CLI against this test's store. */
function run(args: string[], input?: Buffer | string): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir, input });
}

function ok(args: string[], input?: Buffer | string): RunResult {
  const r = run(args, input);
  if (r.status !== 0) throw new Error(`cairn ${args.join(" ")} exited ${String(r.status)}: ${r.err}`);
  return r;
}

function putFile(name: string, bytes: Buffer | string, ...extra: string[]): string {
  writeFileSync(join(dir, name), bytes);
  return ok(["store", "put", name, ...extra]).out.trim();
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
});
afterEach(() => temps.cleanup());

describe("cairn init", () => {
  it("creates the store and prints its path", () => {
    const r = ok(["init"]);
    expect(r.out).toBe(`${store}\n`);
    expect(existsSync(join(store, "FORMAT"))).toBe(true);
    expect(json(ok(["init", "--json"]))).toEqual({ store, formatVersion: 1 });
  });

  it("uses CAIRN_STORE, else ./.cairn", () => {
    const viaEnv = cairn(["init", "--json"], { cwd: dir, env: { CAIRN_STORE: "envstore" } });
    expect(viaEnv.status).toBe(0);
    expect(json(viaEnv)).toEqual({ store: join(dir, "envstore"), formatVersion: 1 });
    const dflt = cairn(["init"], { cwd: dir });
    expect(dflt.out.trim()).toBe(join(dir, ".cairn"));
    expect(existsSync(join(dir, ".cairn", "FORMAT"))).toBe(true);
  });
});

describe("cairn store put/get", () => {
  it("put prints the plain SHA-256 of an untyped file; get round-trips binary bytes", () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0, 128]);
    const d = putFile("bin", bytes);
    expect(d).toBe(sha256Hex(bytes));
    const got = ok(["store", "get", d]);
    expect(got.stdout.equals(bytes)).toBe(true);
    expect(got.err).toBe("");
  });

  it("put from stdin gives the same digest; --json prints the PutResult", () => {
    const bytes = Buffer.from("hello, cairn\n");
    const first = json<Record<string, unknown>>(ok(["store", "put", "-", "--json", "--media-type", "text/plain"], bytes));
    expect(first).toEqual({
      digest: sha256Hex(bytes),
      size: bytes.length,
      mediaType: "text/plain",
      storage: "packed",
      state: "present",
      logseq: 1,
      created: true,
    });
    writeFileSync(join(dir, "same"), bytes);
    const again = json<Record<string, unknown>>(ok(["--json", "store", "put", "same"]));
    expect(again.digest).toBe(first.digest);
    expect(again.created).toBe(false);
  });

  it("round-trips a 5 MiB file through stdout, -o, and stdin", () => {
    const bytes = randomBytes(5 * 1024 * 1024);
    const d = putFile("big", bytes);
    expect(d).toBe(sha256Hex(bytes));
    expect(ok(["store", "get", d]).stdout.equals(bytes)).toBe(true);
    const r = ok(["store", "get", d, "-o", "copy"]);
    expect(readFileSync(join(dir, "copy")).equals(bytes)).toBe(true);
    expect(r.out).toBe(`wrote ${bytes.length} bytes to copy\n`);
    expect(ok(["store", "put", "-"], bytes).out).toBe(`${d}\n`);
    const info = json<Record<string, unknown>>(ok(["store", "stat", d, "--json"]));
    expect(info).toMatchObject({ digest: d, size: bytes.length, storage: "file", state: "present" });
  });

  it("get -o writes the file atomically and prints nothing with --quiet; --json prints the info", () => {
    const d = putFile("a", "alpha");
    const r = ok(["store", "get", d, "-o", "out.txt", "--quiet"]);
    expect(r.out).toBe("");
    expect(readFileSync(join(dir, "out.txt"), "utf8")).toBe("alpha");
    const j = json<Record<string, unknown>>(ok(["store", "get", d, "-o", "out2.txt", "--json"]));
    expect(j).toMatchObject({ digest: d, size: 5, path: join(dir, "out2.txt") });
    expect(readFileSync(join(dir, "out2.txt"), "utf8")).toBe("alpha");
  });

  it("get -o through a symlink writes its target and keeps the link (as --out does)", () => {
    const d = putFile("a", "alpha");
    writeFileSync(join(dir, "target.txt"), "old");
    symlinkSync("target.txt", join(dir, "link.txt"));
    ok(["store", "get", d, "-o", "link.txt", "--quiet"]);
    expect(lstatSync(join(dir, "link.txt")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, "target.txt"), "utf8")).toBe("alpha");
  });

  it("get -o into a missing directory fails with exit 1 naming the path", () => {
    const d = putFile("a", "alpha");
    const r = run(["store", "get", d, "-o", "nodir/out"]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("nodir/out");
  });

  it("typed artifacts: --type-tag (decimal or hex) is part of the digest", () => {
    const bytes = Buffer.from("typed!");
    const tag = Buffer.alloc(4);
    tag.writeUInt32BE(42);
    const expected = sha256Hex(Buffer.concat([Buffer.from("cairn-asl-typed\0", "latin1"), tag, bytes]));
    expect(putFile("t", bytes, "--type-tag", "0x2a")).toBe(expected);
    expect(putFile("t", bytes, "--type-tag", "42")).toBe(expected);
    expect(json<Record<string, unknown>>(ok(["store", "stat", expected, "--json"])).typeTag).toBe(42);
    expect(ok(["store", "stat", expected]).out).toContain("typeTag: 0x0000002a\n");
    expect(ok(["store", "get", expected]).stdout.equals(bytes)).toBe(true);
    const bad = run(["store", "put", "t", "--type-tag", "4294967296"]);
    expect(bad.status).toBe(2);
    expect(bad.err).toContain("E_USAGE");
  });

  it("rejects a bad media type with exit 2", () => {
    writeFileSync(join(dir, "f"), "x");
    const r = run(["store", "put", "f", "--media-type", "nonsense"]);
    expect(r.status).toBe(2);
    expect(r.err).toContain("media type");
    expect(existsSync(store)).toBe(false);
  });
});

describe("cairn store ls/stat", () => {
  it("lists artifacts in logseq order with filters and --limit", () => {
    const a = putFile("a", "aaa", "--media-type", "text/plain");
    const b = putFile("b", "bbbb");
    const c = putFile("c", "ccccc", "--type-tag", "7");
    expect(ok(["store", "ls"]).out).toBe(
      [`${a}  3  text/plain  -`, `${b}  4  application/octet-stream  -`, `${c}  5  application/octet-stream  0x00000007`, ""].join("\n"),
    );
    const all = json<Array<Record<string, unknown>>>(ok(["store", "ls", "--json"]));
    expect(all.map((x) => x.digest)).toEqual([a, b, c]);
    expect(all[0]).toEqual({ digest: a, size: 3, mediaType: "text/plain", storage: "packed", state: "present", logseq: 1 });
    expect(all[2]).toMatchObject({ typeTag: 7 });
    expect(json<Array<{ digest: string }>>(ok(["store", "ls", "--json", "--type", "text/plain"])).map((x) => x.digest)).toEqual([a]);
    expect(json<Array<{ digest: string }>>(ok(["store", "ls", "--json", "--type", "0x7"])).map((x) => x.digest)).toEqual([c]);
    expect(json<Array<{ digest: string }>>(ok(["store", "ls", "--json", "--limit", "2"])).map((x) => x.digest)).toEqual([a, b]);
    expect(json(ok(["store", "ls", "--json", "--limit", "0"]))).toEqual([]);
    expect(run(["store", "ls", "--limit", "-3"]).status).toBe(2);
  });

  it("ls on an empty store prints [] with --json and nothing otherwise", () => {
    ok(["init"]);
    expect(ok(["store", "ls"]).out).toBe("");
    expect(json(ok(["store", "ls", "--json"]))).toEqual([]);
  });

  it("stat prints key: value lines", () => {
    const a = putFile("a", "aaa");
    expect(ok(["store", "stat", a]).out).toBe(
      [`digest: ${a}`, "size: 3", "mediaType: application/octet-stream", "typeTag: -", "storage: packed", "state: present", "logseq: 1", ""].join("\n"),
    );
  });
});

describe("cairn store rm, pin, unpin, roots", () => {
  it("rm tombstones: get and stat then fail with exit 1 'not found'", () => {
    const a = putFile("a", "doomed");
    expect(json(ok(["store", "rm", a, "--json"]))).toEqual({ digest: a, logseq: 2 });
    for (const cmd of [["store", "get", a], ["store", "stat", a], ["store", "rm", a]]) {
      const r = run(cmd);
      expect(r.status).toBe(1);
      expect(r.err).toContain("not found");
      expect(r.err).toContain("E_NOT_FOUND");
      expect(r.out).toBe("");
    }
    expect(json(ok(["store", "ls", "--json"]))).toEqual([]);
  });

  it("pin / roots / unpin", () => {
    const a = putFile("a", "keep me");
    expect(json(ok(["store", "pin", a, "keep", "--json"]))).toEqual({ name: "keep", kind: "pin", digest: a, logseq: 2 });
    expect(ok(["store", "roots"]).out).toBe(`keep  pin  ${a}\n`);
    expect(json(ok(["store", "roots", "--json"]))).toEqual([{ name: "keep", kind: "pin", digest: a, logseq: 2 }]);
    expect(ok(["store", "unpin", "keep"]).out).toBe("unpinned keep\n");
    expect(json(ok(["store", "roots", "--json"]))).toEqual([]);
    const again = run(["store", "unpin", "keep"]);
    expect(again.status).toBe(1);
    expect(again.err).toContain("not found");
  });
});

describe("cairn snapshot", () => {
  it("create/ls/rm, and reads --snapshot see a since-deleted artifact", () => {
    const a = putFile("a", "old");
    const s = json<{ name: string; asOf: number; logseq: number; createdAt: number }>(ok(["snapshot", "create", "s1", "--json"]));
    expect(s).toMatchObject({ name: "s1", asOf: 2, logseq: 2 });
    expect(ok(["store", "rm", a]).status).toBe(0);
    const b = putFile("b", "new");

    expect(run(["store", "stat", a]).status).toBe(1);
    expect(json<{ digest: string }>(ok(["store", "stat", a, "--snapshot", "s1", "--json"])).digest).toBe(a);
    expect(ok(["store", "get", a, "--snapshot", "s1"]).out).toBe("old");
    expect(json<Array<{ digest: string }>>(ok(["store", "ls", "--snapshot", "s1", "--json"])).map((x) => x.digest)).toEqual([a]);
    expect(json<Array<{ digest: string }>>(ok(["store", "ls", "--json"])).map((x) => x.digest)).toEqual([b]);
    const late = run(["store", "stat", b, "--snapshot", "s1"]);
    expect(late.status).toBe(1);
    expect(late.err).toContain("not found");

    expect(json(ok(["snapshot", "ls", "--json"]))).toEqual([s]);
    expect(ok(["snapshot", "ls"]).out).toBe(`s1  2  ${new Date(s.createdAt).toISOString()}\n`);
    const dup = run(["snapshot", "create", "s1"]);
    expect(dup.status).toBe(1);
    expect(dup.err).toContain("E_CONFLICT");

    expect(ok(["snapshot", "rm", "s1"]).out).toBe("deleted snapshot s1\n");
    expect(json(ok(["snapshot", "ls", "--json"]))).toEqual([]);
    const gone = run(["store", "stat", a, "--snapshot", "s1"]);
    expect(gone.status).toBe(1);
    expect(gone.err).toContain("not found");
  });
});
