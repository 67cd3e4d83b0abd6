import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { redact } from './redact';

/**
 * The full log of a run: every command sent and everything it printed,
 * prefixed by host, redacted, in a file only the user can read.
 */
export interface RunLog {
  readonly path?: string;
  write(host: string, text: string): void;
  close(): void;
}

export function defaultLogPath(cwd: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  return join(cwd, 'berth-logs', `berth-${stamp}.log`);
}

export function openRunLog(path: string): RunLog {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'a', 0o600);
  // The mode above applies only to a new file: a log appended to must become private too.
  if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
  return {
    path,
    write(host, text) {
      const stamp = new Date().toISOString();
      const lines = redact(text).replace(/\n$/, '').split('\n');
      writeSync(fd, lines.map((l) => `${stamp} [${host}] ${l}\n`).join(''));
    },
    close() {
      closeSync(fd);
    },
  };
}

/**
 * A command's output as it streams in, written to the log in whole lines:
 * redaction works on each write, and a secret split across two chunks of
 * output would otherwise escape it. `flush` writes what is left.
 */
export function logLines(log: RunLog, host: string): { write(chunk: string): void; flush(): void } {
  let pending = '';
  return {
    write(chunk) {
      pending += chunk;
      const end = pending.lastIndexOf('\n');
      if (end < 0) return;
      log.write(host, pending.slice(0, end + 1));
      pending = pending.slice(end + 1);
    },
    flush() {
      if (pending) log.write(host, pending);
      pending = '';
    },
  };
}

/** For unit tests and commands that keep no log. */
export function memoryLog(): RunLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    write(host, text) {
      for (const l of redact(text).replace(/\n$/, '').split('\n')) lines.push(`[${host}] ${l}`);
    },
    close() {},
  };
}
