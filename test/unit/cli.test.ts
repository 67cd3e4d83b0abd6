import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import type { LoadedAnswers } from '../../src/answers/load';
import { inspectHosts, interactiveChoices, pinAcceptedKeys, runFailureHint } from '../../src/cli/commands/hosts';
import type { HostAgent } from '../../src/engine/agent';
import { SshError } from '../../src/engine/transport';
import type { SshConnector } from '../../src/ssh/connector';
import { COMMANDS, main } from '../../src/cli/main';
import { confirmInstall, gatherAnswers } from '../../src/cli/commands/install';
import { BadInputError } from '../../src/errors';
import { colorWanted, createPrinter } from '../../src/cli/print';
import { VERSION } from '../../src/version';
import { answersYaml, fixtureDir, testAnswers, TEST_SECRETS } from '../support/answers';
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

describe('the command line, wherever the options are', () => {
  it('every group and command takes --help, and `berth help COMMAND` and global options before the command work', async () => {
    for (const group of ['answers', 'sandbox']) {
      for (const argv of [[group, '--help'], [group, '-h'], ['help', group], ['--help', group]]) {
        const r = await runCli(argv);
        assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^Usage: berth ${group} <command> \\[options\\]\\n\\nCommands:\\n  ${group} \\w+`), argv.join(' '));
      }
    }
    for (const argv of [['help', 'install'], ['--help', 'install'], ['--no-color', 'install', '--help'], ['help', 'answers', 'validate']]) {
      const r = await runCli(argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: berth ${argv.includes('answers') ? 'answers validate' : 'install'}`), argv.join(' '));
    }
    assert.match((await runCli(['help'])).stdout, /^berth .*\n\nUsage: berth \[command\]/);
    assert.equal((await runCli(['--no-color', '--version'])).stdout, `${VERSION}\n`);
    const bare = await runCli(['answers']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /"berth answers" needs a subcommand/);
    // A global option before the command reaches the command: here plan, refusing its bad --output before anything else.
    const plan = await runCli(['--no-color', 'plan', '--answers', '/nonexistent.yaml', '--output', 'fancy']);
    assert.equal(plan.code, 2);
    assert.doesNotMatch(plan.stderr, /unknown command/);
  });

  it('an option without its value says which value it needs, not the parser words (exit 2)', async () => {
    for (const argv of [['plan', '--answers'], ['plan', '-a'], ['doctor', '--answers', '--yes'], ['install', '--output']]) {
      const r = await runCli(argv);
      assert.equal(r.code, 2, argv.join(' '));
      const option = argv[1] === '-a' || argv[1] === '--answers' ? '--answers FILE' : '--output auto\\|plain\\|json';
      assert.match(r.stderr, new RegExp(`^error: --\\w+ needs a value: ${option}\\nRun \`berth ${argv[0]} --help\`\\.\\n$`), `${argv.join(' ')}: ${r.stderr}`);
    }
  });

  it('every command that connects takes --yes, --accept-new-host-keys and --output', async () => {
    for (const command of ['install', 'plan', 'doctor', 'status', 'deploy', 'rollback']) {
      const help = (await runCli([command, '--help'])).stdout;
      for (const option of ['--answers FILE', '--yes', '--accept-new-host-keys', '--output auto|plain|json']) assert.ok(help.includes(option), `${command} lacks ${option}:\n${help}`);
      assert.doesNotMatch(help, /--yes\s+.*host key/i, `${command}: --yes says nothing about host keys`);
    }
  });
});

