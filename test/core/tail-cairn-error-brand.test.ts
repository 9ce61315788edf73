/**
 * `isCairnError` recognises a CairnError of another copy of Cairn in the same process (a user's
 * plane verifier or capability module importing its own installed `cairn`), where `instanceof`
 * tells only this copy's class: by the registered brand `Symbol.for("cairn.CairnError")` plus
 * the shape (string code and message, object details). The exit code and the CLI's error
 * printing then keep its code.
 */
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode, exitCodeFor, isCairnError, UsageError } from "../../src/core/errors.js";
import { printError } from "../../src/cli/output.js";

/** The same module loaded a second time (another module instance: another CairnError class). */
async function secondCopy(): Promise<typeof import("../../src/core/errors.js")> {
  const url = new URL("../../src/core/errors.ts?copy=2", import.meta.url).href;
  return (await import(/* @vite-ignore */ url)) as typeof import("../../src/core/errors.js");
}

function printed(err: unknown, json: boolean): string {
  let text = "";
  printError(err, json, { write: (s: string) => ((text += s), true), isTTY: false } as unknown as NodeJS.WriteStream);
  return text;
}

describe("isCairnError across copies of Cairn", () => {
  it("a CairnError of a second module instance is one (its code kept), though not instanceof this copy's class", async () => {
    const other = await secondCopy();
    expect(other.CairnError).not.toBe(CairnError);
    const err = new other.UsageError("bad flag from the other copy", { field: "--x" });
    expect(err instanceof CairnError).toBe(false);
    expect(isCairnError(err)).toBe(true);
    expect(isCairnError(err, ErrorCode.USAGE)).toBe(true);
    expect(isCairnError(err, ErrorCode.NOT_FOUND)).toBe(false);
    // The classification paths: exit 2 for a usage error, the CLI's line and JSON keep the code.
    expect(exitCodeFor(err)).toBe(2);
    expect(printed(err, false)).toBe("cairn: bad flag from the other copy [E_USAGE]\n");
    expect(JSON.parse(printed(err, true))).toEqual({ error: { code: "E_USAGE", message: "bad flag from the other copy", details: { field: "--x" } } });
    const io = new other.CairnError(other.ErrorCode.STORE_IO, "disk full", { path: "/x" });
    expect(exitCodeFor(io)).toBe(1);
    expect(printed(io, false)).toBe("cairn: disk full [E_STORE_IO]\n");
    // And the other copy recognises this one's.
    expect(other.isCairnError(new UsageError("u"), "E_USAGE")).toBe(true);
  });

  it("an object carrying the brand from a separate class, with the shape: recognised", () => {
    class Foreign extends Error {
      readonly code = "E_NOT_FOUND";
      readonly details = { what: "x" };
    }
    Object.defineProperty(Foreign.prototype, Symbol.for("cairn.CairnError"), { value: true });
    const err = new Foreign("missing");
    expect(isCairnError(err, ErrorCode.NOT_FOUND)).toBe(true);
    expect(printed(err, false)).toBe("cairn: missing [E_NOT_FOUND]\n");
  });

  it("no brand, a brand without the shape, a throwing proxy: not one (E_INTERNAL)", () => {
    const unbranded = Object.assign(new Error("plain"), { code: "E_USAGE", details: {} });
    expect(isCairnError(unbranded)).toBe(false);
    expect(exitCodeFor(unbranded)).toBe(1);
    expect(printed(unbranded, false)).toBe("cairn: plain [E_INTERNAL]\n");
    const brand = Symbol.for("cairn.CairnError");
    expect(isCairnError({ [brand]: true, code: 5, message: "m", details: {} })).toBe(false);
    expect(isCairnError({ [brand]: true, code: "E_USAGE", message: "m", details: null })).toBe(false);
    expect(isCairnError({ [brand]: true, code: "E_USAGE", details: {} })).toBe(false);
    expect(isCairnError({ [brand]: "yes", code: "E_USAGE", message: "m", details: {} })).toBe(false);
    // The whole shape with the brand, but not an Error: a look-alike, refused.
    expect(isCairnError({ [brand]: true, code: "E_USAGE", message: "m", details: {} })).toBe(false);

    const hostile = new Proxy({}, { get: () => { throw new Error("trap"); }, getPrototypeOf: () => { throw new Error("trap"); } });
    expect(isCairnError(hostile)).toBe(false);
  });

  it("this copy's own errors: unchanged, and the brand is not an own property (JSON and keys as before)", () => {
    const err = new CairnError(ErrorCode.CONFLICT, "c", { a: 1 });
    expect(isCairnError(err, ErrorCode.CONFLICT)).toBe(true);
    expect(Object.getOwnPropertySymbols(err)).toEqual([]);
    expect(JSON.stringify(err)).toBe('{"code":"E_CONFLICT","message":"c","details":{"a":1}}');
  });
});
