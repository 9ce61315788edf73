/**
 * UAT6 F6: an execution refused because its evidence store cannot be opened (E_STORE_LOCKED)
 * leaves no record in any other sink. The node calls every sink's `open()` before a record
 * reaches any sink, and the store sink opens its store there. Before, the JSONL sink (registered
 * first by the node config) had already appended `admission.accepted` when the store sink failed,
 * an accepted execution that never ends.
 * Library side, then the BUILT cli (`CAIRN_TEST_CLI` for a private build).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JsonlEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { StoreEvidenceSink } from "../../src/plane/evidence/store-sink.js";
import { openStore, type Store } from "../../src/store/store.js";
import { cairn, CLI, TempDirs } from "../cli/helpers.js";
import { harness, request } from "./node-helpers.js";
import { writeProcessNodeYaml } from "./process-node-yaml.js";

const temps = new TempDirs();
const held: Store[] = [];
afterEach(() => {
  for (const s of held.splice(0)) s.close();
  temps.cleanup();
});

/** The evidence types in a JSONL evidence file, in order ([] when there is no file). */
const types = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as { evidence_type: string }).evidence_type) : [];

describe("a store that cannot be opened: no record reaches any sink (library)", () => {
  it("the JSONL sink registered before the store sink gets nothing; the lane never runs", async () => {
    const dir = temps.make();
    const storeDir = join(dir, "store");
    held.push(openStore({ dir: storeDir })); // this process's writer: a second open is E_STORE_LOCKED at once
    const h = harness({ complete: false });
    const jsonl = join(dir, "evidence.jsonl");
    h.node.registerEvidenceSink(new JsonlEvidenceSink(jsonl, "jsonl")).registerEvidenceSink(new StoreEvidenceSink(() => openStore({ dir: storeDir }), "store"));
    h.node.completeRegistration();
    await expect(h.node.execute(request(h))).rejects.toMatchObject({ code: "E_STORE_LOCKED" });
    expect(types(jsonl)).toEqual([]);
    expect(h.sink.records).toEqual([]); // the memory sink (registered first) got nothing either
    expect((h.lane as { calls: unknown[] }).calls).toEqual([]);
  });

  it("once the store can be opened, the same node records to every sink", async () => {
    const dir = temps.make();
    const storeDir = join(dir, "store");
    const blocker = openStore({ dir: storeDir });
    const h = harness({ complete: false });
    const jsonl = join(dir, "evidence.jsonl");
    const sink = new StoreEvidenceSink(() => {
      const s = openStore({ dir: storeDir });
      held.push(s);
      return s;
    });
    h.node.registerEvidenceSink(new JsonlEvidenceSink(jsonl, "jsonl")).registerEvidenceSink(sink);
    h.node.completeRegistration();
    await expect(h.node.execute(request(h))).rejects.toMatchObject({ code: "E_STORE_LOCKED" });
    blocker.close();
    const r = await h.node.execute(request(h, { request_id: "req-2" }));
    expect(r.status).toBe("succeeded");
    expect(types(jsonl)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
    expect(sink.recorded.map((x) => x.evidence_id)).toEqual(h.sink.records.map((e) => e.evidence_id));
  });
});

describe("cairn plane exec on a locked store (built cli)", () => {
  it("fails E_STORE_LOCKED before dispatch and writes no evidence record to the JSONL file", () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first`);
    const dir = temps.make();
    expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd: dir }).status).toBe(0);
    writeProcessNodeYaml(dir, { evidence: "{ jsonl: evidence.jsonl, store: true }" });
    writeFileSync(
      join(dir, "req.json"),
      JSON.stringify({ contract_version: 1, lane_id: "process", operation: "run", idempotency_key: "k1", payload: { command: "/bin/sh", argv: ["-c", "touch ran"] }, acceptable_attestation: { classes: ["local-process-weak"] } }),
    );
    const signed = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "aud", "--ttl", "300", "--request", "req.json"], { cwd: dir });
    expect(signed.status).toBe(0);
    writeFileSync(join(dir, "signed.json"), signed.out);
    const store = join(dir, "store");
    const holder = openStore({ dir: store }); // another process's writer lock, as a running batch would hold
    held.push(holder);
    const r = cairn(["--store", store, "plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd: dir });
    expect(r.status).toBe(1);
    expect((JSON.parse(r.err) as { error: { code: string } }).error.code).toBe("E_STORE_LOCKED");
    expect(r.out).toBe("");
    expect(existsSync(join(dir, "ran"))).toBe(false);
    expect(types(join(dir, "evidence.jsonl"))).toEqual([]);
    // released: the same exec records its whole chain in both sinks
    held.splice(0).forEach((s) => s.close());
    const ok = cairn(["--store", store, "plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd: dir });
    expect(ok.status).toBe(0);
    expect(types(join(dir, "evidence.jsonl"))).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
  });
});
