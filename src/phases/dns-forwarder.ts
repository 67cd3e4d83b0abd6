import { expandUpstreams } from '../answers/presets';
import { hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { DNSMASQ_CONF, DNSMASQ_DROP_IN, renderDnsmasqConf, renderDnsmasqDropIn } from '../render/dns';
import { configuredService, markerPath, type WantedFile } from './common';

/**
 * The DNS forwarder on the dns hosts (forwarder mode): dnsmasq answering
 * the cluster on this host's cluster address and the host itself on
 * 127.0.0.1, forwarding to the chosen upstreams (the smart DNS).
 */

export interface PackagedService {
  /** Names the marker of the configuration the service last (re)started with. */
  marker: string;
  files: readonly WantedFile[];
  packages: readonly string[];
  /** The systemd unit, and the package that brings it. */
  unit: string;
  unitPackage: string;
}

/**
 * Configuration first, then the packages that read it, then the service:
 * on a fresh host the package starts the service with berth's configuration
 * the first time; where it was installed before, the service restarts only
 * when its configuration changed or never took (configuredService), after a
 * daemon-reload when unit drop-ins are among the files. It ends enabled and
 * running either way.
 */
export function packagedService(facts: Facts, service: PackagedService): Action[] {
  const missing = service.packages.filter((p) => !facts.packages[p]);
  const install: Action[] = missing.length > 0 ? [{ kind: 'packages', install: missing }] : [];
  const fresh = !facts.packages[service.unitPackage];
  const reload: Action[] = service.files.some((f) => f.path.startsWith('/etc/systemd/')) ? [{ kind: 'service', unit: service.unit, op: 'daemon-reload' }] : [];
  const restart: Action[] = fresh ? [] : [...reload, { kind: 'service', unit: service.unit, op: 'restart' }];
  const configured = configuredService(facts, service.marker, service.files, [...install, ...restart]);
  const actions = configured.length > 0 ? configured : install;
  const unit = facts.units[service.unit];
  if (unit.enabled !== 'enabled' || (unit.active !== 'active' && !actions.some((a) => a.kind === 'service' && a.op === 'restart'))) {
    actions.push({ kind: 'service', unit: service.unit, op: 'enable-now' });
  }
  return actions;
}

function forwarderService(ctx: PhaseContext): PackagedService {
  const listen = [...new Set(['127.0.0.1', ctx.host.clusterAddress])];
  return {
    marker: 'dns-forwarder',
    files: [
      { path: DNSMASQ_CONF, content: renderDnsmasqConf(listen, expandUpstreams(ctx.answers.dns.upstreams)), mode: 0o644 },
      { path: DNSMASQ_DROP_IN, content: renderDnsmasqDropIn(), mode: 0o644 },
    ],
    packages: ['dnsmasq'],
    unit: 'dnsmasq.service',
    unitPackage: 'dnsmasq',
  };
}

const onDnsHosts = hostsWithRole('dns');

export const dnsForwarderPhase: Phase = {
  name: 'dns-forwarder',
  title: 'DNS forwarder',
  appliesTo: (host, answers) => answers.dns.mode === 'forwarder' && onDnsHosts(host),
  query(ctx) {
    const service = forwarderService(ctx);
    return { files: [...service.files.map((f) => f.path), markerPath(service.marker)], packages: [...service.packages], units: [service.unit] };
  },
  plan: (ctx, facts) => packagedService(facts, forwarderService(ctx)),
};
