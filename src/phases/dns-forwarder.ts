import { expandUpstreams } from '../answers/presets';
import { hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import { DNSMASQ_CONF, DNSMASQ_DROP_IN, renderDnsmasqConf, renderDnsmasqDropIn } from '../render/dns';
import { markerPath, packagedService, type PackagedService } from './common';

/**
 * The DNS forwarder on the dns hosts (forwarder mode): dnsmasq answering
 * the cluster on this host's cluster address and the host itself on
 * 127.0.0.1, forwarding to the chosen upstreams (the smart DNS).
 */

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
