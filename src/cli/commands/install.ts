import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Document } from 'yaml';
import type { LoadedAnswers } from '../../answers/load';
import type { AnswersStart } from '../../wizard';
import type { SummaryRow } from '../../engine/events';
import { BadInputError } from '../../errors';
import { shellCommand } from '../../shell';
import { HOST_OPTIONS, outputMode, type Command, type CommandContext } from '../command';

/** Write the answers (0600) and, for editors, the JSON Schema the file's first line points at. */
async function saveAnswers(path: string, doc: Document): Promise<void> {
  const { writePrivateFile } = require('../../answers/save') as typeof import('../../answers/save');
  const { answersJsonSchema } = require('../../answers/json-schema') as typeof import('../../answers/json-schema');
  try {
    writePrivateFile(path, doc.toString({ lineWidth: 0 }));
    const schemaPath = join(dirname(path), 'berth.schema.json');
    if (!existsSync(schemaPath)) writeFileSync(schemaPath, `${JSON.stringify(answersJsonSchema(), null, 2)}\n`);
  } catch (err) {
    throw new BadInputError(`cannot write the answers to ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, [], 'Choose a file in a directory you can write to (--save-answers FILE).');
  }
}

/** The answers file bare `berth` offers to start from, and where the wizard saves by default. */
const DEFAULT_ANSWERS = 'berth.yaml';

const NON_INTERACTIVE_HINT =
  'Without a terminal berth cannot ask questions. Write an answers file (start from `berth answers example > berth.yaml`) and run `berth install --answers berth.yaml --yes`.';

/**
 * The answers for this run: from the file, with missing secrets asked for on
 * a terminal (or refused with --yes), or from the wizard.
 */
export async function gatherAnswers(ctx: CommandContext): Promise<LoadedAnswers> {
  const { parseDocument } = require('yaml') as typeof import('yaml');
  const { parseAnswers, readAnswersText } = require('../../answers/load') as typeof import('../../answers/load');
  const { missingSecrets } = require('../../answers/missing') as typeof import('../../answers/missing');
  const { formatPath } = require('../../answers/problems') as typeof import('../../answers/problems');
  const { askAnswersStart, askMissingSecrets, askSavePath, wizardTemplate, runWizard, WizardCancelled } = require('../../wizard') as typeof import('../../wizard');
  let file = ctx.values.answers as string | undefined;
  const saveTo = ctx.values['save-answers'] as string | undefined;
  const yes = Boolean(ctx.values.yes);
  const interactive = Boolean(ctx.stdin.isTTY) && !yes;
  const io = { stdin: ctx.stdin, stdout: ctx.stderr };

  try {
    let start: AnswersStart = 'new';
    if (!file) {
      if (!interactive) throw new BadInputError('no answers file given', [], yes ? 'With --yes, give --answers FILE.' : NON_INTERACTIVE_HINT);
      // An answers file from an earlier run is offered first, instead of the built-in defaults.
      if (existsSync(DEFAULT_ANSWERS)) start = await askAnswersStart(io, DEFAULT_ANSWERS);
      if (start === 'use') file = DEFAULT_ANSWERS;
    }
    if (!file) {
      const doc = await runWizard(start === 'edit' ? parseDocument(readAnswersText(DEFAULT_ANSWERS)) : wizardTemplate(), io);
      const path = saveTo ?? (await askSavePath(io, DEFAULT_ANSWERS));
      await saveAnswers(path, doc);
      ctx.print.info(`Saved the answers to ${path} (mode 0600). Next time: ${shellCommand(['berth', 'install', '--answers', path])}`);
      return parseAnswers(doc.toString(), path);
    }

    const loaded = parseAnswers(readAnswersText(file), file);
    const missing = missingSecrets(loaded.answers);
    if (missing.length === 0) {
      if (saveTo) await saveAnswers(saveTo, loaded.document);
      return loaded;
    }
    if (!interactive) {
      throw new BadInputError(
        `${file} lacks ${missing.length} secret${missing.length === 1 ? '' : 's'} berth needs`,
        missing.map((m) => `${formatPath(m.path)}: ${m.what}`),
        `Set each to a value, env:NAME or file:PATH${yes ? '' : ', or run on a terminal to be asked'}.`,
      );
    }
    const doc = parseDocument(loaded.document.toString());
    await askMissingSecrets(doc, io);
    const path = saveTo ?? file;
    await saveAnswers(path, doc);
    ctx.print.info(`Saved the answers to ${path} (mode 0600).`);
    return parseAnswers(doc.toString(), path);
  } catch (err) {
    if (err instanceof WizardCancelled) throw new BadInputError(err.message);
    throw err;
  }
}

/**
 * On a terminal, before the first change: the hosts, their roles and what the
 * plan would change, then the question. False when there is nothing to change;
 * a "no" (or Ctrl-C) is bad input: nothing was changed.
 */
export async function confirmInstall(ctx: CommandContext, loaded: LoadedAnswers, planned: readonly SummaryRow[]): Promise<boolean> {
  const { changeSummary } = require('../../engine/output') as typeof import('../../engine/output');
  const { confirmChanges, WizardCancelled } = require('../../wizard') as typeof import('../../wizard');
  ctx.print.info(changeSummary(loaded.answers.hosts, planned, loaded.file));
  if (!planned.some((r) => r.changed > 0)) return false;
  const yes = await confirmChanges({ stdin: ctx.stdin, stdout: ctx.stderr }).catch((err: unknown) => {
    if (err instanceof WizardCancelled) return false;
    throw err;
  });
  if (!yes) throw new BadInputError('nothing was changed', [], `Run \`${shellCommand(['berth', 'install', '--answers', loaded.file])}\` again when ready (--yes installs without this question).`);
  return true;
}

export const installCommand: Command = {
  words: ['install'],
  summary: 'Build or update the platform on the hosts (the default command).',
  usage: '[--answers FILE] [--yes] [--accept-new-host-keys] [--dry-run] [options]',
  options: {
    ...HOST_OPTIONS,
    answers: { type: 'string', short: 'a', valueName: 'FILE', description: 'The answers file; without it the wizard asks.' },
    yes: { type: 'boolean', short: 'y', description: 'Ask nothing, and change the hosts without confirming: anything missing is an error.' },
    'save-answers': { type: 'string', valueName: 'FILE', description: 'Write the answers (with what was asked) to FILE.' },
    'dry-run': { type: 'boolean', description: 'Print what would change on each host (like `berth plan`); change nothing.' },
    'force-unlock': { type: 'boolean', description: 'Take over a host lock berth cannot judge itself (a run of another machine, or one silent for 15 minutes); a dead run of this machine is taken over without it.' },
  },
  details: 'Run it again at any time: a converged install changes nothing, an interrupted one continues.',
  async run(ctx) {
    outputMode(ctx.values); // a mistyped --output is refused before the wizard asks anything
    const loaded = await gatherAnswers(ctx);
    const { connectorFor, runOnHosts } = require('./hosts') as typeof import('./hosts');
    if (ctx.values['dry-run']) {
      await runOnHosts(ctx, loaded, 'plan');
      return;
    }
    // One connector for the plan and the install: a host key or passphrase is asked for once.
    const connector = connectorFor(ctx, loaded);
    if (ctx.stdin.isTTY && !ctx.values.yes) {
      const plan = await runOnHosts(ctx, loaded, 'plan', { connector, printPlan: false, again: ['berth', 'install', '--answers', loaded.file] });
      if (!(await confirmInstall(ctx, loaded, plan.summary))) return;
    }
    await runOnHosts(ctx, loaded, 'apply', { connector });
    const { siteUrl } = require('../../phases/verify') as typeof import('../../phases/verify');
    const lbHosts = loaded.answers.hosts.filter((h) => h.roles?.includes('lb'));
    if (ctx.values.output !== 'json') for (const host of lbHosts) ctx.print.out(`The app answers at ${siteUrl(host)}`);
  },
};
