import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker } from './docker';
import { hostCommand } from './host-command';
import type { DebianSuite } from './plan';

export interface BaseRecipe {
  suite: DebianSuite;
  variant: 'minbase';
  archive: string;
  /** Docker supplies these per container; the build machine's copies must not leak into the image. */
  emptied: readonly string[];
  /** Downloaded packages and package lists: dead weight, as in Debian's official images. */
  cleared: readonly string[];
  changes: readonly string[];
}

/**
 * A minimal Debian image made without any registry: debootstrap on this
 * machine, then `docker import`. Every sandbox and test image starts FROM
 * the trixie one; the bookworm one is for Debian 12 test hosts.
 */
export function baseRecipe(suite: DebianSuite): BaseRecipe {
  return {
    suite,
    variant: 'minbase',
    archive: 'http://deb.debian.org/debian',
    emptied: ['etc/resolv.conf', 'etc/hostname'],
    cleared: ['var/cache/apt/archives', 'var/lib/apt/lists'],
    changes: ['CMD ["bash"]'],
  };
}

export const BASE_RECIPE = baseRecipe('trixie');

const REPOSITORY = 'berth-base';

/** The image tag for a recipe: the suite plus a hash of everything that shapes the image. */
export function baseImageTag(recipe: BaseRecipe = BASE_RECIPE): string {
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

const pending = new Map<DebianSuite, Promise<string>>();

/** Builds the suite's base image unless the tagged image already exists; resolves to its tag. */
export function ensureBaseImage(suite: DebianSuite = 'trixie'): Promise<string> {
  let build = pending.get(suite);
  if (!build) {
    build = buildUnlessPresent(baseRecipe(suite)).finally(() => pending.delete(suite));
    pending.set(suite, build);
  }
  return build;
}

async function buildUnlessPresent(recipe: BaseRecipe): Promise<string> {
  const tag = baseImageTag(recipe);
  if ((await docker(['image', 'inspect', tag], { allowFailure: true })).code === 0) return tag;
  const work = await mkdtemp(join(tmpdir(), 'berth-base-'));
  try {
    const rootfs = join(work, 'rootfs');
    const tarball = join(work, 'rootfs.tar');
    await hostCommand(findDebootstrap() ?? 'debootstrap', [`--variant=${recipe.variant}`, recipe.suite, rootfs, recipe.archive]);
    for (const file of recipe.emptied) await truncate(join(rootfs, file), 0);
    for (const dir of recipe.cleared) await clearFiles(join(rootfs, dir));
    await hostCommand('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', tarball, '.']);
    const changes = recipe.changes.flatMap((change) => ['--change', change]);
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
