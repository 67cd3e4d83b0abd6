import { isIP } from 'node:net';
import type { Answers } from '../answers/schema';
import { expandUpstreams } from '../answers/presets';
import type { ClusterHost } from '../model';
import { managedHeader, withManagedBlock } from './managed';

/**
 * The DNS mirror's files: the forwarder's configuration on the dns hosts and
 * each host's resolver settings, in the form its network stack keeps across
 * reboots and DHCP renewals. Pure: answers and cluster in, file contents out.
 */

export const DNSMASQ_CONF = '/etc/dnsmasq.d/berth.conf';
export const DNSMASQ_DROP_IN = '/etc/systemd/system/dnsmasq.service.d/berth.conf';
export const RESOLV_CONF = '/etc/resolv.conf';
export const DHCLIENT_HOOK = '/etc/dhcp/dhclient-enter-hooks.d/berth-keep-resolv-conf';
export const DHCPCD_ENTER_HOOK = '/etc/dhcpcd.enter-hook';
/** resolved reads its drop-ins in lexical order and the last value wins: a late name. */
export const RESOLVED_DROP_IN = '/etc/systemd/resolved.conf.d/90-berth.conf';
export const NETWORKD_DROP_IN_NAME = '90-berth-dns.conf';
/** Where the /etc/resolv.conf berth replaced is kept, as it was (a file or a symlink), to be put back when dns.mode becomes off. */
export const SAVED_RESOLV_CONF = '/var/lib/berth/dns/resolv.conf';

/** The glibc resolver reads at most this many nameserver lines. */
export const RESOLV_CONF_MAX_SERVERS = 3;

const DNS_SETTING = 'the DNS mirror (dns in the answers file)';

export function dnsHosts(cluster: readonly ClusterHost[]): ClusterHost[] {
  return cluster.filter((h) => h.roles.includes('dns'));
}

/**
 * The servers a host's own resolver uses: the forwarders (a dns host asks
 * itself on 127.0.0.1 first), or the upstreams in direct mode.
 */
export function hostDnsServers(answers: Answers, cluster: readonly ClusterHost[], host: ClusterHost): string[] {
  if (answers.dns.mode === 'direct') return expandUpstreams(answers.dns.upstreams);
  if (answers.dns.mode === 'off') return [];
  const forwarders = dnsHosts(cluster);
  const self = forwarders.some((h) => h.name === host.name) ? ['127.0.0.1'] : [];
  return [...self, ...forwarders.filter((h) => h.name !== host.name).map((h) => h.clusterAddress)];
}

/**
 * The servers Docker gives containers. A container's 127.0.0.1 is its own,
 * so even on a dns host they use the forwarders' cluster addresses.
 */
export function containerDnsServers(answers: Answers, cluster: readonly ClusterHost[]): string[] {
  if (answers.dns.mode === 'direct') return expandUpstreams(answers.dns.upstreams);
  if (answers.dns.mode === 'off') return [];
  return dnsHosts(cluster).map((h) => h.clusterAddress);
}

/**
 * dnsmasq on the dns host: only on the given addresses (bind-dynamic binds
 * each address itself, so systemd-resolved's stub on 127.0.0.53 keeps its
 * port, and an address that appears late at boot is picked up), only the
 * upstreams in the order given (a smart DNS first, a plain one as fallback),
 * and nothing of this host's own /etc/hosts.
 */
export function renderDnsmasqConf(listenAddresses: readonly string[], upstreams: readonly string[]): string {
  return [
    managedHeader(DNS_SETTING).trimEnd(),
    '# The cluster\'s DNS forwarder: answers on the addresses below, forwards to the upstreams.',
    `listen-address=${listenAddresses.join(',')}`,
    'bind-dynamic',
    'no-resolv',
    'no-hosts',
    'strict-order',
    'domain-needed',
    'bogus-priv',
    'cache-size=1000',
    ...upstreams.map((ip) => `server=${ip}`),
    '',
  ].join('\n');
}

/**
 * Debian's dnsmasq unit registers 127.0.0.1 with resolvconf (or
 * systemd-resolved's resolvconf shim) after starting; berth sets each host's
 * resolver itself, so that side effect is switched off.
 */
export function renderDnsmasqDropIn(): string {
  return [
    managedHeader(DNS_SETTING).trimEnd(),
    '# berth configures the resolver of this host: no resolvconf registration by dnsmasq.',
    '[Service]',
    'ExecStartPost=',
    'ExecStop=',
    '',
  ].join('\n');
}

export function renderResolvConf(servers: readonly string[]): string {
  const used = servers.slice(0, RESOLV_CONF_MAX_SERVERS);
  return [managedHeader(DNS_SETTING).trimEnd(), ...used.map((s) => `nameserver ${s}`), ''].join('\n');
}

/** Sourced by dhclient-script before it acts: an empty make_resolv_conf leaves /etc/resolv.conf alone. */
export function renderDhclientHook(): string {
  return [
    managedHeader(DNS_SETTING).trimEnd(),
    '# dhclient must not rewrite /etc/resolv.conf on a lease or renewal: berth manages it.',
    'make_resolv_conf() {',
    '  :',
    '}',
    '',
  ].join('\n');
}

/**
 * dhcpcd-run-hooks sources /etc/dhcpcd.enter-hook before its own hooks and
 * skips the hooks named in skip_hooks (what `nohook resolv.conf` in
 * dhcpcd.conf sets), so this takes effect at the next event without
 * restarting dhcpcd. The file may hold the admin's own lines: berth only
 * owns its marked block.
 */
export function renderDhcpcdEnterHook(existing: string | null): string {
  return withManagedBlock(
    existing,
    [
      managedHeader(DNS_SETTING).trimEnd(),
      '# dhcpcd must not rewrite /etc/resolv.conf on a lease or renewal: berth manages it.',
      'skip_hooks="${skip_hooks:+$skip_hooks }resolv.conf"',
    ].join('\n'),
  );
}

/** Global servers with the catch-all routing domain: preferred over any server a link learnt by DHCP. */
export function renderResolvedDropIn(servers: readonly string[]): string {
  return [
    managedHeader(DNS_SETTING).trimEnd(),
    '[Resolve]',
    `DNS=${servers.join(' ')}`,
    'Domains=~.',
    '',
  ].join('\n');
}

/** For each systemd-networkd .network file (netplan's among them): ignore the DNS servers DHCP and router adverts offer. */
export function renderNetworkdDropIn(): string {
  return [
    managedHeader(DNS_SETTING).trimEnd(),
    '[DHCPv4]',
    'UseDNS=false',
    '',
    '[DHCPv6]',
    'UseDNS=false',
    '',
    '[IPv6AcceptRA]',
    'UseDNS=false',
    '',
  ].join('\n');
}

export function networkdDropInPath(networkFile: string): string {
  return `/etc/systemd/network/${networkFile}.d/${NETWORKD_DROP_IN_NAME}`;
}

/** Host names of a URL list, without IP literals (those need no resolving). */
function hostnamesOf(urls: readonly string[]): string[] {
  return urls.map((u) => new URL(u).hostname.replace(/^\[|\]$/g, '')).filter((h) => isIP(h) === 0);
}

/**
 * What the resolver must resolve for the next phases: the registry mirrors
 * and Docker's apt mirror, or the Debian archive when there are none.
 */
export function namesToVerify(answers: Answers): string[] {
  const { docker } = answers;
  const names = hostnamesOf([...docker.registryMirrors, ...(docker.source === 'official' && docker.aptMirror ? [docker.aptMirror] : [])]);
  const unique = [...new Set(names)];
  return unique.length > 0 ? unique : ['deb.debian.org'];
}
