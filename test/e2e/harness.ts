import { join } from 'node:path';
import { aptRepoDocker, mergeOverrides, writeAnswersFile, type AnswersOverrides } from '../../src/sandbox/answers';
import { runProgram } from '../../src/sandbox/host-command';
import { E2E_NETWORK, type DebianSuite, type TopologySpec } from '../../src/sandbox/plan';
import { shellCommand } from '../../src/shell';
import type { AnswersInput } from '../../src/answers/schema';
import {
  answersFor,
  downTopology,
  execIn,
  rebootTopologyVm,
  recreateTopologyVm,
  upTopology,
  type ExecResult,
  type Topology,
} from '../../src/sandbox/topology';

/**
 * The e2e test topology, as specs use it:
 *
 *   let topo: E2eTopology;
 *   before(async function () {
 *     this.timeout(TOPOLOGY_TIMEOUT_MS);
 *     topo = await e2eTopology();
 *   });
 *
 * It is brought up once per mocha run (reusing whatever already runs with
 * the same configuration) and torn down after the run unless KEEP=1.
 */

export type { ExecResult };

/** Cold: the base, VM, tools and stand-in images are built first. */
export const TOPOLOGY_TIMEOUT_MS = 25 * 60_000;
/** A reboot or a recreated VM. */
export const VM_TIMEOUT_MS = 3 * 60_000;

/** KEEP=1: the run leaves its containers up for debugging (the next run reuses them). */
export const KEEP = process.env.KEEP === '1';

/**
 * BERTH_E2E_DEBIAN=12 (`npm run test:e2e:debian12`): the VMs run Debian 12
 * unless a spec names their releases, and the topology's answers take
 * Docker from the stand-in of Docker's apt repository (docker.source
 * official), as Debian 12 needs.
 */
export const DEBIAN12 = process.env.BERTH_E2E_DEBIAN === '12';

/** The releases the VMs run when a spec names none: all trixie, or all bookworm with BERTH_E2E_DEBIAN=12. */
function defaultSuites(vms: number): Suites {
  return DEBIAN12 ? Object.fromEntries(Array.from({ length: vms }, (_, i) => [`vm${i + 1}`, 'bookworm' as const])) : {};
}

/**
 * BERTH_E2E_INSTANCE=1…9 gives a run a topology of its own (prefix
 * berth-e2e<N>-, subnet 10.213.<80+N>.0/24), side networks and work
 * directories of its own, for two e2e runs side by side on one machine.
 * Unset: the standard ones.
 */
function e2eInstance(): number | undefined {
  const instance = process.env.BERTH_E2E_INSTANCE;
  if (!instance) return undefined;
  if (!/^[1-9]$/.test(instance)) throw new Error(`BERTH_E2E_INSTANCE must be a digit from 1 to 9, not "${instance}"`);
  return Number(instance);
}

const INSTANCE = e2eInstance();

/** test/e2e/.work/<name>, or <name>-<N> for instance N. */
export function e2eWorkDir(name: string): string {
  return join(__dirname, '.work', INSTANCE === undefined ? name : `${name}-${INSTANCE}`);
}

/**
 * The network of a spec that runs containers of its own outside the topology
 * ('standins' on 10.213.96, 'imgtest' on 10.213.97, 'apptest' on 10.213.98): prefix berth-<name>-, or
 * berth-<name><N>- on 10.213.<net + 10 N> for instance N.
 */
export function e2eSideNetwork(name: string, net: number): { prefix: string; net24: string } {
  if (INSTANCE === undefined) return { prefix: `berth-${name}-`, net24: `10.213.${net}` };
  return { prefix: `berth-${name}${INSTANCE}-`, net24: `10.213.${net + 10 * INSTANCE}` };
}

function e2eNetwork(): { prefix: string; net24: string; stateDir: string } {
  const stateDir = e2eWorkDir('topology');
  if (INSTANCE === undefined) return { ...E2E_NETWORK, stateDir };
  return { prefix: `berth-e2e${INSTANCE}-`, net24: `10.213.${80 + INSTANCE}`, stateDir };
}

export const E2E_STATE_DIR = e2eNetwork().stateDir;

export interface SshOptions {
  user?: string;
  port?: number;
  /** Private key file; the topology's key by default. */
  keyPath?: string;
  /** ssh_config settings that take precedence over the harness's, e.g. ['PreferredAuthentications=none']. */
  config?: string[];
}

export interface E2eTopology extends Topology {
  /** Runs a bash script as root in a container of the topology: 'vm1', 'outsider', 'smartdns' … */
  exec(container: string, script: string): Promise<ExecResult>;
  /** Runs a bash script over SSH (the OpenSSH client, key only, host key checked). */
  ssh(vm: string, script: string, options?: SshOptions): Promise<ExecResult>;
  /** `ssh` as root with the topology's key. */
  sshRoot(vm: string, script: string): Promise<ExecResult>;
  /**
   * Whether `port` on `ip` answers from inside container `from`. TCP: a
   * connection is accepted. UDP has no handshake: a DNS query gets an answer.
   */
  probe(from: string, ip: string, port: number, proto?: 'tcp' | 'udp'): Promise<boolean>;
  /** Restarts the VM's container (a reboot) and waits for sshd. */
  reboot(vm: string): Promise<void>;
  /** Replaces the VM by a pristine one (new disk, new host keys). */
  recreate(vm: string): Promise<void>;
  /** The answers for this topology with the overrides applied. */
  answers(overrides?: AnswersOverrides): AnswersInput;
  /** Writes those answers to <state>/answers/<name> (mode 0600) and returns the path. */
  writeAnswers(overrides?: AnswersOverrides, name?: string): string;
}

