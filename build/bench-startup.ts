/**
 * `npm run bench:startup [-- --runs N] [-- --write]`: the packaged executable's size
 * and how long `berth --version` takes, against `node dist/cli/main.js --version`
 * in the same run. Packages build/out/berth-linux-x64 first if it is out of date.
 *
 * Both commands run alternately (after a few warm-up runs), so that load from other
 * processes on the machine falls on both alike. Reported per command: the median
 * wall-clock time, and the mean CPU time (user + system, read from the kernel's
 * account of waited-for children in /proc/self/stat), which load hardly moves.
 * With --write the result replaces the generated part of BENCHMARKS.md's
 * "startup" section.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUILD_NODE, ROOT, baseNodePath, binaryPath, packageBerth } from './package';
import { childrenCpuSeconds } from './proc-cpu';

const WARM_UP_RUNS = 3;
const BENCHMARKS_FILE = join(ROOT, 'BENCHMARKS.md');
const BEGIN_MARK = '<!-- bench:startup begin (written by npm run bench:startup -- --write) -->';
const END_MARK = '<!-- bench:startup end -->';

interface Command {
  label: string;
  argv: string[];
  wallSeconds: number[];
  cpuSeconds: number;
}

function runOnce(command: Command, record: boolean): void {
  const cpuBefore = childrenCpuSeconds();
  const started = process.hrtime.bigint();
  const result = spawnSync(command.argv[0], command.argv.slice(1), { cwd: '/', encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command.label} failed: ${result.stderr || result.error}`);
  if (!record) return;
  command.wallSeconds.push(wall);
  command.cpuSeconds += childrenCpuSeconds() - cpuBefore;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB)`;
}

function cpuModel(): string {
  const line = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('model name'));
  return line ? line.split(':')[1].trim() : 'unknown';
}

/** The share of the last minute in which some task waited for a CPU (Linux PSI), if the kernel reports it. */
function cpuPressure(): string {
  try {
    const some = readFileSync('/proc/pressure/cpu', 'utf8').match(/^some avg10=\S+ avg60=(\S+)/m);
    return some ? `; CPU pressure ${some[1]} % (tasks waiting for a CPU, last minute)` : '';
  } catch {
    return '';
  }
}

function report(commands: readonly Command[], runs: number, binarySize: number, nodeSize: number, load: string): string {
  const [binary, reference] = commands;
  const row = (c: Command) =>
    `| \`${c.label}\` | ${median(c.wallSeconds).toFixed(3)} s | ${(c.cpuSeconds / runs).toFixed(3)} s |`;
  const sizeVerdict = binarySize <= 120e6 ? 'met' : 'missed';
  const timeVerdict = median(binary.wallSeconds) <= 0.2 ? 'met' : 'missed';
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:startup\`: ${runs} runs of each command, alternating, after ${WARM_UP_RUNS} warm-up runs.`,
    `Machine: ${availableParallelism()} CPUs (nproc), ${cpuModel()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory; load average ${load}.`,
    '',
    `- Binary \`build/out/berth-linux-x64\`: ${megabytes(binarySize)}; of that, the stripped Node ${megabytes(nodeSize)} and the bundle (code, assets, pkg's bootstrap) ${megabytes(binarySize - nodeSize)}.`,
    '',
    '| command | median wall time | mean CPU time (user + sys) |',
    '| --- | --- | --- |',
    row(binary),
    row(reference),
    '',
    `- Ratio binary / node dist: ${(median(binary.wallSeconds) / median(reference.wallSeconds)).toFixed(2)} (median wall time), ${(binary.cpuSeconds / reference.cpuSeconds).toFixed(2)} (CPU time).`,
    `- Targets: size ≤ 120 MB ${sizeVerdict}; median \`--version\` ≤ 0.2 s ${timeVerdict}.`,
  ].join('\n');
}

function writeIntoBenchmarks(text: string): void {
  const current = readFileSync(BENCHMARKS_FILE, 'utf8');
  const begin = current.indexOf(BEGIN_MARK);
  const end = current.indexOf(END_MARK);
  if (begin < 0 || end < begin) throw new Error(`${BENCHMARKS_FILE} lacks the markers ${BEGIN_MARK} … ${END_MARK}`);
  writeFileSync(BENCHMARKS_FILE, `${current.slice(0, begin + BEGIN_MARK.length)}\n${text}\n${current.slice(end)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '21' }, write: { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive whole number, not ${values.runs}`);
  await packageBerth({ arches: ['x64'] });
  const binary = binaryPath('x64');
  const commands: Command[] = [
    { label: 'berth --version', argv: [binary, '--version'], wallSeconds: [], cpuSeconds: 0 },
    { label: 'node dist/cli/main.js --version', argv: [BUILD_NODE, join(ROOT, 'dist', 'cli', 'main.js'), '--version'], wallSeconds: [], cpuSeconds: 0 },
  ];
  const load = `${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')} (1 / 5 / 15 min) at the start${cpuPressure()}`;
  for (let i = 0; i < WARM_UP_RUNS; i++) for (const command of commands) runOnce(command, false);
  for (let i = 0; i < runs; i++) for (const command of commands) runOnce(command, true);
  const text = report(commands, runs, statSync(binary).size, statSync(baseNodePath('x64')).size, load);
  process.stdout.write(`${text}\n`);
  if (values.write) writeIntoBenchmarks(text);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:startup: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
