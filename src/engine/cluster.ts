import { isIP } from 'node:net';
import type { Answers, HostAnswers, Role } from '../answers/schema';
import type { ClusterHost, HostInfo } from './phase';

/**
 * The cluster model, built in one place: the hosts of the answers with
 * their roles and the address the other hosts reach each one at.
 */

/** Where the other hosts reach this one: privateAddress, the address if it is an IP, else the host's first address. */
export function clusterAddressOf(host: HostAnswers, info: HostInfo | undefined): string {
  if (host.privateAddress) return host.privateAddress;
  if (isIP(host.address)) return host.address;
  return info?.addresses[0] ?? host.address;
}

/** The hosts as the engine sees them; `infos` (by host name) completes what the answers leave open, where known. */
export function clusterOf(answers: Answers, infos: ReadonlyMap<string, HostInfo> = new Map()): ClusterHost[] {
  return answers.hosts.map((h) => ({
    name: h.name,
    address: h.address,
    clusterAddress: clusterAddressOf(h, infos.get(h.name)),
    roles: h.roles ?? [],
  }));
}

/** The first host with the role (the answers are checked to have one: exactly one for the registry). */
export function firstWithRole(cluster: readonly ClusterHost[], role: Role): ClusterHost {
  const host = cluster.find((h) => h.roles.includes(role));
  if (!host) throw new Error(`no host has the role ${role}`);
  return host;
}
