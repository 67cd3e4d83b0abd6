import { BadInputError } from '../errors';
import type { Printer } from './print';

/** One option of a command, as node:util parseArgs takes it, plus help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  /** Shown in help: --answers FILE */
  valueName?: string;
  multiple?: boolean;
}

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  print: Printer;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface Command {
  /** Words that select it: ['install'], ['answers', 'validate']. */
  words: string[];
  summary: string;
  /** The argument part of the usage line, e.g. "[--answers FILE] [--yes]". */
  usage: string;
  options: Record<string, OptionSpec>;
  positionals?: { name: string; description: string; optional?: boolean }[];
  /** Longer text under the usage line. */
  details?: string;
  run(ctx: CommandContext): Promise<void>;
}

/** The --output option: how a command shows its progress and results. */
export const OUTPUT_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'auto|plain|json',
  description: 'Progress display: a live task list on a terminal (auto), plain lines, or JSON lines on stdout.',
};

/** --output of the commands that print one result per host (status, doctor). */
export const RESULT_OUTPUT_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'auto|plain|json',
  description: 'Results as text (auto, plain) or as one JSON object per host and line on stdout (json).',
};

/** Options of every command that connects to the hosts. */
export const CONNECT_OPTIONS: Record<string, OptionSpec> = {
  answers: { type: 'string', short: 'a', valueName: 'FILE', description: 'The answers file (default berth.yaml).' },
  yes: { type: 'boolean', short: 'y', description: 'Ask nothing: a passphrase or sudo password the answers lack is an error.' },
  'accept-new-host-keys': {
    type: 'boolean',
    description: 'Trust and pin the key of a host seen for the first time without asking (like OpenSSH accept-new); a changed key, or one of another type than known_hosts holds, is still refused.',
  },
};

/** Options of the commands that run the phases on the hosts (install, plan). */
export const HOST_OPTIONS: Record<string, OptionSpec> = {
  ...CONNECT_OPTIONS,
  output: OUTPUT_OPTION,
  'log-file': { type: 'string', valueName: 'FILE', description: 'Where to write the full log (default ./berth-logs/berth-TIME.log).' },
};

export type OutputMode = 'auto' | 'plain' | 'json';

/** The --output of a host command, checked before anything is asked or contacted. */
export function outputMode(values: CommandContext['values']): OutputMode {
  const output = (values.output as string | undefined) ?? 'auto';
  if (output !== 'auto' && output !== 'plain' && output !== 'json') throw new BadInputError(`--output must be auto, plain or json, not "${output}"`);
  return output;
}
