import { logLines, type RunLog } from './log';
import { backupUnlessRevertPending, cancelRevertScript, installPackagesScript, removeFileScript, revertStateScript, scheduleRevertScript, serviceScript } from './commands';
import type { InstallerProbe } from './installer';
import { describeAction, type Action, type FileFact } from './plan';
import type { ExecOptions, HostConnection, UploadEntry } from './transport';

/** An action that failed on a host: where, what, how, and the end of what it printed. */
export class ActionFailedError extends Error {
  constructor(
    readonly host: string,
    readonly phase: string,
    readonly action: string,
    readonly exitCode: number | undefined,
    readonly stderrTail: string,
    readonly hint?: string,
  ) {
    super(`${host}: ${phase}: "${action}" failed${exitCode === undefined ? '' : ` with exit code ${exitCode}`}${stderrTail ? `:\n${stderrTail}` : ''}`);
    this.name = 'ActionFailedError';
  }
}

export interface ExecutorDeps {
  conn: HostConnection;
  phase: string;
  log: RunLog;
  /** Opens a brand-new connection to the same host (as this connection's user unless `user` is given): the proof that a guarded change did not lock us out. */
  connectFresh(port?: number, user?: string): Promise<HostConnection>;
  /** Seconds before a guarded change reverts itself. */
  revertAfterSeconds: number;
  sleep(ms: number): Promise<void>;
  onAction?(description: string): void;
  /** A file as another host of the cluster has it now, for `copy` actions. */
  readPeerFile(host: string, path: string): Promise<FileFact | null>;
  /** Makes requests from the installer machine, for `installer-check` actions. */
  probeFromInstaller: InstallerProbe;
}

const TAIL_LINES = 12;

function tail(text: string): string {
  return text.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
}

async function run(deps: ExecutorDeps, description: string, script: string, options: ExecOptions = {}, hint?: string): Promise<string> {
  const { conn, log } = deps;
  log.write(conn.name, `$ ${script.split('\n').join('\n> ')}`);
  const stdout = logLines(log, conn.name);
  const stderr = logLines(log, conn.name);
  let result;
  try {
    result = await conn.exec(script, { ...options, onStdout: stdout.write, onStderr: stderr.write });
  } finally {
    stdout.flush();
    stderr.flush();
  }
  if (result.code !== 0) throw new ActionFailedError(conn.name, deps.phase, description, result.code, tail(result.stderr || result.stdout), hint);
  return result.stdout;
}

function uploadEntry(action: Extract<Action, { kind: 'file' }>): UploadEntry {
  return { path: action.path, content: action.content, mode: action.mode, owner: action.owner, group: action.group, validate: action.validate };
}

