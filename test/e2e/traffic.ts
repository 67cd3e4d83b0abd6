import { readFileSync } from 'node:fs';
import { cidrContains } from '../../src/answers/net';
import { docker } from '../../src/sandbox/docker';
import { ensureToolsImage } from '../../src/sandbox/images';
import { TOPOLOGY_LABEL } from '../../src/sandbox/plan';
import type { Topology } from '../../src/sandbox/topology';

/**
 * Proof that the test hosts talk only to each other and to the registries
 * they may use. tcpdump (in a container on this machine's network namespace)
 * watches the topology's bridge, where every packet a test host sends to the
 * outside passes before it is NATed, and records: DNS on the bridge (to learn
 * which addresses answer for which names), every new connection or datagram
 * leaving the subnet, and the HTTP requests sent out (their Host header).
 *
 * The rule it checks: leaving the subnet is allowed only for
 *  - DNS from the topology's own resolvers to this machine's nameservers
 *    (they forward the VMs' queries), and
 *  - HTTP (port 80) to an address that DNS gave for an allowed name, with
 *    every request on the connection naming an allowed Host.
 * Anything else (another port, TLS whose name cannot be read, UDP, ICMP,
 * IPv6, an address no allowed name resolved to) is a violation.
 */

export interface TrafficPolicy {
  subnet: string;
  /** Names the test hosts may fetch from: the Debian archive, the npm registry. */
  allowedNames: readonly string[];
  /** The topology's resolvers, which forward queries upstream. */
  dnsForwarders: readonly string[];
  /** This machine's nameservers: where Docker's embedded DNS sends the forwarded queries. */
  upstreamNameservers: readonly string[];
}

export const ALLOWED_NAMES = ['deb.debian.org', 'security.debian.org', 'registry.npmjs.org'];

export interface OutboundFlow {
  proto: 'tcp' | 'udp' | 'icmp' | 'ip6' | 'other';
  src: string;
  dst: string;
  dport?: number;
  /** Host headers of the HTTP requests seen on it. */
  hosts: string[];
  violation?: string;
}

export interface TrafficReport {
  /** Every flow that left the subnet, allowed or not. */
  outbound: OutboundFlow[];
  violations: OutboundFlow[];
  /** Name → addresses, from the DNS answers seen on the bridge. */
  resolved: Map<string, Set<string>>;
}

interface Packet {
  family: 'IP' | 'IP6';
  src: string;
  sport?: number;
  dst: string;
  dport?: number;
  info: string;
  payload: string;
}

const HEADER = /^\d\d:\d\d:\d\d\.\d+ (IP6?) (\S+) > (\S+?): (.*)$/;

function endpoint(text: string, family: 'IP' | 'IP6'): { ip: string; port?: number } {
  const parts = text.split('.');
  if (family === 'IP' && parts.length === 5) return { ip: parts.slice(0, 4).join('.'), port: Number(parts[4]) };
  if (family === 'IP6' && /\.\d+$/.test(text)) return { ip: text.replace(/\.\d+$/, ''), port: Number(text.split('.').pop()) };
  return { ip: text };
}

/** tcpdump -n -A output → packets with the payload text that followed each header line. */
export function parseTcpdump(text: string): Packet[] {
  const packets: Packet[] = [];
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      const family = header[1] as 'IP' | 'IP6';
      const src = endpoint(header[2], family);
      const dst = endpoint(header[3], family);
      packets.push({ family, src: src.ip, sport: src.port, dst: dst.ip, dport: dst.port, info: header[4], payload: '' });
    } else if (packets.length > 0) {
      packets[packets.length - 1].payload += `${line}\n`;
    }
  }
  return packets;
}

