import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Answers } from '../answers/schema';
import { assetText } from '../assets';
import { removeEmptyDirs, shellCommand } from '../shell';
import { managedHeader } from './managed';

/**
 * Docker's files: daemon.json merged into whatever the host already has, the
 * apt source of Docker's repository (or a mirror of it), and the CA
 * certificates of registries. Pure.
 */

export const DAEMON_JSON = '/etc/docker/daemon.json';
export const DOCKER_KEYRING = '/etc/apt/keyrings/docker.asc';
export const DOCKER_SOURCES = '/etc/apt/sources.list.d/docker.sources';
export const DOCKER_DOWNLOAD_BASE = 'https://download.docker.com/linux';
export const DOCKER_APT_AUTH = '/etc/apt/auth.conf.d/berth-docker.conf';
/** The primary key Docker signs its repositories with, as https://docs.docker.com/engine/install/ publishes it. */
export const DOCKER_KEY_FINGERPRINT = '9DC858229FC7DD38854AE2D88D81803C0EBFCD88';

/** The packages Docker's documentation installs from its repository. */
export const OFFICIAL_PACKAGES = ['docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin'];

/** The daemon settings berth owns; every other key of daemon.json is the admin's and stays. */
export function berthDaemonSettings(docker: Answers['docker'], dns: readonly string[]): Record<string, unknown> {
  return {
    'registry-mirrors': docker.registryMirrors,
    'log-driver': 'json-file',
    'log-opts': { 'max-size': docker.log.maxSize, 'max-file': String(docker.log.maxFile) },
    'live-restore': true,
    'userland-proxy': false,
    'no-new-privileges': true,
    ...(docker.dataRoot ? { 'data-root': docker.dataRoot } : {}),
    ...(dns.length > 0 ? { dns: [...dns] } : {}),
  };
}

export class DaemonJsonError extends Error {}

/**
 * The host's daemon.json with berth's settings laid over it: keys berth
 * does not own keep their values and places, berth's keys win, new ones go
 * last. Keys berth wrote before (`previous`) that the settings no longer
 * have are taken out, unless their value is no longer the one berth wrote
 * (an operator's now). Throws DaemonJsonError when the existing file is not
 * a JSON object (Docker would not start with it either).
 */
export function mergeDaemonJson(existing: string | null, settings: Record<string, unknown>, previous: Record<string, unknown> = {}): string {
  const current = parseDaemonJson(existing);
  for (const [key, value] of Object.entries(previous)) {
    if (!(key in settings) && isDeepStrictEqual(current[key], value)) delete current[key];
  }
  return `${JSON.stringify({ ...current, ...settings }, null, 2)}\n`;
}

/** daemon.json as an object ({} for no file or an empty one); DaemonJsonError when it is not a JSON object. */
export function parseDaemonJson(text: string | null): Record<string, unknown> {
  if (text === null || text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DaemonJsonError(`is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DaemonJsonError('does not hold a JSON object');
  return parsed as Record<string, unknown>;
}

/** Where Docker's repository for this OS is: Docker's site or the mirror from the answers. */
export function dockerRepositoryUrl(docker: Answers['docker'], osId: string): string {
  return `${(docker.aptMirror ?? DOCKER_DOWNLOAD_BASE).replace(/\/+$/, '')}/${osId}`;
}

/** The fingerprint the repository's key must have: Docker's unless the answers pin another. */
export function dockerKeyFingerprint(docker: Answers['docker']): string {
  return docker.aptKeyFingerprint ?? DOCKER_KEY_FINGERPRINT;
}

/**
 * assets/scripts/docker-apt-key.sh for a run action (`fetch`: the key from
 * keyUrl, moved into place only when it is the pinned one; `withAuth`: curl
 * reads its credentials from stdin) or a probe (`check`: the keyring holds
 * exactly the pinned key). Its arguments come first, as positional parameters.
 */
export function dockerKeyScript(mode: { fetch: string; withAuth: boolean } | 'check', fingerprint: string): string {
  const args = mode === 'check' ? ['--check', DOCKER_KEYRING, fingerprint] : [...(mode.withAuth ? ['--auth-stdin'] : []), mode.fetch, DOCKER_KEYRING, fingerprint];
  return `set -- ${shellCommand(args)}\n${assetText('scripts', 'docker-apt-key.sh')}`;
}

/** curl's config for the mirror's login (read from stdin: never on a command line); values quoted as curl's config syntax wants. */
export function curlAuthConfig(login: string, password: string): string {
  return `user = "${`${login}:${password}`.replace(/[\\"]/g, '\\$&')}"\n`;
}

/** apt's netrc-like entry for the mirror (apt_auth.conf(5)): host and path without the scheme, which then matches https only. */
export function renderAptAuth(mirrorUrl: string, login: string, password: string): string {
  return [
    managedHeader('the login of docker.aptMirror in the answers file').trimEnd(),
    `machine ${mirrorUrl.replace(/^https?:\/\//, '').replace(/\/+$/, '')}`,
    `login ${login}`,
    `password ${password}`,
    '',
  ].join('\n');
}

/** The deb822 source of Docker's repository, as Docker documents it, signed by its key only. */
export function renderDockerSources(repositoryUrl: string, codename: string, arch: string): string {
  return [
    managedHeader("Docker's apt repository (docker.source and docker.aptMirror in the answers file)").trimEnd(),
    'Types: deb',
    `URIs: ${repositoryUrl}`,
    `Suites: ${codename}`,
    'Components: stable',
    `Architectures: ${arch}`,
    `Signed-By: ${DOCKER_KEYRING}`,
    '',
  ].join('\n');
}

/** Docker reads certs.d/<registry>/ at every connection to that registry: no restart needed. */
export function trustedCaPath(registry: string): string {
  return `${CERTS_D}/${registry}/ca.crt`;
}

export const CERTS_D = '/etc/docker/certs.d';

/** Removes CA certificates berth wrote into certs.d, and their directories (certs.d too) once empty. */
export function removeCasScript(paths: readonly string[]): string {
  const dirs = [...new Set([...paths.map((path) => dirname(path)), CERTS_D])];
  return [shellCommand(['rm', '-f', '--', ...paths]), removeEmptyDirs(dirs)].join('\n');
}
