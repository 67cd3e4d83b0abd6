import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Document } from 'yaml';
import type { LoadedAnswers } from '../../answers/load';
import { BadInputError } from '../../errors';
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
  const { askMissingSecrets, askSavePath, wizardTemplate, runWizard, WizardCancelled } = require('../../wizard') as typeof import('../../wizard');
  const file = ctx.values.answers as string | undefined;
  const saveTo = ctx.values['save-answers'] as string | undefined;
  const yes = Boolean(ctx.values.yes);
  const interactive = Boolean(ctx.stdin.isTTY) && !yes;
  const io = { stdin: ctx.stdin, stdout: ctx.stderr };

  try {
    if (!file) {
      if (!interactive) throw new BadInputError('no answers file given', [], yes ? 'With --yes, give --answers FILE.' : NON_INTERACTIVE_HINT);
      const doc = await runWizard(wizardTemplate(), io);
      const path = saveTo ?? (await askSavePath(io, 'berth.yaml'));
      await saveAnswers(path, doc);
      ctx.print.info(`Saved the answers to ${path} (mode 0600). Next time: berth install --answers ${path}`);
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

export const installCommand: Command = {
  words: ['install'],
  summary: 'Build or update the platform on the hosts (the default command).',
  usage: '[--answers FILE] [--yes] [--dry-run] [options]',
  options: {
    answers: { type: 'string', short: 'a', valueName: 'FILE', description: 'The answers file; without it the wizard asks.' },
    yes: { type: 'boolean', short: 'y', description: 'Ask nothing: anything missing is an error; new host keys are trusted.' },
    'save-answers': { type: 'string', valueName: 'FILE', description: 'Write the answers (with what was asked) to FILE.' },
    'dry-run': { type: 'boolean', description: 'Print what would change on each host (like `berth plan`); change nothing.' },
    'force-unlock': { type: 'boolean', description: 'Take over a host lock berth cannot judge itself (a run of another machine, or one silent for 15 minutes); a dead run of this machine is taken over without it.' },
    ...HOST_OPTIONS,
  },
  details: 'Run it again at any time: a converged install changes nothing, an interrupted one continues.',
  async run(ctx) {
    outputMode(ctx.values); // a mistyped --output is refused before the wizard asks anything
    const loaded = await gatherAnswers(ctx);
    const { runOnHosts } = require('./hosts') as typeof import('./hosts');
    await runOnHosts(ctx, loaded, ctx.values['dry-run'] ? 'plan' : 'apply');
  },
};
