/**
 * Bundles a user execution module into one self-contained, deterministic ESM text with
 * esbuild. The bundle's SHA-256 is the function's identity in receipts and manifests.
 *
 * Determinism: esbuild's output depends only on the bundled files' contents and their paths
 * RELATIVE to the entry's directory: non-minified output carries `// <path>` comments, and
 * `absWorkingDir` is set to the entry's (real) directory so those paths are relative, never
 * absolute. So the digest is independent of the current directory and of where the project
 * lives on disk, but renaming the entry file or moving an imported file changes it. No
 * timestamps, no legal comments. The esbuild version is part of the identity in practice
 * (another version may print the same code differently). A source map is built beside the
 * bundle (esbuild's "external" mode: the bundle's bytes are the same as without it, and carry
 * no `sourceMappingURL` comment); it is not stored and not part of the identity, and serves
 * only to name `file:line:column` when the module throws at import (`locate`) and to tell
 * where an `import.meta` comes from.
 *
 * `import.meta` in the user's own files is refused (E_INVALID_INPUT at its `file:line:column`):
 * the bundle runs from a `data:` URL, and is re-run from the store by resume, verify and
 * replay, so there is no module location for `import.meta.url` to name
 * (`createRequire(import.meta.url)`, `new URL("./x", import.meta.url)`), and files found
 * through it would not be part of the function's identity. Packages from node_modules keep
 * theirs as they are (many probe it, e.g. `import.meta.env?.DEV`): they see the bundle's
 * `data:` URL, as before. esbuild's parser finds the `import.meta` expressions (a second
 * build marking them unsupported warns at each, in its source file); the same text in a string,
 * template text, regular expression or comment is not one.
 *
 * What is bundled: the entry and everything it imports, including packages from
 * node_modules (`packages: "bundle"`). Node builtins (`fs`, `node:crypto`…) stay external.
 *
 * Inputs besides the bundled files, as esbuild always reads them, wherever they are — in the
 * project or in any folder above it:
 *  - the nearest tsconfig.json above the entry (and the files it `extends`): its compiler
 *    options (`useDefineForClassFields`, `experimentalDecorators`, `verbatimModuleSyntax`,
 *    `jsx*`…) change the code, its `paths`/`baseUrl` the resolution;
 *  - for each bundled file, the nearest package.json above it: `sideEffects` (a
 *    `{"sideEffects": false}` drops a side-effect-only `import "./setup"`), `type` (`"module"`
 *    reads a `.js` file without `import`/`export` as ESM), `imports`, and for packages their
 *    entry points (`exports`, `module`, `main`);
 *  - which node_modules folder (walking up) holds an imported package.
 * These stay as they are (unlike the workflow user-CT bundler, cairn/usercts.ts, which pins
 * them): the tsconfig.json is how a project configures its TypeScript (`paths` aliases
 * included), and changing what is read would change the digest — and so the run id — of
 * existing functions (the same command would start a new run instead of finding its finished
 * or interrupted one in the store). A difference always shows in the bundle,
 * so in the function digest and the run id, never as another output under one run id. A
 * package.json and a tsconfig.json in the module's project (the repository root for
 * examples/zip-fips) end both searches there, so the project reproduces its bundles in any
 * directory; a module with neither depends on the folders above it
 * (test/batch/determinism-env.test.ts).
 */
import { realpath, stat } from "node:fs/promises";
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from "node:path";
import { SourceMap } from "node:module";
import { build, type BuildFailure, type BuildOptions, type Message } from "esbuild";
import { sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, UsageError } from "../../core/errors.js";
import { regularFilesOnly } from "../../core/regular-files-plugin.js";

/** File extensions a user module may have. */
export const MODULE_EXTENSIONS: readonly string[] = [".ts", ".mts", ".js", ".mjs"];

export interface ModuleBundle {
  /** The bundle: one ESM module whose only imports are Node builtins. */
  code: string;
  /** sha256 of the UTF-8 bytes of `code`: the function's identity. */
  digest: Digest;
  format: "esm";
  /**
   * Maps a 1-based `line`/`column` of `code` to `file:line:column` of the source it came from
   * (files named as in esbuild's errors), or undefined when the position maps to nothing.
   * Built from the source map, which is not part of the identity.
   */
  locate: BundleLocator;
  /**
   * Absolute paths of the files the bundle was built from (esbuild's metafile): the entry and
   * every file it imports, node_modules included. `cairn run --out` must not replace one.
   */
  sources: string[];
}

export type BundleLocator = (line: number, column: number) => string | undefined;

/**
 * The source name of the wrapper a CommonJS entry is bundled through (it appears in the
 * bundle's `// …` comments; a `.js` name selects esbuild's `__esModule` interop).
 */
const COMMONJS_WRAPPER = "cairn-commonjs-entry.js";

/** Name of the (never written) bundle file: the source map's paths are relative to its directory. */
const BUNDLE_FILE = "cairn-bundle.mjs";

