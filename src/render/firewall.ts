import { isIP } from 'node:net';
import type { Answers } from '../answers/schema';
import { cidrContains, cidrFamily, normaliseCidr } from '../answers/net';
import { assetText } from '../assets';
import type { ClusterHost } from '../model';
import { shellCommand } from '../shell';
import { CHECK_PORT, galeraLayout } from './db';
import { managedHeader, managedScript } from './managed';

/**
 * The firewall's files: iptables rules for berth's own chains (IPv4 and
 * IPv6), the loader script that puts them in place next to Docker's chains,
 * and the unit that runs it at boot before Docker. Also the scripts that save
 * and restore the previous state around a change, and the sentence saying what
 * would lock the user out. Pure: answers and cluster in, text out.
 */

export const FIREWALL_DIR = '/etc/berth/firewall';
export const RULES_V4 = `${FIREWALL_DIR}/rules.v4`;
export const RULES_V6 = `${FIREWALL_DIR}/rules.v6`;
export const FIREWALL_SCRIPT = '/usr/local/sbin/berth-firewall';
export const FIREWALL_UNIT = 'berth-firewall.service';
export const FIREWALL_UNIT_PATH = `/etc/systemd/system/${FIREWALL_UNIT}`;
export const ROLLBACK_DIR = '/var/lib/berth/firewall/rollback';

export const CHAINS = { input: 'BERTH-INPUT', dockerUser: 'BERTH-DOCKER-USER', output: 'BERTH-OUTPUT' } as const;

/** Ports Docker's published containers and host services may both use, so rules cover INPUT and DOCKER-USER. 9200: each node's check, which its peers and the proxy ask. */
export const GALERA_PORTS = { tcp: [3306, 4444, 4567, 4568, CHECK_PORT], udp: [4567] } as const;
/** What the database proxy next to the app reaches on the db hosts when the nodes are spread over them. */
const DB_PROXY_PORTS = [3306, CHECK_PORT];
export const DNS_PORT = 53;
export const WEB_PORTS = [80, 443];
const NTP_PORT = 123;
/** DHCP's server and client ports, per family: leases are renewed over ordinary UDP sockets. */
const DHCP = { 4: { server: 67, client: 68 }, 6: { server: 547, client: 546 } } as const;

/** Interfaces of Docker's bridges: docker0 (and docker_gwbridge), user-defined networks br-<id>. */
const DOCKER_BRIDGES = ['docker+', 'br-+'];

type Family = 4 | 6;
type Protocol = 'tcp' | 'udp';

/** Traffic berth lets in: to these ports, from these sources (or anywhere), optionally also to published containers. */
export interface Allowance {
  /** Why, in a few words: the rule's comment. */
  why: string;
  protocol: Protocol;
  ports: number[];
  /** CIDR blocks of either family, or anywhere. */
  from: 'anywhere' | string[];
  /** Input interfaces also allowed, whatever the source (INPUT only). */
  interfaces?: string[];
  /** Also let it reach containers that publish the port (DOCKER-USER); SSH is the host's own. */
  published: boolean;
}

export interface FirewallPolicy {
  allowances: Allowance[];
  /** Outgoing traffic allowed in strict egress, besides loopback, replies and the cluster; null when egress is open. */
  egress: { tcpPorts: number[]; udpPorts: number[]; to: string[] } | null;
}

/** What the rules depend on: the answers, the cluster, this host, and the port this connection came in on. */
export interface FirewallInput {
  answers: Answers;
  host: ClusterHost;
  cluster: readonly ClusterHost[];
  currentSshPort: number;
}

const uniqueSorted = (ports: readonly number[]) => [...new Set(ports)].sort((a, b) => a - b);

const sources = (cidrs: readonly string[]): string[] => [...new Set(cidrs.map(normaliseCidr))];

function peers(cluster: readonly ClusterHost[], host: ClusterHost, role?: ClusterHost['roles'][number]): string[] {
  return cluster.filter((h) => h.name !== host.name && (!role || h.roles.includes(role))).map((h) => h.clusterAddress);
}

/** Ports of URLs the Docker daemon or apt fetch from, when not the default 80/443. */
function mirrorPorts(answers: Answers): number[] {
  const urls = [...answers.docker.registryMirrors, ...(answers.docker.aptMirror ? [answers.docker.aptMirror] : [])];
  return urls.map((u) => Number(new URL(u).port)).filter((p) => p > 0 && !WEB_PORTS.includes(p));
}

