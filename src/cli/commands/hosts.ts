import { randomUUID } from 'node:crypto';
import { hostname, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { resolveUserPath, type LoadedAnswers } from '../../answers/load';
import { publicKeyLine } from '../../ssh/public-key';
import { pinHostKeys } from '../../answers/save';
import { Secret } from '../../answers/secret';
import type { Reporter } from '../../engine/events';
import { defaultLogPath, openRunLog, type RunLog } from '../../engine/log';
import { jsonReporter, plainReporter, renderPlan, taskListReporter } from '../../engine/output';
import { runPhases, type RunResult } from '../../engine/run';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { HostAnswers } from '../../answers/schema';
import { HostStateError, type HostAgent } from '../../engine/agent';
import { HostProblem, pushedTag, type LocalFacts, type Phase, type ReleaseRequest } from '../../engine/phase';
import { SshError } from '../../engine/transport';
import { shellCommand } from '../../shell';
import { BadInputError, RunFailedError } from '../../errors';
import { PHASES } from '../../phases';
import { JUMP_HOST, sshConnector, type SshConnector } from '../../ssh/connector';
import type { InteractiveChoices } from '../../ssh/settings';
import { askRunSecret, confirmHostKey, WizardCancelled } from '../../wizard';
import { outputMode, type CommandContext } from '../command';

/**
 * Prompts for what a run may need while connecting. --yes asks nothing (what
 * is missing is an error); only --accept-new-host-keys trusts a host's first key
 * unasked.
 */
export function interactiveChoices(ctx: CommandContext): InteractiveChoices {
  const yes = Boolean(ctx.values.yes);
  const acceptNew = Boolean(ctx.values['accept-new-host-keys']);
  const interactive = Boolean(ctx.stdin.isTTY) && !yes;
  const io = { stdin: ctx.stdin, stdout: ctx.stderr };
  // Ctrl-C in a question answers it with nothing: the connection then fails saying what was missing.
  const unlessCancelled = <T>(asked: Promise<T>, cancelled: T): Promise<T> =>
    asked.catch((err: unknown) => {
      if (err instanceof WizardCancelled) return cancelled;
      throw err;
    });
  const ask = async (message: string) => {
    const value = await unlessCancelled<string | undefined>(askRunSecret(io, message), undefined);
    return value === undefined ? undefined : new Secret(value, 'prompt');
  };
  return {
    env: ctx.env,
    onNewHostKey: acceptNew
      ? async (q, fp) => {
          ctx.print.info(`Trusting the new host key of ${q.name} (${q.address}): ${fp}`);
          return true;
        }
      : interactive
        ? (q, fp) => unlessCancelled(confirmHostKey(io, q.name, q.address, fp), false)
        : undefined,
    askPassphrase: interactive ? (path) => ask(`Passphrase of ${path}`) : undefined,
    askSudoPassword: interactive ? (host, user) => ask(`sudo password of ${user} on ${host.name}`) : undefined,
  };
}

export function connectorFor(ctx: CommandContext, loaded: LoadedAnswers): SshConnector {
  return sshConnector(loaded.answers, dirname(resolve(loaded.file)), interactiveChoices(ctx));
}

function reporterFor(ctx: CommandContext): Reporter {
  const output = outputMode(ctx.values);
  if (output === 'json') return jsonReporter(ctx.stdout);
  // A terminal of no width (a pseudo-terminal nobody sized) cannot hold a live display.
  const width = (ctx.stderr as { columns?: number }).columns ?? 0;
  if (output === 'auto' && ctx.stderr.isTTY && width > 0 && ctx.env.TERM !== 'dumb') return taskListReporter(ctx.stderr, ctx.print.color);
  return plainReporter(ctx.stderr, ctx.print.color);
}

/** What phases need from this machine: the admin user's public keys. */
export function localFacts(loaded: LoadedAnswers): LocalFacts {
  const { admin, ssh } = loaded.answers;
  if (admin.authorizedKeys.length > 0) return { adminKeys: admin.authorizedKeys };
  const derived = ssh.privateKey ? publicKeyLine(resolveUserPath(ssh.privateKey, dirname(resolve(loaded.file))), ssh.passphrase) : null;
  if (!derived) {
    throw new BadInputError(
      'admin.authorizedKeys is empty and berth cannot derive a public key from ssh.privateKey',
      [],
      'List the public keys that may log in as the admin user in admin.authorizedKeys (or put the .pub file beside the private key); without them berth would lock you out.',
    );
  }
  return { adminKeys: [derived] };
}

/**
 * This machine for the lock: a pid means something only on the machine that
 * holds it, and two machines (containers, CI runners) may share a hostname,
 * so the machine-id goes with it. Without one, a run is never taken for this
 * machine's: its lock is judged by its heartbeat only.
 */
function thisMachine(): string {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (id) return `${hostname()} (machine-id ${id.slice(0, 12)})`;
    } catch {
      // try the next one
    }
  }
  return `${hostname()} (run ${randomUUID()})`;
}

