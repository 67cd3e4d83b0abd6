/**
 * Where everything of a test topology lives: one Docker network per topology,
 * fixed addresses on it, and names that all start with the topology's prefix
 * so that the e2e tests and a user's sandbox never touch each other's things.
 * Pure: no Docker calls here.
 */

/** The Debian releases the test hosts run: 13 (trixie), the default, and 12 (bookworm), the original write-up's. */
export const DEBIAN_SUITES = ['trixie', 'bookworm'] as const;
export type DebianSuite = (typeof DEBIAN_SUITES)[number];
export const DEBIAN_VERSION: Record<DebianSuite, string> = { trixie: '13', bookworm: '12' };

export interface TopologySpec {
  /** Starts every container, volume and network name, and labels them: 'berth-e2e-'. */
  prefix: string;
  /** The first three octets of the topology's /24: '10.213.57'. */
  net24: string;
  /** How many VM-like hosts: vm1 … vmN. */
  vms: number;
  /** Run the image mirror and the stand-in Docker apt repository. */
  mirrors: boolean;
  /** Where the key pair, known_hosts, secrets and answers files are kept. */
  stateDir: string;
  /** The Debian release of each VM that does not run the default, trixie: { vm1: 'bookworm' }. */
  suites?: Readonly<Record<string, DebianSuite>>;
}

/** The Debian release VM `name` runs. */
export function vmSuite(spec: Pick<TopologySpec, 'suites'>, name: string): DebianSuite {
  return spec.suites?.[name] ?? 'trixie';
}

export const MAX_VMS = 9;

export const E2E_NETWORK = { prefix: 'berth-e2e-', net24: '10.213.57' } as const;
export const SANDBOX_NETWORK = { prefix: 'berth-sandbox-', net24: '10.213.58' } as const;

/** The label every object of a topology carries, with the prefix as its value. */
export const TOPOLOGY_LABEL = 'berth.topology';
/** The label naming what a container is: vm, outsider, resolver, smartdns, hubmirror, aptrepo. */
export const ROLE_LABEL = 'berth.role';

/** The service containers of a topology, besides the VMs. */
export type ServiceRole = 'outsider' | 'resolver' | 'smartdns' | 'hubmirror' | 'aptrepo';

const SERVICE_HOSTS: Record<ServiceRole, number> = {
  outsider: 20,
  hubmirror: 30,
  aptrepo: 31,
  smartdns: 53,
  resolver: 54,
};

/** The names the smart DNS answers for and the ISP resolver refuses. */
export const MIRROR_DOMAIN = 'berth.test';

export interface AddressPlan {
  subnet: string;
  /** The address this machine has on the network: what the VMs see as the installer. */
  gateway: string;
  vm(index: number): string;
  service(role: ServiceRole): string;
}

export function addressPlan(spec: Pick<TopologySpec, 'net24'>): AddressPlan {
  return {
    subnet: `${spec.net24}.0/24`,
    gateway: `${spec.net24}.1`,
    vm(index) {
      if (!Number.isInteger(index) || index < 1 || index > MAX_VMS) throw new RangeError(`VM index ${index} is outside 1..${MAX_VMS}`);
      return `${spec.net24}.${10 + index}`;
    },
    service: (role) => `${spec.net24}.${SERVICE_HOSTS[role]}`,
  };
}

export interface TopologyNames {
  network: string;
  /** The Linux bridge's name, so that traffic on it can be captured (at most 15 characters). */
  bridge: string;
  container(shortName: string): string;
  /** The volume a VM keeps /var/lib/docker on. */
  dockerVolume(vmName: string): string;
}

export function topologyNames(spec: Pick<TopologySpec, 'prefix'>): TopologyNames {
  const bridge = spec.prefix.replace(/-+$/, '');
  if (bridge.length > 15) throw new RangeError(`prefix ${spec.prefix} makes a bridge name longer than 15 characters`);
  return {
    network: `${spec.prefix}net`,
    bridge,
    container: (shortName) => `${spec.prefix}${shortName}`,
    dockerVolume: (vmName) => `${spec.prefix}${vmName}-docker`,
  };
}

export function vmNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `vm${i + 1}`);
}

/** vm3 → 3; anything else is not a VM of a topology. */
export function vmIndex(name: string): number {
  const match = /^vm([1-9])$/.exec(name);
  if (!match) throw new RangeError(`"${name}" is not a VM name (vm1 … vm${MAX_VMS})`);
  return Number(match[1]);
}

/** Where `berth sandbox` keeps its state, relative to the working directory. */
export const DEFAULT_SANDBOX_DIR = '.sandbox';

export type MirrorMode = 'auto' | 'always' | 'never';
export const MIRROR_MODES: readonly MirrorMode[] = ['auto', 'always', 'never'];
