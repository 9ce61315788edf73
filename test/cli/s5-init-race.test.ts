/**
 * Two `cairn wf compile --store S` started together on a store S that does not exist yet: both
 * create it through `openStore` (store.ts), which makes only the store directory before the
 * writer lock and decides "create or open" again under the lock (FORMAT read there), so the
 * store is made by one of them, whole. Each compile either stores the snapshot or, without
 * `--wait`, fails with E_STORE_LOCKED (exit 1, a message saying to retry); with `--wait` both
 * store it. Never a half-made store (fsck clean, FORMAT present) or another error.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, spawnCairn, TempDirs } from "./helpers.js";

const DECL = fileURLToPath(new URL("../../examples/workflows/register-agent.yaml", import.meta.url));
const ROUNDS = 1;

const temps = new TempDirs();
afterEach(() => temps.cleanup());

interface Outcome {
  code: number | null;
  doc: { ok?: boolean; stored?: boolean; digest?: string } | undefined;
  error: { code?: string; message?: string } | undefined;
}

/** Two compiles of the same declaration into the new store `<tmp>/s`, started together. */
async function racePair(extra: string[]): Promise<{ store: string; outcomes: Outcome[] }> {
  const cwd = temps.make();
  const store = join(cwd, "s");
  const kids = [0, 1].map(() => spawnCairn(["--store", store, ...extra, "wf", "compile", DECL, "--json"], { cwd }));
  const outcomes: Outcome[] = [];
  for (const k of kids) {
    const { code } = await k.exited;
    const out = k.stdout().trim();
    const err = k.stderr().trim();
    outcomes.push({
      code,
      doc: out === "" ? undefined : (JSON.parse(out) as Outcome["doc"]),
      error: err === "" ? undefined : (JSON.parse(err) as { error: Outcome["error"] }).error,
    });
  }
  return { store, outcomes };
}

/** The store the race left is whole: FORMAT present, fsck clean. */
function expectWholeStore(store: string): void {
  expect(existsSync(join(store, "FORMAT"))).toBe(true);
  const f = cairn(["--store", store, "fsck"], { cwd: store });
  expect(f.status, f.err).toBe(0);
}

describe("concurrent `wf compile` on a new store", () => {
  it("with --wait, both store the snapshot in one whole store", { timeout: 120_000 }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const { store, outcomes } = await racePair(["--wait", "20000"]);
      for (const o of outcomes) expect(o, JSON.stringify(o)).toMatchObject({ code: 0, doc: { ok: true, stored: true } });
      expect(outcomes[0]?.doc?.digest).toBe(outcomes[1]?.doc?.digest);
      expectWholeStore(store);
    }
  });

  it("without --wait, each stores it or fails with E_STORE_LOCKED; at least one stores it; the store is whole", { timeout: 120_000 }, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const { store, outcomes } = await racePair([]);
      for (const o of outcomes) {
        if (o.code === 0) expect(o.doc, JSON.stringify(o)).toMatchObject({ ok: true, stored: true });
        else expect(o, JSON.stringify(o)).toMatchObject({ code: 1, error: { code: "E_STORE_LOCKED", message: expect.stringContaining("retry when it finishes") } });
      }
      expect(outcomes.some((o) => o.code === 0)).toBe(true);
      expectWholeStore(store);
    }
  });
});