/**
 * Archives the app's build context (the bundled demo app or app.path) in a
 * temporary directory for the run, and removes it afterwards: the installer
 * machine keeps nothing. A prebuilt image (app.source: image) needs none.
 */
async function withAppContext<T>(loaded: LoadedAnswers, local: LocalFacts, run: (local: LocalFacts) => Promise<T>): Promise<T> {
  const { app } = loaded.answers;
  // A rollback builds nothing either, nor a deploy of a pushed tag: their images are in the registry.
  if (app.source === 'image' || local.release?.kind === 'rollback' || pushedTag(local) !== undefined) return run(local);
  const { buildContext, demoAppContext } = require('../../app/context') as typeof import('../../app/context');
  const tmp = mkdtempSync(join(tmpdir(), 'berth-context-'));
  try {
    const localPath = join(tmp, 'context.tar');
    const archive = app.source === 'path' ? await buildContext(resolveUserPath(app.path!, dirname(resolve(loaded.file))), localPath) : await demoAppContext(tmp, localPath);
    return await run({ ...local, appContext: { localPath, sha256: archive.sha256, size: archive.size } });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Failures of a host rather than of berth: reported with the host's name, not as an internal error. */
function isHostFailure(err: unknown): err is Error & { hint?: string } {
  return err instanceof SshError || err instanceof HostStateError || err instanceof HostProblem || err instanceof RunFailedError;
}

/** What inspecting one host found: lines for the screen, and the same as data for --output json. */
export interface HostReport {
  ok: boolean;
  lines: string[];
  data: Record<string, unknown>;
}

export interface InspectOptions {
  /** Default: SSH to the hosts of the answers. */
  connector?: SshConnector;
  /** How often the hosts still connecting are named (default 5 s). */
  slowEveryMs?: number;
}

type Settled = { report: HostReport } | { error: unknown };

/**
 * Connect to all hosts at once and run `inspect` on each (status, doctor),
 * then pin the host keys accepted on the way. While they connect, the hosts
 * still awaited are named every few seconds; the results come in the order
 * of the answers, each as soon as it and the ones before it are in. A host
 * that cannot be reached or read is reported and the others are still
 * inspected. Returns the names of the hosts that could not be reached or
 * that `inspect` found wanting.
 */
export async function inspectHosts(
  ctx: CommandContext,
  loaded: LoadedAnswers,
  inspect: (agent: HostAgent, host: HostAnswers) => Promise<HostReport>,
  options: InspectOptions = {},
): Promise<string[]> {
  const json = outputMode(ctx.values) === 'json';
  const connector = options.connector ?? connectorFor(ctx, loaded);
  const hosts = loaded.answers.hosts;
  const label = (host: HostAnswers) => `${host.name} (${host.address})`;
  const waiting = new Set(hosts);
  const started = Date.now();
  ctx.print.info(`Connecting to ${hosts.map(label).join(', ')}…`);
  const slow = setInterval(() => {
    if (waiting.size > 0) ctx.print.info(`still waiting for ${[...waiting].map(label).join(', ')} (${Math.round((Date.now() - started) / 1000)} s)`);
  }, options.slowEveryMs ?? 5000);

  const one = async (host: HostAnswers): Promise<Settled> => {
    try {
      const agent = await connector.connect(host);
      try {
        return { report: await inspect(agent, host) };
      } finally {
        await agent.close();
      }
    } catch (err) {
      if (!isHostFailure(err)) return { error: err };
      return { report: { ok: false, lines: [], data: { host: host.name, address: host.address, ok: false, error: err.message, ...(err.hint ? { hint: err.hint } : {}) } } };
    } finally {
      waiting.delete(host);
    }
  };
  const settled = hosts.map(one);
  const failing: string[] = [];
  try {
    for (const [i, result] of settled.entries()) {
      const outcome = await result;
      if ('error' in outcome) throw outcome.error;
      const { report } = outcome;
      if (json) ctx.print.out(JSON.stringify(report.data));
      if (typeof report.data.error === 'string') {
        ctx.print.error(report.data.error);
        if (typeof report.data.hint === 'string') ctx.print.info(`  ${report.data.hint}`);
      } else if (!json) {
        for (const line of report.lines) ctx.print.out(line);
      }
      if (!report.ok) failing.push(hosts[i].name);
    }
  } finally {
    clearInterval(slow);
    await Promise.allSettled(settled);
    pinAcceptedKeys(ctx, loaded, connector);
  }
  return failing;
}

/**
 * Write the host keys accepted during the run into the answers file. When the
 * file cannot be written, say what to pin by hand: the run's own outcome stands.
 */
export function pinAcceptedKeys(ctx: CommandContext, loaded: LoadedAnswers, connector: SshConnector): void {
  if (connector.acceptedHostKeys.size === 0) return;
  try {
    const pinned = pinHostKeys(loaded.file, readFileSync(loaded.file, 'utf8'), connector.acceptedHostKeys, JUMP_HOST);
    if (pinned.length > 0) ctx.print.info(`Pinned the host keys of ${pinned.join(', ')} in ${loaded.file}.`);
  } catch (err) {
    ctx.print.warn(`could not pin the accepted host keys in ${loaded.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set them yourself:`);
    for (const [name, fp] of connector.acceptedHostKeys) ctx.print.info(`  ${name === JUMP_HOST ? 'ssh.jumpHost.hostKey' : `hosts[name=${name}].hostKey`}: ${fp}`);
  }
}

/**
 * Run the phases on the hosts (apply or plan) with the display, log, lock
 * owner and Ctrl-C handling a user expects: the first Ctrl-C stops after the
 * steps under way and releases the locks, a second one quits at once.
 */
export interface RunOnHostsOptions {
  /** A plan prints each action with its diff unless false (the summary before an install shows counts instead). */
  printPlan?: boolean;
  /** Default: a new one (for one run after another, pass the same so that nothing is asked twice). */
  connector?: SshConnector;
  /** Default: the whole install (PHASES). */
  phases?: readonly Phase[];
  /** A deploy or rollback (absent for install and plan). */
  release?: ReleaseRequest;
  /** The command a failure's advice names (default: berth install --answers FILE for apply, berth plan … for plan). */
  again?: readonly string[];
}

export async function runOnHosts(ctx: CommandContext, loaded: LoadedAnswers, mode: 'apply' | 'plan', options: RunOnHostsOptions = {}): Promise<RunResult> {
  const reporter = reporterFor(ctx);
  const local = localFacts(loaded);
  const connector = options.connector ?? connectorFor(ctx, loaded);
  const logPath = (ctx.values['log-file'] as string | undefined) ?? defaultLogPath(process.cwd());
  let log: RunLog;
  try {
    log = openRunLog(logPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new BadInputError(`cannot write the log file ${logPath} (${code})`, [], 'Run berth from a directory you can write to, or choose the log file with --log-file FILE.');
  }
  const abort = new AbortController();
  const onInterrupt = () => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
    ctx.print.warn('Stopping after the steps under way (Ctrl-C again to quit at once; the host locks then stay).');
  };
  process.on('SIGINT', onInterrupt);
  let result: RunResult;
  try {
    result = await withAppContext(loaded, options.release ? { ...local, release: options.release } : local, (withContext) => runPhases({
      answers: loaded.answers,
      phases: options.phases ?? PHASES,
      connector,
      mode,
      local: withContext,
      reporter,
      log,
      owner: { owner: `${userInfo().username}@${hostname()}`, machine: thisMachine(), pid: process.pid },
      forceUnlock: Boolean(ctx.values['force-unlock']),
      signal: abort.signal,
    }));
  } finally {
    process.off('SIGINT', onInterrupt);
    log.close();
    pinAcceptedKeys(ctx, loaded, connector);
  }
  if (mode === 'plan' && options.printPlan !== false && ctx.values.output !== 'json') ctx.print.out(renderPlan(result.plans, ctx.print.outColor));
  if (!result.ok) {
    const interrupted = abort.signal.aborted;
    throw new RunFailedError(interrupted ? 'the run was interrupted' : 'the run failed', [], runFailureHint(mode, options.again ?? ['berth', mode === 'plan' ? 'plan' : 'install', '--answers', loaded.file], interrupted));
  }
  return result;
}

/**
 * What to do after a failed or interrupted run, true for the run that failed:
 * a plan changed nothing and is only run again; an install continues where it
 * stopped, from the answers file (which, after the wizard, is the one just saved).
 */
export function runFailureHint(mode: 'apply' | 'plan', command: readonly string[], interrupted: boolean): string {
  const again = `\`${shellCommand(command)}\``;
  if (mode === 'plan') return `Nothing was changed. ${interrupted ? 'Run' : 'Fix what is reported above and run'} ${again} again.`;
  return interrupted ? `Run ${again} to continue where it stopped.` : `Fix what is reported above and run ${again}: it continues where it stopped.`;
}
