import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseAnswers } from '../../src/answers/load';
import { HostProblem } from '../../src/engine/phase';
import type { Action, Facts, FileFact } from '../../src/engine/plan';
import { markerPath } from '../../src/phases/common';
import { dockerPhase, fetchKeyScript } from '../../src/phases/docker';
import { DAEMON_JSON, DOCKER_KEYRING, DOCKER_SOURCES, mergeDaemonJson, renderDockerSources, trustedCaPath } from '../../src/render/docker';
import { answersYaml, fixtureDir, testAnswers } from '../support/answers';
import { assertConverges, factsFor, phaseContext } from '../support/phase-check';

const file = (content: string, mode = 0o644): FileFact => ({ content, mode, owner: 'root', group: 'root' });
const kinds = (actions: Action[]) => actions.map((a) => (a.kind === 'file' || a.kind === 'remove' ? `${a.kind} ${a.path}` : a.kind === 'service' ? `${a.op} ${a.unit}` : a.kind === 'packages' ? `install ${a.install.join(' ')}` : a.kind === 'run' ? `run: ${a.title}` : a.kind));
const written = (actions: Action[], path: string) => {
  const action = actions.find((a) => a.kind === 'file' && a.path === path);
  assert.ok(action && action.kind === 'file', `no write of ${path}`);
  return action.content;
};
const DOCKER_MARKER = markerPath('docker');
const CHECK = 'run: check that docker and docker compose work';
const works = { code: 0, out: '26.1.5\n2.26.1' };
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n';

/** Answers with a registry mirror whose CA comes from a PEM file, read by the real loader. */
function mirrorAnswers(docker: Record<string, unknown> = {}, dns?: Record<string, unknown>) {
  const dir = fixtureDir();
  writeFileSync(join(dir, 'ca.pem'), PEM);
  const yaml = stringify(
    answersYaml({
      docker: { registryMirrors: ['https://hubmirror.berth.test'], trustedCAs: [{ registry: 'hubmirror.berth.test', ca: './ca.pem' }], ...docker },
      ...(dns ? { dns } : {}),
    }),
  );
  return parseAnswers(yaml, join(dir, 'berth.yaml')).answers;
}

const FRESH_DAEMON_JSON = `{
  "registry-mirrors": [
    "https://hubmirror.berth.test"
  ],
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "10m",
    "max-file": "3"
  },
  "live-restore": true,
  "userland-proxy": false,
  "no-new-privileges": true,
  "dns": [
    "10.0.0.12"
  ]
}
`;