function isBuildFailure(err: unknown): err is BuildFailure {
  return err instanceof Error && Array.isArray((err as Partial<BuildFailure>).errors);
}

/** A bundled file (relative to the entry's directory) named as the user would: the entry as given, others relative to the cwd when below it. */
function showFile(file: string, workDir: string, entryReal: string, entryShown: string): string {
  const abs = resolve(workDir, file);
  if (abs === entryReal) return entryShown;
  const rel = relative(process.cwd(), abs);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs;
}

/** `file:line:column` (1-based line and column) of an esbuild message, naming the file as the user would. */
function describeLocation(m: Message, workDir: string, entryReal: string, entryShown: string): string {
  const loc = m.location;
  if (loc === null) return entryShown;
  return `${showFile(loc.file, workDir, entryReal, entryShown)}:${loc.line}:${loc.column + 1}`;
}

/** A 1-based position of the bundle → its source (relative to the entry's directory) and 1-based position there. */
type SourceOf = (line: number, column: number) => { source: string; line: number; column: number } | undefined;

function sourceMapOf(mapText: string): SourceOf {
  let map: SourceMap | undefined;
  return (line, column) => {
    map ??= new SourceMap(JSON.parse(mapText) as ConstructorParameters<typeof SourceMap>[0]);
    // findEntry takes and returns 0-based positions, and answers the nearest mapping before
    // the position, possibly on an earlier line: only a mapping on the same line is trusted.
    const e = map.findEntry(line - 1, column - 1) as Partial<{ generatedLine: number; originalSource: string; originalLine: number; originalColumn: number }>;
    if (e.generatedLine !== line - 1 || e.originalSource === undefined || e.originalLine === undefined || e.originalColumn === undefined) return undefined;
    return { source: e.originalSource, line: e.originalLine + 1, column: e.originalColumn + 1 };
  };
}

/** What a build bundles: the entry file, or the CommonJS wrapper as stdin. */
type EntryOptions = Pick<BuildOptions, "entryPoints" | "stdin">;

/**
 * The first `import.meta` expression in the user's own files (not in a package under
 * node_modules) that the bundle keeps, as an esbuild message located at it; undefined when
 * there is none.
 *
 * esbuild's own parser finds them: the same build again (output discarded) with `import.meta`
 * marked unsupported, which makes esbuild warn (`empty-import-meta`) at each real use, and never
 * at the text in a string, template, regular expression or comment. It warns before unused code
 * is dropped, so a warning counts only where the bundle itself has an `import.meta` from that
 * source line (the bundle's text mapped back through its source map). Only run when the
 * bundle's text contains `import.meta` at all, so a module without it costs nothing more.
 */
async function userImportMeta(code: string, sourceOf: SourceOf, options: BuildOptions, entry: EntryOptions): Promise<Message | undefined> {
  const kept = new Set<string>();
  let line = 1;
  let lineStart = 0;
  for (const m of code.matchAll(/\bimport\.meta\b/g)) {
    for (let nl = code.indexOf("\n", lineStart); nl !== -1 && nl < m.index; nl = code.indexOf("\n", lineStart)) {
      line++;
      lineStart = nl + 1;
    }
    const at = sourceOf(line, m.index - lineStart + 1);
    if (at !== undefined) kept.add(`${at.line}:${at.source}`);
  }
  if (kept.size === 0) return undefined;
  const r = await build({ ...options, ...entry, sourcemap: false, metafile: false, supported: { "import-meta": false } });
  return r.warnings.find((w) => {
    const loc = w.location;
    return w.id === "empty-import-meta" && loc !== null && !loc.file.split("/").includes("node_modules") && kept.has(`${loc.line}:${loc.file}`);
  });
}

/**
 * The real path of the module file at `path`, checked as `bundleModule` checks it (the CLI runs
 * this before it creates a store): E_USAGE for an extension other than MODULE_EXTENSIONS,
 * E_NOT_FOUND when it does not exist, E_INVALID_INPUT for a directory or one that cannot be read.
 */
