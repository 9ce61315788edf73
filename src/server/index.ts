/**
 * The HTTP gateway (`cairn serve`): `createServer(opts)` builds a fastify app over one PGS
 * workspace (`runPgsWorkflow`) or, with `opts.snapshot`, one sealed Cairn snapshot
 * (`runCairnWorkflow`), and one data root (POST /api/run, GET /api/health); see app.ts for the
 * API. Users reach it as the root's `server` namespace (`import { server } from "cairn"`); the
 * package's `exports` do not expose `dist/server/index.js` itself (the benchmarks import that
 * path from the repository's build).
 */
export { createServer, type CairnServer, type ServerOptions, type WorkflowRunner } from "./app.js";
export { PLANE_REQUIRED_REASON } from "./cairn-target.js";
export { ANY_ORIGIN, parseAllowedOrigin } from "./origin.js";
export { RunQueue, QueueFullError } from "./queue.js";
export * from "./constants.js";
