/**
 * The order of a large write's durability steps (ARCHITECTURE §5.6, §9 Durability): the
 * `.part` → `.ready` rename is directory-fsynced BEFORE the catalog row that needs it commits,
 * and the move into objects/ is fsynced after. fsyncDir is observed (and still performed).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openStore, sha256, type Digest, type Store } from "../../src/index.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { largeContent } from "./fixtures/content.js";

const hook = vi.hoisted(() => ({ onFsyncDir: undefined as undefined | ((dir: string) => void) }));
vi.mock("../../src/store/fsutil.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/store/fsutil.js")>();
  return {
    ...real,
    fsyncDir: (dir: string): void => {
      hook.onFsyncDir?.(dir);
      real.fsyncDir(dir);
    },
  };
});

const open: Store[] = [];
afterEach(() => {
  hook.onFsyncDir = undefined;
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

describe("large-write durability order", () => {
  it("tmp/ is fsynced while the .ready file exists and before its catalog row commits; objects/ after the commit", async () => {
    const dir = join(makeTempDir(), "store");
    const writer = openStore({ dir });
    open.push(writer);
    const reader = openStore({ dir, readOnly: true });
    open.push(reader);
    const bytes = largeContent("durability-order", 0);
    const digest: Digest = sha256(bytes);
    const hex = digest.slice("sha256:".length);
    const ready = join(dir, "tmp", `${hex}.ready`);
    const objectDir = join(dir, "objects", hex.slice(0, 2));
    const calls: Array<{ dir: string; readyExists: boolean; committed: boolean }> = [];
    hook.onFsyncDir = (d) => calls.push({ dir: d, readyExists: existsSync(ready), committed: reader.has(digest) });

    await writer.put(bytes);

    const tmpDir = join(dir, "tmp");
    const beforeCommit = calls.findIndex((c) => c.dir === tmpDir && c.readyExists && !c.committed);
    expect(beforeCommit, JSON.stringify(calls)).toBeGreaterThanOrEqual(0);
    const placed = calls.findIndex((c) => c.dir === objectDir && c.committed && !c.readyExists);
    expect(placed, JSON.stringify(calls)).toBeGreaterThan(beforeCommit);
    expect(writer.get(digest).equals(bytes)).toBe(true);
  });
});
