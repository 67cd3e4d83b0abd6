import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Answers, HostAnswers } from '../answers/schema';
import { RunFailedError } from '../errors';
import { VERSION } from '../version';
import type { Reporter, SummaryRow } from './events';
import { ActionFailedError } from './executor';
import { appendToJournal, judgeLock, pidAlive, type Journal, type LockOwner, type LockVerdict } from './hoststate';
import type { RunLog } from './log';
import { clusterOf } from './cluster';
import { httpProbe, type InstallerProbe } from './installer';
import { HostProblem, type ClusterHost, type HostInfo, type LocalFacts, type Phase, type PhaseContext } from './phase';
import { mergedQuery, factsFor } from './facts';
import { askedFacts, describeAction, UnaskedFactError, type Action, type Facts, type FactsQuery, type FileFact } from './plan';
import { SshError, type HostConnection } from './transport';
import { HostStateError, type HostAgent } from './agent';

/** Opens connections; the SSH module implements it, unit tests fake it. */
export interface Connector {
  /** Connect as whichever configured login works (the admin user once it exists, else ssh.user). */
  connect(host: HostAnswers): Promise<HostAgent>;
  /** Connect as exactly this user, e.g. once the admin phase created it. */
  connectAs(host: HostAnswers, user: string): Promise<HostAgent>;
  /** A brand-new connection: the proof that a guarded change did not lock us out. */
  open(host: HostAnswers, user: string, port?: number): Promise<HostConnection>;
}

export interface RunOptions {
  answers: Answers;
  phases: readonly Phase[];
  connector: Connector;
  mode: 'apply' | 'plan';
  local: LocalFacts;
  reporter: Reporter;
  log: RunLog;
  /** Who runs this install, for the lock: user@machine, the machine's hostname, our pid. */
  owner: { owner: string; machine: string; pid: number };
  forceUnlock?: boolean;
  revertAfterSeconds?: number;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
  pidAlive?: (pid: number) => boolean;
  /** Makes the requests of `installer` facts; default: real HTTP(S) from this machine. */
  installerProbe?: InstallerProbe;
}

export interface StepPlan {
  phase: string;
  host: string;
  actions: Action[];
  /** The facts about the files the actions write, for diffs. */
  files: Record<string, FileFact | null>;
  /** What the plan used from other hosts, e.g. "the registry's CA certificate from vm2". */
  reads?: string;
}

export interface RunResult {
  ok: boolean;
  summary: SummaryRow[];
  plans: StepPlan[];
}

interface Session {
  answers: HostAnswers;
  agent: HostAgent;
  info: HostInfo;
  journal: Journal;
  lock?: LockOwner;
}

