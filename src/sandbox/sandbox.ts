import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { RunFailedError } from '../errors';
import { aptRepoDocker, writeAnswersFile, type AnswersOverrides } from './answers';
import { removeVolumesLabelled } from './containers';
import { baseImageTag, baseRecipe, findDebootstrap } from './base-image';
import { docker } from './docker';
import { CACHE_LABEL } from './mirror';
import { DEBIAN_VERSION, SANDBOX_NETWORK, vmNames, type DebianSuite, type MirrorMode, type TopologySpec } from './plan';
import { STANDINS_DIR } from './standins';
import { answersFor, downTopology, SERVICE_STATE, topologyStatus, upTopology, type Log, type Topology } from './topology';

/**
 * `berth sandbox`: local VM-like hosts to try berth on before touching real
 * servers, with an answers file pointing at them. Where Docker Hub is
 * unreachable, a local mirror serves stand-ins of the images berth deploys.
 */

export const SANDBOX_ANSWERS_FILE = 'sandbox.answers.yaml';


export interface SandboxUpOptions {
  dir: string;
  vms: number;
  mirror: MirrorMode;
  /** The Debian release of every VM. */
  suite: DebianSuite;
  log: Log;
}

export interface SandboxUp {
  topology: Topology;
  answersPath: string;
}

async function requireDocker(): Promise<void> {
  const info = await docker(['info', '--format', '{{.ServerVersion}}'], { allowFailure: true }).catch((err: Error) => ({
    code: 1,
    stdout: '',
    stderr: err.message,
  }));
  if (info.code !== 0) {
    throw new RunFailedError(
      'the sandbox needs a running Docker Engine, and `docker info` failed',
      info.stderr.trim().split('\n').slice(-3),
      'On Debian: apt-get install docker.io, then start dockerd (in a checkout, `bash test/host-setup.sh` does both).',
    );
  }
}

/** Any HTTP answer from Docker Hub's registry (401 is the usual one) means it is reachable. */
export function dockerHubReachable(timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const req = request('https://registry-1.docker.io/v2/', { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolvePromise(true);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolvePromise(false));
    req.end();
  });
}

/** The Debian base images (trixie's for every image, and the VMs' release) are made with debootstrap on this machine, the first time only. */
async function requireDebootstrapUnlessBuilt(suite: DebianSuite): Promise<void> {
  const needed = [...new Set<DebianSuite>(['trixie', suite])];
  const built = await Promise.all(needed.map(async (s) => (await docker(['image', 'inspect', baseImageTag(baseRecipe(s))], { allowFailure: true })).code === 0));
  if (built.every(Boolean)) return;
  if (!findDebootstrap()) {
    throw new RunFailedError(
      `the sandbox builds its Debian ${needed.filter((_, i) => !built[i]).map((s) => DEBIAN_VERSION[s]).join(' and ')} base image with debootstrap, which is not installed here`,
      [],
      'On Debian or Ubuntu: apt-get install debootstrap (needed once; the image is kept).',
    );
  }
}

export function sandboxSpec(dir: string, vms: number, mirrors: boolean, suite: DebianSuite = 'trixie'): TopologySpec {
  const suites = suite === 'trixie' ? {} : Object.fromEntries(vmNames(vms).map((name) => [name, suite]));
  return { ...SANDBOX_NETWORK, vms, mirrors, stateDir: resolve(dir), suites };
}

/** Debian 12 packages only Compose v1: its VMs take Docker from Docker's repository, or from the local stand-in of it. */
function sandboxDocker(suite: DebianSuite, topology: Topology): AnswersOverrides {
  if (suite !== 'bookworm') return {};
  return { docker: topology.aptRepo ? aptRepoDocker(topology.aptRepo) : { source: 'official' } };
}

export async function sandboxUp(options: SandboxUpOptions): Promise<SandboxUp> {
  await requireDocker();
  let mirrors = options.mirror === 'always';
  if (options.mirror === 'auto') {
    mirrors = !(await dockerHubReachable());
    options.log(mirrors ? 'Docker Hub is unreachable from here: the sandbox gets its own image mirror.' : 'Docker Hub is reachable: no image mirror needed.');
  }
  if (mirrors && !existsSync(STANDINS_DIR)) {
    throw new RunFailedError(
      `the image mirror needs the stand-in image sources, and ${STANDINS_DIR} does not exist`,
      ['They are test fixtures kept in a berth checkout (test/e2e/standins/), not inside the berth binary.'],
      'Run the sandbox from a checkout (`npm run demo`), or on a machine that reaches Docker Hub with --mirror never.',
    );
  }
  await requireDebootstrapUnlessBuilt(options.suite);
  let topology: Topology;
  try {
    topology = await upTopology(sandboxSpec(options.dir, options.vms, mirrors, options.suite), options.log);
  } catch (err) {
    // Not a bug in berth: a build, a download or Docker failed on this machine.
    throw new RunFailedError(
      'the sandbox could not be started',
      (err instanceof Error ? err.message : String(err)).split('\n'),
      'Fix the cause above and run `berth sandbox up` again: what already runs is reused.',
    );
  }
  const answersPath = join(topology.spec.stateDir, SANDBOX_ANSWERS_FILE);
  writeAnswersFile(
    answersPath,
    answersFor(topology, sandboxDocker(options.suite, topology)),
    [
      'Written by `berth sandbox up`: berth answers for the local sandbox VMs.',
      `The upstream DNS ${topology.smartdnsIp} plays a smart DNS (such as Shecan)${topology.hubMirror ? ` that resolves ${topology.hubMirror.hostname}` : ''}.`,
      ...(topology.aptRepo
        ? [`For docker.source: official from the stand-in of Docker's apt repository: aptMirror: ${topology.aptRepo.url} and aptKeyFingerprint: ${topology.aptRepo.fingerprint} (its own test key).`]
        : []),
      'The secrets below were generated for the sandbox only. Remove everything with `berth sandbox down`.',
    ].join('\n'),
  );
  return { topology, answersPath };
}

export async function sandboxDown(dir: string): Promise<string[]> {
  await requireDocker();
  const removed = await downTopology({ prefix: SANDBOX_NETWORK.prefix, stateDir: resolve(dir) }, [SANDBOX_ANSWERS_FILE, ...SERVICE_STATE]);
  // The mirror's image cache outlives a topology (the e2e tests keep theirs); a user's `down` means all of it.
  removed.push(...(await removeVolumesLabelled(CACHE_LABEL, SANDBOX_NETWORK.prefix)));
  // The directory goes too when nothing of the user's is left in it.
  if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  return removed;
}

export async function sandboxStatus() {
  await requireDocker();
  return topologyStatus(SANDBOX_NETWORK.prefix);
}
