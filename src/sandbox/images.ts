import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pack } from 'tar-stream';
import { assetPath } from '../assets';
import { ensureBaseImage } from './base-image';
import type { DebianSuite } from './plan';
import { docker } from './docker';

/**
 * Images built from a directory of build sources (a Dockerfile and the files
 * it copies) on top of the Debian base image, tagged with a hash of those
 * sources and the base: a build happens once, and again only when a source
 * changes. The directory may live inside the packaged binary's snapshot, so
 * the build context is sent to Docker as a tar stream, never as a path.
 */

export interface ContextFile {
  /** Path inside the build context, with forward slashes. */
  name: string;
  mode: number;
  content: Buffer;
}

export function readContext(dir: string): ContextFile[] {
  const files: ContextFile[] = [];
  const walk = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        // Only the executable bit matters to a build; umask-dependent bits must not change the hash.
        const mode = statSync(full).mode & 0o111 ? 0o755 : 0o644;
        files.push({ name: relative(dir, full).split('\\').join('/'), mode, content: readFileSync(full) });
      }
    }
  };
  walk(dir);
  return files;
}

/** A hash of everything that shapes the image: the base image's tag and every source file. */
export function contextHash(baseTag: string, files: readonly ContextFile[]): string {
  const hash = createHash('sha256').update(`base ${baseTag}\n`);
  for (const file of files) {
    hash.update(`${file.name} ${file.mode.toString(8)} ${file.content.length}\n`).update(file.content);
  }
  return hash.digest('hex').slice(0, 12);
}

function tarOf(files: readonly ContextFile[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const archive = pack();
    const chunks: Buffer[] = [];
    archive.on('data', (chunk: Buffer) => chunks.push(chunk));
    archive.on('end', () => resolve(Buffer.concat(chunks)));
    archive.on('error', reject);
    for (const file of files) archive.entry({ name: file.name, mode: file.mode, mtime: new Date(0) }, file.content);
    archive.finalize();
  });
}

const pending = new Map<string, Promise<string>>();

/**
 * Builds `repository:<hash>` from a context directory, FROM the suite's base
 * image (passed as the build argument BASE), unless that tag exists. Resolves to the tag.
 */
export function ensureContextImage(repository: string, contextDir: string, log: (line: string) => void = () => {}, suite: DebianSuite = 'trixie'): Promise<string> {
  const key = `${repository} ${contextDir} ${suite}`;
  let build = pending.get(key);
  if (!build) {
    build = buildUnlessPresent(repository, contextDir, log, suite).finally(() => pending.delete(key));
    pending.set(key, build);
  }
  return build;
}

async function buildUnlessPresent(repository: string, contextDir: string, log: (line: string) => void, suite: DebianSuite): Promise<string> {
  const base = await ensureBaseImage(suite);
  const files = readContext(contextDir);
  const tag = `${repository}:${contextHash(base, files)}`;
  if ((await docker(['image', 'inspect', '--format', '{{.Id}}', tag], { allowFailure: true })).code === 0) return tag;
  log(`building image ${tag} (once; later runs reuse it)`);
  await docker(['build', '--quiet', '--build-arg', `BASE=${base}`, '--tag', tag, '-'], { input: await tarOf(files) });
  return tag;
}

/** The VM-like host: Debian 13 (or 12) with systemd, OpenSSH, iptables. */
export function ensureVmImage(log?: (line: string) => void, suite: DebianSuite = 'trixie'): Promise<string> {
  return ensureContextImage('berth-vm', assetPath('sandbox', 'vm'), log, suite);
}

/** dnsmasq, netcat, curl, dig, tcpdump, hey: the resolvers, the outsider (probes and HTTP load) and the traffic capture. */
export function ensureToolsImage(log?: (line: string) => void): Promise<string> {
  return ensureContextImage('berth-tools', assetPath('sandbox', 'tools'), log);
}
