/** printError (src/cli/output.ts): every error line carries a code; anything not a CairnError is E_INTERNAL (ARCHITECTURE §7). */
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { printError } from "../../src/cli/output.js";

function printed(err: unknown, json: boolean): string {
  let out = "";
  printError(err, json, { write: (s: string) => ((out += s), true), isTTY: false } as unknown as NodeJS.WriteStream);
  return out;
}

describe("printError", () => {
  it("a CairnError: its message and code", () => {
    expect(printed(new CairnError(ErrorCode.NOT_FOUND, "artifact x not found"), false)).toBe("cairn: artifact x not found [E_NOT_FOUND]\n");
  });

  it("anything else is reported as E_INTERNAL, on the human line as in JSON", () => {
    expect(printed(new Error("database disk image is malformed"), false)).toBe("cairn: database disk image is malformed [E_INTERNAL]\n");
    expect(JSON.parse(printed(new Error("boom"), true))).toEqual({ error: { code: "E_INTERNAL", message: "boom" } });
    expect(printed("a string", false)).toBe("cairn: a string [E_INTERNAL]\n");
  });
});
