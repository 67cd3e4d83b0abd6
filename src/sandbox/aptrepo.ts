import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureBaseImage } from './base-image';
import { DEBIAN_VERSION, type DebianSuite } from './plan';
import { docker } from './docker';
import { hostCommand } from './host-command';
import { ensureServiceContainer, type ServiceOptions } from './mirror';
import { ensureStandin } from './standins';

/**
 * `docker-apt`: a stand-in for Docker's apt repository
 * (https://download.docker.com/linux/debian), which is unreachable where the
 * tests run. Same layout, signed with a throwaway test key, holding Docker's
 * package names for Debian's own Docker packages, for Debian 13 (trixie) and
 * 12 (bookworm), so that berth's `official` source runs its real code path.
 *
 * Debian's docker.io declares `Conflicts: docker-ce` and docker-cli
 * `Conflicts: docker-ce-cli`, so packages of those names cannot merely depend
 * on Debian's: they are Debian's packages renamed (files and maintainer
 * scripts unchanged). Bookworm has no Compose v2 and no Buildx: its plugins
 * are trixie's (static Go binaries) renamed. The rest are metapackages.
 */

export const DOCKER_APT_HOSTNAME = 'docker-apt.berth.test';

export interface AptRepo {
  hostname: typeof DOCKER_APT_HOSTNAME;
  ip: string;
  /** Where `debian/gpg` and `debian/dists/<suite>/…` are, as https://download.docker.com/linux is. */
  url: string;
  /** Of the throwaway key it signs with: what docker.aptKeyFingerprint must pin, since it is not Docker's. */
  fingerprint: string;
}

export interface MetaPackage {
  name: string;
  version: string;
  depends: string;
  summary: string;
}

/** A Debian package of suite `from`, renamed to Docker's name. */
export interface RenamedPackage {
  dockerName: string;
  debianName: string;
  from: DebianSuite;
}

/** What dists/<suite> holds. */
export interface SuiteContents {
  suite: DebianSuite;
  renamed: readonly RenamedPackage[];
  metapackages: readonly MetaPackage[];
}

export const COMPONENT = 'stable';
export const ARCHITECTURES = ['amd64', 'arm64'] as const;

/** Debian's name of each package Docker ships under another name. */
export const DOCKER_NAMES: ReadonlyMap<string, string> = new Map([
  ['docker.io', 'docker-ce'],
  ['docker-cli', 'docker-ce-cli'],
  ['docker-buildx', 'docker-buildx-plugin'],
  ['docker-compose', 'docker-compose-plugin'],
]);

const CONTAINERD: MetaPackage = { name: 'containerd.io', version: '1.7.24-1', depends: 'containerd, runc', summary: 'containerd runtime (Debian containerd and runc)' };

export const SUITES: readonly SuiteContents[] = [
  {
    suite: 'trixie',
    renamed: [
      { dockerName: 'docker-ce', debianName: 'docker.io', from: 'trixie' },
      { dockerName: 'docker-ce-cli', debianName: 'docker-cli', from: 'trixie' },
    ],
    metapackages: [
      CONTAINERD,
      { name: 'docker-buildx-plugin', version: '0.13.1-1~debian.13~trixie', depends: 'docker-buildx', summary: 'Docker Buildx plugin (Debian docker-buildx)' },
      {
        name: 'docker-compose-plugin',
        version: '2.26.1-1~debian.13~trixie',
        depends: 'docker-compose (>= 2)',
        summary: 'Docker Compose plugin (Debian docker-compose)',
      },
    ],
  },
  {
    suite: 'bookworm',
    renamed: [
      { dockerName: 'docker-ce', debianName: 'docker.io', from: 'bookworm' },
      { dockerName: 'docker-buildx-plugin', debianName: 'docker-buildx', from: 'trixie' },
      { dockerName: 'docker-compose-plugin', debianName: 'docker-compose', from: 'trixie' },
    ],
    metapackages: [
      CONTAINERD,
      // Bookworm's docker.io holds the client too.
      { name: 'docker-ce-cli', version: '5:20.10.24-1~debian.12~bookworm', depends: 'docker-ce', summary: "Docker CLI (in Debian 12's docker.io)" },
    ],
  },
];

