/**
 * store/out-file.ts `checkOutPath`, the one check of an output path against what it must not
 * replace (the store in use, the module file): where the file would really be written — through
 * symlinks, dangling ones and missing directories included — and hard links by inode.
 */
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import { checkOutPath, outFileLocation, storeExclusion } from "../../src/store/out-file.js";
import { TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

async function refusal(path: string, exclusions: Parameters<typeof checkOutPath>[2]): Promise<string | undefined> {
  try {
    await checkOutPath("--out", path, exclusions);
    return undefined;
  } catch (err) {
    if (!isCairnError(err)) throw err;
    expect(err.code).toBe("E_USAGE");
    expect(err.details).toEqual({ field: "--out", path });
    return err.message;
  }
}

describe("checkOutPath", () => {
  it("refuses paths in or below the store, however reached; passes siblings named like it", async () => {
    const d = temps.make();
    const st = join(d, "st");
    mkdirSync(join(st, "objects"), { recursive: true });
    writeFileSync(join(st, "catalog.sqlite"), "db");
    mkdirSync(join(d, "..st"));
    mkdirSync(join(d, "stx"));
    symlinkSync(st, join(d, "ln"));
    symlinkSync(join(d, "ln", "objects", "a", "b"), join(d, "dang1"));
    symlinkSync(join(d, "dang1"), join(d, "dang2")); // a chain of dangling links
    const x = [storeExclusion(st)];
    for (const p of [st, join(st, "catalog.sqlite"), join(st, "new"), join(st, "no", "such", "dir", "f"), join(d, "ln", "f"), join(d, "dang2"), join(d, "stx", "..", "st", "f")]) {
      expect(await refusal(p, x)).toBe(`--out ${p} is inside the store ${st}`);
    }
    for (const p of [join(d, "..st", "f"), join(d, "stx", "f"), join(d, "st.out"), "/dev/stdout", "/dev/null"]) expect(await refusal(p, x)).toBeUndefined();
    // A store not created yet: its path as far as it exists.
    const fresh = join(d, "ln", "fresh");
    expect(await refusal(join(st, "fresh", "o"), [storeExclusion(fresh)])).toBe(`--out ${join(st, "fresh", "o")} is inside the store ${fresh}`);
  });

  it("refuses a hard link to the store's catalog, and the excluded file through a symlink or hard link", async () => {
    const d = temps.make();
    const st = join(d, "st");
    mkdirSync(st);
    writeFileSync(join(st, "catalog.sqlite"), "db");
    linkSync(join(st, "catalog.sqlite"), join(d, "cat"));
    expect(await refusal(join(d, "cat"), [storeExclusion(st)])).toBe(`--out ${join(d, "cat")} is catalog.sqlite of the store ${st} (a hard link to it)`);
    writeFileSync(join(d, "m.js"), "export default (x) => x;\n");
    linkSync(join(d, "m.js"), join(d, "h.js"));
    symlinkSync("m.js", join(d, "s.js"));
    const mod = [{ file: join(d, "s.js"), what: "the module file" }];
    for (const p of ["m.js", "h.js", "s.js"]) expect(await refusal(join(d, p), mod)).toBe(`--out ${join(d, p)} is the module file`);
    expect(await refusal(join(d, "other.js"), mod)).toBeUndefined();
  });

  it("outFileLocation: an existing file's real path; a missing one's last link target in its directory's real path", async () => {
    const d = temps.make();
    mkdirSync(join(d, "real"));
    symlinkSync(join(d, "real"), join(d, "dir"));
    symlinkSync(join("dir", "t"), join(d, "l"));
    expect(await outFileLocation(join(d, "l"))).toBe(join(d, "real", "t"));
    writeFileSync(join(d, "real", "t"), "");
    expect(await outFileLocation(join(d, "l"))).toBe(join(d, "real", "t"));
  });
});
