import { createHash } from 'node:crypto';
import { everyHost, hostsWithRole, type ClusterHost, type PeerFacts, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { shellCommand } from '../shell';
import { firstWithRole } from '../engine/cluster';
import { CERTS_D, removeCasScript } from '../render/docker';
import { REGISTRY_FILES, registryAddress, registryCaPath } from '../render/registry';
import { fileActions, markerPath, record } from './common';

/**
 * Every Docker host trusts the private registry's CA (certs.d, never
 * insecure-registries), copied from the registry host; the hosts that push
 * or pull the app image (app hosts) are logged in, the password on stdin.
 * A record of both lets the next run take them back when the registry
 * moves to another host or the host stops pulling.
 */

const DOCKER_CONFIG = '/root/.docker/config.json';
const RECORD = markerPath('registry-access.json');

interface AccessRecord {
  /** The CA certificate's path in certs.d. */
  ca: string | null;
  /** The registry address docker login stored credentials for. */
  login: string | null;
}

function accessBefore(facts: Facts): AccessRecord {
  const given = record.read<AccessRecord>(facts, RECORD);
  return { ca: given?.ca?.startsWith(`${CERTS_D}/`) ? given.ca : null, login: given?.login ?? null };
}

/** The CA and login of a registry no longer this one: taken back before the record says the new ones. */
function formerAccessActions(previous: AccessRecord, now: AccessRecord): Action[] {
  const actions: Action[] = [];
  if (previous.ca && previous.ca !== now.ca) {
    actions.push({ kind: 'run', title: `remove the CA certificate of the former registry (${previous.ca})`, script: removeCasScript([previous.ca]) });
  }
  if (previous.login && previous.login !== now.login) {
    actions.push({ kind: 'run', title: `docker logout ${previous.login} (the former registry)`, script: `${shellCommand(['docker', 'logout', previous.login])} >/dev/null` });
  }
  return actions;
}

/**
 * Prints the SHA-256 of the credentials docker login stored for a registry
 * (docker writes config.json indented, one key a line), so that the planner
 * can tell whether they are the answers' without the host printing them.
 */
export function storedLoginScript(address: string): string {
  const awk = 'index($0, reg) { found = 1; next } found && /"auth":/ { sub(/.*"auth": *"/, ""); sub(/".*/, ""); print; exit }';
  return `if [ -f ${DOCKER_CONFIG} ]; then ${shellCommand(['awk', '-v', `reg="${address}": {`, awk, DOCKER_CONFIG])} | tr -d '\\n' | sha256sum | cut -d' ' -f1; fi`;
}

/** What storedLoginScript prints once docker login stored these credentials. */
export function loginDigest(user: string, password: string): string {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return createHash('sha256').update(auth).digest('hex');
}

function target(ctx: Pick<PhaseContext, 'answers' | 'cluster'>): { host: ClusterHost; address: string } {
  const host = firstWithRole(ctx.cluster, 'registry');
  return { host, address: registryAddress(ctx.answers, host) };
}

/** The registry host's CA certificate, read for the phases of the other hosts. */
export const REGISTRY_CA_PEER: PeerFacts = {
  what: "the registry's CA certificate",
  from: (cluster) => [firstWithRole(cluster, 'registry')],
  query: () => ({ files: [REGISTRY_FILES.caCert.path] }),
};

export const registryAccessPhase: Phase = {
  name: 'registry-access',
  title: 'registry access',
  appliesTo: everyHost,
  peers: REGISTRY_CA_PEER,
  query(ctx) {
    const { host, address } = target(ctx);
    const pulls = hostsWithRole('app')(ctx.host);
    return { files: [registryCaPath(ctx.answers, host), RECORD], ...(pulls ? { probes: { login: storedLoginScript(address) } } : {}) };
  },
  plan(ctx, facts: Facts): Action[] {
    const { host, address } = target(ctx);
    const path = registryCaPath(ctx.answers, host);
    const ca = ctx.peers[host.name]?.files[REGISTRY_FILES.caCert.path]?.content;
    const actions: Action[] = [];
    if (ca === undefined || facts.files[path]?.content !== ca || facts.files[path]?.mode !== 0o644) {
      actions.push({ kind: 'copy', from: { host: host.name, path: REGISTRY_FILES.caCert.path }, path, mode: 0o644, ...(ca === undefined ? {} : { expected: ca }) });
    }
    const { user, password } = ctx.answers.registry;
    const loginPassword = hostsWithRole('app')(ctx.host) ? password : undefined;
    const now: AccessRecord = { ca: path, login: loginPassword ? address : null };
    actions.push(...formerAccessActions(accessBefore(facts), now));
    if (loginPassword) {
      const digest = loginDigest(user, loginPassword.reveal());
      // Probe output comes without its trailing newline (command substitution).
      if (facts.probes.login.out.trim() !== digest) {
        actions.push({
          kind: 'run',
          title: `docker login ${address} as ${user}`,
          script: `${shellCommand(['docker', 'login', '--username', user, '--password-stdin', address])} >/dev/null`,
          stdin: loginPassword,
          effects: [{ probe: 'login', code: 0, out: digest }],
        });
      }
    }
    actions.push(...fileActions(facts, [record.file(RECORD, now)]));
    return actions;
  },
};
