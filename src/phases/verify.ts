import { isIP } from 'node:net';
import { hostsWithRole, type ClusterHost, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, InstallerCheck, InstallerFact } from '../engine/plan';
import { firstWithRole } from '../engine/cluster';
import { REGISTRY_CA_PEER } from './registry-access';
import { galeraHealthyState, galeraStateScript } from './db';
import { shq } from '../shell';
import { REGISTRY_FILES, registryAddressFromInstaller } from '../render/registry';

/**
 * What a user sees from the installer machine once the install is done: the
 * registry over HTTPS with berth's CA, refusing anonymous requests and
 * taking the answers' login; the site on every lb host, served by every
 * replica, its health check passing. A check that passes plans nothing; one that
 * does not becomes an action that waits for it, and fails saying what came
 * back.
 */

export interface Expectation {
  fact: string;
  title: string;
  check: InstallerCheck;
  expectStatus: number;
  expectSeen?: number;
}

/** The site on each lb host (of `hosts`), as a browser there would reach it: 200, and /healthz 200 from every replica (by X-Served-By). */
export function siteExpectations(ctx: Pick<PhaseContext, 'answers' | 'cluster'>, hosts: readonly ClusterHost[] = ctx.cluster): Expectation[] {
  const replicas = ctx.answers.app.replicas;
  return hosts
    .filter((h) => h.roles.includes('lb'))
    .flatMap((h) => {
      const base = siteUrl(h);
      return [
        { fact: `site-${h.name}`, title: `${base} answers 200`, check: { url: base }, expectStatus: 200 },
        // /healthz: cheap (no write), answered by every replica with its X-Served-By.
        {
          fact: `health-${h.name}`,
          title: `${base}healthz answers 200 from all ${replicas} replicas (each reaches the database)`,
          check: { url: `${base}healthz`, sample: { header: 'X-Served-By', requests: replicas * 4 } },
          expectStatus: 200,
          expectSeen: replicas,
        },
      ];
    });
}

/** The app's address on an lb host, as berth prints it at the end of an install. */
export function siteUrl(host: Pick<ClusterHost, 'address'>): string {
  return `http://${isIP(host.address) === 6 ? `[${host.address}]` : host.address}/`;
}

/** What this machine must see of the registry: HTTPS with berth's CA (from the registry host, in `peers`), a login required and taken. */
export function registryExpectations(ctx: Pick<PhaseContext, 'answers' | 'cluster' | 'peers'>): Expectation[] {
  const host = firstWithRole(ctx.cluster, 'registry');
  // From this machine: the address berth reaches the host at, not its private cluster address.
  const url = `https://${registryAddressFromInstaller(ctx.answers, host)}/v2/`;
  // Before the registry phase first ran (a plan of a fresh cluster) there is no CA yet: the check then fails, as it should.
  const caPem = ctx.peers[host.name]?.files[REGISTRY_FILES.caCert.path]?.content ?? undefined;
  const { user, password } = ctx.answers.registry;
  const list: Expectation[] = [{ fact: 'anonymous', title: `${url} refuses requests without a login (401)`, check: { url, caPem }, expectStatus: 401 }];
  if (password) list.push({ fact: 'login', title: `${url} takes the registry login (200)`, check: { url, caPem, auth: { user, password } }, expectStatus: 200 });
  return list;
}

/** What this machine must see once the install is done: the registry and the site. */
function installerExpectations(ctx: Pick<PhaseContext, 'answers' | 'cluster' | 'peers'>): Expectation[] {
  return [...registryExpectations(ctx), ...siteExpectations(ctx)];
}

/** Whether an answer is what was expected: its status, and enough distinct values of a sampled header. */
export function expectationMet(e: Expectation, fact: InstallerFact): boolean {
  return fact.status === e.expectStatus && (fact.seen?.length ?? 0) >= (e.expectSeen ?? 0);
}

/** On a db host: the cluster's size as db.nodes says, every node Synced, the proxy running (as the db phase left it). */
function galeraCheck(ctx: PhaseContext): Action {
  return {
    kind: 'run',
    title: `the Galera cluster has ${ctx.answers.db.nodes} Synced nodes and its proxy runs`,
    script: `for i in $(seq 60); do state=$(${galeraStateScript(ctx)}); [ "$state" = ${shq(galeraHealthyState(ctx))} ] && exit 0; sleep 2; done\necho "the Galera cluster is not as expected: $state" >&2\nexit 1`,
    timeoutMs: 180_000,
    effects: [{ probe: 'galera', code: 0, out: `${galeraHealthyState(ctx)}\n` }],
  };
}

export const verifyPhase: Phase = {
  name: 'verify',
  title: 'verify',
  appliesTo: hostsWithRole('registry', 'db'),
  peers: REGISTRY_CA_PEER,
  query: (ctx) => ({
    ...(ctx.host.roles.includes('registry') ? { installer: Object.fromEntries(installerExpectations(ctx).map((e) => [e.fact, e.check])) } : {}),
    ...(ctx.host.roles.includes('db') ? { probes: { galera: galeraStateScript(ctx) } } : {}),
  }),
  plan(ctx, facts): Action[] {
    const fromHere: Action[] = ctx.host.roles.includes('registry')
      ? installerExpectations(ctx)
          .filter((e) => !expectationMet(e, facts.installer[e.fact]))
          .map((e) => ({ kind: 'installer-check', title: e.title, fact: e.fact, check: e.check, expectStatus: e.expectStatus, ...(e.expectSeen ? { expectSeen: e.expectSeen } : {}) }))
      : [];
    const galera = ctx.host.roles.includes('db') && facts.probes.galera.out.trim() !== galeraHealthyState(ctx) ? [galeraCheck(ctx)] : [];
    return [...fromHere, ...galera];
  },
};