export async function checkModuleFile(path: string): Promise<string> {
  if (!MODULE_EXTENSIONS.includes(extname(path).toLowerCase())) {
    throw new UsageError(`module ${path} must be a ${MODULE_EXTENSIONS.join(", ")} file`, { path });
  }
  try {
    const entryReal = await realpath(resolve(path));
    if (!(await stat(entryReal)).isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `module ${path} is not a file`, { path });
    return entryReal;
  } catch (err) {
    if (err instanceof CairnError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new CairnError(ErrorCode.NOT_FOUND, `module not found: ${path}`, { path }, { cause: err });
    }
    throw new CairnError(ErrorCode.INVALID_INPUT, `cannot read module ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
}

/**
 * Bundles the module at `path` (`.ts`, `.mts`, `.js` or `.mjs`).
 *
 * Errors: E_USAGE for another extension; E_NOT_FOUND when the file does not exist;
 * E_INVALID_INPUT for a directory, and for anything esbuild rejects (syntax errors, imports
 * that do not resolve), as `<file>:<line>:<column>: <esbuild's message>` (1-based column) —
 * with "(and N more errors)" when there are several.
 */
export async function bundleModule(path: string): Promise<ModuleBundle> {
  const ext = extname(path).toLowerCase();
  const entryReal = await checkModuleFile(path);
  const workDir = dirname(entryReal);
  let code: string;
  let mapText: string;
  let meta: Message | undefined;
  let sources: string[];
  try {
    const options = {
      absWorkingDir: workDir,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "bundle",
      // esbuild picks a loader by the exact extension: an upper-case one (M.TS) is named here.
      ...(extname(entryReal) === ext ? {} : { loader: { [extname(entryReal)]: ext === ".ts" || ext === ".mts" ? ("ts" as const) : ("js" as const) } }),
      write: false,
      outfile: join(workDir, BUNDLE_FILE),
      sourcemap: "external",
      sourcesContent: false,
      legalComments: "none",
      charset: "ascii",
      // The metafile tells a CommonJS entry; it does not change the output.
      metafile: true,
      logLevel: "silent",
      // An import of a FIFO or device fails the build instead of blocking it forever.
      plugins: [regularFilesOnly],
    } satisfies BuildOptions;
    let entry: EntryOptions = { entryPoints: [entryReal] };
    let result = await build({ ...options, ...entry });
    if (result.metafile.inputs[relative(workDir, entryReal)]?.format === "cjs") {
      // A CommonJS entry: esbuild's ESM output would export only `module.exports` as the
      // default, losing `reduce` and `initial` (and, for compiled TypeScript, putting the
      // `exports` object where the function should be). A fixed wrapper re-exports them with
      // esbuild's (and TypeScript's) interop: `exports.default` when `__esModule` is set,
      // else `module.exports`; `initial` and `reduce` from its properties.
      const contents = `import * as entry from ${JSON.stringify(`./${basename(entryReal)}`)};\nexport default entry.default;\nexport const initial = entry.initial;\nexport const reduce = entry.reduce;\n`;
      entry = { stdin: { contents, resolveDir: workDir, sourcefile: COMMONJS_WRAPPER, loader: "js" } };
      result = await build({ ...options, ...entry });
    }
    const out = result.outputFiles.find((f) => f.path === join(workDir, BUNDLE_FILE));
    const map = result.outputFiles.find((f) => f.path === join(workDir, `${BUNDLE_FILE}.map`));
    if (out === undefined || map === undefined || result.outputFiles.length !== 2) {
      throw new CairnError(ErrorCode.INTERNAL, `esbuild produced ${result.outputFiles.length} output files for ${path}, expected the bundle and its source map`);
    }
    code = out.text;
    mapText = map.text;
    // The metafile's paths are relative to absWorkingDir; the CommonJS wrapper (the stdin entry,
    // named by its `sourcefile`) and namespaced virtual modules are not files.
    sources = Object.keys(result.metafile.inputs).filter((k) => k !== COMMONJS_WRAPPER && !/^[a-z-]+:/.test(k)).map((k) => resolve(workDir, k));
    meta = await userImportMeta(code, sourceMapOf(mapText), options, entry);
  } catch (err) {
    if (err instanceof CairnError) throw err;
    if (isBuildFailure(err) && err.errors.length > 0) {
      const first = err.errors[0] as Message;
      const more = err.errors.length > 1 ? ` (and ${err.errors.length - 1} more error${err.errors.length > 2 ? "s" : ""})` : "";
      const where = describeLocation(first, workDir, entryReal, path);
      throw new CairnError(ErrorCode.INVALID_INPUT, `${where}: ${first.text}${more}`, {
        path,
        file: first.location?.file ?? null,
        line: first.location?.line ?? null,
        column: first.location === null ? null : first.location.column + 1,
      }, { cause: err });
    }
    throw new CairnError(ErrorCode.INVALID_INPUT, `cannot bundle module ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  const sourceOf = sourceMapOf(mapText);
  if (meta?.location != null) {
    const loc = meta.location;
    throw new CairnError(
      ErrorCode.INVALID_INPUT,
      `${describeLocation(meta, workDir, entryReal, path)}: import.meta is not available in a Cairn module: the function is its bundle, re-run from the store, so it has no module URL, and files found through one would not be part of its identity; import the file instead (esbuild bundles JSON and text imports) or pass its contents in the input`,
      { path, file: loc.file, line: loc.line, column: loc.column + 1 },
    );
  }
  const locate: BundleLocator = (line, column) => {
    const at = sourceOf(line, column);
    return at === undefined ? undefined : `${showFile(at.source, workDir, entryReal, path)}:${at.line}:${at.column}`;
  };
  return { code, digest: sha256(code), format: "esm", locate, sources };
}
