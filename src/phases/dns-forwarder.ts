import { dirname } from 'node:path';
import { expandUpstreams } from '../answers/presets';
import type { Answers } from '../answers/schema';
import { hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action } from '../engine/plan';
import type { ClusterHost } from '../model';
import { removeEmptyDirs } from '../shell';
import { DNSMASQ_CONF, DNSMASQ_DROP_IN, renderDnsmasqConf, renderDnsmasqDropIn } from '../render/dns';
import { FIREWALL_SCRIPT, FIREWALL_UNIT, FIREWALL_UNIT_PATH, firewallCommand, renderDnsGuardRules, renderFirewallScript, renderFirewallUnit, RULES_V4, RULES_V6 } from '../render/firewall';
import { configuredService, configuredServiceFiles, markerPath, packagedService, type PackagedService, type WantedFile } from './common';

/**
 * The DNS forwarder on the dns hosts (forwarder mode): dnsmasq answering
 * the cluster on this host's cluster address and the host itself on
 * 127.0.0.1, forwarding to the chosen upstreams (the smart DNS).
 *
 * dnsmasq has no list of clients, and a cluster address may be public: until
 * the firewall phase (after Docker's install) the host would answer anyone.
 * So the firewall's loader and boot unit come first, with rules that let only
 * the cluster ask (renderDnsGuardRules); the firewall phase later writes its
 * full rules into the same files, and this phase leaves them alone from then on.
 */

const GUARD_MARKER = 'dns-guard';
const FORWARDER_MARKER = 'dns-forwarder';
const DNSMASQ_UNIT = 'dnsmasq.service';
/** The firewall phase's marker: once it exists, the rules files are the firewall's. */
const FIREWALL_MARKER = markerPath('firewall');

function forwarderService(ctx: PhaseContext): PackagedService {
  const listen = [...new Set(['127.0.0.1', ctx.host.clusterAddress])];
  return {
    marker: FORWARDER_MARKER,
    files: [
      { path: DNSMASQ_CONF, content: renderDnsmasqConf(listen, expandUpstreams(ctx.answers.dns.upstreams)), mode: 0o644 },
      { path: DNSMASQ_DROP_IN, content: renderDnsmasqDropIn(), mode: 0o644 },
    ],
    packages: ['dnsmasq'],
    unit: DNSMASQ_UNIT,
    unitPackage: 'dnsmasq',
  };
}

function guardFiles(ctx: PhaseContext): WantedFile[] {
  return [
    { path: RULES_V4, content: renderDnsGuardRules(ctx, 4), mode: 0o600 },
    { path: RULES_V6, content: renderDnsGuardRules(ctx, 6), mode: 0o600 },
    { path: FIREWALL_SCRIPT, content: renderFirewallScript(), mode: 0o755 },
    { path: FIREWALL_UNIT_PATH, content: renderFirewallUnit(), mode: 0o644 },
  ];
}

const LOAD_GUARD: Action[] = [
  { kind: 'service', unit: FIREWALL_UNIT, op: 'daemon-reload' },
  { kind: 'service', unit: FIREWALL_UNIT, op: 'enable' },
  { kind: 'run', title: `load the rules that let only the cluster ask the DNS forwarder (restart ${FIREWALL_UNIT})`, script: `systemctl restart ${FIREWALL_UNIT}\n${firewallCommand('check')}` },
];

const onDnsHosts = hostsWithRole('dns');
const forwards = (host: ClusterHost, answers: Answers): boolean => answers.dns.mode === 'forwarder' && onDnsHosts(host);

export const dnsForwarderPhase: Phase = {
  name: 'dns-forwarder',
  title: 'DNS forwarder',
  appliesTo: forwards,
  query(ctx) {
    const service = forwarderService(ctx);
    return {
      files: [...configuredServiceFiles(GUARD_MARKER, guardFiles(ctx)), FIREWALL_MARKER, ...service.files.map((f) => f.path), markerPath(service.marker)],
      packages: ['iptables', ...service.packages],
      units: [service.unit],
    };
  },
  plan(ctx, facts) {
    // Before dnsmasq's package, which starts it listening everywhere with its own configuration if berth's is not there yet.
    const guard: Action[] = facts.files[FIREWALL_MARKER]
      ? []
      : [...(facts.packages.iptables ? [] : [{ kind: 'packages' as const, install: ['iptables'] }]), ...configuredService(facts, GUARD_MARKER, guardFiles(ctx), LOAD_GUARD)];
    return [...guard, ...packagedService(facts, forwarderService(ctx))];
  },
};

/**
 * On a host that forwards no more (dns.mode is not forwarder, or the host
 * lost the dns role), after the dns phase has pointed every resolver
 * elsewhere: dnsmasq stopped and disabled, berth's configuration of it
 * gone. The package stays: berth cannot tell whether it was there before.
 */
export const dnsForwarderReleasePhase: Phase = {
  name: 'dns-forwarder-release',
  title: 'DNS forwarder release',
  appliesTo: (host, answers) => !forwards(host, answers),
  query: () => ({ files: [DNSMASQ_CONF, DNSMASQ_DROP_IN, markerPath(FORWARDER_MARKER), markerPath(GUARD_MARKER)], units: [DNSMASQ_UNIT] }),
  plan(_ctx, facts) {
    const actions: Action[] = [];
    const configured = facts.files[DNSMASQ_CONF] !== null || facts.files[DNSMASQ_DROP_IN] !== null;
    const unit = facts.units[DNSMASQ_UNIT];
    if (configured && (unit.enabled === 'enabled' || unit.active === 'active')) actions.push({ kind: 'service', unit: DNSMASQ_UNIT, op: 'disable-now' });
    if (facts.files[DNSMASQ_CONF]) actions.push({ kind: 'remove', path: DNSMASQ_CONF });
    if (facts.files[DNSMASQ_DROP_IN]) {
      const dir = dirname(DNSMASQ_DROP_IN);
      actions.push(
        { kind: 'remove', path: DNSMASQ_DROP_IN },
        { kind: 'run', title: `remove ${dir} if empty`, script: removeEmptyDirs([dir]) },
        { kind: 'service', unit: DNSMASQ_UNIT, op: 'daemon-reload' },
      );
    }
    for (const marker of [FORWARDER_MARKER, GUARD_MARKER]) if (facts.files[markerPath(marker)]) actions.push({ kind: 'remove', path: markerPath(marker) });
    return actions;
  },
};
