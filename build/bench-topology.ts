/**
 * `npm run bench:topology [-- --cold]`: how long the test topology (two VMs,
 * resolvers, image mirror, apt stand-in) takes to come up, on its own network
 * (10.213.59.0/24, prefix berth-bench-) so that it never touches the e2e
 * topology or a sandbox. Measured in turn:
 *  1. first up, with a fresh state directory: the mirror's storage is empty, so
 *     every stand-in is pushed into it; images as this machine has them, or,
 *     with --cold, none at all (base, VM, tools and stand-in images are removed
 *     first: debootstrap and every build run; refused while a container uses them);
 *  2. warm up: everything torn down except the caches (images, the mirror's cache volume),
 *     as an e2e run finds the machine after the previous one;
 *  3. reuse: up again with everything running (KEEP=1 runs).
 * Prints a Markdown section for BENCHMARKS.md.
 */
import { rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { baseImageTag } from '../src/sandbox/base-image';
import { removeVolumesLabelled } from '../src/sandbox/containers';
import { docker } from '../src/sandbox/docker';
import { CACHE_LABEL } from '../src/sandbox/mirror';
import type { TopologySpec } from '../src/sandbox/plan';
import { STANDINS } from '../src/sandbox/standins';
import { downTopology, SERVICE_STATE, upTopology } from '../src/sandbox/topology';

const SPEC: TopologySpec = { prefix: 'berth-bench-', net24: '10.213.59', vms: 2, mirrors: true, stateDir: join(tmpdir(), 'berth-bench-topology') };

async function removeImages(): Promise<void> {
  const repositories = ['berth-vm', 'berth-tools'];
  const listed = await docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']);
  const tags = listed.stdout
    .split('\n')
    .filter((tag) => repositories.some((r) => tag.startsWith(`${r}:`)))
    .concat(baseImageTag(), ...STANDINS.map((s) => s.tag));
  const removed = await docker(['rmi', ...tags], { allowFailure: true });
  if (removed.code !== 0 && !/No such image/.test(removed.stderr)) {
    throw new Error(`cannot measure a cold start while images are in use:\n${removed.stderr.trim()}`);
  }
}

async function timed(label: string, step: () => Promise<unknown>): Promise<string> {
  const load = loadavg()[0].toFixed(1);
  const started = Date.now();
  await step();
  const seconds = (Date.now() - started) / 1000;
  process.stderr.write(`bench:topology: ${label}: ${seconds.toFixed(1)} s\n`);
  return `| ${label} | ${seconds.toFixed(1)} s | ${load} |`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { cold: { type: 'boolean', default: false } } });
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  const removeAll = async () => {
    await downTopology(SPEC, SERVICE_STATE);
    await removeVolumesLabelled(CACHE_LABEL, SPEC.prefix);
    rmSync(SPEC.stateDir, { recursive: true, force: true });
  };
  await removeAll();
  if (values.cold) await removeImages();
  const rows = [
    await timed(values.cold ? 'cold: nothing cached (debootstrap, all builds, mirror push)' : 'images cached, empty mirror storage', () => upTopology(SPEC, log)),
  ];
  await downTopology(SPEC);
  rows.push(await timed('warm: images and mirror storage cached, nothing running', () => upTopology(SPEC, log)));
  rows.push(await timed('reuse: everything running', () => upTopology(SPEC, log)));
  await removeAll();
  process.stdout.write(
    [
      `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:topology${values.cold ? ' -- --cold' : ''}\` on ${availableParallelism()} CPUs.`,
      '',
      '| topology up (2 VMs, resolvers, mirror, apt stand-in) | time | load (1 min) at the start |',
      '| --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:topology: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
