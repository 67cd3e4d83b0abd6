import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { imageReferenceProblem } from '../../src/answers/image-ref';
import { parseAnswers } from '../../src/answers/load';
import { BadInputError } from '../../src/errors';
import { answersYaml, fixtureDir, TEST_SECRETS } from '../support/answers';

/** Every problem as "field: message" (its place checked to be a line and column), or [] when the file is valid. */
function problems(overrides: Record<string, unknown>, dir = fixtureDir()): string[] {
  const file = join(dir, 'berth.yaml');
  try {
    parseAnswers(stringify(answersYaml(overrides)), file, { env: {} });
  } catch (err) {
    assert.ok(err instanceof BadInputError, `expected BadInputError, got ${String(err)}`);
    return err.details.map((d) => {
      assert.ok(d.startsWith(`${file}:`), d);
      return d.slice(file.length).replace(/^:\d+:\d+: /, '');
    });
  }
  return [];
}

function withApp(dir: string, name = 'myapp'): string {
  mkdirSync(join(dir, name));
  writeFileSync(join(dir, name, 'Dockerfile'), 'FROM python:3.12-slim\n');
  return dir;
}

const secretKey = TEST_SECRETS.django;
const EXAMPLE = 'e.g. registry.example.com:5000/team/app:1.4 or team/app@sha256:<64 hex digits>';

describe('answers: app source', () => {
  it('accepts a path to a directory with a Dockerfile, relative to the answers file', () => {
    const dir = withApp(fixtureDir());
    const { answers } = parseAnswers(stringify(answersYaml({ app: { source: 'path', path: './myapp', secretKey } })), join(dir, 'berth.yaml'));
    assert.equal(answers.app.source, 'path');
    assert.equal(answers.app.path, './myapp');
  });

  it('expands ~ in app.path', () => {
    const dir = fixtureDir();
    assert.deepEqual(problems({ app: { source: 'path', path: '~/berth-no-such-app-dir', secretKey } }, dir), [`app.path: ${join(homedir(), 'berth-no-such-app-dir')} does not exist`]);
  });

  it('accepts an image reference with source: image, and the demo without either', () => {
    assert.deepEqual(problems({ app: { source: 'image', image: 'registry.example.com:5000/team/app:1.4', secretKey } }), []);
    assert.deepEqual(problems({ app: { secretKey } }), []);
  });

  it('needs path with source: path and image with source: image', () => {
    assert.deepEqual(problems({ app: { source: 'path', secretKey } }), ["app.path: is required when app.source is path: the directory holding the app's Dockerfile, e.g. path: ./myapp"]);
    assert.deepEqual(problems({ app: { source: 'image', secretKey } }), ['app.image: is required when app.source is image: a prebuilt image, e.g. image: ghcr.io/team/app:1.4']);
  });

  it('refuses path or image that the source does not use', () => {
    const dir = withApp(fixtureDir());
    assert.deepEqual(problems({ app: { path: './myapp', secretKey } }, dir), ['app.path: is only used with app.source: path, but app.source is demo (the default); set source: path, or remove path']);
    assert.deepEqual(problems({ app: { source: 'image', image: 'team/app:1', path: './myapp', secretKey } }, dir), ['app.path: is only used with app.source: path, but app.source is image; set source: path, or remove path']);
    assert.deepEqual(problems({ app: { source: 'path', path: './myapp', image: 'team/app:1', secretKey } }, dir), ['app.image: is only used with app.source: image, but app.source is path; set source: image, or remove image']);
  });

  it('reports an app directory that is missing, a file, or without a Dockerfile at its top', () => {
    const dir = fixtureDir();
    mkdirSync(join(dir, 'nodocker', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'nodocker', 'sub', 'Dockerfile'), 'FROM scratch\n');
    assert.deepEqual(problems({ app: { source: 'path', path: './gone', secretKey } }, dir), [`app.path: ${dir}/gone does not exist`]);
    assert.deepEqual(problems({ app: { source: 'path', path: './id_test', secretKey } }, dir), [`app.path: ${dir}/id_test is not a directory`]);
    assert.deepEqual(problems({ app: { source: 'path', path: 'nodocker', secretKey } }, dir), [`app.path: ${dir}/nodocker has no Dockerfile at its top; berth builds the image from ${dir}/nodocker/Dockerfile`]);
  });

  it('refuses an image reference Docker would refuse, with an example', () => {
    assert.deepEqual(problems({ app: { source: 'image', image: 'Team/App:1', secretKey } }), [`app.image: "Team/App:1" is not a valid image reference: repository names must be lowercase (${EXAMPLE})`]);
  });

  it('reports app problems together with every other problem', () => {
    const found = problems({ ssh: { privateKey: './id_test', port: 70000 }, app: { source: 'path', image: 'x y', secretKey } });
    assert.deepEqual(found, [
      'ssh.port: must be at most 65535, not the number 70000',
      `app.image: "x y" is not a valid image reference: it contains a space (${EXAMPLE})`,
      "app.path: is required when app.source is path: the directory holding the app's Dockerfile, e.g. path: ./myapp",
      'app.image: is only used with app.source: image, but app.source is path; set source: image, or remove image',
    ]);
  });
});

