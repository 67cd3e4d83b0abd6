import { Listr, ListrLogger, PRESET_TIMER, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import chalk from 'chalk';
import { createTwoFilesPatch } from 'diff';
import type { Reporter, RunEvent, SummaryRow } from './events';
import { describeAction, type Action, type FileFact } from './plan';
import { redact } from './redact';
import { shellCommand } from '../shell';

/**
 * Reporters: a live task list on a terminal (listr2), timestamped lines
 * elsewhere, JSON lines for CI. All text goes through `redact`.
 */

type Stream = NodeJS.WritableStream & { isTTY?: boolean };

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function summaryTable(rows: readonly SummaryRow[], color: chalk.Chalk): string {
  const header = ['host', 'phase', 'status', 'changed', 'time'];
  const body = rows.map((r) => [r.host, r.phase, r.status, String(r.changed), seconds(r.durationMs)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const paint = (status: string, text: string) =>
    status === 'failed' ? color.red(text) : status === 'changed' || status === 'planned' ? color.yellow(text) : status === 'skipped' ? color.dim(text) : color.green(text);
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [color.bold(line(header)), ...body.map((b) => paint(b[2], line(b)))].join('\n');
}

function totals(rows: readonly SummaryRow[]): string {
  const changed = rows.reduce((n, r) => n + r.changed, 0);
  const failed = rows.filter((r) => r.status === 'failed').length;
  return `${changed} changed${failed ? `, ${failed} failed` : ''}`;
}

/**
 * What an install is about to do, short enough to read before saying yes:
 * each host with its roles and, under it, the phases that would change it and
 * how many actions each (the diffs are `berth plan`'s).
 */
export function changeSummary(hosts: readonly { name: string; address: string; roles?: readonly string[] }[], rows: readonly SummaryRow[], answersFile: string, width = 100): string {
  const labels = hosts.map((h) => `${h.name} (${h.address})`);
  const labelWidth = Math.max(...labels.map((l) => l.length));
  const lines = ['', 'Summary of the install:'];
  for (const [i, host] of hosts.entries()) {
    lines.push(`  ${labels[i].padEnd(labelWidth)}  ${(host.roles ?? []).join(', ')}`);
    const items = rows.filter((r) => r.host === host.name && r.changed > 0).map((r) => `${r.phase} (${r.changed})`);
    if (items.length === 0) lines.push('    up to date');
    let line = '';
    for (const item of items) {
      if (line && line.length + item.length + 2 > width - 4) {
        lines.push(`    ${line},`);
        line = item;
      } else {
        line = line ? `${line}, ${item}` : item;
      }
    }
    if (line) lines.push(`    ${line}`);
  }
  const total = rows.reduce((n, r) => n + r.changed, 0);
  lines.push(
    '',
    total === 0
      ? 'Every host is up to date: nothing to change.'
      : `${total} change${total === 1 ? '' : 's'} in all (phase (actions)); \`${shellCommand(['berth', 'plan', '--answers', answersFile])}\` shows each with its diff.`,
  );
  return redact(lines.join('\n'));
}

/** The last line of a plan: complete only when every step of every host was planned. */
export function planVerdict(event: Extract<RunEvent, { type: 'run-done' }>): string {
  const pending = event.summary.reduce((n, r) => n + r.changed, 0);
  const changes = `${pending} change${pending === 1 ? '' : 's'}`;
  if (!event.ok) {
    const failed = [...new Set(event.summary.filter((r) => r.status === 'failed').map((r) => r.host))];
    const why = failed.length > 0 ? `${failed.join(', ')} could not be planned` : 'the run stopped before the end';
    return `Plan incomplete: ${why}; ${changes} found on the way; nothing was changed.`;
  }
  return pending === 0 ? 'Plan: every host is up to date (0 to change).' : `Plan: ${changes} would be made; nothing was changed.`;
}

function closing(event: Extract<RunEvent, { type: 'run-done' }>, color: chalk.Chalk, mode: 'apply' | 'plan'): string {
  const lines = ['', summaryTable(event.summary, color), ''];
  if (mode === 'plan') {
    lines.push(planVerdict(event));
  } else {
    lines.push(event.ok ? color.green(`Done: ${totals(event.summary)}.`) : color.red(`Failed: ${totals(event.summary)}.`));
  }
  if (event.logFile) lines.push(`Full log: ${event.logFile}`);
  return lines.join('\n');
}

function failureLines(event: Extract<RunEvent, { type: 'step-failed' }>): string[] {
  return [`${event.host}: ${event.phase} failed: ${event.error}`, ...(event.hint ? [`  what to do: ${event.hint}`] : [])];
}

/** Timestamped lines, for logs and pipes. */
export function plainReporter(stream: Stream, color: chalk.Chalk): Reporter {
  let mode: 'apply' | 'plan' = 'apply';
  const say = (text: string) => stream.write(`${redact(text)}\n`);
  const stamp = () => new Date().toISOString().slice(11, 19);
  return {
    handle(event) {
      switch (event.type) {
        case 'run-start':
          mode = event.mode;
          say(`${stamp()} ${event.mode === 'plan' ? 'planning' : 'installing'} on ${event.hosts.join(', ')}`);
          break;
        case 'connected':
          say(`${stamp()} ${event.host}: connected to ${event.address} as ${event.user}`);
          break;
        case 'lock-taken-over':
          say(`${stamp()} ${event.host}: took over the lock of a berth run that is gone: ${event.holder} (${event.why})`);
          break;
        case 'phase-start':
          say(`${stamp()} ${event.title}: ${event.hosts.join(', ')}`);
          break;
        case 'action':
          say(`${stamp()} ${event.host}: ${event.phase}: ${event.description}`);
          break;
        case 'step-done':
          say(`${stamp()} ${event.host}: ${event.phase}: ${event.changed === 0 ? 'up to date' : `${event.changed} ${mode === 'plan' ? 'to change' : 'changed'}`} (${seconds(event.durationMs)})`);
          break;
        case 'step-failed':
          for (const l of failureLines(event)) say(`${stamp()} ${l}`);
          break;
        case 'step-skipped':
          say(`${stamp()} ${event.host}: ${event.phase}: skipped (${event.reason})`);
          break;
        case 'run-done':
          say(closing(event, color, mode));
          break;
        default:
          break;
      }
    },
    close: async () => undefined,
  };
}

/** One JSON object per line: the events themselves. */
export function jsonReporter(stream: Stream): Reporter {
  return {
    handle(event) {
      const payload = event.type === 'step-done' ? { ...event, actions: event.actions.map(describeAction) } : event;
      stream.write(`${redact(JSON.stringify({ time: new Date().toISOString(), ...payload }))}\n`);
    },
    close: async () => undefined,
  };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
  wrapper?: ListrTaskWrapper<unknown, never, never>;
  /** The title the task ends with (the step may end before listr2 started drawing it). */
  title?: string;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * The live task list: a task per phase, a subtask per host. The list starts
 * at the first phase, so prompts while connecting (host keys, passphrases)
 * are not drawn over.
 */
export function taskListReporter(stream: Stream, color: chalk.Chalk): Reporter {
  const plain = plainReporter(stream, color);
  let mode: 'apply' | 'plan' = 'apply';
  let phases: string[] = [];
  const phaseStarted = new Map<string, Deferred & { hosts: string[]; title: string }>();
  const steps = new Map<string, Deferred>();
  let running: Promise<unknown> | undefined;
  let done: Extract<RunEvent, { type: 'run-done' }> | undefined;
  const failures: Extract<RunEvent, { type: 'step-failed' }>[] = [];
  const key = (phase: string, host: string) => `${phase}/${host}`;

  const drawing = {
    collapseSubtasks: false,
    timer: PRESET_TIMER,
    logger: new ListrLogger({ useIcons: true, processOutput: new ProcessOutput(stream as NodeJS.WriteStream, stream as NodeJS.WriteStream) }),
  };
  const start = () => {
    const list = new Listr(
      phases.map((phase) => ({
        title: phase,
        task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, never, never>) => {
          const started = phaseStarted.get(phase)!;
          await started.promise;
          if (started.hosts.length === 0) {
            task.skip(`${phase}: nothing to do`);
            return;
          }
          task.title = started.title;
          return task.newListr(
            started.hosts.map((host) => ({
              title: host,
              task: async (_c: unknown, sub: ListrTaskWrapper<unknown, never, never>) => {
                const step = steps.get(key(phase, host))!;
                step.wrapper = sub;
                try {
                  await step.promise;
                } finally {
                  if (step.title) sub.title = step.title;
                }
              },
            })),
            { concurrent: true, exitOnError: false },
          );
        },
      })),
      {
        concurrent: false,
        exitOnError: false,
        registerSignalListeners: false,
        // Drawn on the terminal given (stderr: stdout stays for results), whatever stdout is: listr2 would fall
        // back to its line renderer when stdout is not a terminal, so the fallback is the same renderer.
        renderer: 'default',
        fallbackRenderer: 'default',
        rendererOptions: drawing,
        fallbackRendererOptions: drawing,
      } as never,
    );
    running = list.run().catch(() => undefined);
  };

  return {
    handle(event) {
      switch (event.type) {
        case 'run-start':
          mode = event.mode;
          phases = event.phases;
          for (const p of phases) phaseStarted.set(p, Object.assign(deferred(), { hosts: [] as string[], title: p }));
          plain.handle(event);
          break;
        case 'connected':
        case 'lock-taken-over':
          plain.handle(event);
          break;
        case 'phase-start': {
          if (!running) start();
          const started = phaseStarted.get(event.phase)!;
          started.hosts = event.hosts;
          started.title = event.title;
          for (const h of event.hosts) steps.set(key(event.phase, h), deferred());
          started.resolve();
          break;
        }
        case 'action': {
          const w = steps.get(key(event.phase, event.host))?.wrapper;
          if (w) w.output = redact(event.description);
          break;
        }
        case 'step-done': {
          const step = steps.get(key(event.phase, event.host));
          if (step) {
            step.title = `${event.host}: ${event.changed === 0 ? 'up to date' : `${event.changed} ${mode === 'plan' ? 'to change' : 'changed'}`}`;
            step.resolve();
          }
          break;
        }
        case 'step-failed': {
          failures.push(event);
          const step = steps.get(key(event.phase, event.host));
          if (step) step.title = `${event.host}: failed`;
          step?.reject(new Error(redact(event.error.split('\n')[0])));
          break;
        }
        case 'step-skipped':
          break;
        case 'run-done':
          done = event;
          // Phases that never started (skipped after a failure) end now.
          for (const started of phaseStarted.values()) started.resolve();
          break;
      }
    },
    async close() {
      await running;
      for (const f of failures) for (const l of failureLines(f)) stream.write(`${redact(l)}\n`);
      if (done) stream.write(`${redact(closing(done, color, mode))}\n`);
    },
  };
}

/** A plan as text: per host and phase, each action, with a unified diff for each file. */
export function renderPlan(plans: readonly { phase: string; host: string; actions: Action[]; files: Record<string, FileFact | null>; reads?: string }[], color: chalk.Chalk): string {
  const out: string[] = [];
  const renderActions = (actions: readonly Action[], files: Record<string, FileFact | null>, indent: string) => {
    for (const a of actions) {
      out.push(`${indent}${color.yellow('~')} ${describeAction(a)}`);
      const planned = a.kind === 'file' ? a.content : a.kind === 'copy' ? a.expected : undefined;
      if (planned !== undefined && (a.kind === 'file' || a.kind === 'copy')) {
        const before = files[a.path]?.content ?? '';
        if (a.kind === 'file' && a.sensitive) out.push(`${indent}    (content holds a secret: not shown)`);
        else if (before !== planned) {
          const patch = createTwoFilesPatch(a.path, a.path, before, planned, files[a.path] ? 'on host' : 'absent', 'planned', { context: 2 })
            .split('\n')
            .slice(2)
            .filter((l) => l !== '')
            .map((l) => `${indent}    ${l.startsWith('+') ? color.green(l) : l.startsWith('-') ? color.red(l) : l}`);
          out.push(...patch);
        }
      }
      if (a.kind === 'guarded') renderActions(a.actions, files, `${indent}    `);
    }
  };
  for (const p of plans) {
    if (p.actions.length === 0) {
      out.push(`${color.bold(`${p.host} · ${p.phase}`)}: ${color.green('up to date')}`);
      continue;
    }
    out.push(color.bold(`${p.host} · ${p.phase}:`));
    if (p.reads) out.push(`  (uses ${p.reads})`);
    renderActions(p.actions, p.files, '  ');
  }
  return redact(out.join('\n'));
}
