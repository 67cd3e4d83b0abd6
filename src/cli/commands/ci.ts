import { CONNECT_OPTIONS, type Command, type CommandContext } from '../command';

/** The pipeline's target from the answers file: its registry as a runner reaches it, the project. Nothing is contacted. */
function pipelineTarget(ctx: CommandContext) {
  const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
  const { clusterOf, firstWithRole } = require('../../engine/cluster') as typeof import('../../engine/cluster');
  const { registryAddressFromInstaller, REGISTRY_FILES } = require('../../render/registry') as typeof import('../../render/registry');
  const { answers } = loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
  const registryHost = firstWithRole(clusterOf(answers), 'registry');
  return {
    project: answers.project,
    registry: registryAddressFromInstaller(answers, registryHost),
    caPathOnHost: REGISTRY_FILES.caCert.path,
    registryHost: registryHost.address,
    adminUser: answers.admin.user,
  };
}

/** `berth ci <system>`: the pipeline of one CI system on stdout. */
function ciCommand(system: 'gitlab' | 'github', file: string, details: string): Command {
  return {
    words: ['ci', system],
    summary: `Print a ${system === 'gitlab' ? 'GitLab CI/CD pipeline' : 'GitHub Actions workflow'} that builds, pushes and deploys the app (berth ci ${system} > ${file}).`,
    usage: '[--answers FILE]',
    options: { answers: CONNECT_OPTIONS.answers },
    details: `${details} Its comments list the CI/CD variables to set. Nothing is contacted.`,
    async run(ctx) {
      const { renderGithubWorkflow, renderGitlabPipeline } = require('../../render/pipeline') as typeof import('../../render/pipeline');
      const render = system === 'gitlab' ? renderGitlabPipeline : renderGithubWorkflow;
      ctx.print.out(render(pipelineTarget(ctx)).trimEnd());
    },
  };
}

export const ciGitlabCommand = ciCommand('gitlab', '.gitlab-ci.yml', 'Stages build, push (tags $CI_COMMIT_SHORT_SHA and latest), deploy (berth deploy --tag) and cleanup, for a shell executor.');
export const ciGithubCommand = ciCommand('github', '.github/workflows/deploy.yml', 'Jobs build, push, deploy (berth deploy --tag) and cleanup on a self-hosted runner.');
