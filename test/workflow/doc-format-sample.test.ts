/**
 * The format example of docs/workflow-cairn.md §1 compiles as written (UAT pass 4: it routed to
 * an undeclared node and bound a result no step produced), beside the example's capability
 * module (examples/workflows/modules), which its `modules:` entry names.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";

const ROOT = join(import.meta.dirname, "..", "..");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The first ```yaml block after the heading of §1. */
function formatSample(): string {
  const doc = readFileSync(join(ROOT, "docs", "workflow-cairn.md"), "utf8");
  const section = doc.slice(doc.indexOf("## 1. The declaration format"));
  const m = /```yaml\n([\s\S]*?)\n```/.exec(section);
  if (m === null) throw new Error("no yaml block in §1 of docs/workflow-cairn.md");
  return `${m[1]}\n`;
}

describe("docs/workflow-cairn.md §1 format example", () => {
  it("compiles without a diagnostic", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-docsample-"));
    dirs.push(dir);
    cpSync(join(ROOT, "examples", "workflows", "modules"), join(dir, "modules"), { recursive: true });
    writeFileSync(join(dir, "w.yaml"), formatSample());
    const r = await compileWorkflows([join(dir, "w.yaml")]);
    expect(r.diagnostics).toEqual([]);
    expect(r.workflows.map((w) => [w.fqdn, w.nodes])).toEqual([["registry::WF_REGISTER_AGENT_V0", 2]]);
  });
});
