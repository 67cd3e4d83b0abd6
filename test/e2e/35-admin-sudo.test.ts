import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { adminPhase } from '../../src/phases/admin';
import { preflightPhase } from '../../src/phases/preflight';
import { sshPhase } from '../../src/phases/ssh';
import { writeAnswersFile } from '../../src/sandbox/answers';
import { execIn, recreateTopologyVm, upTopology, type Topology } from '../../src/sandbox/topology';
import { e2eAnswers, e2eSpec, TOPOLOGY_TIMEOUT_MS } from './harness';
import { runSomePhases } from './installed';

/**
 * A VM prepared like a cloud image (vm3, outside the installed platform):
 * berth logs in as `debian`, whose sudo needs no password by cloud-init's
 * rule, and makes it the admin user with a password. sudo must work at every
 * moment: a rerun changes nothing and a brand-new login still gets root.
 * Then admin.user is renamed: berth removes its own sudo rule and keys block
 * of debian, and leaves the account, its other keys and cloud-init's rule.
 */

const PASSWORD = 'Adm1n-Pw-Quartz-7731';

describe('admin user = the image login user, with a password (e2e, vm3)', function () {
  this.timeout(TOPOLOGY_TIMEOUT_MS);
  let topology: Topology;

  async function sh(script: string): Promise<string> {
    const result = await execIn(topology.vms.vm3.container, `set -e\n${script}`);
    assert.equal(result.code, 0, `${script}\n→ exit ${result.code}\n${result.stdout}${result.stderr}`);
    return result.stdout;
  }

  function answers(name: string, admin: { user: string; password: string }, ssh: Record<string, unknown>): string {
    const vm3 = topology.vms.vm3;
    const file = `${topology.spec.stateDir}/answers/${name}`;
    writeAnswersFile(file, e2eAnswers(topology, { hosts: [{ name: 'vm3', address: vm3.ip, hostKey: vm3.hostKey, roles: ['registry', 'app', 'lb', 'db'] }], dns: { mode: 'direct', upstreams: [topology.smartdnsIp] }, ssh, admin }), 'vm3 alone, as a cloud image: debian logs in by key.');
    return file;
  }

  const install = (file: string, phases = [preflightPhase, adminPhase]) => runSomePhases(file, phases);

  /** sudo over a brand-new OpenSSH login as `user`: without a password, and with `password` on stdin. */
  function sudoByNewLogin(user: string, password: string): { nopasswd: boolean; withPassword: boolean } {
    const vm3 = topology.vms.vm3;
    const run = (command: string, input = '') => {
      const r = spawnSync('ssh', ['-i', topology.sshKeyPath, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', `${user}@${vm3.ip}`, command], { input, encoding: 'utf8', timeout: 30_000 });
      return r.status === 0;
    };
    return { nopasswd: run('sudo -n true'), withPassword: run("sudo -S -k -p '' true", `${password}\n`) };
  }

  before(async function () {
    topology = await upTopology(e2eSpec(3));
    await recreateTopologyVm(topology, 'vm3');
    // What a Debian cloud image has: the login user with the key, no password, NOPASSWD sudo from cloud-init.
    await sh(
      [
        'useradd --create-home --shell /bin/bash debian',
        'install -d -m 0700 -o debian -g debian /home/debian/.ssh',
        'install -m 0600 -o debian -g debian /root/.ssh/authorized_keys /home/debian/.ssh/authorized_keys',
        "echo 'debian ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-cloud-init-users",
        'chmod 0440 /etc/sudoers.d/90-cloud-init-users',
      ].join('\n'),
    );
  });

  // A pristine vm3 for the specs after this one.
  after(async function () {
    if (topology) await recreateTopologyVm(topology, 'vm3');
  });

  it('installs as debian with admin.password, a rerun changes nothing, and sudo works by a new login (with the password)', async function () {
    const file = answers('cloud-user.yaml', { user: 'debian', password: PASSWORD }, { user: 'debian' });
    const first = await install(file);
    assert.ok(first.ok, first.log);
    assert.equal(await sh('passwd -S debian | cut -d" " -f2'), 'P\n', 'the password is set');
    assert.equal(await sh('cat /etc/sudoers.d/berth-debian | tail -n1'), 'debian ALL=(ALL:ALL) ALL\n');
    const again = await install(file);
    assert.ok(again.ok, again.log);
    assert.deepEqual(again.summary.filter((r) => r.changed > 0), [], 'a rerun changes nothing');
    assert.deepEqual(sudoByNewLogin('debian', PASSWORD), { nopasswd: false, withPassword: true });
  });

  it("renaming admin.user removes berth's sudo rule and keys block of debian, nothing else, once connected as the new admin user", async function () {
    const before = await sh('cat /home/debian/.ssh/authorized_keys');
    assert.match(before, /# BEGIN berth/);
    // debian still logs in; its sudo asks for the password berth set (ssh.sudoPassword), until berth's rule is gone.
    const file = answers('renamed.yaml', { user: 'ops', password: PASSWORD }, { user: 'debian', sudoPassword: PASSWORD });
    const run = await install(file, [preflightPhase, adminPhase, sshPhase]);
    assert.ok(run.ok, run.log);
    assert.match(run.log, /remove berth's sudo rule and keys of the former admin user debian/);
    assert.equal((await execIn(topology.vms.vm3.container, 'test -e /etc/sudoers.d/berth-debian')).code, 1, "berth's rule for debian is gone");
    assert.equal(await sh('cat /etc/sudoers.d/90-cloud-init-users'), 'debian ALL=(ALL) NOPASSWD:ALL\n', "cloud-init's rule stays");
    assert.equal(await sh('cat /home/debian/.ssh/authorized_keys'), before.slice(0, before.indexOf('# BEGIN berth')), 'the keys berth did not write stay');
    assert.equal(await sh('getent passwd debian | cut -d: -f1'), 'debian\n', 'the account stays');
    assert.deepEqual(sudoByNewLogin('ops', PASSWORD), { nopasswd: false, withPassword: true });
    const again = await install(file, [preflightPhase, adminPhase, sshPhase]);
    assert.ok(again.ok, again.log);
    assert.deepEqual(again.summary.filter((r) => r.changed > 0), [], 'a rerun changes nothing');
  });
});
