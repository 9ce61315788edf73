/**
 * An esbuild plugin shared by the two bundlers of user code (batch modules,
 * batch/sandbox/bundle.ts; workflow capability modules, workflow/cairn/usercts.ts): a file the
 * build would read that is not a regular file — a FIFO, which blocks the read forever (a
 * `wf compile` or `cairn run` hung with no output), a character device, a socket — fails the
 * build at its import instead. It reads nothing itself and changes no output byte.
 */
import { stat } from "node:fs/promises";
import type { Plugin } from "esbuild";

export const regularFilesOnly: Plugin = {
  name: "cairn-regular-files-only",
  setup(b) {
    b.onLoad({ filter: /.*/, namespace: "file" }, async (args) => {
      const st = await stat(args.path).catch(() => undefined);
      // A missing or unreadable file is left to esbuild, which reports it at the import.
      if (st === undefined || st.isFile()) return undefined;
      const kind = st.isFIFO() ? "a FIFO" : st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device" : st.isSocket() ? "a socket" : st.isDirectory() ? "a directory" : "not a regular file";
      return { errors: [{ text: `${args.path} is ${kind}, not a regular file: refusing to read it` }] };
    });
  },
};
