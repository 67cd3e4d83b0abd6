import { BadInputError, RunFailedError } from '../../errors';
import { shellCommand } from '../../shell';
import { CONNECT_OPTIONS, type Command, type CommandContext } from '../command';
import type { LoadedAnswers } from '../../answers/load';

const NO_DEPLOY_KEYS_HINT =
  "The pipelines deploy as the deploy user: make a key for them (ssh-keygen -t ed25519 -N '' -f deploy_key), put deploy_key.pub in ci.deployKeys, and run berth install.";

/** The answers file of `berth ci`, which must enable the deploy user. */
function loadForCi(ctx: CommandContext): LoadedAnswers {
  const { loadAnswersFile } = require('../../answers/load') as typeof import('../../answers/load');
  const loaded = loadAnswersFile((ctx.values.answers as string | undefined) ?? 'berth.yaml');
  if (loaded.answers.ci.deployKeys.length === 0) throw new BadInputError(`${loaded.file}: ci.deployKeys is empty`, [], NO_DEPLOY_KEYS_HINT);
  return loaded;
}

/** The pipeline's target from the answers file: its registry and app host as a runner reaches them, the project. Nothing is contacted. */
function pipelineTarget(ctx: CommandContext) {
  const { clusterOf, firstWithRole } = require('../../engine/cluster') as typeof import('../../engine/cluster');
  const { registryAddressFromInstaller, REGISTRY_FILES } = require('../../render/registry') as typeof import('../../render/registry');
  const { DEPLOY_USER } = require('../../render/deploy-user') as typeof import('../../render/deploy-user');
  const { answers } = loadForCi(ctx);
  const cluster = clusterOf(answers);
  const registryHost = firstWithRole(cluster, 'registry');
  return {
    project: answers.project,
    registry: registryAddressFromInstaller(answers, registryHost),
    caPathOnHost: REGISTRY_FILES.caCert.path,
    registryHost: registryHost.address,
    adminUser: answers.admin.user,
    appHost: firstWithRole(cluster, 'app').address,
    sshPort: answers.sshHardening.port,
    deployUser: DEPLOY_USER,
  };
}

/** `berth ci <system>`: the pipeline of one CI system on stdout. */
function ciCommand(system: 'gitlab' | 'github', file: string, details: string): Command {
  const gitlab = system === 'gitlab';
  return {
    words: ['ci', system],
    summary: `Print a ${gitlab ? 'GitLab CI/CD pipeline' : 'GitHub Actions workflow'} that builds, pushes and deploys the app (berth ci ${system} > ${file}).`,
    usage: gitlab ? '[--answers FILE] [--executor shell|docker]' : '[--answers FILE]',
    options: {
      answers: CONNECT_OPTIONS.answers,
      ...(gitlab ? { executor: { type: 'string', valueName: 'shell|docker', description: "The runner's executor: shell (default; the runner's Docker) or docker (Docker-in-Docker, the registry's CA injected into it)." } } : {}),
    },
    details: `${details} Its comments list the CI/CD variables to set. Nothing is contacted.`,
    async run(ctx) {
      const { renderGithubWorkflow, renderGitlabPipeline } = require('../../render/pipeline') as typeof import('../../render/pipeline');
      const executor = (ctx.values.executor as string | undefined) ?? 'shell';
      if (executor !== 'shell' && executor !== 'docker') throw new BadInputError(`--executor must be shell or docker, not "${executor}"`);
      const target = pipelineTarget(ctx);
      ctx.print.out((gitlab ? renderGitlabPipeline(target, executor) : renderGithubWorkflow(target)).trimEnd());
    },
  };
}

export const ciGitlabCommand = ciCommand('gitlab', '.gitlab-ci.yml', 'Stages build, push (tags $CI_COMMIT_SHORT_SHA and latest), deploy (as the deploy user: ssh berth-deploy@<app host> deploy <tag>) and cleanup, for a shell executor or (--executor docker) Docker-in-Docker.');
export const ciGithubCommand = ciCommand('github', '.github/workflows/deploy.yml', 'Jobs build, push, deploy (as the deploy user: ssh berth-deploy@<app host> deploy <tag>) and cleanup on a self-hosted runner.');

/** The host key files OpenSSH makes, the strongest first. */
const HOST_KEY_FILES = ['ed25519', 'ecdsa', 'rsa'].map((type) => `/etc/ssh/ssh_host_${type}_key.pub`);

export const ciKnownHostsCommand: Command = {
  words: ['ci', 'known-hosts'],
  summary: "Print the app host's SSH host keys as known_hosts lines, for the pipeline's BERTH_KNOWN_HOSTS (berth ci known-hosts > known_hosts).",
  usage: '--answers FILE [options]',
  options: CONNECT_OPTIONS,
  details: "Connects to the app host, checking its key pinned in the answers file, and reads its public host keys there: a pipeline then trusts exactly those. Changes nothing.",
  async run(ctx) {
    const { inspectHosts } = require('./hosts') as typeof import('./hosts');
    const loaded = loadForCi(ctx);
    const { port } = loaded.answers.sshHardening;
    const appHosts = loaded.answers.hosts.filter((h) => h.roles?.includes('app'));
    const failing = await inspectHosts(ctx, { ...loaded, answers: { ...loaded.answers, hosts: appHosts } }, async (agent, host) => {
      const facts = await agent.facts({ files: HOST_KEY_FILES });
      const pattern = port === 22 ? host.address : `[${host.address}]:${port}`;
      const lines = HOST_KEY_FILES.flatMap((path) => {
        const [type, key] = (facts.files[path]?.content ?? '').trim().split(/\s+/);
        return type && key ? [`${pattern} ${type} ${key}`] : [];
      });
      return { ok: lines.length > 0, lines, data: { host: host.name, ok: lines.length > 0, knownHosts: lines } };
    });
    if (failing.length > 0) {
      throw new RunFailedError(`could not read the host keys of ${failing.join(', ')}`, [], `See the errors above; once the host answers, run \`${shellCommand(['berth', 'ci', 'known-hosts', '--answers', loaded.file])}\` again.`);
    }
  },
};
