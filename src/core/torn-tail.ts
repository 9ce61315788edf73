/**
 * The words for a JSON-lines file's torn tail (an append that did not finish: bytes after the
 * last newline), shared by the workflow data root's files (workflow/effects/jsonl.ts) and the
 * plane's JSONL evidence files (plane/evidence/sinks.ts), which refuse to append after one.
 */

/** "N bytes after offset O without a newline, …": what the unterminated bytes are. */
export function tornTailWhat(t: { readonly offset: number; readonly bytes: number; readonly complete?: boolean }): string {
  return t.complete === true
    ? `${t.bytes} bytes after offset ${t.offset} without a newline, a complete JSON object: its newline is missing`
    : `${t.bytes} bytes after offset ${t.offset} without a newline, an interrupted append`;
}
