import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import chalk from 'chalk';
import type { HostAnswers } from '../../src/answers/schema';
import { memoryLog, openRunLog } from '../../src/engine/log';
import { changeSummary, jsonReporter, plainReporter, planVerdict, renderPlan, taskListReporter } from '../../src/engine/output';
import { everyHost, type Phase } from '../../src/engine/phase';
import { runPhases } from '../../src/engine/run';
import type { Reporter } from '../../src/engine/events';
import { Secret } from '../../src/answers/secret';
import { testAnswers, TEST_SECRETS } from '../support/answers';
import { memoryAgent, memoryHost } from '../support/memory-host';
import { TEST_LOCAL } from '../support/phase-check';

const noColor = new chalk.Instance({ level: 0 });

/** A phase whose file holds a secret and whose run is described with one, to prove nothing prints it. */
const secretPhase: Phase = {
  name: 'registry',
  title: 'registry',
  appliesTo: everyHost,
  query: () => ({ files: ['/etc/berth/htpasswd', '/etc/motd'] }),
  plan: (ctx, facts) =>
    facts.files['/etc/motd']
      ? []
      : [
          { kind: 'file', path: '/etc/motd', content: 'welcome\n', mode: 0o644 },
          { kind: 'file', path: '/etc/berth/htpasswd', content: `berth:${ctx.answers.registry.password!.reveal()}\n`, mode: 0o600, sensitive: true },
          { kind: 'run', title: `log in with ${ctx.answers.registry.password!.reveal()}`, script: 'true', stdin: new Secret(ctx.answers.registry.password!.reveal(), 'test') },
        ],
};

async function run(reporter: Reporter, mode: 'apply' | 'plan' = 'apply') {
  const hosts = { vm1: memoryHost('vm1'), vm2: memoryHost('vm2') } as Record<string, ReturnType<typeof memoryHost>>;
  const log = memoryLog();
  const result = await runPhases({
    answers: testAnswers(),
    phases: [secretPhase],
    connector: { connect: async (h: HostAnswers) => memoryAgent(hosts[h.name]), connectAs: async (h: HostAnswers) => memoryAgent(hosts[h.name]), open: async () => { throw new Error('unused'); } },
    mode,
    local: TEST_LOCAL,
    reporter,
    log,
    owner: { owner: 't@m', machine: 'm', pid: 1 },
  });
  return { result, log };
}

function capture(tty = false) {
  const stream = Object.assign(new PassThrough(), { isTTY: tty, columns: 100, rows: 40 });
  let text = '';
  stream.on('data', (c: Buffer) => (text += c));
  return { stream, text: () => stripVTControlCharacters(text) };
}

