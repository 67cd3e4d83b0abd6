import { hostsWithRole, type PeerFacts, type Phase, type PhaseContext } from '../engine/phase';
import type { Action } from '../engine/plan';
import { assetText } from '../assets';
import { firstWithRole } from '../engine/cluster';
import { REGISTRY_FILES, registryComposePath, registryComposeSpec } from '../render/registry';
import { shellCommand, shq } from '../shell';
import { appRepository, appRepositoryPath } from './app-image';
import { parseReleases, prunedImages, releasesProbe, tagOf } from './release';

/**
 * Old app images in the private registry: the tags of released images no
 * longer kept (release.ts: app.keepReleases), read from the app host's
 * history, are removed and the registry's garbage collected
 * (assets/scripts/registry-gc.sh). Only former releases go: a tag a
 * pipeline pushed and never deployed, or the moving `latest`, stays.
 */

/** The app host's release history, read for the registry host's plan. */
const RELEASES_PEER: PeerFacts = {
  what: "the app's release history",
  from: (cluster) => [firstWithRole(cluster, 'app')],
  query: (answers) => ({ probes: { releases: releasesProbe(answers) } }),
};

/** The registry's data volume (its Compose project's `data`). */
const dataVolume = (ctx: PhaseContext) => `${registryComposeSpec(ctx.answers).name}_data`;

/** The app repository's tags in the registry's storage, one per line (nothing before the first push). */
function tagsScript(ctx: PhaseContext): string {
  const tags = `/docker/registry/v2/repositories/${appRepositoryPath(ctx.answers)}/_manifests/tags`;
  return `data=$(docker volume inspect --format '{{.Mountpoint}}' ${shq(dataVolume(ctx))} 2>/dev/null) && ls -1 "$data"${shq(tags)} 2>/dev/null || true`;
}

export const registryPrunePhase: Phase = {
  name: 'registry-prune',
  title: 'old images in the registry',
  appliesTo: hostsWithRole('registry'),
  peers: RELEASES_PEER,
  query(ctx) {
    return { probes: { tags: tagsScript(ctx) } };
  },
  plan(ctx, facts): Action[] {
    const history = ctx.peers[firstWithRole(ctx.cluster, 'app').name]?.probes.releases?.out ?? '';
    const repository = appRepository(ctx);
    const stored = facts.probes.tags.out.split('\n').filter((line) => line !== '');
    const pruned = prunedImages(parseReleases(history), ctx.answers.app.keepReleases)
      .filter((image) => image.startsWith(`${repository}:`))
      .map(tagOf)
      .filter((tag) => tag !== 'latest' && stored.includes(tag));
    if (pruned.length === 0) return [];
    return [
      {
        kind: 'run',
        title: `remove ${pruned.length} old app image${pruned.length === 1 ? '' : 's'} from the registry (${pruned.join(', ')}) and collect its garbage, the registry stopped meanwhile`,
        script: `set -- ${shellCommand([registryComposePath(ctx.answers), dataVolume(ctx), appRepositoryPath(ctx.answers), REGISTRY_FILES.config.path, ...pruned])}\n${assetText('scripts', 'registry-gc.sh')}`,
        timeoutMs: 15 * 60 * 1000,
        hint: `The registry is started again whatever happened. Its state: docker compose --file ${registryComposePath(ctx.answers)} ps`,
        effects: [{ probe: 'tags', code: 0, out: stored.filter((tag) => !pruned.includes(tag)).map((tag) => `${tag}\n`).join('') }],
      },
    ];
  },
};
