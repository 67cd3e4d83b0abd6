/**
 * `npm run bench:stack`: the app stack on the e2e topology, in one run:
 *  1. a cold install from bare VMs (recreated) to a healthy stack, with each
 *     phase's duration per host as berth reports it;
 *  2. a converged rerun of the whole install (median of BENCH_ROUNDS);
 *  3. requests/s and p50/p99 latency at 32 connections (hey) for /healthz
 *     and /, through Nginx and against one replica directly, all from vm1
 *     (the same client for both), one after another.
 * Not a test: prints a Markdown section for BENCHMARKS.md.
 *
 *   npm run bench:stack                      # 3 reruns, 15 s per load run
 *   BENCH_ROUNDS=5 BENCH_SECONDS=30 npm run bench:stack
 */
import { execFile } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { promisify } from 'node:util';
import { docker } from '../src/sandbox/docker';
import { installedPlatform } from '../test/e2e/installed';
import { replicaAddress } from '../src/render/stack';
import { testAnswers } from '../test/support/answers';

const run = promisify(execFile);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

interface Load {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
}

/** hey's summary: requests/s, the 50th and 99th percentiles (ms), and everything that was not a 200. */
function parseHey(output: string): Load {
  const number = (re: RegExp) => Number(re.exec(output)?.[1] ?? NaN);
  const ok = Number(/\[200\]\s+(\d+) responses/.exec(output)?.[1] ?? 0);
  const all = [...output.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)].reduce((n, m) => n + Number(m[2]), 0);
  const errors = [...(/Error distribution:\n([\s\S]*)$/.exec(output)?.[1] ?? '').matchAll(/^\s+\[(\d+)\]/gm)].reduce((n, m) => n + Number(m[1]), 0);
  return { rps: number(/Requests\/sec:\s+([\d.]+)/), p50: number(/50%+ in ([\d.]+) secs/) * 1000, p99: number(/99%+ in ([\d.]+) secs/) * 1000, failed: all - ok + errors };
}

async function main(): Promise<void> {
  const started = Date.now();
  const p = await installedPlatform();
  const coldSeconds = (Date.now() - started) / 1000;
  const { topo } = p;
  const phaseRows = [...p.firstRun.output.matchAll(/^\s*(vm\d)\s+(\S+)\s+(changed|ok)\s+(\d+)\s+([\d.]+\s*m?s)\s*$/gm)].map((m) => `| ${m[1]} | ${m[2]} | ${m[4]} | ${m[5]} |`);

  const reruns: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = Date.now();
    const again = await p.berth('install');
    if (!/Done: 0 changed\./.test(again.output)) throw new Error(`the rerun changed something:\n${again.output}`);
    reruns.push((Date.now() - t) / 1000);
  }

  // hey is a static binary in the outsider's tools image: copied onto vm1, so that both targets get the same client.
  const local = `/tmp/berth-bench-hey-${process.pid}`;
  await docker(['cp', `${topo.outsider.container}:/usr/bin/hey`, local]);
  await docker(['cp', local, `${topo.vms.vm1.container}:/usr/local/bin/hey`]);
  await run('rm', ['-f', local]);
  const replica = `${replicaAddress(testAnswers(), 1)}:8000`;
  const targets = [
    ['/healthz through Nginx', 'http://127.0.0.1/healthz'],
    ['/healthz, one replica directly', `http://${replica}/healthz`],
    ['/ through Nginx', 'http://127.0.0.1/'],
    ['/, one replica directly', `http://${replica}/`],
  ] as const;
  const loads: string[] = [];
  for (const [what, url] of targets) {
    // Host: localhost, which the app always allows (a replica's own address is not among its allowed hosts).
    const r = await topo.exec('vm1', `hey -z ${seconds}s -c 32 -t 10 -host localhost ${url}`);
    if (r.code !== 0) throw new Error(`hey against ${url} failed: ${r.stderr}`);
    const l = parseHey(r.stdout);
    loads.push(`| ${what} | ${l.rps.toFixed(0)} | ${l.p50.toFixed(1)} ms | ${l.p99.toFixed(1)} ms | ${l.failed} |`);
  }
  await topo.exec('vm1', 'rm -f /usr/local/bin/hey');
  const uname = (await run('uname', ['-srm'])).stdout.trim();

  process.stdout.write(
    [
      `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:stack\` on ${availableParallelism()} CPUs (${uname}; the test VMs and the load generator share them); load average (1 min) at the end ${loadavg()[0].toFixed(1)}.`,
      '',
      `- Cold install, from recreated bare VMs to a healthy stack (images already in the harness's mirror): ${coldSeconds.toFixed(0)} s, of which the topology's own start is part.`,
      `- Converged rerun of the whole install: median ${median(reruns).toFixed(2)} s (${reruns.map((s) => s.toFixed(2)).join(', ')}).`,
      '',
      '| host | phase | actions | time |',
      '| --- | --- | --- | --- |',
      ...phaseRows,
      '',
      `Load at 32 connections, ${seconds} s each, from vm1 (hey), one after another (the app's replicas are Django on gunicorn, 2 workers each; / writes a visit counter to Galera):`,
      '',
      '| target | requests/s | p50 | p99 | failed |',
      '| --- | --- | --- | --- | --- |',
      ...loads,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:stack: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
