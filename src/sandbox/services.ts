import type { ContainerSpec } from './containers';
import { MIRROR_DOMAIN, type ServiceRole } from './plan';

/**
 * The helper containers of a topology, all from the tools image: two
 * resolvers and a host to probe from. Pure: specs only.
 */

export interface ServiceContext {
  topology: string;
  network: string;
  image: string;
  container: string;
  ip: string;
}

export interface DnsRecord {
  hostname: string;
  ip: string;
}

/** Answered with NXDOMAIN by both resolvers. */
export const BLOCKED_DOMAINS = ['docker.io', 'docker.com'];

/**
 * dnsmasq forwarding to Docker's embedded DNS (127.0.0.11, which forwards to
 * this machine's resolvers). Plain container names (no dot) are never
 * forwarded, so the VMs cannot find each other by Docker's names, as real VMs
 * cannot; names under berth.test are answered here or not at all.
 */
function dnsmasqCommand(ip: string, records: readonly DnsRecord[]): string[] {
  return [
    'dnsmasq',
    '--keep-in-foreground',
    '--log-facility=-',
    '--log-queries',
    '--user=root',
    '--no-resolv',
    '--no-hosts',
    '--server=127.0.0.11',
    '--domain-needed',
    `--listen-address=${ip}`,
    '--bind-interfaces',
    `--local=/${MIRROR_DOMAIN}/`,
    // Docker Hub and Docker's download site do not resolve here, as in the regions berth is for: no probe of
    // berth's (preflight, doctor) ever connects beyond this machine.
    ...BLOCKED_DOMAINS.map((domain) => `--address=/${domain}/`),
    ...records.map((r) => `--address=/${r.hostname}/${r.ip}`),
  ];
}

function serviceSpec(ctx: ServiceContext, role: ServiceRole, options: string[], command: string[]): ContainerSpec {
  return {
    topology: ctx.topology,
    role,
    name: ctx.container,
    image: ctx.image,
    network: ctx.network,
    ip: ctx.ip,
    options: ['--hostname', role, ...options],
    command,
  };
}

/** The "ISP resolver" a fresh VM starts with: resolves the Debian archive, not the mirror names. */
export function resolverSpec(ctx: ServiceContext): ContainerSpec {
  return serviceSpec(ctx, 'resolver', [], dnsmasqCommand(ctx.ip, []));
}

/** Plays a smart DNS such as Shecan: resolves the mirror names to the mirrors, forwards the rest. */
export function smartDnsSpec(ctx: ServiceContext, records: readonly DnsRecord[]): ContainerSpec {
  return serviceSpec(ctx, 'smartdns', [], dnsmasqCommand(ctx.ip, records));
}

/** A plain host on the same network, to probe the VMs' ports from elsewhere. */
export function outsiderSpec(ctx: ServiceContext): ContainerSpec {
  return serviceSpec(ctx, 'outsider', ['--init'], ['sleep', 'infinity']);
}
