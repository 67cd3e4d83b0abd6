import type { Phase } from '../engine/phase';
import { adminPhase } from './admin';
import { appPhase } from './app';
import { appImagePhase } from './app-image';
import { appPrunePhase } from './app-prune';
import { dbPhase, dbRollPhase } from './db';
import { deployUserPhase } from './deploy-user';
import { dnsPhase } from './dns';
import { dnsForwarderPhase, dnsForwarderReleasePhase } from './dns-forwarder';
import { dockerPhase } from './docker';
import { firewallPhase } from './firewall';
import { preflightPhase } from './preflight';
import { registryPhase } from './registry';
import { registryAccessPhase } from './registry-access';
import { registryPrunePhase } from './registry-prune';
import { retirePhase } from './retire';
import { sshPhase } from './ssh';
import { verifyPhase } from './verify';
import { watchdogPhase } from './watchdog';

/** The install, in order. Each phase waits for the one before it; its hosts run in parallel unless the phase gives a sequence. */
export const PHASES: readonly Phase[] = [preflightPhase, adminPhase, dnsForwarderPhase, dnsPhase, dnsForwarderReleasePhase, dockerPhase, firewallPhase, sshPhase, registryPhase, registryAccessPhase, appImagePhase, watchdogPhase, dbPhase, dbRollPhase, appPhase, deployUserPhase, appPrunePhase, registryPrunePhase, retirePhase, verifyPhase];
