import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';
import { ensureBinary } from '../support/binary';
import { converse } from '../support/terminal';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN12 } from './harness';
import { INSTALL_TIMEOUT_MS, installedPlatform, runBerth, WORK_DIR, type InstalledPlatform } from './installed';

/**
 * What the admin-user and SSH-hardening phases promise, and what the engine
 * promises around them (converged reruns, a true dry run, the lock, the
 * journal, secret-free logs), checked on the test VMs after one install.
 */
describe('e2e: admin user, SSH hardening and the engine on real hosts', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let p: InstalledPlatform;

  before(async () => {
    p = await installedPlatform();
  });

  it('the first install changed every host and ended well', () => {
    assert.equal(p.firstRun.code, 0, p.firstRun.output);
    assert.match(p.firstRun.output, /Done: [1-9]\d* changed\./);
    for (const vm of ['vm1', 'vm2']) assert.match(p.firstRun.output, new RegExp(`^${vm}\\s+\\S+\\s+changed\\s+[1-9]`, 'm'), vm);
  });

  it('root cannot log in by key any more; the admin user can, and has passwordless sudo', async () => {
    const root = await p.topo.ssh('vm1', 'true');
    assert.notEqual(root.code, 0, 'root logged in');
    assert.match(root.stderr, /Permission denied/);
    const admin = await p.topo.ssh('vm1', 'sudo -n id -u', { user: 'berth' });
    assert.equal(admin.code, 0, admin.stderr);
    assert.equal(admin.stdout.trim(), '0');
  });

  it('password logins are refused', async () => {
    const r = await p.topo.ssh('vm2', 'true', { user: 'berth', config: ['PreferredAuthentications=password,keyboard-interactive', 'PubkeyAuthentication=no', 'NumberOfPasswordPrompts=0'] });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied \(publickey\)/, 'the server offers public keys only');
  });

  it('sshd runs with the intended settings, and root has no usable password', async () => {
    for (const vm of ['vm1', 'vm2']) {
      const r = await p.topo.exec(vm, "sshd -T | grep -E '^(port|permitrootlogin|passwordauthentication|kbdinteractiveauthentication|maxauthtries) '; passwd -S root | cut -d' ' -f2");
      assert.deepEqual(r.stdout.trim().split('\n').sort(), ['L', 'kbdinteractiveauthentication no', 'maxauthtries 4', 'passwordauthentication no', 'permitrootlogin no', 'port 22'], vm);
    }
  });

  it('a second install changes nothing', async () => {
    const again = await p.berth('install');
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
    assert.doesNotMatch(again.output, /\bchanged\s+[1-9]/);
  });

  it('berth plan changes nothing on the hosts and says every host is up to date', async () => {
    const snapshot = "stat -c '%n %Y %s' /var/lib/berth/state.json /etc/ssh/sshd_config.d/00-berth.conf /etc/docker/daemon.json; systemctl show -p ActiveEnterTimestamp docker.service ssh.service; ls /var/lib/berth";
    const before = await Promise.all(['vm1', 'vm2'].map((vm) => p.topo.exec(vm, snapshot)));
    const plan = await p.berth('plan');
    assert.equal(plan.code, 0, plan.output);
    assert.match(plan.output, /Plan: every host is up to date \(0 to change\)\./);
    assert.match(plan.output, /vm1 · ssh: up to date/);
    const after = await Promise.all(['vm1', 'vm2'].map((vm) => p.topo.exec(vm, snapshot)));
    assert.deepEqual(after.map((r) => r.stdout), before.map((r) => r.stdout));
  });

  it('berth plan shows a diff of a file that drifted, and still changes nothing', async () => {
    await p.topo.exec('vm1', "sed -i 's/^MaxAuthTries 4$/MaxAuthTries 9/' /etc/ssh/sshd_config.d/00-berth.conf");
    try {
      const plan = await p.berth('plan');
      assert.match(plan.output, /vm1 · ssh:\n\s+~ apply the sshd settings/);
      assert.match(plan.output, /-MaxAuthTries 9\n\s+\+MaxAuthTries 4/);
      const still = await p.topo.exec('vm1', 'grep MaxAuthTries /etc/ssh/sshd_config.d/00-berth.conf');
      assert.equal(still.stdout.trim(), 'MaxAuthTries 9');
    } finally {
      const fixed = await p.berth('install');
      assert.match(fixed.output, /vm1\s+ssh\s+changed\s+1/);
    }
  });

  it('on a terminal, install shows what it would change and asks first; "no" changes nothing', async () => {
    await p.topo.exec('vm1', "sed -i 's/^MaxAuthTries 4$/MaxAuthTries 9/' /etc/ssh/sshd_config.d/00-berth.conf");
    try {
      const command = `${process.execPath} ${join(__dirname, '..', '..', 'dist', 'cli', 'main.js')} install --answers ${p.answersFile}`;
      const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: WORK_DIR, env: { ...process.env, NO_COLOR: '1', TERM: 'xterm' } });
      const talk = converse([[/Make these changes on the hosts\?/, 'n']], (keys) => child.stdin.write(keys));
      child.stdout.on('data', (c: Buffer) => talk.feed(c));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      const screen = talk.screen().replace(/\r\n/g, '\n');
      assert.equal(code, 2, screen);
      const ip = p.topo.vms.vm1.ip.replace(/\./g, '\\.');
      assert.match(screen, new RegExp(`Summary of the install:\n {2}vm1 \\(${ip}\\)\\s+app, lb, db\n {4}ssh \\(1\\)\n {2}vm2 .*\n {4}up to date\n`), screen);
      assert.match(screen, /error: nothing was changed/);
      const still = await p.topo.exec('vm1', 'grep MaxAuthTries /etc/ssh/sshd_config.d/00-berth.conf');
      assert.equal(still.stdout.trim(), 'MaxAuthTries 9');
    } finally {
      await p.berth('install');
    }
  });

  it('status and doctor --output json: one object per host, in the order of the answers', async () => {
    for (const command of ['status', 'doctor']) {
      const run = await p.berth(command, ['--output', 'json']);
      assert.equal(run.code, 0, run.output);
      const objects = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { host: string; ok: boolean; user: string });
      assert.deepEqual(objects.map((o) => [o.host, o.ok, o.user]), [['vm1', true, 'berth'], ['vm2', true, 'berth']], command);
    }
  });

  it('keeps a root-only journal of what each phase applied', async () => {
    const r = await p.topo.exec('vm2', "stat -c '%a %U' /var/lib/berth /var/lib/berth/state.json; cat /var/lib/berth/state.json");
    const [dirMode, fileMode, ...json] = r.stdout.split('\n');
    assert.equal(dirMode, '700 root');
    assert.equal(fileMode, '600 root');
    const journal = JSON.parse(json.join('\n')) as { entries: { phase: string }[] };
    for (const phase of ['admin', 'dns-forwarder', 'dns', 'docker', 'firewall', 'ssh']) assert.ok(journal.entries.some((e) => e.phase === phase), phase);
    const status = await p.berth('status');
    assert.equal(status.code, 0, status.output);
    assert.match(status.stdout, new RegExp(`vm2 \\(${p.topo.vms.vm2.ip.replace(/\./g, '\\.')}\\), as berth: healthy\n(.*\n)*\\s+docker\\s+last changed `));
  });

  it('refuses to run while another install holds a host, and --force-unlock takes over a dead one', async () => {
    const owner = JSON.stringify({ owner: 'someone@elsewhere', machine: 'elsewhere', pid: 4242, runId: 'held-by-test', started: new Date().toISOString(), heartbeat: new Date().toISOString() });
    await p.topo.exec('vm1', `mkdir -m 700 /var/lib/berth/lock && printf '%s' '${owner}' > /var/lib/berth/lock/owner.json`);
    const refused = await p.berth('install');
    assert.equal(refused.code, 1);
    assert.match(refused.output, /vm1 is locked by another berth run: someone@elsewhere \(pid 4242\)/);
    assert.match(refused.output, /vm2\s+docker\s+skipped/, 'no phase ran on the other host either');
    const forced = await p.berth('install', ['--force-unlock']);
    assert.equal(forced.code, 0, forced.output);
    const lock = await p.topo.exec('vm1', 'ls /var/lib/berth');
    assert.doesNotMatch(lock.stdout, /^lock$/m, 'the lock is released at the end');
  });

  it('berth doctor diagnoses both hosts and finds nothing blocking', async () => {
    const doctor = await p.berth('doctor');
    assert.equal(doctor.code, 0, doctor.output);
    assert.match(doctor.stdout, new RegExp(`vm1 .*\\n(.*\\n)*\\s+✔ system\\s+Debian GNU/Linux ${DEBIAN12 ? '12' : '13'}`));
    assert.match(doctor.stdout, /registry mirror https:\/\/hubmirror\.berth\.test\s+https:\/\/hubmirror\.berth\.test\/v2\/: HTTP 401|registry mirror https:\/\/hubmirror\.berth\.test\s+https:\/\/hubmirror\.berth\.test\/v2\/: HTTP 200/);
  });

  it('writes logs only the user can read, without any secret in them', () => {
    const dir = join(WORK_DIR, 'berth-logs');
    const secrets = Object.values(JSON.parse(readFileSync(join(p.topo.spec.stateDir, 'secrets.json'), 'utf8')) as Record<string, string>);
    const logs = readdirSync(dir);
    assert.ok(logs.length > 0);
    for (const name of logs) {
      const file = join(dir, name);
      assert.equal(statSync(file).mode & 0o777, 0o600, name);
      const text = readFileSync(file, 'utf8');
      for (const s of secrets) assert.ok(!text.includes(s), `${name} holds a secret`);
    }
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  });
});

