import type { Answers } from '../answers/schema';
import type { PhaseContext } from '../engine/phase';
import type { Facts, FactsQuery, InstallerFact } from '../engine/plan';
import { appProjectName, appServices } from '../phases/app';
import { galeraStateScript, localNodes, localProxy } from '../phases/db';
import { FIREWALL_LIVE_SCRIPT } from '../phases/firewall';
import { parseReach, reachScript, reachTargets, type Diagnosis } from '../phases/preflight';
import { expectationMet, registryExpectations, siteExpectations, type Expectation } from '../phases/verify';
import { dbProjectName } from '../render/db';
import { REGISTRY_FILES, registryComposeSpec } from '../render/registry';

/**
 * What `berth status` reads of a host (one read-only query) and how it judges
 * it: each finding ok, warn or fail; a host with a failing one is degraded.
 * The containers judged are the ones the answers put on the host, found by
 * their Compose labels, so an operator's own containers are never judged.
 */

export interface ContainerState {
  project: string;
  service: string;
  state: string;
  /** healthy, unhealthy, starting, or none (no healthcheck). */
  health: string;
  image: string;
}

export interface GaleraNodeState {
  node: string;
  /** wsrep_local_state (4 is Synced), null when the node did not answer. */
  state: number | null;
  status: string | null;
  size: number | null;
}

export interface HostHealth {
  checks: Diagnosis[];
  containers: ContainerState[];
  galera: GaleraNodeState[];
}

const DISK_WARN_PERCENT = 85;
const DISK_FAIL_PERCENT = 95;

/** wsrep_local_state's names (Galera's documentation). */
const WSREP_STATES: Record<number, string> = { 1: 'Joining', 2: 'Donor/Desynced', 3: 'Joined', 4: 'Synced' };

const CONTAINER_FORMAT =
  '{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.Config.Image}}';

/** Every Compose container on the host, one line each: project service state health image. */
const CONTAINERS_SCRIPT = `ids=$(docker ps --all --quiet --filter label=com.docker.compose.project)\n[ -z "$ids" ] || docker inspect --format '${CONTAINER_FORMAT}' $ids`;

/** The services the answers run on this host, by Compose project; one-shot services (migrate) are not among them. */
export function expectedServices(ctx: PhaseContext): { project: string; service: string }[] {
  const { roles } = ctx.host;
  const registry = registryComposeSpec(ctx.answers);
  return [
    ...(roles.includes('registry') ? Object.keys(registry.services).map((service) => ({ project: registry.name!, service })) : []),
    ...(roles.includes('app') ? appServices(ctx).map((service) => ({ project: appProjectName(ctx), service })) : []),
    ...(roles.includes('db') ? [...localNodes(ctx), ...localProxy(ctx)].map((service) => ({ project: dbProjectName(ctx.answers), service })) : []),
  ];
}

/** Where images come from: the mirrors of the answers and Docker Hub (Docker's apt repository matters to an install only). */
function imageSources(answers: Answers, osId: string): Record<string, string> {
  return Object.fromEntries(Object.entries(reachTargets(answers, osId)).filter(([name]) => name !== 'dockerApt'));
}

export function healthQuery(ctx: PhaseContext): FactsQuery {
  return {
    // The registry's CA, for this machine's requests to it.
    files: ctx.host.roles.includes('registry') ? [REGISTRY_FILES.caCert.path] : [],
    probes: {
      docker: `docker version --format '{{.Server.Version}}' && docker compose version --short`,
      firewall: FIREWALL_LIVE_SCRIPT,
      reach: reachScript(imageSources(ctx.answers, ctx.info.osId)),
      disk: `df -P / /var/lib/docker 2>/dev/null | awk 'NR > 1 {print $6, $5}'`,
      containers: CONTAINERS_SCRIPT,
      ...(ctx.host.roles.includes('db') ? { galera: galeraStateScript(ctx) } : {}),
    },
  };
}

/** The requests this machine makes for a host: to the registry on the registry host (with its CA, from `facts`), to the site on an lb host. */
export function installerChecksOf(ctx: PhaseContext, facts: Facts): Expectation[] {
  return [...(ctx.host.roles.includes('registry') ? registryExpectations({ ...ctx, peers: { [ctx.host.name]: facts } }) : []), ...siteExpectations(ctx, [ctx.host])];
}

export function parseContainers(out: string): ContainerState[] {
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [project = '', service = '', state = '', health = '', image = ''] = line.trim().split(' ');
      return { project, service, state, health, image };
    });
}

export function parseGalera(out: string, nodes: readonly string[]): GaleraNodeState[] {
  const lines = new Map(out.split('\n').map((line) => [line.split(' ')[0], line.trim().split(' ').slice(1)]));
  return nodes.map((node) => {
    const [state, status, size] = lines.get(node) ?? [];
    return { node, state: state ? Number(state) : null, status: status ?? null, size: size ? Number(size) : null };
  });
}

