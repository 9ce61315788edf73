/**
 * Evidence sinks. The node fans every Evidence record out to every registered sink, in
 * registration order, and awaits each. A sink that throws makes the node's call throw: nothing is
 * dispatched to a target unless `execution.started` reached every sink (fail closed).
 *
 *  - MemoryEvidenceSink: keeps the records (for embedding and tests).
 *  - JsonlEvidenceSink: appends one RFC 8785 canonical JSON record per line to a file; a file
 *    that cannot be written (its folder cannot be made, the path is a directory, EACCES, ENOSPC)
 *    is a CairnError `E_STORE_IO` naming the path.
 *  - StoreEvidenceSink (store-sink.ts): records evidence as artifacts with lineage edges.
 */
import { appendFileSync } from "node:fs";
import { dirname } from "node:path";
import { canonicalize } from "../../core/canonical.js";
import { CairnError, ErrorCode, osErrorText } from "../../core/errors.js";
import type { Evidence } from "../contracts/execution.js";
import { makeDirs } from "../../core/dirs.js";

export interface EvidenceSink {
  readonly sink_id: string;
  emit(evidence: Evidence): void | Promise<void>;
  /** Flushes buffered records (optional). */
  flush?(): void | Promise<void>;
}

export class MemoryEvidenceSink implements EvidenceSink {
  readonly records: Evidence[] = [];
  constructor(readonly sink_id = "memory") {}
  emit(evidence: Evidence): void {
    this.records.push(evidence);
  }
}

/** Appends canonical JSON lines; the file and its folder are created on first use. */
export class JsonlEvidenceSink implements EvidenceSink {
  readonly sink_id: string;
  constructor(
    readonly path: string,
    sinkId?: string,
  ) {
    this.sink_id = sinkId ?? `jsonl:${path}`;
  }
  emit(evidence: Evidence): void {
    const line = `${canonicalize(evidence)}\n`;
    try {
      makeDirs(dirname(this.path));
      appendFileSync(this.path, line);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CairnError(ErrorCode.STORE_IO, `cannot write evidence file ${this.path}: ${osErrorText(err)}`, { path: this.path, ...(typeof code === "string" ? { code } : {}) }, { cause: err });
    }
  }
}
