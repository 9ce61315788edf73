/**
 * UAT4 F5: a PGS replay works in a directory under TMPDIR; a TMPDIR that is missing, a file or
 * full is E_STORE_IO naming the working directory and TMPDIR (the error `cairn verify`'s scratch
 * databases give, core/temp-dir-error.ts), never the bare ENOENT/ENOTDIR/ENOSPC of an fs call
 * (E_INTERNAL). A full TMPDIR is injected: `writeFileSync` fails with ENOSPC under it.
 */
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openStore, type Store } from "../../src/store/store.js";
import { replayPgsRun } from "../../src/workflow/pgs/replay.js";
import { cairnErrorOf, payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const fault = vi.hoisted(() => ({ fullUnder: undefined as string | undefined }));

vi.mock("node:fs", async (importOriginal) => {
  const m = await importOriginal<typeof import("node:fs") & { default: typeof import("node:fs") }>();
  const writeFileSyncFaulty = ((file: unknown, ...rest: unknown[]) => {
    if (fault.fullUnder !== undefined && typeof file === "string" && file.startsWith(`${fault.fullUnder}/`)) {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
    }
    return (m.writeFileSync as (...a: unknown[]) => void)(file, ...rest);
  }) as typeof m.writeFileSync;
  return { ...m, default: { ...m.default, writeFileSync: writeFileSyncFaulty }, writeFileSync: writeFileSyncFaulty };
});

const boxes: Sandbox[] = [];
const stores: Store[] = [];
const savedTmpdir = process.env.TMPDIR;
afterEach(() => {
  fault.fullUnder = undefined;
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
});

/** A recorded PGS run (with a prior-state file) in a store of a fresh sandbox. */
function recorded(): { b: Sandbox; store: Store; traceId: string } {
  const b = sandbox({ seedLicenseFacts: true });
  boxes.push(b);
  const store = openStore({ dir: join(b.root, "store") });
  stores.push(store);
  const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store });
  expect(r.recorded).not.toBeNull();
  return { b, store, traceId: r.traceId };
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("wf replay: an unusable TMPDIR is E_STORE_IO naming the working directory and TMPDIR", () => {
  it("a full TMPDIR (ENOSPC writing the working directory's files): E_STORE_IO, and the working directory is removed", () => {
    const { b, store, traceId } = recorded();
    expect(replayPgsRun(store, traceId).identical).toBe(true); // the injection alone is what fails below
    const tmp = mkdtempSync(join(b.root, "tmp-"));
    process.env.TMPDIR = tmp;
    fault.fullUnder = tmp;
    const err = cairnErrorOf(() => replayPgsRun(store, traceId));
    expect(err.code).toBe("E_STORE_IO");
    expect(err.message).toMatch(
      new RegExp(`^replay cannot use its working directory ${esc(tmp)}/cairn-pgs-replay-\\w{6} in the OS temp directory ${esc(tmp)} \\(\\$TMPDIR\\): ENOSPC: no space left on device, write; set TMPDIR to a writable directory$`),
    );
    expect((err.details as { tmpdir: string }).tmpdir).toBe(tmp);
    expect((err.cause as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(readdirSync(tmp).filter((n) => n.startsWith("cairn-pgs-replay-"))).toEqual([]);
  });

  it("a missing TMPDIR and a TMPDIR that is a file: E_STORE_IO naming it (was the bare ENOENT / ENOTDIR of mkdtemp)", () => {
    const { b, store, traceId } = recorded();
    const missing = join(b.root, "no-such-dir");
    const file = join(b.root, "a-file");
    writeFileSync(file, "x");
    for (const [dir, errno] of [[missing, "ENOENT"], [file, "ENOTDIR"]] as const) {
      process.env.TMPDIR = dir;
      const err = cairnErrorOf(() => replayPgsRun(store, traceId));
      expect(err.code).toBe("E_STORE_IO");
      expect(err.message.startsWith(`replay cannot use its working directory ${dir}/cairn-pgs-replay-XXXXXX in the OS temp directory ${dir} ($TMPDIR): ${errno}:`)).toBe(true);
      expect(err.message.endsWith("; set TMPDIR to a writable directory")).toBe(true);
    }
  });

});
