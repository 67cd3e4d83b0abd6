import { isDeepStrictEqual } from 'node:util';
import { everyHost, HostProblem, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts, FactsQuery } from '../engine/plan';
import { containerDnsServers } from '../render/dns';
import {
  berthDaemonSettings,
  CERTS_D,
  curlAuthConfig,
  DAEMON_JSON,
  DaemonJsonError,
  DOCKER_APT_AUTH,
  DOCKER_KEYRING,
  DOCKER_SOURCES,
  dockerKeyFingerprint,
  dockerKeyScript,
  dockerRepositoryUrl,
  mergeDaemonJson,
  parseDaemonJson,
  removeCasScript,
  OFFICIAL_PACKAGES,
  renderAptAuth,
  renderDockerSources,
  trustedCaPath,
} from '../render/docker';
import { fileActions, markerPath, packagedService, record, type PackagedService, type WantedFile } from './common';

/**
 * Docker Engine with Compose v2, from Docker's apt repository (or a mirror
 * of it) or from the distribution, configured through daemon.json: registry
 * mirrors, log rotation, live-restore, no userland proxy, no-new-privileges,
 * the DNS mirror for containers. daemon.json is in place before the packages
 * are installed, so a fresh Docker starts with it; later runs restart Docker
 * only when it changed.
 */

/** gpg reads the fetched key's fingerprint (apt itself verifies with gpgv or sqv, which cannot show one). */
const PREREQUISITES = ['curl', 'ca-certificates', 'gpg'];
const DOCKER_UNIT = 'docker.service';
const DOCKER_MARKER = 'docker';
/** Engine and Compose v2 answer: the install is complete, whatever the packaging split. */
const WORKS_CHECK = "docker version --format '{{.Server.Version}}' && docker compose version --short";

/** What to install for docker.source on this host, or why it cannot be done. */
export type DockerPackages = { packages: string[]; unitPackage: string } | { problem: HostProblem };

export function dockerPackages(ctx: PhaseContext, source = ctx.answers.docker.source): DockerPackages {
  const { osId, osVersion } = ctx.info;
  if (source === 'official') return { packages: OFFICIAL_PACKAGES, unitPackage: 'docker-ce' };
  if (source === 'bundle') {
    return {
      problem: new HostProblem(
        'docker.source: bundle is not available yet',
        "Use docker.source: official (with docker.aptMirror when Docker's site is blocked) or docker.source: distro.",
      ),
    };
  }
  if (osId === 'ubuntu') return { packages: ['docker.io', 'docker-buildx', 'docker-compose-v2'], unitPackage: 'docker.io' };
  if (osId === 'debian' && osVersion === '12') {
    return {
      problem: new HostProblem(
        "Debian 12 packages only Docker Compose v1 (docker-compose 1.29), and berth needs Compose v2 (`docker compose`)",
        "Set docker.source: official in the answers file (Docker's apt repository, or a mirror of it in docker.aptMirror).",
      ),
    };
  }
  // Debian 13 packages the CLI apart from the engine; its docker-compose is Compose 2.x, the `docker compose` plugin.
  return { packages: ['docker.io', 'docker-cli', 'docker-buildx', 'docker-compose'], unitPackage: 'docker.io' };
}

/** The package of the Docker Engine each source installs (Debian's and Ubuntu's both docker.io). */
export const ENGINE_PACKAGES = ['docker-ce', 'docker.io'] as const;

/**
 * A host whose Docker Engine came from the other source: the two sources'
 * packages conflict, and swapping them stops every container, so berth
 * refuses (in preflight, before any change) and says how to switch by hand.
 * `wanted`: what the answers' source installs here (dockerPackages);
 * `installed`: the versions of ENGINE_PACKAGES on the host.
 */
export function engineSwapProblem(ctx: PhaseContext, wanted: { unitPackage: string }, installed: Facts['packages']): HostProblem | null {
  if (installed[wanted.unitPackage]) return null;
  const present = ENGINE_PACKAGES.find((p) => p !== wanted.unitPackage && installed[p]);
  if (!present) return null;
  const [source, from] = present === 'docker-ce' ? (['official', "Docker's apt repository"] as const) : (['distro', 'the distribution'] as const);
  const theirs = dockerPackages(ctx, source);
  // A source berth cannot use here (distro on Debian 12) is no way back.
  const back = 'problem' in theirs ? '' : `Set docker.source: ${source} back in the answers file. `;
  const remove = 'problem' in theirs ? [present] : theirs.packages;
  return new HostProblem(
    `Docker Engine on this host comes from ${from} (${present} ${installed[present]}), and the answers say docker.source: ${ctx.answers.docker.source}: berth does not swap a running Docker Engine for another (the packages conflict, and every container would stop)`,
    `${back}To switch: stop what runs in Docker, remove the installed packages (apt-get remove ${remove.join(' ')}; images, containers and volumes in /var/lib/docker stay), then run berth again. Nothing was changed on any host.`,
  );
}

