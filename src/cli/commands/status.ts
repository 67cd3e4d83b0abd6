import { RunFailedError } from '../../errors';
import { shellCommand } from '../../shell';
import { CONNECT_OPTIONS, outputMode, RESULT_OUTPUT_OPTION, type Command } from '../command';
import { findingLine } from '../print';

export const statusCommand: Command = {
  words: ['status'],
  summary: 'Tell healthy from degraded: per host Docker, firewall, image sources, disk, each container, Galera, the registry and the site; and what berth last changed.',
  usage: '--answers FILE [options]',
  options: { ...CONNECT_OPTIONS, output: RESULT_OUTPUT_OPTION },
  details:
    'Reads all hosts at once; changes nothing and takes no lock (it works while an install runs). Exit code 0 when every host is healthy, 1 when one is degraded or cannot be reached (the reasons are printed), 2 for bad input. --output json prints one JSON object per host.',
  async run(ctx) {
    outputMode(ctx.values);
    const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
    const { clusterOf } = require('../../engine/cluster') as typeof import('../../engine/cluster');
    const { httpProbe } = require('../../engine/installer') as typeof import('../../engine/installer');
    const { healthQuery, installerChecksOf, judgeHealth } = require('../../status/health') as typeof import('../../status/health');
    const { inspectHosts, localFacts } = require('./hosts') as typeof import('./hosts');
    const loaded = loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
    const { answers } = loaded;
    const local = localFacts(loaded);
    const color = ctx.print.outColor;
    /** Why each degraded host is, by name (the others that fail could not be read). */
    const reasons = new Map<string, string>();
    const failing = await inspectHosts(ctx, loaded, async (agent, host) => {
      const info = await agent.info();
      const cluster = clusterOf(answers, new Map([[host.name, info]]));
      const phaseCtx = { answers, host: cluster.find((h) => h.name === host.name)!, cluster, info, local, peers: {} };
      const [facts, journal, lock] = await Promise.all([agent.facts(healthQuery(phaseCtx)), agent.readJournal(), agent.readLock()]);
      const asked = installerChecksOf(phaseCtx, facts);
      const answered = await Promise.all(asked.map((e) => httpProbe(e.check)));
      const health = judgeHealth(phaseCtx, facts, Object.fromEntries(asked.map((e, i) => [e.fact, answered[i]])));
      const failed = health.checks.filter((c) => c.status === 'fail');
      const ok = failed.length === 0;
      if (!ok) reasons.set(host.name, `${host.name} (${failed.map((c) => `${c.label}: ${c.detail}`).join('; ')})`);

      const lines = [`${color.bold(`${host.name} (${host.address}), as ${agent.user}`)}: ${ok ? color.green('healthy') : color.red('degraded')}`];
      for (const c of health.checks) lines.push(findingLine(color, c, 22));
      if (lock) lines.push(`  locked by ${lock.owner} (pid ${lock.pid}) since ${lock.started}, last heard of ${lock.heartbeat}`);
      const latest = new Map(journal.entries.map((e) => [e.phase, e]));
      if (latest.size === 0) lines.push('  berth has changed nothing here yet');
      for (const e of latest.values()) lines.push(`  ${e.phase.padEnd(16)} last changed ${e.at} (${e.actions.length} action${e.actions.length === 1 ? '' : 's'}, berth ${e.berth})`);
      const phases = [...latest.values()].map((e) => ({ phase: e.phase, at: e.at, actions: e.actions.length, berth: e.berth }));
      return {
        ok,
        lines,
        data: { host: host.name, address: host.address, user: agent.user, ok, os: info.osName, ...health, lock: lock ?? null, phases },
      };
    });
    const unreachable = failing.filter((name) => !reasons.has(name));
    if (failing.length > 0) {
      const again = `run \`${shellCommand(['berth', 'status', '--answers', loaded.file])}\` again`;
      throw new RunFailedError(
        [...(reasons.size > 0 ? [`degraded: ${[...reasons.values()].join(', ')}`] : []), ...(unreachable.length > 0 ? [`could not read the state of ${unreachable.join(', ')}`] : [])].join('; '),
        [],
        reasons.size > 0 ? `See the ✘ lines above; once fixed (or recovered by themselves), ${again}.` : `See the errors above; once the hosts answer, ${again}.`,
      );
    }
  },
};
