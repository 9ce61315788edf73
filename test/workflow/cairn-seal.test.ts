/** Sealed Cairn snapshots: the digest covers the whole content; any changed byte is refused. */
import { describe, expect, it } from "vitest";
import { canonicalBytes } from "../../src/core/canonical.js";
import { sha256 } from "../../src/core/digest.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import type { SnapshotContent } from "../../src/workflow/cairn/model.js";
import { prepareSnapshot } from "../../src/workflow/cairn/run.js";
import { loadSnapshotFromStore, sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { EXAMPLES, refusal } from "./cairn-fixture.js";

async function example(): Promise<{ content: SnapshotContent; bytes: Buffer; digest: string }> {
  const r = await compileWorkflows([EXAMPLES]);
  const { digest, bytes } = sealedFileBytes(r.content!);
  return { content: r.content!, bytes, digest };
}


describe("sealed snapshots", () => {
  it("the digest is the SHA-256 of the canonical content and verifies", async () => {
    const { content, bytes, digest } = await example();
    expect(digest).toBe(sha256(canonicalBytes(content)));
    expect(verifySealedBytes(bytes, "x").digest).toBe(digest);
    expect(verifySealedBytes(bytes, "x", digest as never).content).toEqual(JSON.parse(JSON.stringify(content)));
  });

  it("flipping any single byte of the file is refused with E_SNAPSHOT_INTEGRITY", async () => {
    const { bytes } = await example();
    const checks = new Set<unknown>();
    for (let i = 0; i < bytes.length; i++) {
      const t = Buffer.from(bytes);
      t[i] = (t[i] as number) ^ 0x01;
      const r = refusal(() => verifySealedBytes(t, "snap.json"));
      expect(r.code, `byte ${i}`).toBe("E_SNAPSHOT_INTEGRITY");
      expect(r.message).toContain("integrity");
      checks.add(r.check);
    }
    // changes that still parse are caught by the digest (content) or the canonical form
    expect(checks.has("digest")).toBe(true);
    expect(checks.has("parse")).toBe(true);
  });

  it("an edit deep in the content (module code, a route reason, a binding) breaks the digest even when re-canonicalised", async () => {
    const { content, digest } = await example();
    const edits: Array<(c: SnapshotContent) => void> = [
      (c) => {
        const m = Object.values(c.modules)[0]!;
        m.code = m.code.replace("toLowerCase", "toUpperCase");
      },
      (c) => {
        const r = c.workflows["registry::WF_REGISTER_AGENT_V0"]!.nodes.register!.routes.ALREADY_EXISTS as { reason: string };
        r.reason += "!";
      },
      (c) => {
        c.workflows["registry::WF_REGISTER_AGENT_V0"]!.stores.agents!.path = "elsewhere.jsonl";
      },
    ];
    for (const edit of edits) {
      const c = JSON.parse(JSON.stringify(content)) as SnapshotContent;
      edit(c);
      // the file keeps the old digest: refused
      const forged = Buffer.from(canonicalBytes({ format: "cairn.workflow.sealed/v1", digest, content: c }));
      expect(refusal(() => verifySealedBytes(forged, "f")).check).toBe("digest");
      // a re-sealed file is another snapshot: refused when the caller expects the original
      const resealed = sealedFileBytes(c).bytes;
      expect(refusal(() => verifySealedBytes(resealed, "f", digest as never)).check).toBe("expected");
    }
  });

  it("the runtime re-hashes user CT bundles: a bundle that does not match its recorded digest is refused", async () => {
    const { content } = await example();
    const c = JSON.parse(JSON.stringify(content)) as SnapshotContent;
    const m = Object.values(c.modules)[0]!;
    m.code = `${m.code}\n// extra`;
    const sealed = verifySealedBytes(sealedFileBytes(c).bytes, "f");
    const r = refusal(() => prepareSnapshot(sealed));
    expect(r.code).toBe("E_SNAPSHOT_INTEGRITY");
    expect(r.message).toContain("integrity");
  });

  it("an unknown atom ref in a sealed snapshot is E_HANDLER_UNMAPPED (sealed table only)", async () => {
    const { content } = await example();
    const c = JSON.parse(JSON.stringify(content)) as SnapshotContent;
    const step = c.workflows["registry::WF_REGISTER_AGENT_V0"]!.nodes.validate!.steps[0] as { handler: { ref: string } };
    step.handler.ref = "node:child_process:exec";
    const r = refusal(() => prepareSnapshot(verifySealedBytes(sealedFileBytes(c).bytes, "f")));
    expect(r.code).toBe("E_HANDLER_UNMAPPED");
  });
});

describe("a sealed file nested deeper than the compiler allows (a build before 2026-11-27, or by hand)", () => {
  it("is refused (structure) before anything walks it, from a file and from the store's bytes; not E_INTERNAL at run time", () => {
    const deep = `${"[".repeat(5000)}1${"]".repeat(5000)}`;
    const x = refusal(() => verifySealedBytes(Buffer.from(`{"content":${deep},"digest":"x","format":"y"}`), "deep.json"));
    expect([x.code, x.check]).toEqual(["E_SNAPSHOT_INTEGRITY", "structure"]);
    expect(x.message).toBe("snapshot integrity check failed (structure): deep.json nests deeper than 512 levels (line 1, column 523): the compiler never seals such a snapshot (a declaration nests at most 256 levels); recompile its declarations with this build");
    const digest = sha256(Buffer.from(deep));
    const y = refusal(() => loadSnapshotFromStore({ get: () => Buffer.from(deep) }, digest));
    expect([y.code, y.check]).toEqual(["E_SNAPSHOT_INTEGRITY", "structure"]);
    expect(y.message).toContain(`artifact ${digest} nests deeper than 512 levels (line 1, column 513)`);
  });
});
