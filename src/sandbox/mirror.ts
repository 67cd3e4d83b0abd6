import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { ensureContainer } from './containers';
import { docker } from './docker';
import { hostCommand } from './host-command';
import { topologyNames } from './plan';
import { ensureStandins, type StandinImage } from './standins';

/**
 * `hubmirror`: what a user in a region that Docker Hub blocks points
 * `registry-mirrors` at. A TLS registry (the registry:2 stand-in) serving the
 * stand-in images under library/<name>:<tag>, with a certificate from a test
 * CA. Docker's registry client reads /etc/docker/certs.d/<mirror host>/ for
 * mirrors as for any registry, so a daemon with the CA there pulls through it.
 */

export const HUB_MIRROR_HOSTNAME = 'hubmirror.berth.test';

/** Labels what is kept between topologies as a cache (value: the topology's prefix). */
export const CACHE_LABEL = 'berth.cache';

/** Where a topology service runs and keeps its state. */
export interface ServiceOptions {
  /** The topology's Docker network (with a fixed subnet). */
  network: string;
  /** The service's address on it. */
  ip: string;
  /** The topology's prefix: names the container, labels it. */
  prefix: string;
  /** The topology's state directory; the service keeps its files in a subdirectory. */
  stateDir: string;
}

export interface HubMirror {
  hostname: typeof HUB_MIRROR_HOSTNAME;
  ip: string;
  url: string;
  /** The test CA's certificate (PEM): what a client trusts, e.g. docker.trustedCAs. */
  caCertPath: string;
}

export interface MirrorCertificates {
  caCertPath: string;
  caKeyPath: string;
  /** Directory holding server.crt and server.key, mounted into the registry. */
  serverDir: string;
}

/** The repository path an official image has on Docker Hub, which a mirror serves: nginx:1.26 → library/nginx:1.26. */
export function hubRepository(tag: string): { repository: string; reference: string } {
  const [name, reference] = tag.split(':');
  if (!name || !reference || name.includes('/')) throw new Error(`${tag} is not an official image name with a tag`);
  return { repository: `library/${name}`, reference };
}

/**
 * The test CA (made once, kept in <stateDir>/test-ca) and a server certificate
 * for the mirror's name signed by it (remade when missing or not from this CA).
 */
