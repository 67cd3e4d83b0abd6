import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseAnswers } from '../../src/answers/load';
import { HostProblem } from '../../src/engine/phase';
import type { Action, Facts, FileFact } from '../../src/engine/plan';
import { markerPath } from '../../src/phases/common';
import { dockerPhase } from '../../src/phases/docker';
import {
  curlAuthConfig,
  DAEMON_JSON,
  DOCKER_APT_AUTH,
  DOCKER_KEY_FINGERPRINT,
  DOCKER_KEYRING,
  DOCKER_SOURCES,
  dockerKeyScript,
  mergeDaemonJson,
  OFFICIAL_PACKAGES,
  renderDockerSources,
  trustedCaPath,
} from '../../src/render/docker';
import chalk from 'chalk';
import { assetText } from '../../src/assets';
import { renderPlan } from '../../src/engine/output';
import { redact } from '../../src/engine/redact';
import { shellCommand } from '../../src/shell';
import { answersYaml, fixtureDir, testAnswers } from '../support/answers';
import { assertConverges, factsFor, phaseContext, scriptOf } from '../support/phase-check';

const file = (content: string, mode = 0o644): FileFact => ({ content, mode, owner: 'root', group: 'root' });
const kinds = (actions: Action[]) => actions.map((a) => (a.kind === 'file' || a.kind === 'remove' ? `${a.kind} ${a.path}` : a.kind === 'service' ? `${a.op} ${a.unit}` : a.kind === 'packages' ? `install ${a.install.join(' ')}` : a.kind === 'run' ? `run: ${a.title}` : a.kind));
const written = (actions: Action[], path: string) => {
  const action = actions.find((a) => a.kind === 'file' && a.path === path);
  assert.ok(action && action.kind === 'file', `no write of ${path}`);
  return action.content;
};
const DOCKER_MARKER = markerPath('docker');
const WRITTEN_RECORD = markerPath('docker-written.json');
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
      `file ${WRITTEN_RECORD}`,
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
      'install curl ca-certificates gpg',
      `run: fetch Docker's apt key from https://download.docker.com/linux/debian/gpg (fingerprint ${DOCKER_KEY_FINGERPRINT})`,
      `file ${DOCKER_SOURCES}`,
      `file ${trustedCaPath('hubmirror.berth.test')}`,
      `file ${DAEMON_JSON}`,
      'install docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin',
      `file ${DOCKER_MARKER}`,
      'enable-now docker.service',
      `file ${WRITTEN_RECORD}`,
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
    const pinned = 'ABCD EF01 2345 6789 ABCD  EF01 2345 6789 abcd ef01';
    const ctx = phaseContext(testAnswers({ docker: { source: 'official', aptMirror: 'http://docker-apt.berth.test/linux/', aptKeyFingerprint: pinned } }), 'vm1', { osId: 'ubuntu', osVersion: '24.04', osCodename: 'noble', arch: 'arm64' });
    const facts = factsFor(dockerPhase, ctx, { packages: { curl: '8.5.0', 'ca-certificates': '20240203', gpg: '2.4.4' } });
    const actions = assertConverges(dockerPhase, ctx, facts);
    assert.equal(kinds(actions)[0], "run: fetch Docker's apt key from http://docker-apt.berth.test/linux/ubuntu/gpg (fingerprint ABCDEF0123456789ABCDEF0123456789ABCDEF01)");
    assert.equal(written(actions, DOCKER_SOURCES), renderDockerSources('http://docker-apt.berth.test/linux/ubuntu', 'noble', 'arm64'));
    assert.match(written(actions, DOCKER_SOURCES), /^URIs: http:\/\/docker-apt\.berth\.test\/linux\/ubuntu\nSuites: noble\n.*\nArchitectures: arm64$/m);
  });

  it('official through a mirror with a login: it goes to auth.conf.d (0600, never shown), the URLs go without it, curl reads it from stdin', () => {
    const token = 'Apt-Mirror-Tok3n-Zq9';
    const ctx = phaseContext(testAnswers({ docker: { source: 'official', aptMirror: `https://ci:${token}@docker.mirror.example/linux/` } }), 'vm1');
    const actions = assertConverges(dockerPhase, ctx, factsFor(dockerPhase, ctx));
    assert.deepEqual(kinds(actions).slice(0, 4), [
      'install curl ca-certificates gpg',
      `file ${DOCKER_APT_AUTH}`,
      `run: fetch Docker's apt key from https://docker.mirror.example/linux/debian/gpg (fingerprint ${DOCKER_KEY_FINGERPRINT})`,
      `file ${DOCKER_SOURCES}`,
    ]);
    const auth = actions.find((a) => a.kind === 'file' && a.path === DOCKER_APT_AUTH);
    assert.deepEqual(auth, {
      kind: 'file',
      path: DOCKER_APT_AUTH,
      content: [
        '# Managed by berth: the login of docker.aptMirror in the answers file. Changes here are overwritten by the next `berth install`.',
        'machine docker.mirror.example/linux',
        'login ci',
        `password ${token}`,
        '',
      ].join('\n'),
      mode: 0o600,
      sensitive: true,
    });
    assert.match(written(actions, DOCKER_SOURCES), /^URIs: https:\/\/docker\.mirror\.example\/linux\/debian$/m);
    const fetch = actions.find((a) => a.kind === 'run' && a.title.startsWith('fetch'));
    assert.ok(fetch?.kind === 'run');
    assert.equal(fetch.stdin?.reveal(), `user = "ci:${token}"\n`);
    assert.equal(fetch.script, dockerKeyScript({ fetch: 'https://docker.mirror.example/linux/debian/gpg', withAuth: true }, DOCKER_KEY_FINGERPRINT));
    // What berth prints (plans, logs, JSON lines) passes through the redaction layer: the token is masked everywhere.
    const printed = renderPlan([{ phase: 'docker', host: 'vm1', actions, files: {} }], new chalk.Instance({ level: 0 })) + redact(JSON.stringify(actions));
    assert.ok(!printed.includes(token), printed);
    assert.ok(printed.includes('(content holds a secret: not shown)'), printed);
  });

  it('removes the login file once the answers give the mirror no login', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'official', aptMirror: 'https://docker.mirror.example/linux' } }), 'vm1');
    const facts = factsFor(dockerPhase, ctx, { files: { [DOCKER_APT_AUTH]: file('machine docker.mirror.example/linux\n', 0o600) } });
    assert.ok(kinds(assertConverges(dockerPhase, ctx, facts)).includes(`remove ${DOCKER_APT_AUTH}`));
  });

  it('fetches the key again when the source moves to another mirror', () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'official', aptMirror: 'https://mirror-b.example/linux' } }), 'vm1');
    const installed = Object.fromEntries(['curl', 'ca-certificates', 'gpg', 'docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin'].map((p) => [p, '1']));
    const oldSource = renderDockerSources('https://mirror-a.example/linux/debian', 'trixie', 'amd64');
    const facts = factsFor(dockerPhase, ctx, { packages: installed, files: { [DOCKER_SOURCES]: file(oldSource) }, probes: { dockerKey: { code: 0, out: '' } }, units: { 'docker.service': { active: 'active', enabled: 'enabled' } } });
    const actions = assertConverges(dockerPhase, ctx, facts);
    assert.deepEqual(kinds(actions).slice(0, 2), [`run: fetch Docker's apt key from https://mirror-b.example/linux/debian/gpg (fingerprint ${DOCKER_KEY_FINGERPRINT})`, `file ${DOCKER_SOURCES}`]);
  });

  it("fetches the key again when the host's keyring is not the pinned key (the probe checks its fingerprint)", () => {
    const ctx = phaseContext(testAnswers({ docker: { source: 'official' } }), 'vm1');
    assert.equal(dockerPhase.query(ctx).probes?.dockerKey, dockerKeyScript('check', DOCKER_KEY_FINGERPRINT));
    const installed = Object.fromEntries(['curl', 'ca-certificates', 'gpg', ...OFFICIAL_PACKAGES].map((p) => [p, '1']));
    const sources = renderDockerSources('https://download.docker.com/linux/debian', 'trixie', 'amd64');
    const converged = { packages: installed, files: { [DOCKER_SOURCES]: file(sources) }, units: { 'docker.service': { active: 'active', enabled: 'enabled' } } };
    const stale = dockerPhase.plan(ctx, factsFor(dockerPhase, ctx, { ...converged, probes: { dockerKey: { code: 1, out: '' }, works } }));
    assert.deepEqual(kinds(stale).slice(0, 1), [`run: fetch Docker's apt key from https://download.docker.com/linux/debian/gpg (fingerprint ${DOCKER_KEY_FINGERPRINT})`]);
  });

  it('the key script: its arguments first, then assets/scripts/docker-apt-key.sh', () => {
    const script = assetText('scripts', 'docker-apt-key.sh');
    assert.equal(dockerKeyScript({ fetch: 'https://m.example/linux/debian/gpg', withAuth: false }, DOCKER_KEY_FINGERPRINT), `set -- https://m.example/linux/debian/gpg ${DOCKER_KEYRING} ${DOCKER_KEY_FINGERPRINT}\n${script}`);
    assert.equal(dockerKeyScript({ fetch: 'https://m.example/linux/debian/gpg', withAuth: true }, DOCKER_KEY_FINGERPRINT), `set -- --auth-stdin https://m.example/linux/debian/gpg ${DOCKER_KEYRING} ${DOCKER_KEY_FINGERPRINT}\n${script}`);
    assert.equal(dockerKeyScript('check', DOCKER_KEY_FINGERPRINT), `set -- --check ${DOCKER_KEYRING} ${DOCKER_KEY_FINGERPRINT}\n${script}`);
  });

  describe('assets/scripts/docker-apt-key.sh, run by bash with real gpg and curl (file:// URLs)', function () {
    this.timeout(30_000);
    let dir: string;
    const keys: Record<'a' | 'b', { file: string; fingerprint: string }> = {} as never;
    /** The script with its arguments, as the phase runs it, into a keyring under dir. */
    const dockerKeyScriptArgs = (args: string[]) => `set -- ${shellCommand(args)}\n${assetText('scripts', 'docker-apt-key.sh')}`;
    const run = (args: string[]) => spawnSync('bash', ['-c', dockerKeyScriptArgs(args)], { encoding: 'utf8' });

    before(() => {
      dir = fixtureDir();
      for (const name of ['a', 'b'] as const) {
        const home = join(dir, `gnupg-${name}`);
        mkdirSync(home, { mode: 0o700 });
        const gpg = (args: string[]) => execFileSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        gpg(['--quick-generate-key', `key ${name} <${name}@berth.test>`, 'ed25519', 'sign', 'never']);
        const fingerprint = gpg(['--with-colons', '--list-keys']).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9];
        const file = join(dir, `${name}.asc`);
        writeFileSync(file, gpg(['--armor', '--export', fingerprint]));
        execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
        keys[name] = { file, fingerprint };
      }
    });

    it('moves the pinned key into place, and --check then passes for it only', () => {
      const keyring = join(dir, 'keyrings', 'ok.asc');
      const fetched = run([`file://${keys.a.file}`, keyring, keys.a.fingerprint]);
      assert.equal(fetched.status, 0, fetched.stderr);
      assert.equal(readFileSync(keyring, 'utf8'), readFileSync(keys.a.file, 'utf8'));
      assert.equal((statSync(keyring).mode & 0o777).toString(8), '644');
      assert.equal(run(['--check', keyring, keys.a.fingerprint]).status, 0);
      assert.equal(run(['--check', keyring, keys.b.fingerprint]).status, 1);
      assert.equal(run(['--check', join(dir, 'keyrings', 'absent.asc'), keys.a.fingerprint]).status, 1);
    });

    it('refuses another key, naming both fingerprints and the setting, and leaves the keyring as it was', () => {
      const keyring = join(dir, 'keyrings', 'kept.asc');
      assert.equal(run([`file://${keys.a.file}`, keyring, keys.a.fingerprint]).status, 0);
      const refused = run([`file://${keys.b.file}`, keyring, keys.a.fingerprint]);
      assert.equal(refused.status, 1);
      assert.equal(
        refused.stderr,
        `berth: the key at file://${keys.b.file} is ${keys.b.fingerprint}, not the pinned ${keys.a.fingerprint}; nothing was installed.\n` +
          'berth: if this mirror signs with a key of its own, and its operator confirms that fingerprint, set docker.aptKeyFingerprint to it in the answers file.\n',
      );
      assert.equal(readFileSync(keyring, 'utf8'), readFileSync(keys.a.file, 'utf8'));
      assert.equal(existsSync(`${keyring}.new`), false);
    });

    it('refuses a file holding the pinned key and another one (apt would trust both)', () => {
      const both = join(dir, 'both.asc');
      writeFileSync(both, readFileSync(keys.a.file, 'utf8') + readFileSync(keys.b.file, 'utf8'));
      const refused = run([`file://${both}`, join(dir, 'keyrings', 'both.asc'), keys.a.fingerprint]);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, new RegExp(`is ${keys.a.fingerprint},${keys.b.fingerprint}, not the pinned ${keys.a.fingerprint}`));
      assert.equal(existsSync(join(dir, 'keyrings', 'both.asc')), false);
    });

    it('refuses what is not a key (a mirror\'s error page)', () => {
      const page = join(dir, 'page.html');
      writeFileSync(page, '<html>404</html>\n');
      const refused = run([`file://${page}`, join(dir, 'keyrings', 'page.asc'), keys.a.fingerprint]);
      assert.equal(refused.status, 1);
      assert.equal(refused.stderr, `berth: file://${page} did not return a PGP public key\n`);
      assert.equal(existsSync(join(dir, 'keyrings', 'page.asc.new')), false);
    });

    it('--auth-stdin: curl logs in with the user and password from stdin, quoted for its config', async () => {
      let authorization: string | undefined;
      const server = createServer((req, res) => {
        authorization = req.headers.authorization;
        res.end(readFileSync(keys.a.file));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/linux/debian/gpg`;
        const child = spawn('bash', ['-c', dockerKeyScriptArgs(['--auth-stdin', url, join(dir, 'keyrings', 'auth.asc'), keys.a.fingerprint])], { stdio: ['pipe', 'ignore', 'pipe'] });
        child.stdin.end(curlAuthConfig('user', 'pa"ss\\word'));
        const [code] = (await once(child, 'close')) as [number];
        assert.equal(code, 0);
        assert.equal(authorization, `Basic ${Buffer.from('user:pa"ss\\word').toString('base64')}`);
      } finally {
        server.close();
      }
    });
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

  describe('what the answers no longer give', () => {
    const bare = () => phaseContext(testAnswers({ dns: { mode: 'off' }, docker: { source: 'distro' } }), 'vm2');
    const daemonOf = (c: ReturnType<typeof ctx>, facts: Partial<Facts>) => written(dockerPhase.plan(c, factsFor(dockerPhase, c, facts)), DAEMON_JSON);

    it('takes out the keys and CA certificates it wrote: daemon.json as if they had never been given, then its record', () => {
      const actions = assertConverges(dockerPhase, bare(), factsFor(dockerPhase, bare(), running(convergedFiles())));
      assert.deepEqual(kinds(actions), [
        `run: remove the CA certificates of registries docker.trustedCAs no longer lists (${trustedCaPath('hubmirror.berth.test')})`,
        `file ${DAEMON_JSON}`,
        'restart docker.service',
        `file ${DOCKER_MARKER}`,
        `file ${WRITTEN_RECORD}`,
        CHECK,
      ]);
      assert.equal(written(actions, DAEMON_JSON), daemonOf(bare(), {}));
      assert.equal(
        scriptOf(actions[0]),
        'rm -f -- /etc/docker/certs.d/hubmirror.berth.test/ca.crt\nfor dir in /etc/docker/certs.d/hubmirror.berth.test /etc/docker/certs.d; do if [ -d "$dir" ]; then rmdir --ignore-fail-on-non-empty -- "$dir"; fi; done',
      );
    });

    it("takes Docker's apt key, source and login away once docker.source is not official, first; only the files berth wrote", () => {
      const official = phaseContext(testAnswers({ docker: { source: 'official', aptMirror: 'https://ci:Apt-T0ken-x9@docker.mirror.example/linux' } }), 'vm2');
      const wrote = Object.fromEntries(dockerPhase.plan(official, factsFor(dockerPhase, official)).flatMap((a) => (a.kind === 'file' ? [[a.path, file(a.content, a.mode)]] : [])));
      assert.deepEqual((JSON.parse(wrote[WRITTEN_RECORD].content) as { apt: string[] }).apt, [DOCKER_KEYRING, DOCKER_SOURCES, DOCKER_APT_AUTH]);
      const onHost = { ...wrote, [DOCKER_KEYRING]: file('-----BEGIN PGP PUBLIC KEY BLOCK-----\n') };
      const distro = phaseContext(testAnswers({ docker: { source: 'distro' } }), 'vm2');
      const actions = assertConverges(dockerPhase, distro, factsFor(dockerPhase, distro, { files: onHost }));
      assert.deepEqual(kinds(actions).slice(0, 3), [`remove ${DOCKER_KEYRING}`, `remove ${DOCKER_SOURCES}`, `remove ${DOCKER_APT_AUTH}`]);
      assert.deepEqual((JSON.parse(written(actions, WRITTEN_RECORD)) as { apt: string[] }).apt, []);
      // Docker's files that berth did not write (no record of them) stay.
      const theirs = { [DOCKER_KEYRING]: file('key'), [DOCKER_SOURCES]: file('Types: deb\n') };
      assert.ok(!kinds(dockerPhase.plan(distro, factsFor(dockerPhase, distro, { files: theirs }))).some((k) => k.startsWith('remove')));
    });

    it("keeps an operator's keys, and a key of berth's whose value an operator changed", () => {
      const files = convergedFiles();
      const daemon = JSON.parse(files[DAEMON_JSON].content) as Record<string, unknown>;
      files[DAEMON_JSON] = file(JSON.stringify({ debug: true, ...daemon, dns: ['192.0.2.53'] }));
      assert.deepEqual(JSON.parse(daemonOf(bare(), running(files))), { debug: true, ...JSON.parse(daemonOf(bare(), {})), dns: ['192.0.2.53'] });
    });

    it('takes out nothing on a host whose berth kept no record, and writes the record', () => {
      const files = convergedFiles();
      delete files[WRITTEN_RECORD];
      const actions = dockerPhase.plan(bare(), factsFor(dockerPhase, bare(), running(files)));
      assert.deepEqual(JSON.parse(written(actions, DAEMON_JSON)).dns, ['10.0.0.12']);
      assert.ok(kinds(actions).includes(`file ${WRITTEN_RECORD}`));
    });

    it('refuses to drop or move a data-root it set, before any change, and says how to move the data', () => {
      const withRoot = (dataRoot?: string) => phaseContext(mirrorAnswers({ source: 'distro', ...(dataRoot ? { dataRoot } : {}) }), 'vm2');
      const c = withRoot('/srv/docker');
      const files = Object.fromEntries(dockerPhase.plan(c, factsFor(dockerPhase, c)).flatMap((a) => (a.kind === 'file' ? [[a.path, file(a.content, a.mode)]] : [])));
      for (const [next, says] of [[undefined, /no longer set it/], ['/data/docker', /now say \/data\/docker/]] as const) {
        assert.throws(
          () => dockerPhase.plan(withRoot(next), factsFor(dockerPhase, withRoot(next), running(files))),
          (e: unknown) => e instanceof HostProblem && /Docker keeps its data in \/srv\/docker/.test(e.message) && says.test(e.message) && /docker\.dataRoot: \/srv\/docker back/.test(e.hint ?? ''),
        );
      }
      // Moved by the operator (daemon.json says so): followed.
      const moved = { ...files, [DAEMON_JSON]: file(files[DAEMON_JSON].content.replace('/srv/docker', '/data/docker')) };
      const followed = dockerPhase.plan(withRoot('/data/docker'), factsFor(dockerPhase, withRoot('/data/docker'), running(moved)));
      assert.equal((JSON.parse(written(followed, WRITTEN_RECORD)) as { daemon: Record<string, unknown> }).daemon['data-root'], '/data/docker');
    });
  });

  it('checks again, and only checks, when docker or docker compose stopped working', () => {
    const broken = { ...running(convergedFiles()), probes: { works: { code: 127, out: 'bash: docker: command not found' } } };
    assert.deepEqual(kinds(assertConverges(dockerPhase, ctx(), factsFor(dockerPhase, ctx(), broken))), [CHECK]);
  });
});
