import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import type { LoadedAnswers } from '../../src/answers/load';
import { interactiveChoices, pinAcceptedKeys } from '../../src/cli/commands/hosts';
import type { SshConnector } from '../../src/ssh/connector';
import { COMMANDS, main } from '../../src/cli/main';
import { colorWanted, createPrinter } from '../../src/cli/print';
import { VERSION } from '../../src/version';
import { answersYaml, fixtureDir, TEST_SECRETS } from '../support/answers';
import { converse, fakeTty, KEY } from '../support/terminal';

async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const stdin = Object.assign(new PassThrough(), { isTTY: false });
  const code = await main({ argv, env, stdin, stdout, stderr });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

describe('cli', () => {
  it('keeps its version equal to package.json', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
  });

  it('prints the version', async () => {
    assert.deepEqual(await runCli(['--version']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('has help for every command', async () => {
    for (const c of COMMANDS) {
      const r = await runCli([...c.words, '--help']);
      assert.equal(r.code, 0, c.words.join(' '));
      assert.match(r.stdout, new RegExp(`^Usage: berth ${c.words.join(' ')}`), c.words.join(' '));
      assert.match(r.stdout, /--no-color/);
    }
    assert.match((await runCli(['--help'])).stdout, /Exit codes: 0 success, 1 a run failed, 2 bad input/);
  });

  it('exits 2 for an unknown command or option, with a suggestion', async () => {
    const cmd = await runCli(['instal']);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command "instal"\nDid you mean "berth install"\?/);
    const opt = await runCli(['install', '--anwsers', 'x']);
    assert.equal(opt.code, 2);
    assert.match(opt.stderr, /unknown option --anwsers for berth install\nDid you mean --answers\?/);
  });

  it('without answers and without a terminal, says how to run non-interactively (exit 2)', async () => {
    const r = await runCli(['install']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /berth install --answers berth\.yaml --yes/);
  });

  it('refuses a wrong --output before asking anything, and an unwritable log before contacting any host (exit 2)', async () => {
    const output = await runCli(['install', '--output', 'fancy']);
    assert.equal(output.code, 2);
    assert.match(output.stderr, /--output must be auto, plain or json, not "fancy"/);
    const dir = fixtureDir();
    const file = join(dir, 'berth.yaml');
    writeFileSync(file, stringify(answersYaml({ admin: { authorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7qC6kV5bB4bTj3rY7nW7o7lqX3Yk9Wm1sRzWZ2B7uZ test'] } })));
    const log = await runCli(['plan', '--answers', file, '--log-file', `${file}/cannot-be-a-directory/run.log`]);
    assert.equal(log.code, 2, log.stderr);
    assert.match(log.stderr, /cannot write the log file .*run\.log \(ENOTDIR\)\n.*--log-file FILE/);
  });

  it('--save-answers to a place that cannot be written is bad input (exit 2), not an internal error', async () => {
    const dir = fixtureDir();
    const file = join(dir, 'berth.yaml');
    writeFileSync(file, stringify(answersYaml()));
    const r = await runCli(['install', '--answers', file, '--yes', '--save-answers', join(dir, 'no-such-dir', 'saved.yaml')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot write the answers to .*saved\.yaml \(ENOENT\)/);
  });

  it('--yes lists every missing secret at once (exit 2)', async () => {
    const dir = fixtureDir();
    const file = join(dir, 'berth.yaml');
    writeFileSync(file, stringify(answersYaml({ registry: {}, app: {}, db: {} })));
    const r = await runCli(['install', '--answers', file, '--yes']);
    assert.equal(r.code, 2);
    for (const path of ['registry.password', 'app.secretKey', 'db.rootPassword', 'db.password']) assert.match(r.stderr, new RegExp(path.replace('.', '\\.')));
  });

  it('answers validate: reports problems with exit 2, no colour when NO_COLOR is set', async () => {
    const dir = fixtureDir();
    const file = join(dir, 'berth.yaml');
    writeFileSync(file, stringify(answersYaml({ ssh: { privateKey: './id_test', port: 0 } })));
    const r = await runCli(['answers', 'validate', file], { NO_COLOR: '1', FORCE_COLOR: '1' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: .*berth\.yaml has 1 problem\n  .*berth\.yaml:\d+:\d+: ssh\.port: must be at least 1, not the number 0\n/);
    assert.ok(!r.stderr.includes('\u001b['), 'no escape codes');
  });

  it('colours when asked (FORCE_COLOR) and not with --no-color', async () => {
    const colored = await runCli(['answers', 'validate', '/nonexistent.yaml'], { FORCE_COLOR: '1' });
    assert.ok(colored.stderr.includes('\u001b['));
    const plain = await runCli(['answers', 'validate', '/nonexistent.yaml', '--no-color'], { FORCE_COLOR: '1' });
    assert.ok(!plain.stderr.includes('\u001b['));
  });

  it('never prints a secret, whatever the command prints', async () => {
    const dir = fixtureDir();
    const file = join(dir, 'berth.yaml');
    // A problem message quotes the bad value, which here happens to contain a secret.
    const hosts = [{ name: 'vm1', address: `${TEST_SECRETS.registry}!`, roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns'] }];
    writeFileSync(file, stringify(answersYaml({ hosts })));
    const r = await runCli(['answers', 'validate', file]);
    assert.equal(r.code, 2);
    const all = r.stdout + r.stderr;
    for (const s of Object.values(TEST_SECRETS)) assert.ok(!all.includes(s), `${s} was printed:\n${all}`);
    assert.match(all, /\[redacted\]/);
  });

  it('a weak secret that is a common word is refused in readable words; a strong one is still masked', async () => {
    const dir = fixtureDir();
    const file = join(dir, 'password.yaml');
    const hosts = [{ name: 'vm1', address: `${TEST_SECRETS.registry}!`, roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns'] }];
    writeFileSync(file, stringify(answersYaml({ hosts, db: { rootPassword: TEST_SECRETS.dbRoot, password: 'password' } })));
    const r = await runCli(['answers', 'validate', file]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(`${file} has 2 problems`), r.stderr);
    assert.match(r.stderr, /password\.yaml:\d+:\d+: db\.password: this password is only 8 characters long; use at least 12\n/);
    assert.ok(!r.stderr.includes(TEST_SECRETS.registry), r.stderr);
    assert.match(r.stderr, /hosts\[0\]\.address: .*\[redacted\]/);
  });
});

describe('questions while connecting, on a terminal', () => {
  it('Ctrl-C refuses a new host key and leaves a passphrase or sudo password unset', async () => {
    const stdin = fakeTty();
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    const talk = converse(
      [
        [/vm1 \(10\.0\.0\.11\) is new/, KEY.ctrlC],
        [/Passphrase of \/keys\/id/, KEY.ctrlC],
        [/sudo password of admin on vm1/, KEY.ctrlC],
      ],
      (keys) => stdin.write(keys),
    );
    stderr.on('data', (c: Buffer) => talk.feed(c));
    const print = createPrinter({ stdout: new PassThrough(), stderr }, { stdout: false, stderr: false });
    const choices = interactiveChoices({ values: {}, positionals: [], print, env: {}, stdin, stdout: new PassThrough(), stderr });
    assert.equal(await choices.onNewHostKey!({ name: 'vm1', address: '10.0.0.11', port: 22 }, 'SHA256:x'), false);
    assert.equal(await choices.askPassphrase!('/keys/id'), undefined);
    assert.equal(await choices.askSudoPassword!({ name: 'vm1', address: '10.0.0.11' }, 'admin'), undefined);
  });
});

describe('pinning accepted host keys', () => {
  it('when the answers file cannot be rewritten, says what to pin by hand instead of failing the run', () => {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c: Buffer) => (text += c));
    const print = createPrinter({ stdout: new PassThrough(), stderr }, { stdout: false, stderr: false });
    const ctx = { values: {}, positionals: [], print, env: {}, stdin: new PassThrough(), stdout: new PassThrough(), stderr };
    const loaded = { file: join(fixtureDir(), 'gone', 'berth.yaml') } as LoadedAnswers;
    const connector = { acceptedHostKeys: new Map([['vm1', 'SHA256:one'], ['jump host', 'SHA256:jump']]) } as SshConnector;
    pinAcceptedKeys(ctx, loaded, connector);
    assert.match(text, /warning: could not pin the accepted host keys in .*berth\.yaml \(ENOENT\); set them yourself:\n {2}hosts\[name=vm1\]\.hostKey: SHA256:one\n {2}ssh\.jumpHost\.hostKey: SHA256:jump\n/);
  });
});

describe('cli colours per stream', () => {
  it('colours stderr on a terminal, and not results on a redirected stdout', () => {
    const stdout = Object.assign(new PassThrough(), { isTTY: false });
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    const want = { stdout: colorWanted(false, {}, stdout.isTTY), stderr: colorWanted(false, {}, stderr.isTTY) };
    const print = createPrinter({ stdout, stderr }, want);
    assert.equal(print.color.red('x'), '\u001b[31mx\u001b[39m');
    assert.equal(print.outColor.red('x'), 'x');
  });
});
