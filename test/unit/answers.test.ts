import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadAnswersFile, parseAnswers, readAnswersText } from '../../src/answers/load';
import { answersJsonSchema } from '../../src/answers/json-schema';
import { missingSecrets } from '../../src/answers/missing';
import { redact } from '../../src/engine/redact';
import { BadInputError } from '../../src/errors';
import { answersYaml, fixtureDir, TEST_SECRETS } from '../support/answers';

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}, dir = fixtureDir()): string[] {
  try {
    parseAnswers(text, join(dir, 'berth.yaml'), { env });
  } catch (err) {
    assert.ok(err instanceof BadInputError, `expected BadInputError, got ${String(err)}`);
    return err.details.map((d) => d.replace(`${join(dir, 'berth.yaml')}`, 'berth.yaml'));
  }
  return [];
}

/** The problems without their line:column, each checked to have one. */
function placeless(problems: string[]): string[] {
  return problems.map((p) => {
    assert.match(p, /^berth\.yaml:\d+:\d+: /);
    return p.replace(/^berth\.yaml:\d+:\d+: /, '');
  });
}

const yaml = (overrides: Record<string, unknown> = {}) => stringify(answersYaml(overrides));

describe('answers file: valid input', () => {
  it('accepts the minimal file and fills in the defaults of the original layout', () => {
    const dir = fixtureDir();
    const text = stringify({ ssh: { privateKey: './id_test' }, hosts: [{ name: 'vm1', address: '192.168.122.105' }, { name: 'vm2', address: '192.168.122.173' }] });
    const { answers } = parseAnswers(text, join(dir, 'berth.yaml'));
    assert.deepEqual(answers.hosts.map((h) => h.roles), [['app', 'lb', 'db'], ['registry', 'dns']]);
    assert.equal(answers.ssh.port, 22);
    assert.equal(answers.dns.mode, 'forwarder');
    assert.deepEqual(answers.dns.upstreams, ['shecan']);
    assert.equal(answers.app.replicas, 2);
    assert.equal(answers.db.nodes, 3);
    assert.equal(answers.sshHardening.rootLogin, false);
    assert.deepEqual(answers.firewall.adminCidrs, ['0.0.0.0/0', '::/0']);
    assert.deepEqual(missingSecrets(answers).map((m) => m.path.join('.')), ['registry.password', 'app.secretKey', 'db.rootPassword', 'db.password']);
  });

  it('accepts JSON too', () => {
    const dir = fixtureDir();
    const { answers } = parseAnswers(JSON.stringify(answersYaml()), join(dir, 'berth.json'));
    assert.equal(answers.hosts.length, 2);
  });

  it('resolves env: and file: secrets and masks them when printed', () => {
    const dir = fixtureDir();
    writeFileSync(join(dir, 'db-root'), `${TEST_SECRETS.dbRoot}\n`, { mode: 0o600 });
    const { answers } = parseAnswers(yaml({ registry: { password: 'env:REG_PW' }, db: { rootPassword: 'file:./db-root', password: TEST_SECRETS.db } }), join(dir, 'berth.yaml'), {
      env: { REG_PW: TEST_SECRETS.registry },
    });
    assert.equal(answers.registry.password?.reveal(), TEST_SECRETS.registry);
    assert.equal(answers.db.rootPassword?.reveal(), TEST_SECRETS.dbRoot, 'the trailing newline of the file is dropped');
    assert.equal(answers.db.rootPassword?.source, 'file:./db-root');
    const printed = `${JSON.stringify(answers)} ${String(answers.registry.password)}`;
    for (const s of Object.values(TEST_SECRETS)) assert.ok(!printed.includes(s), `${s} leaked`);
  });

  it('parses the shipped example once its secrets are set', () => {
    const dir = fixtureDir();
    const example = readAnswersText(join(__dirname, '../../assets/answers.example.yaml')).replace('~/.ssh/id_ed25519', './id_test');
    assert.match(example.split('\n')[0], /^# yaml-language-server: \$schema=/);
    const env = { BERTH_REGISTRY_PASSWORD: TEST_SECRETS.registry, BERTH_DJANGO_SECRET_KEY: TEST_SECRETS.django, BERTH_DB_ROOT_PASSWORD: TEST_SECRETS.dbRoot, BERTH_DB_PASSWORD: TEST_SECRETS.db };
    const { answers } = parseAnswers(example, join(dir, 'berth.yaml'), { env });
    assert.deepEqual(answers.hosts.map((h) => h.name), ['vm1', 'vm2']);
  });
});

describe('answers file: certificates', () => {
  it('reads trusted CA certificates while parsing and refuses what is not PEM', () => {
    const dir = fixtureDir();
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n';
    writeFileSync(join(dir, 'ca.pem'), pem);
    writeFileSync(join(dir, 'notes.txt'), 'hello\n');
    const { answers } = parseAnswers(yaml({ docker: { trustedCAs: [{ registry: 'hubmirror.berth.test', ca: './ca.pem' }] } }), join(dir, 'berth.yaml'));
    assert.deepEqual(answers.docker.trustedCAs, [{ registry: 'hubmirror.berth.test', ca: { path: './ca.pem', pem } }]);
    const problems = problemsOf(yaml({ docker: { trustedCAs: [{ registry: 'r', ca: './notes.txt' }] } }), {}, dir);
    assert.ok(problems.some((p) => /docker\.trustedCAs\[0\]\.ca: \.\/notes\.txt is not a PEM certificate/.test(p)), problems.join('\n'));
  });
});

describe('answers file: bad input, every problem at once with its place', () => {
  it('reports malformed YAML with line and column', () => {
    const problems = problemsOf('version: 1\nhosts:\n  - name: vm1\n    address: [1.2.3.4\n');
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^berth\.yaml:\d+:\d+: \(top level\): not valid YAML: /);
  });

  it('reports duplicate keys as YAML problems', () => {
    const problems = problemsOf('version: 1\nversion: 1\n');
    assert.match(problems[0], /berth\.yaml:2:1: .*not valid YAML: Map keys must be unique/);
  });

  it('names unknown keys with the closest valid one', () => {
    const text = yaml().replace('ssh:\n', 'ssh:\n  prot: 22\n').replace('dns:\n', 'dnss: {}\ndns:\n');
    const problems = problemsOf(text);
    assert.ok(problems.some((p) => /^berth\.yaml:\d+:3: ssh\.prot: unknown setting "prot"; did you mean "port"\?$/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /^berth\.yaml:\d+:1: dnss: unknown setting "dnss"; did you mean "dns"\?$/.test(p)), problems.join('\n'));
  });

  it('reports wrong types, bad addresses, ports and CIDRs together, each at its line', () => {
    const text = yaml({
      ssh: { privateKey: './id_test', port: 70000 },
      hosts: [
        { name: 'vm1', address: '300.1.1.1', roles: ['app', 'lb', 'db'] },
        { name: 'vm2', address: '2001:db8:::1', roles: ['registry', 'dns'] },
        { name: 'vm3', address: 'bad_host!', roles: 'app' },
      ],
      firewall: { adminCidrs: ['10.0.0.5/24', '1.2.3.4/40'] },
      app: { replicas: 'two', secretKey: TEST_SECRETS.django },
    });
    const problems = problemsOf(text);
    const expect = [
      /ssh\.port: must be at most 65535, not the number 70000/,
      /hosts\[0\]\.address: "300\.1\.1\.1" is not a valid IPv4 address/,
      /hosts\[1\]\.address: "2001:db8:::1" is not a valid IPv6 address/,
      /hosts\[2\]\.address: "bad_host!" is not a valid IPv4 address, IPv6 address or hostname/,
      /hosts\[2\]\.roles: must be a list, not the text "app"/,
      /firewall\.adminCidrs\[0\]: "10\.0\.0\.5\/24" has host bits set; did you mean 10\.0\.0\.0\/24/,
      /firewall\.adminCidrs\[1\]: "1\.2\.3\.4\/40" is not a CIDR block: the prefix length must be 0 to 32/,
      /app\.replicas: must be a number, not the text "two"/,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} not in:\n${problems.join('\n')}`);
    for (const p of problems) assert.match(p, /^berth\.yaml:\d+:\d+: /, p);
  });

  it('reports duplicate names and addresses, missing and duplicated roles', () => {
    const text = yaml({
      hosts: [
        { name: 'vm1', address: '10.0.0.11', roles: ['app', 'registry'] },
        { name: 'vm1', address: '10.0.0.11', roles: ['registry', 'registry'] },
      ],
    });
    const problems = problemsOf(text);
    const expect = [
      /hosts\[1\]\.name: "vm1" is already the name of hosts\[0\]/,
      /hosts\[1\]\.address: 10\.0\.0\.11 is already the address of hosts\[0\]/,
      /hosts\[1\]\.roles: lists the role "registry" twice/,
      /hosts: no host has the role "lb"/,
      /hosts: no host has the role "db"/,
      /hosts: no host has the role "dns" \(needed by dns\.mode: forwarder\)/,
      /hosts\[1\]\.roles: "registry" is already the role of hosts\[0\]; exactly one host runs the registry/,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} not in:\n${problems.join('\n')}`);
  });

  it('needs roles on every host once any host lists them', () => {
    const problems = problemsOf(yaml({ hosts: [{ name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db', 'registry', 'dns'] }, { name: 'vm2', address: '10.0.0.12' }] }));
    assert.ok(problems.some((p) => /hosts\[1\]: has no roles while other hosts do/.test(p)), problems.join('\n'));
  });

  it('reports key files and secret references that cannot be used', () => {
    const dir = fixtureDir();
    mkdirSync(join(dir, 'adir'));
    const text = yaml({
      ssh: { privateKey: './no-such-key' },
      docker: { trustedCAs: [{ registry: 'mirror.example', ca: './adir' }] },
      registry: { password: 'env:BERTH_UNSET_FOR_TEST' },
      db: { rootPassword: 'file:./no-such-secret', password: 'env:1BAD' },
    });
    const problems = problemsOf(text, {}, dir);
    const expect = [
      /ssh\.privateKey: .*no-such-key does not exist/,
      /docker\.trustedCAs\[0\]\.ca: .*adir is not a regular file/,
      /registry\.password: refers to the environment variable BERTH_UNSET_FOR_TEST, which is not set/,
      /db\.rootPassword: refers to a file that cannot be used: .*no-such-secret does not exist/,
      /db\.password: "1BAD" is not a valid environment variable name/,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} not in:\n${problems.join('\n')}`);
  });

  it('refuses weak passwords and says why', () => {
    const problems = problemsOf(yaml({ registry: { password: 'short' }, db: { rootPassword: 'password1234', password: 'aaaaaaaaaaaaaaa1' } }));
    assert.ok(problems.some((p) => /registry\.password: this password is only 5 characters long; use at least 12/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /db\.rootPassword: this password contains the common word "password"/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /db\.password: this password repeats too few different characters/.test(p)), problems.join('\n'));
  });

  it('refuses root, Debian system accounts and the deploy user as admin.user, and only there', () => {
    for (const user of ['root', 'daemon', 'www-data', '_apt', 'nobody', 'sshd', 'messagebus', 'systemd-network']) {
      assert.deepEqual(placeless(problemsOf(yaml({ admin: { user } }))), [
        `admin.user: ${user} is a system account of Debian; berth creates the admin user as a new account, so choose a name of your own such as berth`,
      ]);
    }
    assert.deepEqual(placeless(problemsOf(yaml({ admin: { user: 'berth-deploy' } }))), [
      'admin.user: berth-deploy is the deploy user berth makes for the pipelines (ci.deployKeys), allowed only to deploy; choose another name such as berth',
    ]);
    assert.deepEqual(placeless(problemsOf(yaml({ admin: { user: 'Admin' } }))), ['admin.user: must be a Unix user name: lowercase letters, digits, _ and -, at most 32, not starting with a digit or -, not the text "Admin"']);
    assert.deepEqual(placeless(problemsOf(yaml({ ssh: { user: 'root', privateKey: './id_test' }, admin: { user: 'ops' } }))), [], 'berth may first log in as root');
  });

  it('refuses IPv6 zone ids in addresses, CIDRs, upstreams and openPorts sources, with no internal error', () => {
    const problems = placeless(problemsOf(
      yaml({
        hosts: [
          { name: 'vm1', address: 'fe80::1%eth0', roles: ['app', 'lb', 'db'] },
          { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns'] },
        ],
        dns: { upstreams: ['fe80::53%eth0'] },
        firewall: { adminCidrs: ['fe80::%eth0/64'], openPorts: [{ port: 8080, from: ['fe80::%eth0/64', 'fe80::1%eth0'] }] },
      }),
    ));
    assert.deepEqual(problems, [
      'hosts[0].address: "fe80::1%eth0" has an IPv6 zone id (%eth0), which names an interface of one machine; give the address without it, e.g. fe80::1',
      'dns.upstreams[0]: "fe80::53%eth0" has an IPv6 zone id (%eth0), which names an interface of one machine; give the address without it, e.g. fe80::53',
      'firewall.adminCidrs[0]: "fe80::%eth0/64" has an IPv6 zone id (%eth0), which names an interface of one machine; give the address without it, e.g. fe80::/64',
      'firewall.openPorts[0].from[0]: "fe80::%eth0/64" has an IPv6 zone id (%eth0), which names an interface of one machine; give the address without it, e.g. fe80::/64',
      'firewall.openPorts[0].from[1]: "fe80::1%eth0" has an IPv6 zone id (%eth0), which names an interface of one machine; give the address without it, e.g. fe80::1',
    ]);
  });

  it('refuses an SSH port after hardening that a service or the registry holds; ssh.port may equal it', () => {
    assert.deepEqual(placeless(problemsOf(yaml({ sshHardening: { port: 53 } }))), ['sshHardening.port: 53 is the port of the DNS forwarder; SSH needs a port of its own, e.g. sshHardening.port: 22']);
    assert.deepEqual(placeless(problemsOf(yaml({ sshHardening: { port: 443 } }))), ["sshHardening.port: 443 is the port of the app's load balancer (80 and 443); SSH needs a port of its own, e.g. sshHardening.port: 22"]);
    assert.deepEqual(placeless(problemsOf(yaml({ sshHardening: { port: 5000 } }))), ['registry.port: 5000 (the default) is already sshHardening.port; the registry needs a port of its own, e.g. registry.port: 5001']);
    assert.deepEqual(placeless(problemsOf(yaml({ ssh: { privateKey: './id_test', port: 2222 }, sshHardening: { port: 2222 } }))), []);
  });

  it('limits every list, saying the limit', () => {
    const many = <T>(n: number, item: (i: number) => T) => Array.from({ length: n }, (_, i) => item(i));
    const problems = placeless(problemsOf(
      yaml({
        hosts: many(33, (i) => ({ name: `vm${i}`, address: `10.0.0.${i + 1}`, roles: ['app', 'lb', 'db', 'registry', 'dns'].slice(0, i === 0 ? 5 : 3) })),
        admin: { authorizedKeys: many(33, (i) => `ssh-ed25519 AAAA${i} k${i}`) },
        dns: { upstreams: many(9, (i) => `9.9.9.${i}`) },
        docker: { registryMirrors: many(17, (i) => `https://m${i}.example`), trustedCAs: many(33, (i) => ({ registry: `r${i}.example`, ca: './no-such-ca.pem' })) },
        firewall: { adminCidrs: many(65, (i) => `10.0.${i}.0/24`), openPorts: [{ port: 8080, from: many(65, (i) => `10.1.${i}.0/24`) }, ...many(64, (i) => 9000 + i)] },
        app: { allowedHosts: many(33, (i) => `a${i}.example`) },
      }),
    ));
    assert.deepEqual(
      problems.filter((p) => p.includes('berth takes at most')),
      [
        'admin.authorizedKeys: lists 33 items; berth takes at most 32',
        'hosts: lists 33 items; berth takes at most 32',
        'dns.upstreams: lists 9 items; berth takes at most 8',
        'docker.registryMirrors: lists 17 items; berth takes at most 16',
        'docker.trustedCAs: lists 33 items; berth takes at most 32',
        'firewall.adminCidrs: lists 65 items; berth takes at most 64',
        'firewall.openPorts[0].from: lists 65 items; berth takes at most 64',
        'firewall.openPorts: lists 65 items; berth takes at most 64',
        'app.allowedHosts: lists 33 items; berth takes at most 32',
      ],
    );
  });

  it('never shows a secret that YAML reads as something else than text', () => {
    const text = yaml({ registry: { password: 'PLACEHOLDER' } }).replace('PLACEHOLDER', '12345678901234567890');
    const problems = problemsOf(text);
    assert.deepEqual(placeless(problems), [
      'registry.password: must be text, but YAML reads it as a number (the value is not shown: it is a secret); put it in quotes ("…")',
    ]);
    assert.ok(!problems.join('\n').includes('1234567890'), 'the value is printed');
    assert.deepEqual(placeless(problemsOf(yaml({ db: { rootPassword: null } }))), ['db.rootPassword: is empty; give the secret itself, env:NAME or file:PATH (or remove the line)']);
  });

  it("docker: a plain-HTTP apt mirror needs a pinned key; fingerprints are 40 hex digits; no credentials in registry mirrors or over http://", () => {
    const problems = problemsOf(
      yaml({
        docker: {
          source: 'official',
          aptMirror: 'http://apt.example/linux',
          registryMirrors: ['https://hub.example', 'https://ci:Hub-Tok3n-Rw4@hub2.example/'],
        },
      }),
    ).map((p) => p.replace(/^berth\.yaml:\d+:\d+: /, ''));
    assert.deepEqual(problems, [
      'docker.registryMirrors[1]: "https://[redacted]@hub2.example/" holds credentials, and Docker takes none in registry-mirrors (dockerd refuses such a mirror: "username/password not allowed in URL"); use a mirror that serves anonymous pulls, reachable only from your hosts (firewall, VPN)',
      "docker.aptMirror: is an http:// URL, and berth takes a signing key over plain HTTP only when it is pinned: use https://, or set docker.aptKeyFingerprint to the fingerprint of the key the repository signs with (Docker's own: 9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88)",
    ]);
    const more = problemsOf(yaml({ docker: { aptMirror: 'http://ci:Apt-Tok3n-Kx2@apt.example/linux', aptKeyFingerprint: '9DC8 5822 9FC7 DD38 854A' } })).map((p) => p.replace(/^berth\.yaml:\d+:\d+: /, ''));
    assert.deepEqual(more, [
      'docker.aptMirror: "http://[redacted]@apt.example/linux" would send its credentials in the clear over http://: use https://',
      'docker.aptKeyFingerprint: must be an OpenPGP key fingerprint: 40 hex digits (spaces allowed)',
    ]);
    assert.deepEqual(
      problemsOf(yaml({ docker: { aptMirror: 'https://token-only@apt.example/linux' } })).map((p) => p.replace(/^berth\.yaml:\d+:\d+: /, '')),
      ['docker.aptMirror: "https://[redacted]@apt.example/linux" needs both a user and a password before the @ (https://USER:PASSWORD@host/…)'],
    );
  });

  it('docker: a pinned fingerprint is kept without spaces, upper case; an apt mirror\'s login becomes a secret, out of its URL', () => {
    const dir = fixtureDir();
    const pinned = parseAnswers(yaml({ docker: { aptMirror: 'http://apt.example/linux', aptKeyFingerprint: 'abcd ef01 2345 6789 ABCD EF01 2345 6789 ABCD EF01' } }), join(dir, 'berth.yaml')).answers;
    assert.equal(pinned.docker.aptKeyFingerprint, 'ABCDEF0123456789ABCDEF0123456789ABCDEF01');
    assert.equal(pinned.docker.aptAuth, undefined);
    const { docker } = parseAnswers(yaml({ docker: { aptMirror: 'https://ci%40corp:Apt-Tok3n%3AKx2@apt.example:8443/linux' } }), join(dir, 'berth.yaml')).answers;
    assert.equal(docker.aptMirror, 'https://apt.example:8443/linux');
    assert.equal(docker.aptAuth?.login, 'ci@corp');
    assert.equal(docker.aptAuth?.password.reveal(), 'Apt-Tok3n:Kx2');
    assert.equal(redact('curl -u ci@corp:Apt-Tok3n:Kx2'), 'curl -u ci@corp:[redacted]');
    assert.equal(JSON.stringify(docker.aptAuth), '{"login":"ci@corp","password":"[redacted]"}');
    const unencoded = parseAnswers(yaml({ docker: { aptMirror: 'https://ci:Apt-Tok3n:Kx2@apt.example/linux' } }), join(dir, 'berth.yaml')).answers.docker;
    assert.equal(unencoded.aptAuth?.password.reveal(), 'Apt-Tok3n:Kx2', 'a password may hold a colon');
  });

  it('refuses control characters in every secret, with the field, which character and where, never the value', () => {
    const dir = fixtureDir();
    writeFileSync(join(dir, 'two-newlines'), `${TEST_SECRETS.dbRoot}\n\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'crlf'), `${TEST_SECRETS.db}\r\n`, { mode: 0o600 });
    // YAML's | keeps the line break: the second line would reach chpasswd as another "user:password".
    const text = yaml({ admin: { password: 'Adm1n-Pw-Quartz-7731\nroot:Owned-Pw-4417' }, ssh: { sudoPassword: 'tab\there-Pw-0815' }, registry: { password: `bell\u0007-Pw-Quartz-99` }, app: { secretKey: `del\u007f-Pw-Quartz-99x` }, db: { rootPassword: 'file:./two-newlines', password: 'file:./crlf' } });
    const problems = problemsOf(text, {}, dir);
    const expect = [
      /admin\.password: this secret contains a line break at character 21; secrets are one line of printable characters \(a file: secret may end with one newline, which is dropped\)$/,
      /ssh\.sudoPassword: this secret contains a tab at character 4;/,
      /registry\.password: this secret contains the control character 0x07 at character 5;/,
      /app\.secretKey: this secret contains DEL at character 4;/,
      /db\.rootPassword: this secret contains a line break at character 22;/,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} not in:\n${problems.join('\n')}`);
    assert.ok(!problems.some((p) => p.startsWith('berth.yaml') && p.includes('db.password:')), 'exactly one trailing newline (here \\r\\n) is dropped');
    assert.ok(!problems.some((p) => p.includes('Owned-Pw') || p.includes('Quartz')), problems.join('\n'));
  });

  it('refuses an unsupported version', () => {
    const problems = problemsOf(yaml({ version: 2 }));
    assert.ok(problems.some((p) => /^berth\.yaml:1:10: version: this berth reads answers files of version 1 \(found the number 2\)$/.test(p)), problems.join('\n'));
  });

  it('reports a top level that is not a mapping', () => {
    assert.match(problemsOf('- just\n- a list\n')[0], /must be a mapping of settings/);
  });
});

