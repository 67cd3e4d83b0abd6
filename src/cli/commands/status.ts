import { RunFailedError } from '../../errors';
import { shellCommand } from '../../shell';
import { CONNECT_OPTIONS, outputMode, RESULT_OUTPUT_OPTION, type Command } from '../command';

export const statusCommand: Command = {
  words: ['status'],
  summary: "Show each host's journal: which phases berth applied and when, and who holds its lock.",
  usage: '--answers FILE [options]',
  options: { ...CONNECT_OPTIONS, output: RESULT_OUTPUT_OPTION },
  details: 'Reads all hosts at once; changes nothing.',
  async run(ctx) {
    outputMode(ctx.values);
    const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
    const { inspectHosts } = require('./hosts') as typeof import('./hosts');
    const loaded = loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
    const unreachable = await inspectHosts(ctx, loaded, async (agent, host) => {
      const [journal, lock] = await Promise.all([agent.readJournal(), agent.readLock()]);
      const lines = [ctx.print.outColor.bold(`${host.name} (${host.address}), as ${agent.user}`)];
      if (lock) lines.push(`  locked by ${lock.owner} (pid ${lock.pid}) since ${lock.started}, last heard of ${lock.heartbeat}`);
      const latest = new Map(journal.entries.map((e) => [e.phase, e]));
      if (latest.size === 0) lines.push('  berth has changed nothing here yet');
      for (const e of latest.values()) lines.push(`  ${e.phase.padEnd(14)} last changed ${e.at} (${e.actions.length} action${e.actions.length === 1 ? '' : 's'}, berth ${e.berth})`);
      const phases = [...latest.values()].map((e) => ({ phase: e.phase, at: e.at, actions: e.actions.length, berth: e.berth }));
      return { ok: true, lines, data: { host: host.name, address: host.address, user: agent.user, ok: true, lock: lock ?? null, phases } };
    });
    if (unreachable.length > 0) {
      throw new RunFailedError(`could not read the state of ${unreachable.join(', ')}`, [], `See the errors above; once the hosts answer, run \`${shellCommand(['berth', 'status', '--answers', loaded.file])}\` again.`);
    }
  },
};
