/**
 * User-acceptance findings of 2026-11-27 (/tmp/uatB/findings.md), through the built CLI:
 *  B-F5. `plane keygen --out X` where X is a regular file, a dangling or looping symlink: E_STORE_IO
 *        naming --out and saying X is not a directory (with or without --force), never a false
 *        E_CONFLICT about a key file that is not there.
 *  B-F6. A bad `store put --type-tag` / `--media-type` or `store ls --type` names the flag (message
 *        and details.field), exit 2, as every other flag's bad value.
 *  B-F7. `cairn serve` closes gracefully on SIGHUP as on SIGINT/SIGTERM (exit 0); a second signal
 *        while it closes exits 1.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { acquireDataRootLock } from "../../src/workflow/pgs/index.js";
import { cairn, CLI, jsonError, killChildrenAfterEach, serveCairn, TempDirs, type RunResult } from "./helpers.js";
import { sandbox, type Sandbox } from "../workflow/pgs-fixture.js";

const dirs = new TempDirs();
const boxes: Sandbox[] = [];
const sockets: Socket[] = [];
const children = killChildrenAfterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const b of boxes.splice(0)) b.cleanup();
  dirs.cleanup();
});

/** `cairn … --json` in `cwd`: the status and the error document of stderr. */
function failing(cwd: string, args: string[]): { status: number | null; error: ReturnType<typeof jsonError>; r: RunResult } {
  const r = cairn([...args, "--json"], { cwd });
  return { status: r.status, error: jsonError(r), r };
}

describe("B-F5: plane keygen --out that is not a directory", () => {
  const notADir = (cwd: string, out: string, reason: string, extra: string[] = []): void => {
    const { status, error, r } = failing(cwd, ["plane", "keygen", "--out", out, ...extra]);
    expect(r.out).toBe("");
    expect({ status, error }).toEqual({
      status: 1,
      error: { code: "E_STORE_IO", message: `cannot write key files in --out ${out}: ${reason}`, details: expect.objectContaining({ field: "--out", path: out }) as unknown },
    });
  };

  it("a regular file: E_STORE_IO naming --out, not E_CONFLICT; --force and --id alike; the file untouched", () => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, "f.txt"), "data\n");
    notADir(cwd, "f.txt", "not a directory");
    notADir(cwd, "f.txt", "not a directory", ["--id", "k1"]);
    notADir(cwd, "f.txt", "not a directory", ["--force"]);
    expect(readFileSync(join(cwd, "f.txt"), "utf8")).toBe("data\n");
    expect(readdirSync(cwd)).toEqual(["f.txt"]);
  });

  it("a symlink to a file, a dangling symlink, a symlink loop: E_STORE_IO saying why", () => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, "f.txt"), "data\n");
    symlinkSync("f.txt", join(cwd, "tofile"));
    symlinkSync("nowhere", join(cwd, "dangling"));
    symlinkSync("loop", join(cwd, "loop"));
    notADir(cwd, "tofile", "not a directory");
    notADir(cwd, "dangling", "not a directory (a symbolic link to a path that does not exist)");
    notADir(cwd, "dangling", "not a directory (a symbolic link to a path that does not exist)", ["--force"]);
    notADir(cwd, "loop", "not a directory (a symbolic link loop)");
    expect(existsSync(join(cwd, "nowhere"))).toBe(false);
    expect(readdirSync(cwd).sort()).toEqual(["dangling", "f.txt", "loop", "tofile"]);
  });

  it("--out becoming a file between the check and mkdir: E_STORE_IO, not E_CONFLICT", () => {
    const cwd = dirs.make();
    // mkdir of `keys` finds a file made there just before it (another process, meanwhile).
    const hook = join(cwd, "file-before-mkdir.mjs");
    writeFileSync(
      hook,
      'import fs from "node:fs";\nimport { syncBuiltinESMExports } from "node:module";\nconst mkdir = fs.mkdirSync;\n' +
        'fs.mkdirSync = (p, o) => { if (String(p).endsWith("keys")) fs.writeFileSync(p, "x"); return mkdir(p, o); };\n' +
        "syncBuiltinESMExports();\n",
    );
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(hook).href, CLI, "plane", "keygen", "--out", "keys", "--id", "ops", "--json"], { cwd });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stderr.toString("utf8"))).toMatchObject({ error: { code: "E_STORE_IO", message: "cannot write key files in --out keys: not a directory" } });
  });

  it("only a key file that is there (a dangling symlink too) is E_CONFLICT; a symlink to a directory is used", () => {
    const cwd = dirs.make();
    mkdirSync(join(cwd, "keys"));
    symlinkSync("nowhere", join(cwd, "keys", "ops.key"));
    const { status, error } = failing(cwd, ["plane", "keygen", "--out", "keys", "--id", "ops"]);
    expect({ status, error }).toEqual({ status: 1, error: { code: "E_CONFLICT", message: "keys/ops.key already exists (use --force to overwrite)", details: { path: "keys/ops.key" } } });
    symlinkSync("keys", join(cwd, "linked"));
    const ok = cairn(["plane", "keygen", "--out", "linked", "--id", "other"], { cwd });
    expect(ok.status).toBe(0);
    expect(readdirSync(join(cwd, "keys")).sort()).toEqual(["ops.key", "other.key", "other.pub"]);
  });
});

