import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminPhase, passwordDigest, previousAdminsProbes } from '../../../src/phases/admin';
import { backupUnlessRevertPending } from '../../../src/engine/commands';
import { diagnose, parseReach, preflightPhase, reachScript, reachTargets } from '../../../src/phases/preflight';
import { effectiveSettingsCheckScript, sshPhase } from '../../../src/phases/ssh';
import { renderSshdDropIn } from '../../../src/render/sshd';
import { renderSudoers } from '../../../src/render/admin';
import { HostProblem } from '../../../src/engine/phase';
import { simulate } from '../../../src/engine/plan';
import { testAnswers } from '../../support/answers';
import { assertConverges, factsFor, phaseContext, TEST_LOCAL } from '../../support/phase-check';

const reachOut = (lines: string[]) => ({ code: 0, out: `${lines.join('\n')}\n` });

describe('preflight phase', () => {
  const base = { root: { code: 0, out: '0\n' }, clock: { code: 0, out: 'yes\n' } };

  it('passes a supported host that reaches its mirror, and plans nothing', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'distro', registryMirrors: ['https://hubmirror.berth.test'] } }), 'vm1');
    const facts = factsFor(preflightPhase, ctx, { probes: { ...base, reach: reachOut(['apt http://deb.debian.org/debian/ http 200', 'mirror0 https://hubmirror.berth.test/v2/ dns', 'dockerHub https://registry-1.docker.io/v2/ dns']) } });
    assert.deepEqual(assertConverges(preflightPhase, ctx, facts), []);
    const d = diagnose(ctx, facts);
    assert.deepEqual(d.map((x) => `${x.status} ${x.label}`), ['ok system', 'ok resources', 'ok root rights', 'ok clock', 'ok package mirror', 'warn registry mirror https://hubmirror.berth.test', 'warn Docker Hub']);
  });

  it('refuses an unsupported system before any change', () => {
    const ctx = phaseContext(testAnswers(), 'vm1', { osId: 'centos', osVersion: '7', osName: 'CentOS Linux 7' });
    const facts = factsFor(preflightPhase, ctx, { probes: { ...base, reach: reachOut(['apt http://x/ http 200', 'dockerHub https://registry-1.docker.io/v2/ http 401']) } });
    assert.throws(() => preflightPhase.plan(ctx, facts), (e: unknown) => e instanceof HostProblem && /CentOS Linux 7 is not supported; berth supports Debian 12 and 13, Ubuntu 22.04 and 24.04/.test(e.message));
    const arm32 = phaseContext(testAnswers(), 'vm1', { arch: 'armhf' });
    assert.throws(() => preflightPhase.plan(arm32, facts), /the armhf architecture is not supported/);
  });

  it('stops when images cannot come from anywhere and nothing could help, and says what to configure', () => {
    const ctx = phaseContext(testAnswers({ dns: { mode: 'off' }, hosts: [{ name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: '10.0.0.12', roles: ['registry'] }] }), 'vm1');
    const facts = factsFor(preflightPhase, ctx, { probes: { ...base, reach: reachOut(['apt http://deb.debian.org/debian/ http 200', 'dockerApt https://download.docker.com/linux/debian/gpg http 200', 'dockerHub https://registry-1.docker.io/v2/ http 000']) } });
    assert.throws(() => preflightPhase.plan(ctx, facts), (e: unknown) => e instanceof HostProblem && /Docker Hub cannot be reached from this host and no mirror is configured: set dns\.mode .* or docker\.registryMirrors/.test(e.message));
  });

  it('refuses, before any change, a db host without memory for its Galera nodes and replicas, saying what to lower', () => {
    const facts = factsFor(preflightPhase, phaseContext(testAnswers(), 'vm1'), { probes: { ...base, reach: reachOut(['apt http://x/ http 200', 'dockerHub https://registry-1.docker.io/v2/ http 401']) } });
    const small = phaseContext(testAnswers({ db: { nodes: 5 } }), 'vm1', { memoryMb: 2048 });
    assert.throws(() => preflightPhase.plan(small, facts), /resources: too small: 2048 MB of memory \(need 2688: 512 MB and 5 MariaDB nodes × 384 MB and 2 app replicas × 128 MB; lower db\.nodes or app\.replicas/);
    // The same memory is plenty for a host without the stack, and for three nodes.
    const vm2 = phaseContext(testAnswers({ db: { nodes: 5 } }), 'vm2', { memoryMb: 2048 });
    assert.deepEqual(preflightPhase.plan(vm2, factsFor(preflightPhase, vm2, { probes: { ...base, reach: reachOut(['apt http://x/ http 200', 'dockerHub https://registry-1.docker.io/v2/ http 401']) } })), []);
    assert.deepEqual(preflightPhase.plan(phaseContext(testAnswers(), 'vm1', { memoryMb: 2048 }), facts), []);
  });

  it('refuses, before any change, to take the db role from a host that runs Galera nodes', () => {
    const ctx = phaseContext(testAnswers(), 'vm2');
    const reach = reachOut(['apt http://x/ http 200', 'dockerHub https://registry-1.docker.io/v2/ http 401']);
    assert.throws(
      () => preflightPhase.plan(ctx, factsFor(preflightPhase, ctx, { probes: { ...base, reach, galeraNodes: { code: 0, out: 'db1\ndb2\n' } } })),
      (e: unknown) => e instanceof HostProblem && e.message.startsWith('this host runs the Galera nodes db1, db2, and the answers no longer give it the db role') && /Give the host its db role back/.test(e.hint ?? ''),
    );
    assert.deepEqual(preflightPhase.plan(ctx, factsFor(preflightPhase, ctx, { probes: { ...base, reach, galeraNodes: { code: 0, out: '' } } })), []);
  });

  it("refuses, before any change, to swap a host's Docker Engine for the other source's, and says how to switch by hand", () => {
    const reach = reachOut(['apt http://x/ http 200', 'dockerHub https://registry-1.docker.io/v2/ http 401']);
    const plan = (source: 'official' | 'distro', packages: Record<string, string>) => {
      const ctx = phaseContext(testAnswers({ docker: { source } }), 'vm2');
      return () => preflightPhase.plan(ctx, factsFor(preflightPhase, ctx, { packages, probes: { ...base, reach } }));
    };
    assert.throws(
      plan('distro', { 'docker-ce': '5:28.1.1-1~debian.13~trixie' }),
      (e: unknown) =>
        e instanceof HostProblem &&
        e.message === "Docker Engine on this host comes from Docker's apt repository (docker-ce 5:28.1.1-1~debian.13~trixie), and the answers say docker.source: distro: berth does not swap a running Docker Engine for another (the packages conflict, and every container would stop)" &&
        e.hint === 'Set docker.source: official back in the answers file. To switch: stop what runs in Docker, remove the installed packages (apt-get remove docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin; images, containers and volumes in /var/lib/docker stay), then run berth again. Nothing was changed on any host.',
    );
    assert.throws(
      plan('official', { 'docker.io': '26.1.5+dfsg1-9' }),
      (e: unknown) => e instanceof HostProblem && /comes from the distribution \(docker\.io 26\.1\.5\+dfsg1-9\), and the answers say docker\.source: official/.test(e.message) && /^Set docker\.source: distro back .*apt-get remove docker\.io docker-cli docker-buildx docker-compose;/.test(e.hint ?? ''),
    );
    // Debian 12 with Debian's docker.io (installed by hand) and official: no way back to distro there, only the removal.
    const bookworm = phaseContext(testAnswers({ docker: { source: 'official' } }), 'vm2', { osVersion: '12', osCodename: 'bookworm' });
    assert.throws(
      () => preflightPhase.plan(bookworm, factsFor(preflightPhase, bookworm, { packages: { 'docker.io': '20.10.24+dfsg1-1+b3' }, probes: { ...base, reach } })),
      (e: unknown) => e instanceof HostProblem && (e.hint ?? '').startsWith('To switch: stop what runs in Docker, remove the installed packages (apt-get remove docker.io;'),
    );
    // Its own source's engine, with or without the other's leftovers: no swap.
    assert.deepEqual(plan('official', { 'docker-ce': '5:28.1.1' })(), []);
    assert.deepEqual(plan('distro', { 'docker.io': '26.1.5', 'docker-ce': '5:28.1.1' })(), []);
    assert.deepEqual(plan('distro', {})(), []);
  });

  it('refuses, before any change, a project renamed on a host that runs the old one, and says how to start over', () => {
    const reach = reachOut(['apt http://x/ http 200', 'dockerHub https://registry-1.docker.io/v2/ http 401']);
    const ctx = phaseContext(testAnswers({ project: 'shop' }), 'vm2');
    assert.equal(preflightPhase.query(ctx).probes?.projects, 'find /opt/berth -mindepth 3 -maxdepth 3 -name compose.yaml 2>/dev/null | cut -d/ -f4 | sort -u');
    const plan = (out: string) => () => preflightPhase.plan(ctx, factsFor(preflightPhase, ctx, { probes: { ...base, reach, projects: { code: 0, out } } }));
    assert.throws(
      plan('app\n'),
      (e: unknown) =>
        e instanceof HostProblem &&
        e.message.startsWith('this host runs the berth project "app" (/opt/berth/app), and the answers name the project "shop": berth does not rename a project') &&
        (e.hint ?? '').startsWith('Set project: app back in the answers file. To start over under the new name:') &&
        (e.hint ?? '').endsWith('Nothing was changed on any host.'),
    );
    assert.deepEqual(plan('shop\n')(), []);
    assert.deepEqual(plan('')(), []);
  });

  it('refuses stack layouts berth cannot run before any change, saying which to use; three db hosts run one node each', () => {
    const host = (name: string, ...roles: string[]) => ({ name, address: `10.0.0.${10 + Number(name.slice(2))}`, roles });
    const problem = (hosts: ReturnType<typeof host>[], db: Record<string, unknown> = {}) => {
      const ctx = phaseContext(testAnswers({ hosts, db: { rootPassword: 'Db-R00t-Secret-Kp4zW8', password: 'Db-App-Secret-Vn6xB2qJ', ...db } }), 'vm1');
      const facts = factsFor(preflightPhase, ctx, { probes: { ...base, reach: reachOut(['apt http://x/ http 200', 'dockerHub https://registry-1.docker.io/v2/ http 401']) } });
      try {
        preflightPhase.plan(ctx, facts);
        return null;
      } catch (e) {
        assert.ok(e instanceof HostProblem, String(e));
        return e.message;
      }
    };
    assert.equal(problem([host('vm1', 'app', 'lb', 'db'), host('vm2', 'registry', 'dns', 'db')]), 'two hosts have the db role (vm1, vm2): a Galera node on each would lose quorum when either host fails, and berth runs no arbitrator. Give the db role to one host (all db.nodes there) or to three or more (one node each)');
    assert.equal(problem([host('vm1', 'app', 'db'), host('vm2', 'registry', 'dns', 'lb')]), 'berth runs the roles app and lb together on one host (app: vm1; lb: vm2): give both to one host in the answers file');
    assert.equal(problem([host('vm1', 'app', 'lb'), host('vm2', 'registry', 'dns', 'db')]), 'with one db host, the app reaches the database on a Docker network of that host: give app, lb and db to one host (vm2 or vm1), or the db role to three or more hosts');
    const spread = [host('vm1', 'app', 'lb'), host('vm2', 'registry', 'dns', 'db'), host('vm3', 'db'), host('vm4', 'db')];
    assert.equal(problem(spread), null, 'the app apart from three db hosts');
    assert.equal(problem([...spread, host('vm5', 'db')]), '4 hosts have the db role (vm2, vm3, vm4, vm5) and db.nodes is 3: with three or more db hosts berth runs one Galera node on each, so set db.nodes: 4 (and give the db role to an odd number of hosts: an even cluster can split in halves that both lose quorum)');
  });

  it('lists the targets from the answers', () => {
    // A trailing slash on the mirror, as the Docker phase reads it too.
    const answers = testAnswers({ docker: { source: 'official', aptMirror: 'https://docker.mirror.example/linux/', registryMirrors: ['https://m1.example/', 'https://m2.example'] } });
    assert.deepEqual(reachTargets(answers, 'debian'), {
      dockerApt: 'https://docker.mirror.example/linux/debian/gpg',
      mirror0: 'https://m1.example/v2/',
      mirror1: 'https://m2.example/v2/',
      dockerHub: 'https://registry-1.docker.io/v2/',
    });
  });

  it("checks the key URL the Docker phase fetches, without the mirror's login (a 401 still proves the way open)", () => {
    const answers = testAnswers({ docker: { source: 'official', aptMirror: 'https://ci:Apt-Tok3n-Kx2@docker.mirror.example/linux' } });
    assert.equal(reachTargets(answers, 'ubuntu').dockerApt, 'https://docker.mirror.example/linux/ubuntu/gpg');
    assert.deepEqual(parseReach('dockerApt https://docker.mirror.example/linux/ubuntu/gpg http 401\n').map((r) => r.ok), [true]);
  });

  describe('the reachability script, run by bash against local servers', () => {
    let server: Server;
    let port: number;
    before(async () => {
      server = createServer((req, res) => {
        res.statusCode = req.url === '/v2/' ? 401 : 200;
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    after(() => server.close());

    it('tells an answering registry, a closed port and an unknown name apart', async () => {
      // The package mirror is read from apt's sources: point them at the local server too.
      const sources = join(mkdtempSync(join(tmpdir(), 'berth-apt-')), 'sources.list');
      // As on Ubuntu 22.04: a URL in a comment comes first.
      writeFileSync(sources, `# See http://help.ubuntu.com/community/UpgradeNotes for how to upgrade\ndeb http://127.0.0.1:${port}/debian trixie main\n`);
      const script = reachScript({ up: `http://127.0.0.1:${port}/v2/`, closed: 'http://127.0.0.1:1/v2/' }, [sources]);
      // Asynchronously: the server answering lives in this very process. With the options every script runs with.
      const { stdout: out } = await promisify(execFile)('bash', ['-c', `set -euo pipefail\n${script}`], { encoding: 'utf8' });
      const byName = Object.fromEntries(parseReach(out).map((r) => [r.name, r]));
      assert.equal(byName.up.ok, true);
      assert.equal(byName.up.detail, 'HTTP 401');
      assert.equal(byName.closed.ok, false);
      assert.equal(byName.closed.detail, 'no answer');
      assert.equal(byName.apt.url, `http://127.0.0.1:${port}/debian/`);
      assert.equal(byName.apt.ok, true);
    });

    it('without curl, tells an open port from a closed one', async () => {
      // A PATH with the tools the script uses, curl left out.
      const bin = mkdtempSync(join(tmpdir(), 'berth-nocurl-'));
      for (const tool of ['bash', 'sed', 'grep', 'head', 'getent', 'timeout']) {
        const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
        symlinkSync(found, join(bin, tool));
      }
      const script = reachScript({ up: `http://127.0.0.1:${port}/v2/`, closed: 'http://127.0.0.1:1/v2/' }, [join(bin, 'no-sources.list')]);
      const { stdout } = await promisify(execFile)(join(bin, 'bash'), ['-c', `set -euo pipefail\n${script}`], { encoding: 'utf8', env: { PATH: bin } });
      const byName = Object.fromEntries(parseReach(stdout).map((r) => [r.name, r]));
      assert.deepEqual([byName.up.ok, byName.up.detail], [true, 'port open (curl is not installed: HTTP not checked)']);
      assert.deepEqual([byName.closed.ok, byName.closed.detail], [false, 'port closed or filtered']);
    });

    it('reports a name that does not resolve', async function () {
      // In a network namespace of its own the lookup fails without any query leaving this machine.
      if (process.getuid?.() !== 0) this.skip();
      // No archive in the sources: the check falls back to Debian's, and the script goes on under `set -euo pipefail`.
      const empty = join(mkdtempSync(join(tmpdir(), 'berth-apt-')), 'sources.list');
      writeFileSync(empty, '# no deb line here: http://example.invalid/\n');
      const script = reachScript({ unknown: 'https://registry.berth.invalid/v2/' }, [empty]);
      const { stdout } = await promisify(execFile)('unshare', ['--net', 'bash', '-c', `set -euo pipefail\n${script}`], { encoding: 'utf8' });
      const byName = Object.fromEntries(parseReach(stdout).map((r) => [r.name, r]));
      assert.deepEqual(byName.unknown, { name: 'unknown', url: 'https://registry.berth.invalid/v2/', ok: false, detail: 'name not resolved' });
      assert.equal(byName.apt.url, 'http://deb.debian.org/debian/');
    });
  });
});

describe('admin phase', () => {
  it('creates the user, its keys and its sudo rule on a fresh host, then plans nothing', () => {
    const ctx = phaseContext(testAnswers(), 'vm1');
    const actions = assertConverges(adminPhase, ctx, factsFor(adminPhase, ctx));
    assert.deepEqual(
      actions.map((a) => (a.kind === 'run' || a.kind === 'guarded' ? a.title : a.kind === 'file' ? `file ${a.path} ${a.mode.toString(8)} ${a.owner ?? 'root'}` : a.kind)),
      ['packages', 'create the user berth', 'create /home/berth/.ssh', 'file /home/berth/.ssh/authorized_keys 600 berth', 'apply the sudo rule of berth'],
    );
    const keys = actions.find((a) => a.kind === 'file' && a.path.endsWith('authorized_keys'));
    assert.ok(keys?.kind === 'file' && keys.content.includes(`\n${TEST_LOCAL.adminKeys[0]}\n# END berth\n`));
  });

  it('writes the sudo rule last, checked by visudo, under the guard of a new login as the admin user', () => {
    const ctx = phaseContext(testAnswers(), 'vm1');
    const guarded = adminPhase.plan(ctx, factsFor(adminPhase, ctx)).at(-1);
    assert.deepEqual(guarded, {
      kind: 'guarded',
      title: 'apply the sudo rule of berth',
      backup: 'rm -rf /var/lib/berth/rollback/admin\ninstall -d -m 0700 /var/lib/berth/rollback/admin\nif [ -e /etc/sudoers.d/berth-berth ]; then cp -a /etc/sudoers.d/berth-berth /var/lib/berth/rollback/admin/sudoers; fi',
      actions: [{ kind: 'file', path: '/etc/sudoers.d/berth-berth', content: renderSudoers(ctx.answers.admin), mode: 0o440, validate: ['visudo', '-cf'] }],
      revert: 'if [ -e /var/lib/berth/rollback/admin/sudoers ]; then cp -a /var/lib/berth/rollback/admin/sudoers /etc/sudoers.d/berth-berth; else rm -f /etc/sudoers.d/berth-berth; fi',
      risk: 'with /etc/sudoers.d/berth-berth a new SSH login as berth could not run commands as root through sudo',
      proofUser: 'berth',
      effects: [{ probe: 'revert', code: 0, out: '' }],
    });
  });

  it("connected as a cloud image's login user that becomes the admin user with a password: the password first, the rule that asks for it last", () => {
    // debian's NOPASSWD rule (90-cloud-init-users) keeps sudo -n working until berth's rule, read after it, asks for the password.
    const answers = testAnswers({ ssh: { user: 'debian' }, admin: { user: 'debian', password: 'Adm1n-Pw-Quartz-7731' } });
    const ctx = phaseContext(answers, 'vm1', { loginUser: 'debian' });
    const facts = factsFor(adminPhase, ctx, { packages: { sudo: '1.9' }, probes: { account: { code: 0, out: '/home/debian:/bin/bash\n' }, sshDir: { code: 0, out: '700 debian debian\n' } } });
    const actions = assertConverges(adminPhase, ctx, facts);
    assert.deepEqual(actions.map((a) => (a.kind === 'run' || a.kind === 'guarded' ? a.title : a.kind)), ['file', 'set the password of debian', 'apply the sudo rule of debian']);
    const guarded = actions[2];
    assert.ok(guarded.kind === 'guarded' && guarded.actions[0].kind === 'file');
    assert.equal(guarded.proofUser, 'debian');
    assert.match(guarded.actions[0].content, /^debian ALL=\(ALL:ALL\) ALL$/m);
  });

  it('applies and confirms the sudo rule again when a killed run left its revert pending', () => {
    const ctx = phaseContext(testAnswers(), 'vm1');
    const converged = simulate(factsFor(adminPhase, ctx), adminPhase.plan(ctx, factsFor(adminPhase, ctx)));
    assert.deepEqual(adminPhase.plan(ctx, converged), []);
    const pending = { ...converged, probes: { ...converged.probes, revert: { code: 0, out: 'pending\n' } } };
    assert.deepEqual(assertConverges(adminPhase, ctx, pending).map((a) => a.kind), ['guarded']);
  });

  it('finds the admin users of earlier runs by the first line of berth\'s sudoers files only (bash and sed on real files)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sudoers-'));
    writeFileSync(join(dir, 'berth-old'), renderSudoers(testAnswers({ admin: { user: 'old' } }).admin));
    writeFileSync(join(dir, 'berth-ops_2'), renderSudoers(testAnswers({ admin: { user: 'ops_2' } }).admin));
    writeFileSync(join(dir, 'berth-mine'), '# my own file, named like berth\'s\nmine ALL=(ALL) ALL\n');
    writeFileSync(join(dir, 'berth-later'), `mine ALL=(ALL) ALL\n${renderSudoers(testAnswers({ admin: { user: 'later' } }).admin)}`);
    writeFileSync(join(dir, '90-cloud-init-users'), 'debian ALL=(ALL) NOPASSWD:ALL\n');
    const probe = previousAdminsProbes.previousAdmins.replace('/etc/sudoers.d/', `${dir}/`);
    const found = spawnSync('bash', ['-c', probe], { encoding: 'utf8' });
    assert.equal(found.status, 0);
    assert.deepEqual(found.stdout.split('\n').sort(), ['', 'old', 'ops_2']);
    const none = spawnSync('bash', ['-c', previousAdminsProbes.previousAdmins.replace('/etc/sudoers.d/', `${dir}/nothing-`)], { encoding: 'utf8' });
    assert.deepEqual([none.status, none.stdout], [0, '']);
  });

  it('writes a sudo rule without password for key-only admins, with one when admin.password is set', () => {
    assert.equal(renderSudoers({ user: 'berth', authorizedKeys: [] }), '# Managed by berth: sudo rights of the admin user berth. Changes here are overwritten by the next `berth install`.\nberth ALL=(ALL:ALL) NOPASSWD:ALL\n');
    const answers = testAnswers({ admin: { password: 'Adm1n-Pw-Quartz-7731' } });
    assert.match(renderSudoers(answers.admin), /^berth ALL=\(ALL:ALL\) ALL$/m);
  });

  it('sets the admin password through stdin only, and not again while it matches', () => {
    const answers = testAnswers({ admin: { password: 'Adm1n-Pw-Quartz-7731' } });
    const ctx = phaseContext(answers, 'vm1');
    const actions = assertConverges(adminPhase, ctx, factsFor(adminPhase, ctx));
    const setPassword = actions.find((a) => a.kind === 'run' && a.title === 'set the password of berth');
    assert.ok(setPassword?.kind === 'run');
    assert.ok(!setPassword.script.includes('Adm1n-Pw-Quartz-7731'));
    assert.equal(setPassword.stdin?.reveal(), 'berth:Adm1n-Pw-Quartz-7731\n');
    const set = simulate(factsFor(adminPhase, ctx), actions);
    const renamed = phaseContext(testAnswers({ admin: { user: 'ops', password: 'Adm1n-Pw-Quartz-7731' } }), 'vm1');
    const marker = set.probes.password;
    assert.ok(adminPhase.plan(renamed, factsFor(adminPhase, renamed, { probes: { password: marker } })).some((a) => a.kind === 'run' && a.title === 'set the password of ops'), 'a renamed admin user gets the same password set too');
    assert.equal(passwordDigest('pw', 'salt'), passwordDigest('pw', 'salt'));
    assert.notEqual(passwordDigest('pw', 'salt'), passwordDigest('pw2', 'salt'));
  });

  it("keeps other people's keys of an existing user, and owns only its block", () => {
    const ctx = phaseContext(testAnswers({ admin: { user: 'debian' } }), 'vm1');
    const theirs = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 colleague@desk\n';
    const facts = factsFor(adminPhase, ctx, {
      probes: { account: { code: 0, out: '/home/debian:/bin/bash\n' }, sshDir: { code: 0, out: '700 debian debian\n' } },
      packages: { sudo: '1.9' },
      files: { '/home/debian/.ssh/authorized_keys': { content: theirs, mode: 0o600, owner: 'debian', group: 'debian' } },
    });
    const actions = assertConverges(adminPhase, ctx, facts);
    const keys = actions.find((a) => a.kind === 'file' && a.path.endsWith('authorized_keys'));
    assert.ok(keys?.kind === 'file');
    assert.equal(keys.content, `${theirs}# BEGIN berth\n# berth: the keys of admin.authorizedKeys. Lines outside this block are kept.\n${TEST_LOCAL.adminKeys[0]}\n# END berth\n`);
  });

  it('refuses an existing user whose home berth does not manage', () => {
    const ctx = phaseContext(testAnswers(), 'vm1');
    const facts = factsFor(adminPhase, ctx, { probes: { account: { code: 0, out: '/srv/berth:/bin/sh\n' } } });
    assert.throws(() => adminPhase.plan(ctx, facts), /exists with the home directory \/srv\/berth/);
  });
});

