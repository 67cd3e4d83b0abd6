import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PhaseContext } from '../../../src/engine/phase';
import { emptyFacts, type Facts } from '../../../src/engine/plan';
import { appImagePhase, appImageRef } from '../../../src/phases/app-image';
import { markerPath } from '../../../src/phases/common';
import { registryPhase } from '../../../src/phases/registry';
import { loginDigest, registryAccessPhase, storedLoginScript } from '../../../src/phases/registry-access';
import { verifyPhase } from '../../../src/phases/verify';
import { htpasswdFor, REGISTRY_FILES } from '../../../src/render/registry';
import { testAnswers, TEST_SECRETS } from '../../support/answers';
import { assertConverges, factsFor, phaseContext, scriptOf } from '../../support/phase-check';
import { Secret } from '../../../src/answers/secret';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const CA_PATH = '/etc/docker/certs.d/10.0.0.12:5000/ca.crt';
const ACCESS_RECORD = markerPath('registry-access.json');
const file = (content: string, mode = 0o644) => ({ content, mode, owner: 'root', group: 'root' });

/** The registry host's facts as a peer: its CA certificate, or none yet. */
function withPeers(ctx: PhaseContext, ca: string | null, registryHost = 'vm2'): PhaseContext {
  const peer = emptyFacts();
  peer.files[REGISTRY_FILES.caCert.path] = ca === null ? null : file(ca);
  return { ...ctx, peers: { [registryHost]: peer } };
}

describe('registry phase', () => {
  const ctx = phaseContext(testAnswers(), 'vm2');

  it('on a fresh host: openssl, the CA and certificate, config, login and Compose files, then docker compose up; then nothing', () => {
    const facts = factsFor(registryPhase, ctx, { probes: { tls: { code: 0, out: 'missing\n' }, health: { code: 1, out: '' }, applied: { code: 1, out: '' } } });
    const plan = assertConverges(registryPhase, ctx, facts);
    assert.deepEqual(
      plan.map((a) => (a.kind === 'file' ? `file ${a.path} ${a.mode.toString(8)}${a.sensitive ? ' sensitive' : ''}` : a.kind === 'run' ? `run ${a.title}` : a.kind)),
      [
        'packages',
        'run make the registry CA (once) and its server certificate',
        'file /etc/berth/registry/config.yml 644',
        'file /etc/berth/registry/htpasswd 600 sensitive',
        'file /opt/berth/app/registry/compose.yaml 644',
        'run start the registry with its new configuration (docker compose up)',
      ],
    );
    const up = plan.at(-1)!;
    assert.ok(up.kind === 'run' && up.script.startsWith("docker compose --file /opt/berth/app/registry/compose.yaml up --detach --wait --quiet-pull --force-recreate\n"), JSON.stringify(up));
    for (const a of plan) assert.ok(!JSON.stringify(a).includes(TEST_SECRETS.registry), 'the password never appears in a plan');
  });

  it('keeps a stored hash the password still matches, rotates it when the password changed', () => {
    const stored = htpasswdFor('berth', new Secret(TEST_SECRETS.registry, 'test'));
    const converged = (htpasswd: string) => {
      const facts = factsFor(registryPhase, ctx, { packages: { openssl: '3.5.1' }, probes: { tls: { code: 0, out: 'ok\n' }, health: { code: 0, out: 'healthy\n' }, applied: { code: 0, out: 'yes\n' } } });
      const first = assertConverges(registryPhase, ctx, facts);
      for (const a of first) if (a.kind === 'file') facts.files[a.path] = file(a.content, a.mode);
      facts.files[REGISTRY_FILES.htpasswd.path] = file(htpasswd, 0o600);
      return registryPhase.plan(ctx, facts);
    };
    assert.deepEqual(converged(stored), []);
    const rotated = converged(htpasswdFor('berth', new Secret('An0ther-Passw0rd-Entirely', 'test')));
    assert.deepEqual(rotated.map((a) => (a.kind === 'file' ? a.path : a.kind === 'run' ? a.title : a.kind)), [REGISTRY_FILES.htpasswd.path, 'start the registry with its new configuration (docker compose up)']);
  });

  it('starts a registry that is not running healthy without recreating it', () => {
    const facts = factsFor(registryPhase, ctx, { packages: { openssl: '3.5.1' }, probes: { tls: { code: 0, out: 'ok\n' }, health: { code: 1, out: '' }, applied: { code: 0, out: 'yes\n' } } });
    const first = assertConverges(registryPhase, ctx, facts);
    for (const a of first) if (a.kind === 'file') facts.files[a.path] = file(a.content, a.mode);
    facts.files[REGISTRY_FILES.htpasswd.path] = file(htpasswdFor('berth', new Secret(TEST_SECRETS.registry, 'test')), 0o600);
    const plan = registryPhase.plan(ctx, facts);
    assert.deepEqual(plan.map((a) => a.kind === 'run' && a.script.split('\n')[0]), ['docker compose --file /opt/berth/app/registry/compose.yaml up --detach --wait --quiet-pull']);
    // Just after a reboot Docker restarted it and its first healthcheck is still due: nothing to do.
    facts.probes.health = { code: 0, out: 'starting\n' };
    assert.deepEqual(registryPhase.plan(ctx, facts), []);
  });
});