describe('Docker: daemon.json', () => {
  it('on a fresh host: berth\'s settings, containers resolving through the forwarder\'s cluster address', () => {
    const ctx = phaseContext(mirrorAnswers({ source: 'distro' }), 'vm2');
    const actions = assertConverges(dockerPhase, ctx, factsFor(dockerPhase, ctx));
    assert.equal(written(actions, DAEMON_JSON), FRESH_DAEMON_JSON);
  });

  it('keeps the keys it does not own, in place; its own keys win; data-root and direct DNS when asked', () => {
    const existing = '{"debug": true, "log-driver": "journald", "registry-mirrors": ["https://old.example"], "features": {"buildkit": true}}';
    const settings = { 'registry-mirrors': [], 'log-driver': 'json-file', 'live-restore': true };
    assert.equal(
      mergeDaemonJson(existing, settings),
      '{\n  "debug": true,\n  "log-driver": "json-file",\n  "registry-mirrors": [],\n  "features": {\n    "buildkit": true\n  },\n  "live-restore": true\n}\n',
    );
    const ctx = phaseContext(mirrorAnswers({ source: 'distro', dataRoot: '/srv/docker', log: { maxSize: '50m', maxFile: 5 } }, { mode: 'direct', upstreams: ['shecan'] }), 'vm1');
    const actions = assertConverges(dockerPhase, ctx, factsFor(dockerPhase, ctx, { files: { [DAEMON_JSON]: file(existing) } }));
    assert.deepEqual(JSON.parse(written(actions, DAEMON_JSON)), {
      debug: true,
      'log-driver': 'json-file',
      'registry-mirrors': ['https://hubmirror.berth.test'],
      features: { buildkit: true },
      'log-opts': { 'max-size': '50m', 'max-file': '5' },
      'live-restore': true,
      'userland-proxy': false,
      'no-new-privileges': true,
      'data-root': '/srv/docker',
      dns: ['178.22.122.100', '185.51.200.2'],
    });
  });

  it('leaves dns alone when the DNS mirror is off, and treats an empty file as none', () => {
    const ctx = phaseContext(testAnswers({ dns: { mode: 'off' }, docker: { source: 'distro' } }), 'vm1');
    const actions = dockerPhase.plan(ctx, factsFor(dockerPhase, ctx, { files: { [DAEMON_JSON]: file('\n') } }));
    assert.equal(JSON.parse(written(actions, DAEMON_JSON)).dns, undefined);
  });

  it('refuses a daemon.json it cannot read, before changing anything', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'distro' } }), 'vm1');
    for (const [content, why] of [['{"debug": true,', /is not valid JSON/], ['["a"]', /does not hold a JSON object/]] as const) {
      assert.throws(
        () => dockerPhase.plan(ctx, factsFor(dockerPhase, ctx, { files: { [DAEMON_JSON]: file(content) } })),
        (e: unknown) => e instanceof HostProblem && e.message.startsWith(`${DAEMON_JSON} on this host `) && why.test(e.message) && /Fix or remove/.test(e.hint ?? ''),
      );
    }
  });
});

