import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remoteAgent } from '../../src/engine/agent';
import { cancelRevertScript, installPackagesScript, REVERT_DIR, revertPaths, revertServiceUnit, revertStateScript, revertTimerUnit, scheduleRevertScript, serviceScript } from '../../src/engine/commands';
import { factsFor, factsScript, mergedQuery, parseFacts, parseHostInfo } from '../../src/engine/facts';
import { judgeLock, STATE_DIR, type LockOwner } from '../../src/engine/hoststate';
import { emptyFacts, simulate } from '../../src/engine/plan';
import { shellCommand, shq } from '../../src/shell';
import type { HostConnection } from '../../src/engine/transport';

describe('shell quoting', () => {
  it('leaves plain words alone and single-quotes the rest', () => {
    assert.equal(shq('/etc/ssh/sshd_config.d/00-berth.conf'), '/etc/ssh/sshd_config.d/00-berth.conf');
    assert.equal(shq(''), "''");
    assert.equal(shq('a b'), "'a b'");
    assert.equal(shq("it's"), `'it'\\''s'`);
    assert.equal(shq('$(rm -rf /)'), "'$(rm -rf /)'");
    assert.equal(shellCommand(['systemctl', 'enable', '--now', 'berth firewall.service']), "systemctl enable --now 'berth firewall.service'");
  });
});

describe('command builders', () => {
  it('installs packages after finishing an interrupted dpkg, with a fresh-enough package list and no recommends', () => {
    assert.equal(
      installPackagesScript(['docker.io', 'docker-compose']),
      [
        'export DEBIAN_FRONTEND=noninteractive',
        'if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then',
        '  dpkg --force-confdef --force-confold --configure -a',
        'fi',
        'install -d -m 0700 /var/lib/berth',
        'if [ ! -e /var/lib/berth/apt-updated ] || [ -n "$(find /var/lib/berth/apt-updated -mmin +60)" ] || [ -n "$(find /etc/apt/sources.list /etc/apt/sources.list.d /etc/apt/keyrings -newer /var/lib/berth/apt-updated 2>/dev/null | head -n1)" ]; then',
        '  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -q update',
        '  touch /var/lib/berth/apt-updated',
        'fi',
        'apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -q -y install --no-install-recommends docker.io docker-compose',
      ].join('\n'),
    );
  });

  it('maps service operations to systemctl', () => {
    assert.equal(serviceScript('docker.service', 'restart'), 'systemctl restart docker.service');
    assert.equal(serviceScript('x', 'daemon-reload'), 'systemctl daemon-reload');
    assert.equal(serviceScript('dnsmasq.service', 'enable-now'), 'systemctl enable --now dnsmasq.service');
  });
});

