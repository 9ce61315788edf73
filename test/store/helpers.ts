import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type OpenStoreOptions, type Store } from "../../src/index.js";
import { steppingClock } from "../../src/core/clock.js";

/** A fresh temp dir; remove it with the returned cleanup. */
export function tempDir(prefix = "cairn-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens a writer on a fresh store with a deterministic clock. */
export function freshStore(opts: OpenStoreOptions = {}): { store: Store; dir: string; cleanup: () => void } {
  const t = tempDir();
  const store = openStore({ dir: join(t.dir, "store"), clock: steppingClock(1_700_000_000_000, 1), durability: "normal", ...opts });
  return {
    store,
    dir: join(t.dir, "store"),
    cleanup: () => {
      store.close();
      t.cleanup();
    },
  };
}
