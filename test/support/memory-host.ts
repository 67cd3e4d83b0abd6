import type { HostAgent } from '../../src/engine/agent';
import type { Journal, LockOwner } from '../../src/engine/hoststate';
import type { HostInfo } from '../../src/engine/phase';
import { describeAction, emptyFacts, simulate, type Action, type Facts } from '../../src/engine/plan';

/**
 * An in-memory host for engine unit tests: a model of files, packages, units
 * and probe results that actions change through the same `simulate` the
 * planners are checked with. It records every operation.
 */
export interface MemoryHost {
  name: string;
  info: HostInfo;
  state: Facts;
  journal: Journal;
  lock?: LockOwner;
  /** Every operation, in order: "facts", "apply:<phase>", "lock", … */
  calls: string[];
  /** Actions applied, per phase. */
  applied: { phase: string; actions: Action[] }[];
  /** Make `apply` in this phase fail. */
  failIn?: string;
  /** Delay before facts() answers, to let parallel hosts overlap. */
  factsDelayMs?: number;
  /** The port the agent reached the host at (default 22). */
  connectedPort?: number;
  /** Called when facts() starts: for parallelism checks. */
  onFacts?: (host: string) => Promise<void>;
}

export function testHostInfo(overrides: Partial<HostInfo> = {}): HostInfo {
  return {
    osId: 'debian',
    osVersion: '13',
    osCodename: 'trixie',
    osName: 'Debian GNU/Linux 13 (trixie)',
    arch: 'amd64',
    hostname: 'vm',
    addresses: ['10.0.0.10'],
    clientAddress: '10.0.0.1',
    sshPort: 22,
    loginUser: 'root',
    init: 'systemd',
    cpus: 2,
    memoryMb: 2048,
    rootFreeMb: 20000,
    ...overrides,
  };
}

export function memoryHost(name: string, overrides: Partial<MemoryHost> = {}): MemoryHost {
  return {
    name,
    info: testHostInfo({ hostname: name }),
    state: emptyFacts(),
    journal: { entries: [] },
    calls: [],
    applied: [],
    ...overrides,
  };
}

export function memoryAgent(host: MemoryHost, user = 'root'): HostAgent {
  return {
    name: host.name,
    user,
    port: host.connectedPort ?? 22,
    async info() {
      host.calls.push('info');
      return host.info;
    },
    async facts(query) {
      host.calls.push('facts');
      await host.onFacts?.(host.name);
      if (host.factsDelayMs) await new Promise((r) => setTimeout(r, host.factsDelayMs));
      const facts = emptyFacts();
      for (const f of query.files ?? []) facts.files[f] = host.state.files[f] ?? null;
      for (const p of query.packages ?? []) facts.packages[p] = host.state.packages[p] ?? null;
      for (const u of query.units ?? []) facts.units[u] = host.state.units[u] ?? { active: 'inactive', enabled: 'not-found' };
      for (const r of Object.keys(query.probes ?? {})) facts.probes[r] = host.state.probes[r] ?? { code: 1, out: '' };
      return facts;
    },
    async apply(actions, deps) {
      host.calls.push(`apply:${deps.phase}`);
      if (host.failIn === deps.phase) throw new Error(`injected failure in ${deps.phase}`);
      for (const a of actions) deps.onAction?.(describeAction(a));
      host.applied.push({ phase: deps.phase, actions: [...actions] });
      host.state = simulate(host.state, actions);
    },
    async lock(owner, force, replace) {
      host.calls.push('lock');
      if (host.lock && !force && host.lock.runId !== replace) return { acquired: false, holder: host.lock };
      host.lock = owner;
      return { acquired: true };
    },
    async refreshLock(owner) {
      if (host.lock?.runId !== owner.runId) throw new Error(`${host.name}: the lock was taken over`);
      host.lock = owner;
    },
    async releaseLock(runId) {
      host.calls.push('unlock');
      if (host.lock?.runId === runId) host.lock = undefined;
    },
    async readJournal() {
      return host.journal;
    },
    async readLock() {
      return host.lock;
    },
    async writeJournal(journal) {
      host.calls.push('journal');
      host.journal = journal;
    },
    async close() {
      host.calls.push('close');
    },
  };
}
