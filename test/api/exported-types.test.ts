/**
 * Types that exported functions take or return are exported too, so a caller can name them:
 * `verifyRun`'s options (`VerifyOptions`, package root), `workflow.pgs.recordRun`'s `started`
 * (`workflow.pgs.RecordedInputs`), and an examine report's `deleted` (`ArtifactLoss`, package
 * root, with the other store types), `workflow.examine.DifferenceKind` and
 * `workflow.cairn.LogReadLimit`. Checked at type level: `npx tsc -p tsconfig.json --noEmit`
 * (tsc over test/) fails when one of these names is not exported or is not the type the
 * signature uses; the runtime part only says the file was compiled.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import type { ArtifactLoss, Digest, VerifyOptions, verifyRun, workflow } from "../../src/index.js";

describe("exported parameter types", () => {
  it("verifyRun's options are VerifyOptions, exported at the root", () => {
    expectTypeOf<NonNullable<Parameters<typeof verifyRun>[2]>>().toEqualTypeOf<VerifyOptions>();
    expectTypeOf<VerifyOptions>().toEqualTypeOf<{ reexecute?: boolean; sample?: number; signal?: AbortSignal }>();
    const opts: VerifyOptions = { reexecute: true, sample: 2 };
    expect(opts.sample).toBe(2);
  });

  it("workflow.pgs.recordRun's started is RecordedInputs (with the program), exported from workflow.pgs", () => {
    expectTypeOf<NonNullable<Parameters<typeof workflow.pgs.recordRun>[2]>>().toMatchTypeOf<workflow.pgs.RecordedInputs>();
    expectTypeOf<NonNullable<Parameters<typeof workflow.pgs.recordRun>[2]>>().toEqualTypeOf<workflow.pgs.RecordedInputs & { program: Digest }>();
    expectTypeOf<workflow.pgs.RecordedInputs>().toEqualTypeOf<{ payload: Digest; priorState: Digest }>();
    expect(true).toBe(true);
  });

  it("an examine report's deleted artifact is an ArtifactLoss, exported at the root", () => {
    type Deleted = NonNullable<NonNullable<workflow.examine.ExamineReport["store"]>["deleted"]>;
    expectTypeOf<Deleted>().toEqualTypeOf<ArtifactLoss>();
    expectTypeOf<ArtifactLoss>().toEqualTypeOf<"tombstoned" | "collected">();
    expect(true).toBe(true);
  });

  it("examine's firstDifferingLine kind and an effect context's log read limit are exported where their functions are", () => {
    expectTypeOf<NonNullable<ReturnType<typeof workflow.examine.firstDifferingLine>>["kind"]>().toEqualTypeOf<workflow.examine.DifferenceKind>();
    expectTypeOf<workflow.examine.DifferenceKind>().toEqualTypeOf<"changed_line" | "extra_line" | "missing_line">();
    expectTypeOf<NonNullable<workflow.cairn.EffectContext["logReadLimit"]>>().toEqualTypeOf<Partial<workflow.cairn.LogReadLimit>>();
    expect(true).toBe(true);
  });
});
