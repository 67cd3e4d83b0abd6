import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { Answers, HostAnswers } from '../answers/schema';
import { RunFailedError } from '../errors';
import { VERSION } from '../version';
import type { Reporter, SummaryRow } from './events';
import { ActionFailedError } from './executor';
import { appendToJournal, judgeLock, pidAlive, type Journal, type LockOwner } from './hoststate';
import type { RunLog } from './log';
import { HostProblem, type ClusterHost, type HostInfo, type LocalFacts, type Phase, type PhaseContext } from './phase';
import { describeAction, type Action, type FactsQuery, type FileFact } from './plan';
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
  /** Phases whose hosts should connect as this user afterwards (the admin phase). */
  reconnectAfter?: Partial<Record<string, (answers: Answers) => string>>;
}

export interface StepPlan {
  phase: string;
  host: string;
  actions: Action[];
  /** The facts about the files the actions write, for diffs. */
  files: Record<string, FileFact | null>;
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


/** Where the other hosts reach this one: privateAddress, the address if it is an IP, else the host's first address. */
export function clusterAddressOf(host: HostAnswers, info: HostInfo): string {
  if (host.privateAddress) return host.privateAddress;
  if (isIP(host.address)) return host.address;
  return info.addresses[0] ?? host.address;
}

function describeQuery(query: FactsQuery): string {
  const parts = [
    query.files?.length ? `files ${query.files.join(', ')}` : '',
    query.packages?.length ? `packages ${query.packages.join(', ')}` : '',
    query.units?.length ? `units ${query.units.join(', ')}` : '',
    query.probes ? `probes ${Object.keys(query.probes).join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'no facts';
}

function errorText(err: unknown): { error: string; hint?: string } {
  if (err instanceof ActionFailedError) return { error: err.message, hint: err.hint };
  if (err instanceof HostProblem || err instanceof SshError || err instanceof RunFailedError) return { error: err.message, hint: err.hint };
  if (err instanceof HostStateError) return { error: err.message };
  return { error: err instanceof Error ? err.message : String(err) };
}

/**
 * Run the phases in order against every host they concern: within a phase
 * the hosts run in parallel, and a failure stops the phases after it. In
 * plan mode nothing is written anywhere: no lock, no journal, no action.
 */
export async function runPhases(options: RunOptions): Promise<RunResult> {
  const { answers, phases, connector, mode, reporter, log } = options;
  const sleep = options.sleep ?? defaultSleep;
  const runId = randomUUID();
  const summary: SummaryRow[] = [];
  const plans: StepPlan[] = [];
  const sessions = new Map<string, Session>();
  const hostNames = answers.hosts.map((h) => h.name);
  reporter.handle({ type: 'run-start', mode, hosts: hostNames, phases: phases.map((p) => p.name) });

  const fail = (phase: string, host: string, started: number, err: unknown) => {
    const { error, hint } = errorText(err);
    log.write(host, `FAILED in ${phase}: ${error}${hint ? `\n${hint}` : ''}`);
    summary.push({ host, phase, status: 'failed', changed: 0, durationMs: Date.now() - started });
    reporter.handle({ type: 'step-failed', phase, host, durationMs: Date.now() - started, error, hint });
  };

  const lockOwner = (): LockOwner => {
    const now = new Date().toISOString();
    return { ...options.owner, runId, started: now, heartbeat: now };
  };

  let ok = true;
  try {
    // Connect to every host and learn about it before anything changes.
    await Promise.all(
      answers.hosts.map(async (host) => {
        const started = Date.now();
        try {
          const agent = await connector.connect(host);
          const info = await agent.info();
          sessions.set(host.name, { answers: host, agent, info, journal: { entries: [] } });
          reporter.handle({ type: 'connected', host: host.name, address: host.address, user: agent.user });
          log.write(host.name, `connected to ${host.address} as ${agent.user}: ${info.osName} ${info.arch}`);
        } catch (err) {
          ok = false;
          fail('connect', host.name, started, err);
        }
      }),
    );

    if (ok && mode === 'apply') {
      await Promise.all(
        [...sessions.values()].map(async (s) => {
          const started = Date.now();
          try {
            const owner = lockOwner();
            const taken = await s.agent.lock(owner, Boolean(options.forceUnlock));
            if (!taken.acquired) {
              const holder = taken.holder;
              const judged = holder ? judgeLock(holder, { machine: options.owner.machine, pidAlive: options.pidAlive ?? pidAlive, now: new Date() }) : { stale: true as const, why: 'its owner file is unreadable' };
              const who = holder ? `${holder.owner} (pid ${holder.pid}) since ${holder.started}` : 'an unknown holder';
              throw new RunFailedError(
                `${s.answers.name} is locked by another berth run: ${who}`,
                [],
                judged.stale
                  ? `The lock looks stale: ${judged.why}. If no other install is running, run again with --force-unlock.`
                  : 'Wait for that run to finish. If it is gone, run again with --force-unlock.',
              );
            }
            s.lock = owner;
            s.journal = await s.agent.readJournal();
          } catch (err) {
            ok = false;
            fail('lock', s.answers.name, started, err);
          }
        }),
      );
    }

    const cluster: ClusterHost[] = answers.hosts.map((h) => {
      const s = sessions.get(h.name);
      return { name: h.name, address: h.address, clusterAddress: s ? clusterAddressOf(h, s.info) : h.privateAddress ?? h.address, roles: h.roles ?? [] };
    });

    for (const phase of phases) {
      const targets = cluster.filter((h) => phase.appliesTo(h, answers));
      if (targets.length === 0) continue;
      if (!ok || options.signal?.aborted) {
        const reason = options.signal?.aborted ? 'interrupted' : 'an earlier step failed';
        for (const h of targets) {
          summary.push({ host: h.name, phase: phase.name, status: 'skipped', changed: 0, durationMs: 0 });
          reporter.handle({ type: 'step-skipped', phase: phase.name, host: h.name, reason });
        }
        continue;
      }
      reporter.handle({ type: 'phase-start', phase: phase.name, title: phase.title, hosts: targets.map((h) => h.name) });
      const results = await Promise.all(
        targets.map(async (host) => {
          const s = sessions.get(host.name)!;
          const started = Date.now();
          reporter.handle({ type: 'step-start', phase: phase.name, host: host.name });
          try {
            // A heartbeat a minute is plenty to tell a live run from a dead one, and saves a round trip per phase.
            // Before the phase, so that a lock another run took over stops this one before it changes anything.
            if (s.lock && Date.now() - Date.parse(s.lock.heartbeat) > HEARTBEAT_MS) {
              s.lock = { ...s.lock, heartbeat: new Date().toISOString() };
              await s.agent.refreshLock(s.lock);
            }
            const ctx: PhaseContext = { answers, host, cluster, info: s.info, local: options.local };
            const query = phase.query(ctx);
            const facts = await s.agent.facts(query);
            const actions = phase.plan(ctx, facts);
            log.write(host.name, `${phase.name}: read ${describeQuery(query)}; ${actions.length === 0 ? 'up to date' : `plan: ${actions.map(describeAction).join('; ')}`}`);
            const paths = (list: readonly Action[]): string[] => list.flatMap((a) => (a.kind === 'file' || a.kind === 'remove' ? [a.path] : a.kind === 'guarded' ? paths(a.actions) : []));
            const files = Object.fromEntries(paths(actions).map((path) => [path, facts.files[path] ?? null]));
            if (mode === 'plan') {
              plans.push({ phase: phase.name, host: host.name, actions, files });
            } else if (actions.length > 0) {
              await s.agent.apply(actions, {
                phase: phase.name,
                log,
                revertAfterSeconds: options.revertAfterSeconds ?? 60,
                sleep,
                connectFresh: (port) => connector.open(s.answers, s.agent.user, port ?? s.info.sshPort),
                onAction: (description) => reporter.handle({ type: 'action', phase: phase.name, host: host.name, description }),
              });
              s.journal = appendToJournal(s.journal, { phase: phase.name, at: new Date().toISOString(), runId, berth: VERSION, actions: actions.map(describeAction) });
              await s.agent.writeJournal(s.journal);
            }
            const reconnectUser = options.reconnectAfter?.[phase.name]?.(answers);
            if (mode === 'apply' && reconnectUser && s.agent.user !== reconnectUser) {
              const next = await connector.connectAs(s.answers, reconnectUser);
              await s.agent.close();
              s.agent = next;
              log.write(host.name, `now connected as ${reconnectUser}`);
            }
            const durationMs = Date.now() - started;
            summary.push({ host: host.name, phase: phase.name, status: actions.length === 0 ? 'ok' : mode === 'plan' ? 'planned' : 'changed', changed: actions.length, durationMs });
            reporter.handle({ type: 'step-done', phase: phase.name, host: host.name, changed: actions.length, durationMs, actions });
            return true;
          } catch (err) {
            fail(phase.name, host.name, started, err);
            return false;
          }
        }),
      );
      if (results.includes(false)) ok = false;
    }
  } finally {
    await Promise.all(
      [...sessions.values()].map(async (s) => {
        if (s.lock) await s.agent.releaseLock(runId).catch(() => undefined);
        await s.agent.close().catch(() => undefined);
      }),
    );
  }
  if (options.signal?.aborted) ok = false;
  reporter.handle({ type: 'run-done', ok, summary, logFile: log.path });
  await reporter.close();
  return { ok, summary, plans };
}
