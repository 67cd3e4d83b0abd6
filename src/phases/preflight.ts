import type { Answers } from '../answers/schema';
import { everyHost, HostProblem, hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Facts } from '../engine/plan';
import { shq } from '../shell';
import { dbComposePath, localNodeNames } from '../render/db';
import { dockerRepositoryUrl } from '../render/docker';
import { installedNodesScript } from './db';
import { dockerPackages, ENGINE_PACKAGES, engineSwapProblem } from './docker';

/**
 * Preflight changes nothing. It checks that the host is one berth supports
 * and has room to work, and diagnoses what it can reach: the package
 * mirror, Docker's apt repository, the registry mirrors, Docker Hub. It
 * stops the run before any change when the images cannot come from anywhere
 * and nothing is configured that could help (the situation of a user whose
 * region Docker Hub blocks).
 */

export const SUPPORTED_OS: Record<string, string[]> = {
  debian: ['12', '13'],
  ubuntu: ['22.04', '24.04'],
};
export const SUPPORTED_ARCH = ['amd64', 'arm64'];
export const MINIMUM = { cpus: 1, memoryMb: 900, rootFreeMb: 4096 };
export const DOCKER_HUB = 'https://registry-1.docker.io/v2/';

export function unsupportedReason(ctx: PhaseContext): string | null {
  const { info } = ctx;
  const versions = SUPPORTED_OS[info.osId];
  if (!versions || !versions.includes(info.osVersion)) {
    return `${info.osName} is not supported; berth supports Debian 12 and 13, Ubuntu 22.04 and 24.04`;
  }
  if (!SUPPORTED_ARCH.includes(info.arch)) return `the ${info.arch} architecture is not supported; berth supports x86_64 (amd64) and arm64`;
  if (info.init !== 'systemd') return `PID 1 is "${info.init}", not systemd; berth needs systemd`;
  return null;
}

/** Memory a host needs: the base, and what its share of the stack takes (MariaDB nodes with Galera's cache, app replicas). */
const NODE_MEMORY_MB = 384;
const REPLICA_MEMORY_MB = 128;
/** The system and dockerd, beside the stack. */
const STACK_BASE_MEMORY_MB = 512;

function memoryNeededMb(ctx: PhaseContext): { mb: number; why: string } {
  const { roles } = ctx.host;
  const nodes = roles.includes('db') ? localNodeNames(ctx.answers, ctx.cluster, ctx.host).length : 0;
  const replicas = roles.includes('app') ? ctx.answers.app.replicas : 0;
  if (nodes + replicas === 0) return { mb: MINIMUM.memoryMb, why: '' };
  const parts = [...(nodes ? [`${nodes} MariaDB nodes × ${NODE_MEMORY_MB} MB`] : []), ...(replicas ? [`${replicas} app replicas × ${REPLICA_MEMORY_MB} MB`] : [])];
  const mb = Math.max(MINIMUM.memoryMb, STACK_BASE_MEMORY_MB + nodes * NODE_MEMORY_MB + replicas * REPLICA_MEMORY_MB);
  return { mb, why: `: ${STACK_BASE_MEMORY_MB} MB and ${parts.join(' and ')}; lower db.nodes or app.replicas, or give the host more memory` };
}

/**
 * Where the stack can run: the app and its load balancer together on one
 * host (one migration at a time, Nginx in front of local replicas); Galera on
 * that same host (all nodes there, the proxy on its Docker network) or on
 * three or more db hosts, one node each (render/db.ts galeraLayout).
 */
export function stackLayoutProblem(answers: Answers, cluster: PhaseContext['cluster']): string | null {
  const withRole = (role: 'app' | 'lb' | 'db') => cluster.filter((h) => h.roles.includes(role)).map((h) => h.name);
  const [app, lb, db] = [withRole('app'), withRole('lb'), withRole('db')];
  if (app.length > 1 || lb.length > 1 || app.join() !== lb.join()) {
    return `berth runs the roles app and lb together on one host (app: ${app.join(', ') || 'none'}; lb: ${lb.join(', ') || 'none'}): give both to one host in the answers file`;
  }
  if (db.length === 2) {
    return `two hosts have the db role (${db.join(', ')}): a Galera node on each would lose quorum when either host fails, and berth runs no arbitrator. Give the db role to one host (all db.nodes there) or to three or more (one node each)`;
  }
  if (db.length === 1 && app.length === 1 && app[0] !== db[0]) {
    return `with one db host, the app reaches the database on a Docker network of that host: give app, lb and db to one host (${db[0]} or ${app[0]}), or the db role to three or more hosts`;
  }
  if (db.length >= 3 && answers.db.nodes !== db.length) {
    return `${db.length} hosts have the db role (${db.join(', ')}) and db.nodes is ${answers.db.nodes}: with three or more db hosts berth runs one Galera node on each, so set db.nodes: ${db.length}${db.length % 2 === 0 ? ' (and give the db role to an odd number of hosts: an even cluster can split in halves that both lose quorum)' : ''}`;
  }
  return null;
}