export function suiteContents(suite: DebianSuite): SuiteContents {
  const contents = SUITES.find((s) => s.suite === suite);
  if (!contents) throw new Error(`the stand-in repository has no suite ${suite}`);
  return contents;
}

const MAINTAINER = 'berth test fixtures <fixtures@berth.test>';
const KEY_UID = 'berth test apt repository <apt@berth.test>';

/** The control file of a metapackage for one architecture. */
export function controlFile(pkg: MetaPackage, arch: string): string {
  return formatControl([
    ['Package', pkg.name],
    ['Version', pkg.version],
    ['Architecture', arch],
    ['Maintainer', MAINTAINER],
    ['Installed-Size', '1'],
    ['Depends', pkg.depends],
    ['Section', 'admin'],
    ['Priority', 'optional'],
    ['Description', `${pkg.summary}\n Test fixture standing in for Docker's ${pkg.name} package: it only depends on Debian's packages.`],
  ]);
}

/** A control paragraph as [field, value] pairs; continuation lines stay in the value after a newline. */
export type ControlFields = [string, string][];

export function parseControl(text: string): ControlFields {
  const fields: ControlFields = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const last = fields[fields.length - 1];
    if (/^\s/.test(line)) {
      if (!last) throw new Error(`control file starts with a continuation line: ${line}`);
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 1) throw new Error(`not a control field: ${line}`);
    fields.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return fields;
}

export function formatControl(fields: ControlFields): string {
  return fields.map(([name, value]) => `${name}: ${value}\n`).join('');
}

/** Applies `rename` to every package name in a relationship field (alternatives, versions and architectures kept). */
export function mapRelations(value: string, rename: (name: string) => string): string {
  return value
    .split(',')
    .map((entry) =>
      entry
        .split('|')
        .map((alternative) => alternative.trim().replace(/^[a-z0-9][a-z0-9+.-]*/, (name) => rename(name)))
        .join(' | '),
    )
    .join(', ');
}

/**
 * Docker's version string for a Debian version in a suite: 26.1.5+dfsg1-9+deb13u1 →
 * 5:26.1.5-1~debian.13~trixie (the engine and CLI have epoch 5, the plugins none).
 */
export function dockerVersion(debianVersion: string, dockerName: string, suite: DebianSuite): string {
  const upstream = debianVersion.replace(/^\d+:/, '').split(/[+~-]/)[0];
  const epoch = dockerName.startsWith('docker-ce') ? '5:' : '';
  return `${epoch}${upstream}-1~debian.${DEBIAN_VERSION[suite]}~${suite}`;
}

/**
 * The control file of a Debian package renamed to Docker's name in a suite:
 * it replaces, conflicts with and provides the Debian package, and its
 * relations name Docker's packages where Debian's named their Debian counterparts.
 */
export function renamedControl(debianControl: string, dockerName: string, suite: DebianSuite): string {
  const debianName = suiteContents(suite).renamed.find((pkg) => pkg.dockerName === dockerName)?.debianName;
  if (!debianName) throw new Error(`${dockerName} is not one of the renamed packages of ${suite}`);
  const dockerNames = new Set(DOCKER_NAMES.values());
  const fields = parseControl(debianControl);
  const get = (name: string) => fields.find(([field]) => field === name)?.[1];
  const debianVersion = get('Version');
  if (get('Package') !== debianName || !debianVersion) throw new Error(`expected the control file of ${debianName}, got ${get('Package') ?? 'no package'}`);
  const withoutDocker = (value: string) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => !dockerNames.has(entry.split(/[\s(:]/)[0]!))
      .join(', ');
  const joined = (...parts: (string | undefined)[]) => parts.filter((part) => part).join(', ');
  const changed: Record<string, string> = {
    Package: dockerName,
    Version: dockerVersion(debianVersion, dockerName, suite),
    Maintainer: MAINTAINER,
    Conflicts: joined(withoutDocker(get('Conflicts') ?? ''), debianName),
    Replaces: joined(get('Replaces'), debianName),
    Provides: joined(get('Provides'), `${debianName} (= ${debianVersion})`),
  };
  for (const field of ['Depends', 'Pre-Depends', 'Recommends', 'Suggests']) {
    const value = get(field);
    if (value) changed[field] = mapRelations(value, (name) => DOCKER_NAMES.get(name) ?? name);
  }
  const description = get('Description') ?? dockerName;
  const [summary, ...rest] = description.split('\n');
  changed.Description = [`${summary} (Debian's ${debianName} as ${dockerName}, berth test fixture)`, ...rest].join('\n');
  const result: ControlFields = fields.map(([name, value]) => [name, changed[name] ?? value]);
  for (const [name, value] of Object.entries(changed)) {
    if (!fields.some(([field]) => field === name)) result.splice(2, 0, [name, value]);
  }
  return formatControl(result);
}

