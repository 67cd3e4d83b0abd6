/**
 * The engine's own cost: a converged rerun of a 12-phase plan on 2 hosts,
 * against two local test sshds (each with a private /var/lib/berth, so they
 * act as two hosts). Nothing changes, so all of the time is berth's:
 * connecting, learning about each host, the lock, the journal, one facts
 * round trip per phase and host. Then the upload benchmark (bench:upload)
 * against OpenSSH scp in the same run. Not a test: prints numbers for
 * BENCHMARKS.md.
 *
 *   npm run bench:engine            # BENCH_RUNS=5 by default
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseAnswers } from '../src/answers/load';
import type { Reporter } from '../src/engine/events';
import { memoryLog } from '../src/engine/log';
import { everyHost, type Phase, type PhaseName } from '../src/engine/phase';
import { runPhases } from '../src/engine/run';
import { sshConnector } from '../src/ssh/connector';
import { TEST_SECRETS } from '../test/support/answers';
import { generateKey, TestSshd } from '../test/support/sshd';
import { benchUpload } from './bench-upload';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const PHASE_COUNT = 12;

/** A phase that reads what a real one reads (files, packages, units, a probe) and finds the host matching. */
function convergedPhase(i: number): Phase {
  return {
    name: `bench-${i}` as PhaseName,
    title: `phase ${i}`,
    appliesTo: everyHost,
    query: () => ({ files: ['/etc/hostname', '/etc/os-release'], packages: ['bash'], units: ['ssh.service'], probes: { kernel: 'uname -r' } }),
    plan: () => [],
  };
}

const quiet: Reporter = { handle: () => undefined, close: async () => undefined };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-engine-'));
  // SHLVL=1: bash skips ~/.bashrc, which some machines' root has slow (pyenv); a VM's root does not.
  const hosts = [
    await TestSshd.start({ privateBerthState: true, config: ['SetEnv SHLVL=1'] }),
    await TestSshd.start({ privateBerthState: true, config: ['SetEnv SHLVL=1', 'ListenAddress 127.0.0.2'] }),
  ];
  try {
    const key = await generateKey(dir, 'bench-key');
    for (const h of hosts) h.authorize('root', key.publicKey);
    const file = join(dir, 'berth.yaml');
    const answers = parseAnswers(
      stringify({
        ssh: { user: 'root', privateKey: key.path, agent: false },
        admin: { user: 'root', authorizedKeys: [key.publicKey.trim()] },
        hosts: hosts.map((h, i) => ({ name: `host${i + 1}`, address: `127.0.0.${i + 1}`, hostKey: h.hostKeyFingerprint, roles: i === 0 ? ['app', 'lb', 'db'] : ['registry', 'dns'] })),
        registry: { password: TEST_SECRETS.registry },
        app: { secretKey: TEST_SECRETS.django },
        db: { rootPassword: TEST_SECRETS.dbRoot, password: TEST_SECRETS.db },
      }),
      file,
    ).answers;
    const phases = Array.from({ length: PHASE_COUNT }, (_, i) => convergedPhase(i + 1));
    const seconds: number[] = [];
    const load = loadavg()[0];
    for (let run = 0; run < runs; run++) {
      // Each host is its own sshd port: the answers' ssh.port is per run here, so connect per host.
      const started = process.hrtime.bigint();
      const result = await runPhases({
        answers,
        phases,
        connector: perHostPort(answers, dir, hosts),
        mode: 'apply',
        local: { adminKeys: [key.publicKey.trim()] },
        reporter: quiet,
        log: memoryLog(),
        owner: { owner: 'bench@local', machine: 'bench', pid: process.pid },
      });
      seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
      if (!result.ok || result.summary.some((r) => r.changed > 0)) throw new Error(`the run was not a converged rerun: ${JSON.stringify(result.summary)}`);
    }
    console.log(`converged rerun: ${PHASE_COUNT} phases × 2 hosts, ${runs} runs`);
    console.log(`date ${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average before ${load.toFixed(1)}, after ${loadavg()[0].toFixed(1)}`);
    console.log(`median ${median(seconds).toFixed(2)} s (runs: ${seconds.map((s) => s.toFixed(2)).join(', ')} s); target ≤ 2 s`);
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
  await benchUpload();
}

/** The SSH connector, with each host's own port (two sshds on one address). */
function perHostPort(answers: ReturnType<typeof parseAnswers>['answers'], dir: string, hosts: TestSshd[]) {
  const byName = new Map(answers.hosts.map((h, i) => [h.name, hosts[i].port]));
  const connectorFor = (name: string) => sshConnector({ ...answers, ssh: { ...answers.ssh, port: byName.get(name)! }, sshHardening: { ...answers.sshHardening, port: byName.get(name)! } }, dir, { env: {} });
  return {
    connect: (host: (typeof answers.hosts)[number]) => connectorFor(host.name).connect(host),
    connectAs: (host: (typeof answers.hosts)[number], user: string) => connectorFor(host.name).connectAs(host, user),
    open: (host: (typeof answers.hosts)[number], user: string, port?: number) => connectorFor(host.name).open(host, user, port),
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
