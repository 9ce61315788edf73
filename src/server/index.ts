/**
 * The HTTP gateway of the PGS runtime (`cairn serve`): `createServer(opts)` builds a fastify app
 * over `runPgsWorkflow` for one workspace and data root (POST /api/run, GET /api/health); see
 * app.ts for the API. Importable from the build as `dist/server/index.js` (benchmarks, embedding).
 */
export { createServer, type CairnServer, type ServerOptions, type WorkflowRunner } from "./app.js";
export { RunQueue, QueueFullError } from "./queue.js";
export * from "./constants.js";
