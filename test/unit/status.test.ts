import assert from 'node:assert/strict';
import { emptyFacts, type Facts, type InstallerFact } from '../../src/engine/plan';
import { expectedServices, healthQuery, installerChecksOf, judgeHealth } from '../../src/status/health';
import { testAnswers } from '../support/answers';
import { phaseContext } from '../support/phase-check';

const IMAGE = '10.0.0.12:5000/app/app:c0fe2376524b';

/** vm1 (app, lb, db) as a healthy install leaves it; `change` edits the container lines or the probes. */
function vm1Facts(change: { containers?: (lines: string[]) => string[]; probes?: Facts['probes'] } = {}): Facts {
  const facts = emptyFacts();
  const containers = [
    `app-app app-1 running healthy ${IMAGE}`,
    `app-app app-2 running healthy ${IMAGE}`,
    'app-app lb running healthy nginx:1.26',
    `app-app migrate exited none ${IMAGE}`,
    'app-db db1 running healthy mariadb:11.8',
    'app-db db2 running healthy mariadb:11.8',
    'app-db db3 running healthy mariadb:11.8',
    'app-db dbproxy running none haproxy:3.0',
    'grafana grafana running none grafana/grafana:11',
  ];
  facts.probes = {
    docker: { code: 0, out: '26.1.5\n2.26.1\n' },
    firewall: { code: 0, out: '' },
    reach: { code: 0, out: 'dockerHub https://registry-1.docker.io/v2/ dns\napt http://deb.debian.org/debian/ http 200\nmirror0 https://hubmirror.example/v2/ http 401\n' },
    disk: { code: 0, out: '/ 23%\n/var/lib/docker 41%\n' },
    containers: { code: 0, out: `${(change.containers ?? ((l) => l))(containers).join('\n')}\n` },
    galera: { code: 0, out: 'db1 4 Primary 3\ndb2 4 Primary 3\ndb3 4 Primary 3\ndbproxy running\n' },
    ...change.probes,
  };
  return facts;
}

const answers = () => testAnswers({ docker: { registryMirrors: ['https://hubmirror.example'] } });
/** The site as it answers when both replicas serve. */
const SITE_OK: Record<string, InstallerFact> = { 'site-vm1': { status: 200, headers: {}, body: '' }, 'health-vm1': { status: 200, headers: {}, body: '', seen: ['app-1', 'app-2'] } };
const failures = (facts: Facts) => judgeHealth(phaseContext(answers(), 'vm1'), facts, SITE_OK).checks.filter((c) => c.status !== 'ok').map((c) => `${c.status} ${c.label}: ${c.detail}`);

