/** `cairn gc`, `cairn fsck`, `cairn lineage`, `cairn snapshot …`. */
import { Command, Option } from "commander";
import { parseDigest } from "../core/digest.js";
import { DEFAULT_GC_GRACE_MS } from "../store/layout.js";
import { MAX_LINEAGE_DEPTH, type EdgeRecord, type Lineage } from "../store/edges.js";
import { nonEmptyArg } from "./args.js";
import { withStore } from "./context.js";
import { parseCount, parseDuration } from "./duration.js";
import { humanBytes, shortDigest, type Output } from "./output.js";

/** Most nodes shown per side of an edge in human lineage output. */
const EDGE_NODES_SHOWN = 3;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function gcCommand(): Command {
  return new Command("gc")
    .description("sweep the bytes of artifacts unreachable from snapshots and pinned roots")
    .option("--dry-run", "report what would be swept without sweeping")
    .addOption(
      new Option("--grace <duration>", "keep artifacts younger than this (e.g. 0, 30s, 10m, 1h, 2d, or ms)")
        .default(DEFAULT_GC_GRACE_MS, "1h")
        .argParser((v) => parseDuration(v, "--grace")),
    )
    .action(async (opts: { dryRun?: boolean; grace: number }, cmd: Command) => {
      await withStore(cmd, "update", (store, out) => {
        const r = store.gc({ dryRun: opts.dryRun === true, graceMs: opts.grace });
        out.result(r, () => {
          const verb = r.dryRun ? "would sweep" : "swept";
          out.line(`gc${r.dryRun ? " (dry run)" : ""}: ${verb} ${plural(r.sweptCount, "artifact")}, ${r.sweptBytes} bytes (${humanBytes(r.sweptBytes)})`);
          if (out.quiet) return;
          out.line(`roots: ${plural(r.roots.snapshots, "snapshot")}, ${plural(r.roots.pins, "pinned root")}`);
          out.line(`present: ${r.present}, reachable: ${r.reachable}, kept by grace: ${r.keptByGrace}, kept as receipts: ${r.keptAsReceipts}`);
          for (const s of r.swept) out.line(`${s.digest}  ${s.size}  ${s.storage}`);
          // The report lists at most MAX_REPORTED_SWEPT artifacts; say how many it left out.
          if (r.sweptCount > r.swept.length) out.line(`${plural(r.sweptCount - r.swept.length, "more artifact")} not listed`);
        });
      });
    });
}

export function fsckCommand(): Command {
  return new Command("fsck")
    .description("re-hash every artifact and check the catalog; exits 1 if any problem is found")
    .action(async (_opts, cmd: Command) => {
      const ok = await withStore(cmd, "update", async (store, out) => {
        const r = await store.fsck();
        out.result(r, () => {
          for (const p of r.problems) out.line(`${p.code}  ${p.subject}  ${p.message}`);
          const c = r.checked;
          // The true total: past MAX_REPORTED_PROBLEMS the report lists only some (and one too_many_problems entry).
          const listed = r.problems.filter((p) => p.code !== "too_many_problems").length;
          const total = plural(r.problemCount, "problem");
          const status = r.ok ? out.paint("green", "ok") : out.paint("red", listed < r.problemCount ? `${total} (${listed} listed)` : total);
          out.line(
            `fsck: ${status} (checked ${plural(c.artifacts, "artifact")}${c.swept > 0 ? ` (${c.swept} swept by gc: bytes gone, nothing to re-hash)` : ""}, ${c.bytes} bytes, ${plural(c.receipts, "receipt")}, ${plural(c.edges, "edge")}, max logseq ${c.maxLogseq})`,
          );
        });
        return r.ok;
      });
      if (!ok) process.exitCode = 1;
    });
}

function nodesOf(list: string[]): string {
  const shown = list.slice(0, EDGE_NODES_SHOWN).map(shortDigest).join(", ");
  return list.length > EDGE_NODES_SHOWN ? `${shown} (+${list.length - EDGE_NODES_SHOWN} more)` : shown;
}

export function edgeLine(e: EdgeRecord): string {
  return `${e.type}/${e.role}  ${nodesOf(e.from)} → ${nodesOf(e.to)}`;
}

function printLineage(out: Output, l: Lineage): void {
  out.note(`lineage of ${l.start} (${l.direction === "up" ? "upstream" : "downstream"}, depth ≤ ${l.depth}): ${plural(l.nodes.length, "node")}, ${plural(l.edges.length, "edge")}`);
  // One column, each node with its depth: nodes are ordered by (depth, digest), not as a tree
  // (a node's parent is whatever edge below names it), so no indentation suggests one.
  out.line("nodes (depth, digest):");
  for (const n of l.nodes) out.line(`  [${n.depth}] ${n.digest}`);
  out.line("edges:");
  for (const e of l.edges) out.line(`  ${edgeLine(e)}`);
}

export function lineageCommand(): Command {
  return new Command("lineage")
    .description("walk provenance edges from an artifact: upstream (what it came from, default) or downstream")
    .argument("<digest>", "start artifact digest (sha256:…)")
    .addOption(new Option("--up", "walk upstream (default)").conflicts("down"))
    .addOption(new Option("--down", "walk downstream (what was derived from it)"))
    .addOption(
      new Option("--depth <n>", `stop after n steps, 0..${MAX_LINEAGE_DEPTH} (default: ${MAX_LINEAGE_DEPTH}, the maximum)`).argParser((v) => parseCount(v, "--depth", MAX_LINEAGE_DEPTH)),
    )
    .addOption(new Option("--snapshot <name>", "walk as of this snapshot").argParser(nonEmptyArg("--snapshot")))
    .action(async (digestArg: string, opts: { up?: boolean; down?: boolean; depth?: number; snapshot?: string }, cmd: Command) => {
      const digest = parseDigest(digestArg);
      await withStore(cmd, "read", (store, out) => {
        const lineageOpts = { direction: opts.down === true ? ("down" as const) : ("up" as const), depth: opts.depth };
        const l = opts.snapshot === undefined ? store.lineage(digest, lineageOpts) : store.at(opts.snapshot).lineage(digest, lineageOpts);
        out.result(l, () => printLineage(out, l));
      });
    });
}

export function snapshotCommand(): Command {
  const create = new Command("create")
    .description("record a snapshot of the store's current state")
    .argument("<name>", "snapshot name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withStore(cmd, "write", (store, out) => {
        const s = store.createSnapshot(name);
        out.result(s, () => out.note(`snapshot ${s.name} at logseq ${s.asOf}`));
      });
    });
  const ls = new Command("ls").description("list snapshots: name  asOf  createdAt").action(async (_opts, cmd: Command) => {
    await withStore(cmd, "read", async (store, out) => {
      await out.streamList(store.listSnapshots(), (s) => `${s.name}  ${s.asOf}  ${new Date(s.createdAt).toISOString()}`);
    });
  });
  const rm = new Command("rm")
    .description("delete a snapshot (its artifacts become collectable unless otherwise reachable)")
    .argument("<name>", "snapshot name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withStore(cmd, "update", (store, out) => {
        const r = store.deleteSnapshot(name);
        out.result(r, () => out.note(`deleted snapshot ${r.name}`));
      });
    });
  return new Command("snapshot").description("snapshots: create, ls, rm").addCommand(create).addCommand(ls).addCommand(rm);
}
