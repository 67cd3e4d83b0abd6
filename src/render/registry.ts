import { isIP } from 'node:net';
import { compareSync, hashSync } from 'bcryptjs';
import { stringify } from 'yaml';
import type { Answers } from '../answers/schema';
import type { Secret } from '../answers/secret';
import { assetText } from '../assets';
import type { ClusterHost } from '../model';
import { shellCommand } from '../shell';
import { type ComposeSpec } from './compose';
import { trustedCaPath } from './docker';
import { managedHeader } from './managed';

/**
 * The private registry (distribution's registry:2) on its host: its
 * configuration, TLS and htpasswd files, and the Compose project that runs
 * it. Pure: answers and the registry host in, text out.
 *
 * On the host, all root:root: the CA in REGISTRY_CA_DIR (0700), never mounted
 * into a container; what the registry reads in REGISTRY_DIR (0700), mounted
 * read-only at the same path in its container.
 */

export const REGISTRY_CA_DIR = '/etc/berth/registry-ca';
export const REGISTRY_DIR = '/etc/berth/registry';

/** Every file of the registry's configuration, with its mode; the names under the two directories are those assets/scripts/registry-tls.sh writes. */
export const REGISTRY_FILES = {
  caKey: { path: `${REGISTRY_CA_DIR}/ca.key`, mode: 0o600 },
  caCert: { path: `${REGISTRY_CA_DIR}/ca.crt`, mode: 0o644 },
  serverKey: { path: `${REGISTRY_DIR}/server.key`, mode: 0o600 },
  serverCert: { path: `${REGISTRY_DIR}/server.crt`, mode: 0o644 },
  htpasswd: { path: `${REGISTRY_DIR}/htpasswd`, mode: 0o600 },
  config: { path: `${REGISTRY_DIR}/config.yml`, mode: 0o644 },
} as const;

/** Where the Compose file goes: beside the project's other stacks. */
export function registryComposePath(answers: Answers): string {
  return `/opt/berth/${answers.project}/registry/compose.yaml`;
}

/** The registry's port in its container; `registry.port` publishes it. */
const CONTAINER_PORT = 5000;
/** The debug server (health at /debug/health), on the container's own loopback: nothing publishes it. */
const DEBUG_ADDR = '127.0.0.1:5001';
const DATA_DIR = '/var/lib/registry';
/** Days a server certificate lasts: the most Apple's TLS clients accept, and berth renews it 30 days before. */
export const SERVER_CERT_DAYS = 825;

/**
 * config.yml. No http.secret: it signs upload state between instances behind
 * one load balancer; a single registry makes its own at start (an upload in
 * flight during a restart starts again). Log rotation is the daemon's
 * (docker.log in the answers).
 */
