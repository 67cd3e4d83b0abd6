import { hostsWithRole, type Phase } from '../engine/phase';
import type { Action } from '../engine/plan';
import { shellCommand, shq } from '../shell';
import { appComposePath } from '../render/stack';
import { appRepository } from './app-image';
import { runningImage } from './app';
import { keptImages, parseReleases, releasesProbe } from './release';

/**
 * Old app images on the app host: after the app rolled out, the images of
 * the app's repository that no container uses and that are not kept
 * (release.ts: the one running and the app.keepReleases released last
 * before it) are removed. A rerun finds nothing more to remove.
 */

/** The repository's tagged images that no container (running or not) uses, one per line, sorted (this phase's probe, and berth-deploy's). */
export function unusedImagesScript(repository: string): string {
  return [
    `used=$(docker ps --all --format '{{.Image}}')`,
    `docker image ls --format '{{.Repository}}:{{.Tag}}' ${shq(repository)} | grep -v ':<none>$' | grep -vxF "$used" | sort || true`,
  ].join('\n');
}

export const appPrunePhase: Phase = {
  name: 'app-prune',
  title: 'old app images',
  appliesTo: hostsWithRole('app'),
  query(ctx) {
    return { files: [appComposePath(ctx.answers)], probes: { releases: releasesProbe(ctx.answers), unused: unusedImagesScript(appRepository(ctx)) } };
  },
  plan(ctx, facts): Action[] {
    const kept = new Set([...keptImages(parseReleases(facts.probes.releases.out), ctx.answers.app.keepReleases), runningImage(ctx, facts)]);
    const unused = facts.probes.unused.out.split('\n').filter((line) => line !== '');
    const removed = unused.filter((image) => !kept.has(image));
    if (removed.length === 0) return [];
    const left = unused.filter((image) => kept.has(image));
    return [
      {
        kind: 'run',
        title: `remove ${removed.length} old app image${removed.length === 1 ? '' : 's'} (${removed.join(', ')}), keeping the one running and ${ctx.answers.app.keepReleases} to roll back to`,
        script: shellCommand(['docker', 'image', 'rm', '--', ...removed]),
        effects: [{ probe: 'unused', code: 0, out: left.map((image) => `${image}\n`).join('') }],
      },
    ];
  },
};
