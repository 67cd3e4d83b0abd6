import { parseArgs } from 'node:util';
import { closest, distance } from 'fastest-levenshtein';
import { BadInputError } from '../errors';
import type { Command, OptionSpec } from './command';

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'Show help for the command.' },
  'no-color': { type: 'boolean', description: 'Plain output without colours (NO_COLOR=1 does the same).' },
};

export interface ParsedCommandLine {
  command: Command;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** What the words before a command ask for: `berth --no-color plan`, `berth --help install`, `berth help answers`. */
export interface Leading {
  help: boolean;
  version: boolean;
  rest: string[];
}

/** Take the global flags (and a `help` word) off the front of argv; the rest starts with the command, if any. */
export function leadingGlobals(argv: readonly string[]): Leading {
  let i = 0;
  let help = false;
  let version = false;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--version' || arg === '-V') version = true;
    else if (arg !== '--no-color') break;
  }
  if (argv[i] === 'help') {
    help = true;
    i++;
  }
  return { help, version, rest: argv.slice(i) };
}

/** The commands of a group (`answers`, `sandbox`) when argv names the group alone or asks for its help. */
export function groupAsked(argv: readonly string[], commands: readonly Command[]): Command[] | undefined {
  const group = commands.filter((c) => c.words.length > 1 && c.words[0] === argv[0]);
  if (group.length === 0) return undefined;
  const next = argv[1];
  return next === undefined || next === '--help' || next === '-h' ? group : undefined;
}

/** Pick the command whose words start argv (longest first); no words at all means `install`. */
export function selectCommand(argv: readonly string[], commands: readonly Command[], fallback: Command): { command: Command; rest: string[] } {
  const byLength = [...commands].sort((a, b) => b.words.length - a.words.length);
  for (const command of byLength) {
    if (command.words.every((w, i) => argv[i] === w)) return { command, rest: argv.slice(command.words.length) };
  }
  const first = argv[0];
  if (first === undefined || first.startsWith('-')) return { command: fallback, rest: [...argv] };
  const names = [...new Set(commands.map((c) => c.words.join(' ')))];
  const group = commands.filter((c) => c.words[0] === first);
  if (group.length > 0) {
    const sub = argv[1];
    throw new BadInputError(
      sub ? `unknown command "berth ${first} ${sub}"` : `"berth ${first}" needs a subcommand`,
      group.map((c) => `berth ${c.words.join(' ').padEnd(20)} ${c.summary}`),
    );
  }
  const best = closest(first, names);
  const hint = distance(first, best) <= 2 ? `Did you mean "berth ${best}"?` : 'Run `berth --help` for the list of commands.';
  throw new BadInputError(`unknown command "${first}"`, [], hint);
}

export function parseCommandLine(command: Command, rest: string[]): ParsedCommandLine {
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  const spec = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), multiple: Boolean(o.multiple) }]),
  );
  const name = `berth ${command.words.join(' ')}`;
  try {
    const { values, positionals } = parseArgs({ args: rest, options: spec, allowPositionals: true, strict: true });
    const allowed = command.positionals ?? [];
    if (!values.help) {
      if (positionals.length > allowed.length) {
        throw new BadInputError(`${name} does not take "${positionals[allowed.length]}"`, [], `Run \`${name} --help\`.`);
      }
      const missing = allowed.slice(positionals.length).filter((p) => !p.optional);
      if (missing.length > 0) {
        throw new BadInputError(`${name} needs ${missing.map((p) => p.name).join(' and ')}`, [], `Run \`${name} --help\`.`);
      }
    }
    return { command, values: values as ParsedCommandLine['values'], positionals };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (err instanceof BadInputError || !code.startsWith('ERR_PARSE_ARGS')) throw err;
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    const valueless = /^Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument (?:missing|is ambiguous)/.exec(message)?.[1];
    if (valueless) {
      const valueName = options[valueless.slice(2)]?.valueName ?? 'VALUE';
      throw new BadInputError(`${valueless} needs a value: ${valueless} ${valueName}`, [], `Run \`${name} --help\`.`);
    }
    const unknown = /Unknown option '(--?[^']+)'/.exec(message)?.[1];
    if (unknown) {
      const valid = Object.keys(options).map((o) => `--${o}`);
      const best = closest(unknown, valid);
      const hint = distance(unknown, best) <= 3 ? `Did you mean ${best}?` : `Run \`${name} --help\` for its options.`;
      throw new BadInputError(`unknown option ${unknown} for ${name}`, [], hint);
    }
    throw new BadInputError(`${name}: ${message}`, [], `Run \`${name} --help\`.`);
  }
}

export function renderHelp(command: Command): string {
  const name = `berth ${command.words.join(' ')}`;
  const lines = [`Usage: ${name} ${command.usage}`.trimEnd(), '', command.summary];
  if (command.details) lines.push('', command.details);
  if (command.positionals?.length) {
    lines.push('', 'Arguments:');
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(24)} ${p.description}`);
  }
  const options = { ...command.options, ...GLOBAL_OPTIONS };
  lines.push('', 'Options:');
  for (const [optName, o] of Object.entries(options)) {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${optName}${o.valueName ? ` ${o.valueName}` : ''}`;
    lines.push(`  ${flag.padEnd(24)} ${o.description}`);
  }
  return lines.join('\n');
}

export function renderGroupHelp(group: readonly Command[]): string {
  const word = group[0].words[0];
  const lines = [`Usage: berth ${word} <command> [options]`, '', 'Commands:'];
  for (const c of group) lines.push(`  ${c.words.join(' ').padEnd(20)} ${c.summary}`);
  lines.push('', `Run \`berth ${word} <command> --help\` for the options of one.`);
  return lines.join('\n');
}

export function renderOverview(commands: readonly Command[], version: string): string {
  const lines = [
    `berth ${version}: a hardened Docker platform on your VMs, over SSH.`,
    '',
    'Usage: berth [command] [options]     (no command = install)',
    '',
    'Commands:',
  ];
  for (const c of commands) lines.push(`  ${c.words.join(' ').padEnd(20)} ${c.summary}`);
  lines.push(
    '',
    'Global options:',
    '  -h, --help             Help for berth or a command, before or after it (also: berth help COMMAND).',
    '  -V, --version          Print the version.',
    '      --no-color         Plain output, before or after the command (NO_COLOR=1 does the same).',
  );
  lines.push('', 'Exit codes: 0 success, 1 a run failed, 2 bad input (nothing was changed).');
  return lines.join('\n');
}
