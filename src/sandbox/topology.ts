import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnswersInput } from '../answers/schema';
import { ensureSecrets, topologyAnswers, type AnswersOverrides, type TopologySecrets } from './answers';
import { startAptRepo, type AptRepo } from './aptrepo';
import {
  ensureContainer,
  ensureNetwork,
  listTopologyContainers,
  removeTopologyObjects,
  type ContainerOutcome,
  type TopologyContainer,
} from './containers';
import { docker } from './docker';
import { ensureToolsImage, ensureVmImage } from './images';
import { ensureKeyPair } from './keys';
import { startHubMirror, type HubMirror } from './mirror';
import type { DebianSuite } from './plan';
import { addressPlan, topologyNames, vmIndex, vmNames, vmSuite, type TopologySpec } from './plan';
import { outsiderSpec, resolverSpec, smartDnsSpec, type ServiceContext } from './services';
import { ensureStandins } from './standins';
import { fingerprint } from '../ssh/host-key';
import { hostPublicKey, rebootVm, recreateVm, startVm, type VmSpec } from './vm';

/**
 * A whole topology: VM-like hosts, two resolvers, a host to probe from and,
 * with mirrors, the image mirror and the Docker apt repository, all on one
 * Docker network. `upTopology` is idempotent: what runs with the same
 * configuration is kept, the rest is made. The e2e harness and
 * `berth sandbox` are thin layers over this module.
 */

export interface TopologyVm {
  name: string;
  ip: string;
  sshPort: number;
  container: string;
  /** SHA256 fingerprint of its SSH host key; changes when the VM is recreated. */
  hostKey: string;
  /** The host key itself, "ssh-ed25519 AAAA…". */
  hostPublicKey: string;
  /** Its Debian release. */
  suite: DebianSuite;
}

export interface Topology {
  spec: TopologySpec;
  network: string;
  /** The Linux bridge of the network, for capturing its traffic. */
  bridge: string;
  subnet: string;
  /** This machine's address on the network: the installer's address as the VMs see it. */
  gatewayIp: string;
  vms: Record<string, TopologyVm>;
  outsider: { container: string; ip: string };
  resolverIp: string;
  smartdnsIp: string;
  hubMirror?: HubMirror;
  aptRepo?: AptRepo;
  sshKeyPath: string;
  publicKey: string;
  knownHostsPath: string;
  secrets: TopologySecrets;
  /** The VM image of each Debian release the topology's VMs run. */
  vmImages: Partial<Record<DebianSuite, string>>;
}

export type Log = (line: string) => void;

const KNOWN_HOSTS_FILE = 'known_hosts';

export async function upTopology(spec: TopologySpec, log: Log = () => {}): Promise<Topology> {
  const plan = addressPlan(spec);
  const names = topologyNames(spec);
  mkdirSync(spec.stateDir, { recursive: true, mode: 0o700 });

  // The stand-ins take longest to build: started first, awaited only by the mirrors.
  const standins = spec.mirrors ? ensureStandinsLogged(log) : Promise.resolve();
  standins.catch(() => undefined); // reported where it is awaited
  const suites = [...new Set(vmNames(spec.vms).map((name) => vmSuite(spec, name)))];
  const [toolsImage, ...images] = await Promise.all([ensureToolsImage(log), ...suites.map((suite) => ensureVmImage(log, suite))]);
  const vmImages = Object.fromEntries(suites.map((suite, i) => [suite, images[i]!]));
  if ((await ensureNetwork(spec.prefix, names.network, names.bridge, plan.subnet, plan.gateway)) === 'created') {
    log(`network ${names.network} ${plan.subnet} created`);
  }
  // ssh-keygen runs in a VM image: any of them does.
  const key = await ensureKeyPair(spec.stateDir, images[0]!, spec.prefix.replace(/-$/, ''));

  const service = (role: 'resolver' | 'smartdns' | 'outsider'): ServiceContext => ({
    topology: spec.prefix,
    network: names.network,
    image: toolsImage,
    container: names.container(role),
    ip: plan.service(role),
  });
  const report = (what: string, ip: string, outcome: ContainerOutcome | 'recreated') => log(`${what.padEnd(10)} ${ip.padEnd(14)} ${outcome}`);

  const topology: Topology = {
    spec,
    network: names.network,
    bridge: names.bridge,
    subnet: plan.subnet,
    gatewayIp: plan.gateway,
    vms: {},
    outsider: { container: names.container('outsider'), ip: plan.service('outsider') },
    resolverIp: plan.service('resolver'),
    smartdnsIp: plan.service('smartdns'),
    sshKeyPath: key.privateKeyPath,
    publicKey: key.publicKey,
    knownHostsPath: join(spec.stateDir, KNOWN_HOSTS_FILE),
    secrets: ensureSecrets(spec.stateDir),
    vmImages,
  };
  for (const name of vmNames(spec.vms)) {
    const suite = vmSuite(spec, name);
    topology.vms[name] = { name, ip: plan.vm(vmIndex(name)), sshPort: 22, container: names.container(name), hostKey: '', hostPublicKey: '', suite };
  }

  // The smart DNS needs the mirrors' names; nothing else waits for anything.
  const smartDns = async () => {
    await standins;
    const mirrors = spec.mirrors ? await startMirrors(spec, log) : undefined;
    Object.assign(topology, mirrors);
    const records = mirrors ? [mirrors.hubMirror, mirrors.aptRepo].map((m) => ({ hostname: m.hostname, ip: m.ip })) : [];
    report('smartdns', plan.service('smartdns'), await ensureContainer(smartDnsSpec(service('smartdns'), records)));
  };
  const vm = async (name: string) => {
    report(name, topology.vms[name].ip, await startVm(vmSpec(topology, name)));
    await readHostKey(topology.vms[name]);
  };
  await Promise.all([
    smartDns(),
    ensureContainer(resolverSpec(service('resolver'))).then((outcome) => report('resolver', topology.resolverIp, outcome)),
    ensureContainer(outsiderSpec(service('outsider'))).then((outcome) => report('outsider', topology.outsider.ip, outcome)),
    ...Object.keys(topology.vms).map(vm),
  ]);
  writeKnownHosts(topology);
  return topology;
}