const DNS_QUERY = /^(\d+)\+?%? (?:\[\w+\] )?\w+\? (\S+?)\.? \(/;
const DNS_ANSWER = /^(\d+)[*\-|$]* (?:\w+ )?\d+\/\d+\/\d+/;

function resolvedNames(packets: readonly Packet[]): Map<string, Set<string>> {
  const queries = new Map<string, string>();
  const resolved = new Map<string, Set<string>>();
  for (const p of packets) {
    if (p.dport === 53) {
      const query = DNS_QUERY.exec(p.info);
      if (query) queries.set(`${p.src}:${p.sport} ${query[1]}`, query[2].toLowerCase());
    } else if (p.sport === 53) {
      const answer = DNS_ANSWER.exec(p.info);
      const name = answer && queries.get(`${p.dst}:${p.dport} ${answer[1]}`);
      if (!name) continue;
      const addresses = resolved.get(name) ?? new Set<string>();
      for (const match of p.info.matchAll(/\bA (\d+\.\d+\.\d+\.\d+)/g)) addresses.add(match[1]);
      resolved.set(name, addresses);
    }
  }
  return resolved;
}

function protoOf(p: Packet): OutboundFlow['proto'] {
  if (p.family === 'IP6') return 'ip6';
  if (p.info.startsWith('Flags [')) return 'tcp';
  if (p.info.startsWith('ICMP')) return 'icmp';
  if (p.dport !== undefined) return 'udp';
  return 'other';
}

export function analyseTraffic(text: string, policy: TrafficPolicy): TrafficReport {
  const packets = parseTcpdump(text);
  const resolved = resolvedNames(packets);
  const allowedAddresses = new Set(policy.allowedNames.flatMap((name) => [...(resolved.get(name) ?? [])]));
  const flows = new Map<string, OutboundFlow>();
  for (const p of packets) {
    if (p.family === 'IP' && cidrContains(policy.subnet, p.dst)) continue;
    const proto = protoOf(p);
    const key = `${proto} ${p.src}:${p.sport ?? ''} > ${p.dst}:${p.dport ?? ''}`;
    const flow = flows.get(key) ?? { proto, src: p.src, dst: p.dst, dport: p.dport, hosts: [] };
    flows.set(key, flow);
    const host = /^Host: (\S+)/m.exec(p.payload)?.[1];
    if (host && !flow.hosts.includes(host.toLowerCase())) flow.hosts.push(host.toLowerCase());
  }
  const outbound = [...flows.values()];
  for (const flow of outbound) flow.violation = violation(flow, policy, allowedAddresses) ?? undefined;
  return { outbound, violations: outbound.filter((f) => f.violation), resolved };
}

function violation(flow: OutboundFlow, policy: TrafficPolicy, allowedAddresses: Set<string>): string | null {
  if (flow.dport === 53 && (flow.proto === 'udp' || flow.proto === 'tcp')) {
    if (!policy.dnsForwarders.includes(flow.src)) return 'DNS sent upstream by a host other than the topology’s resolvers';
    if (!policy.upstreamNameservers.includes(flow.dst)) return 'DNS sent to a server other than this machine’s nameservers';
    return null;
  }
  if (flow.proto !== 'tcp') return `${flow.proto} traffic leaving the test network`;
  if (flow.dport !== 80) return `a TCP connection to port ${flow.dport}, whose destination name cannot be checked`;
  if (!allowedAddresses.has(flow.dst)) return `no allowed name (${policy.allowedNames.join(', ')}) resolved to ${flow.dst}`;
  const other = flow.hosts.filter((h) => !policy.allowedNames.includes(h));
  if (other.length > 0) return `HTTP requests for ${other.join(', ')}`;
  if (flow.hosts.length === 0) return 'an HTTP connection whose requests were not seen';
  return null;
}

export function describeFlow(flow: OutboundFlow): string {
  const to = flow.dport === undefined ? flow.dst : `${flow.dst}:${flow.dport}`;
  return `${flow.proto} ${flow.src} → ${to}${flow.hosts.length ? ` (Host: ${flow.hosts.join(', ')})` : ''}${flow.violation ? `: ${flow.violation}` : ''}`;
}

/** This machine's nameservers, which Docker's embedded DNS forwards to. */
export function hostNameservers(resolvConf = readFileSync('/etc/resolv.conf', 'utf8')): string[] {
  return [...resolvConf.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]);
}

const FILTER = (subnet: string) =>
  [
    'udp port 53',
    `or (ip and not dst net ${subnet} and ((tcp[tcpflags] & (tcp-syn|tcp-ack)) == tcp-syn or (tcp and (tcp[tcpflags] & tcp-push) != 0) or udp or icmp))`,
    'or (ip6 and not dst net ff00::/8 and not dst net fe80::/10)',
  ].join(' ');

export interface Capture {
  /** Stops the capture and returns tcpdump's output. */
  stop(): Promise<string>;
}

/** Starts tcpdump on the topology's bridge; returns once it listens. */
export async function startCapture(topology: Topology): Promise<Capture> {
  const name = `${topology.spec.prefix}capture`;
  await docker(['rm', '--force', name], { allowFailure: true });
  await docker([
    'run', '--detach', '--name', name,
    '--label', `${TOPOLOGY_LABEL}=${topology.spec.prefix}`,
    '--network', 'host',
    '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
    await ensureToolsImage(),
    'tcpdump', '-i', topology.bridge, '-n', '-l', '--immediate-mode', '-A', FILTER(topology.subnet),
  ]);
  const listening = async () => (await docker(['logs', name])).stderr.includes('listening on');
  for (let i = 0; i < 100 && !(await listening()); i++) await new Promise((resolve) => setTimeout(resolve, 200));
  if (!(await listening())) {
    const logs = await docker(['logs', name], { allowFailure: true });
    throw new Error(`tcpdump did not start listening on ${topology.bridge}:\n${logs.stdout}${logs.stderr}`);
  }
  return {
    async stop() {
      await docker(['stop', '--time', '2', name], { allowFailure: true });
      const { stdout } = await docker(['logs', name]);
      await docker(['rm', '--force', name], { allowFailure: true });
      return stdout;
    },
  };
}
