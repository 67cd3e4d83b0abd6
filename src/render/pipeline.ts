import { stringify } from 'yaml';

/**
 * The CI/CD pipelines `berth ci gitlab` and `berth ci github` write for the
 * app's repository: build → push (to the private registry, tagged with the
 * commit and latest) → deploy (over SSH as the deploy user, whose key can
 * only ask the app host to deploy a tag: the same rolling, health-checked
 * deploy as berth deploy --tag) → cleanup (the runner's copies). For a
 * runner on a machine of the team that reaches the hosts, with Docker and
 * OpenSSH's client, trusting the registry's CA (certs.d). Secrets come only
 * from the CI system's variables: the registry password on stdin, the deploy
 * key and the app host's keys (berth ci known-hosts) as files, so no job
 * ever scans or blindly trusts a host key. Pure.
 */

export interface PipelineTarget {
  /** The answers' project: the image is <registry>/<project>/app. */
  project: string;
  /** The private registry as the runner reaches it (the registry host's address in the answers, which its certificate names). */
  registry: string;
  /** Where the registry's CA certificate is on the registry host, for the runner's certs.d. */
  caPathOnHost: string;
  /** The registry host's address and the admin user, to say where the CA comes from. */
  registryHost: string;
  adminUser: string;
  /** The app host as the runner reaches it (its address in the answers) and its SSH port, and the deploy user there. */
  appHost: string;
  sshPort: number;
  deployUser: string;
}

/** A CI/CD variable the pipeline needs: its name, whether it is a file (its value a path) or masked, and what to put in it. */
export interface PipelineVariable {
  name: string;
  kind: 'plain' | 'masked' | 'file';
  what: string;
}

export const PIPELINE_VARIABLES: readonly PipelineVariable[] = [
  { name: 'BERTH_REGISTRY_USER', kind: 'plain', what: 'registry.user of the answers file' },
  { name: 'BERTH_REGISTRY_PASSWORD', kind: 'masked', what: 'registry.password of the answers file' },
  { name: 'BERTH_DEPLOY_KEY', kind: 'file', what: 'the private deploy key, without a passphrase (its public half in ci.deployKeys of the answers file)' },
  { name: 'BERTH_KNOWN_HOSTS', kind: 'file', what: "the app host's keys: the output of berth ci known-hosts --answers berth.yaml" },
];

const image = (t: PipelineTarget) => `${t.registry}/${t.project}/app`;

/** The shell lines of each stage, the same for both CI systems: only how a commit's tag and the variables reach them differs. */
function stageScripts(t: PipelineTarget, commitTag: string) {
  const tagged = `"$BERTH_IMAGE:${commitTag}"`;
  return {
    build: [`docker build --tag ${tagged} .`],
    push: [
      // A login of its own for the job, not the runner user's ~/.docker.
      'export DOCKER_CONFIG="$(mktemp -d)"',
      `printf '%s' "$BERTH_REGISTRY_PASSWORD" | docker login --username "$BERTH_REGISTRY_USER" --password-stdin ${t.registry}`,
      `docker push --quiet ${tagged}`,
      `docker tag ${tagged} "$BERTH_IMAGE:latest"`,
      'docker push --quiet "$BERTH_IMAGE:latest"',
      'rm -rf "$DOCKER_CONFIG"',
    ],
    deploy: [
      // The key in an agent that lives as long as the deploy (a file variable's mode is 0644: ssh would refuse the file itself); the host's key from BERTH_KNOWN_HOSTS only.
      `ssh-agent sh -c 'ssh-add -q - < "$BERTH_DEPLOY_KEY" && exec ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$BERTH_KNOWN_HOSTS" -p ${t.sshPort} ${t.deployUser}@${t.appHost} deploy "$1"' sh "${commitTag}"`,
    ],
    // The runner's copies; the hosts and the registry keep theirs (rollback targets).
    cleanup: [`docker image rm ${tagged} "$BERTH_IMAGE:latest" || true`],
  };
}

function header(t: PipelineTarget, system: string, file: string, howToSet: string, variant: readonly string[] = []): string {
  const lines = [
    `Written by berth ci ${system} for the project ${t.project}: build, push to ${t.registry}, deploy as ${t.deployUser}@${t.appHost}, clean up.`,
    `Commit it as ${file}.`,
    '',
    ...(variant.length > 0
      ? [...variant, '']
      : [
          `The runner (${system === 'gitlab' ? 'a shell executor' : 'self-hosted'}) needs Docker, OpenSSH's ssh and ssh-agent, and to reach the hosts.`,
          'The jobs share its Docker (the push job pushes the image the build job built): give this project one runner,',
          `or ${system === 'gitlab' ? 'tags' : 'labels'} that select one.`,
          `It needs Docker's trust in the registry's CA, once, as root on the runner:`,
          `  mkdir -p /etc/docker/certs.d/${t.registry}`,
          `  ssh ${t.adminUser}@${t.registryHost} sudo cat ${t.caPathOnHost} > /etc/docker/certs.d/${t.registry}/ca.crt`,
          ...(system === 'gitlab' ? ['(For a docker executor: berth ci gitlab --executor docker, the Docker-in-Docker variant.)'] : []),
          '',
        ]),
    `${howToSet}:`,
    ...PIPELINE_VARIABLES.map((v) => `  ${v.name} (${v.kind}): ${v.what}`),
  ];
  return lines.map((line) => (line ? `# ${line}` : '#')).join('\n') + '\n';
}

