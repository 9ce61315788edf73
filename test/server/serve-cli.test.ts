/**
 * `cairn serve --allow-origin` through the built CLI (CAIRN_TEST_CLI, else dist/): the origins it
 * names are served with their own Access-Control-Allow-Origin, any other Origin is refused 403,
 * clients without Origin are served as before, and a malformed origin stops it with exit 2.
 */
import { describe, expect, it } from "vitest";
import { cairn, killChildrenAfterEach, serveCairn } from "../cli/helpers.js";
import { actorBody, gatewayScratch } from "./fixture.js";

const { box } = gatewayScratch();
const children = killChildrenAfterEach();

async function post(url: string, origin?: string): Promise<{ status: number; acao: string | null; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", body: actorBody(), headers: origin === undefined ? {} : { origin } });
  return { status: res.status, acao: res.headers.get("access-control-allow-origin"), body: (await res.json()) as Record<string, unknown> };
}

describe("cairn serve --allow-origin", () => {
  it("serves the origins named (repeatable) and refuses the others 403; a client without Origin as before", async () => {
    const b = box();
    const s = await serveCairn(b.root, ["--workspace", "workspace", "--data-root", "data", "--allow-origin", "http://localhost:3000", "--allow-origin", "https://app.example"], (c) => children.push(c));
    for (const origin of ["http://localhost:3000", "https://app.example"]) {
      const r = await post(s.url, origin);
      expect(r.status).toBe(200);
      expect(r.acao).toBe(origin);
    }
    const evil = await post(s.url, "https://evil.example");
    expect(evil.status).toBe(403);
    expect(evil.acao).toBeNull();
    expect(evil.body).toEqual({
      status: "ERROR",
      error: "Cross-origin request refused: Origin 'https://evil.example' is not allowed (allow it with cairn serve --allow-origin <origin>, or ServerOptions.allowOrigins)",
    });
    const plain = await post(s.url);
    expect(plain.status).toBe(200);
    expect(plain.acao).toBe("*");
  });

  it("without it, a web page's request is refused; with '*', served with Access-Control-Allow-Origin: *", async () => {
    const def = await serveCairn(box().root, ["--workspace", "workspace", "--data-root", "data"], (c) => children.push(c));
    expect((await post(def.url, "https://evil.example")).status).toBe(403);
    const any = await serveCairn(box().root, ["--workspace", "workspace", "--data-root", "data", "--allow-origin", "*"], (c) => children.push(c));
    const r = await post(any.url, "https://evil.example");
    expect(r.status).toBe(200);
    expect(r.acao).toBe("*");
  });

  it("a malformed origin is a usage error (exit 2) naming it, before anything listens", () => {
    const b = box();
    const r = cairn(["serve", "--port", "0", "--workspace", "workspace", "--allow-origin", "https://app.example/"], { cwd: b.root });
    expect(r.status).toBe(2);
    expect(r.err).toContain(
      "allowed origin 'https://app.example/' is not how browsers send it: 'https://app.example'; expected '*' or an origin as browsers send it, <scheme>://<host>[:<port>] (e.g. http://localhost:3000)",
    );
    expect(r.err).not.toContain("listening");
  });
});
