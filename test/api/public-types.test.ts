/**
 * The types public signatures use are exported, where their users reach them (the package root,
 * `plane`, `workflow.pgs`, `workflow.cairn`, `workflow.examine`). Checked at type level:
 * `npm run typecheck` (tsc over test/) fails when one of these names is no longer exported, or
 * is no longer the type the signature uses. The runtime part only says the file was compiled.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import type {
  ArtifactInfo, ArtifactState, ArtifactStorage, AttemptLog, Durability, EUError, EURecord, GcReport, ManifestPulse, OpenStoreOptions, OutputRecord,
  SweptArtifact, plane, workflow,
} from "../../src/index.js";
import type { streamOutputs } from "../../src/index.js";

type Item<G> = G extends AsyncGenerator<infer T> ? T : never;

describe("public types", () => {
  it("store and batch types are exported at the root and are the ones the signatures use", () => {
    expectTypeOf<Item<ReturnType<typeof streamOutputs>>>().toEqualTypeOf<OutputRecord>();
    expectTypeOf<OutputRecord["id"]>().toEqualTypeOf<EURecord["id"]>();
    expectTypeOf<ManifestPulse["attempts"][number]>().toEqualTypeOf<AttemptLog>();
    expectTypeOf<AttemptLog["errors"][number]>().toEqualTypeOf<EUError>();
    expectTypeOf<ArtifactInfo["state"]>().toEqualTypeOf<ArtifactState>();
    expectTypeOf<ArtifactInfo["storage"]>().toEqualTypeOf<ArtifactStorage>();
    expectTypeOf<GcReport["swept"][number]>().toEqualTypeOf<SweptArtifact>();
    expectTypeOf<NonNullable<OpenStoreOptions["durability"]>>().toEqualTypeOf<Durability>();
    expectTypeOf<Durability>().toEqualTypeOf<"full" | "normal">();
    expect(true).toBe(true);
  });

  it("plane: every lane constructor's options, placements, routed targets, attestation values, fact checks", () => {
    expectTypeOf<NonNullable<ConstructorParameters<typeof plane.HttpLane>[0]>>().toEqualTypeOf<plane.HttpLaneOptions>();
    expectTypeOf<NonNullable<ConstructorParameters<typeof plane.InlineLane>[0]>>().toEqualTypeOf<plane.InlineLaneOptions>();
    expectTypeOf<NonNullable<ConstructorParameters<typeof plane.ProcessLane>[0]>>().toEqualTypeOf<plane.ProcessLaneOptions>();
    expectTypeOf<NonNullable<ConstructorParameters<typeof plane.SseLane>[0]>>().toEqualTypeOf<plane.SseLaneOptions>();
    expectTypeOf<NonNullable<ConstructorParameters<typeof plane.WebSocketLane>[0]>>().toEqualTypeOf<plane.WebSocketLaneOptions>();
    expectTypeOf<NonNullable<ConstructorParameters<typeof plane.WorkerLane>[0]>>().toEqualTypeOf<plane.WorkerLaneOptions>();
    expectTypeOf<NonNullable<ConstructorParameters<typeof plane.JsonRpcLane>[0]>>().toEqualTypeOf<plane.JsonRpcLaneOptions>();
    expectTypeOf<plane.ProcessLane["placement"]>().toEqualTypeOf<plane.Placement>();
    expectTypeOf<plane.Placement["kind"]>().toEqualTypeOf<plane.PlacementKind>();
    expectTypeOf<NonNullable<Extract<plane.AdmitResult, { ok: true }>["target"]>>().toEqualTypeOf<plane.RoutedTarget>();
    expectTypeOf<Parameters<typeof plane.intersect>[0]>().toEqualTypeOf<plane.AcceptableAttestationValue>();
    expectTypeOf<plane.AcceptableAttestation>().toEqualTypeOf<plane.AcceptableAttestationValue>();
    expectTypeOf<(typeof plane.LANE_FACTS)[string][string]>().toEqualTypeOf<plane.FactCheck>();
    expect(true).toBe(true);
  });

  it("workflow.pgs: the Python dict, atom tables, trace-id inputs, record inputs, replay differences", () => {
    expectTypeOf<workflow.pgs.PyObject>().toEqualTypeOf<workflow.pgs.PyDict>();
    expectTypeOf<Extract<workflow.pgs.PyValue, Map<string, unknown>>>().toEqualTypeOf<workflow.pgs.PyDict>();
    expectTypeOf<NonNullable<workflow.pgs.RunPgsOptions["atoms"]>>().toEqualTypeOf<workflow.pgs.CtAtomTable>();
    expectTypeOf<Parameters<typeof workflow.pgs.makeTraceId>[0]>().toEqualTypeOf<workflow.pgs.TraceIdInputs>();
    expectTypeOf<Parameters<typeof workflow.pgs.runKey>[0]>().toEqualTypeOf<workflow.pgs.TraceIdInputs>();
    expectTypeOf<Parameters<typeof workflow.pgs.recordRun>[1]>().toEqualTypeOf<workflow.pgs.RecordInput>();
    expectTypeOf<NonNullable<workflow.pgs.ReplayResult["firstDifference"]>>().toEqualTypeOf<workflow.pgs.ReplayDifference>();
    expect(true).toBe(true);
  });

  it("workflow.cairn and workflow.examine: CS runtimes, record inputs, atoms, declarations", () => {
    expectTypeOf<workflow.cairn.PreparedSnapshot["cs"]>().toEqualTypeOf<ReadonlyMap<string, workflow.cairn.CsRuntime>>();
    expectTypeOf<Parameters<workflow.cairn.CsRuntime["execute"]>>().toEqualTypeOf<[workflow.cairn.CsCall, workflow.cairn.EffectContext]>();
    expectTypeOf<ReturnType<workflow.cairn.CsRuntime["execute"]>>().toEqualTypeOf<workflow.cairn.CsResult>();
    expectTypeOf<Parameters<typeof workflow.cairn.recordCairnRun>[1]>().toEqualTypeOf<workflow.cairn.CairnRecordInput>();
    expectTypeOf<workflow.cairn.AtomEntry["atom"]>().toEqualTypeOf<workflow.cairn.CtAtom>();
    expectTypeOf<workflow.pgs.CtAtomTable[string]>().toEqualTypeOf<workflow.cairn.CtAtom>();
    expectTypeOf<NonNullable<ReturnType<typeof workflow.examine.findCairnSnapshot>>>().toEqualTypeOf<workflow.examine.FoundSnapshot>();
    expectTypeOf<NonNullable<ReturnType<workflow.examine.Declarations["topology"]>>>().toEqualTypeOf<workflow.examine.TopologyEntry>();
    expectTypeOf<ReturnType<workflow.examine.Declarations["routes"]>>().toEqualTypeOf<workflow.examine.CompiledRoute[]>();
    expectTypeOf<NonNullable<ReturnType<workflow.examine.Declarations["contract"]>>>().toEqualTypeOf<workflow.examine.CcContract>();
    expectTypeOf<Parameters<typeof workflow.cairn.compileLaneBinding>[2]>().toEqualTypeOf<workflow.cairn.LaneCompileReport>();
    expectTypeOf<workflow.cairn.AtomStep>().toMatchTypeOf<workflow.cairn.StepBase>();
    expectTypeOf<workflow.cairn.StepBase["onResult"]>().toEqualTypeOf<Record<string, workflow.cairn.OnResult>>();
    expect(true).toBe(true);
  });
});
