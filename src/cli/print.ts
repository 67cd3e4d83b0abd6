import chalk from 'chalk';
import { redact } from '../engine/redact';

/**
 * How the CLI talks to the user: results on stdout, everything else on
 * stderr, all of it through the redaction layer. Colour follows --no-color,
 * NO_COLOR (https://no-color.org) and whether the stream is a terminal.
 */
export interface Printer {
  /** Colours for what goes to stderr (messages, progress). */
  readonly color: chalk.Chalk;
  /** Colours for what goes to stdout (results): off when stdout is a file or a pipe. */
  readonly outColor: chalk.Chalk;
  /** A result (a schema, a plan): stdout. */
  out(text: string): void;
  /** Progress and messages: stderr. */
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
}

export interface PrinterStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export function colorWanted(noColorFlag: boolean, env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(isTTY) && env.TERM !== 'dumb';
}

export function createPrinter(streams: PrinterStreams, useColor: { stdout: boolean; stderr: boolean }): Printer {
  const color = new chalk.Instance({ level: useColor.stderr ? 1 : 0 });
  const line = (stream: NodeJS.WritableStream, text: string) => stream.write(`${redact(text)}\n`);
  return {
    color,
    outColor: new chalk.Instance({ level: useColor.stdout ? 1 : 0 }),
    out: (text) => line(streams.stdout, text),
    info: (text) => line(streams.stderr, text),
    warn: (text) => line(streams.stderr, `${color.yellow('warning:')} ${text}`),
    error: (text) => line(streams.stderr, `${color.red('error:')} ${text}`),
  };
}

/** One finding of `berth doctor` or `berth status`, marked ✔, ! or ✘. */
export function findingLine(color: chalk.Chalk, finding: { label: string; status: 'ok' | 'warn' | 'fail'; detail: string }, width: number): string {
  const mark = finding.status === 'ok' ? color.green('✔') : finding.status === 'warn' ? color.yellow('!') : color.red('✘');
  return `  ${mark} ${finding.label.padEnd(width)} ${finding.detail}`;
}
