import assert from 'node:assert/strict';
import type { HostAnswers } from '../../src/answers/schema';
import type { Reporter, RunEvent } from '../../src/engine/events';
import { memoryLog } from '../../src/engine/log';
import { everyHost, HostProblem, hostsWithRole, type Phase } from '../../src/engine/phase';
import { runPhases, type Connector, type RunOptions } from '../../src/engine/run';
import { memoryAgent, memoryHost, type MemoryHost } from '../support/memory-host';
import { testAnswers } from '../support/answers';
import { TEST_LOCAL } from '../support/phase-check';

/** Test phases: write a file, install a package, start a service; each plans nothing once done. */
const motdPhase: Phase = {
  name: 'preflight',
  title: 'motd',
  appliesTo: everyHost,
  query: () => ({ files: ['/etc/motd'] }),
  plan: (ctx, facts) => (facts.files['/etc/motd']?.content === `hello ${ctx.host.name}\n` ? [] : [{ kind: 'file', path: '/etc/motd', content: `hello ${ctx.host.name}\n`, mode: 0o644 }]),
};
const packagePhase: Phase = {
  name: 'docker',
  title: 'package',
  appliesTo: everyHost,
  query: () => ({ packages: ['htop'] }),
  plan: (_ctx, facts) => (facts.packages.htop ? [] : [{ kind: 'packages', install: ['htop'] }]),
};
const servicePhase: Phase = {
  name: 'registry',
  title: 'service',
  appliesTo: hostsWithRole('registry'),
  query: () => ({ units: ['cron.service'] }),
  plan: (_ctx, facts) => (facts.units['cron.service'].active === 'active' ? [] : [{ kind: 'service', unit: 'cron.service', op: 'enable-now' }]),
};
const PHASES = [motdPhase, packagePhase, servicePhase];

function recorder(): Reporter & { events: RunEvent[] } {
  const events: RunEvent[] = [];
  return { events, handle: (e) => events.push(e), close: async () => undefined };
}

function connectorFor(hosts: Record<string, MemoryHost>): Connector {
  return {
    connect: async (h: HostAnswers) => memoryAgent(hosts[h.name]),
    connectAs: async (h: HostAnswers, user: string) => memoryAgent(hosts[h.name], user),
    open: async () => {
      throw new Error('not used');
    },
  };
}

function setup(extra: Partial<RunOptions> = {}) {
  const hosts: Record<string, MemoryHost> = { vm1: memoryHost('vm1'), vm2: memoryHost('vm2') };
  const reporter = recorder();
  const options: RunOptions = {
    answers: testAnswers(),
    phases: PHASES,
    connector: connectorFor(hosts),
    mode: 'apply',
    local: TEST_LOCAL,
    reporter,
    log: memoryLog(),
    owner: { owner: 'tester@laptop', machine: 'laptop', pid: 4242 },
    ...extra,
  };
  return { hosts, reporter, options };
}

