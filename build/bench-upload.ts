/**
 * Upload throughput: SshConnection.uploadLarge (ssh2, streamed, SHA-256
 * checked on the host) against OpenSSH's scp, both to the same local test
 * sshd, in the same run. Not a test: prints numbers for BENCHMARKS.md.
 *
 *   npm run bench:upload            # 500 MB, 3 rounds
 *   BENCH_UPLOAD_MB=200 BENCH_ROUNDS=5 npm run bench:upload
 *
 * Needs root, openssh-server and openssh-client (test/host-setup.sh).
 */
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectHost } from '../src/ssh';
import { writePayload } from './payload';
import { generateKey, TestSshd } from '../test/support/sshd';
import { childrenCpuSeconds, childrenGone } from './proc-cpu';

const run = promisify(execFile);
const megabytes = Number(process.env.BENCH_UPLOAD_MB ?? 500);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

interface Sample {
  seconds: number;
  localCpu: number;
  hostCpu: number;
}

/** The middle sample by `key`. */
function median(samples: Sample[], key: (sample: Sample) => number): Sample {
  return [...samples].sort((a, b) => key(a) - key(b))[Math.floor(samples.length / 2)];
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function benchUpload(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-upload-'));
  // SHLVL=1 makes bash skip ~/.bashrc, which some machines' root has slow (pyenv); both sides are spared alike.
  const sshd = await TestSshd.start({ config: ['SetEnv SHLVL=1'] });
  try {
    const key = await generateKey(dir, 'bench-key');
    sshd.authorize('root', key.publicKey);
    const file = join(dir, 'payload.bin');
    writePayload(file, megabytes);

    const target = { name: 'bench', address: '127.0.0.1', port: sshd.port, hostKey: sshd.hostKeyFingerprint };
    const settings = { user: 'root', privateKeyPath: key.path, knownHostsPath: null };
    const scpArgs = ['-q', '-i', key.path, '-P', String(sshd.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', file];
    const { stderr: sshVersion } = await run('ssh', ['-V']);
    const remote = join(dir, 'received.bin');
    const load = loadavg()[0];

    /** One upload: wall time, and CPU time here and on the host side (sshd and what it ran), once the connection is gone. */
    const measure = async (upload: () => Promise<unknown>, localCpu: () => number): Promise<Sample> => {
      rmSync(remote, { force: true });
      const [local0, host0] = [localCpu(), childrenCpuSeconds(sshd.pid)];
      const seconds = await timed(upload);
      await childrenGone(sshd.pid); // sshd reaps the finished connection: only then does its CPU time count
      return { seconds, localCpu: localCpu() - local0, hostCpu: childrenCpuSeconds(sshd.pid) - host0 };
    };
    const processCpu = () => {
      const { user, system } = process.cpuUsage(); // every thread, the hashing worker too
      return (user + system) / 1e6;
    };
    const samples: Record<string, Sample[]> = { 'OpenSSH scp': [], 'berth uploadLarge (ssh2)': [], 'ssh2 stream, no checksum': [] };
    for (let round = 0; round < rounds; round++) {
      // scp and the ssh it starts are this process's children.
      samples['OpenSSH scp'].push(await measure(() => run('scp', [...scpArgs, `root@127.0.0.1:${remote}`]), () => childrenCpuSeconds(process.pid)));
      samples['berth uploadLarge (ssh2)'].push(
        await measure(async () => {
          const host = await connectHost(target, settings);
          await host.uploadLarge({ localPath: file, remotePath: remote, mode: 0o644 });
          await host.close();
        }, processCpu),
      );
      // The transport alone, for reference: no staging, checksum or rename.
      samples['ssh2 stream, no checksum'].push(
        await measure(async () => {
          const host = await connectHost(target, settings);
          await host.exec('cat > /dev/null', { stdin: createReadStream(file, { highWaterMark: 1 << 20 }), timeoutMs: 0 });
          await host.close();
        }, processCpu),
      );
    }

    const rate = (sample: Sample) => megabytes / sample.seconds;
    const msPerMegabyte = (cpuSeconds: number) => ((cpuSeconds * 1000) / megabytes).toFixed(1);
    console.log(`upload of ${megabytes} MB to a local sshd, ${rounds} rounds each (connect included), median`);
    console.log(`date ${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${sshVersion.trim()}`);
    console.log(`load average (1 min) before ${load.toFixed(1)}, after ${loadavg()[0].toFixed(1)}: other work on this machine slows both sides alike`);
    console.log(`${''.padEnd(26)}  MB/s  CPU ms/MB here + host side  (MB/s of each round)`);
    for (const [name, runs] of Object.entries(samples)) {
      const middle = median(runs, rate);
      const cpu = `${msPerMegabyte(middle.localCpu)} + ${msPerMegabyte(middle.hostCpu)}`;
      console.log(`${name.padEnd(26)} ${rate(middle).toFixed(0).padStart(5)}  ${cpu.padEnd(25)}  (${runs.map((r) => rate(r).toFixed(0)).join(', ')})`);
    }
    const ratio = rate(median(samples['berth uploadLarge (ssh2)'], rate)) / rate(median(samples['OpenSSH scp'], rate));
    console.log(`ratio berth/scp: ${ratio.toFixed(2)} (target ≥ 0.80)`);
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchUpload().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