describe('SSH hardening phase', () => {
  const probes = { include: { code: 0, out: 'yes\n' }, rootPassword: { code: 0, out: 'P\n' }, rootShell: { code: 0, out: '/bin/bash\n' } };

  it('renders the drop-in from the answers', () => {
    assert.equal(
      renderSshdDropIn({ port: 2222, rootLogin: false, passwordLogin: false, rootNologin: true, lockRootPassword: true }),
      [
        '# Managed by berth: SSH hardening (sshHardening in the answers file). Changes here are overwritten by the next `berth install`.',
        'Port 2222',
        'PermitRootLogin no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'PermitEmptyPasswords no',
        'MaxAuthTries 4',
        'X11Forwarding no',
        '',
      ].join('\n'),
    );
  });

  it('proves an unmoved sshd where berth reached it (the engine picks the connection\'s port), a moved one on the new port', () => {
    const guardedOf = (info: { sshPort: number }) => {
      const ctx = phaseContext(testAnswers({ sshHardening: { port: 22 } }), 'vm1', info);
      return sshPhase.plan(ctx, factsFor(sshPhase, ctx, { probes })).find((a) => a.kind === 'guarded');
    };
    const unmoved = guardedOf({ sshPort: 22 });
    assert.ok(unmoved?.kind === 'guarded');
    assert.equal(unmoved.proofPort, undefined);
    const moved = guardedOf({ sshPort: 2200 });
    assert.ok(moved?.kind === 'guarded');
    assert.equal(moved.proofPort, 22);
  });

  it('locks root, applies the drop-in under the lockout guard with sshd -t before the reload, then plans nothing', () => {
    const ctx = phaseContext(testAnswers({ sshHardening: { port: 2222, rootNologin: true } }), 'vm1');
    const actions = assertConverges(sshPhase, ctx, factsFor(sshPhase, ctx, { probes }));
    assert.deepEqual(actions.map((a) => (a.kind === 'run' || a.kind === 'guarded' ? a.title : a.kind)), ["lock root's password", 'apply the sshd settings', "set root's shell to /usr/sbin/nologin"]);
    const guarded = actions[1];
    assert.ok(guarded.kind === 'guarded');
    assert.equal(guarded.proofPort, 2222);
    assert.deepEqual(guarded.actions.map((a) => (a.kind === 'run' ? a.title : a.kind === 'service' ? `${a.op} ${a.unit}` : `${a.kind} ${'path' in a ? a.path : ''}`)), [
      'file /etc/ssh/sshd_config.d/00-berth.conf',
      'check the sshd configuration (sshd -t)',
      'check that sshd would take the hardened settings (sshd -T)',
      'reload ssh.service',
      'file /var/lib/berth/applied/sshd',
    ]);
    assert.match(guarded.revert, /rm -f \/etc\/ssh\/sshd_config.d\/00-berth.conf/);
    assert.equal(guarded.risk, 'with Port 2222, PermitRootLogin no, PasswordAuthentication no a new SSH login as berth on port 2222 did not work');
  });

  it("leaves root's password as it is with sshHardening.lockRootPassword: false", () => {
    const ctx = phaseContext(testAnswers({ sshHardening: { rootLogin: true, lockRootPassword: false } }), 'vm1');
    const actions = assertConverges(sshPhase, ctx, factsFor(sshPhase, ctx, { probes }));
    assert.deepEqual(actions.map((a) => (a.kind === 'run' || a.kind === 'guarded' ? a.title : a.kind)), ['apply the sshd settings']);
  });

  it("removes berth's sudo rule and keys block of former admin users, never the admin user's nor those of the user berth is logged in as", () => {
    const listed = { code: 0, out: 'old\nberth\nops\ndebian\n' };
    const ctx = phaseContext(testAnswers(), 'vm1', { loginUser: 'debian' });
    const facts = factsFor(sshPhase, ctx, { probes: { ...probes, rootPassword: { code: 0, out: 'L\n' }, previousAdmins: listed } });
    const actions = assertConverges(sshPhase, ctx, facts);
    const cleanup = actions.at(-1);
    assert.deepEqual(cleanup, {
      kind: 'run',
      title: "remove berth's sudo rule and keys of the former admin users old, ops",
      script: [
        "if [ -f /home/old/.ssh/authorized_keys ] && [ ! -L /home/old/.ssh/authorized_keys ]; then sed -i '/^# BEGIN berth$/,/^# END berth$/d' /home/old/.ssh/authorized_keys; fi",
        'rm -f -- /etc/sudoers.d/berth-old',
        "if [ -f /home/ops/.ssh/authorized_keys ] && [ ! -L /home/ops/.ssh/authorized_keys ]; then sed -i '/^# BEGIN berth$/,/^# END berth$/d' /home/ops/.ssh/authorized_keys; fi",
        'rm -f -- /etc/sudoers.d/berth-ops',
      ].join('\n'),
      effects: [{ probe: 'previousAdmins', code: 0, out: 'berth\ndebian\n' }],
    });
    const onlyCurrent = factsFor(sshPhase, ctx, { probes: { ...probes, rootPassword: { code: 0, out: 'L\n' }, previousAdmins: { code: 0, out: 'berth\ndebian\n' } } });
    assert.ok(!sshPhase.plan(ctx, onlyCurrent).some((a) => a.kind === 'run' && a.title.startsWith("remove berth's")));
  });

  it("the cleanup's sed takes out berth's block only and keeps the file's other keys (bash on a real file)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-keys-'));
    const keys = join(dir, 'authorized_keys');
    const theirs = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 colleague@desk\n';
    writeFileSync(keys, `${theirs}# BEGIN berth\n${TEST_LOCAL.adminKeys[0]}\n# END berth\nssh-ed25519 AAAAlater me@later\n`);
    const ctx = phaseContext(testAnswers(), 'vm1');
    const cleanup = sshPhase.plan(ctx, factsFor(sshPhase, ctx, { probes: { ...probes, previousAdmins: { code: 0, out: 'old\n' } } })).at(-1);
    assert.ok(cleanup?.kind === 'run');
    const script = cleanup.script.replaceAll('/home/old/.ssh/authorized_keys', keys).replace('/etc/sudoers.d/berth-old', join(dir, 'berth-old'));
    assert.equal(spawnSync('bash', ['-c', script]).status, 0);
    assert.equal(readFileSync(keys, 'utf8'), `${theirs}ssh-ed25519 AAAAlater me@later\n`);
  });

  it('restarts ssh.socket where sshd is socket-activated (Ubuntu 24.04)', () => {
    const ctx = phaseContext(testAnswers(), 'vm1', { osId: 'ubuntu', osVersion: '24.04' });
    const actions = sshPhase.plan(ctx, factsFor(sshPhase, ctx, { probes, units: { 'ssh.socket': { active: 'active', enabled: 'enabled' } } }));
    const guarded = actions.find((a) => a.kind === 'guarded');
    assert.ok(guarded?.kind === 'guarded');
    assert.ok(guarded.actions.some((a) => a.kind === 'service' && a.unit === 'ssh.socket' && a.op === 'restart'));
  });

  it('re-applies when a run stopped between writing the drop-in and reloading sshd', () => {
    const ctx = phaseContext(testAnswers(), 'vm1');
    const facts = factsFor(sshPhase, ctx, { probes: { ...probes, rootPassword: { code: 0, out: 'L\n' } } });
    const done = sshPhase.plan(ctx, facts);
    const written = { ...facts, files: { ...facts.files, '/etc/ssh/sshd_config.d/00-berth.conf': { content: renderSshdDropIn(ctx.answers.sshHardening), mode: 0o644, owner: 'root', group: 'root' } } };
    const resumed = sshPhase.plan(ctx, written);
    assert.equal(resumed.length, 1);
    assert.ok(resumed[0].kind === 'guarded' && resumed[0].actions.some((a) => a.kind === 'service'), 'the reload still happens');
    assert.equal(done.length, 1);
  });

  it('applies and confirms again when a killed run left its revert pending', () => {
    const ctx = phaseContext(testAnswers(), 'vm1');
    const converged = simulate(factsFor(sshPhase, ctx, { probes }), sshPhase.plan(ctx, factsFor(sshPhase, ctx, { probes })));
    assert.deepEqual(sshPhase.plan(ctx, converged), []);
    const pending = { ...converged, probes: { ...converged.probes, revert: { code: 0, out: 'pending\n' } } };
    const again = assertConverges(sshPhase, ctx, pending);
    assert.deepEqual(again.map((a) => a.kind), ['guarded']);
  });

  describe('the check of the settings sshd would take, run against the real sshd with a configuration of its own', () => {
    const sshd = '/usr/sbin/sshd';
    const hardening = { port: 2222, rootLogin: false, passwordLogin: false, rootNologin: false, lockRootPassword: true };
    /** sshd_config as Debian and Ubuntu ship it (the Include first), with `before` ahead of it, `after` behind it. */
    function check(h: typeof hardening, { before = '', after = '', earlierDropIn = '' } = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'berth-sshd-'));
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
      mkdirSync(join(dir, 'sshd_config.d'));
      writeFileSync(join(dir, 'sshd_config.d', '00-berth.conf'), renderSshdDropIn(h));
      if (earlierDropIn) writeFileSync(join(dir, 'sshd_config.d', '00-aaa.conf'), earlierDropIn);
      writeFileSync(join(dir, 'sshd_config'), `${before}Include ${dir}/sshd_config.d/*.conf\nUsePAM yes\nX11Forwarding yes\n${after}`);
      const script = effectiveSettingsCheckScript(h, [sshd, '-f', join(dir, 'sshd_config'), '-h', join(dir, 'host_key')]);
      const result = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], { encoding: 'utf8' });
      return { code: result.status, stderr: result.stderr };
    }

    before(function () {
      if (!existsSync(sshd)) this.skip();
    });

    it('passes with the drop-in first, as on Debian and Ubuntu, whatever comes after the Include', () => {
      assert.deepEqual(check(hardening, { after: 'PermitRootLogin yes\nPasswordAuthentication yes\n' }), { code: 0, stderr: '' });
      // sshd -T calls prohibit-password without-password.
      assert.deepEqual(check({ ...hardening, rootLogin: true, passwordLogin: true }), { code: 0, stderr: '' });
    });

    it('fails on a setting read before the drop-in, and on a second Port line', () => {
      const early = check(hardening, { before: 'PasswordAuthentication yes\n', earlierDropIn: 'PermitRootLogin yes\n' });
      assert.equal(early.code, 1);
      assert.match(early.stderr, /^berth: sshd would run with permitrootlogin yes, not permitrootlogin no: a file read before \/etc\/ssh\/sshd_config\.d\/00-berth\.conf sets it/m);
      assert.match(early.stderr, /^berth: sshd would run with passwordauthentication yes, not passwordauthentication no:/m);
      const ports = check(hardening, { after: 'Port 22\n' });
      assert.equal(ports.code, 1);
      assert.equal(ports.stderr, 'berth: sshd would listen on port(s) 22 2222, not only on 2222: Port lines add up, remove the one outside /etc/ssh/sshd_config.d/00-berth.conf\n');
    });
  });

  it('refuses an sshd_config that does not read drop-ins', () => {
    const ctx = phaseContext(testAnswers(), 'vm1');
    assert.throws(() => sshPhase.plan(ctx, factsFor(sshPhase, ctx, { probes: { ...probes, include: { code: 1, out: '' } } })), /does not include \/etc\/ssh\/sshd_config\.d/);
  });
});

