import { readFileSync } from 'node:fs';
import { assetPath } from '../../assets';
import type { Command } from '../command';

// Commands require their heavy modules (zod, yaml, ssh2 …) only when they run, so that --version and --help
// stay fast. require(), not import(): this is CommonJS, and pkg bundles what require() names.

export const answersValidateCommand: Command = {
  words: ['answers', 'validate'],
  summary: 'Check an answers file and report every problem in it.',
  usage: 'FILE',
  positionals: [{ name: 'FILE', description: 'The answers file (YAML or JSON).' }],
  options: {},
  details: 'Nothing is contacted over the network. Exit code 2 when the file has problems.',
  async run({ positionals, print }) {
    const file = positionals[0];
    const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
    const { missingSecrets } = require('../../answers/missing') as typeof import('../../answers/missing');
    const { formatPath } = require('../../answers/problems') as typeof import('../../answers/problems');
    const { answers } = loadAnswersFile(file);
    const layout = answers.hosts.map((h) => `${h.name} (${h.address}): ${(h.roles ?? []).join(', ')}`);
    print.info(`${print.color.green('✔')} ${file} is valid.`);
    for (const line of layout) print.info(`  ${line}`);
    for (const m of missingSecrets(answers)) {
      print.warn(`${formatPath(m.path)} (${m.what}) is not set: \`berth install\` will ask for it, and fails with --yes.`);
    }
  },
};

export const answersSchemaCommand: Command = {
  words: ['answers', 'schema'],
  summary: 'Print the JSON Schema of the answers file.',
  usage: '',
  options: {},
  details: 'Save it beside your answers file for editor autocompletion:\n  berth answers schema > berth.schema.json',
  async run({ print }) {
    const { answersJsonSchema } = require('../../answers/json-schema') as typeof import('../../answers/json-schema');
    print.out(JSON.stringify(answersJsonSchema(), null, 2));
  },
};

export const answersExampleCommand: Command = {
  words: ['answers', 'example'],
  summary: 'Print an annotated example answers file.',
  usage: '',
  options: {},
  details: 'Start from it: berth answers example > berth.yaml',
  async run({ print }) {
    print.out(readFileSync(assetPath('answers.example.yaml'), 'utf8').trimEnd());
  },
};
