import { RunFailedError } from '../../errors';
import { shellCommand } from '../../shell';
import { CONNECT_OPTIONS, outputMode, RESULT_OUTPUT_OPTION, type Command } from '../command';
import { findingLine } from '../print';

export const doctorCommand: Command = {
  words: ['doctor'],
  summary: 'Diagnose each host and what it can reach (package mirror, Docker repository, registry mirrors, Docker Hub).',
  usage: '--answers FILE [options]',
  options: { ...CONNECT_OPTIONS, output: RESULT_OUTPUT_OPTION },
  details: 'Runs the preflight checks alone, on all hosts at once; changes nothing. Exit code 1 when a host cannot be installed as the answers stand.',
  async run(ctx) {
    outputMode(ctx.values);
    const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
    const { clusterOf } = require('../../engine/cluster') as typeof import('../../engine/cluster');
    const { diagnose, preflightPhase } = require('../../phases/preflight') as typeof import('../../phases/preflight');
    const { inspectHosts, localFacts } = require('./hosts') as typeof import('./hosts');
    const loaded = loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
    const { answers } = loaded;
    const local = localFacts(loaded);
    const color = ctx.print.outColor;
    const failing = await inspectHosts(ctx, loaded, async (agent, host) => {
      const info = await agent.info();
      const cluster = clusterOf(answers, new Map([[host.name, info]]));
      const phaseCtx = { answers, host: cluster.find((h) => h.name === host.name)!, cluster, info, local, peers: {} };
      const checks = diagnose(phaseCtx, await agent.facts(preflightPhase.query(phaseCtx)));
      const ok = !checks.some((d) => d.status === 'fail');
      const lines = [color.bold(`${host.name} (${host.address}), as ${agent.user}`)];
      for (const d of checks) lines.push(findingLine(color, d, 26));
      return { ok, lines, data: { host: host.name, address: host.address, user: agent.user, ok, checks: checks.map((d) => ({ status: d.status, label: d.label, detail: d.detail })) } };
    });
    if (failing.length > 0) {
      throw new RunFailedError(`${failing.join(', ')} cannot be installed as the answers stand`, [], `Fix what the errors and ✘ lines above name (the answers or the host), then run \`${shellCommand(['berth', 'doctor', '--answers', loaded.file])}\` again.`);
    }
  },
};
