/** The worker pool's options and pulse outcome. */
import type { ResourceLimits } from "node:worker_threads";
import type { Digest } from "../../core/digest.js";
import type { CrashCode, EUResult } from "./protocol.js";
import type { BundleLocator } from "./bundle.js";

export type PulseOutcome =
  | {
      kind: "ok";
      results: EUResult[];
      /** The results' Merkle leaf hashes, 32 bytes each, in order, computed by the worker (../leaves.ts). */
      leaves: Buffer;
      /** Their Merkle root, computed by the worker (absent for an empty request). */
      root?: Digest;
    }
  | {
      kind: "crashed";
      error: { code: CrashCode; message: string };
      /** Index (in the pulse's `eus`) of the EU that was running; absent when none had started. */
      euIndex?: number;
      /**
       * Results of EUs 0..k-1 of the pulse, in order, that the worker delivered before it died
       * (whole chunks, so k ≤ euIndex; empty when euIndex is absent).
       */
      completed: EUResult[];
    };

export interface RunPulseOptions {
  /** Per-EU wall-clock limit. Without it an EU that never settles hangs its pulse. */
  euTimeoutMs?: number;
  /** ctx.attempt: one number for every EU, or one per EU (same length as `eus`). */
  attempt: number | readonly number[];
  /**
   * Called with each chunk of results as it reaches this thread (every `partial` chunk and the
   * final reply; not for a crashed request's missing rest), for the caller's memory accounting
   * (`resultsHeldBytes`). It must not throw.
   */
  onResults?: (results: readonly EUResult[]) => void;
}

export interface WorkerPoolOptions {
  /** Number of worker threads, 1..MAX_POOL_SIZE. */
  size: number;
  bundle: { code: string; digest: Digest };
  /** The run seed. */
  seed: string;
  /** Fixed logical time in ms since the epoch (default 0). */
  logicalTime?: number;
  /** How error messages name the module (default: the bundle digest). */
  moduleName?: string;
  /** Per-worker V8 limits; exceeding maxOldGenerationSizeMb crashes the pulse (ERR_WORKER_OUT_OF_MEMORY). */
  resourceLimits?: Pick<ResourceLimits, "maxOldGenerationSizeMb" | "maxYoungGenerationSizeMb" | "stackSizeMb">;
  /** Default DEFAULT_STARTUP_TIMEOUT_MS. */
  startupTimeoutMs?: number;
  /** The largest output record in bytes (SandboxWorkerData.maxOutputBytes); default: no limit. */
  maxOutputBytes?: number;
  /**
   * Names the source `file:line:column` of a bundle position (the bundle's source map,
   * `ModuleBundle.locate`). Without it, an import error is located in the bundle itself
   * (`cairn-bundle/<hex16>.mjs:line:column`, the stored function artifact's text).
   */
  locate?: BundleLocator;
  /**
   * Ends the start: once it aborts while the first worker is still starting (importing the
   * module, which may take up to `startupTimeoutMs`), the worker is terminated — also in the
   * middle of synchronous code — and `create` rejects at once with E_INTERRUPTED ("worker pool
   * start aborted: <reason>", the reason as its `cause`); already aborted, no worker starts.
   * Only the start listens: an abort after `create` resolved does nothing to the pool.
   */
  signal?: AbortSignal;
}
