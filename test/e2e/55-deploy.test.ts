import assert from 'node:assert/strict';
import { cannotStart, demoAppCopy, headerValues } from './apps';
import { loadDuring, type HeyOutcome } from './hey';
import { changedPhases, INSTALL_TIMEOUT_MS, installedPlatform, runBerth, stackSettled, type BerthRun, type InstalledPlatform } from './installed';

/**
 * `berth deploy` and `berth rollback` on the installed platform, each under
 * load from the outsider: a new version of the demo app (its build context
 * changed, so its content tag and the version it shows change), back again,
 * and a version that never becomes healthy, which goes back by itself.
 */
describe('e2e: berth deploy and berth rollback', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let p: InstalledPlatform;
  let vm1: string;

  before(async () => {
    p = await installedPlatform();
    vm1 = p.topo.vms.vm1.ip;
    const converged = await p.berth('install');
    assert.equal(converged.code, 0, converged.output);
    await stackSettled(p);
  });

  const versionsServed = () => headerValues(p.topo, `http://${vm1}/`, 'X-App-Version', 8);

  const underLoad = (run: () => Promise<BerthRun>) => loadDuring(p.topo, `http://${vm1}/`, run);

  const noFailure = (outcome: HeyOutcome, report: string) => {
    assert.ok((outcome.statuses['200'] ?? 0) > 100, report);
    assert.deepEqual(outcome, { statuses: { 200: outcome.statuses['200'] }, errors: 0 }, report);
  };

  const releases = async () => (await p.topo.exec('vm1', 'cat /var/lib/berth/app/releases')).stdout.trim().split('\n');
  let first: string;
  let second: string;

  it('deploys a new version under load with no failed request, only the app image and the app changing; then a second deploy and an install change nothing', async () => {
    [first] = await versionsServed();
    const dir = demoAppCopy('app-v2');
    const { result: run, outcome, report } = await underLoad(() => p.berth('deploy', ['--source', dir, '--output', 'plain']));
    assert.equal(run.code, 0, run.output);
    assert.deepEqual(changedPhases(run.output), ['vm1 app-image', 'vm1 app'], run.output);
    assert.doesNotMatch(run.output, /\b(docker|firewall|ssh|registry|db)\s+(ok|changed)/, 'no host preparation, no database phase');
    noFailure(outcome, report);
    const served = await versionsServed();
    assert.equal(served.length, 1, `one version serves: ${served.join(', ')}`);
    [second] = served;
    assert.notEqual(second, first);
    const lines = await releases();
    assert.equal(lines.length, 1);
    assert.match(lines[0], new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ deploy [\\d.]+:5000/app/app:${second} [\\d.]+:5000/app/app:${first}$`));

    assert.match((await p.berth('deploy', ['--source', dir, '--output', 'plain'])).output, /Done: 0 changed\./, 'the same version again changes nothing');
    const install = await p.berth('install');
    assert.match(install.output, /Done: 0 changed\./, 'an install keeps the deployed version');
    assert.deepEqual(await versionsServed(), [second]);
  });

  it('rolls back under load with no failed request to the version before; a second rollback finds nothing earlier', async () => {
    const { result: run, outcome, report } = await underLoad(() => p.berth('rollback', ['--output', 'plain']));
    assert.equal(run.code, 0, run.output);
    assert.deepEqual(changedPhases(run.output), ['vm1 app'], run.output);
    noFailure(outcome, report);
    assert.deepEqual(await versionsServed(), [first]);
    assert.match((await releases())[1], new RegExp(` rollback [\\d.]+:5000/app/app:${first} [\\d.]+:5000/app/app:${second}$`));
    const again = await p.berth('rollback', ['--output', 'plain']);
    assert.equal(again.code, 1, again.output);
    assert.match(again.output, new RegExp(`app/app:${first} is the first image released here: there is no earlier one`));
    assert.match(again.output, new RegExp(`Released: ${first}, ${second}\\.`));
    assert.deepEqual(await versionsServed(), [first], 'nothing changed');
  });

  it('a version that never becomes healthy goes back by itself under load: no failed request, the command fails naming the container with its last log lines', async () => {
    const dir = demoAppCopy('app-broken', cannotStart);
    const { result: run, outcome, report } = await underLoad(() => p.berth('deploy', ['--source', dir, '--output', 'plain']));
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /the container app-1 did not become healthy: it (stopped|is unhealthy)/);
    assert.match(run.output, /berth-e2e: this build cannot start \(on purpose\)/, 'its last log lines are shown');
    assert.match(run.output, new RegExp(`did not become healthy; going back to [\\d.]+:5000/app/app:${first}`));
    assert.match(run.output, /Fix what is reported above and run `berth deploy --answers \S+ --source \S+app-broken\S*`/);
    noFailure(outcome, report);
    assert.deepEqual(await versionsServed(), [first]);
    assert.equal((await releases()).length, 2, 'a deploy that went back is not a release');
    const status = await p.berth('status');
    assert.equal(status.code, 0, `every replica runs the previous version, healthy:\n${status.output}`);
    // The image that failed stays on the app host until the next run, which prunes it (never released: no rollback target) and nothing else.
    const install = await p.berth('install');
    assert.deepEqual(changedPhases(install.output), ['vm1 app-prune'], install.output);
    assert.match(install.output, /app-prune: remove 1 old app image \([\d.]+:5000\/app\/app:\w+\), keeping the one running and 5 to roll back to/);
    assert.match((await p.berth('install')).output, /Done: 0 changed\./);
  });

  it('a deploy killed in the middle of its roll is finished by the next one, recorded as replacing what served before', async () => {
    const dir = demoAppCopy('app-v3');
    const killed = await p.berth('deploy', ['--source', dir, '--output', 'plain'], {
      onOutput: (chunk, child) => {
        if (/: app: roll out /.test(chunk)) child.kill('SIGKILL');
      },
    });
    assert.notEqual(killed.code, 0, killed.output);
    assert.match(killed.output, /: app: roll out /, 'killed once its roll had started');
    const again = await p.berth('deploy', ['--source', dir, '--output', 'plain']);
    assert.equal(again.code, 0, again.output);
    const served = await versionsServed();
    assert.equal(served.length, 1, served.join(', '));
    assert.ok(![first, second].includes(served[0]), `the new version serves, not ${served[0]}`);
    assert.match((await releases()).at(-1)!, new RegExp(` deploy [\\d.]+:5000/app/app:${served[0]} [\\d.]+:5000/app/app:${first}$`));
    assert.match((await p.berth('install')).output, /Done: 0 changed\./);
  });

  it('prunes released images beyond app.keepReleases on the app host and in the registry (garbage collected), never a rollback target; a rerun prunes nothing', async () => {
    // Released so far: first (the install's), second, third (the one running): app.keepReleases 1 keeps third and second.
    const [third] = await versionsServed();
    const registry = `${p.topo.vms.vm2.ip}:5000`;
    const { registryPassword } = p.topo.secrets;
    const api = (path: string, curlOptions = '-sf') =>
      p.topo.exec('vm1', `printf 'user = "berth:%s"\\n' '${registryPassword}' | curl ${curlOptions} -K - --cacert /etc/docker/certs.d/${registry}/ca.crt -H 'Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json' https://${registry}/v2/app/app/${path}`);
    const tags = async () => (JSON.parse((await api('tags/list')).stdout) as { tags: string[] }).tags.sort();
    const localImages = async () => (await p.topo.exec('vm1', `docker image ls --format '{{.Tag}}' ${registry}/app/app`)).stdout.trim().split('\n').sort();
    const before = await tags();
    assert.ok([first, second, third].every((tag) => before.includes(tag)), before.join(', '));
    const digest = /docker-content-digest: (\S+)/i.exec((await api(`manifests/${first}`, '-sfI')).stdout)?.[1];
    assert.ok(digest, 'the first image has a manifest in the registry');
    const keepOne = p.topo.writeAnswers({ app: { keepReleases: 1 } }, 'keep-1.yaml');
    const install = await runBerth(['install', '--answers', keepOne, '--yes', '--output', 'plain']);
    assert.equal(install.code, 0, install.output);
    assert.deepEqual(changedPhases(install.output).filter((phase) => phase !== 'vm1 app-prune'), ['vm2 registry-prune'], install.output);
    assert.match(install.output, new RegExp(`remove 1 old app image from the registry \\(${first}\\)`));
    assert.deepEqual(await tags(), before.filter((tag) => tag !== first), 'only the former release goes; tags never released stay');
    assert.equal((await api(`manifests/${digest}`, '-s -o /dev/null -w %{http_code}')).stdout, '404', 'its manifest is garbage collected');
    const local = await localImages();
    assert.ok(local.includes(second) && local.includes(third) && !local.includes(first), local.join(', '));
    assert.match((await runBerth(['install', '--answers', keepOne, '--yes', '--output', 'plain'])).output, /Done: 0 changed\./);
    const refused = await runBerth(['rollback', '--answers', keepOne, '--yes', '--to', first]);
    assert.notEqual(refused.code, 0, refused.output);
    assert.match(refused.output, new RegExp(`app:${first} was pruned: app\\.keepReleases \\(1\\) keeps the image released last besides the one running`));
    // The kept rollback target: pulled back from the registry, under load.
    const { result: back, outcome, report } = await underLoad(() => runBerth(['rollback', '--answers', keepOne, '--yes', '--output', 'plain']));
    assert.equal(back.code, 0, back.output);
    noFailure(outcome, report);
    assert.deepEqual(await versionsServed(), [second]);
  });
});
