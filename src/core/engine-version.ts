/**
 * Engine identities recorded with what an engine made (a batch plan and manifest, a workflow
 * run's receipt), and the one refusal when another engine version's record is resumed, verified
 * or replayed: its bytes follow that version's rules, so comparing them with this version's
 * would report a difference that is not the run's.
 */
import { CairnError, ErrorCode } from "./errors.js";

export interface EngineId {
  readonly name: string;
  readonly version: string;
}

/**
 * E_USAGE naming both versions unless `found` is `expected`. `subject` names the record ("run
 * 0123456789abcdef", "recorded run <trace id>"); `details` are added to the error's.
 */
export function requireEngine(expected: EngineId, found: { name?: unknown; version?: unknown } | undefined, subject: string, action: string, details: Record<string, unknown>): void {
  if (found?.name === expected.name && found.version === expected.version) return;
  const theirs = `${String(found?.name)} version ${String(found?.version)}`;
  throw new CairnError(ErrorCode.USAGE, `${subject} was made by ${theirs}; this is ${expected.name} version ${expected.version}, so it cannot be ${action} here: use the engine version that made it`, {
    ...details,
    engine: found ?? null,
    expected: { name: expected.name, version: expected.version },
  });
}
