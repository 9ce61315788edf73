/**
 * Setup file of every test file (vitest.config.ts `setupFiles`): lets the test worker's event
 * loop turn after a test once YIELD_EVERY_MS of test time have passed without a turn.
 *
 * Why: the worker reports results to vitest's main process over an RPC whose replies time out
 * after 60 s (birpc), and the runner goes from one test to the next through promise callbacks
 * only. A file of synchronous tests (many CLI tests block in `spawnSync`) could therefore keep
 * the loop from reading a reply for more than 60 s on a loaded machine: every test passed, yet
 * the run failed with "[vitest-worker]: Timeout calling "onTaskUpdate"" (seen on this 2-core
 * machine under load; reproduced with two synchronous 35 s tests, and gone with this file).
 * A turn of setImmediate was not enough to read the reply; a short timer is.
 */
import { afterEach } from "vitest";

/** Test time after which the loop is let turn (well below the RPC's 60 s). */
const YIELD_EVERY_MS = 10_000;
/** How long the turn lasts: long enough for pending replies to be read. */
const YIELD_MS = 20;
/** The real timer, taken before any test can install fake ones. */
const realSetTimeout = globalThis.setTimeout;

let lastTurn = Date.now();

afterEach(async () => {
  if (Date.now() - lastTurn < YIELD_EVERY_MS) return;
  await new Promise<void>((resolve) => realSetTimeout(resolve, YIELD_MS));
  lastTurn = Date.now();
});
