/**
 * `npm run bench:deploy`: deploys on the e2e topology, each under the same
 * load (hey, 32 connections against / from the outsider, for as long as the
 * deploy takes), in one run:
 *  1. `berth deploy` of an unchanged app (nothing to do);
 *  2. `berth deploy --source` of a changed app (a new image: build, push, migrate, roll);
 *  3. the same image change done by hand the usual way, `docker compose pull &&
 *     docker compose up -d` on the app host (the old version back);
 *  4. `berth rollback`.
 * Each: the time until the new version serves on every request (X-App-Version),
 * and the requests that failed meanwhile. Not a test: prints a Markdown section
 * for BENCHMARKS.md.
 */
import { execFile } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { promisify } from 'node:util';
import { demoAppCopy, headerValues } from '../test/e2e/apps';
import { loadDuring } from '../test/e2e/hey';
import { installedPlatform } from '../test/e2e/installed';

const run = promisify(execFile);
const COMPOSE = '/opt/berth/app/app/compose.yaml';

async function main(): Promise<void> {
  const p = await installedPlatform();
  const vm1 = p.topo.vms.vm1.ip;
  const versions = async () => (await headerValues(p.topo, `http://${vm1}/`, 'X-App-Version', 8)).join(' ');
  const [first] = (await versions()).split(' ');
  const dir = demoAppCopy('bench-app-v2');

  const rows: string[] = [];
  /** Runs `action` under load and times it until `expected()` alone serves. */
  async function measure(what: string, action: () => Promise<void>, expected: () => string): Promise<void> {
    const { result, outcome } = await loadDuring(p.topo, `http://${vm1}/`, async () => {
      const started = Date.now();
      await action();
      for (let i = 0; i < 600 && (await versions()) !== expected(); i++) await new Promise((resolve) => setTimeout(resolve, 200));
      if ((await versions()) !== expected()) throw new Error(`${what}: ${expected()} does not serve alone`);
      return (Date.now() - started) / 1000;
    });
    const ok = outcome.statuses['200'] ?? 0;
    const all = Object.values(outcome.statuses).reduce((a, b) => a + b, 0) + outcome.errors;
    rows.push(`| ${what} | ${result.toFixed(1)} s | ${all} | ${all - ok} |`);
  }
  const berth = async (command: string, extra: string[]) => {
    const r = await p.berth(command, [...extra, '--output', 'plain']);
    if (r.code !== 0) throw new Error(`berth ${command} failed:\n${r.output}`);
    return r.output;
  };

  await measure('`berth deploy`, unchanged app', async () => void (await berth('deploy', [])), () => first);
  let second = '';
  await measure(
    '`berth deploy --source`, changed app (build, push, migrate, roll)',
    async () => {
      second = /roll out \S+:([0-9a-f]{12})/.exec(await berth('deploy', ['--source', dir]))?.[1] ?? '';
    },
    () => second,
  );
  await measure(
    'by hand: `docker compose pull && docker compose up -d` (back to the first image)',
    async () => {
      const r = await p.topo.exec('vm1', `sed -i 's#/app/app:${second}#/app/app:${first}#; s#APP_VERSION: ${second}#APP_VERSION: ${first}#' ${COMPOSE} && docker compose --file ${COMPOSE} pull --quiet && docker compose --file ${COMPOSE} up -d --quiet-pull 2>&1`);
      if (r.code !== 0) throw new Error(`docker compose up failed: ${r.stdout}${r.stderr}`);
    },
    () => first,
  );
  // Back to what berth deployed (the compose file it wrote), then a rollback of it.
  await berth('install', []);
  await measure('`berth rollback`', async () => void (await berth('rollback', [])), () => first);
  const uname = (await run('uname', ['-srm'])).stdout.trim();

  process.stdout.write(
    [
      `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:deploy\` on ${availableParallelism()} CPUs (${uname}; the test VMs and the load generator share them); load average (1 min) at the end ${loadavg()[0].toFixed(1)}.`,
      '',
      'Each under hey at 32 connections against / from the outsider (a request writes to Galera), from the start of the command until only the new version answers (X-App-Version):',
      '',
      '| deploy | until the new version serves alone | requests | failed |',
      '| --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:deploy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
