/**
 * The one shell-quoting function. Every value that reaches a remote shell
 * goes through `shq`; nothing else builds quoted strings.
 */
export function shq(value: string | number): string {
  const text = String(value);
  if (text !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A command line from an argument array, each argument quoted. */
export function shellCommand(args: readonly (string | number)[]): string {
  return args.map(shq).join(' ');
}

/** Removes each directory that exists and is empty, in the order given (a child before its parent). */
export function removeEmptyDirs(dirs: readonly string[]): string {
  return `for dir in ${dirs.map(shq).join(' ')}; do if [ -d "$dir" ]; then rmdir --ignore-fail-on-non-empty -- "$dir"; fi; done`;
}
