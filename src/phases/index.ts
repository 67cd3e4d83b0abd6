import type { Answers } from '../answers/schema';
import type { ClusterHost, Phase } from '../engine/phase';
import { adminPhase } from './admin';
import { dnsPhase } from './dns';
import { dnsForwarderPhase } from './dns-forwarder';
import { dockerPhase } from './docker';
import { firewallPhase } from './firewall';
import { preflightPhase } from './preflight';
import { sshPhase } from './ssh';

/** The install, in order. Each phase waits for the one before it; its hosts run in parallel. */
export const PHASES: readonly Phase[] = [preflightPhase, adminPhase, dnsForwarderPhase, dnsPhase, dockerPhase, firewallPhase, sshPhase];

/** Hosts as the answers describe them, before any connection tells more. */
export function clusterFromAnswers(answers: Answers): ClusterHost[] {
  return answers.hosts.map((h) => ({
    name: h.name,
    address: h.address,
    clusterAddress: h.privateAddress ?? h.address,
    roles: h.roles ?? [],
  }));
}
