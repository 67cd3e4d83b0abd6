import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadAnswersFile } from '../../src/answers/load';
import { localFacts } from '../../src/cli/commands/hosts';
import { memoryLog } from '../../src/engine/log';
import type { Phase } from '../../src/engine/phase';
import { runPhases, type RunResult } from '../../src/engine/run';
import { sshConnector } from '../../src/ssh/connector';
import { e2eTopology, e2eWorkDir, type E2eTopology, type ExecResult } from './harness';

/**
 * The platform as `berth install` leaves it, shared by the e2e specs: the
 * topology comes up, both VMs are made pristine, and the built CLI installs
 * once. Specs then assert what is true on the hosts; the ones that disturb
 * them (reboots, interrupted runs, lockout drills) put things back.
 */

export const INSTALL_TIMEOUT_MS = 30 * 60_000;
export const WORK_DIR = e2eWorkDir('runs');
const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface BerthRun extends ExecResult {
  /** stdout and stderr together, in order. */
  output: string;
}

export interface RunBerthOptions {
  /** Called with each chunk of output as it comes; e.g. to kill the run at a given moment. */
  onOutput?: (text: string, child: { kill(signal: NodeJS.Signals): void }) => void;
  env?: NodeJS.ProcessEnv;
  /** Where berth runs (default WORK_DIR): a machine with nothing but the answers file. */
  cwd?: string;
}

/** Runs the built CLI from a work directory of its own (its logs land in WORK_DIR/berth-logs). */
export function runBerth(args: string[], options: RunBerthOptions = {}): Promise<BerthRun> {
  mkdirSync(WORK_DIR, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? WORK_DIR, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      output += chunk;
      options.onOutput?.(chunk.toString(), child);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      output += chunk;
      options.onOutput?.(chunk.toString(), child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, output }));
  });
}

export interface InstalledPlatform {
  topo: E2eTopology;
  answersFile: string;
  /** The first install's result. */
  firstRun: BerthRun;
  /** `berth <command> --answers <the answers file> --yes …` (plus `--output plain` for install and plan). */
  berth(command: string, extra?: string[], options?: RunBerthOptions): Promise<BerthRun>;
}

let installed: Promise<InstalledPlatform> | undefined;

export function installedPlatform(): Promise<InstalledPlatform> {
  installed ??= (async () => {
    // Logs of earlier runs hold earlier secrets: the specs judge this run's logs only.
    rmSync(join(WORK_DIR, 'berth-logs'), { recursive: true, force: true });
    const topo = await e2eTopology();
    await Promise.all(Object.keys(topo.vms).map((vm) => topo.recreate(vm)));
    const answersFile = topo.writeAnswers();
    const berth = (command: string, extra: string[] = [], options?: RunBerthOptions) =>
      runBerth([command, '--answers', answersFile, '--yes', ...(['install', 'plan'].includes(command) ? ['--output', 'plain'] : []), ...extra], options);
    const firstRun = await berth('install');
    if (firstRun.code !== 0) throw new Error(`the first berth install failed (exit ${firstRun.code}):\n${firstRun.output}`);
    return { topo, answersFile, firstRun, berth };
  })();
  installed.catch(() => (installed = undefined));
  return installed;
}

/** The rows of a run's summary that changed something: "vm1 app". */
export function changedPhases(output: string): string[] {
  return [...output.matchAll(/^\s*(\S+)\s+(\S+)\s+changed\s+\d+/gm)].map((m) => `${m[1]} ${m[2]}`);
}

/**
 * Waits (up to 3 minutes) until the stack on vm1 has settled after a reboot: every container
 * berth keeps running is up and none is still starting or unhealthy, and the site's /healthz answers 200.
 */
export async function stackSettled(p: InstalledPlatform): Promise<void> {
  const check = [
    'set -e',
    '[ -z "$(docker ps --all --quiet --filter label=berth.keep-running=true --filter status=exited --filter status=created --filter status=restarting)" ]',
    '[ -z "$(docker ps --quiet --filter label=berth.keep-running=true --filter health=starting)" ]',
    '[ -z "$(docker ps --quiet --filter label=berth.keep-running=true --filter health=unhealthy)" ]',
    '[ "$(curl -s -o /dev/null -w \'%{http_code}\' --max-time 5 http://127.0.0.1/healthz)" = 200 ]',
  ].join('\n');
  for (let i = 0; i < 90; i++) {
    if ((await p.topo.exec('vm1', check)).code === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  throw new Error('the stack on vm1 did not settle within 3 minutes');
}

/** Some of the install's phases, over SSH as berth runs them, with the answers in `file`: what a spec is about, without the others. */
export async function runSomePhases(file: string, phases: readonly Phase[]): Promise<RunResult & { log: string }> {
  const loaded = loadAnswersFile(file);
  const log = memoryLog();
  const result = await runPhases({
    answers: loaded.answers,
    phases,
    connector: sshConnector(loaded.answers, dirname(file), { env: process.env, onNewHostKey: async () => true }),
    mode: 'apply',
    local: localFacts(loaded),
    reporter: { handle: () => undefined, close: async () => undefined },
    log,
    owner: { owner: 'e2e', machine: 'e2e', pid: process.pid },
  });
  return { ...result, log: log.lines.join('\n') };
}
