import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { assetPath } from '../../../src/assets';
import { HostProblem, type PhaseContext } from '../../../src/engine/phase';
import type { Facts } from '../../../src/engine/plan';
import { appPrunePhase } from '../../../src/phases/app-prune';
import { registryPrunePhase } from '../../../src/phases/registry-prune';
import { keptImages, parseReleases, prunedImages, rollbackTarget } from '../../../src/phases/release';
import { testAnswers } from '../../support/answers';
import { assertConverges, factsFor, phaseContext } from '../../support/phase-check';

const REPO = '10.0.0.12:5000/app/app';
const img = (tag: string) => `${REPO}:${tag}`;
/** A history: the install's image a, deploys of b, c, d, then a rollback to c. */
const HISTORY = [
  `2026-12-01T10:00:00Z deploy ${img('b')} ${img('a')}`,
  `2026-12-01T11:00:00Z deploy ${img('c')} ${img('b')}`,
  `2026-12-01T12:00:00Z deploy ${img('d')} ${img('c')}`,
  `2026-12-01T13:00:00Z rollback ${img('c')} ${img('d')}`,
].join('\n');
const lines = parseReleases(HISTORY);

describe('release history: what is kept and what is pruned', () => {
  it('keeps the image running and the keep released last besides it; prunes the other released ones', () => {
    assert.deepEqual(keptImages(lines, 1), [img('c'), img('d')], 'after a rollback to c: c, and d to go forward again');
    assert.deepEqual(prunedImages(lines, 1), [img('a'), img('b')]);
    assert.deepEqual(keptImages(lines, 2), [img('c'), img('b'), img('d')]);
    assert.deepEqual(prunedImages(lines, 2), [img('a')]);
    assert.deepEqual(prunedImages(lines, 5), []);
    assert.deepEqual(keptImages([], 1), [], 'no history: nothing is released, nothing kept or pruned by it');
  });

  it("berth-deploy's rule on the host (assets/scripts/kept-images.awk) keeps exactly what keptImages keeps", () => {
    const histories = [
      HISTORY,
      '',
      `2026-12-01T10:00:00Z deploy ${img('b')} ${img('a')}`,
      `${HISTORY}\n2026-12-01T14:00:00Z deploy ${img('e')} ${img('c')}\n2026-12-01T15:00:00Z deploy ${img('b')} ${img('e')}\na line of another kind\n`,
    ];
    for (const history of histories) {
      for (const keep of [1, 2, 3, 5]) {
        const awk = spawnSync('awk', ['-v', `keep=${keep}`, '-f', assetPath('scripts', 'kept-images.awk')], { input: history, encoding: 'utf8' });
        assert.equal(awk.status, 0, awk.stderr);
        assert.deepEqual(awk.stdout.split('\n').filter(Boolean).sort(), keptImages(parseReleases(history), keep).sort(), `keep ${keep} of:\n${history}`);
      }
    }
  });

  it('a rollback never goes to a pruned image, and says which are kept', () => {
    assert.equal(rollbackTarget(lines, 2), img('b'));
    assert.throws(
      () => rollbackTarget(lines, 1),
      (e: unknown) => e instanceof HostProblem && e.message === `${img('b')} was pruned: app.keepReleases (1) keeps the image released last besides the one running` && e.hint === 'Kept: c, d. Roll back to one of them with --to, or deploy it again with berth deploy.',
    );
    assert.throws(() => rollbackTarget(lines, 1, 'a'), (e: unknown) => e instanceof HostProblem && e.message.startsWith(`${img('a')} was pruned: app.keepReleases (1) keeps`));
    assert.equal(rollbackTarget(lines, 1, 'd'), img('d'));
  });
});

describe('app-prune phase', () => {
  const answers = testAnswers({ app: { keepReleases: 1 } });
  const ctx = phaseContext(answers, 'vm1');
  const facts = (unused: string[]): Facts =>
    factsFor(appPrunePhase, ctx, {
      files: { '/opt/berth/app/app/compose.yaml': { content: `services:\n  app-1:\n    image: ${img('c')}\n`, mode: 0o644, owner: 'root', group: 'root' } },
      probes: { releases: { code: 0, out: `${HISTORY}\n` }, unused: { code: 0, out: unused.map((u) => `${u}\n`).join('') } },
    });

  it('removes the unused images of the app repository that are not kept, once', () => {
    const plan = assertConverges(appPrunePhase, ctx, facts([img('a'), img('b'), img('d'), img('x')]));
    assert.equal(plan.length, 1);
    assert.equal(plan[0].kind === 'run' && plan[0].script, `docker image rm -- ${img('a')} ${img('b')} ${img('x')}`, 'x, built or pulled and never released, goes too');
    assert.match(plan[0].kind === 'run' ? plan[0].title : '', /^remove 3 old app images \(.*\), keeping the one running and 1 to roll back to$/);
  });

  it('without a history keeps the image its compose file runs', () => {
    const bare = factsFor(appPrunePhase, ctx, {
      files: { '/opt/berth/app/app/compose.yaml': { content: `services:\n  app-1:\n    image: ${img('a')}\n`, mode: 0o644, owner: 'root', group: 'root' } },
      probes: { releases: { code: 0, out: '' }, unused: { code: 0, out: `${img('a')}\n` } },
    });
    assert.deepEqual(appPrunePhase.plan(ctx, bare), []);
  });

  it('asks for the unused images only: none a container uses, running or stopped', () => {
    const probe = appPrunePhase.query(ctx).probes!.unused;
    assert.match(probe, /docker ps --all --format '\{\{\.Image\}\}'/);
    assert.match(probe, /docker image ls --format '\{\{\.Repository\}\}:\{\{\.Tag\}\}' 10\.0\.0\.12:5000\/app\/app \| grep -v ':<none>\$' \| grep -vxF "\$used"/);
  });
});

describe('registry-prune phase', () => {
  const answers = testAnswers({ app: { keepReleases: 1 } });
  const ctx: PhaseContext = { ...phaseContext(answers, 'vm2'), peers: { vm1: { files: {}, packages: {}, units: {}, installer: {}, probes: { releases: { code: 0, out: `${HISTORY}\n` } } } } };
  const stored = (tags: string[]) => factsFor(registryPrunePhase, ctx, { probes: { tags: { code: 0, out: tags.map((t) => `${t}\n`).join('') } } });

  it('reads the history from the app host, named in the plan', () => {
    assert.equal(registryPrunePhase.peers?.what, "the app's release history");
    assert.deepEqual(registryPrunePhase.peers?.from(ctx.cluster, answers).map((h) => h.name), ['vm1']);
  });

  it('removes the tags of former releases no longer kept, then collects garbage; a tag never released and latest stay', () => {
    const plan = assertConverges(registryPrunePhase, ctx, stored(['a', 'c', 'd', 'latest', 'pushed-only']));
    assert.equal(plan.length, 1);
    const run = plan[0].kind === 'run' ? plan[0] : assert.fail('a run');
    assert.ok(run.script.startsWith('set -- /opt/berth/app/registry/compose.yaml app-registry_data app/app /etc/berth/registry/config.yml a\n'), run.script.slice(0, 200));
    assert.match(run.script, /garbage-collect --delete-untagged "\$config"/);
    assert.match(run.title, /^remove 1 old app image from the registry \(a\) and collect its garbage, the registry stopped meanwhile$/);
    assert.deepEqual(registryPrunePhase.plan(ctx, stored(['c', 'd', 'latest'])), [], 'nothing to remove: the registry keeps running');
  });
});