function resourceProblems(ctx: PhaseContext): string[] {
  const { info } = ctx;
  const problems: string[] = [];
  if (info.cpus < MINIMUM.cpus) problems.push(`${info.cpus} CPUs (need ${MINIMUM.cpus})`);
  const memory = memoryNeededMb(ctx);
  if (info.memoryMb < memory.mb) problems.push(`${info.memoryMb} MB of memory (need ${memory.mb}${memory.why})`);
  if (info.rootFreeMb < MINIMUM.rootFreeMb) problems.push(`${info.rootFreeMb} MB free on / (need ${MINIMUM.rootFreeMb})`);
  return problems;
}

/** What to check from the host: name → URL. `apt` is read from the host's own sources. */
export function reachTargets(answers: Answers, osId: string): Record<string, string> {
  const targets: Record<string, string> = {};
  // The very key URL the Docker phase fetches.
  if (answers.docker.source === 'official') targets.dockerApt = `${dockerRepositoryUrl(answers.docker, osId)}/gpg`;
  answers.docker.registryMirrors.forEach((m, i) => (targets[`mirror${i}`] = `${m.replace(/\/$/, '')}/v2/`));
  targets.dockerHub = DOCKER_HUB;
  return targets;
}

/**
 * One read-only script checking every target in parallel, printing
 * "name url dns|http CODE" per target. Any HTTP answer proves the way is
 * open (a registry answers /v2/ with 200 or 401); certificates are not
 * judged here (-k): mirrors often use a private CA that Docker trusts later.
 */
export function reachScript(targets: Record<string, string>, aptSources = ['/etc/apt/sources.list', '/etc/apt/sources.list.d/']): string {
  const lines = [
    'check() {',
    '  local host',
    `  host=$(printf '%s' "$2" | sed -E 's#^[a-z]+://(\\[[^]]+\\]|[^/:]+).*#\\1#; s#^\\[|\\]$##g')`,
    '  if ! getent ahosts "$host" >/dev/null 2>&1; then echo "$1 $2 dns"; return; fi',
    '  if command -v curl >/dev/null 2>&1; then',
    `    echo "$1 $2 http $(curl -ksS -o /dev/null -w '%{http_code}' --connect-timeout 4 --max-time 8 "$2" 2>/dev/null || true)"`,
    '  else',
    // Without curl, an open TCP port is the best evidence there is.
    `    local port; port=$(printf '%s' "$2" | sed -nE 's#^[a-z]+://[^/]*:([0-9]+).*#\\1#p'); [ -n "$port" ] || { case "$2" in https:*) port=443;; *) port=80;; esac; }`,
    // Host and port as arguments: a host name from a URL may hold characters the inner shell would act on.
    `    if timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; then echo "$1 $2 tcp open"; else echo "$1 $2 tcp closed"; fi`,
    '  fi',
    '}',
    // The first archive of a deb line or deb822 URIs field (not a URL in a comment, not Docker's repository, checked apart);
    // no match must not end the script under `set -euo pipefail`.
    `apt=$(grep -rhsE --exclude='docker.*' '^[[:space:]]*(deb|deb-src|URIs:)[[:space:]]' ${aptSources.map(shq).join(' ')} | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)`,
    'check apt "${apt:-http://deb.debian.org/debian}/" &',
    ...Object.entries(targets).map(([name, url]) => `check ${shq(name)} ${shq(url)} &`),
    'wait',
  ];
  return lines.join('\n');
}

export interface Reach {
  name: string;
  url: string;
  ok: boolean;
  detail: string;
}

export function parseReach(out: string): Reach[] {
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, url, kind, code = ''] = line.split(' ');
      if (kind === 'dns') return { name, url, ok: false, detail: 'name not resolved' };
      if (kind === 'tcp') return { name, url, ok: code === 'open', detail: code === 'open' ? 'port open (curl is not installed: HTTP not checked)' : 'port closed or filtered' };
      const status = Number(code);
      const ok = status >= 200 && status < 500;
      return { name, url, ok, detail: ok ? `HTTP ${status}` : status ? `HTTP ${status}` : 'no answer' };
    });
}