describe('answers: image references', () => {
  const digest = `sha256:${'a1'.repeat(32)}`;

  it('accepts what Docker accepts', () => {
    for (const ref of [
      'app',
      'app:latest',
      'team/app',
      'team/my-app_2.x:1.4.0-rc1',
      'a__b/c---d',
      'ghcr.io/team/app:1.4',
      'registry.example.com:5000/team/app',
      'localhost/app',
      'localhost:5000/app:v2',
      '10.0.0.12:5000/app',
      '[::1]:5000/app',
      'Registry.Example.com/app',
      `app@${digest}`,
      `ghcr.io/team/app:1.4@${digest}`,
      `team/app:${'t'.repeat(128)}`,
    ]) {
      assert.equal(imageReferenceProblem(ref), null, ref);
    }
  });

  it('says why the others are not references', () => {
    const cases: [string, string][] = [
      ['App', 'repository names must be lowercase'],
      ['team/App', 'repository names must be lowercase'],
      ['team/-app', '"-app" is not a valid name component (lowercase letters and digits, joined by . _ __ or -)'],
      ['team/app_', '"app_" is not a valid name component (lowercase letters and digits, joined by . _ __ or -)'],
      ['team//app', '"" is not a valid name component (lowercase letters and digits, joined by . _ __ or -)'],
      ['team/a___b', '"a___b" is not a valid name component (lowercase letters and digits, joined by . _ __ or -)'],
      ['app:', 'the tag "" must be up to 128 letters, digits, _ . or -, not starting with . or -'],
      ['app:.x', 'the tag ".x" must be up to 128 letters, digits, _ . or -, not starting with . or -'],
      [`app:${'t'.repeat(129)}`, `the tag "${'t'.repeat(129)}" must be up to 128 letters, digits, _ . or -, not starting with . or -`],
      ['app@sha256:abc', 'the digest must be sha256: followed by 64 lowercase hex digits'],
      [`app@sha256:${'A1'.repeat(32)}`, 'the digest must be sha256: followed by 64 lowercase hex digits'],
      ['app@md5:0123', 'the digest must be sha256: followed by 64 lowercase hex digits'],
      [':1.0', 'it has no repository name'],
      ['reg.example.com:port/app', 'the registry port "port" is not a number'],
      ['-bad.example.com/app', '"-bad.example.com" is not a valid registry host'],
      ['my app', 'it contains a space'],
      [`team/${'a'.repeat(260)}`, 'the repository name is longer than 255 characters'],
    ];
    for (const [ref, reason] of cases) {
      assert.equal(imageReferenceProblem(ref), `"${ref}" is not a valid image reference: ${reason} (${EXAMPLE})`, ref);
    }
  });
});

describe('answers: registry.port collisions', () => {
  const registry = (port?: number) => ({ password: TEST_SECRETS.registry, ...(port === undefined ? {} : { port }) });

  it('accepts the default 5000 and a port no one else uses', () => {
    assert.deepEqual(problems({ registry: registry() }), []);
    assert.deepEqual(problems({ registry: registry(5443), firewall: { openPorts: [8080, { port: 5443, protocol: 'udp' }] } }), []);
  });

  it('refuses the SSH ports, before and after hardening, naming the setting', () => {
    assert.deepEqual(problems({ registry: registry(22) }), ['registry.port: 22 is already ssh.port (the default); the registry needs a port of its own, e.g. registry.port: 5000']);
    assert.deepEqual(problems({ ssh: { privateKey: './id_test', port: 2222 }, registry: registry(2222) }), ['registry.port: 2222 is already ssh.port; the registry needs a port of its own, e.g. registry.port: 5000']);
    assert.deepEqual(problems({ sshHardening: { port: 5000 }, registry: registry() }), ['registry.port: 5000 (the default) is already sshHardening.port; the registry needs a port of its own, e.g. registry.port: 5001']);
  });

  it('refuses the DNS forwarder’s 53 and the load balancer’s 80 and 443', () => {
    assert.deepEqual(problems({ registry: registry(53) }), ['registry.port: 53 is the port of the DNS forwarder; the registry needs a port of its own, e.g. registry.port: 5000']);
    assert.deepEqual(problems({ registry: registry(80) }), ["registry.port: 80 is the port of the app's load balancer (80 and 443); the registry needs a port of its own, e.g. registry.port: 5000"]);
    assert.deepEqual(problems({ registry: registry(443) }), ["registry.port: 443 is the port of the app's load balancer (80 and 443); the registry needs a port of its own, e.g. registry.port: 5000"]);
  });

  it('refuses a TCP port of firewall.openPorts, and suggests one that is free', () => {
    assert.deepEqual(problems({ firewall: { openPorts: [5001, { port: 5000, protocol: 'tcp' }] }, registry: registry() }), [
      'registry.port: 5000 (the default) is also listed in firewall.openPorts[1], a port for another service; the registry needs a port of its own, e.g. registry.port: 5002',
    ]);
    assert.deepEqual(problems({ firewall: { openPorts: [{ port: 6000 }] }, registry: registry(6000) }), [
      'registry.port: 6000 is also listed in firewall.openPorts[0], a port for another service; the registry needs a port of its own, e.g. registry.port: 5000',
    ]);
  });

  it('reports a port collision together with other problems', () => {
    assert.deepEqual(problems({ registry: registry(22), app: { source: 'image', secretKey } }), [
      'app.image: is required when app.source is image: a prebuilt image, e.g. image: ghcr.io/team/app:1.4',
      'registry.port: 22 is already ssh.port (the default); the registry needs a port of its own, e.g. registry.port: 5000',
    ]);
  });
});