describe('facts', () => {
  it('parses every kind of record the facts script prints', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const output = [
      `F ${b64('/etc/docker/daemon.json')} 1 644 root root 0 0 ${b64('{"a":1}\n')}`,
      `F ${b64('/etc/berth/app/db-password')} 1 400 UNKNOWN UNKNOWN 10001 10001 ${b64('pw')}`,
      `F ${b64('/etc/missing')} 0`,
      'P docker.io 26.1.5+dfsg1-9',
      'P nosuch ',
      'U docker.service active enabled',
      `R sshport 0 ${b64('22\n')}`,
    ].join('\n');
    const query = { files: ['/etc/docker/daemon.json', '/etc/berth/app/db-password', '/etc/missing'], packages: ['docker.io', 'nosuch'], units: ['docker.service'], probes: { sshport: 'x', absent: 'y' } };
    const facts = parseFacts(output, query);
    assert.deepEqual(facts.files['/etc/docker/daemon.json'], { content: '{"a":1}\n', mode: 0o644, owner: 'root', group: 'root' });
    assert.deepEqual(facts.files['/etc/berth/app/db-password'], { content: 'pw', mode: 0o400, owner: '10001', group: '10001' }, "a container's uid without a name on the host reads as the number");
    assert.equal(facts.files['/etc/missing'], null);
    assert.equal(facts.packages['docker.io'], '26.1.5+dfsg1-9');
    assert.equal(facts.packages.nosuch, null);
    assert.deepEqual(facts.units['docker.service'], { active: 'active', enabled: 'enabled' });
    assert.deepEqual(facts.probes.sshport, { code: 0, out: '22\n' });
    assert.deepEqual(facts.probes.absent, { code: 127, out: '' }, 'a probe the script did not report reads as failed');
  });

  it('quotes every path, package and probe in the facts script', () => {
    const script = factsScript({ files: ["/etc/it's"], probes: { p: "echo 'x'" } });
    assert.ok(script.includes(`'/etc/it'\\''s'`));
    assert.ok(script.includes(`bash -c 'echo '\\''x'\\'''`));
  });

  it('merges several queries into one that asks each thing once, and hands each query its own facts back', () => {
    const admin = { files: ['/etc/sudoers.d/berth', '/etc/passwd'], packages: ['sudo'], probes: { revert: 'systemctl is-active a.timer', account: 'getent passwd berth' } };
    const ssh = { files: ['/etc/passwd'], units: ['ssh.socket'], probes: { revert: 'systemctl is-active b.timer', include: 'grep -c Include /etc/ssh/sshd_config' } };
    const firewall = { packages: ['sudo'], probes: { same: 'getent passwd berth' } };
    const merged = mergedQuery([admin, ssh, firewall]);
    assert.deepEqual(merged, {
      files: ['/etc/sudoers.d/berth', '/etc/passwd'],
      packages: ['sudo'],
      units: ['ssh.socket'],
      probes: { p0: 'systemctl is-active a.timer', p1: 'getent passwd berth', p2: 'systemctl is-active b.timer', p3: 'grep -c Include /etc/ssh/sshd_config' },
    }, 'one probe of the same script however many phases ask it, two of one name with different scripts');
    const answer = parseFacts(
      [`F ${Buffer.from('/etc/passwd').toString('base64')} 1 644 root root 0 0 ${Buffer.from('root:x\n').toString('base64')}`, 'R p0 3 ', `R p1 0 ${Buffer.from('berth\n').toString('base64')}`, 'R p2 0 ', 'U ssh.socket active enabled'].join('\n'),
      merged,
    );
    assert.deepEqual(factsFor(answer, merged, ssh), {
      files: { '/etc/passwd': { content: 'root:x\n', mode: 0o644, owner: 'root', group: 'root' } },
      packages: {},
      units: { 'ssh.socket': { active: 'active', enabled: 'enabled' } },
      probes: { revert: { code: 0, out: '' }, include: { code: 127, out: '' } },
      installer: {},
    });
    assert.deepEqual(factsFor(answer, merged, admin).probes, { revert: { code: 3, out: '' }, account: { code: 0, out: 'berth\n' } });
    assert.deepEqual(factsFor(answer, merged, firewall), { files: {}, packages: { sudo: null }, units: {}, probes: { same: { code: 0, out: 'berth\n' } }, installer: {} });
  });

  it('reads the host description, including the installer address from SSH_CONNECTION', () => {
    const info = parseHostInfo(['osId=debian', 'osVersion=13', 'osCodename=trixie', 'osName=Debian GNU/Linux 13 (trixie)', 'arch=amd64', 'hostname=vm1', 'addresses=10.213.57.11 ', 'ssh=10.213.57.1 51234 10.213.57.11 22', 'loginUser=root', 'init=systemd', 'cpus=2', 'memoryMb=1963', 'rootFreeMb=20480'].join('\n'));
    assert.equal(info.clientAddress, '10.213.57.1');
    assert.equal(info.sshPort, 22);
    assert.deepEqual(info.addresses, ['10.213.57.11']);
    assert.equal(info.memoryMb, 1963);
  });

  it('simulates actions onto facts', () => {
    const after = simulate(emptyFacts(), [
      { kind: 'file', path: '/etc/x', content: 'x', mode: 0o600 },
      { kind: 'packages', install: ['dnsmasq'] },
      { kind: 'service', unit: 'dnsmasq.service', op: 'enable-now' },
      { kind: 'run', title: 't', script: 's', effects: [{ probe: 'rootShell', code: 0, out: '/usr/sbin/nologin' }] },
    ]);
    assert.deepEqual(after.files['/etc/x'], { content: 'x', mode: 0o600, owner: 'root', group: 'root' });
    assert.equal(after.packages.dnsmasq, 'installed');
    assert.deepEqual(after.units['dnsmasq.service'], { active: 'active', enabled: 'enabled' });
    assert.deepEqual(after.probes.rootShell, { code: 0, out: '/usr/sbin/nologin' });
  });
});

