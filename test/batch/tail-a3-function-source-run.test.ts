import { afterAll, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { run } from "../../src/batch/engine.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());
const code = "export default (x) => x;\n";

it("run() refuses an unknown function key and a bad name before any store work; a path-like name is a label", async () => {
  const { store } = scratch.store();
  const e = await expectCairnError(run(store, [1], { code, nam: "x" } as unknown as Parameters<typeof run>[2], { workers: 1 }), ErrorCode.USAGE, 'unknown function key "nam" (did you mean "name"?)');
  expect(e.details).toEqual({ field: "nam", suggestion: "name" });
  await expectCairnError(run(store, [1], { code, name: "" }, { workers: 1 }), ErrorCode.USAGE, "fn.name must be a non-empty string");
  await expectCairnError(run(store, [1], { code, name: "a\nb" }, { workers: 1 }), ErrorCode.USAGE, 'got "a\\nb"');
  const ok = await run(store, [1], { code, name: "lib/fn.mjs" }, { workers: 1 });
  expect(ok.status).toBe("completed");
});
