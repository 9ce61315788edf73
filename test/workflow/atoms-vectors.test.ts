/**
 * Table-driven check of every vector in the pack's atom_vectors.json (84 worked examples computed
 * with the reference atoms): the raw atom behaviour (`atom_inputs` → `atom_result`) and the CT
 * step as the dispatcher records it (`ct_inputs` → `ct_step`, through the real CT-IR from
 * handlers.json). Files are parsed losslessly (1.0 stays a float, big ints stay exact) and
 * results are compared through the compact serialisation, so member order and int/float matter.
 */
import { existsSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  AtomViolation,
  CT_ATOMS,
  generateIdContent,
  lookupAtom,
  runCtStep,
} from "../../src/workflow/atoms/index.js";
import {
  compactJson,
  canonicalJson,
  getOrNull,
  isDict,
  isList,
  parsePyJson,
  type PyDict,
  type PyValue,
} from "../../src/workflow/py/index.js";

const PACK = new URL("../../../shared/fixtures/pgs/", import.meta.url);
const VECTORS_FILE = fileURLToPath(new URL("atom_vectors.json", PACK));
const HANDLERS_FILE = fileURLToPath(new URL("workspace/tokenized_snapshot/ai_governance/handlers.json", PACK));
const EXPECTED_VECTOR_COUNT = 84;

function load(path: string): PyDict {
  if (!existsSync(path)) throw new Error(`fixture not found: ${path} (the PGS pack must sit at ../shared beside the repo)`);
  const v = parsePyJson(readFileSync(path, "utf8"));
  if (!isDict(v)) throw new Error(`${path} is not a JSON object`);
  return v;
}

function dict(v: PyValue): PyDict {
  if (!isDict(v)) throw new Error(`expected an object, got ${compactJson(v)}`);
  return v;
}

/** CT-IR per handler ref, from the ai_governance snapshot (it holds all 11 atoms). */
function ctIrByHandlerRef(): Map<string, PyValue> {
  const out = new Map<string, PyValue>();
  for (const ct of dict(getOrNull(load(HANDLERS_FILE), "ct")).values()) {
    const ctIr = getOrNull(dict(ct), "ct_ir");
    const stream = getOrNull(dict(ctIr), "atom_stream");
    if (!isList(stream) || stream.length !== 1) continue;
    const ref = dict(getOrNull(dict(stream[0] as PyValue), "handler_ref"));
    out.set(`${String(getOrNull(ref, "module"))}:${String(getOrNull(ref, "callable"))}`, ctIr);
  }
  return out;
}

const vectors = (getOrNull(load(VECTORS_FILE), "vectors") as PyValue[]).map(dict);
const ctIrs = ctIrByHandlerRef();

describe("atom_vectors.json", () => {
  it(`resolves the pack at ../shared and holds ${EXPECTED_VECTOR_COUNT} vectors`, () => {
    expect(fileURLToPath(PACK)).toMatch(/shared[/\\]fixtures[/\\]pgs[/\\]$/);
    expect(vectors).toHaveLength(EXPECTED_VECTOR_COUNT);
  });

  describe.each(vectors.map((v) => [String(getOrNull(v, "id")), String(getOrNull(v, "case")), v] as const))("%s — %s", (_id, _case, v) => {
    const ref = getOrNull(v, "handler_ref") as string;
    const atom = lookupAtom(CT_ATOMS, ref);

    it("is registered under its handler ref with the right code", () => {
      expect(atom?.code).toBe(getOrNull(v, "atom"));
      expect(atom?.handlerRef).toBe(ref);
    });

    it("atom_inputs → atom_result", () => {
      const inputs = dict(getOrNull(v, "atom_inputs"));
      expect([...inputs.keys()].sort()).toEqual([...(atom?.args ?? [])].sort());
      const want = dict(getOrNull(v, "atom_result"));
      if (getOrNull(want, "raises") === true) {
        let thrown: unknown;
        try {
          atom?.execute(inputs);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(AtomViolation);
        expect((thrown as AtomViolation).pyException).toBe(getOrNull(want, "python_exception"));
      } else if (getOrNull(want, "returns_null") === true) {
        expect(atom?.execute(inputs)).toBeNull();
      } else {
        expect(compactJson(atom?.execute(inputs) ?? null)).toBe(compactJson(getOrNull(want, "returns")));
      }
    });

    it("ct_inputs → ct_step (status and adapted outputs)", () => {
      const ctIr = ctIrs.get(ref);
      expect(ctIr).toBeDefined();
      const step = runCtStep(ctIr ?? null, dict(getOrNull(v, "ct_inputs")));
      const want = dict(getOrNull(v, "ct_step"));
      expect(step.status).toBe(getOrNull(want, "status"));
      expect(compactJson(step.outputs)).toBe(compactJson(getOrNull(want, "outputs")));
    });

    if (v.has("canonical_json")) {
      it("canonical JSON and SHA-256 of the hashed content", () => {
        const text = generateIdContent(getOrNull(dict(getOrNull(v, "atom_inputs")), "data"));
        expect(text).toBe(getOrNull(v, "canonical_json"));
        expect(createHash("sha256").update(text, "utf8").digest("hex")).toBe(getOrNull(v, "sha256"));
        expect(canonicalJson(parsePyJson(text))).toBe(text);
      });
    }
  });
});