async function ensureStandinsLogged(log: Log): Promise<void> {
  log('stand-in images: building any that are missing or out of date (all of them: a few minutes)');
  await ensureStandins();
}

async function startMirrors(spec: TopologySpec, log: Log): Promise<Required<Pick<Topology, 'hubMirror' | 'aptRepo'>>> {
  const plan = addressPlan(spec);
  const network = topologyNames(spec).network;
  const options = { network, prefix: spec.prefix, stateDir: spec.stateDir };
  log('hubmirror, aptrepo: starting (pushing the stand-ins the mirror lacks: 1–3 minutes on a first start)');
  const [hubMirror, aptRepo] = await Promise.all([
    startHubMirror({ ...options, ip: plan.service('hubmirror') }),
    startAptRepo({ ...options, ip: plan.service('aptrepo') }),
  ]);
  log(`${'hubmirror'.padEnd(10)} ${hubMirror.ip.padEnd(14)} ${hubMirror.url}`);
  log(`${'aptrepo'.padEnd(10)} ${aptRepo.ip.padEnd(14)} ${aptRepo.url}`);
  return { hubMirror, aptRepo };
}

/** What a VM of the topology is made from. */
export function vmSpec(topology: Topology, name: string): VmSpec {
  const vm = topology.vms[name];
  if (!vm) throw new Error(`the topology has no VM named ${name} (it has ${Object.keys(topology.vms).join(', ')})`);
  const names = topologyNames(topology.spec);
  return {
    topology: topology.spec.prefix,
    name,
    container: vm.container,
    dockerVolume: names.dockerVolume(name),
    image: topology.vmImages[vm.suite]!,
    network: topology.network,
    ip: vm.ip,
    nameserver: topology.resolverIp,
    authorizedKey: topology.publicKey,
  };
}

async function readHostKey(vm: TopologyVm): Promise<void> {
  const key = await hostPublicKey(vm.container);
  vm.hostPublicKey = `${key.type} ${key.blob}`;
  vm.hostKey = fingerprint(Buffer.from(key.blob, 'base64'));
}

/** The topology's known_hosts file, from the keys read so far (written at once: VMs may be recreated side by side). */
function writeKnownHosts(topology: Topology): void {
  const lines = Object.values(topology.vms).map((vm) => `${vm.ip} ${vm.hostPublicKey}`);
  writeFileSync(topology.knownHostsPath, `${lines.join('\n')}\n`, { mode: 0o644 });
}

/** Restarts the VM's container, as a reboot, and waits until sshd is back. */
export async function rebootTopologyVm(topology: Topology, name: string): Promise<void> {
  await rebootVm(vmSpec(topology, name).container);
}

/** Replaces the VM by a fresh one (new disk, new host keys) and updates known_hosts. */
export async function recreateTopologyVm(topology: Topology, name: string): Promise<void> {
  await recreateVm(vmSpec(topology, name));
  await readHostKey(topology.vms[name]);
  writeKnownHosts(topology);
}

/** The files `upTopology` keeps in the state directory for the running topology. */
export const STATE_FILES = ['id_ed25519', 'id_ed25519.pub', KNOWN_HOSTS_FILE, 'secrets.json'];
/** What mirror.ts and aptrepo.ts keep there: the test CA, the mirror's certificate, the apt tree. Caches, kept by the e2e tests. */
export const SERVICE_STATE = ['test-ca', 'hubmirror', 'docker-apt'];

/** Removes every container, volume and the network of the topology, and its state files. */
export async function downTopology(spec: Pick<TopologySpec, 'prefix' | 'stateDir'>, extraStateFiles: readonly string[] = []): Promise<string[]> {
  const removed = await removeTopologyObjects(spec.prefix);
  for (const file of [...STATE_FILES, ...extraStateFiles]) rmSync(join(spec.stateDir, file), { force: true, recursive: true });
  return removed;
}

export function topologyStatus(prefix: string): Promise<TopologyContainer[]> {
  return listTopologyContainers(prefix);
}

/** Answers pointing berth at the topology, with overrides applied. */
export function answersFor(topology: Topology, overrides: AnswersOverrides = {}): AnswersInput {
  return topologyAnswers(
    {
      vms: Object.values(topology.vms),
      sshKeyPath: topology.sshKeyPath,
      gatewayIp: topology.gatewayIp,
      smartdnsIp: topology.smartdnsIp,
      hubMirror: topology.hubMirror,
      secrets: topology.secrets,
    },
    overrides,
  );
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a bash script inside a container of the topology (as root, through `docker exec`). */
export function execIn(container: string, script: string): Promise<ExecResult> {
  return docker(['exec', '--interactive', container, 'bash', '-s'], { input: script, allowFailure: true });
}