export function e2eSpec(vms: number, suites: Suites = defaultSuites(vms)): TopologySpec {
  return { ...e2eNetwork(), vms, mirrors: true, suites };
}

/** The Debian release of each VM that does not run trixie: { vm1: 'bookworm' }. */
type Suites = Readonly<Record<string, DebianSuite>>;
const sameSuites = (a: Suites, b: Suites) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

let current: { vms: number; suites: Suites; topology: Promise<E2eTopology> } | undefined;

/**
 * The topology with at least `vms` VMs (2 by default), each running trixie
 * unless `suites` says otherwise; brought up on first use. A spec asking for
 * other releases than the running topology's gets its VMs replaced.
 */
export function e2eTopology(options: { vms?: number; suites?: Suites } = {}): Promise<E2eTopology> {
  const vms = Math.max(options.vms ?? 2, current?.vms ?? 0);
  const suites = options.suites ?? defaultSuites(vms);
  if (!current || current.vms < vms || !sameSuites(current.suites, suites)) {
    const log = (line: string) => process.stderr.write(`      [topology] ${line}\n`);
    // A spec that names releases brings its own Docker source.
    const official = DEBIAN12 && options.suites === undefined;
    const topology = upTopology(e2eSpec(vms, suites), log).then((t) => withHelpers(t, official));
    current = { vms, suites, topology };
    // A failed start is not cached: the next spec tries again and reports its own error.
    topology.catch(() => {
      if (current?.topology === topology) current = undefined;
    });
  }
  return current.topology;
}

/**
 * The topology's answers with `overrides`; with `official` (the default
 * under BERTH_E2E_DEBIAN=12) Docker comes from the stand-in of Docker's apt
 * repository, as Debian 12 needs.
 */
export function e2eAnswers(topology: Topology, overrides: AnswersOverrides = {}, official = DEBIAN12): ReturnType<typeof answersFor> {
  return answersFor(topology, official ? (mergeOverrides({ docker: aptRepoDocker(topology.aptRepo!) }, overrides as Record<string, unknown>) as AnswersOverrides) : overrides);
}

function withHelpers(topology: Topology, official: boolean): E2eTopology {
  const container = (name: string) => (name.startsWith(topology.spec.prefix) ? name : `${topology.spec.prefix}${name}`);
  const vmOf = (name: string) => {
    const vm = topology.vms[name];
    if (!vm) throw new Error(`the e2e topology has no VM named ${name} (it has ${Object.keys(topology.vms).join(', ')})`);
    return vm;
  };
  const ssh = (name: string, script: string, options: SshOptions = {}) => {
    const vm = vmOf(name);
    const args = [
      '-F', '/dev/null',
      // ssh takes the first value it reads for a setting: the caller's come first.
      ...(options.config ?? []).flatMap((setting) => ['-o', setting]),
      '-i', options.keyPath ?? topology.sshKeyPath,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'IdentityAgent=none',
      '-o', 'BatchMode=yes',
      '-o', `UserKnownHostsFile=${topology.knownHostsPath}`,
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'ConnectTimeout=10',
      '-o', 'LogLevel=ERROR',
      '-p', String(options.port ?? vm.sshPort),
      `${options.user ?? 'root'}@${vm.ip}`,
      'bash -s',
    ];
    return runProgram('ssh', args, { input: script });
  };
  const self: E2eTopology = {
    ...topology,
    exec: (name, script) => execIn(container(name), script),
    ssh,
    sshRoot: (name, script) => ssh(name, script),
    async probe(from, ip, port, proto = 'tcp') {
      const result = await execIn(container(from), probeScript(ip, port, proto));
      return result.code === 0;
    },
    reboot: (name) => rebootTopologyVm(topology, name),
    recreate: (name) => recreateTopologyVm(topology, name),
    answers: (overrides = {}) => e2eAnswers(topology, overrides, official),
    writeAnswers(overrides = {}, name = 'berth.yaml') {
      const file = join(topology.spec.stateDir, 'answers', name);
      writeAnswersFile(file, self.answers(overrides), 'berth answers for the e2e test topology (test/e2e/harness.ts).');
      return file;
    },
  };
  return self;
}

/**
 * bash only, so it runs in the VMs as well as in the tools containers.
 * UDP: a DNS query for the root's NS records, answered or not within 3 s.
 */
export function probeScript(ip: string, port: number, proto: 'tcp' | 'udp'): string {
  if (proto === 'tcp') return `timeout 3 bash -c ${shellCommand([`exec 3<>/dev/tcp/${ip}/${port}`])}\n`;
  const query = String.raw`\x13\x37\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01`;
  return `timeout 3 bash -c ${shellCommand([`exec 3<>/dev/udp/${ip}/${port} && printf '${query}' >&3 && head -c 1 <&3 >/dev/null`])}\n`;
}

/** Tears the topology down after the whole mocha run, unless KEEP=1 (then `npm run test:e2e` reuses it). */
if (typeof after === 'function') {
  after(async function () {
    if (!current) return;
    if (KEEP) {
      process.stderr.write(`\nKEEP=1: the e2e topology stays up (state in ${E2E_STATE_DIR}).\n`);
      return;
    }
    this.timeout(120_000);
    await current.topology.catch(() => undefined);
    await downTopology(e2eSpec(current.vms, current.suites), ['answers']);
    current = undefined;
  });
}