describe('answers file: files that are not answers files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-files-'));
  const expectBadInput = (file: string, re: RegExp) =>
    assert.throws(() => loadAnswersFile(file), (err: unknown) => err instanceof BadInputError && re.test(err.message));

  it('an empty file', () => {
    writeFileSync(join(dir, 'empty.yaml'), '\n# only a comment\n');
    expectBadInput(join(dir, 'empty.yaml'), /is empty$/);
  });
  it('a binary file', () => {
    writeFileSync(join(dir, 'bin.yaml'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]));
    expectBadInput(join(dir, 'bin.yaml'), /is not a text file$/);
  });
  it('a directory', () => {
    expectBadInput(dir, /is a directory, not an answers file$/);
  });
  it('a 50 MB file', () => {
    writeFileSync(join(dir, 'big.yaml'), Buffer.alloc(50 * 1024 * 1024, 'a'));
    expectBadInput(join(dir, 'big.yaml'), /is 50\.0 MB; an answers file is a few kilobytes/);
  });
  it('a missing file', () => {
    expectBadInput(join(dir, 'nope.yaml'), /does not exist$/);
  });
});

describe('answers JSON Schema', () => {
  it('describes every section with defaults and forbids unknown keys', () => {
    const schema = answersJsonSchema() as { properties: Record<string, { properties?: Record<string, { default?: unknown }> }>; additionalProperties: boolean; required: string[] };
    assert.deepEqual(Object.keys(schema.properties), ['version', 'project', 'ssh', 'admin', 'hosts', 'dns', 'docker', 'firewall', 'sshHardening', 'registry', 'app', 'db', 'ci']);
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.required, ['hosts']);
    assert.equal(schema.properties.ssh.properties!.port.default, 22);
  });
});

describe('DNS presets', () => {
  it('offers every preset exactly once, shecan first', () => {
    const { DNS_PRESETS, DNS_PRESET_NAMES, expandUpstreams } = require('../../src/answers/presets') as typeof import('../../src/answers/presets');
    assert.deepEqual([...DNS_PRESET_NAMES].sort(), Object.keys(DNS_PRESETS).sort());
    assert.equal(DNS_PRESET_NAMES[0], 'shecan');
    assert.deepEqual(expandUpstreams(['shecan', '178.22.122.100', '9.9.9.9']), ['178.22.122.100', '185.51.200.2', '9.9.9.9']);
  });
});
