/** `cairn init`, `cairn store …` (put, get, ls, stat, rm, pin, unpin, roots). */
import { createReadStream, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Readable } from "node:stream";
import { Command, Option } from "commander";
import { parseDigest, type Digest } from "../core/digest.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import { stdinIsDirectory } from "../store/fsutil.js";
import { openStore } from "../store/store.js";
import { withOutFile, type OutFile } from "../store/out-file.js";
import { checkMediaType, type ArtifactInfo, type ListOptions } from "../store/artifact-rows.js";
import { formatTypeTag } from "../store/identity.js";
import { STORE_FORMAT_VERSION } from "../store/layout.js";
import type { Store, StoreView } from "../store/store.js";
import { nonEmptyArg } from "./args.js";
import { checkOutOutsideStore, fileError, outputFor, refuseDashOut, storeDirOf, withStore } from "./context.js";
import { parseCount, parseTypeTag, TYPE_TAG_LIMIT } from "./duration.js";
import { exitOnSignal } from "./signals.js";

/** One listing line: `digest  size  mediaType  typeTag`. */
export function artifactLine(a: ArtifactInfo): string {
  return `${a.digest}  ${a.size}  ${a.mediaType}  ${formatTypeTag(a.typeTag)}`;
}

/** The store itself, or a read view as of a snapshot. */
function readerFor(store: Store, snapshot: string | undefined): Store | StoreView {
  return snapshot === undefined ? store : store.at(snapshot);
}

/** What a type tag and a media type are, as the usage errors below say it. */
const TYPE_TAG_TEXT = `a decimal or 0x-hex integer in 0..${TYPE_TAG_LIMIT}`;
const MEDIA_TYPE_TEXT = "a media type (type/subtype)";

/**
 * `parse(text)`, a usage error of which is told again naming `flag`, as every other flag's bad
 * value is (`invalid --limit "x": …`, details `{field, value}`): the parsers (`checkMediaType`,
 * shared with the store library, and `parseTypeTag`) do not know which flag gave the text.
 */
function flagValue<T>(flag: string, text: string, expected: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof CairnError) || err.code !== ErrorCode.USAGE) throw err;
    throw new CairnError(ErrorCode.USAGE, `invalid ${flag} ${JSON.stringify(text)}: expected ${expected}`, { field: flag, value: text }, { cause: err });
  }
}

/** `store ls --type`: a media type (it holds a `/`) or else a type tag. */
function parseTypeFilter(text: string): Pick<ListOptions, "mediaType" | "typeTag"> {
  if (text.includes("/")) return { mediaType: flagValue("--type", text, MEDIA_TYPE_TEXT, checkMediaType) };
  return { typeTag: flagValue("--type", text, `${MEDIA_TYPE_TEXT} or a type tag (${TYPE_TAG_TEXT})`, parseTypeTag) };
}

const snapshotOption = (): Option => new Option("--snapshot <name>", "read as of this snapshot").argParser(nonEmptyArg("--snapshot"));

export function initCommand(): Command {
  return new Command("init").description("create the store (if missing) and print its path").action(async (_opts, cmd: Command) => {
    const dir = storeDirOf(cmd);
    const out = outputFor(cmd);
    openStore({ dir, lockTimeoutMs: cmd.optsWithGlobals<{ wait?: number }>().wait ?? 0 }).close();
    out.result({ store: dir, formatVersion: STORE_FORMAT_VERSION }, () => out.line(dir));
  });
}