export function renderRegistryConfig(): string {
  const config = {
    version: 0.1,
    log: { fields: { service: 'registry' } },
    storage: {
      filesystem: { rootdirectory: DATA_DIR },
      // Deleting manifests through the API, so that garbage collection can reclaim their blobs.
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: {
      addr: `:${CONTAINER_PORT}`,
      tls: { certificate: REGISTRY_FILES.serverCert.path, key: REGISTRY_FILES.serverKey.path },
      headers: { 'X-Content-Type-Options': ['nosniff'] },
      debug: { addr: DEBUG_ADDR },
    },
    auth: { htpasswd: { realm: 'berth registry', path: REGISTRY_FILES.htpasswd.path } },
    health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
  };
  return `${managedHeader('the registry (registry in the answers file)')}${stringify(config, { lineWidth: 0 })}`;
}

/** The Compose project "<project>-registry": registry:2 with a read-only root, no capabilities, data in a named volume. */
export function registryComposeSpec(answers: Answers): ComposeSpec {
  return {
    name: `${answers.project}-registry`,
    services: {
      registry: {
        image: 'registry:2',
        // The image's entrypoint serves a *.yml argument.
        command: [REGISTRY_FILES.config.path],
        ports: [{ target: CONTAINER_PORT, published: answers.registry.port, protocol: 'tcp' }],
        volumes: [
          { type: 'volume', source: 'data', target: DATA_DIR },
          { type: 'bind', source: REGISTRY_DIR, target: REGISTRY_DIR, read_only: true },
        ],
        read_only: true,
        cap_drop: ['ALL'],
        security_opt: ['no-new-privileges:true'],
        // busybox wget in the official image (Debian's wget in the test stand-in).
        healthcheck: { test: ['CMD', 'wget', '-q', '-O', '/dev/null', `http://${DEBUG_ADDR}/debug/health`], interval: '10s', timeout: '5s', retries: 3, start_period: '10s' },
        restart: 'unless-stopped',
      },
    },
    volumes: { data: {} },
  };
}

// ---------------------------------------------------------------------------
// htpasswd: berth owns the whole file, one line for registry.user.

/** bcrypt's cost. The registry checks the password on every request of a push or pull: 10 costs about 0.1 s in bcryptjs here, 12 about 0.3 s. */
const BCRYPT_COST = 10;

/** The htpasswd file for `user` (bcrypt, $2b$, which the registry's golang.org/x/crypto/bcrypt reads like $2a$ and $2y$). A new salt every time. */
export function htpasswdFor(user: string, password: Secret): string {
  return `${managedHeader('the registry users (registry.user and registry.password in the answers file)')}${user}:${hashSync(password.reveal(), BCRYPT_COST)}\n`;
}

/** True when `existing` lets exactly `user` in, with `password`: then it stays as it is. Comments and blank lines do not count, other users do. */
export function htpasswdMatches(existing: string | null, user: string, password: Secret): boolean {
  const entries = (existing ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (entries.length !== 1) return false;
  const colon = entries[0].indexOf(':');
  return colon > 0 && entries[0].slice(0, colon) === user && compareSync(password.reveal(), entries[0].slice(colon + 1));
}

// ---------------------------------------------------------------------------
// Where clients find it, and its certificate

const hostPort = (address: string, port: number) => `${isIP(address) === 6 ? `[${address}]` : address}:${port}`;

/** The registry as the cluster's Docker daemons name it: <cluster address>:<port>, an IPv6 address in brackets. */
export function registryAddress(answers: Answers, registryHost: ClusterHost): string {
  return hostPort(registryHost.clusterAddress, answers.registry.port);
}

/** The registry as this machine (the installer) reaches it: the host's address in the answers, which the certificate names too. */
export function registryAddressFromInstaller(answers: Answers, registryHost: ClusterHost): string {
  return hostPort(registryHost.address, answers.registry.port);
}

/** Where each Docker host keeps the registry's CA certificate. */
export function registryCaPath(answers: Answers, registryHost: ClusterHost): string {
  return trustedCaPath(registryAddress(answers, registryHost));
}

/** The server certificate's subjectAltName entries: the cluster address, and the address berth connects to (IP or DNS name) when it differs. */
export function registrySans(registryHost: ClusterHost): string[] {
  const names = [...new Set([registryHost.clusterAddress, registryHost.address])];
  return names.map((name) => `${isIP(name) ? 'IP' : 'DNS'}:${name}`);
}

/**
 * assets/scripts/registry-tls.sh as a script for a run action (`issue`: makes
 * what is missing or out of date, prints what it did) or a probe (`check`:
 * prints ok, missing, wrong-ca, key-differs, expiring or sans-differ). Its
 * arguments come first, as positional parameters.
 */
export function registryTlsScript(mode: 'issue' | 'check', registryHost: ClusterHost): string {
  const sans = registrySans(registryHost).join(',');
  const args = mode === 'check' ? ['--check', REGISTRY_CA_DIR, REGISTRY_DIR, sans] : [REGISTRY_CA_DIR, REGISTRY_DIR, sans, SERVER_CERT_DAYS];
  return `set -- ${shellCommand(args)}\n${assetText('scripts', 'registry-tls.sh')}`;
}
