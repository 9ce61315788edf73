/**
 * The prior/posterior state capture (src/workflow/pgs/state.ts) reads data-root files under the
 * CS runtimes' confinement rules (effects/confine.ts): no file outside the data root is ever
 * read, so none of its bytes can reach the state digests or the store (audit finding b1: a
 * store file symlinked to an outside secret had the secret recorded as prior-state artifact).
 */
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { openStore, type Store } from "../../src/store/store.js";
import { captureState } from "../../src/workflow/pgs/state.js";
import { baseDecl, prepared, run, tempDir } from "./cairn-fixture.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const SECRET = "TOP SECRET OUTSIDE\n";

const boxes: Sandbox[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const b of boxes.splice(0)) b.cleanup();
});

/** Every artifact of the store that holds `needle`. */
function artifactsHolding(store: Store, needle: string): string[] {
  const out: string[] = [];
  for (const a of store.list()) if (store.get(a.digest).includes(needle)) out.push(a.digest);
  return out;
}

/** A temp dir with `data/` (the data root) and `outside/secret.txt` beside it. */
function layout(): { dir: string; root: string; secret: string } {
  const dir = tempDir("cairn-state-conf-");
  const root = join(dir, "data");
  mkdirSync(root);
  mkdirSync(join(dir, "outside"));
  const secret = join(dir, "outside", "secret.txt");
  writeFileSync(secret, SECRET);
  return { dir, root, secret };
}

describe("captureState never reads outside the data root", () => {
  it("a final component symlinked to an outside file is unusable (symlink), its bytes never read", () => {
    const { root, secret } = layout();
    mkdirSync(join(root, "st"));
    symlinkSync(secret, join(root, "st/mu.json"));
    for (const withBytes of [true, false]) {
      const [s] = captureState(root, ["st/mu.json"], withBytes);
      expect(s).toEqual({ path: "st/mu.json", digest: null, bytes: null, unusable: { kind: "symlink" } });
    }
  });

  it("a final component symlinked inside the data root is unusable too (the CS runtimes never follow one)", () => {
    const { root } = layout();
    writeFileSync(join(root, "real.json"), "{}\n");
    symlinkSync("real.json", join(root, "alias.json"));
    expect(captureState(root, ["alias.json"])[0]).toEqual({ path: "alias.json", digest: null, bytes: null, unusable: { kind: "symlink" } });
  });

  it("a parent directory symlinked out of the data root is unusable, naming that directory", () => {
    const { dir, root } = layout();
    writeFileSync(join(dir, "outside", "reg.jsonl"), SECRET);
    mkdirSync(join(root, "a"));
    symlinkSync(join(dir, "outside"), join(root, "a/b"));
    expect(captureState(root, ["a/b/reg.jsonl"])[0]).toEqual({ path: "a/b/reg.jsonl", digest: null, bytes: null, unusable: { kind: "symlink", at: "a/b" } });
    // Through a relative link too.
    symlinkSync("../outside", join(root, "up"));
    expect(captureState(root, ["up/reg.jsonl"])[0]?.unusable).toEqual({ kind: "symlink", at: "up" });
  });

  it("a dangling symlinked parent is unusable with the error that stops its resolution", () => {
    const { root } = layout();
    symlinkSync("nowhere", join(root, "d"));
    expect(captureState(root, ["d/f.json"])[0]?.unusable).toEqual({ kind: "symlink", at: "d", errno: "ENOENT" });
  });

  it("a symlinked parent directory inside the data root is still followed: same digest and bytes as the direct path", () => {
    const { root } = layout();
    mkdirSync(join(root, "v1"));
    writeFileSync(join(root, "v1/s.json"), '{"v":1}\n');
    symlinkSync("v1", join(root, "cur"));
    const [viaLink, direct] = captureState(root, ["cur/s.json", "v1/s.json"]);
    expect(viaLink).toEqual({ path: "cur/s.json", digest: sha256(Buffer.from('{"v":1}\n')), bytes: Buffer.from('{"v":1}\n') });
    expect(direct?.digest).toBe(viaLink?.digest);
  });

  it("a data root that is itself a symlink is resolved first (rule 2 applies below the real root)", () => {
    const { dir } = layout();
    mkdirSync(join(dir, "real"));
    writeFileSync(join(dir, "real/f.json"), "{}\n");
    symlinkSync(join(dir, "real"), join(dir, "link"));
    expect(captureState(join(dir, "link"), ["f.json"])[0]?.digest).toBe(sha256(Buffer.from("{}\n")));
  });
});