describe('deploy: the app source from the command line', () => {
  it('refuses a bad --image or --tag, a missing --source directory, or two of them at once, before contacting any host (exit 2)', async () => {
    const dir = fixtureDir();
    writeFileSync(join(dir, 'berth.yaml'), stringify(answersYaml()));
    const answers = join(dir, 'berth.yaml');
    const cases: [string[], RegExp][] = [
      [['--image', 'Team App:1'], /^error: --image: "Team App:1" is not a valid image reference: it contains a space \(e\.g\. /],
      [['--image', 'team/app:1', '--source', dir], /^error: give one of --image, --source and --tag\n$/],
      [['--source', join(dir, 'nowhere')], /^error: --source \S+nowhere: /],
      [['--tag', '3f/2a'], /^error: --tag: the tag "3f\/2a" must be up to 128 letters, digits, _ \. or -, not starting with \. or -\n$/],
      [['--tag', '3f2a', '--image', 'team/app:1'], /^error: give one of --image, --source and --tag\n$/],
    ];
    for (const [args, expected] of cases) {
      const r = await runCli(['deploy', '--answers', answers, '--yes', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, expected);
    }
  });
});

describe('ci: the pipelines', () => {
  it('prints a GitLab pipeline and a GitHub workflow for the answers file, contacting nothing; a bad file is exit 2', async () => {
    const dir = fixtureDir();
    writeFileSync(join(dir, 'berth.yaml'), stringify(answersYaml()));
    const withoutKeys = await runCli(['ci', 'gitlab', '--answers', join(dir, 'berth.yaml')]);
    assert.equal(withoutKeys.code, 2, withoutKeys.stderr);
    assert.match(withoutKeys.stderr, /ci\.deployKeys is empty\nThe pipelines deploy as the deploy user: make a key for them \(ssh-keygen -t ed25519 -N '' -f deploy_key\), put deploy_key\.pub in ci\.deployKeys, and run berth install\.\n$/);
    writeFileSync(join(dir, 'berth.yaml'), stringify({ ...answersYaml(), ci: { deployKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNpZGVwbG95a2V5Zm9ydGVzdHNvbmx5MTIzNDU2Nzg5 ci@gitlab'] } }));
    for (const system of ['gitlab', 'github']) {
      const r = await runCli(['ci', system, '--answers', join(dir, 'berth.yaml')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^# Written by berth ci ${system} for the project app: build, push to \\S+:5000, deploy as berth-deploy@\\S+, clean up\\.\n`));
    }
    const dind = await runCli(['ci', 'gitlab', '--answers', join(dir, 'berth.yaml'), '--executor', 'docker']);
    assert.equal(dind.code, 0, dind.stderr);
    assert.match(dind.stdout, /^# This is the Docker-in-Docker variant/m);
    const executor = await runCli(['ci', 'gitlab', '--answers', join(dir, 'berth.yaml'), '--executor', 'kubernetes']);
    assert.equal(executor.code, 2, executor.stderr);
    assert.match(executor.stderr, /^error: --executor must be shell or docker, not "kubernetes"\n$/);
    const missing = await runCli(['ci', 'gitlab', '--answers', join(dir, 'nowhere.yaml')]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.equal(missing.stdout, '');
  });
});

describe('trusting new host keys', () => {
  const context = (values: Record<string, boolean>, tty: boolean) => {
    const stderr = Object.assign(new PassThrough(), { isTTY: tty });
    let text = '';
    stderr.on('data', (c: Buffer) => (text += c));
    const print = createPrinter({ stdout: new PassThrough(), stderr }, { stdout: false, stderr: false });
    const stdin = tty ? fakeTty() : Object.assign(new PassThrough(), { isTTY: false });
    return { ctx: { values, positionals: [], print, env: {}, stdin, stdout: new PassThrough(), stderr }, text: () => text };
  };
  const vm1 = { name: 'vm1', address: '10.0.0.11', port: 22 };

  it('--yes asks nothing and trusts no new key: such a key is refused, on a terminal or not', () => {
    assert.equal(interactiveChoices(context({ yes: true }, true).ctx).onNewHostKey, undefined);
    assert.equal(interactiveChoices(context({ yes: true }, false).ctx).onNewHostKey, undefined);
    assert.equal(interactiveChoices(context({}, false).ctx).onNewHostKey, undefined);
  });

  it('--accept-new-host-keys trusts a first key without asking, with or without --yes, and says so', async () => {
    for (const values of [{ 'accept-new-host-keys': true }, { 'accept-new-host-keys': true, yes: true }] as Record<string, boolean>[]) {
      const { ctx, text } = context(values, true);
      assert.equal(await interactiveChoices(ctx).onNewHostKey!(vm1, 'SHA256:one'), true);
      assert.equal(text(), 'Trusting the new host key of vm1 (10.0.0.11): SHA256:one\n');
    }
  });
});

describe('advice after a failed run', () => {
  it('names the command that helps: a plan changed nothing, an install continues from the answers file', () => {
    assert.equal(runFailureHint('plan', ['berth', 'plan', '--answers', 'berth.yaml'], false), 'Nothing was changed. Fix what is reported above and run `berth plan --answers berth.yaml` again.');
    assert.equal(runFailureHint('plan', ['berth', 'install', '--answers', 'my answers.yaml'], false), "Nothing was changed. Fix what is reported above and run `berth install --answers 'my answers.yaml'` again.");
    assert.equal(runFailureHint('plan', ['berth', 'plan', '--answers', 'b.yaml'], true), 'Nothing was changed. Run `berth plan --answers b.yaml` again.');
    assert.equal(runFailureHint('apply', ['berth', 'install', '--answers', 'berth.yaml'], false), 'Fix what is reported above and run `berth install --answers berth.yaml`: it continues where it stopped.');
    assert.equal(runFailureHint('apply', ['berth', 'install', '--answers', 'berth.yaml'], true), 'Run `berth install --answers berth.yaml` to continue where it stopped.');
  });
});

describe('status and doctor: all hosts at once', () => {
  function streams(values: Record<string, string | boolean> = {}) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const text = { out: '', err: '' };
    stdout.on('data', (c: Buffer) => (text.out += c));
    stderr.on('data', (c: Buffer) => (text.err += c));
    const print = createPrinter({ stdout, stderr }, { stdout: false, stderr: false });
    return { ctx: { values, positionals: [], print, env: {}, stdin: new PassThrough(), stdout, stderr }, text };
  }
  const loaded = () => ({ file: join(fixtureDir(), 'berth.yaml'), answers: testAnswers() }) as LoadedAnswers;
  const agentOf = (user: string) => ({ user, close: async () => undefined }) as unknown as HostAgent;
  const unused = async (): Promise<never> => assert.fail('not used by status and doctor');

  it('connects to every host before any answers, names the ones still awaited, and prints in the order of the answers', async () => {
    const events: string[] = [];
    const release = new Map<string, () => void>();
    const connector: SshConnector = {
      acceptedHostKeys: new Map(),
      connect: (host) => {
        events.push(`connect ${host.name}`);
        return new Promise((resolve) => release.set(host.name, () => (events.push(`answer ${host.name}`), resolve(agentOf('root')))));
      },
      connectAs: unused,
      open: unused,
    };
    const { ctx, text } = streams();
    // vm1 is the slow one: vm2 answers once both were named as awaited, vm1 once vm2 is no longer named.
    ctx.stderr.on('data', () => {
      if (!events.includes('answer vm2') && /still waiting for vm1 \(10\.0\.0\.11\), vm2 \(10\.0\.0\.12\) \(\d+ s\)/.test(text.err)) release.get('vm2')!();
      else if (events.includes('answer vm2') && !events.includes('answer vm1') && /still waiting for vm1 \(10\.0\.0\.11\) \(\d+ s\)\n/.test(text.err)) release.get('vm1')!();
    });
    const failing = await inspectHosts(ctx, loaded(), async (_agent, host) => ({ ok: host.name !== 'vm2', lines: [`${host.name} report`], data: {} }), { connector, slowEveryMs: 5 });
    assert.deepEqual(events, ['connect vm1', 'connect vm2', 'answer vm2', 'answer vm1']);
    assert.match(text.err, /^Connecting to vm1 \(10\.0\.0\.11\), vm2 \(10\.0\.0\.12\)…\n/);
    assert.equal(text.out, 'vm1 report\nvm2 report\n');
    assert.deepEqual(failing, ['vm2']);
  });

  it('--output json: one JSON object per host on stdout, in host order, an unreachable host with its error', async () => {
    const connector: SshConnector = {
      acceptedHostKeys: new Map(),
      connect: async (host) => {
        if (host.name === 'vm1') {
          await new Promise((r) => setTimeout(r, 20));
          throw new SshError('timeout', 'vm1 (10.0.0.11): timed out', 'Check the address.');
        }
        return agentOf('berth');
      },
      connectAs: unused,
      open: unused,
    };
    const { ctx, text } = streams({ output: 'json' });
    const failing = await inspectHosts(ctx, loaded(), async (agent, host) => ({ ok: true, lines: ['not shown'], data: { host: host.name, user: agent.user } }), { connector });
    assert.deepEqual(failing, ['vm1']);
    assert.deepEqual(text.out.trimEnd().split('\n').map((l) => JSON.parse(l)), [
      { host: 'vm1', address: '10.0.0.11', ok: false, error: 'vm1 (10.0.0.11): timed out', hint: 'Check the address.' },
      { host: 'vm2', user: 'berth' },
    ]);
    assert.match(text.err, /error: vm1 \(10\.0\.0\.11\): timed out\n {2}Check the address\.\n/);
  });
});

describe('before the first change, on a terminal', () => {
  function terminal(steps: [RegExp, string][]) {
    const stdin = fakeTty();
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    const talk = converse(steps, (keys) => stdin.write(keys));
    stderr.on('data', (c: Buffer) => talk.feed(c));
    const print = createPrinter({ stdout: new PassThrough(), stderr }, { stdout: false, stderr: false });
    return { ctx: { values: {}, positionals: [], print, env: {}, stdin, stdout: new PassThrough(), stderr }, screen: () => talk.screen() };
  }
  const loaded = { file: 'berth.yaml', answers: testAnswers() } as LoadedAnswers;
  const planned = [{ host: 'vm1', phase: 'admin', status: 'planned' as const, changed: 2, durationMs: 0 }];

  it('shows the hosts, roles and planned changes, then asks; yes goes on', async () => {
    const { ctx, screen } = terminal([[/Make these changes on the hosts\?/, 'y']]);
    assert.equal(await confirmInstall(ctx, loaded, planned), true);
    assert.match(screen(), /Summary of the install:\n {2}vm1 \(10\.0\.0\.11\) {2}app, lb, db\n {4}admin \(2\)\n {2}vm2 \(10\.0\.0\.12\) {2}registry, dns\n {4}up to date\n/);
  });

  it('no, or Ctrl-C, changes nothing (bad input, exit 2); nothing to change asks nothing', async () => {
    for (const key of ['n', KEY.ctrlC]) {
      const { ctx } = terminal([[/Make these changes on the hosts\?/, key]]);
      await assert.rejects(confirmInstall(ctx, loaded, planned), (err: Error) => err instanceof BadInputError && /nothing was changed/.test(err.message) && /berth install --answers berth\.yaml/.test(err.hint ?? ''));
    }
    const { ctx, screen } = terminal([]);
    assert.equal(await confirmInstall(ctx, loaded, [{ ...planned[0], changed: 0, status: 'ok' }]), false);
    assert.doesNotMatch(screen(), /Make these changes/);
  });

  it('bare berth with a berth.yaml here offers it; "edit" starts the wizard from its answers', async () => {
    const dir = fixtureDir();
    writeFileSync(join(dir, 'berth.yaml'), stringify(answersYaml({ hosts: [{ name: 'web', address: '10.9.8.7', roles: ['app', 'lb', 'db'] }, { name: 'reg', address: '10.9.8.8', roles: ['registry', 'dns'] }] })));
    const { ctx, screen } = terminal([
      [/berth\.yaml is here\. Start from it\?/, `${KEY.down}${KEY.enter}`],
      [/Address of web/, KEY.ctrlC],
    ]);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await assert.rejects(gatherAnswers(ctx), (err: Error) => err instanceof BadInputError && /cancelled: nothing was written/.test(err.message));
    } finally {
      process.chdir(cwd);
    }
    assert.match(screen(), /use berth\.yaml as it is/);
    assert.match(screen(), /Address of web \(IP or hostname\), the VM for the app and database.*10\.9\.8\.7/);
  });
});
