import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Secret } from '../../src/answers/secret';
import { assetPath } from '../../src/assets';
import { renderCompose } from '../../src/render/compose';
import {
  htpasswdFor,
  htpasswdMatches,
  REGISTRY_FILES,
  registryAddress,
  registryCaPath,
  registryComposePath,
  registryComposeSpec,
  registrySans,
  registryTlsScript,
  renderRegistryConfig,
} from '../../src/render/registry';
import { TEST_SECRETS, testAnswers } from '../support/answers';
import { phaseContext } from '../support/phase-check';

const registryHost = (hosts?: unknown[]) => {
  const answers = testAnswers(hosts ? { hosts } : {});
  return { answers, host: phaseContext(answers, 'vm2').host };
};

describe('registry files', () => {
  it('config.yml: filesystem storage with deletes, TLS and htpasswd from /etc/berth/registry, health on the container\'s loopback', () => {
    assert.equal(
      renderRegistryConfig(),
      `# Managed by berth: the registry (registry in the answers file). Changes here are overwritten by the next \`berth install\`.
version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
  tls:
    certificate: /etc/berth/registry/server.crt
    key: /etc/berth/registry/server.key
  headers:
    X-Content-Type-Options:
      - nosniff
  debug:
    addr: 127.0.0.1:5001
auth:
  htpasswd:
    realm: berth registry
    path: /etc/berth/registry/htpasswd
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`,
    );
  });

  it('compose.yaml: registry:2 published on registry.port, read-only, no capabilities, healthchecked', () => {
    const answers = testAnswers({ project: 'shop', registry: { port: 5443, password: TEST_SECRETS.registry } });
    assert.equal(registryComposePath(answers), '/opt/berth/shop/registry/compose.yaml');
    assert.equal(
      renderCompose(registryComposeSpec(answers)),
      `# Managed by berth: the Docker Compose project shop-registry. Changes here are overwritten by the next \`berth install\`.
name: shop-registry
services:
  registry:
    image: registry:2
    command:
      - /etc/berth/registry/config.yml
    ports:
      - target: 5000
        published: 5443
        protocol: tcp
    volumes:
      - type: volume
        source: data
        target: /var/lib/registry
      - type: bind
        source: /etc/berth/registry
        target: /etc/berth/registry
        read_only: true
    read_only: true
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
    healthcheck:
      test:
        - CMD
        - wget
        - -q
        - -O
        - /dev/null
        - http://127.0.0.1:5001/debug/health
      interval: 10s
      timeout: 5s
      retries: 3
      start_period: 10s
    restart: unless-stopped
volumes:
  data: {}
`,
    );
  });

  it('keeps the CA out of the directory the container mounts; keys and htpasswd are 0600', () => {
    assert.deepEqual(
      Object.values(REGISTRY_FILES).map((f) => `${f.mode.toString(8)} ${f.path}`),
      [
        '600 /etc/berth/registry-ca/ca.key',
        '644 /etc/berth/registry-ca/ca.crt',
        '600 /etc/berth/registry/server.key',
        '644 /etc/berth/registry/server.crt',
        '600 /etc/berth/registry/htpasswd',
        '644 /etc/berth/registry/config.yml',
      ],
    );
  });
});

describe('registry htpasswd', () => {
  const password = new Secret(TEST_SECRETS.registry, 'literal');

  it('is one bcrypt line for the user under berth\'s header, and matches only that user with that password', () => {
    const file = htpasswdFor('berth', password);
    assert.match(file, /^# Managed by berth: the registry users \(registry\.user and registry\.password in the answers file\)\. Changes here are overwritten by the next `berth install`\.\nberth:\$2b\$10\$[./A-Za-z0-9]{53}\n$/);
    assert.ok(!file.includes(password.reveal()));
    assert.equal(htpasswdMatches(file, 'berth', password), true);
    assert.equal(htpasswdMatches(file, 'berth', new Secret('wrong', 'literal')), false);
    assert.equal(htpasswdMatches(file, 'other', password), false);
    assert.equal(htpasswdMatches(null, 'berth', password), false);
    assert.equal(htpasswdMatches('', 'berth', password), false);
  });

  it('berth owns the whole file: another user\'s line means it is rewritten; $2y$ (htpasswd -B) hashes match too', () => {
    const line = htpasswdFor('berth', password).split('\n')[1];
    assert.equal(htpasswdMatches(`${line}\nalice:${line.slice('berth:'.length)}\n`, 'berth', password), false);
    assert.equal(htpasswdMatches(`\n# a comment\n${line.replace('$2b$', '$2y$')}\n`, 'berth', password), true);
    assert.equal(htpasswdMatches('berth\n', 'berth', password), false);
  });
});

describe('registry address and certificate names', () => {
  it('IPv4: the cluster address and port, one IP SAN when berth connects to the same address', () => {
    const { answers, host } = registryHost();
    assert.equal(registryAddress(answers, host), '10.0.0.12:5000');
    assert.equal(registryCaPath(answers, host), '/etc/docker/certs.d/10.0.0.12:5000/ca.crt');
    assert.deepEqual(registrySans(host), ['IP:10.0.0.12']);
  });

  it('a private address: both IPs, the private one (what clients use) first', () => {
    const { answers, host } = registryHost([
      { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
      { name: 'vm2', address: '203.0.113.12', privateAddress: '10.0.0.12', roles: ['registry', 'dns'] },
    ]);
    assert.equal(registryAddress(answers, host), '10.0.0.12:5000');
    assert.deepEqual(registrySans(host), ['IP:10.0.0.12', 'IP:203.0.113.12']);
  });

  it('IPv6 in brackets; a host name berth connects to becomes a DNS SAN', () => {
    const { answers, host } = registryHost([
      { name: 'vm1', address: 'fd00::11', roles: ['app', 'lb', 'db'] },
      { name: 'vm2', address: 'reg.example.net', privateAddress: 'fd00::12', roles: ['registry', 'dns'] },
    ]);
    assert.equal(registryAddress(answers, host), '[fd00::12]:5000');
    assert.equal(registryCaPath(answers, host), '/etc/docker/certs.d/[fd00::12]:5000/ca.crt');
    assert.deepEqual(registrySans(host), ['IP:fd00::12', 'DNS:reg.example.net']);
  });

  it('the TLS script gets its arguments as positional parameters before the shipped script', () => {
    const { host } = registryHost();
    const shipped = readFileSync(assetPath('scripts', 'registry-tls.sh'), 'utf8');
    assert.equal(registryTlsScript('issue', host), `set -- /etc/berth/registry-ca /etc/berth/registry IP:10.0.0.12 825\n${shipped}`);
    assert.equal(registryTlsScript('check', host), `set -- --check /etc/berth/registry-ca /etc/berth/registry IP:10.0.0.12\n${shipped}`);
  });
});
