import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { parseAnswers } from '../../src/answers/load';
import { askMissingSecrets, askSavePath, confirmHostKey, unsetSecrets, wizardTemplate, runWizard, WizardCancelled } from '../../src/wizard';
import { parseDocument } from 'yaml';
import { fixtureDir } from '../support/answers';
import { converse, fakeTty, KEY, type Step } from '../support/terminal';

async function drive(steps: Step[]) {
  const stdin = fakeTty();
  const stdout = new PassThrough();
  const talk = converse(steps, (keys) => stdin.write(keys));
  stdout.on('data', (c: Buffer) => talk.feed(c));
  const doc = await runWizard(wizardTemplate(), { stdin, stdout });
  return { doc, screen: talk.screen() };
}

const TYPED_PASSWORD = 'Typed-Db-Secret-88wq';

const STEPS: Step[] = [
  [/Address of vm1/, `300.1.1.1${KEY.enter}`],
  [/not a valid IPv4 address/, `${'\u007f'.repeat(9)}192.168.122.105${KEY.enter}`],
  [/Address of vm2/, `192.168.122.173${KEY.enter}`],
  [/Add another VM\?/, `n`],
  [/Use the original layout/, `y`],
  [/User berth logs in as first/, KEY.enter],
  [/SSH port/, KEY.enter],
  [/Private key file/, `${'\u007f'.repeat(40)}./id_test${KEY.enter}`],
  [/Admin \(sudo\) user/, KEY.enter],
  [/Who may reach SSH/, `${'\u007f'.repeat(40)}203.0.113.7/32${KEY.enter}`],
  [/DNS mirror/, KEY.enter],
  [/Upstream DNS/, KEY.enter],
  [/Where Docker comes from/, `${KEY.down}${KEY.enter}`],
  [/Docker Hub mirrors/, `https://mirror.example${KEY.enter}`],
  [/The password of the private registry/, KEY.enter],
  [/Django's SECRET_KEY/, KEY.enter],
  [/MariaDB's root password/, `${KEY.down}${KEY.enter}`],
  [/MariaDB's root password/, `short${KEY.enter}`],
  [/only 5 characters long/, `${'\u007f'.repeat(5)}${TYPED_PASSWORD}${KEY.enter}`],
  [/The app's MariaDB password/, `${KEY.down}${KEY.down}${KEY.enter}`],
  [/Environment variable name/, KEY.enter],
  [/Write these answers\?/, 'y'],
];

describe('wizard', () => {
  it('asks everything, validates as typed, and produces a valid answers file', async () => {
    const { doc, screen } = await drive(STEPS);
    const dir = fixtureDir();
    const { answers } = parseAnswers(doc.toString(), join(dir, 'berth.yaml'), { env: { BERTH_DB_PASSWORD: 'From-Env-Secret-77ab' } });
    assert.deepEqual(answers.hosts.map((h) => [h.name, h.address, h.roles]), [
      ['vm1', '192.168.122.105', ['app', 'lb', 'db']],
      ['vm2', '192.168.122.173', ['registry', 'dns']],
    ]);
    assert.equal(answers.ssh.privateKey, './id_test');
    assert.deepEqual(answers.firewall.adminCidrs, ['203.0.113.7/32']);
    assert.equal(answers.dns.mode, 'forwarder');
    assert.deepEqual(answers.dns.upstreams, ['shecan']);
    assert.equal(answers.docker.source, 'distro');
    assert.deepEqual(answers.docker.registryMirrors, ['https://mirror.example']);
    assert.equal(answers.registry.password!.reveal().length, 32, 'a generated secret');
    assert.equal(answers.app.secretKey!.reveal().length, 64);
    assert.equal(answers.db.rootPassword!.reveal(), TYPED_PASSWORD);
    assert.equal(doc.getIn(['db', 'password']), 'env:BERTH_DB_PASSWORD');
    // The summary masks secrets; the typed password was never echoed.
    assert.match(screen, /Summary \(secrets masked\)/);
    assert.ok(!screen.includes(TYPED_PASSWORD), 'typed password shown on screen');
    assert.ok(!screen.includes(answers.registry.password!.reveal()), 'generated password shown on screen');
    // Comments of the example survive.
    assert.match(doc.toString(), /# berth answers file\./);
  });

  it('Ctrl-C cancels without writing anything', async () => {
    await assert.rejects(drive([[/Address of vm1/, KEY.ctrlC]]), (err: unknown) => err instanceof WizardCancelled);
  });
});

describe('wizard: an answers file that lacks secrets', () => {
  it('asks only for the missing ones, then the file is complete', async () => {
    const doc = parseDocument('registry:\n  password: env:REG\napp: {}\ndb:\n  rootPassword: file:./root-pw\n');
    assert.deepEqual(unsetSecrets(doc), [['app', 'secretKey'], ['db', 'password']]);
    const stdin = fakeTty();
    const stdout = new PassThrough();
    const talk = converse([[/Django's SECRET_KEY/, KEY.enter], [/The app's MariaDB password/, KEY.enter]], (keys) => stdin.write(keys));
    stdout.on('data', (c: Buffer) => talk.feed(c));
    await askMissingSecrets(doc, { stdin, stdout });
    assert.deepEqual(unsetSecrets(doc), []);
    assert.equal(doc.getIn(['registry', 'password']), 'env:REG', 'what was set stays');
    assert.doesNotMatch(talk.screen(), /private registry|root password/, 'nothing else is asked');
  });
});

describe('questions while connecting', () => {
  it('asks about the hosts connecting in parallel one at a time, each answer its own', async () => {
    const stdin = fakeTty();
    const stdout = new PassThrough();
    const talk = converse([[/vm1 \(10\.0\.0\.11\) is new/, 'y'], [/vm2 \(10\.0\.0\.12\) is new/, 'n']], (keys) => stdin.write(keys));
    stdout.on('data', (c: Buffer) => talk.feed(c));
    const io = { stdin, stdout };
    const answers = await Promise.all([confirmHostKey(io, 'vm1', '10.0.0.11', 'SHA256:one'), confirmHostKey(io, 'vm2', '10.0.0.12', 'SHA256:two')]);
    assert.deepEqual(answers, [true, false]);
    const screen = talk.screen();
    assert.ok(screen.indexOf('vm2 (10.0.0.12) is new') > screen.indexOf('vm1 (10.0.0.11) is new'), screen);
  });
});

describe('saving the answers', () => {
  it('refuses a place that cannot be written while the answers are still at hand, then asks before replacing a file', async () => {
    const dir = fixtureDir();
    const stdin = fakeTty();
    const stdout = new PassThrough();
    const talk = converse(
      [
        [/Save the answers to/, `${'\u007f'.repeat(10)}${join(dir, 'no-such-dir', 'berth.yaml')}${KEY.enter}`],
        [/cannot write in .*no-such-dir \(ENOENT\)/, `${'\u007f'.repeat(200)}${join(dir, 'id_test')}${KEY.enter}`],
        [/id_test exists\. Replace it\?/, 'y'],
      ],
      (keys) => stdin.write(keys),
    );
    stdout.on('data', (c: Buffer) => talk.feed(c));
    assert.equal(await askSavePath({ stdin, stdout }, 'berth.yaml'), join(dir, 'id_test'));
  });
});

describe('the wizard from an existing answers file', () => {
  it('fills in its hosts, and keeps a pinned host key only while the host keeps its address', async () => {
    const doc = wizardTemplate();
    doc.setIn(['hosts', 0, 'hostKey'], 'SHA256:kept');
    doc.setIn(['hosts', 1, 'hostKey'], 'SHA256:dropped');
    const stdin = fakeTty();
    const stdout = new PassThrough();
    const steps: Step[] = [
      [/Address of vm1.*192\.168\.122\.105/, KEY.enter],
      [/Address of vm2.*192\.168\.122\.173/, `${'\u007f'.repeat(20)}192.168.122.200${KEY.enter}`],
      ...STEPS.slice(3),
    ];
    const talk = converse(steps, (keys) => stdin.write(keys));
    stdout.on('data', (c: Buffer) => talk.feed(c));
    const result = await runWizard(doc, { stdin, stdout });
    assert.deepEqual(
      (result.toJS().hosts as { name: string; address: string; hostKey?: string }[]).map((h) => [h.name, h.address, h.hostKey]),
      [['vm1', '192.168.122.105', 'SHA256:kept'], ['vm2', '192.168.122.200', undefined]],
    );
  });
});
