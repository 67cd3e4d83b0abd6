import { RunFailedError } from '../errors';
import { executeActions, type ExecutorDeps } from './executor';
import { factsScript, HOST_INFO_SCRIPT, parseFacts, parseHostInfo } from './facts';
import {
  acquireLockScript,
  parseJournal,
  readJournalScript,
  readLockScript,
  refreshLockScript,
  releaseLockScript,
  writeJournalScript,
  type Journal,
  type LockOwner,
} from './hoststate';
import type { HostInfo } from './phase';
import type { Action, Facts, FactsQuery } from './plan';
import type { HostConnection } from './transport';

/**
 * Everything the engine does to one host, as operations. The real agent
 * turns them into scripts over a HostConnection; unit tests use an
 * in-memory host that implements the same operations on a model.
 */
export interface HostAgent {
  readonly name: string;
  /** The login user of the connection. */
  readonly user: string;
  /** The port the connection reached the host at (see HostConnection.port). */
  readonly port: number;
  info(): Promise<HostInfo>;
  facts(query: FactsQuery): Promise<Facts>;
  apply(actions: readonly Action[], deps: Omit<ExecutorDeps, 'conn'>): Promise<void>;
  /** Take the lock; when it is held by someone else, say by whom (undefined when unreadable). `replace`: the run id of a holder found gone, whose lock is taken over. */
  lock(owner: LockOwner, force: boolean, replace?: string): Promise<{ acquired: true } | { acquired: false; holder?: LockOwner }>;
  /** Write a new heartbeat; rejects when the lock is no longer ours (another run forced it). */
  refreshLock(owner: LockOwner): Promise<void>;
  releaseLock(runId: string): Promise<void>;
  readJournal(): Promise<Journal>;
  /** Who holds the lock now, if anyone. */
  readLock(): Promise<LockOwner | undefined>;
  writeJournal(journal: Journal): Promise<void>;
  close(): Promise<void>;
}

export class HostStateError extends Error {
  constructor(host: string, what: string, code: number, stderr: string) {
    super(`${host}: could not ${what} (exit code ${code}): ${stderr.trim().split('\n').slice(-3).join(' ')}`);
    this.name = 'HostStateError';
  }
}

export function remoteAgent(conn: HostConnection): HostAgent {
  const must = async (what: string, script: string, stdin?: string) => {
    const result = await conn.exec(script, { stdin });
    if (result.code !== 0) throw new HostStateError(conn.name, what, result.code, result.stderr);
    return result.stdout;
  };
  return {
    name: conn.name,
    user: conn.user,
    port: conn.port,
    async info() {
      const result = await conn.exec(HOST_INFO_SCRIPT, { asRoot: false });
      if (result.code !== 0) throw new HostStateError(conn.name, 'read what the host is', result.code, result.stderr);
      return parseHostInfo(result.stdout);
    },
    async facts(query) {
      return parseFacts(await must('read facts', factsScript(query)), query);
    },
    apply: (actions, deps) => executeActions({ ...deps, conn }, actions),
    async lock(owner, force, replace) {
      const [verdict, ...rest] = (await must('take the lock', acquireLockScript(force, replace), JSON.stringify(owner))).trim().split('\n');
      if (verdict === 'ACQUIRED') return { acquired: true };
      try {
        return { acquired: false, holder: JSON.parse(rest.join('\n')) as LockOwner };
      } catch {
        return { acquired: false };
      }
    },
    async refreshLock(owner) {
      const answer = await must('refresh the lock', refreshLockScript(owner.runId), JSON.stringify(owner));
      if (answer.trim() === 'LOST') {
        throw new RunFailedError(
          `${conn.name}: another berth run took this host's lock over (--force-unlock) while this one ran`,
          [],
          'Let that run finish, then run again: berth continues where it stopped.',
        );
      }
    },
    async releaseLock(runId) {
      await must('release the lock', releaseLockScript(runId));
    },
    async readJournal() {
      return parseJournal(await must('read the journal', readJournalScript()));
    },
    async readLock() {
      try {
        return JSON.parse(await must('read the lock', readLockScript())) as LockOwner;
      } catch {
        return undefined;
      }
    },
    async writeJournal(journal) {
      await must('write the journal', writeJournalScript(), JSON.stringify(journal, null, 1));
    },
    close: () => conn.close(),
  };
}
