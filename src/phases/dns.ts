import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { everyHost, HostProblem, type Phase } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { shellCommand, shq } from '../shell';
import {
  DHCLIENT_HOOK,
  DHCPCD_ENTER_HOOK,
  hostDnsServers,
  namesToVerify,
  networkdDropInPath,
  NETWORKD_DROP_IN_NAME,
  renderDhclientHook,
  renderDhcpcdEnterHook,
  renderNetworkdDropIn,
  renderResolvConf,
  renderResolvedDropIn,
  RESOLV_CONF,
  RESOLVED_DROP_IN,
  SAVED_RESOLV_CONF,
} from '../render/dns';
import { MANAGED_BLOCK, withoutManagedBlock } from '../render/managed';
import { configuredService, fileActions, markerPath, type WantedFile } from './common';

/**
 * Points every host's resolver at the DNS mirror (the forwarders, or the
 * upstreams in direct mode) in the way its network stack keeps: a plain
 * /etc/resolv.conf that the DHCP client may no longer rewrite, or, where
 * systemd-resolved owns /etc/resolv.conf, a resolved drop-in whose catch-all
 * routing domain beats the servers DHCP hands to each link. Ends by
 * resolving the names the next phases need. The resolv.conf it replaces is
 * kept on the host; with dns.mode off, everything it wrote is taken out and
 * that resolv.conf put back.
 */

const RESOLVED_MARKER = 'dns-resolved';
const RESOLVED_UNIT = 'systemd-resolved.service';
const NETWORKD_UNIT = 'systemd-networkd.service';
const TOOLS_PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

/** How the host's resolver is configured, as the facts show it. */
export type ResolverFlavour =
  | { kind: 'resolv.conf'; symlink: string | null; dhclient: boolean; dhcpcd: boolean }
  | { kind: 'resolved'; networks: Record<string, string | null> };

const PROBES = {
  resolvConfLink: `readlink ${RESOLV_CONF}`,
  dhcpClients: `for c in dhclient dhcpcd; do ${TOOLS_PATH} command -v "$c" >/dev/null && echo "$c"; done; true`,
  savedResolvConf: `[ -e ${SAVED_RESOLV_CONF} ] || [ -L ${SAVED_RESOLV_CONF} ]`,
  // A plain file starting with berth's header (the first line of any resolv.conf berth renders).
  berthResolvConf: `[ ! -L ${RESOLV_CONF} ] && head -n1 ${RESOLV_CONF} | grep -qxF ${shq(renderResolvConf([]).split('\n')[0])}`,
  // Each .network file systemd-networkd reads (netplan writes its own to /run) with the hash of berth's drop-in for it, or "-".
  networks: [
    'for f in /etc/systemd/network/*.network /run/systemd/network/*.network; do',
    '  [ -e "$f" ] || continue',
    '  n=${f##*/}',
    `  d=/etc/systemd/network/$n.d/${NETWORKD_DROP_IN_NAME}`,
    '  if [ -f "$d" ]; then h=$(sha256sum < "$d"); echo "$n ${h%% *}"; else echo "$n -"; fi',
    'done | sort -u',
  ].join('\n'),
};

export function resolverFlavour(facts: Facts): ResolverFlavour {
  const link = facts.probes.resolvConfLink.code === 0 ? facts.probes.resolvConfLink.out.trim() : null;
  const resolvedOwnsIt = link !== null && /(^|\/)run\/systemd\/resolve\//.test(link) && facts.units[RESOLVED_UNIT].active === 'active';
  if (resolvedOwnsIt) return { kind: 'resolved', networks: parseNetworks(facts.probes.networks.out) };
  const clients = facts.probes.dhcpClients.out.split('\n').map((l) => l.trim());
  return { kind: 'resolv.conf', symlink: link, dhclient: clients.includes('dhclient'), dhcpcd: clients.includes('dhcpcd') };
}

