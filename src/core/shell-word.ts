/**
 * A path or argument as one POSIX shell word, for the repair commands error messages and notes
 * name (`wf repair-tail`, an evidence file's `truncate`): as is when it needs no quoting, else
 * single-quoted. A word starting with `-` is quoted too, though the shell does not need it,
 * so that it stands out as an operand. (`plane/placements/ssh.ts` `shQuote` always quotes: its
 * words go into a script, not a message.)
 */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,][A-Za-z0-9_./:@%+=,-]*$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