/** dists/<suite>/pool/stable/<arch>/<name>_<version without epoch>_<arch>.deb, as in Docker's repository. */
export function poolPath(suite: DebianSuite, name: string, version: string, arch: string): string {
  return `dists/${suite}/pool/${COMPONENT}/${arch}/${name}_${version.replace(/^\d+:/, '')}_${arch}.deb`;
}

export interface FileDigests {
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
}

export function digests(content: Buffer): FileDigests {
  const hex = (algorithm: string) => createHash(algorithm).update(content).digest('hex');
  return { size: content.length, md5: hex('md5'), sha1: hex('sha1'), sha256: hex('sha256') };
}

/** A Packages entry: the control fields with the file's location and digests after Version. */
export function packagesStanza(control: string, filename: string, file: FileDigests): string {
  const fields = parseControl(control);
  const at = fields.findIndex(([name]) => name === 'Version') + 1;
  fields.splice(at, 0, ['Filename', filename], ['Size', String(file.size)], ['MD5sum', file.md5], ['SHA1', file.sha1], ['SHA256', file.sha256]);
  return formatControl(fields);
}

/** The Release file of dists/<suite>, listing each index file (path relative to dists/<suite>) with its digests. */
export function releaseFile(suite: DebianSuite, indexes: ReadonlyMap<string, FileDigests>, date: Date): string {
  const files = [...indexes.entries()].sort(([a], [b]) => a.localeCompare(b));
  const section = (title: string, pick: (d: FileDigests) => string) =>
    [`${title}:`, ...files.map(([path, d]) => ` ${pick(d)} ${String(d.size).padStart(8)} ${path}`)];
  return [
    'Origin: Docker',
    'Label: Docker CE',
    `Suite: ${suite}`,
    `Codename: ${suite}`,
    `Architectures: ${ARCHITECTURES.join(' ')}`,
    `Components: ${COMPONENT}`,
    "Description: Stand-in for Docker's Debian repository (berth test fixture)",
    `Date: ${date.toUTCString().replace('GMT', 'UTC')}`,
    ...section('MD5Sum', (d) => d.md5),
    ...section('SHA1', (d) => d.sha1),
    ...section('SHA256', (d) => d.sha256),
    '',
  ].join('\n');
}

/** Runs gpg with the repository's own keyring directory. */
function gpg(home: string, args: readonly string[]): Promise<string> {
  return hostCommand('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);
}

/** The signing key (made once): its fingerprint. */
async function ensureSigningKey(home: string): Promise<string> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const fingerprint = async () =>
    (await gpg(home, ['--with-colons', '--list-secret-keys'])).split('\n').find((line) => line.startsWith('fpr:'))?.split(':')[9];
  const existing = await fingerprint().catch(() => undefined);
  if (existing) return existing;
  await gpg(home, ['--quick-generate-key', KEY_UID, 'ed25519', 'sign', 'never']);
  const made = await fingerprint();
  if (!made) throw new Error(`gpg made no key in ${home}`);
  return made;
}

/**
 * The Debian packages of `from` that get Docker's names, downloaded once per
 * architecture into `cache` by apt in a container of that suite: their file names.
 */
