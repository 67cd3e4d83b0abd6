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
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectHost } from '../src/ssh';
import { generateKey, TestSshd } from '../test/support/sshd';

const run = promisify(execFile);
const megabytes = Number(process.env.BENCH_UPLOAD_MB ?? 500);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-upload-'));
  const sshd = await TestSshd.start();
  try {
    const key = await generateKey(dir, 'bench-key');
    sshd.authorize('root', key.publicKey);
    const file = join(dir, 'payload.bin');
    const bytes = megabytes * 1_000_000;
    const fd = openSync(file, 'w');
    const block = Buffer.alloc(1_000_000);
    for (let i = 0; i < megabytes; i++) {
      block.fill(i % 251).writeUInt32BE(i, 0);
      writeSync(fd, block);
    }
    closeSync(fd);

    const host = await connectHost({ name: 'bench', address: '127.0.0.1', port: sshd.port, hostKey: sshd.hostKeyFingerprint }, { user: 'root', privateKeyPath: key.path, knownHostsPath: null });
    const scpArgs = ['-q', '-i', key.path, '-P', String(sshd.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', file];
    const { stderr: sshVersion } = await run('ssh', ['-V']);
    const remoteScp = join(dir, 'scp.bin');
    const remoteBerth = join(dir, 'berth.bin');

    const seconds = { scp: [] as number[], berth: [] as number[], raw: [] as number[] };
    const load = loadavg()[0];
    for (let round = 0; round < rounds; round++) {
      rmSync(remoteScp, { force: true });
      seconds.scp.push(await timed(() => run('scp', [...scpArgs, `root@127.0.0.1:${remoteScp}`])));
      rmSync(remoteBerth, { force: true });
      seconds.berth.push(await timed(() => host.uploadLarge({ localPath: file, remotePath: remoteBerth, mode: 0o644 })));
      // The transport alone, for reference: no staging, checksum or rename.
      seconds.raw.push(await timed(() => host.exec('cat > /dev/null', { stdin: createReadStream(file, { highWaterMark: 1 << 20 }), timeoutMs: 0 })));
    }
    await host.close();

    const rate = (s: number) => bytes / 1e6 / s;
    const line = (name: string, values: number[]) =>
      `${name.padEnd(26)} ${rate(median(values)).toFixed(0).padStart(5)} MB/s  (rounds: ${values.map((s) => `${rate(s).toFixed(0)}`).join(', ')} MB/s)`;
    console.log(`upload of ${megabytes} MB to a local sshd, median of ${rounds} rounds`);
    console.log(`date ${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${sshVersion.trim()}`);
    console.log(`load average (1 min) before ${load.toFixed(1)}, after ${loadavg()[0].toFixed(1)}: other work on this machine slows both sides alike`);
    console.log(line('OpenSSH scp', seconds.scp));
    console.log(line('berth uploadLarge (ssh2)', seconds.berth));
    console.log(line('ssh2 stream, no checksum', seconds.raw));
    console.log(`ratio berth/scp: ${(median(seconds.scp) / median(seconds.berth)).toFixed(2)} (target ≥ 0.80)`);
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
