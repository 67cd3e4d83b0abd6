import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { freePort } from '../support/sshd';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { answersYaml, TEST_SECRETS } from '../support/answers';
import { TEST_LOCAL } from '../support/phase-check';
import { sharedCliCopy } from '../support/shared-cli';

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const RECORDER = join(__dirname, '..', 'support', 'net-recorder.cjs');

interface Run {
  code: number;
  stderr: string;
  network: string[];
}

/** Runs the built CLI with every connection and lookup it makes recorded. */
function berth(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const netLog = join(cwd, `net-${Math.random().toString(36).slice(2)}.log`);
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: `--require ${RECORDER}`, BERTH_NET_LOG: netLog, NO_COLOR: '1', ...extraEnv } }, (error, _stdout, stderr) => {
      const network = existsSync(netLog) ? readFileSync(netLog, 'utf8').trim().split('\n').filter(Boolean) : [];
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr, network });
    });
  });
}


describe('bad input contacts nothing (the built CLI, with its connections recorded)', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'berth-offline-'));
  before(() => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_test')]));

  it('the recorder sees the connections a run with good answers makes (the control)', async () => {
    const port = await freePort();
    const good = answersYaml({ ssh: { privateKey: './id_test', port }, hosts: [{ name: 'vm1', address: '127.0.0.2', roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: '127.0.0.3', roles: ['registry', 'dns'] }] });
    writeFileSync(join(dir, 'good.yaml'), stringify(good));
    const run = await berth(['install', '--answers', 'good.yaml', '--yes', '--output', 'plain'], dir);
    assert.equal(run.code, 1, run.stderr);
    assert.ok(run.network.some((n) => n === `connect 127.0.0.2:${port}`), `${run.network.join('\n')}\n${run.stderr}`);
  });

  it('status and doctor: an unreachable host is a failed run (exit 1) naming the host and the port configured, no stack trace', async () => {
    const port = await freePort();
    writeFileSync(join(dir, 'unreachable.yaml'), stringify(answersYaml({ ssh: { privateKey: './id_test', port }, hosts: [{ name: 'vm1', address: '127.0.0.2', roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: '127.0.0.3', roles: ['registry', 'dns'] }] })));
    for (const command of ['status', 'doctor']) {
      const run = await berth([command, '--answers', 'unreachable.yaml', '--yes'], dir);
      assert.equal(run.code, 1, `${command}: ${run.stderr}`);
      // Every host is tried, each named with the port the answers give.
      assert.match(run.stderr, new RegExp(`error: vm1 \\(127\\.0\\.0\\.2 port ${port}\\): connection refused`), command);
      assert.match(run.stderr, new RegExp(`error: vm2 \\(127\\.0\\.0\\.3 port ${port}\\): connection refused`), command);
      assert.doesNotMatch(run.stderr, /internal error|\n\s+at /, `${command}: ${run.stderr}`);
    }
  });

  it('a plan that reaches no host is incomplete, not "up to date", and its advice is to plan again', async () => {
    const port = await freePort();
    writeFileSync(join(dir, 'noplan.yaml'), stringify(answersYaml({ ssh: { privateKey: './id_test', port }, sshHardening: { port }, hosts: [{ name: 'vm1', address: '127.0.0.2', roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: '127.0.0.3', roles: ['registry', 'dns'] }] })));
    const run = await berth(['plan', '--answers', 'noplan.yaml', '--output', 'plain'], dir);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /Plan incomplete: vm1, vm2 could not be planned; 0 changes found on the way; nothing was changed\./);
    assert.doesNotMatch(run.stderr, /up to date|continues where it stopped/);
    assert.match(run.stderr, /Nothing was changed\. Fix what is reported above and run `berth plan --answers noplan\.yaml` again\./);
  });

  it('status connects to all hosts at once: a host that never answers does not hold up the next, and the wait is shown', async () => {
    // A listener that accepts and never says a word, as an address that drops SSH would.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '0.0.0.0', r));
    const { port } = silent.address() as AddressInfo;
    try {
      const hosts = [{ name: 'vm1', address: '127.0.0.2', roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: '127.0.0.3', roles: ['registry', 'dns'] }];
      writeFileSync(join(dir, 'silent.yaml'), stringify(answersYaml({ ssh: { privateKey: './id_test', port, connectTimeout: 3 }, sshHardening: { port }, hosts })));
      const run = await berth(['status', '--answers', 'silent.yaml'], dir);
      assert.equal(run.code, 1, run.stderr);
      // Each host is tried as the admin user, then as root: one after the other on a host, the hosts side by side.
      assert.deepEqual(run.network, [`connect 127.0.0.2:${port}`, `connect 127.0.0.3:${port}`, `connect 127.0.0.2:${port}`, `connect 127.0.0.3:${port}`], run.stderr);
      assert.match(run.stderr, /^Connecting to vm1 \(127\.0\.0\.2\), vm2 \(127\.0\.0\.3\)…\nstill waiting for vm1 \(127\.0\.0\.2\), vm2 \(127\.0\.0\.3\) \(5 s\)\n/);
      assert.match(run.stderr, /error: vm1 \(127\.0\.0\.2 port \d+\): connected, but no SSH handshake and login within 3 s\n[^]*error: vm2 \(127\.0\.0\.3 port \d+\): connected, but no SSH[^]*error: could not read the state of vm1, vm2\nSee the errors above; once the hosts answer, run `berth status --answers silent\.yaml` again\.\n$/);
    } finally {
      silent.close();
    }
  });

  it('a file with problems: exit 2 for validate, install and plan, and not one connection or lookup', async () => {
    const bad = answersYaml({ ssh: { privateKey: './id_test', port: 70000 }, hosts: [{ name: 'vm1', address: '300.1.1.1', roles: ['app'] }], firewall: { adminCidrs: ['10.0.0.5/24'] } });
    writeFileSync(join(dir, 'bad.yaml'), stringify(bad));
    for (const args of [['answers', 'validate', 'bad.yaml'], ['install', '--answers', 'bad.yaml', '--yes'], ['plan', '--answers', 'bad.yaml'], ['doctor', '--answers', 'bad.yaml']]) {
      const run = await berth(args, dir);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /bad\.yaml has \d+ problems/);
      assert.deepEqual(run.network, [], args.join(' '));
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('missing secrets in --yes mode: exit 2, listed, nothing contacted', async () => {
    writeFileSync(join(dir, 'nosecrets.yaml'), stringify(answersYaml({ ssh: { privateKey: './id_test' }, registry: {}, app: {}, db: {} })));
    const run = await berth(['install', '--answers', 'nosecrets.yaml', '--yes'], dir);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /lacks 4 secrets/);
    assert.deepEqual(run.network, []);
  });

  it('an unreadable answers file or key, for a user who cannot read it: exit 2, clear words', async function () {
    // Root reads everything: run the CLI as nobody to see what a user sees.
    if (process.getuid?.() !== 0) this.skip();
    const shared = mkdtempSync(join(tmpdir(), 'berth-perm-'));
    chmodSync(shared, 0o755);
    writeFileSync(join(shared, 'locked.yaml'), 'version: 1\n', { mode: 0o600 });
    writeFileSync(join(shared, 'key'), 'x\n', { mode: 0o600 });
    writeFileSync(join(shared, 'berth.yaml'), stringify(answersYaml({ ssh: { privateKey: './key' } })), { mode: 0o644 });
    // An app whose build context holds a file nobody can read: refused while archiving, before any connection.
    mkdirSync(join(shared, 'myapp'), { mode: 0o755 });
    writeFileSync(join(shared, 'myapp', 'Dockerfile'), 'FROM python:3.13-slim\n', { mode: 0o644 });
    writeFileSync(join(shared, 'myapp', 'settings.py'), 'DEBUG = False\n', { mode: 0o600 });
    writeFileSync(join(shared, 'own-key'), 'x\n', { mode: 0o644 });
    writeFileSync(join(shared, 'app.yaml'), stringify(answersYaml({ ssh: { privateKey: './own-key' }, admin: { authorizedKeys: [TEST_LOCAL.adminKeys[0]] }, app: { source: 'path', path: './myapp' } })), { mode: 0o644 });
    // nobody may not reach this clone (under /root, say): it runs a copy of the CLI that it can.
    const copy = sharedCliCopy();
    const asNobody = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', copy.node, copy.cli, ...args], { cwd: shared, env: { ...process.env, NO_COLOR: '1', HOME: shared } }, (error, _o, stderr) =>
          resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
        ),
      );
    try {
      const locked = await asNobody(['answers', 'validate', 'locked.yaml']);
      assert.equal(locked.code, 2, locked.stderr);
      assert.match(locked.stderr, /locked\.yaml cannot be read \(permission denied\)/);
      const key = await asNobody(['answers', 'validate', 'berth.yaml']);
      assert.equal(key.code, 2, key.stderr);
      assert.match(key.stderr, /ssh\.privateKey: .*key cannot be read \(permission denied\)/);
      for (const s of Object.values(TEST_SECRETS)) assert.ok(!key.stderr.includes(s));
      mkdirSync(join(shared, 'logs'), { mode: 0o777 });
      chmodSync(join(shared, 'logs'), 0o777);
      const app = await asNobody(['plan', '--answers', 'app.yaml', '--log-file', join(shared, 'logs', 'plan.log')]);
      assert.equal(app.code, 2, app.stderr);
      assert.match(app.stderr, /app\.path: .*myapp cannot be sent as a build context \(1 problem\)\n.*myapp\/settings\.py: cannot be read \(permission denied\)/);
    } finally {
      rmSync(copy.dir, { recursive: true, force: true });
    }
  });
});
