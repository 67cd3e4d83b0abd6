import { shq } from '../shell';

/**
 * What berth keeps on each host under /var/lib/berth (root only): the lock
 * that keeps two installs from interleaving, and the journal of what each
 * phase applied and when.
 */

export const STATE_DIR = '/var/lib/berth';
export const LOCK_DIR = `${STATE_DIR}/lock`;
export const JOURNAL = `${STATE_DIR}/state.json`;
const JOURNAL_KEEP = 200;

export interface LockOwner {
  /** user@machine of the installer. */
  owner: string;
  /** The installer machine's hostname and the process id there, to recognise a dead holder. */
  machine: string;
  pid: number;
  runId: string;
  started: string;
  /** Refreshed as the run goes on; an old heartbeat marks a stale lock. */
  heartbeat: string;
}

/**
 * mkdir is atomic: whoever creates the directory holds the lock. Prints
 * ACQUIRED, or HELD and the holder. `replace` first removes the lock of a
 * holder berth found gone (only while that run still holds it: compared
 * under flock, so that two reruns taking it over at once cannot both win).
 */
export function acquireLockScript(force: boolean, replace?: string): string {
  return [
    `install -d -m 0700 ${STATE_DIR}`,
    ...(force ? [`rm -rf -- ${shq(LOCK_DIR)}`] : []),
    `exec 9> ${shq(`${STATE_DIR}/lock.guard`)}`,
    'flock 9',
    ...(replace ? [`if grep -q ${shq(`"runId":"${replace}"`)} ${shq(`${LOCK_DIR}/owner.json`)} 2>/dev/null; then rm -rf -- ${shq(LOCK_DIR)}; fi`] : []),
    `if mkdir -m 0700 ${shq(LOCK_DIR)} 2>/dev/null; then cat > ${shq(`${LOCK_DIR}/owner.json`)}; echo ACQUIRED; else cat >/dev/null; echo HELD; cat ${shq(`${LOCK_DIR}/owner.json`)} 2>/dev/null || true; fi`,
  ].join('\n');
}

/** Rewrite the owner file (heartbeat) only if the lock is still ours. */
export function refreshLockScript(runId: string): string {
  return `if grep -q ${shq(`"runId":"${runId}"`)} ${shq(`${LOCK_DIR}/owner.json`)} 2>/dev/null; then cat > ${shq(`${LOCK_DIR}/owner.json.new`)} && mv ${shq(`${LOCK_DIR}/owner.json.new`)} ${shq(`${LOCK_DIR}/owner.json`)}; else cat >/dev/null; echo LOST; fi`;
}

export function readLockScript(): string {
  return `cat ${shq(`${LOCK_DIR}/owner.json`)} 2>/dev/null || true`;
}

export function releaseLockScript(runId: string): string {
  return `if grep -q ${shq(`"runId":"${runId}"`)} ${shq(`${LOCK_DIR}/owner.json`)} 2>/dev/null; then rm -rf -- ${shq(LOCK_DIR)}; fi`;
}

/** Is a process of this machine still running? (EPERM: it runs, under another user.) */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * live: leave it alone. gone: its holder ran on this machine and that process
 * no longer exists (killed, crashed): a rerun takes it over by itself. stale:
 * not heard of for 15 minutes, or unreadable: berth cannot tell, the user
 * decides (--force-unlock).
 */
export type LockVerdict = { state: 'live' } | { state: 'gone' | 'stale'; why: string };

export function judgeLock(holder: LockOwner, here: { machine: string; pidAlive: (pid: number) => boolean; now: Date }): LockVerdict {
  if (holder.machine === here.machine && !here.pidAlive(holder.pid)) {
    return { state: 'gone', why: `process ${holder.pid} on ${holder.machine} that took it no longer runs` };
  }
  const quietMs = here.now.getTime() - new Date(holder.heartbeat).getTime();
  if (quietMs > 15 * 60 * 1000) return { state: 'stale', why: `its holder has not been heard of for ${Math.round(quietMs / 60000)} minutes` };
  return { state: 'live' };
}

export interface JournalEntry {
  phase: string;
  at: string;
  runId: string;
  berth: string;
  actions: string[];
}

export interface Journal {
  entries: JournalEntry[];
}

export function readJournalScript(): string {
  return `cat ${shq(JOURNAL)} 2>/dev/null || echo '{"entries":[]}'`;
}

export function parseJournal(text: string): Journal {
  try {
    const parsed = JSON.parse(text) as Journal;
    return Array.isArray(parsed.entries) ? parsed : { entries: [] };
  } catch {
    return { entries: [] };
  }
}

export function appendToJournal(journal: Journal, entry: JournalEntry): Journal {
  return { entries: [...journal.entries, entry].slice(-JOURNAL_KEEP) };
}

/** The new journal arrives on stdin and replaces the old one atomically. */
export function writeJournalScript(): string {
  return `install -d -m 0700 ${STATE_DIR}\numask 077\ncat > ${shq(`${JOURNAL}.new`)}\nmv ${shq(`${JOURNAL}.new`)} ${shq(JOURNAL)}`;
}
