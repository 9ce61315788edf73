/**
 * `cairn plane keygen --force` replacing a key pair is kill-safe: the old `<id>.pub` is removed
 * before the new `<id>.key` is moved into place, so a SIGKILL between the two files leaves a
 * `.key` without `.pub` (which the next keygen completes from that key), never a new private key
 * beside the old public key.
 */
import { spawnSync } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, TempDirs, cairn } from "./helpers.js";

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const publicOf = (keyPem: string): string => createPublicKey(keyPem).export({ format: "pem", type: "spki" }).toString();

describe("plane keygen --force killed between its two files", () => {
  it("leaves the new .key without a .pub; the next keygen writes the matching .pub", () => {
    const cwd = temps.make();
    expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd }).status).toBe(0);
    const oldKey = readFileSync(join(cwd, "keys", "ops.key"), "utf8");

    // SIGKILL right after the new private key is renamed into place.
    const hook = join(cwd, "kill-after-rename.mjs");
    writeFileSync(
      hook,
      'import fs from "node:fs";\nimport { syncBuiltinESMExports } from "node:module";\nconst rename = fs.renameSync;\n' +
        'fs.renameSync = (from, to) => { rename(from, to); if (String(to).endsWith("ops.key")) process.kill(process.pid, "SIGKILL"); };\n' +
        "syncBuiltinESMExports();\n",
    );
    const killed = spawnSync(process.execPath, ["--import", pathToFileURL(hook).href, CLI, "plane", "keygen", "--out", "keys", "--id", "ops", "--force"], { cwd });
    expect(killed.signal).toBe("SIGKILL");
    const newKey = readFileSync(join(cwd, "keys", "ops.key"), "utf8");
    expect(newKey).not.toBe(oldKey);
    expect(readdirSync(join(cwd, "keys")).sort()).toEqual(["ops.key"]);

    const r = cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd });
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect(readFileSync(join(cwd, "keys", "ops.key"), "utf8")).toBe(newKey);
    expect(readFileSync(join(cwd, "keys", "ops.pub"), "utf8")).toBe(publicOf(newKey));
  });

  it("an uninterrupted --force replaces both files with a matching pair", () => {
    const cwd = temps.make();
    expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd }).status).toBe(0);
    const oldKey = readFileSync(join(cwd, "keys", "ops.key"), "utf8");
    const r = cairn(["plane", "keygen", "--out", "keys", "--id", "ops", "--force"], { cwd });
    expect(r.status).toBe(0);
    const key = readFileSync(join(cwd, "keys", "ops.key"), "utf8");
    expect(key).not.toBe(oldKey);
    expect(readFileSync(join(cwd, "keys", "ops.pub"), "utf8")).toBe(publicOf(key));
    expect(readdirSync(join(cwd, "keys")).sort()).toEqual(["ops.key", "ops.pub"]);
  });
});