async function runGuarded(deps: ExecutorDeps, action: Extract<Action, { kind: 'guarded' }>): Promise<void> {
  const { conn, phase } = deps;
  await run(deps, `${action.title}: save the current state`, backupUnlessRevertPending(phase, action.backup));
  await run(deps, `${action.title}: schedule the automatic revert`, scheduleRevertScript(phase, action.revert, deps.revertAfterSeconds));
  const started = Date.now();
  try {
    await executeActions(deps, action.actions);
  } catch (err) {
    // The change did not even apply cleanly: restore the previous state now rather than in a minute.
    await run(deps, `${action.title}: restore the previous state`, `${action.revert}\n${cancelRevertScript(phase)}`).catch(() => undefined);
    throw err;
  }
  let proof: HostConnection | undefined;
  try {
    proof = await proveLogin(deps, action.proofPort, action.proofUser);
    // Retried logins can outlast the revert: one that got through only after it ran proves nothing about the change.
    if ((await proof.exec(revertStateScript(phase))).stdout.trim() === 'done') throw new Error('it only got through after the automatic revert had run');
  } catch (err) {
    await proof?.close().catch(() => undefined);
    deps.log.write(conn.name, `new connection after "${action.title}" failed: ${(err as Error).message}; waiting for the automatic revert`);
    const wait = Math.max(0, deps.revertAfterSeconds * 1000 - (Date.now() - started)) + 5000;
    await deps.sleep(wait);
    let reverted = false;
    try {
      // As this connection's user: once reverted, its login is what works again (the proof user's may never have).
      const again = await deps.connectFresh(action.proofPort);
      reverted = (await again.exec(revertStateScript(phase))).stdout.trim() === 'done';
      await again.close();
    } catch {
      reverted = false;
    }
    throw new ActionFailedError(
      conn.name,
      phase,
      action.title,
      undefined,
      `a new SSH connection failed after the change (${(err as Error).message}), so it would have locked you out: ${action.risk}`,
      reverted
        ? 'The previous state was restored automatically and the host is reachable again. Fix the answers and run again.'
        : `The automatic revert was scheduled for ${deps.revertAfterSeconds}s after the change, but the host did not answer afterwards; check it from its console.`,
    );
  }
  // Over the proven connection: the change may have made the old one's way to root stale (a sudo rule that now asks for a password).
  let confirmed: string;
  try {
    confirmed = (await run({ ...deps, conn: proof }, `${action.title}: confirm`, cancelRevertScript(phase))).trim();
  } finally {
    await proof.close();
  }
  if (confirmed !== 'confirmed') {
    throw new ActionFailedError(
      conn.name,
      phase,
      action.title,
      undefined,
      `the automatic revert ran (${deps.revertAfterSeconds}s after the change) before berth could confirm the change, so the host is back in its previous state`,
      'Nothing is wrong with the change itself as far as berth knows: run again.',
    );
  }
}

const PROOF_ATTEMPTS = 3;
const PROOF_PAUSE_MS = 3000;

/**
 * A brand-new connection that runs a command as root (through sudo for a
 * user other than root, so it proves sudo too). A service that was just
 * reloaded may drop a connection it accepted at that very moment, so a
 * failure is retried a few times; a real lockout fails every time.
 */
async function proveLogin(deps: ExecutorDeps, port: number | undefined, user: string | undefined): Promise<HostConnection> {
  for (let attempt = 1; ; attempt++) {
    let conn: HostConnection | undefined;
    try {
      conn = await deps.connectFresh(port, user);
      const check = await conn.exec('true');
      if (check.code !== 0) throw new Error(`a command over the new connection failed (exit ${check.code})`);
      return conn;
    } catch (err) {
      await conn?.close().catch(() => undefined);
      if (attempt >= PROOF_ATTEMPTS) throw err;
      deps.log.write(deps.conn.name, `new connection attempt ${attempt} failed: ${(err as Error).message}; trying again`);
      await deps.sleep(PROOF_PAUSE_MS);
    }
  }
}

const PROGRESS_STEPS = 10;

async function uploadLarge(deps: ExecutorDeps, action: Extract<Action, { kind: 'upload' }>): Promise<void> {
  const { conn } = deps;
  const description = describeAction(action);
  let reported = 0;
  const onProgress = (sent: number, total: number) => {
    const step = total === 0 ? PROGRESS_STEPS : Math.floor((sent / total) * PROGRESS_STEPS);
    if (step > reported && step < PROGRESS_STEPS) {
      reported = step;
      deps.onAction?.(`${description}: ${step * (100 / PROGRESS_STEPS)}%`);
    }
  };
  deps.log.write(conn.name, `upload ${action.localPath} to ${action.remotePath}`);
  let sha256: string;
  try {
    ({ sha256 } = await conn.uploadLarge({ localPath: action.localPath, remotePath: action.remotePath, mode: action.mode, onProgress }));
  } catch (err) {
    throw new ActionFailedError(conn.name, deps.phase, description, undefined, (err as Error).message);
  }
  if (sha256 !== action.sha256) {
    throw new ActionFailedError(conn.name, deps.phase, description, undefined, `${action.localPath} changed after the plan was made (sha256 ${sha256.slice(0, 12)}, planned ${action.sha256.slice(0, 12)})`, 'Run again: the new plan uses the file as it is now.');
  }
}

