/**
 * `npm run bench:registry`: moving the app image and a build context to the
 * test VMs, each against what a user would do without berth, in the same run:
 *  1. the app image to vm2 (which lacks it) by `docker pull` from the private
 *     registry, against `ssh vm1 docker save | ssh vm2 docker load` through
 *     this machine;
 *  2. a push of a new image (fresh layers) from vm1 to the registry;
 *  3. a 500 MB build context to vm1 by berth's uploadLarge (checked by
 *     SHA-256 on the host), against OpenSSH scp.
 * It installs on the e2e topology first (test/e2e/installed.ts). Not a test:
 * prints a Markdown section for BENCHMARKS.md.
 *
 *   npm run bench:registry                      # 3 rounds, 500 MB
 *   BENCH_ROUNDS=5 BENCH_CONTEXT_MB=200 npm run bench:registry
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { shq } from '../src/shell';
import { connectHost } from '../src/ssh';
import { writePayload } from './payload';
import { installedPlatform } from '../test/e2e/installed';

const run = promisify(execFile);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const contextMb = Number(process.env.BENCH_CONTEXT_MB ?? 500);

async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const p = await installedPlatform();
  const { topo } = p;
  const registry = `${topo.vms.vm2.ip}:5000`;
  const password = (JSON.parse(readFileSync(join(topo.spec.stateDir, 'secrets.json'), 'utf8')) as { registryPassword: string }).registryPassword;
  const must = async (vm: string, script: string) => {
    const r = await topo.exec(vm, `set -euo pipefail\n${script}`);
    if (r.code !== 0) throw new Error(`${vm}: ${script.split('\n')[0]} failed: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const image = await must('vm1', `docker images --format '{{.Repository}}:{{.Tag}}' | grep '/app/app:' | head -n1`);
  const sizeMb = Number(await must('vm1', `docker image inspect --format '{{.Size}}' ${image}`)) / 1e6;
  // vm2 pulls with a login of its own, as an app host would.
  // The password on a line of its own: an error names the script by its first line only.
  const loginVm2 = `export DOCKER_CONFIG=/root/.docker-bench\nprintf '%s' ${shq(password)} | docker login -u berth --password-stdin ${registry} >/dev/null`;
  await must('vm2', loginVm2);
  const forget = `docker rmi -f ${image} >/dev/null 2>&1 || true; docker image prune -af >/dev/null`;
  const ssh = (vm: 'vm1' | 'vm2') =>
    `ssh -F /dev/null -i ${topo.sshKeyPath} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${topo.knownHostsPath} -o StrictHostKeyChecking=yes -o LogLevel=ERROR berth@${topo.vms[vm].ip}`;

  const pull: number[] = [];
  const saveLoad: number[] = [];
  const push: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await must('vm2', forget);
    pull.push(await timed(() => must('vm2', `export DOCKER_CONFIG=/root/.docker-bench; docker pull -q ${image} >/dev/null`)));
    await must('vm2', forget);
    saveLoad.push(await timed(() => run('bash', ['-o', 'pipefail', '-c', `${ssh('vm1')} sudo docker save ${image} | ${ssh('vm2')} sudo docker load -q >/dev/null`])));
    // A layer the registry has never seen: 64 MB of random data on top of the app image.
    const fresh = `${registry}/bench/push:${Date.now()}`;
    await must('vm1', `d=$(mktemp -d); head -c 64000000 /dev/urandom > "$d/blob"; printf 'FROM ${image}\\nCOPY blob /tmp/blob\\n' > "$d/Dockerfile"; docker build -q -t ${fresh} "$d" >/dev/null; rm -rf "$d"`);
    push.push(await timed(() => must('vm1', `docker push -q ${fresh} >/dev/null`)));
    await must('vm1', `docker rmi ${fresh} >/dev/null`);
  }
  await must('vm2', `${forget}; rm -rf /root/.docker-bench`);

  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-registry-'));
  const upload: number[] = [];
  const scp: number[] = [];
  try {
    const file = join(dir, 'context.tar');
    writePayload(file, contextMb);
    const target = { name: 'vm1', address: topo.vms.vm1.ip, port: 22, hostKey: topo.vms.vm1.hostKey };
    const settings = { user: 'berth', privateKeyPath: topo.sshKeyPath, knownHostsPath: null };
    for (let round = 0; round < rounds; round++) {
      upload.push(
        await timed(async () => {
          const host = await connectHost(target, settings);
          await host.uploadLarge({ localPath: file, remotePath: '/var/lib/berth/bench-context.tar', mode: 0o600 });
          await host.close();
        }),
      );
      scp.push(await timed(() => run('scp', ['-q', '-F', '/dev/null', '-i', topo.sshKeyPath, '-o', `UserKnownHostsFile=${topo.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes', file, `berth@${topo.vms.vm1.ip}:/tmp/bench-context.tar`])));
    }
    await must('vm1', 'rm -f /var/lib/berth/bench-context.tar /tmp/bench-context.tar');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const row = (what: string, seconds: number[], mb: number) => `| ${what} | ${median(seconds).toFixed(2)} s | ${(mb / median(seconds)).toFixed(0)} MB/s | ${seconds.map((s) => s.toFixed(2)).join(', ')} |`;
  process.stdout.write(
    [
      `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:registry\` on ${availableParallelism()} CPUs (the test VMs share them), ${rounds} rounds, median; load average (1 min) at the end ${loadavg()[0].toFixed(1)}.`,
      '',
      `| moving | median | rate | rounds |`,
      '| --- | --- | --- | --- |',
      row(`the app image (${sizeMb.toFixed(0)} MB) to vm2: docker pull from the private registry`, pull, sizeMb),
      row(`the same image: ssh vm1 docker save \\| ssh vm2 docker load`, saveLoad, sizeMb),
      row('a new 64 MB layer: docker push from vm1 to the registry', push, 64),
      row(`a ${contextMb} MB build context to vm1: berth uploadLarge (SHA-256 checked)`, upload, contextMb),
      row(`the same file: OpenSSH scp`, scp, contextMb),
      '',
      `Ratios in this run: pull / save-load ${(median(saveLoad) / median(pull)).toFixed(2)}× faster; uploadLarge / scp ${(median(scp) / median(upload)).toFixed(2)} of scp's rate.`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:registry: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
