import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parseAnswers } from '../../src/answers/load';
import { parseCommandLine } from '../../src/cli/args';
import type { Command } from '../../src/cli/command';
import { sandboxDownCommand, sandboxStatusCommand, sandboxUpCommand } from '../../src/cli/commands/sandbox';
import { createPrinter } from '../../src/cli/print';
import { docker } from '../../src/sandbox/docker';
import { SANDBOX_NETWORK, TOPOLOGY_LABEL } from '../../src/sandbox/plan';
import { SANDBOX_ANSWERS_FILE } from '../../src/sandbox/sandbox';
import { topologyStatus } from '../../src/sandbox/topology';
import { TOPOLOGY_TIMEOUT_MS } from './harness';

/** Runs a sandbox command as the CLI does (option parsing included) and collects what it prints. */
async function berth(command: Command, args: string[]): Promise<{ out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const parsed = parseCommandLine(command, args);
  await command.run({
    values: parsed.values,
    positionals: parsed.positionals,
    print: createPrinter({ stdout, stderr }, { stdout: false, stderr: false }),
    env: process.env,
    stdin: new PassThrough(),
    stdout,
    stderr,
  });
  return { out: out.join(''), err: err.join('') };
}

/**
 * `berth sandbox` on its own network (10.213.58.0/24), next to the e2e
 * topology. Without the mirror here, so that it stays quick: the mirror is
 * the e2e topology's own code path, proven by the harness self-tests.
 */
describe('berth sandbox', function () {
  this.timeout(TOPOLOGY_TIMEOUT_MS);
  const dir = mkdtempSync(join(tmpdir(), 'berth-sandbox-'));
  let othersSandbox = false;

  before(async function () {
    // One sandbox per machine (fixed names and network): one already running is a user's (`npm run demo`)
    // or another test run's, and this spec would replace it and then remove it.
    const running = await topologyStatus(SANDBOX_NETWORK.prefix);
    if (running.length > 0) {
      othersSandbox = true;
      // Mocha 11 runs no after hook of a suite whose before skipped it; the flag guards it should one run.
      rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`      a sandbox is running here (${running.map((c) => c.name).join(', ')}): skipped; \`berth sandbox down\` removes it\n`);
      this.skip();
    }
  });

  after(async () => {
    if (!othersSandbox) await berth(sandboxDownCommand, ['--dir', dir]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  // Three VMs, not the default two: answers for a count other than the original layout's must install as they are.
  const up = ['--dir', dir, '--vms', '3', '--mirror', 'never'];

  it('up starts three VMs, writes answers berth accepts as they are and prints the next command', async () => {
    const { out, err } = await berth(sandboxUpCommand, up);
    const answersPath = join(dir, SANDBOX_ANSWERS_FILE);
    assert.equal(out.trim(), `berth install --answers ${answersPath}`);
    assert.match(err, /vm1 +10\.213\.58\.11 +created/);
    assert.match(err, /sandbox is up: vm1 10\.213\.58\.11, vm2 10\.213\.58\.12, vm3 10\.213\.58\.13/);
    const { answers } = parseAnswers(readFileSync(answersPath, 'utf8'), answersPath, { env: {} });
    assert.deepEqual(answers.hosts.map((h) => [h.address, h.roles]), [
      ['10.213.58.11', ['app', 'lb', 'db']],
      ['10.213.58.12', ['registry', 'dns']],
      // A hardened host without a role: berth runs app, lb and db together on one host for now.
      ['10.213.58.13', []],
    ]);
    assert.deepEqual(answers.dns.upstreams, ['10.213.58.53']);
    assert.deepEqual(answers.docker.registryMirrors, []);
    // The key and the pinned host key let a plain OpenSSH client in as root.
    const ssh = spawnSync('ssh', [
      '-F', '/dev/null', '-i', answers.ssh.privateKey!, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
      '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes',
      'root@10.213.58.12', 'hostname',
    ]);
    assert.equal(ssh.status, 0, ssh.stderr.toString());
    assert.equal(ssh.stdout.toString().trim(), 'vm2');
  });

  it('up again reuses everything, and status lists each container with its address', async () => {
    const again = await berth(sandboxUpCommand, up);
    assert.doesNotMatch(again.err, /created|started/);
    assert.match(again.err, /vm2 +10\.213\.58\.12 +reused/);
    const status = await berth(sandboxStatusCommand, []);
    const rows = status.out.trim().split('\n').map((line) => line.split(/\s{2,}/));
    assert.deepEqual(rows[0], ['NAME', 'ROLE', 'STATE', 'ADDRESS']);
    assert.deepEqual(
      rows.slice(1).map(([name, role, state, ip]) => `${name} ${role} ${state} ${ip}`),
      [
        'berth-sandbox-outsider outsider running 10.213.58.20',
        'berth-sandbox-resolver resolver running 10.213.58.54',
        'berth-sandbox-smartdns smartdns running 10.213.58.53',
        'berth-sandbox-vm1 vm running 10.213.58.11',
        'berth-sandbox-vm2 vm running 10.213.58.12',
        'berth-sandbox-vm3 vm running 10.213.58.13',
      ],
    );
  });

  it('up replaces a VM that is not healthy (sshd down) by a fresh one', async () => {
    await docker(['exec', 'berth-sandbox-vm1', 'systemctl', 'mask', '--now', 'ssh']);
    const { err } = await berth(sandboxUpCommand, up);
    assert.match(err, /vm1 +10\.213\.58\.11 +recreated/);
    assert.match(err, /vm2 +10\.213\.58\.12 +reused/);
    const ssh = await docker(['exec', 'berth-sandbox-vm1', 'systemctl', 'is-active', 'ssh']);
    assert.equal(ssh.stdout.trim(), 'active');
  });

  it("up --debian 12 replaces the VMs by Debian 12 ones, whose answers take Docker from Docker's repository (Debian 12 has only Compose v1)", async () => {
    const { err } = await berth(sandboxUpCommand, [...up, '--debian', '12']);
    assert.match(err, /vm1 +10\.213\.58\.11 +created/);
    const release = await docker(['exec', 'berth-sandbox-vm3', 'sh', '-c', '. /etc/os-release; echo "$VERSION_ID $VERSION_CODENAME"; systemctl is-active ssh']);
    assert.equal(release.stdout.trim(), '12 bookworm\nactive');
    const answersPath = join(dir, SANDBOX_ANSWERS_FILE);
    const { answers } = parseAnswers(readFileSync(answersPath, 'utf8'), answersPath, { env: {} });
    assert.equal(answers.docker.source, 'official');
    await assert.rejects(berth(sandboxUpCommand, [...up, '--debian', '11']), /--debian must be 13 or 12, not "11"/);
  });

  it('down removes the containers, volumes, network and the files it wrote', async () => {
    const { err } = await berth(sandboxDownCommand, ['--dir', dir]);
    assert.match(err, /removed container berth-sandbox-vm1/);
    assert.match(err, /removed network berth-sandbox-net/);
    const label = `label=${TOPOLOGY_LABEL}=${SANDBOX_NETWORK.prefix}`;
    for (const kind of [['ps', '--all'], ['volume', 'ls'], ['network', 'ls']]) {
      assert.equal((await docker([...kind, '--quiet', '--filter', label])).stdout.trim(), '', `${kind[0]}: nothing left`);
    }
    assert.equal(existsSync(dir), false, 'the emptied state directory is gone');
    assert.match((await berth(sandboxStatusCommand, [])).err, /No sandbox is running/);
  });
});