describe('lock staleness', () => {
  const holder: LockOwner = { owner: 'a@m', machine: 'm', pid: 10, runId: 'r', started: '2026-11-22T10:00:00Z', heartbeat: '2026-11-22T10:00:00Z' };
  it('is gone when the holder ran here and its process no longer exists, however recent its heartbeat', () => {
    assert.deepEqual(judgeLock(holder, { machine: 'm', pidAlive: () => false, now: new Date('2026-11-22T10:01:00Z') }), { state: 'gone', why: 'process 10 on m that took it no longer runs' });
  });
  it('is live while the holder runs or was heard of recently', () => {
    assert.deepEqual(judgeLock(holder, { machine: 'm', pidAlive: () => true, now: new Date('2026-11-22T10:01:00Z') }), { state: 'live' });
    assert.deepEqual(judgeLock(holder, { machine: 'other', pidAlive: () => false, now: new Date('2026-11-22T10:10:00Z') }), { state: 'live' });
  });
  it('is stale after 15 quiet minutes', () => {
    assert.deepEqual(judgeLock(holder, { machine: 'other', pidAlive: () => true, now: new Date('2026-11-22T10:30:00Z') }), { state: 'stale', why: 'its holder has not been heard of for 30 minutes' });
  });
});

describe('host lock and journal, the real scripts run here with bash', () => {
  let dir: string;
  /** A connection that runs each script in bash on this machine, with /var/lib/berth moved into a temporary directory. */
  const localConnection = (): HostConnection => ({
    name: 'vm1',
    address: '127.0.0.1',
    port: 22,
    user: 'root',
    async exec(script, options = {}) {
      const moved = script.replaceAll(STATE_DIR, join(dir, 'state'));
      const result = spawnSync('bash', ['-c', `set -euo pipefail\n${moved}`], { input: options.stdin as string | undefined });
      return { code: result.status ?? 1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
    },
    upload: async () => assert.fail('not used'),
    uploadLarge: async () => assert.fail('not used'),
    close: async () => undefined,
  });
  const owner = (runId: string): LockOwner => ({ owner: `${runId}@m`, machine: 'm', pid: 10, runId, started: '2026-11-22T10:00:00Z', heartbeat: '2026-11-22T10:00:00Z' });

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'berth-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('one run holds the lock; another learns who; release frees it only for its holder', async () => {
    const first = remoteAgent(localConnection());
    const second = remoteAgent(localConnection());
    assert.deepEqual(await first.lock(owner('one'), false), { acquired: true });
    assert.deepEqual(await second.lock(owner('two'), false), { acquired: false, holder: owner('one') });
    await second.releaseLock('two');
    assert.deepEqual(await second.readLock(), owner('one'), 'a release by a run that does not hold it changes nothing');
    await first.releaseLock('one');
    assert.equal(await second.readLock(), undefined);
    assert.deepEqual(await second.lock(owner('two'), false), { acquired: true });
  });

  it('a heartbeat refreshes a lock still held, and fails once another run forced it', async () => {
    const first = remoteAgent(localConnection());
    const second = remoteAgent(localConnection());
    await first.lock(owner('one'), false);
    const beat = { ...owner('one'), heartbeat: '2026-11-22T10:05:00Z' };
    await first.refreshLock(beat);
    assert.deepEqual(await first.readLock(), beat);
    assert.deepEqual(await second.lock(owner('two'), true), { acquired: true });
    await assert.rejects(first.refreshLock(beat), /vm1: another berth run took this host's lock over/);
    assert.deepEqual(await first.readLock(), owner('two'), 'the new holder keeps the lock');
  });

  it('takes over the lock of a holder found gone only while that holder still has it', async () => {
    const dead = remoteAgent(localConnection());
    const rerun = remoteAgent(localConnection());
    await dead.lock(owner('one'), false);
    assert.deepEqual(await rerun.lock(owner('two'), false, 'zero'), { acquired: false, holder: owner('one') }, 'another holder than the one found gone keeps it');
    assert.deepEqual(await rerun.lock(owner('two'), false, 'one'), { acquired: true });
    assert.deepEqual(await dead.lock(owner('three'), false, 'one'), { acquired: false, holder: owner('two') }, 'a second rerun that judged the same dead holder does not take it from the first');
  });

  it('keeps the journal root-only and reads a missing one as empty', async () => {
    const agent = remoteAgent(localConnection());
    assert.deepEqual(await agent.readJournal(), { entries: [] });
    const journal = { entries: [{ phase: 'docker', at: '2026-11-22T10:00:00Z', runId: 'one', berth: '0.1.0', actions: ['install packages: docker.io'] }] };
    await agent.writeJournal(journal);
    assert.deepEqual(await agent.readJournal(), journal);
    assert.equal(statSync(join(dir, 'state', 'state.json')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
  });
});

describe('the automatic revert of a guarded change, the real scripts run here with bash (systemctl faked)', () => {
  let dir: string;
  /** Runs a script with the revert's directory and /etc/systemd/system moved into a temporary directory, and a systemctl that only logs. */
  const bash = (script: string) => {
    const moved = script.replaceAll(REVERT_DIR, join(dir, 'revert')).replaceAll('/etc/systemd/system', join(dir, 'units'));
    const result = spawnSync('bash', ['-c', `set -euo pipefail\n${moved}`], { env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
    assert.equal(result.status, 0, result.stderr.toString());
    return result.stdout.toString();
  };
  /** What the timer would run when it fires. */
  const fire = () => bash(`bash ${revertPaths('firewall').script}`);
  const revert = () => `echo reverted the rules >> ${join(dir, 'effects')}`;
  const effects = () => (existsSync(join(dir, 'effects')) ? readFileSync(join(dir, 'effects'), 'utf8') : '');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-revert-'));
    for (const d of ['bin', 'units']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'bin', 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> ${join(dir, 'systemctl.log')}\n`, { mode: 0o755 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('arms a persistent timer (enabled: it starts again at boot) and a service that runs the revert from a file', () => {
    bash(scheduleRevertScript('firewall', revert(), 60));
    assert.equal(readFileSync(join(dir, 'units', 'berth-revert-firewall.timer'), 'utf8'), revertTimerUnit('firewall', 60));
    assert.equal(
      revertTimerUnit('firewall', 60),
      '[Unit]\nDescription=berth: revert the unconfirmed firewall change\n\n[Timer]\nOnActiveSec=60\nAccuracySec=1s\nRemainAfterElapse=no\n\n[Install]\nWantedBy=timers.target\n',
    );
    assert.equal(revertServiceUnit('firewall'), '[Unit]\nDescription=berth: revert the unconfirmed firewall change\n\n[Service]\nType=oneshot\nExecStart=/bin/bash /var/lib/berth/revert/firewall.sh\n');
    assert.equal(readFileSync(join(dir, 'units', 'berth-revert-firewall.service'), 'utf8'), revertServiceUnit('firewall').replace(REVERT_DIR, join(dir, 'revert')));
    assert.match(readFileSync(join(dir, 'systemctl.log'), 'utf8'), /systemctl daemon-reload\nsystemctl enable --now berth-revert-firewall\.timer\n$/);
    assert.equal(readFileSync(join(dir, 'revert', 'firewall.state'), 'utf8'), 'pending\n');
    assert.equal(bash(revertStateScript('firewall')), 'pending\n');
  });

  it('a revert that fires before the confirmation wins, and the confirmation says so', () => {
    bash(scheduleRevertScript('firewall', revert(), 60));
    fire();
    assert.equal(effects(), 'reverted the rules\n');
    assert.equal(bash(revertStateScript('firewall')), 'done\n');
    assert.equal(bash(cancelRevertScript('firewall')), 'reverted\n');
    assert.equal(existsSync(join(dir, 'units', 'berth-revert-firewall.timer')), false, 'the units are gone either way');
  });

  it('a confirmation before the revert fires wins: the revert then does nothing', () => {
    bash(scheduleRevertScript('firewall', revert(), 60));
    // The timer fired at that moment: the service has the script open already.
    const started = join(dir, 'started.sh');
    copyFileSync(join(dir, 'revert', 'firewall.sh'), started);
    assert.equal(bash(cancelRevertScript('firewall')), 'confirmed\n');
    bash(`bash ${started}`);
    assert.equal(effects(), '', 'a confirmed change is not reverted');
    assert.equal(bash(revertStateScript('firewall')), 'pending\n');
    assert.equal(existsSync(join(dir, 'units', 'berth-revert-firewall.timer')), false);
    assert.equal(existsSync(join(dir, 'units', 'berth-revert-firewall.service')), false);
  });

  it('the revert keeps every "$" of the phase\'s script (nothing goes through systemd\'s expansion)', () => {
    bash(scheduleRevertScript('firewall', `x=1; echo "$x \${x}" >> ${join(dir, 'effects')}`, 60));
    fire();
    assert.equal(effects(), '1 1\n');
  });
});