describe('Docker: packages per source and OS', () => {
  it('distro on Debian 13: docker.io, its separate CLI, buildx and docker-compose (Compose 2.x); daemon.json and the CA first; a check at the end', () => {
    const ctx = phaseContext(mirrorAnswers({ source: 'distro' }), 'vm1');
    const actions = assertConverges(dockerPhase, ctx, factsFor(dockerPhase, ctx));
    assert.deepEqual(kinds(actions), [
      `file ${trustedCaPath('hubmirror.berth.test')}`,
      `file ${DAEMON_JSON}`,
      'install docker.io docker-cli docker-buildx docker-compose',
      `file ${DOCKER_MARKER}`,
      'enable-now docker.service',
      CHECK,
    ]);
    assert.equal(written(actions, '/etc/docker/certs.d/hubmirror.berth.test/ca.crt'), PEM);
  });

  it('distro on Ubuntu 22.04 and 24.04: docker.io, buildx and docker-compose-v2', () => {
    for (const [osVersion, osCodename] of [['22.04', 'jammy'], ['24.04', 'noble']]) {
      const ctx = phaseContext(testAnswers({ docker: { source: 'distro' } }), 'vm1', { osId: 'ubuntu', osVersion, osCodename });
      const actions = assertConverges(dockerPhase, ctx, factsFor(dockerPhase, ctx));
      assert.ok(kinds(actions).includes('install docker.io docker-buildx docker-compose-v2'), kinds(actions).join('\n'));
    }
  });

  it('distro on Debian 12 is refused (Compose v1 only), with the way out', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'distro' } }), 'vm1', { osVersion: '12', osCodename: 'bookworm' });
    assert.throws(
      () => dockerPhase.plan(ctx, factsFor(dockerPhase, ctx)),
      (e: unknown) => e instanceof HostProblem && /Debian 12 packages only Docker Compose v1/.test(e.message) && /docker\.source: official/.test(e.hint ?? ''),
    );
  });

  it('bundle is not available yet, and says what to use', () => {
    const dir = fixtureDir();
    writeFileSync(join(dir, 'bundle.tar'), 'x');
    const answers = parseAnswers(stringify(answersYaml({ docker: { source: 'bundle', bundle: './bundle.tar' } })), join(dir, 'berth.yaml')).answers;
    const ctx = phaseContext(answers, 'vm1');
    assert.throws(() => dockerPhase.plan(ctx, factsFor(dockerPhase, ctx)), (e: unknown) => e instanceof HostProblem && /bundle is not available yet/.test(e.message));
  });

  it("official: curl, Docker's key, its deb822 source, then daemon.json and Docker's packages", () => {
    const ctx = phaseContext(mirrorAnswers({ source: 'official' }), 'vm1');
    const actions = assertConverges(dockerPhase, ctx, factsFor(dockerPhase, ctx));
    assert.deepEqual(kinds(actions), [
      'install curl ca-certificates',
      "run: fetch Docker's apt key from https://download.docker.com/linux/debian/gpg",
      `file ${DOCKER_SOURCES}`,
      `file ${trustedCaPath('hubmirror.berth.test')}`,
      `file ${DAEMON_JSON}`,
      'install docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin',
      `file ${DOCKER_MARKER}`,
      'enable-now docker.service',
      CHECK,
    ]);
    assert.equal(
      written(actions, DOCKER_SOURCES),
      [
        "# Managed by berth: Docker's apt repository (docker.source and docker.aptMirror in the answers file). Changes here are overwritten by the next `berth install`.",
        'Types: deb',
        'URIs: https://download.docker.com/linux/debian',
        'Suites: trixie',
        'Components: stable',
        'Architectures: amd64',
        `Signed-By: ${DOCKER_KEYRING}`,
        '',
      ].join('\n'),
    );
  });

  it('official through a mirror on Ubuntu arm64: the mirror for key and source, nothing fetched twice', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'official', aptMirror: 'http://docker-apt.berth.test/linux/' } }), 'vm1', { osId: 'ubuntu', osVersion: '24.04', osCodename: 'noble', arch: 'arm64' });
    const facts = factsFor(dockerPhase, ctx, { packages: { curl: '8.5.0', 'ca-certificates': '20240203' } });
    const actions = assertConverges(dockerPhase, ctx, facts);
    assert.equal(kinds(actions)[0], "run: fetch Docker's apt key from http://docker-apt.berth.test/linux/ubuntu/gpg");
    assert.equal(written(actions, DOCKER_SOURCES), renderDockerSources('http://docker-apt.berth.test/linux/ubuntu', 'noble', 'arm64'));
    assert.match(written(actions, DOCKER_SOURCES), /^URIs: http:\/\/docker-apt\.berth\.test\/linux\/ubuntu\nSuites: noble\n.*\nArchitectures: arm64$/m);
  });

  it('fetches the key again when the source moves to another mirror', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'official', aptMirror: 'https://mirror-b.example/linux' } }), 'vm1');
    const installed = Object.fromEntries(['curl', 'ca-certificates', 'docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin'].map((p) => [p, '1']));
    const oldSource = renderDockerSources('https://mirror-a.example/linux/debian', 'trixie', 'amd64');
    const facts = factsFor(dockerPhase, ctx, { packages: installed, files: { [DOCKER_SOURCES]: file(oldSource) }, probes: { dockerKey: { code: 0, out: '' } }, units: { 'docker.service': { active: 'active', enabled: 'enabled' } } });
    const actions = assertConverges(dockerPhase, ctx, facts);
    assert.deepEqual(kinds(actions).slice(0, 2), ["run: fetch Docker's apt key from https://mirror-b.example/linux/debian/gpg", `file ${DOCKER_SOURCES}`]);
  });

  it('the key fetch refuses what is not a PGP key, through a staged file', () => {
    const script = fetchKeyScript('https://m.example/linux/debian/gpg');
    assert.equal(
      script,
      [
        'install -m 0755 -d /etc/apt/keyrings',
        'curl -fsSL --retry 3 --connect-timeout 20 https://m.example/linux/debian/gpg -o /etc/apt/keyrings/docker.asc.new',
        "if ! grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' /etc/apt/keyrings/docker.asc.new; then rm -f /etc/apt/keyrings/docker.asc.new; echo 'berth: https://m.example/linux/debian/gpg did not return a PGP public key' >&2; exit 1; fi",
        'chmod 0644 /etc/apt/keyrings/docker.asc.new',
        'mv -f /etc/apt/keyrings/docker.asc.new /etc/apt/keyrings/docker.asc',
      ].join('\n'),
    );
  });
});

