/**
 * Bundles a user execution module into one self-contained, deterministic ESM text with
 * esbuild. The bundle's SHA-256 is the function's identity in receipts and manifests.
 *
 * Determinism: esbuild's output depends only on the bundled files' contents and their paths
 * RELATIVE to the entry's directory: non-minified output carries `// <path>` comments, and
 * `absWorkingDir` is set to the entry's (real) directory so those paths are relative, never
 * absolute. So the digest is independent of the current directory and of where the project
 * lives on disk, but renaming the entry file or moving an imported file changes it. No
 * timestamps, no source maps, no legal comments. The esbuild version is part of the identity
 * in practice (another version may print the same code differently).
 *
 * What is bundled: the entry and everything it imports, including packages from
 * node_modules (`packages: "bundle"`). Node builtins (`fs`, `node:crypto`…) stay external.
 * The nearest tsconfig.json above the entry is honoured (as esbuild always does), so it is an
 * input as well.
 */
import { realpath, stat } from "node:fs/promises";
import { dirname, extname, isAbsolute, relative, resolve } from "node:path";
import { build, type BuildFailure, type Message } from "esbuild";
import { sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, UsageError } from "../../core/errors.js";

/** File extensions a user module may have. */
export const MODULE_EXTENSIONS: readonly string[] = [".ts", ".mts", ".js", ".mjs"];

export interface ModuleBundle {
  /** The bundle: one ESM module whose only imports are Node builtins. */
  code: string;
  /** sha256 of the UTF-8 bytes of `code`: the function's identity. */
  digest: Digest;
  format: "esm";
}

function isBuildFailure(err: unknown): err is BuildFailure {
  return err instanceof Error && Array.isArray((err as Partial<BuildFailure>).errors);
}

/** `file:line:column` (1-based line and column) of an esbuild message, naming the file as the user would. */
function describeLocation(m: Message, workDir: string, entryReal: string, entryShown: string): string {
  const loc = m.location;
  if (loc === null) return entryShown;
  const abs = resolve(workDir, loc.file);
  let file: string;
  if (abs === entryReal) file = entryShown;
  else {
    const rel = relative(process.cwd(), abs);
    file = rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs;
  }
  return `${file}:${loc.line}:${loc.column + 1}`;
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
  if (!MODULE_EXTENSIONS.includes(ext)) {
    throw new UsageError(`module ${path} must be a ${MODULE_EXTENSIONS.join(", ")} file`, { path });
  }
  let entryReal: string;
  try {
    entryReal = await realpath(resolve(path));
    const st = await stat(entryReal);
    if (!st.isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `module ${path} is not a file`, { path });
  } catch (err) {
    if (err instanceof CairnError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new CairnError(ErrorCode.NOT_FOUND, `module not found: ${path}`, { path }, { cause: err });
    }
    throw new CairnError(ErrorCode.INVALID_INPUT, `cannot read module ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }

  const workDir = dirname(entryReal);
  let code: string;
  try {
    const result = await build({
      entryPoints: [entryReal],
      absWorkingDir: workDir,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "bundle",
      write: false,
      sourcemap: false,
      legalComments: "none",
      charset: "ascii",
      metafile: false,
      logLevel: "silent",
    });
    const [out] = result.outputFiles;
    if (out === undefined || result.outputFiles.length !== 1) {
      throw new CairnError(ErrorCode.INTERNAL, `esbuild produced ${result.outputFiles.length} output files for ${path}, expected 1`);
    }
    code = out.text;
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
  return { code, digest: sha256(code), format: "esm" };
}