function putCommand(): Command {
  return new Command("put")
    .description("store a file (or stdin with -) and print its digest")
    .argument("<file>", "file to store, or - for stdin", nonEmptyArg("argument <file>"))
    .addOption(new Option("--media-type <type>", "media type, e.g. text/plain (default application/octet-stream)").argParser((v) => flagValue("--media-type", v, MEDIA_TYPE_TEXT, checkMediaType)))
    .addOption(new Option("--type-tag <n>", "32-bit type tag, decimal or 0x hex (part of the digest)").argParser((v) => flagValue("--type-tag", v, TYPE_TAG_TEXT, parseTypeTag)))
    .action(async (file: string, opts: { mediaType?: string; typeTag?: number }, cmd: Command) => {
      let source: NodeJS.ReadableStream;
      let sourceError: unknown;
      if (file === "-") {
        if (stdinIsDirectory()) throw new CairnError(ErrorCode.INVALID_INPUT, "cannot read stdin: it is a directory", { file: "stdin" });
        source = process.stdin;
      } else {
        try {
          if (statSync(file).isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
        } catch (err) {
          throw fileError("read", file, err);
        }
        source = createReadStream(file);
      }
      source.once("error", (err) => (sourceError = err));
      try {
        // A signal meanwhile (a slow stdin, a FIFO) removes the put's partial file in the store's
        // tmp/ (registered by the store), instead of leaving it to the next writer's recovery.
        await exitOnSignal(() => {}, () => withStore(cmd, "write", async (store, out) => {
          const put = { mediaType: opts.mediaType, typeTag: opts.typeTag };
          let r;
          try {
            r = await store.put(source as AsyncIterable<Uint8Array>, put);
          } catch (err) {
            throw err === sourceError ? fileError("read", file === "-" ? "stdin" : file, err) : err;
          }
          out.result(r, () => out.line(r.digest));
        }));
      } finally {
        if (file !== "-") (source as ReturnType<typeof createReadStream>).destroy();
      }
    });
}

/**
 * Copies a read stream to stdout, honouring backpressure. Not `pipeline(source, stdout)`: a
 * failing source would destroy stdout with the source's error. Here a read error (e.g.
 * E_STORE_CORRUPT) just stops the copy and is thrown to the caller, which reports it like any
 * error; stdout stays usable for `--json`. A verified stream that fails has emitted fewer bytes
 * than the artifact's size (see `openReadStream`); a closed stdout (EPIPE) exits 1 (main.ts).
 */
async function copyToStdout(source: Readable): Promise<void> {
  const out = process.stdout;
  try {
    for await (const chunk of source) {
      if (!out.write(chunk as Buffer)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            out.off("drain", done);
            out.off("close", done);
            resolve();
          };
          out.once("drain", done);
          out.once("close", done);
        });
      }
    }
  } finally {
    source.destroy();
  }
}

function getCommand(): Command {
  return new Command("get")
    .description("write an artifact's verified bytes to stdout (or to a file with -o/--out, atomically)")
    .argument("<digest>", "artifact digest (sha256:…)")
    .option("-o, --out <file>", "write to this file instead of stdout", nonEmptyArg("--out"))
    // The name of older builds (`--out` is every other command's): the same, hidden from the help.
    .addOption(new Option("--output <file>", "the same as --out").argParser(nonEmptyArg("--output")).hideHelp())
    .addOption(snapshotOption())
    .action(async (digestArg: string, opts: { out?: string; output?: string; snapshot?: string }, cmd: Command) => {
      const digest = parseDigest(digestArg);
      if (opts.out !== undefined && opts.output !== undefined) {
        throw new CairnError(ErrorCode.USAGE, "give --out (-o) or --output, not both", { field: "--out" });
      }
      const target = opts.out ?? opts.output;
      // Before the store is opened: the file must not replace the store's own (its catalog…).
      refuseDashOut(opts.out !== undefined ? "--out" : "--output", target, "without it the bytes go to stdout");
      await checkOutOutsideStore(cmd, opts.out !== undefined ? "--out" : "--output", target);
      await withStore(cmd, "read", async (store, out) => {
        const reader = readerFor(store, opts.snapshot);
        if (target !== undefined) {
          // The bytes are verified as they stream (a mismatch fails the read, and out-file.ts
          // then drops the temp file: the file appears only with verified bytes).
          const shown = target;
          const info: ArtifactInfo = reader.stat(digest);
          // A signal meanwhile exits through the exit hooks, which remove the temp file.
          await exitOnSignal(() => {}, () =>
            withOutFile(shown, async (file) => {
              for await (const chunk of reader.openReadStream(digest)) await (file as OutFile).write(chunk as Buffer);
            }),
          );
          out.result({ ...info, path: resolve(shown) }, () => out.note(`wrote ${info.size} bytes to ${shown}`));
          return;
        }
        await copyToStdout(reader.openReadStream(digest));
      });
    });
}

