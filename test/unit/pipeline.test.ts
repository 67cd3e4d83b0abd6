import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { PIPELINE_VARIABLES, renderGithubWorkflow, renderGitlabPipeline, type PipelineTarget } from '../../src/render/pipeline';

const TARGET: PipelineTarget = { project: 'shop', registry: '203.0.113.12:5000', caPathOnHost: '/etc/berth/registry-ca/ca.crt', registryHost: '203.0.113.12', adminUser: 'berth', appHost: '203.0.113.11', sshPort: 2222, deployUser: 'berth-deploy' };

/** What no generated pipeline may ever hold: host keys trusted blindly or scanned in a job, a password on a command line. */
function assertNoUnsafeShell(text: string): void {
  assert.doesNotMatch(text, /StrictHostKeyChecking=(?!yes\b)|ssh-keyscan|UserKnownHostsFile=\/dev\/null/);
  assert.doesNotMatch(text, /--password[ =]|-p "\$BERTH_REGISTRY_PASSWORD"/);
}

describe('pipelines (berth ci)', () => {
  it('GitLab: build, push (commit tag and latest, the password on stdin), deploy by tag one at a time, cleanup always', () => {
    const text = renderGitlabPipeline(TARGET);
    assertNoUnsafeShell(text);
    const doc = parseYaml(text) as Record<string, { stage?: string; script?: string[]; when?: string; resource_group?: string }> & { stages: string[]; variables: Record<string, string> };
    assert.deepEqual(doc.stages, ['build', 'push', 'deploy', 'cleanup']);
    assert.deepEqual(doc.variables, { BERTH_IMAGE: '203.0.113.12:5000/shop/app' });
    assert.deepEqual(doc.build.script, ['docker build --tag "$BERTH_IMAGE:$CI_COMMIT_SHORT_SHA" .']);
    assert.deepEqual(doc.push.script, [
      'export DOCKER_CONFIG="$(mktemp -d)"',
      'printf \'%s\' "$BERTH_REGISTRY_PASSWORD" | docker login --username "$BERTH_REGISTRY_USER" --password-stdin 203.0.113.12:5000',
      'docker push --quiet "$BERTH_IMAGE:$CI_COMMIT_SHORT_SHA"',
      'docker tag "$BERTH_IMAGE:$CI_COMMIT_SHORT_SHA" "$BERTH_IMAGE:latest"',
      'docker push --quiet "$BERTH_IMAGE:latest"',
      'rm -rf "$DOCKER_CONFIG"',
    ]);
    assert.deepEqual(doc.deploy.script, [`ssh-agent sh -c 'ssh-add -q - < "$BERTH_DEPLOY_KEY" && exec ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$BERTH_KNOWN_HOSTS" -p 2222 berth-deploy@203.0.113.11 deploy "$1"' sh "$CI_COMMIT_SHORT_SHA"`]);
    assert.equal(doc.deploy.resource_group, 'production');
    assert.equal(doc.cleanup.when, 'always');
    // Every variable the jobs use is explained in the header, with its kind.
    for (const v of PIPELINE_VARIABLES) assert.match(text, new RegExp(`^#   ${v.name} \\((plain|masked|file)\\): `, 'm'));
    assert.match(text, /^#   ssh berth@203\.0\.113\.12 sudo cat \/etc\/berth\/registry-ca\/ca\.crt > \/etc\/docker\/certs\.d\/203\.0\.113\.12:5000\/ca\.crt$/m);
  });

  it("GitLab, Docker-in-Docker (--executor docker): the same scripts in docker:cli jobs, the dind service over TLS with the registry's CA in its certs.d", () => {
    const text = renderGitlabPipeline(TARGET, 'docker');
    assertNoUnsafeShell(text);
    const shell = parseYaml(renderGitlabPipeline(TARGET)) as Record<string, { script?: string[] }>;
    const doc = parseYaml(text) as Record<string, { image?: string; services?: { name: string; alias: string; entrypoint: string[] }[]; script?: string[] }> & { variables: Record<string, string> };
    assert.deepEqual(doc.variables, { BERTH_IMAGE: '203.0.113.12:5000/shop/app', DOCKER_HOST: 'tcp://docker:2376', DOCKER_TLS_CERTDIR: '/certs', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs/client' });
    for (const job of ['build', 'push', 'cleanup']) {
      assert.equal(doc[job].image, 'docker:27-cli');
      assert.deepEqual(doc[job].script, shell[job].script, `${job}: the shell executor's script`);
      assert.deepEqual(doc[job].services, [
        { name: 'docker:27-dind', alias: 'docker', entrypoint: ['sh', '-c', `mkdir -p '/etc/docker/certs.d/203.0.113.12:5000' && printf '%s\\n' "$BERTH_REGISTRY_CA" > '/etc/docker/certs.d/203.0.113.12:5000/ca.crt' && exec dockerd-entrypoint.sh`] },
      ]);
    }
    assert.deepEqual(doc.deploy.script, ['apk add --no-cache openssh-client', ...shell.deploy.script!]);
    assert.match(text, /^# This is the Docker-in-Docker variant \(docker executor\): the runner's config\.toml needs privileged = true and$/m);
    assert.match(text, /BERTH_REGISTRY_CA/);
  });

  it('GitHub: the same steps in jobs chained by needs on a self-hosted runner, secrets only through env and files of the job', () => {
    const text = renderGithubWorkflow(TARGET);
    assertNoUnsafeShell(text);
    const doc = parseYaml(text) as { env: Record<string, string>; concurrency: { group: string }; jobs: Record<string, { 'runs-on': string; needs?: string; if?: string; env?: Record<string, string>; steps: { run?: string; env?: Record<string, string> }[] }> };
    assert.deepEqual(Object.keys(doc.jobs), ['build', 'push', 'deploy', 'cleanup']);
    assert.deepEqual(Object.values(doc.jobs).map((j) => j.needs), [undefined, 'build', 'push', 'deploy']);
    assert.ok(Object.values(doc.jobs).every((j) => j['runs-on'] === 'self-hosted'));
    assert.equal(doc.env.BERTH_TAG, '${{ github.sha }}');
    assert.deepEqual(doc.jobs.push.env, { BERTH_REGISTRY_USER: '${{ vars.BERTH_REGISTRY_USER }}', BERTH_REGISTRY_PASSWORD: '${{ secrets.BERTH_REGISTRY_PASSWORD }}' });
    assert.equal(doc.jobs.cleanup.if, 'always()');
    // No expression inside a script: secrets reach the shell as environment variables only.
    for (const job of Object.values(doc.jobs)) for (const step of job.steps) assert.doesNotMatch(step.run ?? '', /\$\{\{/);
    assert.match(doc.jobs.deploy.steps[0].run!, /^umask 077\n/);
    assert.equal(doc.jobs.deploy.steps[1].run, `ssh-agent sh -c 'ssh-add -q - < "$BERTH_DEPLOY_KEY" && exec ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$BERTH_KNOWN_HOSTS" -p 2222 berth-deploy@203.0.113.11 deploy "$1"' sh "$BERTH_TAG"`);
  });
});
