import type { Phase } from '../engine/phase';
import { adminPhase } from './admin';
import { dnsPhase } from './dns';
import { dnsForwarderPhase } from './dns-forwarder';
import { dockerPhase } from './docker';
import { firewallPhase } from './firewall';
import { preflightPhase } from './preflight';
import { sshPhase } from './ssh';

/** The install, in order. Each phase waits for the one before it; its hosts run in parallel. */
export const PHASES: readonly Phase[] = [preflightPhase, adminPhase, dnsForwarderPhase, dnsPhase, dockerPhase, firewallPhase, sshPhase];
