import { createHash } from 'node:crypto';
import { HostProblem, pushedTag, type Phase, type PhaseContext } from '../engine/phase';
import type { Action } from '../engine/plan';
import { shellCommand, shq } from '../shell';
import { contextTag } from '../app/context';
import { firstWithRole } from '../engine/cluster';
import { registryAddress } from '../render/registry';
import { keepsDeployed, parseReleases, releasesProbe } from './release';

/**
 * The app image, built on the first app host from the build context this
 * machine archived (the bundled demo app or app.path), or a prebuilt image
 * pulled there, and pushed to the private registry under a tag named by its
 * content. A rerun finds the tag in the registry and builds and pushes
 * nothing; a run killed while building or pushing is finished by the next.
 * Once berth deploy chose the image (release.ts), an install builds nothing.
 */

/** The tag: the one a deploy names (pushed by a pipeline), else the build context's SHA-256, or for a prebuilt image a hash of its reference (12 hex digits). */
export function appImageTag(ctx: Pick<PhaseContext, 'answers' | 'local'>): string {
  const { app } = ctx.answers;
  const tag = pushedTag(ctx.local);
  if (tag !== undefined) return tag;
  if (app.source === 'image') return createHash('sha256').update(app.image ?? '').digest('hex').slice(0, 12);
  if (!ctx.local.appContext) throw new Error('the build context was not archived before the run');
  return contextTag(ctx.local.appContext.sha256);
}

/** The app image's repository in the private registry, e.g. app/app. */
export const appRepositoryPath = (answers: Pick<PhaseContext['answers'], 'project'>): string => `${answers.project}/app`;

/** The app image's repository as the hosts name it, e.g. 10.0.0.12:5000/app/app. */
export function appRepository(ctx: Pick<PhaseContext, 'answers' | 'cluster'>): string {
  return `${registryAddress(ctx.answers, firstWithRole(ctx.cluster, 'registry'))}/${appRepositoryPath(ctx.answers)}`;
}

/** Where the app image lives in the private registry, e.g. 10.0.0.12:5000/app/app:3f2a9c1b7d4e. */
export function appImageRef(ctx: Pick<PhaseContext, 'answers' | 'local' | 'cluster'>): string {
  return `${appRepository(ctx)}:${appImageTag(ctx)}`;
}

function contextPath(ctx: PhaseContext, sha256: string): string {
  return `/var/lib/berth/${ctx.answers.project}/app-context-${sha256.slice(0, 12)}.tar`;
}

export const appImagePhase: Phase = {
  name: 'app-image',
  title: 'app image',
  // The first app host builds and pushes.
  appliesTo: (host, answers) => answers.hosts.find((h) => h.roles?.includes('app'))?.name === host.name,
  query(ctx) {
    const ref = appImageRef(ctx);
    const context = ctx.local.appContext;
    return {
      probes: {
        releases: releasesProbe(ctx.answers),
        // Through the daemon's login and certs.d, as a pull would.
        pushed: `docker manifest inspect ${shq(ref)} >/dev/null`,
        ...(context ? { uploaded: `sha256sum ${shq(contextPath(ctx, context.sha256))} 2>/dev/null | cut -d' ' -f1` } : {}),
      },
    };
  },
  plan(ctx, facts): Action[] {
    // A rollback goes back to an image already in the registry; an install after a deploy keeps the deployed one.
    if (ctx.local.release?.kind === 'rollback' || keepsDeployed(ctx, parseReleases(facts.probes.releases.out))) return [];
    if (facts.probes.pushed.code === 0) return [];
    const ref = appImageRef(ctx);
    if (pushedTag(ctx.local) !== undefined) {
      throw new HostProblem(`the private registry has no image ${ref}`, `Push it first (the pipeline's push job: docker push ${ref.replace(/^[^/]+/, '<registry>')}), or give the tag of an image it has.`);
    }
    const pushed = [{ probe: 'pushed', code: 0, out: '' }];
    if (ctx.answers.app.source === 'image') {
      const image = ctx.answers.app.image!;
      return [
        {
          kind: 'run',
          title: `pull ${image} and push it as ${ref}`,
          script: [shellCommand(['docker', 'pull', '--quiet', image]), shellCommand(['docker', 'tag', image, ref]), shellCommand(['docker', 'push', '--quiet', ref])].join('\n'),
          timeoutMs: 30 * 60 * 1000,
          effects: pushed,
          hint: `Check app.image in the answers file (${image}): its name and tag, and that ${ctx.host.name} can pull it (docker.registryMirrors for Docker Hub, a login for a private registry).`,
        },
      ];
    }
    const context = ctx.local.appContext!; // appImageRef (above) checked it
    const path = contextPath(ctx, context.sha256);
    const actions: Action[] = [];
    if (facts.probes.uploaded.out.trim() !== context.sha256) {
      actions.push({ kind: 'upload', title: 'the app build context', localPath: context.localPath, remotePath: path, sha256: context.sha256, size: context.size, mode: 0o600, effects: [{ probe: 'uploaded', code: 0, out: `${context.sha256}\n` }] });
    }
    actions.push({
      kind: 'run',
      title: `build and push ${ref}`,
      script: [
        shellCommand(['docker', 'build', '--progress=plain', '--label', `berth.context=${context.sha256}`, '--tag', ref, '-']) + ` < ${shq(path)}`,
        shellCommand(['docker', 'push', '--quiet', ref]),
        // Kept until the push succeeded: a run killed before then builds again from it without a new upload.
        shellCommand(['rm', '-f', '--', path]),
      ].join('\n'),
      timeoutMs: 60 * 60 * 1000,
      effects: [...pushed, { probe: 'uploaded', code: 0, out: '' }],
      hint: `Fix the build (the Dockerfile ${ctx.answers.app.source === 'path' ? `in app.path, ${ctx.answers.app.path}` : 'of the bundled app'}) and run again: berth continues where it stopped.`,
    });
    return actions;
  },
};
