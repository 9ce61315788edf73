/** Every limit and fixed name of the PGS v0.3 runtime, in one place. */

/** Hop limit of the scheduler (A.5): the 65th visited node fails the run. */
export const MAX_HOPS = 64;

/** Largest snapshot file the loader reads. */
export const MAX_SNAPSHOT_FILE_BYTES = 64 * 1024 * 1024;
/** Largest payload file `wf run` reads. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Largest data-root file hashed into the prior/posterior state digests. */
export const MAX_STATE_FILE_BYTES = 256 * 1024 * 1024;

/** Snapshot directories under a workspace root (A.1). */
export const TOKENIZED_DIR = "tokenized_snapshot";
export const VOCABULARY_DIR = "vocabulary_snapshot";
export const TRUST_DIR = "trust_snapshot";
/** Trace directory under a workspace root (A.11). */
export const TRACES_DIR = "traces";

/** The placeholder of RB policies replaced by the data root (A.10). */
export const MODULE_DATA_ROOT_TOKEN = "{{module_data_root}}";
/** What the workspace root is replaced by in trace text (no absolute paths in traces). */
export const WORKSPACE_TOKEN = "{{workspace}}";

/** The step-input member naming a store entity, and the name the CS receives it under (A.10). */
export const STORE_KEY = "__store__";
export const STORE_ENTITY_KEY = "__pgs_store_entity__";

/** Default data root when neither --data-root nor $PGS_DATA_ROOT is given: `<workspace>/data`. */
export const DEFAULT_DATA_ROOT_NAME = "data";
export const DATA_ROOT_ENV = "PGS_DATA_ROOT";
export const WORKSPACE_ENV = "PGS_WORKSPACE";

/** Status a run starts with, and the status of boundary (IN_/EXIT_) nodes. */
export const STATUS_SUCCESS = "SUCCESS";
export const STATUS_ACK = "ACK";
/** Terminal statuses that make `wf run` exit 0 (A.12). */
export const EXIT_ZERO_STATUSES: ReadonlySet<string> = new Set(["SUCCESS", "ALREADY_EXISTS"]);

/** Condition-vocabulary prefixes tried in order (A.5). */
export const TRANSITION_PREFIX = "transition::";
export const OUTCOME_PREFIX = "outcome::";
/** The condition address used when a status has no vocabulary entry. */
export const NO_CONDITION = -1;

/** A domain or WF code must be one safe path segment. */
export const SAFE_SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Logical clock of the deterministic CS/CT sources: 2025-01-01T00:00:00Z (SEMANTICS B.7, C.3).
 * Never the wall clock.
 */
export const LOGICAL_EPOCH_MS = Date.UTC(2025, 0, 1, 0, 0, 0, 0);

/** Longest domain or WF code accepted (keeps trace ids and store root names bounded). */
export const MAX_SEGMENT_CHARS = 80;