export interface Diagnosis {
  label: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

const LABELS: Record<string, string> = { apt: 'package mirror', dockerApt: "Docker's apt repository", dockerHub: 'Docker Hub' };

/** The doctor's view of one host; the verdict is `fail` entries. */
export function diagnose(ctx: PhaseContext, facts: Facts): Diagnosis[] {
  const { answers, info } = ctx;
  const out: Diagnosis[] = [];
  const unsupported = unsupportedReason(ctx);
  out.push({ label: 'system', status: unsupported ? 'fail' : 'ok', detail: unsupported ?? `${info.osName}, ${info.arch}` });
  const short = resourceProblems(ctx);
  out.push({ label: 'resources', status: short.length ? 'fail' : 'ok', detail: short.length ? `too small: ${short.join(', ')}` : `${info.cpus} CPUs, ${info.memoryMb} MB memory, ${info.rootFreeMb} MB free on /` });
  const uid = facts.probes.root.out.trim();
  out.push({ label: 'root rights', status: uid === '0' ? 'ok' : 'fail', detail: uid === '0' ? `as ${info.loginUser}${info.loginUser === 'root' ? '' : ' through sudo'}` : 'commands do not run as root' });
  const clock = facts.probes.clock.out.trim();
  out.push({ label: 'clock', status: clock === 'yes' ? 'ok' : 'warn', detail: clock === 'yes' ? 'synchronised' : 'not known to be synchronised (TLS and Galera need a correct clock)' });

  const reach = parseReach(facts.probes.reach.out);
  const dnsHelps = answers.dns.mode !== 'off';
  for (const r of reach) {
    const label = LABELS[r.name] ?? `registry mirror ${r.url.replace(/\/v2\/$/, '')}`;
    // Unreachable now may be fine: berth's DNS phase runs first and may open the way (a smart DNS does exactly that).
    const status = r.ok ? 'ok' : r.name === 'dockerHub' || dnsHelps ? 'warn' : 'fail';
    out.push({ label, status, detail: `${r.url}: ${r.detail}` });
  }
  const images = reach.filter((r) => r.name === 'dockerHub' || r.name.startsWith('mirror'));
  if (!images.some((r) => r.ok) && !dnsHelps && answers.docker.registryMirrors.length === 0) {
    out.push({
      label: 'images',
      status: 'fail',
      detail: 'Docker Hub cannot be reached from this host and no mirror is configured: set dns.mode (forwarder or direct) with a smart DNS such as shecan, or docker.registryMirrors',
    });
  }
  return out;
}

/** The berth projects whose Compose projects this host has (/opt/berth/<project>/<app|db|registry>/compose.yaml), a line each. */
const PROJECTS_SCRIPT = 'find /opt/berth -mindepth 3 -maxdepth 3 -name compose.yaml 2>/dev/null | cut -d/ -f4 | sort -u';

/** A host that runs another project than the answers name: a renamed project would start empty beside the old one, so berth refuses. */
function renamedProjectProblem(ctx: PhaseContext, installed: string[]): HostProblem | null {
  const others = installed.filter((name) => name !== ctx.answers.project);
  if (others.length === 0) return null;
  const [old] = others;
  return new HostProblem(
    `this host runs the berth project "${old}" (/opt/berth/${old}), and the answers name the project "${ctx.answers.project}": berth does not rename a project (the new one would start with an empty database and registry, beside the old one's containers, which keep their ports)`,
    `Set project: ${old} back in the answers file. To start over under the new name: back up what you need, stop the old project (docker compose --file /opt/berth/${old}/<app, db or registry>/compose.yaml down, each there is), remove /opt/berth/${old} and /etc/berth/${old}, then rerun. Nothing was changed on any host.`,
  );
}

export const preflightPhase: Phase = {
  name: 'preflight',
  title: 'preflight',
  appliesTo: everyHost,
  query: (ctx) => ({
    packages: [...ENGINE_PACKAGES],
    probes: {
      root: 'id -u',
      clock: 'timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown',
      reach: reachScript(reachTargets(ctx.answers, ctx.info.osId)),
      projects: PROJECTS_SCRIPT,
      ...(hostsWithRole('db')(ctx.host) ? {} : { galeraNodes: installedNodesScript(ctx.answers) }),
    },
  }),
  plan(ctx, facts) {
    // A Docker source this host cannot use is known now: refuse before the DNS phases change anything.
    const docker = dockerPackages(ctx);
    if ('problem' in docker) throw docker.problem;
    const swap = engineSwapProblem(ctx, docker, facts.packages);
    if (swap) throw swap;
    const layout = stackLayoutProblem(ctx.answers, ctx.cluster);
    if (layout) throw new HostProblem(layout, 'Nothing was changed on any host.');
    const renamed = renamedProjectProblem(ctx, facts.probes.projects.out.split('\n').filter((name) => name !== ''));
    if (renamed) throw renamed;
    const nodes = hostsWithRole('db')(ctx.host) ? [] : facts.probes.galeraNodes.out.split('\n').filter((node) => node !== '');
    if (nodes.length > 0) {
      // The retire phase takes other roles' projects away; a database node holds data berth will not move.
      throw new HostProblem(
        `this host runs the Galera node${nodes.length > 1 ? 's' : ''} ${nodes.join(', ')}, and the answers no longer give it the db role; berth does not take a database node away`,
        `Give the host its db role back, or move the data yourself (a dump, then docker compose --file ${dbComposePath(ctx.answers)} down here) and rerun. Nothing was changed on any host.`,
      );
    }
    const failed = diagnose(ctx, facts).filter((d) => d.status === 'fail');
    if (failed.length > 0) {
      throw new HostProblem(failed.map((d) => `${d.label}: ${d.detail}`).join('; '), 'Nothing was changed on any host. `berth doctor` shows the whole diagnosis.');
    }
    return [];
  },
};
