import { readFileSync } from 'node:fs';

/** Linux reports CPU times in /proc in clock ticks of 1/100 s (USER_HZ). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) that the finished, waited-for children of a
 * process used: cutime + cstime in /proc/PID/stat.
 */
export function childrenCpuSeconds(pid: number | 'self' = 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the parenthesised command name (which may hold spaces and parentheses); cutime and cstime are fields 16 and 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

/** The pids of a process's children that are still running or not yet waited for. */
export function childPids(pid: number | 'self' = 'self'): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid === 'self' ? process.pid : pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Waits (up to `timeoutMs`) until `pid` has no children left, so that their CPU time shows in childrenCpuSeconds. */
export async function childrenGone(pid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (childPids(pid).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}
