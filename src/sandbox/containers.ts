import { createHash } from 'node:crypto';
import { docker } from './docker';
import { ROLE_LABEL, TOPOLOGY_LABEL } from './plan';

/**
 * Containers, volumes and the network of a topology, made idempotently: a
 * container whose configuration is unchanged is reused (and started if it was
 * stopped), anything else is replaced. Every object carries the topology
 * label, which is how `down` and `status` find them.
 */

const CONFIG_LABEL = 'berth.config';

export interface ContainerSpec {
  /** The topology's prefix, the value of its label. */
  topology: string;
  role: string;
  name: string;
  image: string;
  network: string;
  ip: string;
  /** `docker run` options besides name, labels, network and address. */
  options: readonly string[];
  command: readonly string[];
}

export type ContainerOutcome = 'created' | 'started' | 'reused';

/** A hash of everything `docker run` is given: a changed spec means a new container. */
export function containerConfigHash(spec: ContainerSpec): string {
  const { image, network, ip, options, command } = spec;
  return createHash('sha256').update(JSON.stringify({ image, network, ip, options, command })).digest('hex').slice(0, 16);
}

export function containerRunArgs(spec: ContainerSpec): string[] {
  return [
    'run', '--detach',
    '--name', spec.name,
    '--label', `${TOPOLOGY_LABEL}=${spec.topology}`,
    '--label', `${ROLE_LABEL}=${spec.role}`,
    '--label', `${CONFIG_LABEL}=${containerConfigHash(spec)}`,
    '--network', spec.network,
    '--ip', spec.ip,
    ...spec.options,
    spec.image,
    ...spec.command,
  ];
}

interface ContainerState {
  running: boolean;
  config: string;
}

async function inspectContainer(name: string): Promise<ContainerState | null> {
  const result = await docker(['container', 'inspect', '--format', `{{.State.Running}} {{index .Config.Labels "${CONFIG_LABEL}"}}`, name], {
    allowFailure: true,
  });
  if (result.code !== 0) return null;
  const [running, config] = result.stdout.trim().split(' ');
  return { running: running === 'true', config: config ?? '' };
}

export async function ensureContainer(spec: ContainerSpec): Promise<ContainerOutcome> {
  const state = await inspectContainer(spec.name);
  if (state && state.config === containerConfigHash(spec)) {
    if (state.running) return 'reused';
    await docker(['start', spec.name]);
    return 'started';
  }
  if (state) await removeContainer(spec.name);
  await docker(containerRunArgs(spec));
  return 'created';
}

export async function removeContainer(name: string): Promise<void> {
  await docker(['rm', '--force', '--volumes', name], { allowFailure: true });
}

export async function createVolume(topology: string, name: string): Promise<void> {
  await docker(['volume', 'create', '--label', `${TOPOLOGY_LABEL}=${topology}`, name]);
}

export async function removeVolume(name: string): Promise<void> {
  await docker(['volume', 'rm', '--force', name]);
}

/** The network with a fixed /24 and bridge name; an existing one is reused when its subnet matches. */
export async function ensureNetwork(topology: string, name: string, bridge: string, subnet: string, gateway: string): Promise<'created' | 'reused'> {
  const existing = await docker(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', name], { allowFailure: true });
  if (existing.code === 0) {
    if (existing.stdout.trim() === subnet) return 'reused';
    throw new Error(`Docker network ${name} exists with subnet ${existing.stdout.trim()}, not ${subnet}; remove it (docker network rm ${name})`);
  }
  await docker([
    'network', 'create',
    '--driver', 'bridge',
    '--subnet', subnet,
    '--gateway', gateway,
    '--opt', `com.docker.network.bridge.name=${bridge}`,
    '--label', `${TOPOLOGY_LABEL}=${topology}`,
    name,
  ]);
  return 'created';
}

export interface TopologyContainer {
  name: string;
  role: string;
  state: string;
  ip: string;
  image: string;
}

function labelFilter(topology: string): string[] {
  return ['--filter', `label=${TOPOLOGY_LABEL}=${topology}`];
}

export async function listTopologyContainers(topology: string): Promise<TopologyContainer[]> {
  const ids = (await docker(['ps', '--all', '--quiet', ...labelFilter(topology)])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const inspected = JSON.parse((await docker(['container', 'inspect', ...ids])).stdout) as {
    Name: string;
    State: { Status: string };
    Config: { Image: string; Labels: Record<string, string> };
    NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
  }[];
  return inspected
    .map((c) => ({
      name: c.Name.replace(/^\//, ''),
      role: c.Config.Labels[ROLE_LABEL] ?? '',
      state: c.State.Status,
      ip: Object.values(c.NetworkSettings.Networks).map((n) => n.IPAddress).filter(Boolean).join(', '),
      image: c.Config.Image,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Removes the volumes carrying label=value; returns "volume NAME" for each. */
export async function removeVolumesLabelled(label: string, value: string): Promise<string[]> {
  const volumes = (await docker(['volume', 'ls', '--quiet', '--filter', `label=${label}=${value}`])).stdout.split('\n').filter(Boolean);
  if (volumes.length > 0) await docker(['volume', 'rm', '--force', ...volumes]);
  return volumes.map((v) => `volume ${v}`);
}

/** Removes every container, volume and network carrying the topology's label. Returns what was removed. */
export async function removeTopologyObjects(topology: string): Promise<string[]> {
  const removed: string[] = [];
  const containers = await listTopologyContainers(topology);
  if (containers.length > 0) {
    await docker(['rm', '--force', '--volumes', ...containers.map((c) => c.name)]);
    removed.push(...containers.map((c) => `container ${c.name}`));
  }
  removed.push(...(await removeVolumesLabelled(TOPOLOGY_LABEL, topology)));
  const networks = (await docker(['network', 'ls', '--quiet', '--format', '{{.Name}}', ...labelFilter(topology)])).stdout.split('\n').filter(Boolean);
  for (const network of networks) {
    await docker(['network', 'rm', network]);
    removed.push(`network ${network}`);
  }
  return removed;
}