describe('status: the health of a host', () => {
  it('expects on each host the services the answers put there, by Compose project', () => {
    const a = answers();
    assert.deepEqual(
      expectedServices(phaseContext(a, 'vm1')).map((s) => `${s.project}/${s.service}`),
      ['app-app/app-1', 'app-app/app-2', 'app-app/lb', 'app-db/db1', 'app-db/db2', 'app-db/db3', 'app-db/dbproxy'],
    );
    assert.deepEqual(expectedServices(phaseContext(a, 'vm2')).map((s) => `${s.project}/${s.service}`), ['app-registry/registry']);
    assert.ok('galera' in (healthQuery(phaseContext(a, 'vm1')).probes ?? {}) && !('galera' in (healthQuery(phaseContext(a, 'vm2')).probes ?? {})), 'Galera asked on db hosts only');
  });

  it('finds a healthy install healthy, each finding named, with the versions and images', () => {
    const health = judgeHealth(phaseContext(answers(), 'vm1'), vm1Facts(), SITE_OK);
    assert.deepEqual(failures(vm1Facts()), [], 'no warning either');
    const line = (label: string) => health.checks.find((c) => c.label === label)?.detail;
    assert.equal(line('Docker'), 'Docker 26.1.5, Compose 2.26.1');
    assert.equal(line('image sources'), 'https://hubmirror.example: HTTP 401; https://registry-1.docker.io: name not resolved', 'one working mirror is enough; each source is named');
    assert.equal(line('container app-1'), `running, healthy, image ${IMAGE}`);
    assert.equal(line('container dbproxy'), 'running, image haproxy:3.0');
    assert.equal(line('Galera db2'), 'Synced, in the Primary component, cluster of 3 of 3');
    assert.equal(line('disk /var/lib/docker'), '41% used');
    assert.equal(health.checks.some((c) => c.label.includes('grafana') || c.label.includes('migrate')), false, "an operator's own containers and the one-shot migrate are not judged");
    assert.deepEqual(health.containers.map((c) => c.service), ['app-1', 'app-2', 'lb', 'migrate', 'db1', 'db2', 'db3', 'dbproxy']);
    assert.deepEqual(health.galera[0], { node: 'db1', state: 4, status: 'Primary', size: 3 });
  });

  it('calls a killed, restarting, unhealthy or missing container a failure, and names it', () => {
    const without = (service: string) => (lines: string[]) => lines.filter((l) => !l.startsWith(`app-app ${service} `));
    assert.deepEqual(failures(vm1Facts({ containers: without('app-2') })), ['fail container app-2: missing (Compose project app-app)']);
    const replace = (from: string, to: string) => (lines: string[]) => lines.map((l) => l.replace(from, to));
    assert.deepEqual(failures(vm1Facts({ containers: replace('app-2 running healthy', 'app-2 running starting') })), [`fail container app-2: (re)started, its health check not passed yet, image ${IMAGE}`]);
    assert.deepEqual(failures(vm1Facts({ containers: replace('app-1 running healthy', 'app-1 running unhealthy') })), [`fail container app-1: running but unhealthy, image ${IMAGE}`]);
    assert.deepEqual(failures(vm1Facts({ containers: replace('lb running healthy', 'lb exited healthy') })), ['fail container lb: exited, image nginx:1.26']);
    assert.deepEqual(failures(vm1Facts({ containers: (l) => [...l, `app-app app-3 running healthy ${IMAGE}`] })), ['warn container app-3: running, not in the answers for this host (Compose project app-app)'], 'a replica too many is a warning, not a failure');
  });

  it('calls a Galera node that is down, not Synced, outside the Primary component or in a smaller cluster a failure', () => {
    assert.deepEqual(failures(vm1Facts({ probes: { galera: { code: 0, out: 'db1 4 Primary 2\ndb2\ndb3 4 Primary 2\ndbproxy running\n' } } })), [
      'fail Galera db1: Synced, in the Primary component, cluster of 2 of 3',
      'fail Galera db2: does not answer (not running, or mariadbd not up)',
      'fail Galera db3: Synced, in the Primary component, cluster of 2 of 3',
    ]);
    assert.deepEqual(failures(vm1Facts({ probes: { galera: { code: 0, out: 'db1 2 Primary 3\ndb2 4 Primary 3\ndb3 1 non-Primary 1\n' } } })), [
      'fail Galera db1: Donor/Desynced, in the Primary component, cluster of 3 of 3',
      'fail Galera db3: Joining, non-Primary (not Primary: it refuses writes), cluster of 1 of 3',
    ]);
  });

  it('fails a host whose Docker, firewall or image sources are gone, or whose disk is full', () => {
    assert.deepEqual(failures(vm1Facts({ probes: { docker: { code: 1, out: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n' } } }))[0], 'fail Docker: the Docker daemon does not answer: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?');
    assert.deepEqual(failures(vm1Facts({ probes: { firewall: { code: 1, out: 'berth-firewall.service is not active\n' } } })), ['fail firewall: berth-firewall.service is not active']);
    assert.deepEqual(failures(vm1Facts({ probes: { reach: { code: 0, out: 'apt http://deb.debian.org/debian/ dns\nmirror0 https://hubmirror.example/v2/ dns\ndockerHub https://registry-1.docker.io/v2/ dns\n' } } })), [
      'fail image sources: https://hubmirror.example: name not resolved; https://registry-1.docker.io: name not resolved',
      'warn package mirror: http://deb.debian.org/debian/: name not resolved',
    ]);
    assert.deepEqual(failures(vm1Facts({ probes: { disk: { code: 0, out: '/ 88%\n/var/lib/docker 96%\n' } } })), ['warn disk /: 88% used', 'fail disk /var/lib/docker: 96% used']);
    assert.deepEqual(failures(vm1Facts({ probes: { disk: { code: 0, out: '/ 23%\n/ 23%\n' } } })), [], 'one file system for both is named once');
  });

  it('asks the registry from this machine with its CA on the registry host, and the site on the lb host', () => {
    const a = answers();
    const ctx = phaseContext(a, 'vm2');
    const facts = emptyFacts();
    facts.files['/etc/berth/registry-ca/ca.crt'] = { content: 'PEM', mode: 0o644, owner: 'root', group: 'root' };
    facts.probes = { docker: { code: 0, out: '26.1.5\n2.26.1\n' }, firewall: { code: 0, out: '' }, reach: { code: 0, out: 'mirror0 https://hubmirror.example/v2/ http 401\n' }, disk: { code: 0, out: '/ 10%\n' }, containers: { code: 0, out: 'app-registry registry running healthy registry:2\n' } };
    const checks = installerChecksOf(ctx, facts);
    assert.deepEqual(checks.map((e) => e.fact), ['anonymous', 'login']);
    assert.equal(checks[0].check.caPem, 'PEM', "the registry is asked with berth's CA");
    const answer = (status: number, seen?: string[]): InstallerFact => ({ status, headers: {}, body: '', ...(seen ? { seen } : {}) });
    assert.deepEqual(judgeHealth(ctx, facts, { anonymous: answer(401), login: answer(200) }).checks.filter((c) => c.status !== 'ok'), []);
    assert.deepEqual(judgeHealth(ctx, facts, { anonymous: answer(200), login: answer(200) }).checks.filter((c) => c.status !== 'ok').map((c) => c.detail), ['https://10.0.0.12:5000/v2/ refuses requests without a login (401): HTTP 200']);

    const vm1 = phaseContext(a, 'vm1');
    assert.deepEqual(installerChecksOf(vm1, vm1Facts()).map((e) => e.fact), ['site-vm1', 'health-vm1'], 'the site is judged on the host that serves it');
    const site = (answers: Record<string, InstallerFact>) => judgeHealth(vm1, vm1Facts(), answers).checks.filter((c) => c.status !== 'ok').map((c) => c.detail);
    assert.deepEqual(site({ 'site-vm1': answer(200), 'health-vm1': answer(200, ['app-1', 'app-2']) }), []);
    assert.deepEqual(site({ 'site-vm1': answer(200), 'health-vm1': answer(200, ['app-1']) }), ['http://10.0.0.11/healthz answers 200 from all 2 replicas (each reaches the database): HTTP 200, served by app-1']);
    assert.deepEqual(site({ 'site-vm1': { status: 0, headers: {}, body: '', error: 'connect ECONNREFUSED 10.0.0.11:80' }, 'health-vm1': answer(200, ['app-1', 'app-2']) }), ['http://10.0.0.11/ answers 200: connect ECONNREFUSED 10.0.0.11:80']);
  });
});
