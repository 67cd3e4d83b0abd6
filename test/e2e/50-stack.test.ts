import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotStart, demoAppCopy, headerValues } from './apps';
import { heyOutcome } from './hey';
import { until } from './wait';
import { changedPhases, INSTALL_TIMEOUT_MS, installedPlatform, runBerth, type InstalledPlatform } from './installed';

/**
 * The app stack on vm1 as `berth install` leaves it: Galera (3 nodes) behind
 * HAProxy, the app's replicas behind Nginx on :80, answering from outside.
 */
describe('e2e: the app stack', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let p: InstalledPlatform;
  let vm1: string;

  before(async () => {
    p = await installedPlatform();
    vm1 = p.topo.vms.vm1.ip;
  });

  it('ends the install by printing the URL, which answers 200 from outside, from both replicas', async () => {
    assert.match(p.firstRun.stdout, new RegExp(`The app answers at http://${vm1.replace(/\./g, '\\.')}/`));
    assert.deepEqual(await headerValues(p.topo, `http://${vm1}/`, 'X-Served-By', 6), ['app-1', 'app-2']);
    const health = await p.topo.exec('outsider', `curl -s -o /dev/null -w '%{http_code}' http://${vm1}/healthz`);
    assert.equal(health.stdout, '200');
  });

  const DB = 'docker compose --file /opt/berth/app/db/compose.yaml';
  const APP = 'docker compose --file /opt/berth/app/app/compose.yaml';
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** "Synced 3" per node, "down" for a node that does not answer. */
  async function galera(): Promise<string[]> {
    const r = await p.topo.exec('vm1', `for n in db1 db2 db3; do s=$(${DB} exec -T -u mysql $n mariadb --protocol=socket -umysql -N -B -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_local_state_comment','wsrep_cluster_size') ORDER BY VARIABLE_NAME DESC" 2>/dev/null | tr '\\n' ' '); echo "\${s:-down}"; done`);
    return r.stdout.trim().split('\n').map((line) => line.trim());
  }
  const allSynced = async () => (await galera()).every((line) => line === 'Synced 3');

  /** The numbers stored on each node, as the node itself answers (not through the proxy). */
  async function storedOnEachNode(): Promise<Set<number>[]> {
    const r = await p.topo.exec('vm1', `for n in db1 db2 db3; do ${DB} exec -T $n sh -c 'MYSQL_PWD="$(cat /run/secrets/db_root_password)" mariadb -uroot -N -B -e "SELECT GROUP_CONCAT(n ORDER BY n) FROM app.counter_numberedwrite"'; done`);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').map((line) => new Set(line === 'NULL' ? [] : line.split(',').map(Number)));
  }

  /** hey from the outsider against the LB: bounded in time. */
  const load = (seconds: number, path = '/') => p.topo.exec('outsider', `hey -z ${seconds}s -c 32 -t 10 http://${vm1}${path}`);

  /** Numbered writes through the LB, one after another from `from`, for `seconds`; the numbers acknowledged (201 or 200). */
  async function writes(from: number, seconds: number): Promise<number[]> {
    const r = await p.topo.exec('outsider', `end=$(($(date +%s) + ${seconds})); i=${from}; while [ "$(date +%s)" -lt "$end" ]; do c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST http://${vm1}/writes/$i); case $c in 200|201) echo $i ;; esac; i=$((i + 1)); done`);
    return r.stdout.trim().split('\n').filter(Boolean).map(Number);
  }

  const assertAllPresent = async (acked: number[]) => {
    const nodes = await storedOnEachNode();
    nodes.forEach((stored, i) => {
      const missing = acked.filter((n) => !stored.has(n));
      assert.deepEqual(missing, [], `db${i + 1} lacks acknowledged writes`);
    });
  };

  it('runs a Galera cluster of three Synced nodes behind the proxy, healthy by the healthcheck on every node (also after an SST)', async () => {
    assert.deepEqual(await galera(), ['Synced 3', 'Synced 3', 'Synced 3']);
    const health = await p.topo.exec('vm1', `docker inspect --format '{{.State.Health.Status}}' $(${DB} ps --quiet db1 db2 db3)`);
    assert.deepEqual(health.stdout.trim().split('\n'), ['healthy', 'healthy', 'healthy']);
  });

  it('started the cluster once: db1 created it, db2 and db3 joined by SST one after the other', async () => {
    const logs = await p.topo.exec('vm1', `for n in db1 db2 db3; do echo "== $n"; ${DB} logs --no-color --no-log-prefix $n 2>&1 | grep -E 'galera-start|WSREP_SST|sst_method|SST completed|State transfer' | head -n 40; done`);
    const of = (node: string) => logs.stdout.split(`== ${node}`)[1].split('== ')[0];
    assert.match(of('db1'), /a new cluster: creating it \(--wsrep-new-cluster\)/);
    assert.match(of('db2'), /empty datadir: joining by SST now that db1 is Synced/);
    assert.match(of('db3'), /empty datadir: joining by SST now that db2 is Synced/);
    for (const node of ['db2', 'db3']) assert.doesNotMatch(of(node), /creating it/);
  });

  it("gives the app's database user privileges on its own database only", async () => {
    const all = JSON.parse(readFileSync(join(p.topo.spec.stateDir, 'secrets.json'), 'utf8')) as Record<string, string>;
    const asApp = (sql: string) => p.topo.exec('vm1', `printf '[client]\\npassword=%s\\n' '${all.dbPassword}' > /tmp/app.cnf; ${DB} cp /tmp/app.cnf db1:/tmp/app.cnf >/dev/null; rm /tmp/app.cnf; ${DB} exec -T db1 mariadb --defaults-extra-file=/tmp/app.cnf -h dbproxy -uapp -N -B -e "${sql}"; rc=$?; ${DB} exec -T db1 rm -f /tmp/app.cnf; exit $rc`);
    const own = await asApp('SELECT COUNT(*) FROM app.counter_counter');
    assert.equal(own.code, 0, own.stderr);
    const other = await asApp('CREATE DATABASE other');
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /Access denied/);
    const mysql = await asApp('SELECT COUNT(*) FROM mysql.user');
    assert.match(mysql.stderr, /denied/);
  });

  it('drill 1: 30 s at 32 connections, one app container killed in the middle: no failed request, and it comes back', async () => {
    const running = load(30);
    await sleep(10_000);
    const killed = await p.topo.exec('vm1', `docker kill $(${APP} ps --quiet app-1)`);
    assert.equal(killed.code, 0, killed.stderr);
    const r = await running;
    const outcome = heyOutcome(r.stdout);
    assert.ok((outcome.statuses['200'] ?? 0) > 100, r.stdout);
    assert.deepEqual(outcome, { statuses: { 200: outcome.statuses['200'] }, errors: 0 }, r.stdout);
    await until('app-1 back and healthy', async () => (await p.topo.exec('vm1', `docker inspect --format '{{.State.Health.Status}}' $(${APP} ps --quiet app-1)`)).stdout.trim() === 'healthy', 90);
  });

  it('drill 2: writes through the app while the Galera node in use is killed: every acknowledged write on every node, the node rejoins Synced', async () => {
    const writing = writes(1_000, 40);
    await sleep(12_000);
    const killed = await p.topo.exec('vm1', `docker kill $(${DB} ps --quiet db1)`);
    assert.equal(killed.code, 0, killed.stderr);
    const acked = await writing;
    assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged`);
    assert.ok(acked.some((n) => n > acked[0] + 20), 'the app kept writing after the kill');
    await until('db1 back and all three Synced', allSynced, 180);
    await assertAllPresent(acked);
  });

  it('drill 3: every Galera container killed at once: the cluster recovers by itself, nothing acknowledged lost', async () => {
    const acked = await writes(5_000, 10);
    assert.ok(acked.length > 10);
    const killed = await p.topo.exec('vm1', `docker kill $(${DB} ps --quiet db1 db2 db3)`);
    assert.equal(killed.code, 0, killed.stderr);
    await until('the cluster recovered (no berth run)', allSynced, 240);
    await until('the site healthy again', async () => (await p.topo.exec('outsider', `curl -s -o /dev/null -w '%{http_code}' http://${vm1}/healthz`)).stdout === '200', 60);
    await assertAllPresent(acked);
  });

  it('drill 4: both VMs restart: within 3 minutes the stack answers 200 without a berth run, data and firewall intact', async () => {
    const acked = await writes(9_000, 5);
    await Promise.all(['vm1', 'vm2'].map((vm) => p.topo.reboot(vm)));
    await until('the site answers 200 after the reboot', async () => (await p.topo.exec('outsider', `curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://${vm1}/healthz`)).stdout === '200', 180);
    await until('all three nodes Synced', allSynced, 120);
    await assertAllPresent(acked);
    assert.equal(await p.topo.probe('outsider', vm1, 3306), false, 'the database is not reachable from outside');
    assert.equal(await p.topo.probe('outsider', p.topo.vms.vm2.ip, 5000), false, 'the firewall is back on vm2');
  });

  it('drill 5: a second install changes nothing', async () => {
    const again = await p.berth('install');
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
  });

  it('drill 6: app.replicas 2 → 3 under load: no failed request, only the app changes, three replicas serve; and back to 2', async () => {
    for (const replicas of [3, 2]) {
      const answers = p.topo.writeAnswers({ app: { replicas } }, `replicas-${replicas}.yaml`);
      const running = load(75);
      await sleep(5_000);
      const install = await runBerth(['install', '--answers', answers, '--yes', '--output', 'plain']);
      const r = await running;
      assert.equal(install.code, 0, install.output);
      assert.deepEqual(changedPhases(install.output), ['vm1 app'], install.output);
      const outcome = heyOutcome(r.stdout);
      assert.deepEqual(outcome, { statuses: { 200: outcome.statuses['200'] }, errors: 0 }, r.stdout);
      assert.deepEqual(await headerValues(p.topo, `http://${vm1}/`, 'X-Served-By', 12), Array.from({ length: replicas }, (_, i) => `app-${i + 1}`));
    }
  });

  it('an app image that never becomes healthy: the run stops naming the container with its last log lines, the previous version keeps serving', async () => {
    const dir = demoAppCopy('broken-app', cannotStart);
    const broken = p.topo.writeAnswers({ app: { source: 'path', path: dir } }, 'broken-app.yaml');
    const running = load(60, '/healthz');
    const install = await runBerth(['install', '--answers', broken, '--yes', '--output', 'plain']);
    const r = await running;
    assert.notEqual(install.code, 0, install.output);
    assert.match(install.output, /the container app-1 did not become healthy: it (stopped|is unhealthy)/);
    assert.match(install.output, /berth-e2e: this build cannot start \(on purpose\)/, 'its last log lines are shown');
    assert.match(install.output, /The replicas not yet rolled keep serving the previous version/);
    const outcome = heyOutcome(r.stdout);
    assert.deepEqual(outcome, { statuses: { 200: outcome.statuses['200'] }, errors: 0 }, r.stdout);
    assert.deepEqual(await headerValues(p.topo, `http://${vm1}/`, 'X-Served-By', 6), ['app-2'], 'the replica not yet rolled serves');
    // Back to the answers that work: the bundled image rolls out again, then nothing changes.
    const back = await p.berth('install');
    assert.equal(back.code, 0, back.output);
    assert.match((await p.berth('install')).output, /Done: 0 changed\./);
  });

  it('keeps the secrets out of docker inspect and the compose files; the secret files belong to the app user only', async () => {
    const all = JSON.parse(readFileSync(join(p.topo.spec.stateDir, 'secrets.json'), 'utf8')) as Record<string, string>;
    const inspect = await p.topo.exec('vm1', 'docker inspect $(docker ps -aq); cat /opt/berth/app/*/compose.yaml /opt/berth/app/db/*.cnf /opt/berth/app/db/*.cfg');
    assert.equal(inspect.code, 0, inspect.stderr);
    for (const secret of Object.values(all)) assert.ok(!inspect.stdout.includes(secret), 'a secret leaked');
    const modes = await p.topo.exec('vm1', "stat -c '%a %u %n' /etc/berth/app/*");
    assert.match(modes.stdout, /^400 10001 \/etc\/berth\/app\/db-password$/m);
    assert.match(modes.stdout, /^600 0 \/etc\/berth\/app\/db-root-password$/m);
    assert.match(modes.stdout, /^400 10001 \/etc\/berth\/app\/django-secret-key$/m);
  });
});