describe('preflight refuses a Docker source the host cannot use, before any change', () => {
  it('Debian 12 with docker.source distro (no Compose v2 there)', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'distro' } }), 'vm1', { osVersion: '12', osCodename: 'bookworm' });
    const facts = factsFor(preflightPhase, ctx, { probes: { root: { code: 0, out: '0\n' }, clock: { code: 0, out: 'yes\n' }, reach: { code: 0, out: 'dockerHub https://registry-1.docker.io/v2/ http 401\n' } } });
    assert.throws(() => preflightPhase.plan(ctx, facts), /Debian 12 packages only Docker Compose v1/);
  });
});

describe('the backup of a guarded change (every guarded action gets it from the executor)', () => {
  /** Runs the backup with a stand-in systemctl that says whether the phase's revert timer is active. */
  function runBackup(timerActive: boolean): { saved: boolean; out: string } {
    const dir = mkdtempSync(join(tmpdir(), 'berth-backup-'));
    writeFileSync(join(dir, 'systemctl'), `#!/bin/sh\n[ "$*" = "is-active --quiet berth-revert-ssh.timer" ] && exit ${timerActive ? 0 : 3}\nexit 1\n`);
    chmodSync(join(dir, 'systemctl'), 0o755);
    const script = backupUnlessRevertPending('ssh', `set -euo pipefail\ntouch ${join(dir, 'saved')}`);
    const result = spawnSync('bash', ['-c', script], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return { saved: existsSync(join(dir, 'saved')), out: result.stdout };
  }

  it('saves the current state when no change waits for its revert', () => {
    assert.deepEqual(runBackup(false), { saved: true, out: '' });
  });

  it('keeps what was saved before a change a killed run left unconfirmed', () => {
    assert.deepEqual(runBackup(true), { saved: false, out: 'an unconfirmed change waits for its automatic revert: keeping the state saved before it\n' });
  });

});