describe('the run log', () => {
  it('is readable by its owner only, also when it appends to an existing file, and holds no secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
    try {
      const secret = new Secret('Log-File-Secret-6610', 'literal').reveal();
      const fresh = openRunLog(join(dir, 'berth-logs', 'run.log'));
      fresh.write('vm1', `password is ${secret}\nsecond line\n`);
      fresh.close();
      assert.equal(statSync(join(dir, 'berth-logs')).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, 'berth-logs', 'run.log')).mode & 0o777, 0o600);
      const text = readFileSync(join(dir, 'berth-logs', 'run.log'), 'utf8');
      assert.match(text, /^\S+Z \[vm1\] password is \[redacted\]\n\S+Z \[vm1\] second line\n$/);
      writeFileSync(join(dir, 'old.log'), 'earlier\n', { mode: 0o644 });
      openRunLog(join(dir, 'old.log')).close();
      assert.equal(statSync(join(dir, 'old.log')).mode & 0o777, 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('output', () => {
  it('plain lines: per step, then the summary table and the totals, without secrets', async () => {
    const out = capture();
    const { log } = await run(plainReporter(out.stream, noColor));
    const text = out.text();
    assert.match(text, /\d\d:\d\d:\d\d vm1: registry: 3 changed \(\d+\.\ds\)/);
    assert.match(text, /host\s+phase\s+status\s+changed\s+time\nvm[12]\s+registry\s+changed\s+3/);
    assert.match(text, /Done: 6 changed\./);
    for (const s of Object.values(TEST_SECRETS)) {
      assert.ok(!text.includes(s), 'secret in output');
      assert.ok(!log.lines.join('\n').includes(s), 'secret in log');
    }
    assert.match(text, /log in with \[redacted\]/);
  });

  it('plain lines: a lock taken over from a run that is gone, with whose it was and why', () => {
    const out = capture();
    plainReporter(out.stream, noColor).handle({ type: 'lock-taken-over', host: 'vm1', holder: 't@m (pid 7) since 2026-12-01T10:00:00Z', why: 'process 7 on m that took it no longer runs' });
    assert.match(out.text(), /^\d\d:\d\d:\d\d vm1: took over the lock of a berth run that is gone: t@m \(pid 7\) since 2026-12-01T10:00:00Z \(process 7 on m that took it no longer runs\)\n$/);
  });

  it('JSON lines: one event per line, ending with run-done', async () => {
    const out = capture();
    await run(jsonReporter(out.stream));
    const events = out.text().trim().split('\n').map((l) => JSON.parse(l) as { type: string; actions?: string[] });
    assert.equal(events[0].type, 'run-start');
    assert.equal(events[events.length - 1].type, 'run-done');
    const done = events.find((e) => e.type === 'step-done')!;
    assert.deepEqual(done.actions, ['write /etc/motd (mode 0644)', 'write /etc/berth/htpasswd (mode 0600)', 'log in with [redacted]']);
  });

  it('the live task list draws phases and hosts on the terminal it is given', async () => {
    const out = capture(true);
    await run(taskListReporter(out.stream, noColor));
    const text = out.text();
    assert.match(text, /registry/);
    assert.match(text, /vm1: 3 changed/);
    assert.match(text, /vm2: 3 changed/);
    assert.match(text, /Done: 6 changed\./);
  });

  it('plans show diffs, but not of files that hold secrets', async () => {
    const out = capture();
    const { result } = await run(plainReporter(out.stream, noColor), 'plan');
    const text = renderPlan(result.plans, noColor);
    assert.match(text, /vm1 · registry:\n {2}~ write \/etc\/motd \(mode 0644\)\n(.*\n)*\s+\+welcome/);
    assert.match(text, /~ write \/etc\/berth\/htpasswd \(mode 0600\)\n\s+\(content holds a secret: not shown\)/);
    assert.ok(!text.includes(TEST_SECRETS.registry));
  });
});

describe('the end of a plan and the summary before an install', () => {
  const row = (host: string, phase: string, changed: number, status: 'ok' | 'planned' | 'failed' = changed ? 'planned' : 'ok') => ({ host, phase, status, changed, durationMs: 0 });

  it('a plan that reached no host, or failed on one, is incomplete, not up to date', () => {
    assert.equal(planVerdict({ type: 'run-done', ok: false, summary: [row('vm1', 'connect', 0, 'failed'), row('vm2', 'connect', 0, 'failed')] }), 'Plan incomplete: vm1, vm2 could not be planned; 0 changes found on the way; nothing was changed.');
    assert.equal(planVerdict({ type: 'run-done', ok: false, summary: [row('vm1', 'admin', 1)] }), 'Plan incomplete: the run stopped before the end; 1 change found on the way; nothing was changed.');
    assert.equal(planVerdict({ type: 'run-done', ok: true, summary: [row('vm1', 'admin', 0)] }), 'Plan: every host is up to date (0 to change).');
    assert.equal(planVerdict({ type: 'run-done', ok: true, summary: [row('vm1', 'admin', 2), row('vm2', 'dns', 1)] }), 'Plan: 3 changes would be made; nothing was changed.');
  });

  it('names each host with its roles and the phases that would change it, wrapped, short', () => {
    const hosts = [
      { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
      { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns'] },
    ];
    const phases = ['preflight', 'admin', 'dns', 'docker', 'firewall', 'ssh', 'registry-access', 'app-image', 'verify'];
    const rows = [...phases.map((p, i) => row('vm1', p, i)), row('vm2', 'preflight', 0)];
    assert.equal(
      changeSummary(hosts, rows, 'berth.yaml', 60),
      [
        '',
        'Summary of the install:',
        '  vm1 (10.0.0.11)  app, lb, db',
        '    admin (1), dns (2), docker (3), firewall (4), ssh (5),',
        '    registry-access (6), app-image (7), verify (8)',
        '  vm2 (10.0.0.12)  registry, dns',
        '    up to date',
        '',
        '36 changes in all (phase (actions)); `berth plan --answers berth.yaml` shows each with its diff.',
      ].join('\n'),
    );
    assert.match(changeSummary(hosts, [row('vm1', 'admin', 0)], 'b.yaml'), /\nEvery host is up to date: nothing to change\.$/);
  });
});