describe('Docker: restarts only when its configuration changed', () => {
  const ctx = () => phaseContext(mirrorAnswers({ source: 'distro' }), 'vm2');
  const running = (files: Record<string, FileFact>): Partial<Facts> => ({
    packages: { 'docker.io': '26.1.5+dfsg1-9', 'docker-cli': '26.1.5+dfsg1-9', 'docker-buildx': '0.13.1', 'docker-compose': '2.26.1-4' },
    units: { 'docker.service': { active: 'active', enabled: 'enabled' } },
    probes: { works },
    files,
  });
  const convergedFiles = () => {
    const c = ctx();
    return Object.fromEntries(dockerPhase.plan(c, factsFor(dockerPhase, c)).flatMap((a) => (a.kind === 'file' ? [[a.path, file(a.content, a.mode)]] : [])));
  };

  it('plans nothing on a converged host', () => {
    assert.deepEqual(dockerPhase.plan(ctx(), factsFor(dockerPhase, ctx(), running(convergedFiles()))), []);
  });

  it('rewrites daemon.json and restarts an installed Docker when a setting changed', () => {
    const files = convergedFiles();
    files[DAEMON_JSON] = file(FRESH_DAEMON_JSON.replace('"live-restore": true', '"live-restore": false'));
    assert.deepEqual(kinds(assertConverges(dockerPhase, ctx(), factsFor(dockerPhase, ctx(), running(files)))), [`file ${DAEMON_JSON}`, 'restart docker.service', `file ${DOCKER_MARKER}`, CHECK]);
  });

  it('restarts when a run stopped between writing daemon.json and restarting Docker', () => {
    const files = convergedFiles();
    delete files[DOCKER_MARKER];
    assert.deepEqual(kinds(assertConverges(dockerPhase, ctx(), factsFor(dockerPhase, ctx(), running(files)))), ['restart docker.service', `file ${DOCKER_MARKER}`, CHECK]);
  });

  it('a new CA certificate is written without a restart (Docker reads certs.d at each connection)', () => {
    const files = convergedFiles();
    delete files[trustedCaPath('hubmirror.berth.test')];
    assert.deepEqual(kinds(assertConverges(dockerPhase, ctx(), factsFor(dockerPhase, ctx(), running(files)))), [`file ${trustedCaPath('hubmirror.berth.test')}`, CHECK]);
  });

  it('installs a missing Compose without restarting Docker, and starts a stopped Docker', () => {
    const facts = running(convergedFiles());
    const partial = { ...facts, packages: { 'docker.io': '26.1.5+dfsg1-9', 'docker-cli': '26.1.5+dfsg1-9' }, units: { 'docker.service': { active: 'failed', enabled: 'enabled' } } };
    assert.deepEqual(kinds(assertConverges(dockerPhase, ctx(), factsFor(dockerPhase, ctx(), partial))), ['install docker-buildx docker-compose', 'enable-now docker.service', CHECK]);
  });

  it('checks again, and only checks, when docker or docker compose stopped working', () => {
    const broken = { ...running(convergedFiles()), probes: { works: { code: 127, out: 'bash: docker: command not found' } } };
    assert.deepEqual(kinds(assertConverges(dockerPhase, ctx(), factsFor(dockerPhase, ctx(), broken))), [CHECK]);
  });
});