describe('engine: runPhases', () => {
  it('runs phases in order; a phase starts only after every host finished the previous one', async () => {
    const { reporter, options } = setup();
    const result = await runPhases(options);
    assert.equal(result.ok, true);
    const steps = reporter.events.filter((e) => e.type === 'step-start' || e.type === 'step-done') as Extract<RunEvent, { phase: string; host: string }>[];
    const order = steps.map((e) => `${e.type === 'step-start' ? 'start' : 'done'} ${e.phase} ${e.host}`);
    const lastDoneOf = (phase: string) => Math.max(...order.map((o, i) => (o.startsWith(`done ${phase}`) ? i : -1)));
    const firstStartOf = (phase: string) => order.findIndex((o) => o.startsWith(`start ${phase}`));
    assert.ok(lastDoneOf('preflight') < firstStartOf('docker'), order.join('\n'));
    assert.ok(lastDoneOf('docker') < firstStartOf('registry'), order.join('\n'));
    assert.deepEqual(
      reporter.events.filter((e) => e.type === 'phase-start').map((e) => (e as { phase: string }).phase),
      ['preflight', 'docker', 'registry'],
    );
  });

  it('runs the hosts of a phase in parallel', async () => {
    // Each host waits in facts() until both have arrived there; run one after the other, it would time out.
    const arrived = new Set<string>();
    let release!: () => void;
    const both = new Promise<void>((r) => (release = r));
    const barrier = async (name: string) => {
      arrived.add(name);
      if (arrived.size === 2) release();
      await Promise.race([both, new Promise((_, reject) => setTimeout(() => reject(new Error(`${name} waited alone: hosts are not run in parallel`)), 2000))]);
    };
    const { hosts, options } = setup({ phases: [motdPhase] });
    hosts.vm1.onFacts = barrier;
    hosts.vm2.onFacts = barrier;
    const result = await runPhases(options);
    assert.equal(result.ok, true, JSON.stringify(result.summary));
  });

  it('reads every phase\'s facts ahead, in one read per host; a phase after a change reads its facts again', async () => {
    // What a later phase saw of the file the first one writes.
    const seen: string[] = [];
    const readerPhase: Phase = {
      name: 'verify',
      title: 'reader',
      appliesTo: everyHost,
      query: () => ({ files: ['/etc/motd'] }),
      plan: (ctx, facts) => {
        seen.push(`${ctx.host.name} ${facts.files['/etc/motd']?.content.trim() ?? 'none'}`);
        return [];
      },
    };
    const { hosts, options } = setup({ phases: [motdPhase, packagePhase, readerPhase] });
    const reads: string[] = [];
    for (const [name, host] of Object.entries(hosts)) host.onFacts = async () => void reads.push(name);
    assert.equal((await runPhases(options)).ok, true);
    assert.deepEqual(seen.sort(), ['vm1 hello vm1', 'vm2 hello vm2'], 'the reader saw what the first phase wrote, not what was read ahead');
    seen.length = 0;
    reads.length = 0;
    const again = await runPhases(options);
    assert.equal(again.summary.every((row) => row.status === 'ok'), true);
    assert.deepEqual(seen.sort(), ['vm1 hello vm1', 'vm2 hello vm2']);
    assert.deepEqual(reads.sort(), ['vm1', 'vm2'], 'a converged run reads each host once for all its phases');
  });

  it('only runs a phase on the hosts whose roles it concerns', async () => {
    const { hosts, options } = setup();
    await runPhases(options);
    assert.deepEqual(hosts.vm1.applied.map((a) => a.phase), ['preflight', 'docker']);
    assert.deepEqual(hosts.vm2.applied.map((a) => a.phase), ['preflight', 'docker', 'registry']);
  });

  it('a failure lets the other hosts finish the phase and skips every later phase', async () => {
    const { hosts, reporter, options } = setup();
    hosts.vm1.failIn = 'docker';
    const result = await runPhases(options);
    assert.equal(result.ok, false);
    const status = Object.fromEntries(result.summary.map((r) => [`${r.host}/${r.phase}`, r.status]));
    assert.deepEqual(status, {
      'vm1/preflight': 'changed',
      'vm2/preflight': 'changed',
      'vm1/docker': 'failed',
      'vm2/docker': 'changed',
      'vm2/registry': 'skipped',
    });
    assert.equal(hosts.vm2.applied.some((a) => a.phase === 'registry'), false);
    const failed = reporter.events.find((e) => e.type === 'step-failed') as Extract<RunEvent, { type: 'step-failed' }>;
    assert.match(failed.error, /injected failure in docker/);
    assert.equal(hosts.vm1.lock, undefined, 'the lock is released after a failure');
  });

  it('a second run of a converged install changes nothing, and a run after a failure finishes the job', async () => {
    const { hosts, options } = setup();
    hosts.vm2.failIn = 'docker';
    assert.equal((await runPhases(options)).ok, false);
    hosts.vm2.failIn = undefined;
    const resumed = await runPhases({ ...options, reporter: recorder() });
    assert.equal(resumed.ok, true);
    // vm1 finished docker in the first run: only vm2's docker and registry remain.
    assert.deepEqual(
      resumed.summary.filter((r) => r.changed > 0).map((r) => `${r.host}/${r.phase}`),
      ['vm2/docker', 'vm2/registry'],
    );
    const again = await runPhases({ ...options, reporter: recorder() });
    assert.equal(again.summary.reduce((n, r) => n + r.changed, 0), 0);
    assert.ok(again.summary.every((r) => r.status === 'ok'));
  });

  it('plan mode changes nothing: no action, no lock, no journal', async () => {
    const { hosts, options } = setup({ mode: 'plan' });
    const before = JSON.stringify(hosts);
    const result = await runPhases(options);
    assert.equal(result.ok, true);
    assert.equal(JSON.stringify(hosts.vm1.state), JSON.stringify(JSON.parse(before).vm1.state));
    for (const h of Object.values(hosts)) {
      assert.deepEqual(h.applied, []);
      assert.equal(h.calls.filter((c) => c === 'lock' || c === 'journal' || c.startsWith('apply')).length, 0, h.calls.join(','));
    }
    // The plan holds exactly what apply would do.
    assert.deepEqual(
      result.plans.map((p) => `${p.host}/${p.phase}: ${p.actions.map((a) => a.kind).join(',')}`),
      ['vm1/preflight: file', 'vm2/preflight: file', 'vm1/docker: packages', 'vm2/docker: packages', 'vm2/registry: service'],
    );
  });

  it('keeps a journal of what each phase applied', async () => {
    const { hosts, options } = setup();
    await runPhases(options);
    assert.deepEqual(hosts.vm2.journal.entries.map((e) => e.phase), ['preflight', 'docker', 'registry']);
    assert.match(hosts.vm2.journal.entries[0].actions[0], /^write \/etc\/motd \(mode 0644\)$/);
    // A converged rerun adds nothing.
    await runPhases({ ...options, reporter: recorder() });
    assert.equal(hosts.vm2.journal.entries.length, 3);
  });

  it('takes over the lock of a run of this machine whose process is gone (killed, crashed), and says so', async () => {
    const { hosts, reporter, options } = setup();
    const now = new Date().toISOString();
    hosts.vm1.lock = { owner: 'tester@laptop', machine: 'laptop', pid: 999999, runId: 'r0', started: now, heartbeat: now };
    const result = await runPhases({ ...options, pidAlive: (pid) => pid !== 999999 });
    assert.equal(result.ok, true);
    assert.deepEqual(
      reporter.events.filter((e) => e.type === 'lock-taken-over'),
      [{ type: 'lock-taken-over', host: 'vm1', holder: `tester@laptop (pid 999999) since ${now}`, why: 'process 999999 on laptop that took it no longer runs' }],
    );
    assert.deepEqual(hosts.vm1.applied.map((a) => a.phase), ['preflight', 'docker']);
    assert.equal(hosts.vm1.lock, undefined, 'released at the end like any lock of its own');
  });

  it('refuses to run while another run holds the lock, and says when the lock looks stale', async () => {
    const { hosts, reporter, options } = setup();
    const quiet = new Date(Date.now() - 20 * 60 * 1000).toISOString();
    // Another machine's run: berth cannot see its process, only that it has been quiet for 20 minutes.
    hosts.vm1.lock = { owner: 'other@desk', machine: 'desk', pid: 999999, runId: 'r0', started: quiet, heartbeat: quiet };
    const result = await runPhases({ ...options, pidAlive: () => false });
    assert.equal(result.ok, false);
    const failed = reporter.events.find((e) => e.type === 'step-failed') as Extract<RunEvent, { type: 'step-failed' }>;
    assert.match(failed.error, /vm1 is locked by another berth run: other@desk \(pid 999999\)/);
    assert.match(failed.hint!, /stale: its holder has not been heard of for 20 minutes\. .* --force-unlock/);
    assert.deepEqual(hosts.vm1.applied, []);
    assert.deepEqual(hosts.vm2.applied, [], 'no host changes while one is locked');
    assert.equal(hosts.vm2.lock, undefined, 'the lock taken on vm2 is given back');

    const forced = await runPhases({ ...options, reporter: recorder(), forceUnlock: true });
    assert.equal(forced.ok, true);
  });

  it('a live lock held elsewhere is not called stale', async () => {
    const { hosts, reporter, options } = setup();
    const now = new Date().toISOString();
    hosts.vm2.lock = { owner: 'colleague@desk', machine: 'desk', pid: 1, runId: 'r1', started: now, heartbeat: now };
    await runPhases(options);
    const failed = reporter.events.find((e) => e.type === 'step-failed') as Extract<RunEvent, { type: 'step-failed' }>;
    assert.match(failed.hint!, /^Wait for that run to finish/);
  });

  it('stops a host whose planner finds a problem, before any change on any host', async () => {
    const refusing: Phase = { ...motdPhase, plan: () => { throw new HostProblem('Debian 9 is not supported', 'use a supported OS'); } };
    const { hosts, reporter, options } = setup({ phases: [refusing, packagePhase] });
    const result = await runPhases(options);
    assert.equal(result.ok, false);
    assert.deepEqual([...hosts.vm1.applied, ...hosts.vm2.applied], []);
    const failed = reporter.events.find((e) => e.type === 'step-failed') as Extract<RunEvent, { type: 'step-failed' }>;
    assert.equal(failed.hint, 'use a supported OS');
  });

  it('reconnects as the admin user after the phase that creates it', async () => {
    const { hosts, options } = setup({ phases: [{ ...motdPhase, reconnectAs: () => 'berth' }, packagePhase] });
    const users: string[] = [];
    options.connector = {
      ...connectorFor(hosts),
      connectAs: async (h, user) => {
        users.push(`${h.name}:${user}`);
        return memoryAgent(hosts[h.name], user);
      },
    };
    await runPhases(options);
    assert.deepEqual(users.sort(), ['vm1:berth', 'vm2:berth']);
  });

  it('reconnects after the admin phase changed something, also as the same user, and journals over the new connection', async () => {
    const seen: string[] = [];
    const later: Phase = { ...packagePhase, plan: (ctx, facts) => (seen.push(`${ctx.host.name}:${ctx.info.loginUser}`), packagePhase.plan(ctx, facts)) };
    const { hosts, options } = setup({ phases: [{ ...motdPhase, reconnectAs: () => 'root' }, later] });
    options.connector = {
      ...connectorFor(hosts),
      connectAs: async (h, user) => {
        hosts[h.name].calls.push(`connectAs:${user}`);
        return memoryAgent(hosts[h.name], user);
      },
    };
    await runPhases(options);
    const calls = hosts.vm1.calls;
    assert.deepEqual(calls.slice(calls.indexOf('apply:preflight'), calls.indexOf('apply:preflight') + 4), ['apply:preflight', 'connectAs:root', 'close', 'journal'], 'its way to root may have changed: found out again before anything else runs');
    hosts.vm1.calls.length = 0;
    await runPhases(options);
    assert.ok(!hosts.vm1.calls.includes('connectAs:root'), 'nothing changed, the connection stays');
    const { options: renamed, hosts: again } = setup({ phases: [{ ...motdPhase, reconnectAs: () => 'berth' }, later] });
    seen.length = 0;
    await runPhases({ ...renamed, connector: connectorFor(again) });
    assert.deepEqual(seen.sort(), ['vm1:berth', 'vm2:berth'], 'later phases see the user berth is logged in as now');
  });

  it('interrupted (Ctrl-C): the steps under way finish, later phases are skipped, the locks are released', async () => {
    const abort = new AbortController();
    const { hosts, reporter, options } = setup({ signal: abort.signal });
    // The interruption arrives while the first phase is under way on vm1.
    const handle = reporter.handle.bind(reporter);
    reporter.handle = (e) => {
      handle(e);
      if (e.type === 'step-start' && e.phase === 'preflight' && e.host === 'vm1') abort.abort();
    };
    const result = await runPhases(options);
    assert.equal(result.ok, false);
    const status = Object.fromEntries(result.summary.map((r) => [`${r.host}/${r.phase}`, r.status]));
    assert.deepEqual(status, {
      'vm1/preflight': 'changed',
      'vm2/preflight': 'changed',
      'vm1/docker': 'skipped',
      'vm2/docker': 'skipped',
      'vm2/registry': 'skipped',
    });
    assert.ok(reporter.events.some((e) => e.type === 'step-skipped' && e.reason === 'interrupted'));
    for (const h of Object.values(hosts)) {
      assert.deepEqual(h.applied.map((a) => a.phase), ['preflight']);
      assert.deepEqual(h.journal.entries.map((e) => e.phase), ['preflight'], 'what was applied is in the journal');
      assert.equal(h.lock, undefined, `${h.name} is still locked`);
      assert.equal(h.calls.at(-1), 'close');
    }
    // The rerun continues where the interrupted one stopped.
    const rerun = await runPhases({ ...options, signal: undefined, reporter: recorder() });
    assert.deepEqual(rerun.summary.filter((r) => r.changed > 0).map((r) => `${r.host}/${r.phase}`), ['vm1/docker', 'vm2/docker', 'vm2/registry']);
  });

  it('reports a host it cannot reach and touches no other host', async () => {
    const { hosts, reporter, options } = setup();
    options.connector = {
      ...connectorFor(hosts),
      connect: async (h) => {
        if (h.name === 'vm2') throw new Error('vm2 (10.0.0.12): connection refused');
        return memoryAgent(hosts[h.name]);
      },
    };
    const result = await runPhases(options);
    assert.equal(result.ok, false);
    assert.deepEqual(hosts.vm1.applied, []);
    assert.ok(reporter.events.some((e) => e.type === 'step-failed' && e.phase === 'connect' && /connection refused/.test(e.error)));
  });

  it('hands a phase the facts it reads from other hosts, and says so in the plan', async () => {
    const trust: Phase = {
      name: 'registry-access',
      title: 'trust',
      appliesTo: everyHost,
      peers: { what: 'the CA', from: (cluster) => cluster.filter((h) => h.name === 'vm2'), query: () => ({ files: ['/ca.crt'] }) },
      query: () => ({ files: ['/trusted.crt'] }),
      plan: (ctx, facts) => {
        const ca = ctx.peers.vm2.files['/ca.crt']?.content ?? '';
        return facts.files['/trusted.crt']?.content === ca ? [] : [{ kind: 'file', path: '/trusted.crt', content: ca, mode: 0o644 }];
      },
    };
    const { hosts, options } = setup({ phases: [trust] });
    hosts.vm2.state.files['/ca.crt'] = { content: 'PEM\n', mode: 0o644, owner: 'root', group: 'root' };
    const planned = await runPhases({ ...options, mode: 'plan' });
    assert.deepEqual(planned.plans.map((p) => `${p.host}: ${p.reads}`), ['vm1: the CA from vm2', 'vm2: the CA from vm2']);
    await runPhases(options);
    assert.equal(hosts.vm1.state.files['/trusted.crt']?.content, 'PEM\n');
    const again = await runPhases({ ...options, reporter: recorder() });
    assert.deepEqual(again.summary.map((r) => r.status), ['ok', 'ok']);
  });

  it('runs the hosts of a phase one after another in its sequence; a failure skips the rest', async () => {
    const serial: Phase = { ...motdPhase, sequence: (targets) => [...targets].reverse() };
    const { hosts, options } = setup({ phases: [serial] });
    const order: string[] = [];
    for (const h of Object.values(hosts)) h.onFacts = async (name) => void order.push(`facts ${name} after ${Object.values(hosts).filter((x) => x.applied.length > 0).map((x) => x.name).join('+') || 'none'}`);
    await runPhases(options);
    assert.deepEqual(order, ['facts vm2 after none', 'facts vm1 after vm2']);

    const failing = setup({ phases: [{ ...motdPhase, name: 'registry', sequence: (targets) => [...targets].reverse() }] });
    failing.hosts.vm2.failIn = 'registry';
    const result = await runPhases(failing.options);
    assert.deepEqual(result.summary.map((r) => `${r.host} ${r.status}`), ['vm2 failed', 'vm1 skipped']);
  });

  it('gives plans the answers of requests made from the installer machine', async () => {
    const seen: string[] = [];
    const verify: Phase = {
      name: 'verify',
      title: 'verify',
      appliesTo: (h) => h.name === 'vm1',
      query: () => ({ installer: { site: { url: 'http://10.0.0.11/' } } }),
      plan: (_ctx, facts) => {
        seen.push(`${facts.installer.site.status} ${facts.installer.site.body}`);
        return [];
      },
    };
    const { options } = setup({ phases: [verify], installerProbe: async (check) => ({ status: 200, headers: {}, body: `hello from ${check.url}` }) });
    assert.equal((await runPhases(options)).ok, true);
    assert.deepEqual(seen, ['200 hello from http://10.0.0.11/']);
  });

  it('proves a guarded change on the port berth reached the host at, not the one sshd reports (a NAT port mapping)', async () => {
    const { hosts, options } = setup({ phases: [motdPhase] });
    // Reached at 2222, which a NAT maps to sshd's 22 (SSH_CONNECTION says 22).
    hosts.vm1.connectedPort = 2222;
    const opened: (number | undefined)[] = [];
    options.connector = {
      ...connectorFor(hosts),
      connect: async (h) => {
        const agent = memoryAgent(hosts[h.name]);
        return { ...agent, apply: async (_actions, deps) => void (await deps.connectFresh()) };
      },
      open: async (_h, _user, port) => {
        opened.push(port);
        return { name: 'vm1', address: '10.0.0.11', port: port ?? 22, user: 'root', exec: async () => ({ code: 0, stdout: '', stderr: '' }), upload: async () => undefined, uploadLarge: async () => ({ sha256: '' }), close: async () => undefined };
      },
    };
    options.answers = { ...options.answers, hosts: options.answers.hosts.filter((h) => h.name === 'vm1') };
    await runPhases(options);
    assert.deepEqual(opened, [2222]);
  });

  it('stops with an internal error when a plan reads a fact its query did not ask for', async () => {
    const sloppy: Phase = { ...motdPhase, plan: (_ctx, facts) => (facts.files['/etc/issue'] ? [] : []) };
    const { hosts, options } = setup({ phases: [sloppy] });
    await assert.rejects(runPhases(options), /the plan read file "\/etc\/issue", which its query did not ask for/);
    for (const h of Object.values(hosts)) assert.equal(h.lock, undefined, 'the locks are released');
  });
});
