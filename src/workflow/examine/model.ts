/**
 * The structure of one run as its trace records it (SEMANTICS A.11 trace v0 + Cairn's `seq` /
 * `prev`): WF_START, then per CC `CC_START`, one `CC_STEP` per executed step, `CC_COMPLETE`,
 * and finally `WF_COMPLETE` — or an `ERROR` event when a runtime error aborted the run (no
 * `WF_COMPLETE`, and no `CC_COMPLETE` for the CC in progress).
 *
 * Parsed with plain JSON: the members examine reads are strings, small integers and key lists.
 * Lines that are not JSON objects are skipped here (the chain verdict reports them), so a
 * tampered trace is still described as far as it can be read.
 */
import { CairnError, ErrorCode } from "../../core/errors.js";

export const EVENT_TYPES = ["WF_START", "CC_START", "CC_STEP", "CC_COMPLETE", "WF_COMPLETE", "ERROR"] as const;

export interface TraceEvent {
  /** 1-based line number in the file. */
  line: number;
  seq: number | null;
  type: string;
  ccAddr: number | null;
  stepAddr: number | null;
  stepOp: string | null;
  resultStatus: string | null;
  detail: Record<string, unknown>;
}

/** One executed CC: its CC_START, CC_STEPs and (unless the run was aborted in it) CC_COMPLETE. */
export interface CcVisit {
  /** Position on the path (0 = first CC run). */
  index: number;
  addr: number;
  fqdn: string;
  start: TraceEvent;
  steps: TraceEvent[];
  complete: TraceEvent | null;
  /** The resolved CC inputs (CC_START.detail.inputs). */
  inputs: Record<string, unknown>;
  /** CC_COMPLETE.result_status; null while the CC was in progress when the run was aborted. */
  status: string | null;
  /** CC_COMPLETE.detail.output_keys (the keys of the CC's surface). */
  outputKeys: string[];
  /**
   * Step ids by step index that the run's summary names (its Effects table; summary-steps.ts),
   * set by examine when the summary is usable: names a step the declarations are not at hand for.
   */
  summaryStepIds?: ReadonlyMap<number, string>;
}

export interface TraceModel {
  traceId: string | null;
  schema: string | null;
  domain: string | null;
  wfAddr: number | null;
  /** WF_START.detail.wf_fqdn (else WF_COMPLETE's). */
  workflow: string | null;
  /** WF_START.detail.payload_keys. */
  payloadKeys: string[] | null;
  events: TraceEvent[];
  visits: CcVisit[];
  start: TraceEvent | null;
  complete: TraceEvent | null;
  error: TraceEvent | null;
  /**
   * Events after the run's end (the first `WF_COMPLETE` or `ERROR`), which a runtime never
   * writes: not read into the model, reported by examine as a structural problem.
   */
  afterEnd: TraceEvent[];
  /**
   * Lines outside trace v0 that are JSON objects (the chain verdict reports the others): an
   * `event_type` that is none of `EVENT_TYPES` (or none at all) — not read into the model —, or a
   * `CC_START` / `CC_STEP` / `CC_COMPLETE` whose `cc_addr` is not an integer. A runtime never
   * writes them: examine reports the first as a structural problem (structure.ts).
   */
  outside: OutsideLine[];
}

/** A line of a trace that is outside trace v0 (`TraceModel.outside`). */
export interface OutsideLine {
  line: number;
  seq: number | null;
  /** The line's `event_type` when it is a string. */
  type: string | null;
  /** What is wrong, in words (`event_type "BOGUS" is not a trace v0 event`). */
  what: string;
}

/** Events that name the CC they belong to (`cc_addr`). */
const CC_EVENTS: ReadonlySet<string> = new Set(["CC_START", "CC_STEP", "CC_COMPLETE"]);

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function int(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}
function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}
function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** `<ns>::<CODE>` → `CODE`. */
export function codeOf(fqdn: string): string {
  const i = fqdn.lastIndexOf("::");
  return i < 0 ? fqdn : fqdn.slice(i + 2);
}

