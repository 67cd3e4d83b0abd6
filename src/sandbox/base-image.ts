import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker } from './docker';
import { hostCommand } from './host-command';

/**
 * A minimal Debian 13 image made without any registry: debootstrap on this
 * machine, then `docker import`. Every sandbox and test image starts FROM it.
 */
export const BASE_RECIPE = {
  suite: 'trixie',
  variant: 'minbase',
  archive: 'http://deb.debian.org/debian',
  /** Docker supplies these per container; the build machine's copies must not leak into the image. */
  emptied: ['etc/resolv.conf', 'etc/hostname'],
  /** Downloaded packages and package lists: dead weight, as in Debian's official images. */
  cleared: ['var/cache/apt/archives', 'var/lib/apt/lists'],
  changes: ['CMD ["bash"]'],
} as const;

const REPOSITORY = 'berth-base';

/** The image tag for a recipe: the suite plus a hash of everything that shapes the image. */
export function baseImageTag(recipe: typeof BASE_RECIPE = BASE_RECIPE): string {
  const hash = createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 12);
  return `${REPOSITORY}:${recipe.suite}-${hash}`;
}

/** debootstrap's path: it lives in /usr/sbin, which PATH lacks after a plain `su` on Debian. */
export function findDebootstrap(): string | undefined {
  return [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']
    .filter((dir) => dir)
    .map((dir) => join(dir, 'debootstrap'))
    .find((file) => existsSync(file));
}

let pending: Promise<string> | undefined;

/** Builds the base image unless the tagged image already exists; resolves to its tag. */
export function ensureBaseImage(): Promise<string> {
  pending ??= buildUnlessPresent().finally(() => {
    pending = undefined;
  });
  return pending;
}

async function buildUnlessPresent(): Promise<string> {
  const tag = baseImageTag();
  if ((await docker(['image', 'inspect', tag], { allowFailure: true })).code === 0) return tag;
  const work = await mkdtemp(join(tmpdir(), 'berth-base-'));
  try {
    const rootfs = join(work, 'rootfs');
    const tarball = join(work, 'rootfs.tar');
    await hostCommand(findDebootstrap() ?? 'debootstrap', [`--variant=${BASE_RECIPE.variant}`, BASE_RECIPE.suite, rootfs, BASE_RECIPE.archive]);
    for (const file of BASE_RECIPE.emptied) await truncate(join(rootfs, file), 0);
    for (const dir of BASE_RECIPE.cleared) await clearFiles(join(rootfs, dir));
    await hostCommand('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', tarball, '.']);
    const changes = BASE_RECIPE.changes.flatMap((change) => ['--change', change]);
    // Import under a private name, then tag: a concurrent builder never sees a half-made image.
    const imageId = (await docker(['import', ...changes, tarball])).stdout.trim();
    await docker(['tag', imageId, tag]);
    return tag;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Removes the plain files directly inside a directory, keeping subdirectories such as partial/. */
async function clearFiles(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile()) await rm(join(dir, entry.name));
  }
}