/**
 * What berth wrote into Docker's configuration on the last run (its
 * daemon.json settings, its certs.d files, the files of Docker's apt
 * repository), so that what the answers no longer ask for is taken out
 * again, and nothing berth did not write.
 */
const WRITTEN_RECORD = markerPath('docker-written.json');

interface DockerWritten {
  daemon: Record<string, unknown>;
  certs: string[];
  apt: string[];
}

/** The files of Docker's apt repository berth may write. */
const APT_FILES = [DOCKER_KEYRING, DOCKER_SOURCES, DOCKER_APT_AUTH];

/** The record of the last run; a host without one (a first run, or a berth that kept none) has nothing of berth's to take out. */
function writtenBefore(facts: Facts): DockerWritten {
  const written = record.read<DockerWritten>(facts, WRITTEN_RECORD);
  return {
    daemon: written?.daemon ?? {},
    certs: (written?.certs ?? []).filter((path) => path.startsWith(`${CERTS_D}/`)),
    apt: (written?.apt ?? []).filter((path) => APT_FILES.includes(path)),
  };
}

function daemonSettings(ctx: PhaseContext): Record<string, unknown> {
  return berthDaemonSettings(ctx.answers.docker, containerDnsServers(ctx.answers, ctx.cluster));
}

/** Docker's data stays where it is: a data-root berth set that the answers change or drop is refused, not followed (Docker would start empty). */
function dataRootProblem(previous: Record<string, unknown>, settings: Record<string, unknown>, current: Record<string, unknown>): HostProblem | null {
  const was = previous['data-root'];
  if (was === undefined || isDeepStrictEqual(settings['data-root'], was) || !isDeepStrictEqual(current['data-root'], was)) return null;
  const now = settings['data-root'];
  return new HostProblem(
    `Docker keeps its data in ${String(was)} (docker.dataRoot), and the answers ${now === undefined ? 'no longer set it' : `now say ${String(now)}`}: berth does not move Docker's data`,
    `Put docker.dataRoot: ${String(was)} back into the answers file. To move the data: stop Docker, move ${String(was)}, set "data-root" in ${DAEMON_JSON} to the new place (or remove it for /var/lib/docker), start Docker, then run berth with docker.dataRoot as you set it.`,
  );
}

function daemonJson(ctx: PhaseContext, facts: Facts, previous: DockerWritten): WantedFile {
  const settings = daemonSettings(ctx);
  const existing = facts.files[DAEMON_JSON]?.content ?? null;
  try {
    const problem = dataRootProblem(previous.daemon, settings, parseDaemonJson(existing));
    if (problem) throw problem;
    return { path: DAEMON_JSON, content: mergeDaemonJson(existing, settings, previous.daemon), mode: 0o644 };
  } catch (err) {
    if (!(err instanceof DaemonJsonError)) throw err;
    throw new HostProblem(`${DAEMON_JSON} on this host ${err.message}`, `Fix or remove ${DAEMON_JSON}; berth keeps the settings it does not own and needs to read them.`);
  }
}

function caFiles(ctx: PhaseContext): WantedFile[] {
  return ctx.answers.docker.trustedCAs.map((t) => ({ path: trustedCaPath(t.registry), content: t.ca.pem, mode: 0o644 }));
}

/** The CA certificates berth wrote for registries docker.trustedCAs no longer lists, and their directories once empty. */
function staleCaActions(ctx: PhaseContext, previous: DockerWritten): Action[] {
  const wanted = new Set(caFiles(ctx).map((f) => f.path));
  const stale = previous.certs.filter((path) => !wanted.has(path));
  if (stale.length === 0) return [];
  return [{ kind: 'run', title: `remove the CA certificates of registries docker.trustedCAs no longer lists (${stale.join(', ')})`, script: removeCasScript(stale) }];
}

/** The files of Docker's apt repository this run keeps: the key, the source, and the mirror's login if it has one. */
function aptFiles(ctx: PhaseContext): string[] {
  const { source, aptMirror, aptAuth } = ctx.answers.docker;
  if (source !== 'official') return [];
  return [DOCKER_KEYRING, DOCKER_SOURCES, ...(aptMirror && aptAuth ? [DOCKER_APT_AUTH] : [])];
}

/** The record of this run, written last: what the next run may take out. */
function writtenRecord(ctx: PhaseContext): WantedFile {
  const written: DockerWritten = { daemon: daemonSettings(ctx), certs: caFiles(ctx).map((f) => f.path), apt: aptFiles(ctx) };
  return record.file(WRITTEN_RECORD, written);
}

/** Docker's apt repository, once the answers take Docker from elsewhere: the files berth wrote for it go (before any package install reads the sources). */
function staleAptActions(facts: Facts, previous: DockerWritten): Action[] {
  return previous.apt.filter((path) => facts.files[path]).map((path): Action => ({ kind: 'remove', path }));
}

