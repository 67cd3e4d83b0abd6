import { HOST_OPTIONS, type Command } from '../command';

export const planCommand: Command = {
  words: ['plan'],
  summary: 'Show what an install would change on each host, with diffs; change nothing.',
  usage: '--answers FILE [options]',
  options: HOST_OPTIONS,
  details: 'Reads facts from every host and prints the actions each phase would take, "up to date" where none. Takes no lock and writes nothing on any host.',
  async run(ctx) {
    const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
    const { runOnHosts } = require('./hosts') as typeof import('./hosts');
    const file = ctx.values.answers as string | undefined;
    const loaded = loadAnswersFile(file ?? 'berth.yaml');
    await runOnHosts(ctx, loaded, 'plan');
  },
};