/** Who may ask the DNS forwarder of a dns host (none elsewhere): the other hosts and the containers. */
function dnsForwarderAllowances(answers: Answers, host: ClusterHost, cluster: readonly ClusterHost[]): Allowance[] {
  if (!host.roles.includes('dns') || answers.dns.mode !== 'forwarder') return [];
  return (['udp', 'tcp'] as const).map((protocol) => ({
    why: 'DNS forwarder for the cluster and containers',
    protocol,
    ports: [DNS_PORT],
    from: sources(peers(cluster, host)),
    interfaces: DOCKER_BRIDGES,
    published: true,
  }));
}

/** Who may reach what on this host, from the answers and the host's roles. Addresses of the other hosts are their cluster addresses. */
export function firewallPolicy(input: FirewallInput): FirewallPolicy {
  const { answers, host, cluster } = input;
  const admin = answers.firewall.adminCidrs;
  const roles = host.roles;
  const allowances: Allowance[] = [
    {
      why: 'SSH from firewall.adminCidrs',
      protocol: 'tcp',
      ports: uniqueSorted([input.currentSshPort, answers.sshHardening.port]),
      from: sources(admin),
      published: false,
    },
  ];
  if (roles.includes('lb')) allowances.push({ why: 'web (lb)', protocol: 'tcp', ports: WEB_PORTS, from: 'anywhere', published: true });
  if (roles.includes('registry')) {
    allowances.push({
      why: 'registry from the cluster and firewall.adminCidrs',
      protocol: 'tcp',
      ports: [answers.registry.port],
      from: sources([...peers(cluster, host), ...admin]),
      published: true,
    });
  }
  allowances.push(...dnsForwarderAllowances(answers, host, cluster));
  const dbPeers = peers(cluster, host, 'db');
  if (roles.includes('db') && dbPeers.length > 0) {
    for (const protocol of ['tcp', 'udp'] as const) {
      allowances.push({ why: 'MariaDB Galera between db hosts', protocol, ports: [...GALERA_PORTS[protocol]], from: sources(dbPeers), published: true });
    }
  }
  if (roles.includes('db') && galeraLayout(answers, cluster).spread) {
    // The node listens on the host's own network: the proxy reaches it from the app host, or from a Docker network of this one.
    const appHosts = cluster.filter((h) => h.roles.includes('app'));
    const here = appHosts.some((h) => h.name === host.name);
    const from = sources(peers(cluster, host, 'app'));
    if (from.length > 0 || here) allowances.push({ why: 'MariaDB from the database proxy (app)', protocol: 'tcp', ports: DB_PROXY_PORTS, from, ...(here ? { interfaces: DOCKER_BRIDGES } : {}), published: false });
  }
  for (const open of answers.firewall.openPorts) {
    const spec = typeof open === 'number' ? { port: open, protocol: 'tcp' as const, from: undefined } : open;
    allowances.push({
      why: 'firewall.openPorts',
      protocol: spec.protocol,
      ports: [spec.port],
      from: spec.from ? sources(spec.from) : 'anywhere',
      published: true,
    });
  }
  const egress =
    answers.firewall.egress === 'strict'
      ? { tcpPorts: uniqueSorted([DNS_PORT, ...WEB_PORTS, ...mirrorPorts(answers)]), udpPorts: [DNS_PORT, NTP_PORT], to: peers(cluster, host) }
      : null;
  return { allowances, egress };
}

// ---------------------------------------------------------------------------
// iptables-restore text

/** ICMPv6 IPv6 cannot work without: errors, echo, router and neighbour discovery, multicast listener discovery. */
const ICMPV6_NEEDED = [
  'destination-unreachable',
  'packet-too-big',
  'time-exceeded',
  'parameter-problem',
  'echo-request',
  'router-solicitation',
  'router-advertisement',
  'neighbour-solicitation',
  'neighbour-advertisement',
];
/** MLD (listener query, report, done, v2 report), coming in from link-local addresses only: snooping switches stop forwarding neighbour discovery without it. */
const ICMPV6_MLD = ['130', '131', '132', '143'];

const comment = (why: string) => `-m comment --comment "${why}"`;

function portMatch(protocol: Protocol, ports: readonly number[]): string {
  return ports.length === 1 ? `-p ${protocol} -m ${protocol} --dport ${ports[0]}` : `-p ${protocol} -m multiport --dports ${ports.join(',')}`;
}