async function fetchDebianPackages(cache: string, from: DebianSuite, names: readonly string[]): Promise<string[]> {
  await mkdir(cache, { recursive: true });
  const wanted = names.flatMap((name) => ARCHITECTURES.map((arch) => ({ name, arch })));
  const have = () => readdir(cache).then((files) => files.filter((file) => file.endsWith('.deb')).sort());
  const missing = (files: string[]) => wanted.filter(({ name, arch }) => !files.some((file) => file.startsWith(`${name}_`) && file.endsWith(`_${arch}.deb`)));
  if (missing(await have()).length > 0) {
    const script = [
      ...ARCHITECTURES.map((arch) => `dpkg --add-architecture ${arch}`),
      'apt-get update -qq',
      'cd /out',
      `apt-get download -qq ${wanted.map(({ name, arch }) => `${name}:${arch}`).join(' ')}`,
    ].join(' && ');
    await docker(['run', '--rm', '--volume', `${cache}:/out`, await ensureBaseImage(from), 'bash', '-ec', script]);
  }
  const files = await have();
  const still = missing(files);
  if (still.length > 0) throw new Error(`apt did not download ${still.map(({ name, arch }) => `${name}:${arch}`).join(', ')} from ${from}`);
  return files.filter((file) => names.some((name) => file.startsWith(`${name}_`)));
}

/** Every package to rename, downloaded: per suite it comes from, the .deb files of its cache directory. */
async function fetchAllDebianPackages(cacheRoot: string): Promise<Map<DebianSuite, { cache: string; debs: string[] }>> {
  const from = [...new Set(SUITES.flatMap((s) => s.renamed.map((pkg) => pkg.from)))];
  const fetched = await Promise.all(
    from.map(async (suite) => {
      const cache = join(cacheRoot, suite);
      const names = [...new Set(SUITES.flatMap((s) => s.renamed.filter((pkg) => pkg.from === suite).map((pkg) => pkg.debianName)))];
      return [suite, { cache, debs: await fetchDebianPackages(cache, suite, names) }] as const;
    }),
  );
  return new Map(fetched);
}

/** Builds the repository tree into `www` (…/linux/debian/…) unless it was built from the same inputs. */
export async function ensureAptRepository(stateDir: string): Promise<{ www: string; inputs: string; fingerprint: string }> {
  const dir = join(stateDir, 'docker-apt');
  const www = join(dir, 'www');
  const home = join(dir, 'gnupg');
  const cache = join(dir, 'debian-debs');
  const marker = join(dir, 'inputs');
  const [fingerprint, debianDebs] = await Promise.all([ensureSigningKey(home), fetchAllDebianPackages(cache)]);
  const inputs = createHash('sha256')
    .update(JSON.stringify({ fingerprint, debianDebs: [...debianDebs], SUITES, DOCKER_NAMES: [...DOCKER_NAMES], ARCHITECTURES, COMPONENT, MAINTAINER }))
    // The code that shapes the tree is an input too.
    .update([renamedControl, dockerVersion, poolPath, controlFile, packagesStanza, releaseFile, buildSuite].map(String).join('\n'))
    .digest('hex')
    .slice(0, 16);
  if (existsSync(marker) && (await readFile(marker, 'utf8')) === inputs && existsSync(www)) return { www, inputs, fingerprint };
  const fresh = `${www}.new`;
  const build = join(dir, 'build');
  await rm(fresh, { recursive: true, force: true });
  try {
    const debian = join(fresh, 'linux', 'debian');
    for (const contents of SUITES) await buildSuite(contents, { debian, build, home, fingerprint, debianDebs });
    await writeFile(join(debian, 'gpg'), await gpg(home, ['--armor', '--export', fingerprint]));
    await rm(www, { recursive: true, force: true });
    await rename(fresh, www);
    await writeFile(marker, inputs);
    return { www, inputs, fingerprint };
  } finally {
    await rm(fresh, { recursive: true, force: true });
    await rm(build, { recursive: true, force: true });
    // gpg started an agent for this keyring: stop it, nothing else needs it.
    await hostCommand('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']).catch(() => undefined);
  }
}

interface SuiteBuild {
  /** The repository root (…/linux/debian). */
  debian: string;
  /** A scratch directory for package trees. */
  build: string;
  /** The keyring directory and the key to sign with. */
  home: string;
  fingerprint: string;
  debianDebs: ReadonlyMap<DebianSuite, { cache: string; debs: string[] }>;
}