function lsCommand(): Command {
  return new Command("ls")
    .description("list visible artifacts in logseq order: digest  size  mediaType  typeTag")
    .addOption(new Option("--type <type>", "only this media type (contains '/') or type tag (decimal or 0x hex)").argParser(parseTypeFilter))
    .addOption(snapshotOption())
    .addOption(new Option("--limit <n>", "list at most n artifacts").argParser((v) => parseCount(v, "--limit")))
    .action(async (opts: { type?: Pick<ListOptions, "mediaType" | "typeTag">; snapshot?: string; limit?: number }, cmd: Command) => {
      const filter: Omit<ListOptions, "asOf"> = { ...opts.type };
      if (opts.limit !== undefined) filter.limit = opts.limit;
      await withStore(cmd, "read", async (store, out) => {
        await out.streamList(readerFor(store, opts.snapshot).list(filter), artifactLine);
      });
    });
}

function statCommand(): Command {
  return new Command("stat")
    .description("show an artifact's record")
    .argument("<digest>", "artifact digest (sha256:…)")
    .addOption(snapshotOption())
    .action(async (digestArg: string, opts: { snapshot?: string }, cmd: Command) => {
      const digest = parseDigest(digestArg);
      await withStore(cmd, "read", (store, out) => {
        const info = readerFor(store, opts.snapshot).stat(digest);
        out.result(info, () =>
          out.fields({
            digest: info.digest,
            size: info.size,
            mediaType: info.mediaType,
            typeTag: formatTypeTag(info.typeTag),
            storage: info.storage,
            state: info.state,
            logseq: info.logseq,
          }),
        );
      });
    });
}

function rmCommand(): Command {
  return new Command("rm")
    .description("tombstone an artifact (snapshots taken before still see it; gc may later collect its bytes)")
    .argument("<digest>", "artifact digest (sha256:…)")
    .action(async (digestArg: string, _opts: unknown, cmd: Command) => {
      const digest = parseDigest(digestArg);
      await withStore(cmd, "update", (store, out) => {
        const r = store.delete(digest);
        out.result(r, () => out.note(`deleted ${r.digest} (logseq ${r.logseq})`));
      });
    });
}

function pinCommand(): Command {
  return new Command("pin")
    .description("pin an artifact under a name (a gc root)")
    .argument("<digest>", "artifact digest (sha256:…)")
    .argument("<name>", "root name")
    .action(async (digestArg: string, name: string, _opts: unknown, cmd: Command) => {
      const digest: Digest = parseDigest(digestArg);
      await withStore(cmd, "update", (store, out) => {
        const root = store.pin(name, digest);
        out.result(root, () => out.note(`pinned ${root.name} → ${root.digest}`));
      });
    });
}

function unpinCommand(): Command {
  return new Command("unpin")
    .description("remove a pinned root")
    .argument("<name>", "root name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withStore(cmd, "update", (store, out) => {
        const r = store.unpin(name);
        out.result(r, () => out.note(`unpinned ${r.name}`));
      });
    });
}

function rootsCommand(): Command {
  return new Command("roots").description("list pinned roots: name  kind  digest").action(async (_opts, cmd: Command) => {
    await withStore(cmd, "read", async (store, out) => {
      // Streamed (a page of roots at a time, waiting for stdout to drain), as `store ls` streams artifacts.
      await out.streamList(store.iterateRoots(), (r) => `${r.name}  ${r.kind}  ${r.digest}`);
    });
  });
}

export function storeCommand(): Command {
  return new Command("store")
    .description("artifacts: put, get, ls, stat, rm; roots: pin, unpin, roots")
    .addCommand(putCommand())
    .addCommand(getCommand())
    .addCommand(lsCommand())
    .addCommand(statCommand())
    .addCommand(rmCommand())
    .addCommand(pinCommand())
    .addCommand(unpinCommand())
    .addCommand(rootsCommand());
}
