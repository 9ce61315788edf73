/**
 * A path or argument as one POSIX shell word, for the repair commands error messages and notes
 * name (`wf repair-tail`, an evidence file's `truncate`): as is when it needs no quoting, else
 * single-quoted. Quoting does not keep a word that starts with `-` from being read as an
 * option: a command line that names such an operand puts `--` before it (torn-files.ts
 * `repairCommandFor`). (`plane/placements/ssh.ts` `shQuote` always quotes: its words go into a
 * script, not a message.)
 */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