describe("B-F6: store flags' bad values name the flag", () => {
  const TAGS = "a decimal or 0x-hex integer in 0..4294967295";
  it.each([
    [["store", "put", "h.txt", "--type-tag", "abc"], "--type-tag", "abc", `invalid --type-tag "abc": expected ${TAGS}`],
    [["store", "put", "h.txt", "--type-tag", "4294967296"], "--type-tag", "4294967296", `invalid --type-tag "4294967296": expected ${TAGS}`],
    [["store", "put", "h.txt", "--media-type", "nocolon"], "--media-type", "nocolon", 'invalid --media-type "nocolon": expected a media type (type/subtype)'],
    [["store", "ls", "--type", "x y"], "--type", "x y", `invalid --type "x y": expected a media type (type/subtype) or a type tag (${TAGS})`],
    [["store", "ls", "--type", "a/b c"], "--type", "a/b c", 'invalid --type "a/b c": expected a media type (type/subtype)'],
  ])("%j", (args, field, value, message) => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, "h.txt"), "hi\n");
    const { status, error, r } = failing(cwd, ["--store", "st", ...args]);
    expect({ status, error }).toEqual({ status: 2, error: { code: "E_USAGE", message, details: { field, value } } });
    expect(r.out).toBe("");
    expect(existsSync(join(cwd, "st"))).toBe(false);
    const human = cairn(["--store", "st", ...args], { cwd });
    expect({ status: human.status, err: human.err }).toEqual({ status: 2, err: `cairn: ${message} [E_USAGE]\n` });
  });

    it.each([
    [["store", "ls", "--limit", "x"], "--limit", "x", 'invalid --limit "x": expected an integer in 0..9007199254740991'],
    [["run", "m.mjs", "--input", "h.txt", "--workers", "0"], "--workers", "0", 'invalid --workers "0": expected an integer in 1..'],
  ])("every integer flag names itself in details.field too: %j", (args, field, value, message) => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, "h.txt"), "hi\n");
    const { status, error } = failing(cwd, ["--store", "st", ...args]);
    expect(status).toBe(2);
    expect(error.code).toBe("E_USAGE");
    expect(error.message.startsWith(message)).toBe(true);
    expect(error.details).toEqual({ field, value });
  });

  it("good values still work: --type-tag, --media-type, ls --type by tag and by media type", () => {
    const cwd = dirs.make();
    writeFileSync(join(cwd, "h.txt"), "hi\n");
    const put = cairn(["--store", "st", "store", "put", "h.txt", "--type-tag", "0x2a", "--media-type", "text/plain"], { cwd });
    expect(put.status).toBe(0);
    const digest = put.out.trim();
    const line = `${digest}  3  text/plain  0x0000002a\n`;
    for (const type of ["42", "0x2a", "text/plain"]) expect(cairn(["--store", "st", "store", "ls", "--type", type], { cwd }).out).toBe(line);
    for (const type of ["7", "text/html"]) expect(cairn(["--store", "st", "store", "ls", "--type", type], { cwd }).out).toBe("");
  });
});

describe("B-F7: cairn serve and SIGHUP", () => {
  const start = async (): Promise<{ b: Sandbox; s: Awaited<ReturnType<typeof serveCairn>> }> => {
    const b = sandbox();
    boxes.push(b);
    const s = await serveCairn(b.root, ["--workspace", "workspace", "--data-root", "data"], (c) => children.push(c));
    return { b, s };
  };

  it("SIGHUP closes the server gracefully: exit 0, the data root's lock released", async () => {
    const { b, s } = await start();
    expect((await fetch(`${s.url}/api/health`)).status).toBe(200);
    s.child.kill("SIGHUP");
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.stderr()).toContain("cairn: SIGHUP, closing the server\n");
    expect(s.stdout()).toBe("");
    acquireDataRootLock(b.dataRoot).release(); // free: the close released it
  });

  it("a second SIGHUP while the server closes exits 1 at once", async () => {
    const { s } = await start();
    // A client stalled mid-request keeps the close waiting (until it is cut, CLOSE_GRACE_MS after the queue is idle).
    const port = Number(new URL(s.url).port);
    const sock = connect(port, "127.0.0.1");
    sockets.push(sock);
    sock.on("error", () => {});
    await new Promise<void>((ready) => sock.once("connect", () => ready()));
    sock.write(`POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    s.child.kill("SIGHUP");
    await new Promise<void>((closing) => {
      const check = (): void => {
        if (s.stderr().includes("closing the server") || s.child.exitCode !== null || s.child.signalCode !== null) closing();
        else setTimeout(check, 5);
      };
      check();
    });
    s.child.kill("SIGHUP");
    expect(await s.exited).toEqual({ code: 1, signal: null });
    expect(s.stderr()).toContain("cairn: second signal, exiting without waiting\n");
  });
});
