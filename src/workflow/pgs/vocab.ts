/** The per-domain vocabulary: integer addresses ⇄ FQDNs (SEMANTICS A.4). */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { NO_CONDITION, OUTCOME_PREFIX, TRANSITION_PREFIX } from "./constants.js";

/** `0x%04X`: uppercase hex, at least four digits. */
export function hexAddr(addr: number): string {
  return `0x${addr.toString(16).toUpperCase().padStart(4, "0")}`;
}

export class Vocabulary {
  constructor(
    private readonly byAddr: ReadonlyMap<number, string>,
    private readonly byFqdn: ReadonlyMap<string, number>,
  ) {}

  /** The FQDN of `addr`, or `0x%04X` when unknown. */
  fqdn(addr: number): string {
    return this.byAddr.get(addr) ?? hexAddr(addr);
  }

  /** The address of `fqdn`, or undefined. */
  tryAddr(fqdn: string): number | undefined {
    return this.byFqdn.get(fqdn);
  }

  /** The address of `fqdn`; an unknown FQDN is `E_NOT_FOUND` "FQDN not in vocab: '<fqdn>'". */
  addr(fqdn: string): number {
    const a = this.byFqdn.get(fqdn);
    if (a === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `FQDN not in vocab: '${fqdn}'`, { fqdn });
    return a;
  }

  /** Routing condition of a status: `transition::<s>`, else `outcome::<s>`, else -1 (A.5). */
  condition(status: string): number {
    return this.byFqdn.get(TRANSITION_PREFIX + status) ?? this.byFqdn.get(OUTCOME_PREFIX + status) ?? NO_CONDITION;
  }
}