export async function ensureMirrorCertificates(stateDir: string): Promise<MirrorCertificates> {
  const caDir = join(stateDir, 'test-ca');
  const serverDir = join(stateDir, 'hubmirror', 'tls');
  const caCertPath = join(caDir, 'ca.crt');
  const caKeyPath = join(caDir, 'ca.key');
  const serverCert = join(serverDir, 'server.crt');
  const serverKey = join(serverDir, 'server.key');
  await mkdir(caDir, { recursive: true, mode: 0o700 });
  await mkdir(serverDir, { recursive: true, mode: 0o700 });
  if (!existsSync(caCertPath) || !existsSync(caKeyPath)) {
    await hostCommand('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
      '-subj', '/CN=berth test CA', '-keyout', caKeyPath, '-out', caCertPath,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await chmod(caKeyPath, 0o600);
  }
  const current = existsSync(serverCert) && existsSync(serverKey) && (await signedBy(serverCert, caCertPath));
  if (!current) {
    const csrPath = join(serverDir, 'server.csr');
    const extensions = join(serverDir, 'server.ext');
    await hostCommand('openssl', [
      'req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${HUB_MIRROR_HOSTNAME}`, '-keyout', serverKey, '-out', csrPath,
    ]);
    await writeFile(
      extensions,
      [
        `subjectAltName=DNS:${HUB_MIRROR_HOSTNAME}`,
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        '',
      ].join('\n'),
    );
    await hostCommand('openssl', [
      'x509', '-req', '-sha256', '-days', '825', '-in', csrPath, '-CA', caCertPath, '-CAkey', caKeyPath,
      '-set_serial', `0x${createHash('sha256').update(`${Date.now()} ${Math.random()}`).digest('hex').slice(0, 16)}`,
      '-extfile', extensions, '-out', serverCert,
    ]);
    await chmod(serverKey, 0o600);
    await rm(csrPath);
    await rm(extensions);
  }
  return { caCertPath, caKeyPath, serverDir };
}

async function signedBy(cert: string, caCert: string): Promise<boolean> {
  try {
    await hostCommand('openssl', ['verify', '-CAfile', caCert, '-verify_hostname', HUB_MIRROR_HOSTNAME, cert]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a service of the topology from `image` (its default command), or
 * reuses the one running with the same configuration; restarts with Docker.
 */
export async function ensureServiceContainer(options: ServiceOptions, role: 'hubmirror' | 'aptrepo', image: string, runOptions: string[]): Promise<string> {
  const name = topologyNames(options).container(role);
  await ensureContainer({
    topology: options.prefix,
    role,
    name,
    image,
    network: options.network,
    ip: options.ip,
    options: ['--restart', 'unless-stopped', ...runOptions],
    command: [],
  });
  return name;
}

/** Starts (or reuses) the mirror and makes it serve the current stand-ins. */
export async function startHubMirror(options: ServiceOptions): Promise<HubMirror> {
  const [tls, images] = await Promise.all([ensureMirrorCertificates(options.stateDir), ensureStandins()]);
  const registry = images.find((image) => image.tag === 'registry:2')!;
  // The pushed images outlive the topology (and a fresh checkout): a Docker volume
  // outside the topology's label, so that `down` keeps it and the next start pushes nothing.
  const storage = `${options.prefix}hubmirror-cache`;
  await docker(['volume', 'create', '--label', `${CACHE_LABEL}=${options.prefix}`, storage]);
  const certFingerprint = createHash('sha256').update(await readFile(join(tls.serverDir, 'server.crt'))).digest('hex').slice(0, 16);
  const container = await ensureServiceContainer(options, 'hubmirror', registry.id, [
    '--hostname', 'hubmirror',
    // A certificate change must replace the container: the registry reads it once.
    '--label', `berth.tls=${certFingerprint}`,
    // Loopback only: how this machine's Docker Engine pushes the stand-ins in.
    '--publish', '127.0.0.1::443',
    '--volume', `${tls.serverDir}:/certs:ro`,
    '--volume', `${storage}:/var/lib/registry`,
    '--env', 'REGISTRY_HTTP_ADDR=0.0.0.0:443',
    '--env', 'REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt',
    '--env', 'REGISTRY_HTTP_TLS_KEY=/certs/server.key',
  ]);
  const port = await publishedPort(container, '443/tcp');
  const client = registryClient(port, await readFile(tls.caCertPath));
  await waitForRegistry(client);
  for (const image of images) await publish(image, client, port);
  return { hostname: HUB_MIRROR_HOSTNAME, ip: options.ip, url: `https://${HUB_MIRROR_HOSTNAME}`, caCertPath: tls.caCertPath };
}

async function publishedPort(container: string, port: string): Promise<number> {
  const out = await docker(['container', 'inspect', '--format', `{{ (index (index .NetworkSettings.Ports "${port}") 0).HostPort }}`, container]);
  return Number(out.stdout.trim());
}

/** Pushes an image unless the mirror's manifest already names it (its config digest is the image id). */
async function publish(image: StandinImage, client: RegistryClient, port: number): Promise<void> {
  const { repository, reference } = hubRepository(image.tag);
  if ((await client.configDigest(repository, reference)) === image.id) return;
  const pushTag = `127.0.0.1:${port}/${repository}:${reference}`;
  await docker(['tag', image.id, pushTag]);
  try {
    await docker(['push', pushTag]);
  } finally {
    await docker(['rmi', pushTag], { allowFailure: true });
  }
  const served = await client.configDigest(repository, reference);
  if (served !== image.id) throw new Error(`the mirror serves ${repository}:${reference} as ${served ?? 'nothing'}, not ${image.id}`);
}

export interface RegistryClient {
  /** GET /v2/ status. */
  ping(): Promise<number>;
  /** The config digest of a schema 2 manifest, or null when the tag is unknown. */
  configDigest(repository: string, reference: string): Promise<string | null>;
}

const MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';

/** Talks to the mirror on its loopback port, verifying its certificate against the test CA under its real name. */
export function registryClient(port: number, ca: Buffer): RegistryClient {
  const get = (path: string, accept?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, ca, servername: HUB_MIRROR_HOSTNAME, headers: accept ? { accept } : {}, timeout: 10_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from the mirror on 127.0.0.1:${port}${path}`)));
      req.on('error', reject);
      req.end();
    });
  return {
    async ping() {
      return (await get('/v2/')).status;
    },
    async configDigest(repository, reference) {
      const res = await get(`/v2/${repository}/manifests/${reference}`, MANIFEST_V2);
      if (res.status === 404) return null;
      if (res.status !== 200) throw new Error(`the mirror answered ${res.status} for ${repository}:${reference}`);
      const manifest = JSON.parse(res.body) as { config?: { digest?: string } };
      return manifest.config?.digest ?? null;
    },
  };
}

async function waitForRegistry(client: RegistryClient): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      if ((await client.ping()) === 200) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the image mirror did not answer over TLS: ${lastError instanceof Error ? lastError.message : 'no 200 from /v2/'}`);
}