function parseNetworks(out: string): Record<string, string | null> {
  const networks: Record<string, string | null> = {};
  for (const line of out.split('\n')) {
    const [name, hash] = line.trim().split(' ');
    if (name) networks[name] = hash && hash !== '-' ? hash : null;
  }
  return networks;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A resolver check: each name resolves within `attempts` tries a second apart, else a clear error. */
export function resolveCheckScript(names: readonly string[], servers: readonly string[], attempts: number): string {
  return [
    `for name in ${names.map(shq).join(' ')}; do`,
    '  ok=',
    `  for try in $(seq ${attempts}); do`,
    '    if timeout 10 getent ahosts "$name" >/dev/null; then ok=1; break; fi',
    `    [ "$try" = ${attempts} ] || sleep 1`,
    '  done',
    `  [ -n "$ok" ] || { echo "berth: $name does not resolve through the DNS servers "${shq(servers.join(', '))} >&2; exit 1; }`,
    'done',
  ].join('\n');
}

function resolvConfFiles(flavour: Extract<ResolverFlavour, { kind: 'resolv.conf' }>, facts: Facts, servers: string[]): WantedFile[] {
  return [
    { path: RESOLV_CONF, content: renderResolvConf(servers), mode: 0o644 },
    ...(flavour.dhclient ? [{ path: DHCLIENT_HOOK, content: renderDhclientHook(), mode: 0o644 }] : []),
    ...(flavour.dhcpcd ? [{ path: DHCPCD_ENTER_HOOK, content: renderDhcpcdEnterHook(facts.files[DHCPCD_ENTER_HOOK]?.content ?? null), mode: 0o644 }] : []),
  ];
}

const SAVED_DIR = dirname(SAVED_RESOLV_CONF);

const berthOwnsResolvConf = (facts: Facts): boolean => facts.probes.berthResolvConf.code === 0;

/** Before berth first writes /etc/resolv.conf: a copy of the one there, as it is (a symlink stays one), for dns.mode off to put back. */
function saveResolvConfAction(facts: Facts): Action[] {
  const exists = facts.files[RESOLV_CONF] !== null || facts.probes.resolvConfLink.code === 0;
  if (!exists || berthOwnsResolvConf(facts)) return [];
  return [
    {
      kind: 'run',
      title: `keep a copy of ${RESOLV_CONF} in ${SAVED_RESOLV_CONF} (put back when dns.mode is off)`,
      script: [
        shellCommand(['install', '-d', '-m', '0700', SAVED_DIR]),
        shellCommand(['cp', '-a', '--no-dereference', RESOLV_CONF, `${SAVED_RESOLV_CONF}.new`]),
        shellCommand(['mv', '-Tf', `${SAVED_RESOLV_CONF}.new`, SAVED_RESOLV_CONF]),
      ].join('\n'),
      effects: [{ probe: 'savedResolvConf', code: 0, out: '' }],
    },
  ];
}

function resolvConfActions(flavour: Extract<ResolverFlavour, { kind: 'resolv.conf' }>, facts: Facts, servers: string[]): Action[] {
  const files = resolvConfFiles(flavour, facts, servers);
  if (flavour.symlink === null) {
    const changes = fileActions(facts, files);
    return changes.some((a) => a.kind === 'file' && a.path === RESOLV_CONF) ? [...saveResolvConfAction(facts), ...changes] : changes;
  }
  // The upload renames the new file over the link, so there is never a moment without a resolv.conf;
  // the file is written even if the link's target held the same text.
  return [
    ...saveResolvConfAction(facts),
    ...files.map((f): Action => ({ kind: 'file', ...f })),
    {
      kind: 'run',
      title: `check that ${RESOLV_CONF} is a plain file now (it was a symlink to ${flavour.symlink})`,
      script: `test ! -L ${RESOLV_CONF}`,
      effects: [{ probe: 'resolvConfLink', code: 1, out: '' }],
    },
  ];
}

function resolvedActions(flavour: Extract<ResolverFlavour, { kind: 'resolved' }>, facts: Facts, servers: string[]): Action[] {
  const actions = configuredService(facts, RESOLVED_MARKER, [{ path: RESOLVED_DROP_IN, content: renderResolvedDropIn(servers), mode: 0o644 }], [
    { kind: 'service', unit: RESOLVED_UNIT, op: 'restart' },
  ]);
  const dropIn = renderNetworkdDropIn();
  const hash = sha256(dropIn);
  const stale = Object.entries(flavour.networks)
    .filter(([, current]) => current !== hash)
    .map(([name]) => name);
  if (stale.length > 0) {
    const reload = facts.units[NETWORKD_UNIT].active === 'active';
    actions.push({
      kind: 'run',
      title: `keep DHCP from setting DNS servers (drop-ins for ${stale.join(', ')})`,
      script: [
        ...stale.flatMap((name) => {
          const path = networkdDropInPath(name);
          return [shellCommand(['install', '-d', '-m', '0755', dirname(path)]), `printf '%s' ${shq(dropIn)} > ${shq(path)}`, shellCommand(['chmod', '0644', path])];
        }),
        // Takes effect at the link's next configuration; until then the catch-all domain already routes around the link's servers.
        ...(reload ? ['networkctl reload'] : []),
      ].join('\n'),
      effects: [{ probe: 'networks', code: 0, out: Object.keys(flavour.networks).map((name) => `${name} ${hash}`).join('\n') }],
    });
  }
  return actions;
}

/**
 * dns.mode off: what berth wrote goes, in the order that keeps the host
 * resolving: the resolv.conf it replaced first, then the hooks and drop-ins
 * that kept DHCP from rewriting it.
 */
function releaseActions(facts: Facts): Action[] {
  const actions: Action[] = [];
  if (berthOwnsResolvConf(facts)) {
    if (facts.probes.savedResolvConf.code !== 0) {
      throw new HostProblem(
        `dns.mode is off, and ${RESOLV_CONF} is the one berth wrote, but there is no copy of the one it replaced (berth versions before this one kept none)`,
        `Write the resolver configuration this host should have into ${RESOLV_CONF} (e.g. the nameserver DHCP gives), then run berth again.`,
      );
    }
    actions.push({
      kind: 'run',
      title: `put back the ${RESOLV_CONF} berth replaced (kept in ${SAVED_RESOLV_CONF})`,
      script: [
        shellCommand(['cp', '-a', '--no-dereference', SAVED_RESOLV_CONF, `${RESOLV_CONF}.berth-restore`]),
        shellCommand(['mv', '-Tf', `${RESOLV_CONF}.berth-restore`, RESOLV_CONF]),
        shellCommand(['rm', '-rf', '--', SAVED_DIR]),
      ].join('\n'),
      effects: [
        { probe: 'savedResolvConf', code: 1, out: '' },
        { probe: 'berthResolvConf', code: 1, out: '' },
      ],
    });
  } else if (facts.probes.savedResolvConf.code === 0) {
    // Put back by an earlier run that stopped before this.
    actions.push({ kind: 'run', title: `remove ${SAVED_DIR}`, script: shellCommand(['rm', '-rf', '--', SAVED_DIR]), effects: [{ probe: 'savedResolvConf', code: 1, out: '' }] });
  }
  if (facts.files[DHCLIENT_HOOK]) actions.push({ kind: 'remove', path: DHCLIENT_HOOK });
  const dhcpcdHook = facts.files[DHCPCD_ENTER_HOOK];
  if (dhcpcdHook?.content.includes(MANAGED_BLOCK.begin)) {
    const rest = withoutManagedBlock(dhcpcdHook.content);
    actions.push(rest === '' ? { kind: 'remove', path: DHCPCD_ENTER_HOOK } : { kind: 'file', path: DHCPCD_ENTER_HOOK, content: rest, mode: dhcpcdHook.mode, owner: dhcpcdHook.owner, group: dhcpcdHook.group });
  }
  if (facts.files[RESOLVED_DROP_IN]) {
    actions.push({ kind: 'remove', path: RESOLVED_DROP_IN });
    if (facts.units[RESOLVED_UNIT].active === 'active') actions.push({ kind: 'service', unit: RESOLVED_UNIT, op: 'restart' });
  }
  if (facts.files[markerPath(RESOLVED_MARKER)]) actions.push({ kind: 'remove', path: markerPath(RESOLVED_MARKER) });
  const networks = parseNetworks(facts.probes.networks.out);
  const withDropIn = Object.keys(networks).filter((name) => networks[name] !== null);
  if (withDropIn.length > 0) {
    actions.push({
      kind: 'run',
      title: `let DHCP set DNS servers again (remove the drop-ins for ${withDropIn.join(', ')})`,
      script: [
        ...withDropIn.flatMap((name) => {
          const path = networkdDropInPath(name);
          return [shellCommand(['rm', '-f', '--', path]), shellCommand(['rmdir', '--ignore-fail-on-non-empty', '--', dirname(path)])];
        }),
        ...(facts.units[NETWORKD_UNIT].active === 'active' ? ['networkctl reload'] : []),
      ].join('\n'),
      effects: [{ probe: 'networks', code: 0, out: Object.keys(networks).map((name) => `${name} -`).join('\n') }],
    });
  }
  return actions;
}

export const dnsPhase: Phase = {
  name: 'dns',
  title: 'DNS resolver',
  appliesTo: everyHost,
  query(ctx) {
    const off = ctx.answers.dns.mode === 'off';
    return {
      files: [RESOLV_CONF, DHCLIENT_HOOK, DHCPCD_ENTER_HOOK, RESOLVED_DROP_IN, markerPath(RESOLVED_MARKER)],
      units: [RESOLVED_UNIT, NETWORKD_UNIT],
      probes: { ...PROBES, ...(off ? {} : { resolves: resolveCheckScript(namesToVerify(ctx.answers), hostDnsServers(ctx.answers, ctx.cluster, ctx.host), 1) }) },
    };
  },
  plan(ctx, facts) {
    if (ctx.answers.dns.mode === 'off') return releaseActions(facts);
    const servers = hostDnsServers(ctx.answers, ctx.cluster, ctx.host);
    const flavour = resolverFlavour(facts);
    const actions = flavour.kind === 'resolved' ? resolvedActions(flavour, facts, servers) : resolvConfActions(flavour, facts, servers);
    if (actions.length > 0 || facts.probes.resolves.code !== 0) {
      const names = namesToVerify(ctx.answers);
      actions.push({
        kind: 'run',
        title: `check that ${names.join(', ')} resolve${names.length === 1 ? 's' : ''} through ${servers.join(', ')}`,
        script: resolveCheckScript(names, servers, 5),
        effects: [{ probe: 'resolves', code: 0, out: '' }],
      });
    }
    return actions;
  },
};