function sourcesFile(ctx: PhaseContext): WantedFile {
  return { path: DOCKER_SOURCES, content: renderDockerSources(dockerRepositoryUrl(ctx.answers.docker, ctx.info.osId), ctx.info.osCodename, ctx.info.arch), mode: 0o644 };
}

/** The mirror's login for apt, root only; gone again when the answers no longer give one. */
function aptAuthActions(ctx: PhaseContext, facts: Facts): Action[] {
  const { aptMirror, aptAuth } = ctx.answers.docker;
  if (!aptMirror || !aptAuth) return facts.files[DOCKER_APT_AUTH] ? [{ kind: 'remove', path: DOCKER_APT_AUTH }] : [];
  return fileActions(facts, [{ path: DOCKER_APT_AUTH, content: renderAptAuth(aptMirror, aptAuth.login, aptAuth.password.reveal()), mode: 0o600, sensitive: true }]);
}

/**
 * Docker's repository: curl and gpg, the mirror's login, the key (checked
 * against the pinned fingerprint before it is used), then the source that
 * names it.
 */
function officialRepositoryActions(ctx: PhaseContext, facts: Facts): Action[] {
  const { docker } = ctx.answers;
  const actions: Action[] = [];
  const missing = PREREQUISITES.filter((p) => !facts.packages[p]);
  if (missing.length > 0) actions.push({ kind: 'packages', install: missing });
  actions.push(...aptAuthActions(ctx, facts));
  const sourcesChanged = fileActions(facts, [sourcesFile(ctx)]);
  // A changed source may be a different mirror with a different key.
  if (facts.probes.dockerKey.code !== 0 || sourcesChanged.length > 0) {
    const keyUrl = `${dockerRepositoryUrl(docker, ctx.info.osId)}/gpg`;
    const fingerprint = dockerKeyFingerprint(docker);
    actions.push({
      kind: 'run',
      title: `fetch Docker's apt key from ${keyUrl} (fingerprint ${fingerprint})`,
      script: dockerKeyScript({ fetch: keyUrl, withAuth: docker.aptAuth !== undefined }, fingerprint),
      ...(docker.aptAuth ? { stdin: docker.aptAuth.password.map((password) => curlAuthConfig(docker.aptAuth!.login, password)) } : {}),
      effects: [{ probe: 'dockerKey', code: 0, out: '' }],
      hint: 'Check docker.aptMirror, and docker.aptKeyFingerprint when the mirror signs with a key of its own.',
    });
  }
  return [...actions, ...sourcesChanged];
}

function dockerService(ctx: PhaseContext, facts: Facts, previous: DockerWritten, install: { packages: string[]; unitPackage: string }): PackagedService {
  return { marker: DOCKER_MARKER, files: [daemonJson(ctx, facts, previous)], packages: install.packages, unit: DOCKER_UNIT, unitPackage: install.unitPackage };
}

export const dockerPhase: Phase = {
  name: 'docker',
  title: 'Docker',
  appliesTo: everyHost,
  query(ctx): FactsQuery {
    const install = dockerPackages(ctx);
    const official = ctx.answers.docker.source === 'official';
    return {
      // Without official: whether the files of Docker's repository an earlier run wrote are still there.
      files: [DAEMON_JSON, markerPath(DOCKER_MARKER), WRITTEN_RECORD, ...caFiles(ctx).map((f) => f.path), ...(official ? [DOCKER_SOURCES, DOCKER_APT_AUTH] : APT_FILES)],
      packages: [...(official ? PREREQUISITES : []), ...('problem' in install ? [] : install.packages)],
      units: [DOCKER_UNIT],
      probes: { works: WORKS_CHECK, ...(official ? { dockerKey: dockerKeyScript('check', dockerKeyFingerprint(ctx.answers.docker)) } : {}) },
    };
  },
  plan(ctx, facts) {
    const install = dockerPackages(ctx);
    if ('problem' in install) throw install.problem;
    const previous = writtenBefore(facts);
    const actions = [
      ...(ctx.answers.docker.source === 'official' ? officialRepositoryActions(ctx, facts) : staleAptActions(facts, previous)),
      ...fileActions(facts, caFiles(ctx)),
      ...staleCaActions(ctx, previous),
      ...packagedService(facts, dockerService(ctx, facts, previous, install)),
      ...fileActions(facts, [writtenRecord(ctx)]),
    ];
    if (actions.length > 0 || facts.probes.works.code !== 0) {
      actions.push({
        kind: 'run',
        title: 'check that docker and docker compose work',
        script: `for try in $(seq 10); do docker version >/dev/null 2>&1 && break; sleep 1; done\n${WORKS_CHECK}`,
        effects: [{ probe: 'works', code: 0, out: '' }],
      });
    }
    return actions;
  },
};