describe('registry access phase', () => {
  it("copies the registry host's CA to every Docker host and logs the app hosts in, the password on stdin", () => {
    const ctx = withPeers(phaseContext(testAnswers(), 'vm1'), CA);
    const plan = assertConverges(registryAccessPhase, ctx, factsFor(registryAccessPhase, ctx));
    assert.deepEqual(plan[0], { kind: 'copy', from: { host: 'vm2', path: '/etc/berth/registry-ca/ca.crt' }, path: CA_PATH, mode: 0o644, expected: CA });
    const login = plan[1];
    assert.ok(login.kind === 'run');
    assert.equal(login.script, 'docker login --username berth --password-stdin 10.0.0.12:5000 >/dev/null');
    assert.equal(login.stdin?.reveal(), TEST_SECRETS.registry);
    // Last, the record of what this host got, for a later run to take back.
    assert.deepEqual(plan[2], { kind: 'file', path: ACCESS_RECORD, content: `{\n  "ca": "${CA_PATH}",\n  "login": "10.0.0.12:5000"\n}\n`, mode: 0o600 });
    assert.equal(plan.length, 3);

    const registryHost = withPeers(phaseContext(testAnswers(), 'vm2'), CA);
    assert.deepEqual(assertConverges(registryAccessPhase, registryHost, factsFor(registryAccessPhase, registryHost)).map((a) => a.kind), ['copy', 'file'], 'no login where nothing pulls the app');
  });

  it('plans the copy before the CA exists (a plan of a fresh cluster), and nothing once both match', () => {
    const ctx = withPeers(phaseContext(testAnswers(), 'vm2'), null);
    assert.deepEqual(registryAccessPhase.plan(ctx, factsFor(registryAccessPhase, ctx))[0], { kind: 'copy', from: { host: 'vm2', path: '/etc/berth/registry-ca/ca.crt' }, path: CA_PATH, mode: 0o644 });
    const known = withPeers(ctx, CA);
    const record = file(`{\n  "ca": "${CA_PATH}",\n  "login": null\n}\n`, 0o600);
    assert.deepEqual(registryAccessPhase.plan(known, factsFor(registryAccessPhase, known, { files: { [CA_PATH]: file(CA), [ACCESS_RECORD]: record } })), []);
  });

  it('takes back the CA and the login of a registry that moved to another host', () => {
    const moved = testAnswers({ hosts: [{ name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db', 'registry'] }, { name: 'vm2', address: '10.0.0.12', roles: ['dns'] }] });
    const ctx = withPeers(phaseContext(moved, 'vm1'), CA, 'vm1');
    const before = file(`{\n  "ca": "${CA_PATH}",\n  "login": "10.0.0.12:5000"\n}\n`, 0o600);
    const plan = assertConverges(registryAccessPhase, ctx, factsFor(registryAccessPhase, ctx, { files: { [CA_PATH]: file(CA), [ACCESS_RECORD]: before } }));
    assert.deepEqual(
      plan.map((a) => (a.kind === 'run' ? a.title : a.kind === 'file' || a.kind === 'copy' ? `${a.kind} ${a.path}` : a.kind)),
      [
        'copy /etc/docker/certs.d/10.0.0.11:5000/ca.crt',
        `remove the CA certificate of the former registry (${CA_PATH})`,
        'docker logout 10.0.0.12:5000 (the former registry)',
        'docker login 10.0.0.11:5000 as berth',
        `file ${ACCESS_RECORD}`,
      ],
    );
    assert.equal(scriptOf(plan[1]), `rm -f -- ${CA_PATH}\nfor dir in /etc/docker/certs.d/10.0.0.12:5000 /etc/docker/certs.d; do if [ -d "$dir" ]; then rmdir --ignore-fail-on-non-empty -- "$dir"; fi; done`);
  });

  it('reads what docker login stored, and tells the answers apart from other credentials', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-docker-config-'));
    const auth = (u: string, p: string) => Buffer.from(`${u}:${p}`).toString('base64');
    // As docker writes it: indented with tabs, one key a line.
    const config = `{\n\t"auths": {\n\t\t"10.0.0.9:5000": {\n\t\t\t"auth": "${auth('other', 'x')}"\n\t\t},\n\t\t"10.0.0.12:5000": {\n\t\t\t"auth": "${auth('berth', 'S3cret-Pass')}"\n\t\t}\n\t}\n}`;
    writeFileSync(join(dir, 'config.json'), config);
    const script = storedLoginScript('10.0.0.12:5000').replaceAll('/root/.docker/config.json', join(dir, 'config.json'));
    const out = execFileSync('bash', ['-c', `set -euo pipefail\n${script}`], { encoding: 'utf8' });
    assert.equal(out.trim(), loginDigest('berth', 'S3cret-Pass'));
    assert.notEqual(out.trim(), loginDigest('berth', 'S3cret-Pass2'));
  });
});

describe('app image phase', () => {
  const context = { localPath: '/tmp/berth-context-x/context.tar', sha256: '3f2a9c1b7d4e'.padEnd(64, '0'), size: 20480 };
  const ctx = { ...phaseContext(testAnswers(), 'vm1'), local: { ...phaseContext(testAnswers(), 'vm1').local, appContext: context } };

  it('names the image by its build context, in the private registry', () => {
    assert.equal(appImageRef(ctx), '10.0.0.12:5000/app/app:3f2a9c1b7d4e');
  });

  it('uploads the context, builds and pushes; nothing when the registry has the tag', () => {
    const plan = assertConverges(appImagePhase, ctx, factsFor(appImagePhase, ctx, { probes: { pushed: { code: 1, out: '' }, uploaded: { code: 0, out: '' } } }));
    assert.deepEqual(plan[0], { kind: 'upload', title: 'the app build context', localPath: context.localPath, remotePath: '/var/lib/berth/app/app-context-3f2a9c1b7d4e.tar', sha256: context.sha256, size: 20480, mode: 0o600, effects: [{ probe: 'uploaded', code: 0, out: `${context.sha256}\n` }] });
    assert.ok(plan[1].kind === 'run');
    assert.equal(
      plan[1].script,
      [
        `docker build --progress=plain --label berth.context=${context.sha256} --tag 10.0.0.12:5000/app/app:3f2a9c1b7d4e - < /var/lib/berth/app/app-context-3f2a9c1b7d4e.tar`,
        'docker push --quiet 10.0.0.12:5000/app/app:3f2a9c1b7d4e',
        'rm -f -- /var/lib/berth/app/app-context-3f2a9c1b7d4e.tar',
      ].join('\n'),
    );
    // A run killed after the upload builds from what the host has.
    const resumed = appImagePhase.plan(ctx, factsFor(appImagePhase, ctx, { probes: { pushed: { code: 1, out: '' }, uploaded: { code: 0, out: `${context.sha256}\n` } } }));
    assert.deepEqual(resumed.map((a) => a.kind), ['run']);
    assert.deepEqual(appImagePhase.plan(ctx, factsFor(appImagePhase, ctx, { probes: { pushed: { code: 0, out: '' }, uploaded: { code: 0, out: '' } } })), []);
  });

  it('pulls a prebuilt image, retags and pushes it', () => {
    const image = { ...ctx, answers: testAnswers({ app: { source: 'image', image: 'team/app:1.4' } }) };
    const plan = assertConverges(appImagePhase, image, factsFor(appImagePhase, image, { probes: { pushed: { code: 1, out: '' } } }));
    assert.ok(plan[0].kind === 'run');
    assert.match(plan[0].script, /^docker pull --quiet team\/app:1\.4\ndocker tag team\/app:1\.4 10\.0\.0\.12:5000\/app\/app:[0-9a-f]{12}\ndocker push --quiet /);
    // An image that cannot be pulled is known only on the host: its error names the setting.
    assert.match(plan[0].hint ?? '', /^Check app\.image in the answers file \(team\/app:1\.4\)/);
  });
});

describe('verify phase', () => {
  const ctx = withPeers(phaseContext(testAnswers(), 'vm2'), CA);
  const answer = (status: number, seen?: string[]) => ({ status, headers: {}, body: '', ...(seen ? { seen } : {}) });
  const facts = (anonymous: number, login: number, site = 200, health = answer(200, ['app-1', 'app-2'])): Facts =>
    factsFor(verifyPhase, ctx, { installer: { anonymous: answer(anonymous), login: answer(login), 'site-vm1': answer(site), 'health-vm1': health } });

  it('asks the registry from this machine, with its CA, without and with the login', () => {
    const query = verifyPhase.query(ctx);
    assert.deepEqual(Object.keys(query.installer ?? {}), ['anonymous', 'login', 'site-vm1', 'health-vm1']);
    assert.equal(query.installer?.anonymous.caPem, CA);
    assert.equal(query.installer?.login.auth?.password.reveal(), TEST_SECRETS.registry);
    assert.deepEqual(verifyPhase.plan(ctx, facts(401, 200)), []);
    // From this machine berth reaches the registry host at its address, not its private cluster address.
    const hosts = [
      { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
      { name: 'vm2', address: '203.0.113.12', privateAddress: '10.1.0.12', roles: ['registry', 'dns'] },
    ];
    const behindNat = withPeers(phaseContext(testAnswers({ hosts }), 'vm2'), CA);
    assert.equal(verifyPhase.query(behindNat).installer?.anonymous.url, 'https://203.0.113.12:5000/v2/');
  });

  it('waits for what does not answer as it should', () => {
    const plan = assertConverges(verifyPhase, ctx, facts(0, 401));
    assert.deepEqual(plan.map((a) => a.kind === 'installer-check' && `${a.title} ${a.expectStatus}`), ['https://10.0.0.12:5000/v2/ refuses requests without a login (401) 401', 'https://10.0.0.12:5000/v2/ takes the registry login (200) 200']);
  });

  it('on the db host, checks that the Galera cluster has db.nodes Synced nodes and its proxy runs', () => {
    const db = withPeers(phaseContext(testAnswers(), 'vm1'), CA);
    assert.equal(verifyPhase.query(db).installer, undefined, 'the installer checks belong to the registry host');
    const healthy = 'db1 4 Primary 3\ndb2 4 Primary 3\ndb3 4 Primary 3\ndbproxy running\n';
    assert.deepEqual(verifyPhase.plan(db, factsFor(verifyPhase, db, { probes: { galera: { code: 0, out: healthy } } })), []);
    const plan = assertConverges(verifyPhase, db, factsFor(verifyPhase, db, { probes: { galera: { code: 0, out: healthy.replace('db3 4 Primary 3', 'db3 ') } } }));
    assert.deepEqual(plan.map((a) => a.kind === 'run' && a.title), ['the Galera cluster has 3 Synced nodes and its proxy runs']);
  });

  it('asks the site on the lb host from this machine: / 200, /healthz 200 from every replica (X-Served-By)', () => {
    assert.deepEqual(verifyPhase.query(ctx).installer?.['site-vm1'], { url: 'http://10.0.0.11/' });
    assert.deepEqual(verifyPhase.query(ctx).installer?.['health-vm1'], { url: 'http://10.0.0.11/healthz', sample: { header: 'X-Served-By', requests: 8 } });
    // A failing page is not enough; neither is one replica answering.
    const plan = assertConverges(verifyPhase, ctx, facts(401, 200, 503, answer(200, ['app-1'])));
    assert.deepEqual(plan.map((a) => a.kind === 'installer-check' && [a.fact, a.expectStatus, a.expectSeen]), [['site-vm1', 200, undefined], ['health-vm1', 200, 2]]);
  });
});
