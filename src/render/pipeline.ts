import { stringify } from 'yaml';

/**
 * The CI/CD pipelines `berth ci gitlab` and `berth ci github` write for the
 * app's repository: build → push (to the private registry, tagged with the
 * commit and latest) → deploy (`berth deploy --tag`, the same rolling,
 * health-checked deploy as from a laptop) → cleanup (the runner's copies).
 * For a runner on a machine of the team that reaches the hosts, with Docker
 * and the berth binary, trusting the registry's CA (certs.d). Secrets come
 * only from the CI system's variables: the registry password on stdin, the
 * answers file and the SSH key as files; host keys are the ones pinned in the
 * answers file (berth refuses any other), so no job ever scans or trusts a
 * host key of its own. Pure.
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
  { name: 'BERTH_ANSWERS', kind: 'file', what: 'the answers file (berth.yaml): its secrets (or env: references to variables of the job), its hosts\' pinned hostKey, no ssh.privateKey (the key comes from BERTH_SSH_KEY), no relative paths' },
  { name: 'BERTH_SSH_KEY', kind: 'file', what: "a private key of the admin user (in admin.authorizedKeys), without a passphrase" },
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
      // The key in an agent that lives as long as the deploy; berth connects as the admin user and checks each host's pinned key.
      `ssh-agent sh -c 'ssh-add -q - < "$BERTH_SSH_KEY" && exec berth deploy --answers "$BERTH_ANSWERS" --tag "$1" --yes --output plain' sh "${commitTag}"`,
    ],
    // The runner's copies; the hosts and the registry keep theirs (rollback targets).
    cleanup: [`docker image rm ${tagged} "$BERTH_IMAGE:latest" || true`],
  };
}

function header(t: PipelineTarget, system: string, file: string, howToSet: string): string {
  const lines = [
    `Written by berth ci ${system} for the project ${t.project}: build, push to ${t.registry}, deploy with berth, clean up.`,
    `Commit it as ${file}.`,
    '',
    `The runner (${system === 'gitlab' ? 'a shell executor' : 'self-hosted'}) needs Docker, the berth binary on its PATH, SSH to the hosts,`,
    `and Docker's trust in the registry's CA, once, as root on the runner:`,
    `  mkdir -p /etc/docker/certs.d/${t.registry}`,
    `  ssh ${t.adminUser}@${t.registryHost} sudo cat ${t.caPathOnHost} > /etc/docker/certs.d/${t.registry}/ca.crt`,
    '',
    `${howToSet}:`,
    ...PIPELINE_VARIABLES.map((v) => `  ${v.name} (${v.kind}): ${v.what}`),
  ];
  return lines.map((line) => (line ? `# ${line}` : '#')).join('\n') + '\n';
}

export function renderGitlabPipeline(t: PipelineTarget): string {
  const s = stageScripts(t, '$CI_COMMIT_SHORT_SHA');
  const doc = {
    stages: ['build', 'push', 'deploy', 'cleanup'],
    variables: { BERTH_IMAGE: image(t) },
    build: { stage: 'build', script: s.build },
    push: { stage: 'push', script: s.push },
    // One deploy at a time, in commit order: a later pipeline waits for the one deploying.
    deploy: { stage: 'deploy', resource_group: 'production', environment: { name: 'production' }, script: s.deploy },
    cleanup: { stage: 'cleanup', when: 'always', script: s.cleanup },
  };
  return header(t, 'gitlab', '.gitlab-ci.yml', 'CI/CD variables (Settings → CI/CD → Variables; protected, for the default branch)') + stringify(doc, { lineWidth: 0 });
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
