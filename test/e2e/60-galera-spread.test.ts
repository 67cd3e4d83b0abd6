import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eTopology, TOPOLOGY_TIMEOUT_MS, type E2eTopology } from './harness';
import { runProgram } from '../../src/sandbox/host-command';
import { headerValues } from './apps';
import { heyOutcome } from './hey';
import { until } from './wait';
import { INSTALL_TIMEOUT_MS, runBerth } from './installed';

/**
 * Galera spread over three db hosts, one node each (render/db.ts galeraLayout):
 * vm1 app, lb and db1; vm2 registry and db2; vm3 db3. Three pristine VMs and a
 * fresh install of their own (after the specs of the shared two-VM install),
 * then the drills a dead VM brings: the cluster keeps its quorum, the proxy
 * next to the app fails over to another host, a VM that comes back rejoins,
 * and after all three VMs restart the nodes find the most advanced one from
 * the positions they serve each other on :9200.
 */
describe('e2e: Galera spread over three db hosts', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  const ROLES: Record<string, string[]> = { vm1: ['app', 'lb', 'db'], vm2: ['registry', 'dns', 'db'], vm3: ['db'] };
  const VMS = Object.keys(ROLES);
  const DB = 'docker compose --file /opt/berth/app/db/compose.yaml';
  let topo: E2eTopology;
  let answers: string;
  let vm1: string;
  let install: Awaited<ReturnType<typeof runBerth>>;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  before(async function () {
    this.timeout(TOPOLOGY_TIMEOUT_MS + INSTALL_TIMEOUT_MS);
    topo = await e2eTopology({ vms: 3 });
    await Promise.all(VMS.map((vm) => topo.recreate(vm)));
    const hosts = topo.answers().hosts.map((h) => ({ ...h, roles: ROLES[h.name] as never }));
    answers = topo.writeAnswers({ hosts }, 'spread.yaml');
    vm1 = topo.vms.vm1.ip;
    install = await runBerth(['install', '--answers', answers, '--yes', '--output', 'plain']);
  });

  /** Each VM's node as it answers itself: "Synced 3 <its wsrep_node_address>", or "down". */
  async function nodes(vms = VMS): Promise<string[]> {
    return Promise.all(
      vms.map(async (vm) => {
        const node = `db${VMS.indexOf(vm) + 1}`;
        const r = await topo.exec(vm, `${DB} exec -T -u mysql ${node} mariadb --protocol=socket -umysql -N -B -e "SELECT CONCAT_WS(' ', (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_local_state_comment'), (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_cluster_size'), @@wsrep_node_address)" 2>/dev/null`);
        return r.stdout.trim() || 'down';
      }),
    );
  }
  const synced = (vms = VMS, size = 3) => async () => (await nodes(vms)).every((line) => line.startsWith(`Synced ${size} `));

  /** Numbered writes through the LB (on `lb`) from `from` for `seconds`; the numbers acknowledged, and how many of them in the last `tail` seconds. */
  async function writes(from: number, seconds: number, tail = 10, lb = vm1): Promise<number[] & { late: number }> {
    const r = await topo.exec('outsider', `end=$(($(date +%s) + ${seconds})); i=${from}; while [ "$(date +%s)" -lt "$end" ]; do c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST http://${lb}/writes/$i); case $c in 200|201) echo "$i $(( end - $(date +%s) ))" ;; esac; i=$((i + 1)); done`);
    const lines = r.stdout.trim().split('\n').filter(Boolean).map((line) => line.split(' ').map(Number));
    return Object.assign(lines.map(([n]) => n), { late: lines.filter(([, left]) => left <= tail).length });
  }

  async function assertAllPresent(acked: number[], vms = VMS): Promise<void> {
    for (const vm of vms) {
      const node = `db${VMS.indexOf(vm) + 1}`;
      const r = await topo.exec(vm, `${DB} exec -T ${node} sh -c 'MYSQL_PWD="$(cat /run/secrets/db_root_password)" mariadb -uroot -N -B -e "SELECT GROUP_CONCAT(n ORDER BY n) FROM app.counter_numberedwrite"'`);
      assert.equal(r.code, 0, r.stderr);
      const stored = new Set(r.stdout.trim() === 'NULL' ? [] : r.stdout.trim().split(',').map(Number));
      assert.deepEqual(acked.filter((n) => !stored.has(n)), [], `${node} on ${vm} lacks acknowledged writes`);
    }
  }

  const healthz = async () => (await topo.exec('outsider', `curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://${vm1}/healthz`)).stdout === '200';

  it('installs one Synced node on each db host, at its own address, the proxy next to the app; the plan says they survive a dead VM', async () => {
    assert.equal(install.code, 0, install.output);
    assert.match(install.output, /one node on each of the 3 db hosts: they survive a dead VM/);
    assert.match(install.stdout, new RegExp(`The app answers at http://${vm1.replace(/\./g, '\\.')}/`));
    assert.deepEqual(
      await nodes(),
      VMS.map((vm) => `Synced 3 ${topo.vms[vm].ip}`),
    );
    const proxy = await topo.exec('vm1', "docker ps --filter label=com.docker.compose.project=app-app --filter label=com.docker.compose.service=dbproxy --format '{{.State}}'");
    assert.equal(proxy.stdout.trim(), 'running');
    assert.deepEqual(await servedBy(vm1), ['app-1', 'app-2']);
  });

  /** The replicas that answer six requests to the LB at `lb`. */
  const servedBy = (lb: string) => headerValues(topo, `http://${lb}/`, 'X-Served-By', 6);

  it("opens Galera's ports between the db hosts only, and MariaDB to the app host only", async () => {
    const vm3 = topo.vms.vm3.ip;
    for (const port of [3306, 4567, 9200]) assert.equal(await topo.probe('outsider', vm3, port), false, `${port} on vm3 from outside`);
    for (const port of [4567, 9200]) assert.equal(await topo.probe('vm2', vm3, port), true, `${port} on vm3 from vm2`);
    assert.equal(await topo.probe('vm1', vm3, 3306), true, 'MariaDB on vm3 from the app host');
  });

  /** hey against /healthz for `seconds` while `during` runs: the outcome must be all 200, no socket error. */
  async function noFailedRequest(seconds: number, during: () => Promise<void>): Promise<void> {
    const load = topo.exec('outsider', `hey -z ${seconds}s -c 32 -t 10 http://${vm1}/healthz`);
    await during();
    const r = await load;
    const outcome = heyOutcome(r.stdout);
    assert.ok((outcome.statuses['200'] ?? 0) > 100, r.stdout);
    assert.deepEqual(outcome, { statuses: { 200: outcome.statuses['200'] }, errors: 0 }, r.stdout);
  }

  /** The VM's power cut: its container killed, nothing inside shut down. */
  async function powerCut(vm: string): Promise<void> {
    const r = await runProgram('docker', ['kill', `${topo.spec.prefix}${vm}`]);
    assert.equal(r.code, 0, r.stderr);
  }

  it('a dead VM under load (vm3 powered off): no failed request, every acknowledged write kept; back on, db3 rejoins', async () => {
    let acked = Object.assign([] as number[], { late: 0 });
    await noFailedRequest(40, async () => {
      const writing = writes(1_000, 40);
      await sleep(10_000);
      await powerCut('vm3');
      acked = await writing;
    });
    assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged`);
    assert.ok(acked.late > 10, `the app kept writing after the power cut (${acked.late} writes in the last 10 s)`);
    assert.ok((await nodes(['vm1', 'vm2'])).every((line) => line.startsWith('Synced 2 ')), 'db1 and db2 kept the quorum');
    await assertAllPresent(acked, ['vm1', 'vm2']);
    await topo.reboot('vm3');
    await until('vm3 back and all three Synced', synced(), 180);
    await assertAllPresent(acked);
  });

  it('the node in use (db1 on vm1) killed while the app writes: the proxy moves to db2 on vm2, the app keeps writing, nothing lost; db1 rejoins', async () => {
    const writing = writes(3_000, 40);
    await sleep(10_000);
    const killed = await topo.exec('vm1', `docker kill $(${DB} ps --quiet db1)`);
    assert.equal(killed.code, 0, killed.stderr);
    const acked = await writing;
    assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged`);
    assert.ok(acked.late > 10, `the app kept writing after the kill (${acked.late} writes in the last 10 s)`);
    const proxy = await topo.exec('vm1', 'docker logs --since 60s $(docker ps --quiet --filter label=com.docker.compose.service=dbproxy) 2>&1');
    assert.match(proxy.stdout, /Server galera\/db1 is DOWN/, 'the proxy saw db1 go');
    await until('db1 back (the watchdog) and all three Synced', synced(), 120);
    await assertAllPresent(acked);
  });

  it('the quorum lost (vm3 powered off, then db1 killed): the database stops rather than split; once vm3 is back the cluster recovers by itself, nothing lost', async () => {
    const acked = await writes(4_000, 8);
    assert.ok(acked.length > 5);
    await powerCut('vm3');
    await until('db1 and db2 alone in a cluster of 2', synced(['vm1', 'vm2'], 2), 60);
    const killed = await topo.exec('vm1', `docker kill $(${DB} ps --quiet db1)`);
    assert.equal(killed.code, 0, killed.stderr);
    const db2Status = async () => (await topo.exec('vm2', `${DB} exec -T -u mysql db2 mariadb --protocol=socket -umysql -N -B -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_cluster_status'"`)).stdout.trim();
    await until('db2 outside a Primary component (no quorum: it refuses writes rather than split)', async () => (await db2Status()) === 'non-Primary', 60);
    await topo.reboot('vm3');
    await until('the cluster recovered with no berth run', synced(), 240);
    await until('the site answers 200', healthz, 60);
    await assertAllPresent(acked);
  });

  it('all three VMs restart at once: the nodes recover from the positions they serve each other, with no berth run, nothing lost', async () => {
    const acked = await writes(6_000, 8);
    assert.ok(acked.length > 5);
    const since = new Date().toISOString();
    await Promise.all(VMS.map((vm) => topo.reboot(vm)));
    await until('the site answers 200 after the reboot', healthz, 180);
    await until('all three Synced', synced(), 120);
    await assertAllPresent(acked);
    const logs = await Promise.all(VMS.map((vm, i) => topo.exec(vm, `${DB} logs --no-color --no-log-prefix --since ${since} db${i + 1} 2>&1 | grep galera-start`)));
    assert.equal(logs.filter((l) => /bootstrapping the cluster again/.test(l.stdout)).length, 1, logs.map((l) => l.stdout).join('\n'));
  });

  it('a second install changes nothing', async () => {
    const again = await runBerth(['install', '--answers', answers, '--yes', '--output', 'plain']);
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
  });

  it('keeps the secrets out of docker inspect and the files on every db host', async () => {
    const all = JSON.parse(readFileSync(join(topo.spec.stateDir, 'secrets.json'), 'utf8')) as Record<string, string>;
    for (const vm of VMS) {
      const r = await topo.exec(vm, 'docker inspect $(docker ps -aq); cat /opt/berth/app/*/compose.yaml /opt/berth/app/db/*.cnf /opt/berth/app/app/dbproxy/*.cfg 2>/dev/null; true');
      for (const secret of Object.values(all)) assert.ok(!r.stdout.includes(secret), `a secret leaked on ${vm}`);
    }
  });

  it('the app and its load balancer moved from vm1 to vm3: vm3 serves them with every acknowledged write; vm1 keeps db1 alone, the web ports close there; a rerun changes nothing', async () => {
    const vm3 = topo.vms.vm3.ip;
    const acked = await writes(8_000, 8);
    assert.ok(acked.length > 5);
    const moved: Record<string, string[]> = { vm1: ['db'], vm2: ['registry', 'dns', 'db'], vm3: ['app', 'lb', 'db'] };
    const movedAnswers = topo.writeAnswers({ hosts: topo.answers().hosts.map((h) => ({ ...h, roles: moved[h.name] as never })) }, 'spread-moved.yaml');
    const move = await runBerth(['install', '--answers', movedAnswers, '--yes', '--output', 'plain']);
    assert.equal(move.code, 0, move.output);
    assert.match(move.output, /stop and remove the app and its load balancer, which the answers no longer place on this host/);
    assert.match(move.stdout, new RegExp(`The app answers at http://${vm3.replace(/\./g, '\\.')}/`));
    assert.deepEqual(await servedBy(vm3), ['app-1', 'app-2']);
    const later = await writes(9_000, 8, 10, vm3);
    assert.ok(later.length > 5, `only ${later.length} writes through vm3`);
    await assertAllPresent([...acked, ...later]);

    const left = async (vm: string) => {
      const r = await topo.exec(vm, [
        `docker ps --all --format '{{.Label "com.docker.compose.project"}}' | sort -u`,
        'echo ---; ls /opt/berth/app',
        'echo ---; ls /etc/berth/app',
        `echo ---; docker images --format '{{.Repository}}' | grep -c '/app/app$' || true`,
        'echo ---; ls /var/lib/berth/app 2>&1 || true',
      ].join('\n'));
      assert.equal(r.code, 0, r.stderr);
      const [projects, composeDirs, etc, appImages, appState] = r.stdout.split('---\n').map((part) => part.trim());
      return { projects, composeDirs, etc, appImages, appState };
    };
    const [vm1Left, vm2Left] = [await left('vm1'), await left('vm2')];
    assert.deepEqual(
      { ...vm1Left, appState: /No such file or directory/.test(vm1Left.appState) },
      // vm2, a db host that never ran the app: the same db files in /etc/berth/app.
      { projects: 'app-db', composeDirs: 'db', etc: vm2Left.etc, appImages: '0', appState: true },
    );
    for (const port of [80, 443]) assert.equal(await topo.probe('outsider', vm1, port), false, `port ${port} on vm1 from outside`);
    assert.equal(await topo.probe('vm3', vm1, 3306), true, 'MariaDB on vm1 from the new app host');
    assert.equal(await topo.probe('outsider', vm3, 80), true, 'the web port on vm3');

    const again = await runBerth(['install', '--answers', movedAnswers, '--yes', '--output', 'plain']);
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
  });
});