/** dists/<suite>: its pool, Packages indexes and signed Release. */
async function buildSuite(contents: SuiteContents, { debian, build, home, fingerprint, debianDebs }: SuiteBuild): Promise<void> {
  const { suite } = contents;
  const dists = join(debian, 'dists', suite);
  const indexes = new Map<string, FileDigests>();
  for (const arch of ARCHITECTURES) {
    const stanzas: string[] = [];
    const add = async (name: string, version: string, control: (root: string) => Promise<string>) => {
      const path = poolPath(suite, name, version, arch);
      stanzas.push(packagesStanza(await buildDeb(build, control, join(debian, path)), path, digests(await readFile(join(debian, path)))));
    };
    for (const pkg of contents.renamed) {
      const { cache, debs } = debianDebs.get(pkg.from)!;
      const deb = debs.find((file) => file.startsWith(`${pkg.debianName}_`) && file.endsWith(`_${arch}.deb`))!;
      const debianVersion = decodeURIComponent(deb.split('_')[1]!);
      await add(pkg.dockerName, dockerVersion(debianVersion, pkg.dockerName, suite), async (root) => {
        await hostCommand('dpkg-deb', ['--raw-extract', join(cache, deb), root]);
        return renamedControl(await readFile(join(root, 'DEBIAN', 'control'), 'utf8'), pkg.dockerName, suite);
      });
    }
    for (const pkg of contents.metapackages) await add(pkg.name, pkg.version, async () => controlFile(pkg, arch));
    const packages = Buffer.from(stanzas.join('\n'));
    const index = `${COMPONENT}/binary-${arch}`;
    await mkdir(join(dists, index), { recursive: true });
    const gz = gzipSync(packages, { level: 9 });
    await writeFile(join(dists, index, 'Packages'), packages);
    await writeFile(join(dists, index, 'Packages.gz'), gz);
    indexes.set(`${index}/Packages`, digests(packages));
    indexes.set(`${index}/Packages.gz`, digests(gz));
  }
  const release = join(dists, 'Release');
  await writeFile(release, releaseFile(suite, indexes, new Date()));
  await gpg(home, ['--local-user', fingerprint, '--clearsign', '--output', join(dists, 'InRelease'), release]);
  await gpg(home, ['--local-user', fingerprint, '--armor', '--detach-sign', '--output', join(dists, 'Release.gpg'), release]);
}

/**
 * Builds one .deb from a tree in `root`: `control` fills root (extracting a
 * package there, or nothing) and returns the control file to build with.
 */
async function buildDeb(root: string, control: (root: string) => Promise<string>, deb: string): Promise<string> {
  await rm(root, { recursive: true, force: true });
  const text = await control(root);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN', 'control'), text);
  await mkdir(dirname(deb), { recursive: true });
  // Fast gzip: xz, the default, takes tens of seconds for docker.io on two cores.
  await hostCommand('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', root, deb]);
  return text;
}

/** Starts (or reuses) the repository's web server, nginx from the stand-in, on the topology's network. */
export async function startAptRepo(options: ServiceOptions): Promise<AptRepo> {
  const [{ www, inputs, fingerprint }, nginx] = await Promise.all([ensureAptRepository(options.stateDir), ensureStandin('nginx:1.26')]);
  // A rebuilt tree is a new directory: the label makes a new container mount it.
  const container = await ensureServiceContainer(options, 'aptrepo', nginx.id, [
    '--hostname', 'docker-apt',
    '--label', `berth.repo=${inputs}`,
    '--volume', `${www}:/usr/share/nginx/html:ro`,
  ]);
  for (const { suite } of SUITES) await waitForFile(container, `/linux/debian/dists/${suite}/InRelease`);
  return { hostname: DOCKER_APT_HOSTNAME, ip: options.ip, url: `http://${DOCKER_APT_HOSTNAME}/linux`, fingerprint };
}

async function waitForFile(container: string, path: string): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt++) {
    const result = await docker(['exec', container, 'curl', '-fsS', '-o', '/dev/null', `http://127.0.0.1${path}`], { allowFailure: true });
    if (result.code === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${container} does not serve ${path}`);
}