const HEARTBEAT_MS = 60_000;

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function describeQuery(query: FactsQuery): string {
  const parts = [
    query.files?.length ? `files ${query.files.join(', ')}` : '',
    query.packages?.length ? `packages ${query.packages.join(', ')}` : '',
    query.units?.length ? `units ${query.units.join(', ')}` : '',
    query.probes ? `probes ${Object.keys(query.probes).join(', ')}` : '',
    query.installer ? `from this machine ${Object.values(query.installer).map((c) => c.url).join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'no facts';
}

function errorText(err: unknown): { error: string; hint?: string } {
  if (err instanceof ActionFailedError) return { error: err.message, hint: err.hint };
  if (err instanceof HostProblem || err instanceof SshError || err instanceof RunFailedError) return { error: err.message, hint: err.hint };
  if (err instanceof HostStateError) return { error: err.message };
  return { error: err instanceof Error ? err.message : String(err) };
}

/** The state of one run, shared by its steps. */
class Run {
  readonly id = randomUUID();
  readonly summary: SummaryRow[] = [];
  readonly plans: StepPlan[] = [];
  readonly sessions = new Map<string, Session>();
  ok = true;

  constructor(readonly options: RunOptions) {}

  get stopping(): boolean {
    return !this.ok || Boolean(this.options.signal?.aborted);
  }

  fail(phase: string, host: string, started: number, err: unknown): void {
    if (err instanceof UnaskedFactError) throw err; // berth's bug, not the host's: an internal error
    const { error, hint } = errorText(err);
    this.ok = false;
    this.options.log.write(host, `FAILED in ${phase}: ${error}${hint ? `\n${hint}` : ''}`);
    this.summary.push({ host, phase, status: 'failed', changed: 0, durationMs: Date.now() - started });
    this.options.reporter.handle({ type: 'step-failed', phase, host, durationMs: Date.now() - started, error, hint });
  }

  skip(phase: string, hosts: readonly ClusterHost[]): void {
    const reason = this.options.signal?.aborted ? 'interrupted' : 'an earlier step failed';
    for (const h of hosts) {
      this.summary.push({ host: h.name, phase, status: 'skipped', changed: 0, durationMs: 0 });
      this.options.reporter.handle({ type: 'step-skipped', phase, host: h.name, reason });
    }
  }

  lockOwner(): LockOwner {
    const now = new Date().toISOString();
    return { ...this.options.owner, runId: this.id, started: now, heartbeat: now };
  }

  session(host: string): Session {
    const s = this.sessions.get(host);
    if (!s) throw new Error(`no connection to ${host}`);
    return s;
  }

  /** Facts read ahead, by phase and host (readAhead); usable while nothing has changed anywhere. */
  private readonly ahead = new Map<string, { query: FactsQuery; facts: Promise<Facts | undefined> }>();
  /** Whether any host has run an action: from then on every fact is read when its phase comes. */
  changed = false;

  /**
   * Reads every phase's facts on every host at the start, in one round trip
   * per host (mergedQuery): a converged rerun then waits for one read per host
   * instead of one per phase, and what several phases ask is read once. They
   * serve only while no action has run anywhere (an action on one host can
   * change what another sees, e.g. its DNS) and no connection was replaced,
   * and only for the very query the phase asks when its turn comes.
   */
  readAhead(phases: readonly Phase[], cluster: readonly ClusterHost[]): void {
    const { answers, local } = this.options;
    const wanted = new Map<string, { key: string; query: FactsQuery }[]>();
    const want = (host: string, key: string, query: FactsQuery) => {
      if (!wanted.has(host)) wanted.set(host, []);
      wanted.get(host)!.push({ key, query });
    };
    for (const host of cluster) {
      const s = this.sessions.get(host.name);
      if (!s) continue;
      // Not a sequence's phases: their hosts read only once the one before has applied.
      for (const phase of phases.filter((p) => !p.sequence && p.appliesTo(host, answers))) want(host.name, phase.name, phase.query({ answers, host, cluster, info: s.info, local, peers: {} }));
    }
    for (const phase of phases) {
      for (const peer of phase.peers?.from(cluster, answers) ?? []) want(peer.name, peersKey(phase.name), phase.peers!.query(answers, peer));
    }
    for (const [host, reads] of wanted) {
      const session = this.sessions.get(host);
      if (!session) continue;
      const merged = mergedQuery(reads.map((r) => r.query));
      const all = session.agent.facts(merged);
      for (const { key, query } of reads) {
        const facts = Promise.all([all, this.installerFacts(query)]).then(([answer, installer]) => ({ ...factsFor(answer, merged, query), installer }));
        this.ahead.set(`${key}\0${host}`, { query, facts: facts.catch(() => undefined) });
      }
    }
  }

  /** Facts on a host for `key` (a phase, or what it reads from peers): read ahead when still valid, else from the host now. */
  async facts(host: string, query: FactsQuery, key?: string): Promise<Facts> {
    const ahead = key === undefined ? undefined : this.ahead.get(`${key}\0${host}`);
    if (ahead && !this.changed && isDeepStrictEqual(ahead.query, query)) {
      const facts = await ahead.facts;
      if (facts && !this.changed) return structuredClone(facts);
    }
    return this.fresh(host, query);
  }

  /** A host's facts for a query: from the host, and the installer checks from this machine. */
  private async fresh(host: string, query: FactsQuery): Promise<Facts> {
    const [facts, installer] = await Promise.all([this.session(host).agent.facts(query), this.installerFacts(query)]);
    return { ...facts, installer };
  }

  /** The query's checks from this machine. */
  private async installerFacts(query: FactsQuery): Promise<Facts['installer']> {
    const probe = this.options.installerProbe ?? httpProbe;
    const checks = Object.entries(query.installer ?? {});
    const answers = await Promise.all(checks.map(([, check]) => probe(check)));
    return Object.fromEntries(checks.map(([name], i) => [name, answers[i]]));
  }
}

/** Step 1: connect to every host and learn about it before anything changes. */
async function connectAll(run: Run): Promise<void> {
  const { connector, reporter, log } = run.options;
  await Promise.all(
    run.options.answers.hosts.map(async (host) => {
      const started = Date.now();
      try {
        const agent = await connector.connect(host);
        const info = await agent.info();
        run.sessions.set(host.name, { answers: host, agent, info, journal: { entries: [] } });
        reporter.handle({ type: 'connected', host: host.name, address: host.address, user: agent.user });
        log.write(host.name, `connected to ${host.address} as ${agent.user}: ${info.osName} ${info.arch}`);
      } catch (err) {
        run.fail('connect', host.name, started, err);
      }
    }),
  );
}

/** Step 2 (apply only): take every host's lock and read its journal. */
async function lockAll(run: Run): Promise<void> {
  const { options } = run;
  const { log } = options;
  await Promise.all(
    [...run.sessions.values()].map(async (s) => {
      const started = Date.now();
      try {
        const owner = run.lockOwner();
        let taken = await s.agent.lock(owner, Boolean(options.forceUnlock));
        const judge = (holder: LockOwner) => judgeLock(holder, { machine: options.owner.machine, pidAlive: options.pidAlive ?? pidAlive, now: new Date() });
        const describe = (holder: LockOwner) => `${holder.owner} (pid ${holder.pid}) since ${holder.started}`;
        const first = taken.acquired ? undefined : taken.holder;
        const verdict = first && judge(first);
        if (first && verdict?.state === 'gone') {
          // A killed, crashed or interrupted run of this machine: continue where it stopped, as with any rerun.
          taken = await s.agent.lock(owner, false, first.runId);
          if (taken.acquired) {
            log.write(s.answers.name, `took over the lock of ${describe(first)}: ${verdict.why}`);
            options.reporter.handle({ type: 'lock-taken-over', host: s.answers.name, holder: describe(first), why: verdict.why });
          }
        }
        if (!taken.acquired) {
          const holder = taken.holder;
          const judged: LockVerdict = holder ? judge(holder) : { state: 'stale', why: 'its owner file is unreadable' };
          throw new RunFailedError(
            `${s.answers.name} is locked by another berth run: ${holder ? describe(holder) : 'an unknown holder'}`,
            [],
            judged.state === 'stale'
              ? `The lock looks stale: ${judged.why}. If no other install is running, run again with --force-unlock.`
              : 'Wait for that run to finish. If it is gone, run again with --force-unlock.',
          );
        }
        s.lock = owner;
        s.journal = await s.agent.readJournal();
      } catch (err) {
        run.fail('lock', s.answers.name, started, err);
      }
    }),
  );
}

/** The read-ahead key of what `phase` reads from other hosts. */
const peersKey = (phase: string) => `${phase} (peers)`;

/** What a phase reads from other hosts, read once before its hosts plan. */
async function readPeers(run: Run, phase: Phase, cluster: readonly ClusterHost[]): Promise<Record<string, Facts>> {
  if (!phase.peers) return {};
  const { answers, log } = run.options;
  const peers: Record<string, Facts> = {};
  for (const peer of phase.peers.from(cluster, answers)) {
    const query = phase.peers.query(answers, peer);
    peers[peer.name] = askedFacts(await run.facts(peer.name, query, peersKey(phase.name)), query);
    log.write(peer.name, `${phase.name}: read for the other hosts (${phase.peers.what}): ${describeQuery(query)}`);
  }
  return peers;
}

/** A heartbeat a minute is plenty to tell a live run from a dead one, and saves a round trip per phase. */
async function heartbeat(s: Session): Promise<void> {
  if (s.lock && Date.now() - Date.parse(s.lock.heartbeat) > HEARTBEAT_MS) {
    s.lock = { ...s.lock, heartbeat: new Date().toISOString() };
    await s.agent.refreshLock(s.lock);
  }
}

/** Step 3, per phase and host: facts, plan, then (apply) the actions, the journal and a reconnect where the phase asks for one. */
async function runStep(run: Run, phase: Phase, host: ClusterHost, cluster: readonly ClusterHost[], peers: Record<string, Facts>): Promise<boolean> {
  const { answers, mode, reporter, log, connector } = run.options;
  const s = run.session(host.name);
  const started = Date.now();
  reporter.handle({ type: 'step-start', phase: phase.name, host: host.name });
  try {
    // Before the phase, so that a lock another run took over stops this one before it changes anything.
    await heartbeat(s);
    const ctx: PhaseContext = { answers, host, cluster, info: s.info, local: run.options.local, peers };
    const query = phase.query(ctx);
    const facts = await run.facts(host.name, query, phase.name);
    const actions = phase.plan(ctx, askedFacts(facts, query));
    log.write(host.name, `${phase.name}: read ${describeQuery(query)}; ${actions.length === 0 ? 'up to date' : `plan: ${actions.map(describeAction).join('; ')}`}`);
    if (mode === 'plan') {
      const paths = (list: readonly Action[]): string[] => list.flatMap((a) => (a.kind === 'file' || a.kind === 'remove' || a.kind === 'copy' ? [a.path] : a.kind === 'guarded' ? paths(a.actions) : []));
      const files = Object.fromEntries(paths(actions).map((path) => [path, facts.files[path] ?? null]));
      const reads = phase.peers && Object.keys(peers).length > 0 ? `${phase.peers.what} from ${Object.keys(peers).join(', ')}` : undefined;
      run.plans.push({ phase: phase.name, host: host.name, actions, files, ...(reads ? { reads } : {}) });
    } else if (actions.length > 0) {
      run.changed = true;
      await s.agent.apply(actions, {
        phase: phase.name,
        log,
        revertAfterSeconds: run.options.revertAfterSeconds ?? 60,
        sleep: run.options.sleep ?? defaultSleep,
        connectFresh: (port, user) => connector.open(s.answers, user ?? s.agent.user, port ?? s.agent.port),
        onAction: (description) => reporter.handle({ type: 'action', phase: phase.name, host: host.name, description }),
        readPeerFile: async (peer, path) => (await run.session(peer).agent.facts({ files: [path] })).files[path] ?? null,
        probeFromInstaller: run.options.installerProbe ?? httpProbe,
      });
    }
    // A new connection also when the user stays the same but the phase changed it: its way to root (sudo -n or a
    // password) is found out again, as the change may have made the old connection's stale.
    const reconnectUser = phase.reconnectAs?.(answers);
    if (mode === 'apply' && reconnectUser && (s.agent.user !== reconnectUser || actions.length > 0)) {
      const next = await connector.connectAs(s.answers, reconnectUser);
      // What the old connection read ahead may differ from what the new one sees (its user, its way to root).
      run.changed = true;
      await s.agent.close();
      s.agent = next;
      s.info = { ...s.info, loginUser: next.user };
      log.write(host.name, `now connected as ${reconnectUser}`);
    }
    if (mode === 'apply' && actions.length > 0) {
      s.journal = appendToJournal(s.journal, { phase: phase.name, at: new Date().toISOString(), runId: run.id, berth: VERSION, actions: actions.map(describeAction) });
      await s.agent.writeJournal(s.journal);
    }
    const durationMs = Date.now() - started;
    run.summary.push({ host: host.name, phase: phase.name, status: actions.length === 0 ? 'ok' : mode === 'plan' ? 'planned' : 'changed', changed: actions.length, durationMs });
    reporter.handle({ type: 'step-done', phase: phase.name, host: host.name, changed: actions.length, durationMs, actions });
    return true;
  } catch (err) {
    run.fail(phase.name, host.name, started, err);
    return false;
  }
}

/** One phase on the hosts it concerns: all at once, or one after another in the phase's `sequence`. */
async function runPhase(run: Run, phase: Phase, cluster: readonly ClusterHost[]): Promise<void> {
  const { answers, reporter } = run.options;
  const targets = cluster.filter((h) => phase.appliesTo(h, answers));
  if (targets.length === 0) return;
  if (run.stopping) return run.skip(phase.name, targets);
  reporter.handle({ type: 'phase-start', phase: phase.name, title: phase.title, hosts: targets.map((h) => h.name) });
  let peers: Record<string, Facts>;
  const started = Date.now();
  try {
    peers = await readPeers(run, phase, cluster);
  } catch (err) {
    for (const h of targets) run.fail(phase.name, h.name, started, err);
    return;
  }
  if (!phase.sequence) {
    await Promise.all(targets.map((host) => runStep(run, phase, host, cluster, peers)));
    return;
  }
  const order = phase.sequence(targets, peers, answers);
  run.options.log.write(order[0]?.name ?? '-', `${phase.name}: one host after another: ${order.map((h) => h.name).join(', ')}`);
  for (const [i, host] of order.entries()) {
    if (!(await runStep(run, phase, host, cluster, peers))) return run.skip(phase.name, order.slice(i + 1));
  }
}

/**
 * Run the phases in order against every host they concern: connect, lock,
 * then phase by phase (a failure stops the phases after it), and finally
 * release the locks. In plan mode nothing is written anywhere: no lock, no
 * journal, no action.
 */
export async function runPhases(options: RunOptions): Promise<RunResult> {
  const { answers, phases, mode, reporter, log } = options;
  const run = new Run(options);
  reporter.handle({ type: 'run-start', mode, hosts: answers.hosts.map((h) => h.name), phases: phases.map((p) => p.name) });
  try {
    await connectAll(run);
    if (run.ok && mode === 'apply') await lockAll(run);
    const cluster = clusterOf(answers, new Map([...run.sessions].map(([name, s]) => [name, s.info])));
    if (run.ok) run.readAhead(phases, cluster);
    for (const phase of phases) await runPhase(run, phase, cluster);
  } finally {
    await Promise.all(
      [...run.sessions.values()].map(async (s) => {
        if (s.lock) await s.agent.releaseLock(run.id).catch(() => undefined);
        await s.agent.close().catch(() => undefined);
      }),
    );
  }
  const ok = run.ok && !options.signal?.aborted;
  reporter.handle({ type: 'run-done', ok, summary: run.summary, logFile: log.path });
  await reporter.close();
  return { ok, summary: run.summary, plans: run.plans };
}