describe('e2e: the packaged binary on a terminal', function () {
  this.timeout(INSTALL_TIMEOUT_MS);

  it('draws the live task list and ends with the summary', async () => {
    const p = await installedPlatform();
    const binary = await ensureBinary();
    // script(1) gives the binary a pseudo-terminal, sized as a real one would be.
    const command = `stty cols 120 rows 40; ${binary} install --answers ${p.answersFile} --yes`;
    const run = await new Promise<{ code: number | null; screen: string }>((resolve) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: WORK_DIR, env: { ...process.env, TERM: 'xterm-256color' } });
      let screen = '';
      child.stdout.on('data', (c: Buffer) => (screen += c));
      child.on('close', (code) => resolve({ code, screen: stripVTControlCharacters(screen) }));
    });
    // The screen repeats the whole list at every redraw: on failure, its end tells what happened.
    const end = run.screen.slice(-4000);
    assert.equal(run.code, 0, end);
    assert.match(run.screen, /✔ preflight/, end);
    assert.match(run.screen, /✔ vm1: up to date/, end);
    assert.match(run.screen, /✔ SSH hardening/, end);
    assert.match(run.screen, /Done: 0 changed\./, end);
  });
});

describe('e2e: Ctrl-C', function () {
  this.timeout(INSTALL_TIMEOUT_MS);

  it('the first Ctrl-C stops after the steps under way, releases the locks, and a rerun finishes', async () => {
    const p = await installedPlatform();
    let sent = false;
    const run = await p.berth('install', [], {
      onOutput: (text, child) => {
        if (!sent && /\d\d:\d\d:\d\d preflight: /.test(text)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    assert.ok(sent, 'the run never reached preflight');
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /Stopping after the steps under way/);
    assert.match(run.output, /vm1\s+ssh\s+skipped/);
    assert.match(run.output, /error: the run was interrupted/);
    for (const vm of ['vm1', 'vm2']) {
      const lock = await p.topo.exec(vm, 'test -e /var/lib/berth/lock && echo held || echo free');
      assert.equal(lock.stdout.trim(), 'free', vm);
    }
    const again = await p.berth('install');
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
  });
});

describe('e2e: moving SSH to another port', function () {
  this.timeout(INSTALL_TIMEOUT_MS);

  it('opens the new port first, moves sshd under the guard, closes the old port on the next run, and moves back', async () => {
    const p = await installedPlatform();
    const moved = p.topo.writeAnswers({ sshHardening: { port: 2222 } }, 'port-2222.yaml');
    const install = (file: string) => runBerth(['install', '--answers', file, '--yes', '--output', 'plain']);
    const sshdPorts = async () => (await p.topo.exec('vm1', "sshd -T | awk '$1==\"port\"{print $2}'")).stdout.trim();
    // Rules for SSH: "--dport 22" or "-m multiport --dports 22,2222".
    const ruleFor = async (port: number) => (await p.topo.exec('vm1', `iptables -S BERTH-INPUT | grep SSH | grep -Ec -- '--dports? ([0-9]+,)*${port}( |,)' || true`)).stdout.trim();
    try {
      const first = await install(moved);
      assert.equal(first.code, 0, first.output);
      assert.equal(await sshdPorts(), '2222');
      assert.equal((await p.topo.ssh('vm1', 'true', { user: 'berth', port: 2222 })).code, 0, 'the admin logs in on the new port');
      assert.notEqual(await ruleFor(22), '0', 'the old port stays open during the run that moved sshd');

      const second = await install(moved);
      assert.equal(second.code, 0, second.output);
      assert.match(second.output, new RegExp(`vm1: connected to ${p.topo.vms.vm1.ip.replace(/\./g, '\\.')} as berth`));
      assert.match(second.output, /vm1\s+firewall\s+changed\s+1/, 'the old port is closed now');
      assert.equal(await ruleFor(22), '0');
      assert.match((await install(moved)).output, /Done: 0 changed\./);
    } finally {
      // Back to 22: connect where sshd listens now, harden to 22, then the original answers converge.
      const back = p.topo.writeAnswers({ ssh: { port: 2222 }, sshHardening: { port: 22 } }, 'port-back.yaml');
      const returned = await install(back);
      assert.equal(returned.code, 0, returned.output);
      assert.equal(await sshdPorts(), '22');
      const original = await p.berth('install');
      assert.equal(original.code, 0, original.output);
      assert.match((await p.berth('install')).output, /Done: 0 changed\./);
    }
  });
});