function icmpRules(family: Family, chain: string, incoming: boolean): string[] {
  if (family === 4) return [`-A ${chain} -p icmp -m icmp --icmp-type 8 -j ACCEPT`];
  return [
    ...ICMPV6_NEEDED.map((type) => `-A ${chain} -p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j ACCEPT`),
    ...ICMPV6_MLD.map((type) => `-A ${chain} ${incoming ? '-s fe80::/10 ' : ''}-p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j ACCEPT`),
  ];
}

/** The source flags of one family: [''] for anywhere (or a /0 among them), [] when the allowance has no source of this family. */
function sourceFlags(allowance: Allowance, family: Family): string[] {
  if (allowance.from === 'anywhere') return [''];
  const own = allowance.from.filter((cidr) => cidrFamily(cidr) === family);
  return own.some((cidr) => cidr.endsWith('/0')) ? [''] : own.map((cidr) => `-s ${cidr} `);
}

function inputRules(policy: FirewallPolicy, family: Family): string[] {
  const chain = CHAINS.input;
  const rules = [
    `-A ${chain} -i lo -j ACCEPT`,
    // Neighbour discovery is untracked; it goes first so that no state rule can get in its way.
    ...(family === 6 ? icmpRules(6, chain, true) : []),
    `-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${chain} -m conntrack --ctstate INVALID -j DROP`,
    ...(family === 4 ? icmpRules(4, chain, true) : []),
    family === 4
      ? `-A ${chain} -p udp -m udp --sport ${DHCP[4].server} --dport ${DHCP[4].client} ${comment('DHCP replies')} -j ACCEPT`
      : `-A ${chain} -s fe80::/10 -d fe80::/10 -p udp -m udp --sport ${DHCP[6].server} --dport ${DHCP[6].client} ${comment('DHCPv6 replies')} -j ACCEPT`,
  ];
  rules.push(...policy.allowances.flatMap((a) => acceptRules(chain, a, family)));
  rules.push(`-A ${chain} -j DROP`);
  return rules;
}

function acceptRules(chain: string, a: Allowance, family: Family): string[] {
  const match = `${portMatch(a.protocol, a.ports)} ${comment(a.why)} -j ACCEPT`;
  return [...sourceFlags(a, family).map((source) => `-A ${chain} ${source}${match}`), ...(a.interfaces ?? []).map((iface) => `-A ${chain} -i ${iface} ${match}`)];
}

/**
 * Published container ports arrive through FORWARD after Docker's DNAT, so
 * INPUT never sees them: DOCKER-USER lets through replies, the containers'
 * own traffic and connections to allowed ports (by the port the client
 * asked for, before DNAT), and drops the rest from outside.
 */
