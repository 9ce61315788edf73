/**
 * The gateway under an audit of 2026-11-26 (src/server/app.ts):
 *  1. a client stalled mid-request is cut after requestTimeoutMs, so close() ends and releases
 *     the data-root lock (it waited for that client forever);
 *  2. synchronous runs still yield between each other: the queue bound answers 503 and
 *     /api/health is answered between runs, not after the whole backlog (with `fetch`, whose
 *     connections are all open before the first run; clients opening a connection per request
 *     during runs: backlog-close.test.ts F2);
 *  3. a failure after the run had its trace (recording it) is a 500 that names that trace;
 *  4. a store locked by another writer is 503 (nothing has run), a malformed URL a 400 in the
 *     gateway's format with CORS.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { acquireDataRootLock, runPgsWorkflow, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import { actorBody, gatewayScratch } from "./fixture.js";

const { box, serve } = gatewayScratch();

async function post(url: string, body: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown>, headers: res.headers };
}

describe("1. a stalled client", () => {
  it("is cut once close() has let the accepted runs answer: close() ends and the data-root lock is free again", async () => {
    const b = box();
    const { url, server } = await serve(b, { requestTimeoutMs: 300 });
    const { port } = new URL(url);
    const sock = connect(Number(port), "127.0.0.1");
    await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
    sock.on("error", () => {});
    sock.write(`POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"workflow_code":`);
    await new Promise((r) => setTimeout(r, 50));
    await server.close(); // resolves (it waited for this client forever)
    acquireDataRootLock(b.dataRoot).release(); // free: a run elsewhere could take it
    sock.destroy();
  });
});

describe("2. synchronous runs and the queue", () => {
  it("past the bound a run is 503 at once, and /api/health is answered between runs", async () => {
    const b = box();
    const busy = (ms: number): void => {
      const end = Date.now() + ms;
      while (Date.now() < end);
    };
    // A synchronous runner (like runPgsWorkflow) that takes 100 ms of CPU.
    const runner = (o: RunPgsOptions) => {
      busy(100);
      return runPgsWorkflow(o);
    };
    const { url } = await serve(b, { runner, maxQueuedRuns: 2 });
    const body = actorBody();
    // The order in which replies arrive (not how long anything takes: the machine may be loaded).
    let arrived = 0;
    const runs = Array.from({ length: 8 }, () => post(url, body).then((r) => ({ ...r, order: arrived++ })));
    await new Promise((r) => setTimeout(r, 20));
    const health = await fetch(`${url}/api/health`);
    const healthOrder = arrived++;
    expect(health.status).toBe(200);
    const replies = await Promise.all(runs);
    const codes = replies.map((r) => r.status).sort();
    expect(codes.filter((c) => c === 503).length).toBeGreaterThan(0);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThan(0);
    for (const r of replies.filter((x) => x.status === 503)) {
      expect(r.body.status).toBe("ERROR");
      expect(r.headers.get("retry-after")).toBe("1");
    }
    // Answered between runs, not after all the accepted ones: before the last accepted reply.
    expect(healthOrder).toBeLessThan(Math.max(...replies.filter((r) => r.status === 200).map((r) => r.order)));
  });
});

describe("3. a failure after the trace", () => {
  /** A real store whose top-level transactions from the `failAt`-th on fail (ENOSPC), as a full disk would. */
  const failingFrom = (dir: string, failAt: number) => (): Store => {
    const store = openStore({ dir });
    const transaction = store.transaction.bind(store);
    let depth = 0;
    let calls = 0;
    store.transaction = (<T>(fn: () => T): T => {
      if (depth === 0 && ++calls >= failAt) throw new CairnError(ErrorCode.STORE_IO, "cannot write the catalog: ENOSPC");
      depth++;
      try {
        return transaction(fn);
      } finally {
        depth--;
      }
    }) as Store["transaction"];
    return store;
  };

  it("recording in the store fails after the run: 500 naming the run's trace, whose effects are applied; the start record says so", async () => {
    const b = box();
    const dir = join(b.root, "store");
    const { url, server } = await serve(b, { store: failingFrom(dir, 2) }); // the run's start record (1) works, its record (2) fails
    const r = await post(url, actorBody());
    expect(r.status).toBe(500);
    expect(typeof r.body.trace_id).toBe("string");
    expect(r.body.error).toContain("[E_STORE_IO]");
    // The run's effects were applied: the data root holds its files.
    expect(readdirSync(b.dataRoot, { recursive: true }).length).toBeGreaterThan(0);
    await server.close();
    const store = openStore({ dir, readOnly: true });
    try {
      expect(store.listRoots().map((x) => x.name)).toContain(`pgs:${String(r.body.trace_id)}:started`);
    } finally {
      store.close();
    }
  });

  it("a store that cannot record the run's start: 500 before any effect (nothing applied, no trace)", async () => {
    const b = box();
    const { url } = await serve(b, { store: failingFrom(join(b.root, "store"), 1) });
    const r = await post(url, actorBody());
    expect(r.status).toBe(500);
    expect(r.body.error).toContain("[E_STORE_IO]");
    expect(readdirSync(b.dataRoot, { recursive: true })).toEqual([]);
    expect(existsSync(join(b.workspace, "traces"))).toBe(false);
  });
});

describe("4. other refusals in the gateway's format", () => {
  it("a store locked by another writer is 503 with Retry-After (nothing ran)", async () => {
    const b = box();
    const locked = (): Store => {
      throw new CairnError(ErrorCode.STORE_LOCKED, "store /somewhere is locked by another writer");
    };
    const { url } = await serve(b, { store: locked });
    const r = await post(url, actorBody());
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(r.body).toEqual({ status: "ERROR", error: "the store is locked by another writer; retry later" });
  });

  it("a malformed URL is 400 in the gateway's format, with CORS", async () => {
    const b = box();
    const { url } = await serve(b);
    const { port } = new URL(url);
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(port), "127.0.0.1", () => sock.write("GET /api/%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      let data = "";
      sock.on("data", (d) => (data += d.toString("utf8")));
      sock.on("end", () => resolve(data));
      sock.on("error", reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw.toLowerCase()).toContain("access-control-allow-origin: *");
    const json = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
    expect(json.status).toBe("ERROR");
    expect(typeof json.error).toBe("string");
  });
});
