import { join, resolve } from 'node:path';
import { ensureBaseImage } from './base-image';
import { docker, DockerCommandError } from './docker';
import { contextHash, readContext } from './images';

/**
 * Stand-ins for the Docker Hub images berth deploys, built from Debian 13
 * packages under the official names (Docker Hub is unreachable where the
 * tests run). Sources: test/e2e/standins/<dir>/ (test fixtures).
 */
export const STANDINS = [
  { tag: 'registry:2', dir: 'registry' },
  { tag: 'mariadb:11.8', dir: 'mariadb' },
  { tag: 'nginx:1.26', dir: 'nginx' },
  { tag: 'python:3.13-slim', dir: 'python' },
  { tag: 'haproxy:3.0', dir: 'haproxy' },
] as const;

export type StandinTag = (typeof STANDINS)[number]['tag'];

/** Works from src/ (tsx) and from dist/ alike: both sit two levels below the repository root. */
export const STANDINS_DIR = resolve(__dirname, '../../test/e2e/standins');

/** The label carrying the hash of the sources an image was built from. */
export const SOURCES_LABEL = 'berth.standin.sources';

export interface StandinImage {
  tag: StandinTag;
  /** Hash of the build sources and the base image tag (`contextHash`). */
  sources: string;
  /** Local image id (sha256:…). */
  id: string;
}

const pending = new Map<StandinTag, Promise<StandinImage>>();

/** Builds one stand-in unless an image with that tag was built from the same sources. */
export function ensureStandin(tag: StandinTag): Promise<StandinImage> {
  let build = pending.get(tag);
  if (!build) {
    build = buildUnlessCurrent(tag).finally(() => pending.delete(tag));
    pending.set(tag, build);
  }
  return build;
}

/** All stand-ins, two builds at a time (downloads overlap with unpacking on two cores). */
export async function ensureStandins(): Promise<StandinImage[]> {
  await ensureBaseImage();
  const queue = STANDINS.map((standin) => standin.tag);
  const built: StandinImage[] = [];
  const worker = async (): Promise<void> => {
    for (let tag = queue.shift(); tag; tag = queue.shift()) built.push(await ensureStandin(tag));
  };
  await Promise.all([worker(), worker()]);
  return STANDINS.map((standin) => built.find((image) => image.tag === standin.tag)!);
}

async function buildUnlessCurrent(tag: StandinTag): Promise<StandinImage> {
  const base = await ensureBaseImage();
  const dir = join(STANDINS_DIR, STANDINS.find((standin) => standin.tag === tag)!.dir);
  const sources = contextHash(base, readContext(dir));
  const current = await docker(['image', 'inspect', '--format', `{{ index .Config.Labels "${SOURCES_LABEL}" }} {{ .Id }}`, tag], {
    allowFailure: true,
  });
  const [label, id] = current.stdout.trim().split(' ');
  if (current.code === 0 && label === sources) return { tag, sources, id };
  try {
    await docker(['build', '--build-arg', `BASE=${base}`, '--label', `${SOURCES_LABEL}=${sources}`, '--tag', tag, dir]);
  } catch (error) {
    if (error instanceof DockerCommandError) {
      const output = `${error.result.stdout}\n${error.result.stderr}`.trim().split('\n').slice(-30).join('\n');
      throw new Error(`building the ${tag} stand-in failed:\n${output}`);
    }
    throw error;
  }
  const built = (await docker(['image', 'inspect', '--format', '{{ .Id }}', tag])).stdout.trim();
  // The image it replaces is untagged now: drop it, unless a container still uses it.
  if (current.code === 0 && id && id !== built) await docker(['rmi', id], { allowFailure: true });
  return { tag, sources, id: built };
}
