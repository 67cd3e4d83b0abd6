import assert from 'node:assert/strict';
import { DEBIAN12 } from './harness';
import { INSTALL_TIMEOUT_MS, installedPlatform, stackSettled, type BerthRun, type InstalledPlatform } from './installed';
import { until } from './wait';

interface HostStatus {
  host: string;
  ok: boolean;
  os: string;
  checks: { label: string; status: string; detail: string }[];
  containers: { project: string; service: string; state: string; health: string; image: string }[];
  galera: { node: string; state: number | null; status: string | null; size: number | null }[];
}

/**
 * `berth status` on the installed platform: healthy right after the install,
 * degraded with the reason while an app container or a Galera node is down,
 * healthy again once they are back by themselves.
 */
describe('e2e: berth status tells healthy from degraded', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let p: InstalledPlatform;

  before(async () => {
    p = await installedPlatform();
    await stackSettled(p);
  });

  const APP = 'docker compose --file /opt/berth/app/app/compose.yaml';
  const DB = 'docker compose --file /opt/berth/app/db/compose.yaml';

  /** Runs status until its exit code is `code` (at most `seconds`), and returns that run. */
  async function statusUntil(code: number, what: string, seconds: number): Promise<BerthRun> {
    let last: BerthRun | undefined;
    await until(what, async () => (last = await p.berth('status')).code === code, seconds).catch((err: Error) => {
      throw new Error(`${err.message}; the last status:\n${last?.output ?? 'none'}`);
    });
    return last!;
  }

  it('is healthy after the install: exit 0, every finding ✔, one JSON object per host with the containers and the Galera nodes', async () => {
    const run = await p.berth('status');
    assert.equal(run.code, 0, run.output);
    assert.match(run.stdout, /^vm1 \(.*\), as berth: healthy$/m);
    assert.match(run.stdout, /^vm2 \(.*\), as berth: healthy$/m);
    assert.doesNotMatch(run.stdout, /✘/);
    // trixie's engine, or bookworm's in the stand-in of Docker's repository; Compose is trixie's on both.
    assert.match(run.stdout, new RegExp(`✔ Docker\\s+Docker ${DEBIAN12 ? '20\\.10\\.24' : '26\\.1\\.5'}\\S*, Compose 2\\.26\\.1`));
    assert.match(run.stdout, /✔ firewall\s+active, with the rules berth wrote/);
    assert.match(run.stdout, /✔ image sources\s+https:\/\/hubmirror\.berth\.test: HTTP \d+/);
    assert.match(run.stdout, /✔ from this machine\s+https:\/\/[\d.]+:5000\/v2\/ refuses requests without a login \(401\)/);
    assert.match(run.stdout, /✔ from this machine\s+http:\/\/[\d.]+\/healthz answers 200 from all 2 replicas/);

    const json = await p.berth('status', ['--output', 'json']);
    assert.equal(json.code, 0, json.output);
    const [vm1, vm2] = json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as HostStatus);
    assert.match(vm1.os, new RegExp(`Debian GNU/Linux ${DEBIAN12 ? '12' : '13'}`));
    const states = (h: HostStatus) => h.containers.filter((c) => c.service !== 'migrate').map((c) => `${c.service} ${c.state} ${c.health}`).sort();
    assert.deepEqual(states(vm1), ['app-1 running healthy', 'app-2 running healthy', 'db1 running healthy', 'db2 running healthy', 'db3 running healthy', 'dbproxy running none', 'lb running healthy']);
    assert.deepEqual(states(vm2), ['registry running healthy']);
    assert.deepEqual(vm1.galera.map((n) => `${n.node} ${n.state} ${n.status} ${n.size}`), ['db1 4 Primary 3', 'db2 4 Primary 3', 'db3 4 Primary 3']);
    assert.match(vm1.containers.find((c) => c.service === 'app-1')!.image, /^[\d.]+:5000\/app\/app:[0-9a-f]{12}$/, 'the app image with its tag');
  });

  it('is degraded (exit 1) while a killed app container is down or not yet healthy, naming it; healthy again once Docker brought it back', async () => {
    const killed = await p.topo.exec('vm1', `docker kill $(${APP} ps --quiet app-2)`);
    assert.equal(killed.code, 0, killed.stderr);
    const degraded = await statusUntil(1, 'status saying degraded', 30);
    assert.match(degraded.stdout, /^vm1 \(.*\), as berth: degraded$/m);
    assert.match(degraded.stdout, /✘ container app-2\s+(exited|restarting|\(re\)started, its health check not passed yet)/);
    assert.match(degraded.stderr, /error: degraded: vm1 \(container app-2: /);
    assert.match(degraded.stdout, /^vm2 \(.*\), as berth: healthy$/m, 'the other host is judged on its own');
    await statusUntil(0, 'status healthy again', 180);
  });

  it('is degraded while a killed Galera node is down or rejoining, naming it; healthy again once it is Synced', async () => {
    const killed = await p.topo.exec('vm1', `docker kill $(${DB} ps --quiet db2)`);
    assert.equal(killed.code, 0, killed.stderr);
    const degraded = await statusUntil(1, 'status saying degraded', 30);
    assert.match(degraded.stdout, /✘ (Galera db2\s+(does not answer|Join|Donor)|Galera db[13]\s+Synced, in the Primary component, cluster of 2 of 3|container db2\s+)/, degraded.stdout);
    assert.match(degraded.stderr, /error: degraded: vm1 \((container db2|Galera db\d)/);
    await statusUntil(0, 'status healthy again', 180);
  });
});
