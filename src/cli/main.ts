#!/usr/bin/env node
import { redact } from '../engine/redact';
import { BadInputError, RunFailedError } from '../errors';
import { VERSION } from '../version';
import { groupAsked, leadingGlobals, parseCommandLine, renderGroupHelp, renderHelp, renderOverview, selectCommand } from './args';
import type { Command, CommandContext } from './command';
import { answersExampleCommand, answersSchemaCommand, answersValidateCommand } from './commands/answers';
import { ciGithubCommand, ciGitlabCommand, ciKnownHostsCommand } from './commands/ci';
import { deployCommand, rollbackCommand } from './commands/deploy';
import { doctorCommand } from './commands/doctor';
import { installCommand } from './commands/install';
import { planCommand } from './commands/plan';
import { sandboxDownCommand, sandboxStatusCommand, sandboxUpCommand } from './commands/sandbox';
import { statusCommand } from './commands/status';
import { colorWanted, createPrinter, type Printer } from './print';

/** Exit codes: the only place errors become numbers. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

export const COMMANDS: readonly Command[] = [
  installCommand,
  planCommand,
  deployCommand,
  rollbackCommand,
  doctorCommand,
  statusCommand,
  ciGitlabCommand,
  ciGithubCommand,
  ciKnownHostsCommand,
  answersValidateCommand,
  answersSchemaCommand,
  answersExampleCommand,
  sandboxUpCommand,
  sandboxStatusCommand,
  sandboxDownCommand,
];

export interface MainIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdin: CommandContext['stdin'];
  stdout: CommandContext['stdout'];
  stderr: CommandContext['stderr'];
}

function reportError(print: Printer, err: unknown): number {
  if (err instanceof BadInputError || err instanceof RunFailedError) {
    print.error(err.message);
    for (const d of err.details) print.info(`  ${d}`);
    if (err.hint) print.info(err.hint);
    return err instanceof BadInputError ? EXIT_BAD_INPUT : EXIT_FAILED;
  }
  // Not a user mistake: a bug in berth. Show the stack so that it can be reported.
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  print.error(`berth hit an internal error; please report it with the lines below.\n${redact(text)}`);
  return EXIT_FAILED;
}

export async function main(io: MainIo): Promise<number> {
  const argv = io.argv;
  const noColor = argv.includes('--no-color');
  const print = createPrinter(io, { stdout: colorWanted(noColor, io.env, io.stdout.isTTY), stderr: colorWanted(noColor, io.env, io.stderr.isTTY) });
  try {
    const leading = leadingGlobals(argv);
    if (leading.version && !leading.help) {
      print.out(VERSION);
      return EXIT_OK;
    }
    if (leading.help && (leading.rest.length === 0 || leading.rest[0].startsWith('-'))) {
      print.out(renderOverview(COMMANDS, VERSION));
      return EXIT_OK;
    }
    const group = groupAsked(leading.rest, COMMANDS);
    if (group && (leading.help || leading.rest.length > 1)) {
      print.out(renderGroupHelp(group));
      return EXIT_OK;
    }
    const { command, rest } = selectCommand(leading.rest, COMMANDS, installCommand);
    const parsed = parseCommandLine(command, leading.help ? [...rest, '--help'] : rest);
    if (parsed.values.help) {
      print.out(renderHelp(command));
      return EXIT_OK;
    }
    await command.run({ values: parsed.values, positionals: parsed.positionals, print, env: io.env, stdin: io.stdin, stdout: io.stdout, stderr: io.stderr });
    return EXIT_OK;
  } catch (err) {
    return reportError(print, err);
  }
}

if (require.main === module) {
  main({ argv: process.argv.slice(2), env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
  );
}
