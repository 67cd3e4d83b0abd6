import { Scalar, stringify } from 'yaml';
import { managedHeader } from './managed';

/**
 * Docker Compose files as berth writes them: typed, only what is set, keys in
 * one fixed order (maps sorted by name), so that the same spec always gives
 * the same bytes. Field names are Compose's own. Pure.
 */

export interface ComposePort {
  /** The container's port. */
  target: number;
  /** The host's port. */
  published: number;
  /** The host address to publish on; every address when unset. */
  host_ip?: string;
  protocol?: 'tcp' | 'udp';
}

/** A bind mount of a host path (which must exist) or a named volume of the project. */
export interface ComposeMount {
  type: 'bind' | 'volume';
  source: string;
  target: string;
  read_only?: boolean;
}

export interface ComposeHealthcheck {
  /** Exec form (CMD, then the argument vector) or one shell command line (CMD-SHELL). */
  test: ['CMD', ...string[]] | ['CMD-SHELL', string];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}

/** A service's place on a network: a fixed address (so that a proxy in front can name it by address), other names. */
export interface ComposeServiceNetwork {
  ipv4_address?: string;
  aliases?: string[];
}

export interface ComposeService {
  image: string;
  /** The container's name on its networks and its hostname (e.g. what X-Served-By shows). */
  hostname?: string;
  /** docker-init as PID 1: signals sent inside the container reach the main process, zombies are reaped. */
  init?: boolean;
  entrypoint?: string[];
  command?: string[];
  user?: string;
  /** Plain values only: secrets reach containers as read-only bind-mounted files. */
  environment?: Record<string, string>;
  ports?: ComposePort[];
  volumes?: ComposeMount[];
  /** Writable scratch space (e.g. /tmp) for a read-only root filesystem. */
  tmpfs?: string[];
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  healthcheck?: ComposeHealthcheck;
  depends_on?: Record<string, { condition: 'service_started' | 'service_healthy' | 'service_completed_successfully' }>;
  restart?: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  stop_grace_period?: string;
  logging?: { driver: string; options?: Record<string, string> };
  labels?: Record<string, string>;
  /** 'host': the host's own network stack (a Galera node on its host's address, no NAT in between); then no `networks`. */
  network_mode?: 'host';
  /** Names added to the container's /etc/hosts: name → address. */
  extra_hosts?: Record<string, string>;
  networks?: string[] | Record<string, ComposeServiceNetwork>;
}

export interface ComposeNetwork {
  /** The network's name on the host, when another project must find it (external there). */
  name?: string;
  /** Made by another project: this one only joins it. */
  external?: boolean;
  internal?: boolean;
  /** A fixed subnet, so that services can have fixed addresses on it. */
  ipam?: { config: { subnet: string; ip_range?: string }[] };
  labels?: Record<string, string>;
}

export interface ComposeSpec {
  /** The Compose project name. */
  name: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, { labels?: Record<string, string> }>;
  networks?: Record<string, ComposeNetwork>;
}

/** `value` with its keys in the order of `keys`, those not set left out. */
function pick<T extends object>(value: T, keys: readonly (keyof T)[]): T {
  const out = {} as T;
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}

function sorted<V, W>(record: Record<string, V>, each: (value: V) => W): Record<string, W> {
  return Object.fromEntries(Object.keys(record).sort().map((key) => [key, each(record[key])]));
}

const same = <V>(value: V): V => value;

/**
 * Environment values always in double quotes: then a value's text is the
 * same whatever it holds (a commit tag 1e345678 would otherwise be quoted as a
 * number and abc123 not), so a file rendered with a placeholder and filled in
 * on a host (the deploy user's berth-deploy) is byte for byte berth's own.
 */
const doubleQuoted = (value: string): string => Object.assign(new Scalar(value), { type: Scalar.QUOTE_DOUBLE }) as unknown as string;

const PORT_KEYS = ['target', 'published', 'host_ip', 'protocol'] as const;
const MOUNT_KEYS = ['type', 'source', 'target', 'read_only'] as const;
const HEALTHCHECK_KEYS = ['test', 'interval', 'timeout', 'retries', 'start_period'] as const;
const SERVICE_KEYS = [
  'image',
  'hostname',
  'init',
  'entrypoint',
  'command',
  'user',
  'environment',
  'ports',
  'volumes',
  'tmpfs',
  'read_only',
  'cap_drop',
  'cap_add',
  'security_opt',
  'healthcheck',
  'depends_on',
  'restart',
  'stop_grace_period',
  'logging',
  'labels',
  'network_mode',
  'extra_hosts',
  'networks',
] as const;

function service(s: ComposeService): ComposeService {
  return pick(
    {
      ...s,
      environment: s.environment && sorted(s.environment, doubleQuoted),
      ports: s.ports?.map((p) => pick(p, PORT_KEYS)),
      volumes: s.volumes?.map((m) => pick(m, MOUNT_KEYS)),
      healthcheck: s.healthcheck && pick(s.healthcheck, HEALTHCHECK_KEYS),
      depends_on: s.depends_on && sorted(s.depends_on, (d) => ({ condition: d.condition })),
      logging: s.logging && pick({ ...s.logging, options: s.logging.options && sorted(s.logging.options, same) }, ['driver', 'options']),
      labels: s.labels && sorted(s.labels, same),
      extra_hosts: s.extra_hosts && sorted(s.extra_hosts, same),
      networks: s.networks && !Array.isArray(s.networks) ? sorted(s.networks, (n) => pick(n, ['ipv4_address', 'aliases'])) : s.networks,
    },
    SERVICE_KEYS,
  );
}

const labelled = <T extends { labels?: Record<string, string> }>(value: T): T => ({ ...value, ...(value.labels ? { labels: sorted(value.labels, same) } : {}) });

export function renderCompose(spec: ComposeSpec): string {
  const document = pick(
    {
      name: spec.name,
      services: sorted(spec.services, service),
      networks: spec.networks && sorted(spec.networks, (n) => pick(labelled(n), ['name', 'external', 'internal', 'ipam', 'labels'])),
      volumes: spec.volumes && sorted(spec.volumes, (v) => pick(labelled(v), ['labels'])),
    },
    ['name', 'services', 'networks', 'volumes'],
  );
  return `${managedHeader(`the Docker Compose project ${spec.name}`)}${stringify(document, { lineWidth: 0 })}`;
}
