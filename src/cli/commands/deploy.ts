import { resolve } from 'node:path';
import type { LoadedAnswers } from '../../answers/load';
import { BadInputError } from '../../errors';
import type { Phase, PhaseName } from '../../engine/phase';
import { HOST_OPTIONS, outputMode, type Command, type CommandContext } from '../command';

/** What deploys and rollbacks share: the answers file, --yes, the lock take-over. */
const RELEASE_OPTIONS = {
  ...HOST_OPTIONS,
  'force-unlock': { type: 'boolean', description: 'Take over a host lock berth cannot judge itself (as for install).' },
} as const;

/** The phases of a deploy (with its image) or a rollback, in the install's order: the app, pruning what is no longer kept, verify. */
function releasePhases(kind: 'deploy' | 'rollback'): readonly Phase[] {
  const { PHASES } = require('../../phases') as typeof import('../../phases');
  const names: PhaseName[] = [...(kind === 'deploy' ? (['app-image'] as const) : []), 'app', 'app-prune', 'registry-prune', 'verify'];
  return PHASES.filter((phase) => names.includes(phase.name));
}

/** The answers with the app's source the command line gives instead of the file's (checked as the file's would be). */
export function withAppSource(loaded: LoadedAnswers, image: string | undefined, source: string | undefined, cwd: string): LoadedAnswers {
  const { imageReferenceProblem } = require('../../answers/image-ref') as typeof import('../../answers/image-ref');
  const { appDirectoryProblem } = require('../../app/context') as typeof import('../../app/context');
  if (image !== undefined) {
    const problem = imageReferenceProblem(image);
    if (problem) throw new BadInputError(`--image: ${problem}`);
    return { ...loaded, answers: { ...loaded.answers, app: { ...loaded.answers.app, source: 'image', image } } };
  }
  if (source !== undefined) {
    const path = resolve(cwd, source);
    const problem = appDirectoryProblem(path);
    if (problem) throw new BadInputError(`--source ${source}: ${problem}`);
    return { ...loaded, answers: { ...loaded.answers, app: { ...loaded.answers.app, source: 'path', path } } };
  }
  return loaded;
}

function loadForRelease(ctx: CommandContext): LoadedAnswers {
  outputMode(ctx.values);
  const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
  return loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
}

export const deployCommand: Command = {
  words: ['deploy'],
  summary: 'Deploy a new version of the app: build or take the image, push it, migrate once, replace the replicas one at a time.',
  usage: '--answers FILE [--image REF | --source DIR | --tag TAG] [options]',
  options: {
    ...RELEASE_OPTIONS,
    image: { type: 'string', valueName: 'REF', description: 'A prebuilt image to deploy (pulled on the app host, pushed to the private registry).' },
    source: { type: 'string', valueName: 'DIR', description: 'An app directory to build (its Dockerfile at the top), instead of the answers file\'s app source.' },
    tag: { type: 'string', valueName: 'TAG', description: 'An image a pipeline pushed to the private registry as <registry>/<project>/app:TAG (berth ci writes such pipelines).' },
  },
  details:
    'Runs only the app image, app, pruning and verify phases, under the same host lock as install. An image that does not become healthy is rolled back by itself (its last log lines shown) and the command fails. From the first deploy on, berth install keeps the deployed image; berth rollback goes back. Released images beyond app.keepReleases are pruned on the app host and in the registry.',
  async run(ctx) {
    const tag = ctx.values.tag as string | undefined;
    if ((['image', 'source', 'tag'] as const).filter((name) => ctx.values[name] !== undefined).length > 1) throw new BadInputError('give one of --image, --source and --tag');
    const { imageTagProblem } = require('../../answers/image-ref') as typeof import('../../answers/image-ref');
    const tagProblem = tag === undefined ? null : imageTagProblem(tag);
    if (tagProblem) throw new BadInputError(`--tag: ${tagProblem}`);
    const loaded = withAppSource(loadForRelease(ctx), ctx.values.image as string | undefined, ctx.values.source as string | undefined, process.cwd());
    const { runOnHosts } = require('./hosts') as typeof import('./hosts');
    const chosen = (['image', 'source', 'tag'] as const).flatMap((name) => (typeof ctx.values[name] === 'string' ? [`--${name}`, ctx.values[name] as string] : []));
    const again = ['berth', 'deploy', '--answers', loaded.file, ...chosen];
    await runOnHosts(ctx, loaded, 'apply', { phases: releasePhases('deploy'), release: { kind: 'deploy', ...(tag === undefined ? {} : { tag }) }, again });
  },
};

export const rollbackCommand: Command = {
  words: ['rollback'],
  summary: 'Go back to the image deployed before the current one, or to the one --to names.',
  usage: '--answers FILE [--to TAG] [options]',
  options: {
    ...RELEASE_OPTIONS,
    to: { type: 'string', valueName: 'TAG', description: 'The tag of a released image to go back to (berth status shows the current one).' },
  },
  details: 'Runs only the app, pruning and verify phases, under the same host lock as install; the images come from the private registry, which keeps the app.keepReleases released last.',
  async run(ctx) {
    const loaded = loadForRelease(ctx);
    const { runOnHosts } = require('./hosts') as typeof import('./hosts');
    const to = ctx.values.to as string | undefined;
    const again = ['berth', 'rollback', '--answers', loaded.file, ...(to ? ['--to', to] : [])];
    await runOnHosts(ctx, loaded, 'apply', { phases: releasePhases('rollback'), release: { kind: 'rollback', ...(to ? { to } : {}) }, again });
  },
};
