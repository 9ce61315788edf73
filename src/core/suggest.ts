/** "Did you mean …?" for misspelt names: compile diagnostics, unknown option keys (the run config, the batch API's hooks and verify options, `openStore`'s options). */
import { CairnError, ErrorCode } from "./errors.js";

/** Largest edit distance at which a declared name is suggested for a misspelt one. */
export const SUGGEST_MAX_DISTANCE = 2;

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

/**
 * The one candidate closest to `name`, when it is an obvious correction: at most
 * SUGGEST_MAX_DISTANCE edits, fewer edits than `name` has characters, and no other candidate
 * as close. Otherwise undefined.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  let tie = false;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
      tie = false;
    } else if (d === bestDistance) tie = true;
  }
  return best !== undefined && !tie && bestDistance <= SUGGEST_MAX_DISTANCE && bestDistance < name.length ? best : undefined;
}

/**
 * The one of `known` an unknown key most likely meant, if one stands out: compared without case,
 * `_` and `-`, the only key equal to it, else the only key that contains it or that it contains
 * (4+ characters: `maxMemory` → `maxMemoryBytes`), else the only key within 2 edits, else the
 * only key that starts with its first 4 characters (`retry` → `retries`).
 */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const norm = (k: string): string => k.toLowerCase().replace(/[-_\s]/g, "");
  const k = norm(key);
  const only = (keys: readonly string[]): string | undefined => (keys.length === 1 ? keys[0] : undefined);
  if (k.length === 0) return undefined;
  const equal = known.filter((c) => norm(c) === k);
  if (equal.length > 0) return only(equal);
  if (k.length >= 4) {
    const within = known.filter((c) => norm(c).includes(k) || k.includes(norm(c)));
    if (within.length > 0) return only(within);
  }
  const near = known.filter((c) => editDistance(norm(c), k) <= Math.min(2, k.length - 1));
  if (near.length > 0) return only(near);
  return k.length >= 4 ? only(known.filter((c) => norm(c).startsWith(k.slice(0, 4)))) : undefined;
}

/**
 * E_USAGE for the first key of `o` not in `known`, naming it (`details.field`) and the known key
 * it probably meant (`details.suggestion`): `unknown <what> "<key>" (did you mean "<k>"?); the
 * <plural> are <known…>`.
 */
export function refuseUnknownKeys(o: object, known: readonly string[], what: string, plural: string): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const suggestion = suggestKey(key, known);
    throw new CairnError(
      ErrorCode.USAGE,
      `unknown ${what} ${JSON.stringify(key)}${suggestion === undefined ? "" : ` (did you mean ${JSON.stringify(suggestion)}?)`}; the ${plural} are ${known.join(", ")}`,
      suggestion === undefined ? { field: key } : { field: key, suggestion },
    );
  }
}