/** Reads the events of a trace. Throws `E_INVALID_INPUT` when no line is a trace event. */
export function parseTrace(text: string, shownPath: string): TraceModel {
  const lines = text.length === 0 ? [] : (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
  const events: TraceEvent[] = [];
  const outside: OutsideLine[] = [];
  let sawObject = false;
  lines.forEach((line, i) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return;
    }
    const o = obj(v);
    if (o === undefined) return;
    sawObject = true;
    const type = str(o.event_type);
    if (type === null || !(EVENT_TYPES as readonly string[]).includes(type)) {
      outside.push({ line: i + 1, seq: int(o.seq), type, what: o.event_type === undefined ? "it has no event_type" : `event_type ${JSON.stringify(o.event_type)} is not a trace v0 event` });
      return;
    }
    if (CC_EVENTS.has(type) && int(o.cc_addr) === null) outside.push({ line: i + 1, seq: int(o.seq), type, what: `its cc_addr ${JSON.stringify(o.cc_addr) ?? "(missing)"} is not an address (an integer)` });
    events.push({
      line: i + 1,
      seq: int(o.seq),
      type,
      ccAddr: int(o.cc_addr),
      stepAddr: int(o.step_addr),
      stepOp: str(o.step_op),
      resultStatus: str(o.result_status),
      detail: obj(o.detail) ?? {},
    });
  });
  if (lines.length > 0 && events.length === 0) {
    throw new CairnError(
      ErrorCode.INVALID_INPUT,
      `${shownPath} is not a Cairn trace: no line is a trace event (${sawObject ? "no known event_type" : "no JSON object"}; expected the trace v0 events ${EVENT_TYPES.join(", ")})`,
      { path: shownPath },
    );
  }
  const first = (() => {
    for (const line of lines) {
      try {
        const o = obj(JSON.parse(line));
        if (o !== undefined) return o;
      } catch {
        /* skip */
      }
    }
    return undefined;
  })();
  const model: TraceModel = {
    traceId: str(first?.trace_id),
    schema: str(first?.trace_schema_version),
    domain: str(first?.domain),
    wfAddr: int(first?.wf_addr),
    workflow: null,
    payloadKeys: null,
    events,
    visits: [],
    start: null,
    complete: null,
    error: null,
    afterEnd: [],
    outside,
  };
  let open: CcVisit | null = null;
  for (const ev of events) {
    if (model.complete !== null || model.error !== null) {
      model.afterEnd.push(ev);
      continue;
    }
    switch (ev.type) {
      case "WF_START":
        model.start ??= ev;
        model.workflow ??= str(ev.detail.wf_fqdn);
        model.payloadKeys ??= strings(ev.detail.payload_keys);
        break;
      case "CC_START": {
        const addr = ev.ccAddr ?? -1;
        open = {
          index: model.visits.length,
          addr,
          fqdn: str(ev.detail.cc_fqdn) ?? `0x${addr.toString(16).toUpperCase().padStart(4, "0")}`,
          start: ev,
          steps: [],
          complete: null,
          inputs: obj(ev.detail.inputs) ?? {},
          status: null,
          outputKeys: [],
        };
        model.visits.push(open);
        break;
      }
      case "CC_STEP":
        (open ?? model.visits[model.visits.length - 1])?.steps.push(ev);
        break;
      case "CC_COMPLETE": {
        const v = open !== null && (ev.ccAddr === null || ev.ccAddr === open.addr) ? open : model.visits.find((x) => x.complete === null && x.addr === ev.ccAddr);
        if (v !== undefined) {
          v.complete = ev;
          v.status = ev.resultStatus;
          v.outputKeys = strings(ev.detail.output_keys);
        }
        open = null;
        break;
      }
      case "WF_COMPLETE":
        model.complete = ev;
        model.workflow ??= str(ev.detail.wf_fqdn);
        break;
      case "ERROR":
        model.error = ev;
        break;
    }
  }
  return model;
}
