/**
 * Who may drive the gateway from a browser (app.ts): the `Origin` and `Host` checks and the CORS
 * headers they imply.
 *
 * A web page can send a "simple" cross-site request (a `text/plain` POST, no preflight) to a
 * local `cairn serve`; with `Access-Control-Allow-Origin: *` (the PGS reference gateway's
 * header) it could also read the answer, so any page the user visited could apply governed side
 * effects to the user's data root. And a page whose DNS name is re-bound to 127.0.0.1 talks to
 * the server "same-origin" (DNS rebinding). So, by default:
 *
 *  - a request carrying an `Origin` header is refused (403) unless that origin is allowed
 *    (`ServerOptions.allowOrigins`, `cairn serve --allow-origin`; `*` allows every origin, the
 *    reference's behaviour). Every current browser sends `Origin` with every POST and every
 *    cross-origin request; non-browser clients (curl, Python, the reference's clients) send
 *    none and are served exactly as before;
 *  - when the server listens on a loopback address, a request carrying `Origin` whose `Host`
 *    header is not a name of that address with its port (`localhost`, `127.0.0.1`, `[::1]`, the
 *    address itself) is refused (403): a browser always sends the name it resolved, so a
 *    re-bound name is refused. Only a request carrying `Origin`: the Fetch standard ("append a
 *    request `Origin` header") has browsers send it on every CORS-mode request and on every
 *    request whose method is neither GET nor HEAD, same-origin ones included (as `null` under a
 *    `no-referrer` policy: still present) — so on every POST to /api/run, the one route with
 *    effects, and on every preflight. What a re-bound page can still do without `Origin` is a
 *    same-origin GET/HEAD: /api/health's `{ok:true}`, or a 404. A client without `Origin` (curl,
 *    a script) is not a browser and is served whatever its `Host`, e.g. through a port forward
 *    (`ssh -L 9000:127.0.0.1:8080`: `Host: localhost:9000`), which the check refused before.
 *    (Checking `Host` on every non-GET/HEAD request as well would refuse exactly such a script's
 *    POST, and protect no browser request more.)
 *
 * `Access-Control-Allow-Origin` is `*` on every answer when `*` is allowed, and on answers to a
 * request without `Origin` (the reference sends it on every answer; such a request is not a
 * browser's cross-origin read, whose `Origin` is always present); it is the origin itself for an
 * allowed origin, and absent for a refused one. Unless `*` is allowed, every answer also carries
 * `Vary: Origin`, so that a cache never hands an answer made for one origin (or none) to another.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { isIP } from "node:net";

/** The `allowOrigins` entry that allows every origin (the reference's `Access-Control-Allow-Origin: *`). */
export const ANY_ORIGIN = "*";

const ORIGIN_FORM = "'*' or an origin as browsers send it, <scheme>://<host>[:<port>] (e.g. http://localhost:3000)";

/**
 * `value` as an `allowOrigins` entry: `*`, or an origin exactly as a browser serialises it
 * (lower-case scheme and host, no default port, no path, no trailing slash) — the `Origin`
 * header is compared byte for byte. Throws E_USAGE naming the value otherwise; `null` (the
 * origin of sandboxed frames, `file:` pages and redirects) cannot be listed.
 */
export function parseAllowedOrigin(value: string): string {
  const refuse = (why: string): never => {
    throw new CairnError(ErrorCode.USAGE, `allowed origin '${value}' ${why}; expected ${ORIGIN_FORM}`, { field: "allowOrigins", value });
  };
  if (value === ANY_ORIGIN) return value;
  if (value === "null") refuse("is the opaque origin of sandboxed frames and file: pages, which any page can take on: allow every origin with '*' instead");
  if (/^https?:\/\//i.test(value)) {
    let serialised: string | undefined;
    try {
      serialised = new URL(value).origin;
    } catch {
      serialised = undefined;
    }
    if (serialised === undefined || serialised === "null") refuse("is not an origin");
    if (serialised !== value) refuse(`is not how browsers send it: '${serialised}'`);
  } else if (!/^[a-z][a-z0-9+.-]*:\/\/[a-z0-9._~-]+(?::\d+)?$/.test(value)) {
    refuse("is not an origin");
  }
  return value;
}

export interface OriginPolicy {
  /** `*` is allowed: every origin, `Access-Control-Allow-Origin: *` on every answer. */
  readonly any: boolean;
  /** The origins allowed by name. */
  readonly origins: ReadonlySet<string>;
}

/** The policy of `ServerOptions.allowOrigins` (default: no origin allowed). Throws E_USAGE on a malformed entry. */
export function originPolicy(allowOrigins: readonly string[] | undefined): OriginPolicy {
  if (allowOrigins !== undefined && !Array.isArray(allowOrigins)) {
    throw new CairnError(ErrorCode.USAGE, "ServerOptions.allowOrigins must be an array of origins", { field: "allowOrigins" });
  }
  const origins = (allowOrigins ?? []).map((o: unknown) => {
    if (typeof o !== "string") throw new CairnError(ErrorCode.USAGE, `ServerOptions.allowOrigins must hold strings, got ${typeof o}`, { field: "allowOrigins" });
    return parseAllowedOrigin(o);
  });
  return { any: origins.includes(ANY_ORIGIN), origins: new Set(origins.filter((o) => o !== ANY_ORIGIN)) };
}

export interface CorsDecision {
  /** Whether a request with this `Origin` (or none) may be served. */
  allowed: boolean;
  /** `Access-Control-Allow-Origin` for its answer, or null for none. */
  allowOrigin: string | null;
  /** Whether its answer carries `Vary: Origin`. */
  vary: boolean;
  /** Whether the origin was allowed by name (its preflight may grant private-network access). */
  named: boolean;
}

/** What `policy` says about a request whose `Origin` header is `origin` (undefined: absent). */
export function corsDecision(policy: OriginPolicy, origin: string | undefined): CorsDecision {
  if (policy.any) return { allowed: true, allowOrigin: ANY_ORIGIN, vary: false, named: origin !== undefined && policy.origins.has(origin) };
  if (origin === undefined) return { allowed: true, allowOrigin: ANY_ORIGIN, vary: true, named: false };
  if (policy.origins.has(origin)) return { allowed: true, allowOrigin: origin, vary: true, named: true };
  return { allowed: false, allowOrigin: null, vary: true, named: false };
}

/** Whether `address` (as `server.address()` reports it) is a loopback address: 127.0.0.0/8, ::1, ::ffff:127.x.y.z. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  if (isIP(a) === 4) return a.startsWith("127.");
  if (isIP(a) === 6) return a === "::1" || a === "0:0:0:0:0:0:0:1" || (a.startsWith("::ffff:") && isIP(a.slice(7)) === 4 && a.slice(7).startsWith("127."));
  return false;
}

/**
 * The `Host` header values that name a server listening on loopback `address`:`port` — each of
 * `localhost`, `127.0.0.1`, `[::1]` and the address itself with `:port`, and also without it
 * when the port is 80 (HTTP's default, which clients leave out). Lower case.
 */
export function loopbackHosts(address: string, port: number): string[] {
  const own = isIP(address) === 6 ? `[${address.toLowerCase()}]` : address;
  const names = [...new Set(["localhost", "127.0.0.1", "[::1]", own])];
  return [...names.map((n) => `${n}:${port}`), ...(port === 80 ? names : [])];
}
