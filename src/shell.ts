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
