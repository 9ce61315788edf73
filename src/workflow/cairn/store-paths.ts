/**
 * Store paths against each other (compile time, `E_COMPILE_STORE_PATH`).
 *
 * A store path names one file under the data root; the runtime collapses `.` and empty
 * segments before opening it (effects/confine.ts), and the schema already refuses `..` and
 * absolute paths. So `r/x.json`, `r/./x.json`, `r//x.json` and `r/x.json/` are one file. The
 * checks, on those normal forms:
 *
 * - a path with no segment left (`.`, `./`) names the data root itself, not a file;
 * - two stores of **one workflow** on one file: refused, whatever their kinds (a registry and
 *   a mutable store on one file overwrite each other's data; two names of one kind are a
 *   mistake, one store name is enough);
 * - stores of **two workflows** of one snapshot (they run on one data root) on one file:
 *   allowed when both are of the same kind — store names are scoped to their workflow, so this
 *   is how two workflows share a store (one registers, another resolves) —, refused otherwise;
 * - one store's file a directory of another's (`a` and `a/b.json`), in one workflow or across
 *   the snapshot: refused (one of them could never be opened).
 *
 * Stores of snapshots compiled separately can still meet on one data root: that cannot be seen
 * at compile time. Names are compared byte for byte (a case-insensitive file system would also
 * fold `R/x.json` into `r/x.json`).
 */
import type { StoreKind } from "./catalog.js";

/** The data-root-relative file a store path names: no empty or `.` segment, `/`-separated. */
export function normalStorePath(path: string): string {
  return path.split("/").filter((s) => s !== "" && s !== ".").join("/");
}

interface Claim {
  workflow: string;
  file: string;
  store: string;
  kind: StoreKind;
  path: string;
  norm: string;
}

export interface StorePathProblem {
  store: string;
  message: string;
}

/** Every directory `norm` needs, outermost first (`a/b/c.json` → `a`, `a/b`). */
function parentsOf(norm: string): string[] {
  const segs = norm.split("/");
  return segs.slice(0, -1).map((_, i) => segs.slice(0, i + 1).join("/"));
}

/** The stores of the workflows compiled so far in one snapshot; see the module comment. */
export class StorePathTable {
  private readonly files = new Map<string, Claim[]>();
  /** Directory → the first store whose file lies under it. */
  private readonly dirs = new Map<string, Claim>();

  /** Checks one workflow's stores (in declaration order) against each other and the earlier workflows', then records them. */
  add(workflow: string, file: string, stores: Readonly<Record<string, { kind: StoreKind; path: string }>>): StorePathProblem[] {
    const problems: StorePathProblem[] = [];
    for (const [store, s] of Object.entries(stores)) {
      const c: Claim = { workflow, file, store, kind: s.kind, path: s.path, norm: normalStorePath(s.path) };
      if (c.norm === "") {
        problems.push({ store, message: `store ${store}: path ${JSON.stringify(s.path)} names the data root itself, not a file under it` });
        continue;
      }
      const message = this.conflict(c);
      if (message !== null) problems.push({ store, message });
      this.files.set(c.norm, [...(this.files.get(c.norm) ?? []), c]);
      for (const d of parentsOf(c.norm)) if (!this.dirs.has(d)) this.dirs.set(d, c);
    }
    return problems;
  }

  private conflict(c: Claim): string | null {
    const show = (x: Claim): string => `store ${x.store} (${x.kind}, ${JSON.stringify(x.path)})${x.workflow === c.workflow ? "" : ` of workflow ${x.workflow} (${x.file})`}`;
    for (const o of this.files.get(c.norm) ?? []) {
      if (o.workflow === c.workflow) return `${show(c)} and ${show(o)} name the same data-root file ${c.norm}: each store of a workflow needs its own file`;
      if (o.kind !== c.kind) return `${show(c)} and ${show(o)} name the same data-root file ${c.norm}: stores of different kinds would overwrite each other's data (workflows share a file only as stores of one kind)`;
    }
    const under = this.dirs.get(c.norm);
    if (under !== undefined) return `${show(c)} names the data-root file ${c.norm}, which ${show(under)} needs as a directory`;
    for (const d of parentsOf(c.norm)) {
      const o = this.files.get(d)?.[0];
      if (o !== undefined) return `${show(c)} needs the data-root directory ${d}, which is the file of ${show(o)}`;
    }
    return null;
  }
}