async function copyFromPeer(deps: ExecutorDeps, action: Extract<Action, { kind: 'copy' }>): Promise<void> {
  const { conn } = deps;
  const description = describeAction(action);
  const source = await deps.readPeerFile(action.from.host, action.from.path);
  if (!source) throw new ActionFailedError(conn.name, deps.phase, description, undefined, `${action.from.host} has no ${action.from.path}`);
  deps.log.write(conn.name, `upload ${action.path} (from ${action.from.host}:${action.from.path})`);
  try {
    await conn.upload([{ path: action.path, content: source.content, mode: action.mode }]);
  } catch (err) {
    throw new ActionFailedError(conn.name, deps.phase, description, undefined, (err as Error).message);
  }
}

const CHECK_PAUSE_MS = 2000;

/** Asks again until the answer is the expected one: a service that just started may need a moment. */
async function installerCheck(deps: ExecutorDeps, action: Extract<Action, { kind: 'installer-check' }>): Promise<void> {
  const deadline = Date.now() + (action.timeoutMs ?? 60_000);
  for (;;) {
    const answer = await deps.probeFromInstaller(action.check);
    const seen = answer.seen ? ` from ${answer.seen.length === 0 ? 'none' : answer.seen.join(', ')}` : '';
    deps.log.write(deps.conn.name, `from this machine: ${action.check.url}: ${answer.status === 0 ? answer.error : `HTTP ${answer.status}${seen}`}`);
    if (answer.status === action.expectStatus && (answer.seen?.length ?? 0) >= (action.expectSeen ?? 0)) return;
    if (Date.now() >= deadline) {
      const got = answer.status === 0 ? `no answer (${answer.error})` : `HTTP ${answer.status}${seen}`;
      throw new ActionFailedError(deps.conn.name, deps.phase, describeAction(action), undefined, `${action.check.url} answered ${got}, not HTTP ${action.expectStatus}${action.expectSeen ? ` from ${action.expectSeen} different ${action.check.sample?.header}` : ''}`, 'Check that this machine may reach the host (firewall.adminCidrs) and the service runs there; then run again.');
    }
    await deps.sleep(CHECK_PAUSE_MS);
  }
}

/** Run a plan's actions in order on one host. Consecutive file writes go up in one upload. */
export async function executeActions(deps: ExecutorDeps, actions: readonly Action[]): Promise<void> {
  const { conn } = deps;
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i];
    if (action.kind === 'file') {
      const batch: Extract<Action, { kind: 'file' }>[] = [];
      while (i < actions.length && actions[i].kind === 'file') batch.push(actions[i++] as Extract<Action, { kind: 'file' }>);
      i--;
      for (const f of batch) deps.onAction?.(describeAction(f));
      deps.log.write(conn.name, `upload ${batch.map((f) => f.path).join(', ')}`);
      try {
        await conn.upload(batch.map(uploadEntry));
      } catch (err) {
        throw new ActionFailedError(conn.name, deps.phase, `write ${batch.map((f) => f.path).join(', ')}`, undefined, (err as Error).message);
      }
      continue;
    }
    const description = describeAction(action);
    deps.onAction?.(description);
    switch (action.kind) {
      case 'remove':
        await run(deps, description, removeFileScript(action.path));
        break;
      case 'packages':
        await run(deps, description, installPackagesScript(action.install), { timeoutMs: 30 * 60 * 1000 });
        break;
      case 'service':
        await run(deps, description, serviceScript(action.unit, action.op));
        break;
      case 'run':
        await run(deps, description, action.script, { stdin: action.stdin?.reveal(), timeoutMs: action.timeoutMs }, action.hint);
        break;
      case 'upload':
        await uploadLarge(deps, action);
        break;
      case 'copy':
        await copyFromPeer(deps, action);
        break;
      case 'installer-check':
        await installerCheck(deps, action);
        break;
      case 'guarded':
        await runGuarded(deps, action);
        break;
    }
  }
}
