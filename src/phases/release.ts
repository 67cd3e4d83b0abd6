import { posix } from 'node:path';
import type { Answers } from '../answers/schema';
import { HostProblem, type PhaseContext } from '../engine/phase';
import { shellCommand, shq } from '../shell';

/**
 * Which app image the app host runs, and its history. `berth install` rolls
 * out the image of the answers until the first `berth deploy`; from then on
 * only `berth deploy` and `berth rollback` change it (an install keeps what
 * was deployed, and says so), so that a rerun of the install from an admin's
 * laptop never takes back what a pipeline deployed. The history is a plain
 * file on the app host, one line per deploy or rollback:
 *
 *   2026-12-02T05:00:00Z deploy 10.0.0.12:5000/app/app:3f2a9c1b7d4e 10.0.0.12:5000/app/app:c0fe2376524b
 *
 * (when, what, the image it runs, the image it replaced).
 */

export interface ReleaseLine {
  at: string;
  kind: 'deploy' | 'rollback';
  image: string;
  previous: string;
}

export function releasesPath(answers: Answers): string {
  return `/var/lib/berth/${answers.project}/releases`;
}

/**
 * The image that served before a deploy or rollback under way, written before
 * its compose file changes and removed when a roll ends: a run killed in the middle
 * leaves it, so the next one still knows what to record as replaced and what
 * to go back to (the compose file then already names the new image).
 */
export function pendingReleasePath(answers: Answers): string {
  return `/var/lib/berth/${answers.project}/release-pending`;
}

/** The probe reading the history (its last lines: enough for any rollback anyone makes). */
export function releasesProbe(answers: Answers): string {
  return `tail -n 200 ${shq(releasesPath(answers))} 2>/dev/null || true`;
}

export const pendingReleaseProbe = (answers: Answers): string => `cat ${shq(pendingReleasePath(answers))} 2>/dev/null || true`;

export function parseReleases(out: string): ReleaseLine[] {
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length === 4 && (f[1] === 'deploy' || f[1] === 'rollback'))
    .map(([at, kind, image, previous]) => ({ at, kind: kind as ReleaseLine['kind'], image, previous }));
}

/** An image reference's tag: for berth's images, their content tag and the version the app shows. */
export const tagOf = (image: string): string => image.slice(image.lastIndexOf(':') + 1);

/** The images released in order (the first one the install's), each once, a rollback adding none. */
function releasedImages(lines: readonly ReleaseLine[]): string[] {
  const images = lines.length > 0 ? [lines[0].previous] : [];
  for (const line of lines) if (line.kind === 'deploy' && !images.includes(line.image)) images.push(line.image);
  return images;
}

/**
 * The images kept on the app host and in the registry: the one running and
 * the `keep` released last before it was (rollback targets, and the way
 * forward again after a rollback). Only released images are ever pruned.
 */
export function keptImages(lines: readonly ReleaseLine[], keep: number): string[] {
  const current = lines.at(-1)?.image;
  const others = releasedImages(lines).filter((image) => image !== current);
  return [...(current === undefined ? [] : [current]), ...others.slice(Math.max(0, others.length - keep))];
}

/** The released images pruned once `keep` are kept: each a former release, none the one running. */
export function prunedImages(lines: readonly ReleaseLine[], keep: number): string[] {
  const kept = keptImages(lines, keep);
  return releasedImages(lines).filter((image) => !kept.includes(image));
}

/** What a rollback goes back to: the image `to` names (by tag), or the one released before the image running now; never one pruned (`keep`: app.keepReleases). */
export function rollbackTarget(lines: readonly ReleaseLine[], keep: number, to?: string): string {
  const images = releasedImages(lines);
  const current = lines.at(-1)?.image;
  const kept = keptImages(lines, keep);
  const known = images.filter((image) => kept.includes(image)).map(tagOf).join(', ') || 'none';
  const pruned = (image: string) =>
    new HostProblem(`${image} was pruned: app.keepReleases (${keep}) keeps the ${keep === 1 ? 'image' : `${keep} images`} released last besides the one running`, `Kept: ${known}. Roll back to one of them with --to, or deploy it again with berth deploy.`);
  if (to !== undefined) {
    const named = images.find((image) => tagOf(image) === to || image === to);
    if (!named) throw new HostProblem(`no released image has the tag ${to} (kept: ${known})`, 'Give one of the kept tags with --to, or leave --to out to go back to the one before the current.');
    if (!kept.includes(named)) throw pruned(named);
    return named;
  }
  const at = current === undefined ? -1 : images.indexOf(current);
  if (at <= 0) {
    throw new HostProblem(
      current === undefined ? 'nothing was deployed with berth deploy yet: there is no earlier image to go back to' : `${current} is the first image released here: there is no earlier one`,
      `Released: ${images.map(tagOf).join(', ') || 'none'}. Deploy another image with berth deploy.`,
    );
  }
  if (!kept.includes(images[at - 1])) throw pruned(images[at - 1]);
  return images[at - 1];
}

/** The image the app runs after this run: the rollback's target, else the one deployed last, else the answers' (`fromAnswers`: a rollback needs no build context). */
export function releaseImage(ctx: Pick<PhaseContext, 'local' | 'answers'>, lines: readonly ReleaseLine[], fromAnswers: () => string): string {
  const keep = ctx.answers.app.keepReleases;
  const request = ctx.local.release;
  if (request?.kind === 'rollback') return rollbackTarget(lines, keep, request.to);
  if (request?.kind === 'deploy') return fromAnswers();
  return lines.at(-1)?.image ?? fromAnswers();
}

/** Whether this run leaves the answers' image alone because berth deploy chose another one since. */
export function keepsDeployed(ctx: Pick<PhaseContext, 'local'>, lines: readonly ReleaseLine[]): boolean {
  return ctx.local.release === undefined && lines.length > 0;
}

/** The command that notes `previous` as what serves until the roll of a release ends, before its compose file changes (kept if a killed run already noted one). */
export function notePending(answers: Answers, previous: string): string {
  const path = pendingReleasePath(answers);
  return `install -d -m 0755 ${shq(posix.dirname(path))} && { [ -s ${shq(path)} ] || echo ${shq(previous)} > ${shq(path)}; }`;
}

/** The command that records a deploy or rollback of `image` (replacing `previous`), last in the roll that made it. */
export function recordRelease(answers: Answers, kind: ReleaseLine['kind'], image: string, previous: string): string {
  return `printf '%s %s %s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${shellCommand([kind, image, previous])} >> ${shq(releasesPath(answers))} && rm -f ${shq(pendingReleasePath(answers))}`;
}
