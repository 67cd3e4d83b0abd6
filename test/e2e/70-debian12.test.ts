import assert from 'node:assert/strict';
import { aptRepoDocker } from '../../src/sandbox/answers';
import { e2eTopology, TOPOLOGY_TIMEOUT_MS, type E2eTopology } from './harness';
import { headerValues } from './apps';
import { heyOutcome } from './hey';
import { until } from './wait';
import { INSTALL_TIMEOUT_MS, runBerth, type BerthRun } from './installed';

/**
 * Debian 12, the original write-up's OS, on a mixed cluster: vm1 (app, lb,
 * db) runs bookworm, vm2 (registry, dns) trixie. Docker comes from the
 * stand-in of Docker's apt repository (its bookworm suite) through the smart
 * DNS, as `docker.source: official` with a mirror does for a user. The slow
 * drills of the two-VM stack run here once more, on Debian 12: a killed app
 * container under load, a reboot, a converged rerun.
 */
describe('e2e: Debian 12 (vm1) and Debian 13 (vm2) in one cluster', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  const APP = 'docker compose --file /opt/berth/app/app/compose.yaml';
  const DB = 'docker compose --file /opt/berth/app/db/compose.yaml';
  let topo: E2eTopology;
  let official: string;
  let vm1: string;
  let install: BerthRun;
  /** The cluster of vm1 and vm2 only: a vm3 left by earlier specs (Debian 13, Debian's Docker) is not part of it. */
  const twoHosts = () => ({ hosts: topo.answers().hosts.filter((h) => h.name === 'vm1' || h.name === 'vm2') });
  const berth = (command: string, answers: string) => runBerth([command, '--answers', answers, '--yes', '--output', 'plain']);
  const synced = async () => {
    const r = await topo.exec('vm1', `for n in db1 db2 db3; do ${DB} exec -T -u mysql $n mariadb --protocol=socket -umysql -N -B -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_local_state_comment'" 2>/dev/null || echo down; done`);
    return r.stdout.trim().split('\n').every((line) => line.trim() === 'Synced');
  };

  before(async function () {
    this.timeout(TOPOLOGY_TIMEOUT_MS + INSTALL_TIMEOUT_MS);
    topo = await e2eTopology({ suites: { vm1: 'bookworm' } });
    await Promise.all(['vm1', 'vm2'].map((vm) => topo.recreate(vm)));
    vm1 = topo.vms.vm1.ip;
    official = topo.writeAnswers({ ...twoHosts(), docker: aptRepoDocker(topo.aptRepo!) }, 'debian12.yaml');
  });

  it('boots vm1 as a fresh Debian 12 VM and vm2 as Debian 13', async () => {
    const release = async (vm: string) => (await topo.sshRoot(vm, '. /etc/os-release; echo "$VERSION_ID $VERSION_CODENAME"; systemctl is-system-running')).stdout.trim();
    assert.equal(await release('vm1'), '12 bookworm\nrunning');
    assert.equal(await release('vm2'), '13 trixie\nrunning');
  });

  it("refuses docker.source: distro on Debian 12 before changing anything, naming the host and the source to use", async () => {
    const distro = topo.writeAnswers(twoHosts(), 'debian12-distro.yaml');
    const r = await berth('install', distro);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /vm1/);
    assert.match(r.output, /Debian 12 packages only Docker Compose v1/);
    assert.match(r.output, /Set docker\.source: official/);
    assert.doesNotMatch(r.output, /\n\s+at .*\.js:\d+/, 'no stack trace');
    const untouched = await topo.sshRoot('vm1', 'test ! -e /etc/docker && test ! -e /opt/berth && ! command -v docker && echo untouched');
    assert.equal(untouched.stdout.trim(), 'untouched', untouched.stdout + untouched.stderr);
  });

  it("installs with docker.source: official from the mirror's bookworm suite: Docker's packages, Compose v2, the stack answering", async () => {
    install = await berth('install', official);
    assert.equal(install.code, 0, install.output);
    assert.match(install.output, new RegExp(`The app answers at http://${vm1.replace(/\./g, '\\.')}/`));
    const packages = await topo.exec('vm1', "dpkg-query -W -f '${Package} ${Version}\\n' docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin");
    assert.equal(packages.code, 0, packages.stderr);
    const version = Object.fromEntries(packages.stdout.trim().split('\n').map((line) => line.split(' ')));
    assert.equal(version['docker-ce'], '5:20.10.24-1~debian.12~bookworm');
    assert.match(version['docker-compose-plugin']!, /^2\.\d+\.\d+-1~debian\.12~bookworm$/);
    assert.deepEqual(Object.keys(version).sort(), ['containerd.io', 'docker-buildx-plugin', 'docker-ce', 'docker-ce-cli', 'docker-compose-plugin']);
    const compose = await topo.exec('vm1', "docker compose version --short; grep -h '^Suites:' /etc/apt/sources.list.d/docker.sources");
    assert.deepEqual(compose.stdout.trim().split('\n').map((line) => line.replace(/^v?(2)\..*/, '$1')), ['2', 'Suites: bookworm'], compose.stdout + compose.stderr);
    assert.deepEqual(await headerValues(topo, `http://${vm1}/`, 'X-Served-By', 6), ['app-1', 'app-2']);
    assert.ok(await synced(), 'three Synced Galera nodes on Debian 12');
  });

  it('keeps answering through a killed app container under load, with no failed request', async () => {
    const running = topo.exec('outsider', `hey -z 20s -c 32 -t 10 http://${vm1}/`);
    await new Promise((resolve) => setTimeout(resolve, 7000));
    const killed = await topo.exec('vm1', `docker kill $(${APP} ps --quiet app-1)`);
    assert.equal(killed.code, 0, killed.stderr);
    const r = await running;
    const outcome = heyOutcome(r.stdout);
    assert.ok((outcome.statuses['200'] ?? 0) > 100, r.stdout);
    assert.deepEqual(outcome, { statuses: { 200: outcome.statuses['200'] }, errors: 0 }, r.stdout);
    await until('app-1 back and healthy', async () => (await topo.exec('vm1', `docker inspect --format '{{.State.Health.Status}}' $(${APP} ps --quiet app-1)`)).stdout.trim() === 'healthy', 90);
  });

  it('comes back after both VMs restart, without a berth run, firewall intact; then a rerun changes nothing', async () => {
    await Promise.all(['vm1', 'vm2'].map((vm) => topo.reboot(vm)));
    await until('the site answers 200 after the reboot', async () => (await topo.exec('outsider', `curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://${vm1}/healthz`)).stdout === '200', 180);
    await until('all three nodes Synced', synced, 120);
    assert.equal(await topo.probe('outsider', vm1, 3306), false, 'the database is not reachable from outside');
    assert.equal(await topo.probe('outsider', topo.vms.vm2.ip, 5000), false, 'the firewall is back on vm2');
    const again = await berth('install', official);
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
  });
});