describe("a run over a data root with a file symlinked outside records none of the outside bytes", () => {
  it("Cairn snapshot run (the audit's repro): the step is refused with E_PATH_CONFINEMENT, the store holds no outside byte", async () => {
    const decl = baseDecl({
      entry: "probe",
      stores: { reg: { kind: "registry", path: "s/reg.jsonl" } },
      nodes: { probe: { steps: [{ id: "s", cs: "reg", op: "RESOLVE", inputs: { key_or_address: { const: "k" } } }], routes: { default: { exit: "ANY", reason: "any" } } } },
    });
    const { snap, dir } = await prepared(decl);
    const secret = join(tempDir("cairn-state-outside-"), "secret.txt");
    writeFileSync(secret, SECRET);
    mkdirSync(join(dir, "data/s"), { recursive: true });
    symlinkSync(secret, join(dir, "data/s/reg.jsonl"));
    const store = openStore({ dir: join(dir, "store"), create: true });
    stores.push(store);
    const r = run(snap, {}, dir, { store });
    expect(r.status).toBe("ERROR");
    expect(r.error?.code).toBe("E_PATH_CONFINEMENT");
    expect(r.recorded).not.toBeNull();
    expect(store.has(sha256(Buffer.from(SECRET)))).toBe(false);
    expect(artifactsHolding(store, "TOP SECRET")).toEqual([]);
    // The prior-state manifest names the file as an unusable symlink, not as absent.
    const prior = JSON.parse(store.get(r.recorded!.priorState).toString("utf8")) as { files: unknown[] };
    expect(prior.files).toEqual([{ path: "s/reg.jsonl", digest: null, unusable: { kind: "symlink" } }]);
    expect(readFileSync(secret, "utf8")).toBe(SECRET);
  });

  it("PGS run: the audit log symlinked to an outside file; the store holds no outside byte", () => {
    const b = sandbox({ seedLicenseFacts: true });
    boxes.push(b);
    const outside = join(b.root, "outside.jsonl");
    writeFileSync(outside, `{"secret": "TOP SECRET"}\n`);
    mkdirSync(join(b.dataRoot, "ai_governance/agent_governance"), { recursive: true });
    symlinkSync(outside, join(b.dataRoot, "ai_governance/agent_governance/governance_audit.jsonl"));
    const store = openStore({ dir: join(b.root, "store"), create: true });
    stores.push(store);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { store });
    expect(r.recorded).not.toBeNull();
    expect(artifactsHolding(store, "TOP SECRET")).toEqual([]);
    const prior = JSON.parse(store.get(r.recorded!.priorState).toString("utf8")) as { files: Array<{ path: string; unusable?: unknown }> };
    expect(prior.files.find((f) => f.path.endsWith("governance_audit.jsonl"))).toEqual({
      path: "ai_governance/agent_governance/governance_audit.jsonl", digest: null, unusable: { kind: "symlink" },
    });
  });
});

describe("nothing is kept across captures", () => {
  it("a data root reached through a symlink that is re-pointed between two captures is read where it now leads", () => {
    const t = tempDir();
    for (const [d, text] of [["A", "AAAA\n"], ["B", "BBBBBBBB\n"]] as const) {
      mkdirSync(join(t, d, "st"), { recursive: true });
      writeFileSync(join(t, d, "st", "f.json"), text);
    }
    const root = join(t, "root");
    symlinkSync(join(t, "A"), root);
    expect(captureState(root, ["st/f.json"], true)[0]?.bytes?.toString()).toBe("AAAA\n");
    rmSync(root);
    symlinkSync(join(t, "B"), root);
    const second = captureState(root, ["st/f.json"], true)[0];
    expect(second?.bytes?.toString()).toBe("BBBBBBBB\n");
    expect(second?.digest).toBe(sha256("BBBBBBBB\n"));
  });
});
