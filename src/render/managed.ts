/**
 * Marks on the files berth writes on a host: the header of a file berth owns
 * whole, and the block berth keeps in a file it shares with its owner. Pure.
 */

/** The header of every file berth writes on a host, with the comment syntax of the file. */
export function managedHeader(what: string, comment = '#'): string {
  return `${comment} Managed by berth: ${what}. Changes here are overwritten by the next \`berth install\`.\n`;
}

/** A script with berth's header right after its `#!` line. */
export function managedScript(script: string, what: string): string {
  const newline = script.indexOf('\n') + 1;
  if (!script.startsWith('#!') || newline === 0) throw new Error(`a script starts with a #! line (${what})`);
  return `${script.slice(0, newline)}${managedHeader(what)}${script.slice(newline)}`;
}

/** The lines around berth's block in a file it shares. */
export const MANAGED_BLOCK = { begin: '# BEGIN berth', end: '# END berth' } as const;
const { begin: BLOCK_BEGIN, end: BLOCK_END } = MANAGED_BLOCK;

/**
 * A file berth shares with its owner: everything outside berth's marked
 * block stays as it is; the block (replaced, or added at the end) holds `body`.
 */
export function withManagedBlock(existing: string | null, body: string): string {
  const block = `${BLOCK_BEGIN}\n${body.trimEnd()}\n${BLOCK_END}\n`;
  const others = withoutManagedBlock(existing);
  return others ? `${others}${block}` : block;
}

/** The file with berth's block taken out: what its owner wrote, '' when that was nothing. */
export function withoutManagedBlock(existing: string | null): string {
  const others = (existing ?? '').replace(new RegExp(`${BLOCK_BEGIN}\n[\\s\\S]*?${BLOCK_END}\n?`), '').trimEnd();
  return others ? `${others}\n` : '';
}
