/**
 * `wf compile` on a file holding two YAML documents, or nothing: said in the file's terms (before:
 * the yaml package's "please use YAML.parseAllDocuments()", and "must be object"); codes unchanged.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { compileWorkflows, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import { EMPTY_DECLARATION } from "../../src/workflow/cairn/declaration.js";
import { baseDecl, writeTree } from "./cairn-fixture.js";

async function lines(name: string, text: string): Promise<{ file: string; lines: string[] }> {
  const dir = writeTree({ [name]: text });
  const file = join(dir, name);
  const r = await compileWorkflows([file]);
  return { file, lines: r.diagnostics.map(formatDiagnostic) };
}

describe("wf compile: the file as a document", () => {
  it("two YAML documents: one document per file, naming the line the second starts at", async () => {
    const decl = stringify(baseDecl());
    const { file, lines: out } = await lines("two.yaml", `${decl}---\n${stringify(baseDecl({ code: "WF_OTHER_V0" }))}`);
    const at = decl.split("\n").length; // the "---" line
    expect(out).toEqual([`${file}: a workflow file holds one YAML document; this one has another starting at line ${at} (a "---" or "..." line separates documents): keep one declaration per file [E_COMPILE_SCHEMA]`]);
    expect(out.join("\n")).not.toContain("parseAllDocuments");
  });

  it.each([
    ["empty.yaml", ""],
    ["comments.yaml", "# nothing declared yet\n\n# still nothing\n"],
    ["marker.yml", "---\n"],
  ])("%s declares nothing", async (name, text) => {
    const { file, lines: out } = await lines(name, text);
    expect(out).toEqual([`${file}: ${EMPTY_DECLARATION} [E_COMPILE_SCHEMA]`]);
  });

  it("a document holding null is still the schema's error (it declares a value)", async () => {
    const { lines: out } = await lines("null.yaml", "null\n");
    expect(out[0]).toContain("does not match the Cairn workflow schema: must be object");
  });
});
