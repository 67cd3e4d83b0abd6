import { RunFailedError } from '../../errors';
import type { Command } from '../command';

const MARK = { ok: '✔', warn: '!', fail: '✘' } as const;

export const doctorCommand: Command = {
  words: ['doctor'],
  summary: 'Diagnose each host and what it can reach (package mirror, Docker repository, registry mirrors, Docker Hub).',
  usage: '--answers FILE',
  options: {
    answers: { type: 'string', short: 'a', valueName: 'FILE', description: 'The answers file.' },
    yes: { type: 'boolean', short: 'y', description: 'Trust new host keys without asking.' },
  },
  details: 'Runs the preflight checks alone; changes nothing. Exit code 1 when a host cannot be installed as the answers stand.',
  async run(ctx) {
    const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
    const { clusterOf } = require('../../engine/cluster') as typeof import('../../engine/cluster');
    const { diagnose, preflightPhase } = require('../../phases/preflight') as typeof import('../../phases/preflight');
    const { inspectHosts, localFacts } = require('./hosts') as typeof import('./hosts');
    const loaded = loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
    const { answers } = loaded;
    const local = localFacts(loaded);
    const failing = await inspectHosts(ctx, loaded, async (agent, host) => {
      const info = await agent.info();
      const cluster = clusterOf(answers, new Map([[host.name, info]]));
      const phaseCtx = { answers, host: cluster.find((h) => h.name === host.name)!, cluster, info, local, peers: {} };
      const lines = diagnose(phaseCtx, await agent.facts(preflightPhase.query(phaseCtx)));
      const color = ctx.print.outColor;
      ctx.print.out(color.bold(`${host.name} (${host.address}), as ${agent.user}`));
      for (const d of lines) {
        const mark = d.status === 'ok' ? color.green(MARK.ok) : d.status === 'warn' ? color.yellow(MARK.warn) : color.red(MARK.fail);
        ctx.print.out(`  ${mark} ${d.label.padEnd(26)} ${d.detail}`);
      }
      return !lines.some((d) => d.status === 'fail');
    });
    if (failing.length > 0) throw new RunFailedError(`${failing.join(', ')} cannot be installed as the answers stand`, [], 'See the errors and ✘ lines above.');
  },
};