function dockerUserRules(policy: FirewallPolicy, family: Family): string[] {
  const chain = CHAINS.dockerUser;
  const rules = [
    `-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    ...DOCKER_BRIDGES.map((iface) => `-A ${chain} -i ${iface} -j RETURN`),
  ];
  for (const a of policy.allowances.filter((x) => x.published)) {
    for (const source of sourceFlags(a, family)) {
      for (const port of a.ports) {
        rules.push(`-A ${chain} ${source}-p ${a.protocol} -m conntrack --ctstate DNAT --ctorigdstport ${port} ${comment(a.why)} -j RETURN`);
      }
    }
  }
  rules.push(`-A ${chain} -j DROP`);
  return rules;
}

function outputRules(egress: NonNullable<FirewallPolicy['egress']>, family: Family): string[] {
  const chain = CHAINS.output;
  return [
    `-A ${chain} -o lo -j ACCEPT`,
    ...(family === 6 ? icmpRules(6, chain, false) : []),
    `-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${chain} ${portMatch('udp', uniqueSorted([...egress.udpPorts, DHCP[family].server]))} ${comment('DNS, DHCP and NTP')} -j ACCEPT`,
    `-A ${chain} ${portMatch('tcp', egress.tcpPorts)} ${comment('DNS, HTTP(S) and mirrors')} -j ACCEPT`,
    ...(family === 4 ? icmpRules(4, chain, false) : []),
    ...egress.to.filter((ip) => isIP(ip) === family).map((ip) => `-A ${chain} -d ${normaliseCidr(ip)} ${comment('cluster host')} -j ACCEPT`),
    // The host talks to its own containers (their replies are tracked already).
    ...DOCKER_BRIDGES.map((iface) => `-A ${chain} -o ${iface} -j ACCEPT`),
    `-A ${chain} -j DROP`,
  ];
}

/** One family's rules, for iptables-restore --noflush: policies of INPUT and OUTPUT, berth's chains replaced whole. */
export function renderRules(policy: FirewallPolicy, family: Family, hostName: string): string {
  const strict = policy.egress !== null;
  return [
    managedHeader(`the IPv${family} firewall of ${hostName}`).trimEnd(),
    `# Loaded by ${FIREWALL_UNIT} (${FIREWALL_SCRIPT}) with ip${family === 6 ? '6' : ''}tables-restore --noflush:`,
    '# the chains declared here are replaced whole, every other chain (Docker\'s) is left as it is.',
    '*filter',
    ':INPUT DROP [0:0]',
    `:OUTPUT ${strict ? 'DROP' : 'ACCEPT'} [0:0]`,
    `:${CHAINS.input} - [0:0]`,
    `:${CHAINS.dockerUser} - [0:0]`,
    ...(strict ? [`:${CHAINS.output} - [0:0]`] : []),
    ...inputRules(policy, family),
    ...dockerUserRules(policy, family),
    ...(policy.egress ? outputRules(policy.egress, family) : []),
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * The rules a dns host gets with its forwarder, long before the firewall
 * phase (Docker's install comes between): the forwarder answers only the
 * cluster, its containers and the host itself; nothing else changes (no
 * policy, no other port). Loaded like the full rules, which replace them.
 */
export function renderDnsGuardRules(input: Omit<FirewallInput, 'currentSshPort'>, family: Family): string {
  const chain = CHAINS.input;
  const drop = (protocol: Protocol) => `-A ${chain} ${portMatch(protocol, [DNS_PORT])} ${comment('DNS forwarder: nobody else')} -j DROP`;
  return [
    managedHeader(`the IPv${family} firewall of ${input.host.name}`).trimEnd(),
    `# Loaded by ${FIREWALL_UNIT} (${FIREWALL_SCRIPT}) with ip${family === 6 ? '6' : ''}tables-restore --noflush, until the firewall`,
    '# phase replaces them with the full rules: only the cluster may ask the DNS forwarder.',
    '*filter',
    `:${chain} - [0:0]`,
    `-A ${chain} -i lo -j ACCEPT`,
    ...dnsForwarderAllowances(input.answers, input.host, input.cluster).flatMap((a) => acceptRules(chain, a, family)),
    drop('udp'),
    drop('tcp'),
    'COMMIT',
    '',
  ].join('\n');
}

export function renderFirewallUnit(): string {
  return `${managedHeader('the firewall')}[Unit]
Description=berth firewall (iptables rules in ${FIREWALL_DIR})
# Before any interface is up and before Docker adds its own chains, like netfilter-persistent.
# After the loaders that replace whole tables at boot (nftables.conf starts with "flush ruleset"), where enabled.
DefaultDependencies=no
Wants=network-pre.target systemd-modules-load.service local-fs.target
After=systemd-modules-load.service local-fs.target nftables.service netfilter-persistent.service
Before=network-pre.target docker.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${firewallCommand('start')}

[Install]
WantedBy=multi-user.target
`;
}

/** Where each of berth's chains is jumped to from, as the loader takes them: FROM:CHAIN. */
export const FIREWALL_JUMPS = [`INPUT:${CHAINS.input}`, `DOCKER-USER:${CHAINS.dockerUser}`, `OUTPUT:${CHAINS.output}`];

/** The loader's command line: `start` loads the rules files, `check` exits 0 when the live rules are theirs. */
export function firewallCommand(op: 'start' | 'check'): string {
  return shellCommand([FIREWALL_SCRIPT, op, FIREWALL_DIR, ...FIREWALL_JUMPS]);
}

/** The loader (assets/scripts/berth-firewall.sh): the same on every host, its data comes as arguments; alone, the command takes berth's. */
export function renderFirewallScript(): string {
  const script = assetText('scripts', 'berth-firewall.sh').replace(/^DEFAULT_ARGS=\(\)$/m, `DEFAULT_ARGS=(${shellCommand([FIREWALL_DIR, ...FIREWALL_JUMPS])})`);
  return managedScript(script, 'the firewall');
}

// ---------------------------------------------------------------------------
// Saving and restoring the previous state around a change

/** Everything a change writes, relative to /, for the rollback archive. */
export const FIREWALL_FILES = [RULES_V4, RULES_V6, FIREWALL_SCRIPT, FIREWALL_UNIT_PATH];

/**
 * Saves the live filter tables, the files and whether the unit is enabled.
 * A family without a filter table yet is saved as an empty, accepting one,
 * so that restoring it undoes the new rules too.
 */
export function firewallBackupScript(savedFiles: readonly string[]): string {
  const relative = savedFiles.map((p) => p.replace(/^\//, ''));
  return [
    'set -euo pipefail',
    `install -d -m 0700 ${ROLLBACK_DIR}`,
    `cd ${ROLLBACK_DIR}`,
    'for family in 4 6; do',
    '  tool=iptables; [ "$family" = 4 ] || tool=ip6tables',
    '  "$tool-save" -t filter > "rules.v$family" 2>/dev/null || true',
    `  grep -q '^\\*filter' "rules.v$family" || printf '*filter\\n:INPUT ACCEPT [0:0]\\n:FORWARD ACCEPT [0:0]\\n:OUTPUT ACCEPT [0:0]\\nCOMMIT\\n' > "rules.v$family"`,
    'done',
    `systemctl is-enabled ${FIREWALL_UNIT} > unit-enabled 2>/dev/null || true`,
    'cat /proc/sys/kernel/random/boot_id > boot-id',
    `tar -C / --ignore-failed-read -cf files.tar ${relative.join(' ')} 2>/dev/null`,
  ].join('\n');
}

/**
 * Restores what the backup saved: files first (so that a reboot brings back
 * the old rules, not the new ones), then the live filter tables. After a
 * reboot inside the window the saved tables hold the Docker rules of the boot
 * before: berth's previous rules are loaded next to this boot's instead, or,
 * where berth had none, its chains are taken out.
 */
export function firewallRevertScript(savedFiles: readonly string[]): string {
  return [
    `cd ${ROLLBACK_DIR} || exit 1`,
    `systemctl disable ${FIREWALL_UNIT} 2>/dev/null`,
    `rm -f ${savedFiles.join(' ')}`,
    'tar -C / -xpf files.tar',
    'systemctl daemon-reload',
    `if grep -qx enabled unit-enabled; then systemctl enable ${FIREWALL_UNIT}; fi`,
    'if [ "$(cat /proc/sys/kernel/random/boot_id)" = "$(cat boot-id 2>/dev/null)" ]; then',
    '  iptables-restore -w < rules.v4',
    '  if [ -e /proc/net/if_inet6 ]; then ip6tables-restore -w < rules.v6; fi',
    'elif grep -qx enabled unit-enabled; then',
    `  systemctl restart ${FIREWALL_UNIT}`,
    'else',
    '  for tool in iptables ip6tables; do',
    '    [ "$tool" = iptables ] || [ -e /proc/net/if_inet6 ] || continue',
    '    "$tool" -w -P INPUT ACCEPT; "$tool" -w -P OUTPUT ACCEPT',
    `    for jump in ${FIREWALL_JUMPS.join(' ')}; do`,
    '      while "$tool" -w -D "${jump%%:*}" -j "${jump#*:}" 2>/dev/null; do :; done',
    '      if "$tool" -w -F "${jump#*:}" 2>/dev/null; then "$tool" -w -X "${jump#*:}"; fi',
    '    done',
    '  done',
    'fi',
  ].join('\n');
}

/** An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address to iptables. */
function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

/**
 * What would lock the user out if the new connection after the change fails:
 * SSH closed to the address berth connects from when the admin CIDRs leave it
 * out, or else a generic sentence (something outside berth's rules).
 */
export function lockoutRisk(answers: Answers, client: { address: string; sshPort: number }): string {
  const address = plainAddress(client.address);
  const cidrs = answers.firewall.adminCidrs;
  const port = `SSH (port ${client.sshPort})`;
  if (!isIP(address)) return `${port} might be closed to the address berth connects from, which the host did not report`;
  if (!cidrs.some((cidr) => cidrContains(cidr, address))) {
    return `${port} would be closed to ${address}, the address berth connects from, which is outside firewall.adminCidrs [${cidrs.join(', ')}]`;
  }
  return `the new rules allow ${port} from ${address}, the address berth connects from, yet a new connection failed: look for another firewall on the way or on the host`;
}
