import { RunFailedError } from '../../errors';
import type { Command } from '../command';

export const statusCommand: Command = {
  words: ['status'],
  summary: "Show each host's journal: which phases berth applied and when, and who holds its lock.",
  usage: '--answers FILE',
  options: {
    answers: { type: 'string', short: 'a', valueName: 'FILE', description: 'The answers file.' },
    yes: { type: 'boolean', short: 'y', description: 'Trust new host keys without asking.' },
  },
  async run(ctx) {
    const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
    const { inspectHosts } = require('./hosts') as typeof import('./hosts');
    const loaded = loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
    const unreachable = await inspectHosts(ctx, loaded, async (agent, host) => {
      const [journal, lock] = await Promise.all([agent.readJournal(), agent.readLock()]);
      ctx.print.out(ctx.print.outColor.bold(`${host.name} (${host.address}), as ${agent.user}`));
      if (lock) ctx.print.out(`  locked by ${lock.owner} (pid ${lock.pid}) since ${lock.started}, last heard of ${lock.heartbeat}`);
      const latest = new Map(journal.entries.map((e) => [e.phase, e]));
      if (latest.size === 0) ctx.print.out('  berth has changed nothing here yet');
      for (const e of latest.values()) ctx.print.out(`  ${e.phase.padEnd(14)} last changed ${e.at} (${e.actions.length} action${e.actions.length === 1 ? '' : 's'}, berth ${e.berth})`);
    });
    if (unreachable.length > 0) throw new RunFailedError(`could not read the state of ${unreachable.join(', ')}`);
  },
};