/** GitLab's runner executors berth writes for: shell (Docker of the runner's machine) or docker (Docker-in-Docker). */
export type GitlabExecutor = 'shell' | 'docker';

/** The images of the Docker-in-Docker variant (Docker Hub's official ones: a runner behind a registry mirror gets them through it). */
const DIND = { cli: 'docker:27-cli', daemon: 'docker:27-dind' } as const;

/**
 * The Docker-in-Docker service with the registry's CA in its certs.d: the
 * daemon that pushes is the service's, so the CA goes there (from a plain
 * variable: a service sees the job's variables, not its files) before dockerd starts.
 */
function dindService(t: PipelineTarget) {
  const dir = `/etc/docker/certs.d/${t.registry}`;
  return {
    name: DIND.daemon,
    alias: 'docker',
    entrypoint: ['sh', '-c', `mkdir -p '${dir}' && printf '%s\\n' "$BERTH_REGISTRY_CA" > '${dir}/ca.crt' && exec dockerd-entrypoint.sh`],
  };
}

export function renderGitlabPipeline(t: PipelineTarget, executor: GitlabExecutor = 'shell'): string {
  const s = stageScripts(t, '$CI_COMMIT_SHORT_SHA');
  const docker = executor === 'docker';
  // Docker-in-Docker over TLS, as GitLab documents it: the service writes the client certificates to /certs/client, a volume of the runner's.
  const dockerJob = docker ? { image: DIND.cli, services: [dindService(t)] } : {};
  const doc = {
    stages: ['build', 'push', 'deploy', 'cleanup'],
    variables: { BERTH_IMAGE: image(t), ...(docker ? { DOCKER_HOST: 'tcp://docker:2376', DOCKER_TLS_CERTDIR: '/certs', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs/client' } : {}) },
    build: { stage: 'build', ...dockerJob, script: s.build },
    push: { stage: 'push', ...dockerJob, script: s.push },
    // One deploy at a time, in commit order: a later pipeline waits for the one deploying.
    deploy: {
      stage: 'deploy',
      resource_group: 'production',
      environment: { name: 'production' },
      ...(docker ? { image: DIND.cli, script: ['apk add --no-cache openssh-client', ...s.deploy] } : { script: s.deploy }),
    },
    cleanup: { stage: 'cleanup', ...dockerJob, when: 'always', script: s.cleanup },
  };
  const variant = docker
    ? [
        'This is the Docker-in-Docker variant (docker executor): the runner\'s config.toml needs privileged = true and',
        'volumes = ["/certs/client"], and it pulls docker:27-cli and docker:27-dind (through a registry mirror where Docker Hub is out of reach).',
        "The registry's CA goes into the dind service's certs.d from the variable BERTH_REGISTRY_CA: set it to the CA (a plain variable:",
        `ssh ${t.adminUser}@${t.registryHost} sudo cat ${t.caPathOnHost}).`,
      ]
    : [];
  return header(t, 'gitlab', '.gitlab-ci.yml', 'CI/CD variables (Settings → CI/CD → Variables; protected, for the default branch)', variant) + stringify(doc, { lineWidth: 0 });
}

export function renderGithubWorkflow(t: PipelineTarget): string {
  const s = stageScripts(t, '$BERTH_TAG');
  const env = Object.fromEntries(PIPELINE_VARIABLES.filter((v) => v.kind !== 'file').map((v) => [v.name, v.kind === 'masked' ? `\${{ secrets.${v.name} }}` : `\${{ vars.${v.name} }}`]));
  // Secrets of the file kind GitHub does not have: each is written to a file of the job's own (mode 0600) and named by its variable.
  const files = PIPELINE_VARIABLES.filter((v) => v.kind === 'file');
  const secretFile = (v: PipelineVariable) => `$RUNNER_TEMP/${v.name.toLowerCase()}`;
  const fileStep = {
    name: 'secret files',
    env: Object.fromEntries(files.map((v) => [`${v.name}_CONTENT`, `\${{ secrets.${v.name} }}`])),
    run: [
      'umask 077',
      ...files.flatMap((v) => [`printf '%s\\n' "$${v.name}_CONTENT" > "${secretFile(v)}"`, `echo "${v.name}=${secretFile(v)}" >> "$GITHUB_ENV"`]),
    ].join('\n'),
  };
  const job = (needs: string | undefined, steps: object[], extra: object = {}) => ({ 'runs-on': 'self-hosted', ...(needs ? { needs } : {}), ...extra, steps });
  const run = (name: string, lines: string[]) => ({ name, run: lines.join('\n') });
  const doc = {
    name: 'build, push and deploy',
    on: { push: { branches: ['main'] }, workflow_dispatch: {} },
    // One deploy at a time: a later run waits for the one deploying.
    concurrency: { group: 'berth-production', 'cancel-in-progress': false },
    env: { BERTH_IMAGE: image(t), BERTH_TAG: '${{ github.sha }}' },
    jobs: {
      build: job(undefined, [{ uses: 'actions/checkout@v4' }, run('build', s.build)]),
      push: job('build', [run('push', s.push)], { env }),
      deploy: job('push', [fileStep, run('deploy', s.deploy), { name: 'remove the secret files', if: 'always()', run: files.map((v) => `rm -f "${secretFile(v)}"`).join('\n') }], { environment: 'production' }),
      cleanup: job('deploy', [run('cleanup', s.cleanup)], { if: 'always()' }),
    },
  };
  return header(t, 'github', '.github/workflows/deploy.yml', 'Repository secrets (BERTH_REGISTRY_USER a variable, the others secrets)') + stringify(doc, { lineWidth: 0 });
}