function containerCheck(expected: { project: string; service: string }, found: ContainerState | undefined): Diagnosis {
  const label = `container ${expected.service}`;
  if (!found) return { label, status: 'fail', detail: `missing (Compose project ${expected.project})` };
  const image = `image ${found.image}`;
  if (found.state !== 'running') return { label, status: 'fail', detail: `${found.state}, ${image}` };
  if (found.health === 'unhealthy') return { label, status: 'fail', detail: `running but unhealthy, ${image}` };
  if (found.health === 'starting') return { label, status: 'fail', detail: `(re)started, its health check not passed yet, ${image}` };
  return { label, status: 'ok', detail: `running${found.health === 'healthy' ? ', healthy' : ''}, ${image}` };
}

function galeraCheck(node: GaleraNodeState, size: number): Diagnosis {
  const label = `Galera ${node.node}`;
  if (node.state === null) return { label, status: 'fail', detail: 'does not answer (not running, or mariadbd not up)' };
  const detail = `${WSREP_STATES[node.state] ?? `state ${node.state}`}, ${node.status === 'Primary' ? 'in the Primary component' : `${node.status} (not Primary: it refuses writes)`}, cluster of ${node.size} of ${size}`;
  return { label, status: node.state === 4 && node.status === 'Primary' && node.size === size ? 'ok' : 'fail', detail };
}

function installerCheck(e: Expectation, fact: InstallerFact | undefined): Diagnosis {
  if (fact && expectationMet(e, fact)) return { label: 'from this machine', status: 'ok', detail: e.title };
  const got = !fact ? 'no answer' : fact.status === 0 ? (fact.error ?? 'no answer') : `HTTP ${fact.status}${e.expectSeen ? `, served by ${(fact.seen ?? []).join(', ') || 'no replica named'}` : ''}`;
  return { label: 'from this machine', status: 'fail', detail: `${e.title}: ${got}` };
}

/** The verdict on one host, from its facts and this machine's answers to installerChecksOf. */
export function judgeHealth(ctx: PhaseContext, facts: Facts, installer: Record<string, InstallerFact> = {}): HostHealth {
  const { info, answers } = ctx;
  const checks: Diagnosis[] = [{ label: 'system', status: 'ok', detail: `${info.osName}, ${info.arch}` }];

  const docker = facts.probes.docker;
  const [server, compose] = docker.out.trim().split('\n');
  checks.push(docker.code === 0 ? { label: 'Docker', status: 'ok', detail: `Docker ${server}, Compose ${compose}` } : { label: 'Docker', status: 'fail', detail: `the Docker daemon does not answer: ${docker.out.trim().split('\n').pop() || `exit ${docker.code}`}` });

  const firewall = facts.probes.firewall;
  checks.push(firewall.code === 0 ? { label: 'firewall', status: 'ok', detail: 'active, with the rules berth wrote' } : { label: 'firewall', status: 'fail', detail: firewall.out.trim() || 'not as berth left it' });

  const reach = parseReach(facts.probes.reach.out);
  // The mirrors first, in the answers' order, then Docker Hub (the probe answers in whatever order its checks end).
  const images = reach.filter((r) => r.name !== 'apt').sort((a, b) => (a.name === 'dockerHub' ? 1 : 0) - (b.name === 'dockerHub' ? 1 : 0) || a.name.localeCompare(b.name, 'en', { numeric: true }));
  const named = (r: (typeof reach)[number]) => `${r.url.replace(/\/v2\/$/, '')}: ${r.detail}`;
  checks.push({ label: 'image sources', status: images.some((r) => r.ok) ? 'ok' : 'fail', detail: images.length === 0 ? 'none checked' : images.map(named).join('; ') });
  for (const apt of reach.filter((r) => r.name === 'apt')) checks.push({ label: 'package mirror', status: apt.ok ? 'ok' : 'warn', detail: named(apt) });

  const disks = [...new Map(facts.probes.disk.out.trim().split('\n').filter(Boolean).map((line) => line.split(' ') as [string, string])).entries()];
  for (const [mount, used] of disks) {
    const percent = parseInt(used, 10);
    checks.push({ label: `disk ${mount}`, status: percent >= DISK_FAIL_PERCENT ? 'fail' : percent >= DISK_WARN_PERCENT ? 'warn' : 'ok', detail: `${used} used` });
  }

  const containers = parseContainers(facts.probes.containers.out);
  const expected = expectedServices(ctx);
  const ours = (c: { project: string; service: string }) => expected.some((e) => e.project === c.project && e.service === c.service);
  for (const e of expected) checks.push(containerCheck(e, containers.find((c) => c.project === e.project && c.service === e.service)));
  const berthProjects = new Set(expected.map((e) => e.project));
  for (const c of containers.filter((c) => berthProjects.has(c.project) && !ours(c) && c.service !== 'migrate')) {
    checks.push({ label: `container ${c.service}`, status: 'warn', detail: `${c.state}, not in the answers for this host (Compose project ${c.project})` });
  }

  const galera = ctx.host.roles.includes('db') ? parseGalera(facts.probes.galera.out, localNodes(ctx)) : [];
  for (const node of galera) checks.push(galeraCheck(node, answers.db.nodes));

  for (const e of installerChecksOf(ctx, facts)) checks.push(installerCheck(e, installer[e.fact]));
  return { checks, containers: containers.filter((c) => berthProjects.has(c.project)), galera };
}
