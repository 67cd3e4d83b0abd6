import assert from 'node:assert/strict';
import { askedFacts, simulate, type Action, type Facts } from '../../../src/engine/plan';
import { HostProblem, type PhaseContext } from '../../../src/engine/phase';
import { appPhase } from '../../../src/phases/app';
import { appImagePhase } from '../../../src/phases/app-image';
import { dbPhase, dbRollPhase } from '../../../src/phases/db';
import { testAnswers } from '../../support/answers';
import { assertConverges, factsFor, phaseContext } from '../../support/phase-check';

const context = { localPath: '/tmp/berth-context-x/context.tar', sha256: 'c0fe2376524b'.padEnd(64, '0'), size: 20480 };
const withContext = (ctx: PhaseContext): PhaseContext => ({ ...ctx, local: { ...ctx.local, appContext: context } });
const runs = (plan: Action[]) => plan.filter((a): a is Extract<Action, { kind: 'run' }> => a.kind === 'run');
/** The facts after applying `plan` to `facts`, as the next run would read them. */
const after = (ctx: PhaseContext, facts: Facts, plan: Action[], phase = appPhase) => askedFacts(simulate(facts, plan), phase.query(ctx));

describe('db phase', () => {
  const ctx = phaseContext(testAnswers(), 'vm1');

  it('on a bare host: files, then the nodes one at a time, then the app user (its SQL on stdin); then nothing', () => {
    const plan = assertConverges(dbPhase, ctx, factsFor(dbPhase, ctx));
    assert.deepEqual(
      plan.filter((a) => a.kind === 'file').map((a) => a.kind === 'file' && `${a.path} ${a.mode.toString(8)}${a.sensitive ? ' sensitive' : ''}`),
      ['/etc/berth/app/db-root-password 600 sensitive', '/opt/berth/app/db/galera.cnf 644', '/opt/berth/app/db/haproxy.cfg 644', '/opt/berth/app/db/galera-start.sh 755', '/opt/berth/app/db/galera-http-check.sh 755', '/opt/berth/app/db/compose.yaml 644'],
    );
    const [roll, user] = runs(plan);
    assert.match(roll.script, /^set -- start \/opt\/berth\/app\/db\/compose\.yaml 900 3 dbproxy db1 db2 db3\n/);
    assert.match(roll.title, /not a dead VM/, 'the plan says what the nodes on one host survive');
    assert.equal(user.stdin?.reveal().includes("GRANT ALTER"), true);
    assert.doesNotMatch(user.script, /GRANT|PASSWORD/, 'the SQL with the password travels on stdin only');
  });

  it('rolls the nodes again when a node is down, though no file changed', () => {
    const first = factsFor(dbPhase, ctx);
    const converged = after(ctx, first, dbPhase.plan(ctx, first), dbPhase);
    assert.deepEqual(dbPhase.plan(ctx, converged), []);
    const down = { ...converged, probes: { ...converged.probes, cluster: { code: 0, out: 'db1 4 Primary 2\ndb2 4 Primary 2\ndb3 \ndbproxy running\n' } } };
    assert.deepEqual(runs(dbPhase.plan(ctx, down)).map((a) => a.title.split(' (')[0]), ['start the Galera nodes db1, db2, db3 and the database proxy']);
  });
});

describe('db-roll phase', () => {
  const ctx = phaseContext(testAnswers(), 'vm1');

  it('recreates changed nodes once, one host after another, and plans nothing once the marker holds the configuration', () => {
    const plan = assertConverges(dbRollPhase, ctx, factsFor(dbRollPhase, ctx));
    assert.match(runs(plan)[0].script, /^set -- roll \/opt\/berth\/app\/db\/compose\.yaml 900 3 dbproxy db1 db2 db3\n/);
    const first = factsFor(dbRollPhase, ctx);
    const converged = after(ctx, first, plan, dbRollPhase);
    const changed = phaseContext(testAnswers({ project: 'other' }), 'vm1');
    assert.equal(runs(dbRollPhase.plan(changed, converged)).length, 1, 'a new configuration rolls again');
    assert.ok(dbRollPhase.sequence, 'one host after another');
  });
});

describe('db phases with the nodes spread over three db hosts', () => {
  const answers = testAnswers({
    hosts: [
      { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
      { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns', 'db'] },
      { name: 'vm3', address: '10.0.0.13', roles: ['db'] },
    ],
  });

  it('refuses to move an installed cluster to another layout: nodes of the old one on this host', () => {
    const vm1 = phaseContext(answers, 'vm1');
    const facts = factsFor(dbPhase, vm1, { probes: { installedNodes: { code: 0, out: 'db1\ndb2\ndb3\n' } } });
    assert.throws(() => dbPhase.plan(vm1, facts), (e: unknown) => e instanceof HostProblem && /^this host runs the Galera nodes db2, db3, which the answers no longer place here \(one node on each of the 3 db hosts/.test(e.message));
  });

  it('starts one node per host, the app user on the first only, and says they survive a dead VM', () => {
    const [vm1, vm3] = ['vm1', 'vm3'].map((name) => phaseContext(answers, name));
    const first = runs(assertConverges(dbPhase, vm1, factsFor(dbPhase, vm1)));
    assert.match(first[0].script, /^set -- start \/opt\/berth\/app\/db\/compose\.yaml 900 3 '' db1\n/);
    assert.match(first[0].title, /^start the Galera node db1 \(one node on each of the 3 db hosts: they survive a dead VM\)$/);
    assert.match(first[1].title, /make the database app/);
    const third = runs(assertConverges(dbPhase, vm3, factsFor(dbPhase, vm3)));
    assert.deepEqual(third.map((a) => a.script.split('\n')[0]), ["set -- start /opt/berth/app/db/compose.yaml 900 3 '' db3"]);
    assert.match(runs(dbRollPhase.plan(vm3, factsFor(dbRollPhase, vm3)))[0].script, /^set -- roll .* 3 '' db3\n/);
  });
});

describe('app phase', () => {
  const ctx = withContext(phaseContext(testAnswers(), 'vm1'));

  it('on a bare host: the secret files (0400, the app user), the files, then a roll that recreates each replica; then nothing', () => {
    const plan = assertConverges(appPhase, ctx, factsFor(appPhase, ctx));
    assert.deepEqual(
      plan.filter((a) => a.kind === 'file').map((a) => a.kind === 'file' && `${a.path} ${a.mode.toString(8)} ${a.owner ?? 'root'}`),
      ['/etc/berth/app/django-secret-key 400 10001', '/etc/berth/app/db-password 400 10001', '/opt/berth/app/app/nginx/default.conf 644 root', '/opt/berth/app/app/compose.yaml 644 root'],
    );
    assert.match(runs(plan)[0].script, /^set -- \/opt\/berth\/app\/app\/compose\.yaml app-app 300 10\.0\.0\.12:5000\/app\/app:c0fe2376524b \/var\/lib\/berth\/applied\/app-migrated lb all '' app-1 app-2\n/);
  });

  it('app.replicas 2 → 3: the new Nginx and Compose files and a roll that recreates nothing that did not change', () => {
    const first = factsFor(appPhase, ctx);
    const converged = after(ctx, first, appPhase.plan(ctx, first));
    const three = withContext(phaseContext(testAnswers({ app: { replicas: 3 } }), 'vm1'));
    const plan = appPhase.plan(three, converged);
    assert.deepEqual(plan.map((a) => (a.kind === 'file' ? a.path : a.kind)), ['/opt/berth/app/app/nginx/default.conf', '/opt/berth/app/app/compose.yaml', 'run']);
    assert.match(runs(plan)[0].script, /^set -- .* lb changed '' app-1 app-2 app-3\n/);
  });

  it('a changed secret, or a run stopped before the roll that follows it, recreates every replica', () => {
    const first = factsFor(appPhase, ctx);
    const converged = after(ctx, first, appPhase.plan(ctx, first));
    const unrolled = { ...converged, probes: { ...converged.probes, applied: { code: 1, out: '' }, secrets: { code: 1, out: '' } } };
    assert.match(runs(appPhase.plan(ctx, unrolled))[0].script, /^set -- .* lb all '' app-1 app-2\n/);
    assert.match(runs(appPhase.plan(ctx, unrolled))[0].title, /each recreated: its secrets changed/);
  });

  it('rolls again when a replica is missing, unhealthy or one too many; a replica without a healthcheck counts as healthy', () => {
    const first = factsFor(appPhase, ctx);
    const converged = after(ctx, first, appPhase.plan(ctx, first));
    const withServices = (out: string) => ({ ...converged, probes: { ...converged.probes, services: { code: 0, out } } });
    assert.deepEqual(appPhase.plan(ctx, withServices('app-1 running none\napp-2 running healthy\nlb running healthy\n')), []);
    for (const out of ['app-1 running healthy\nlb running healthy\n', 'app-1 running unhealthy\napp-2 running healthy\nlb running healthy\n', 'app-1 running healthy\napp-2 running healthy\napp-3 running healthy\nlb running healthy\n']) {
      assert.equal(runs(appPhase.plan(ctx, withServices(out))).length, 1, out);
    }
  });
});

describe('app phase: deploys and rollbacks (release.ts)', () => {
  const X = '10.0.0.12:5000/app/app:c0fe2376524b';
  const Y = '10.0.0.12:5000/app/app:abcdef123456';
  const installCtx = withContext(phaseContext(testAnswers(), 'vm1'));
  const deployCtx: PhaseContext = { ...installCtx, local: { ...installCtx.local, appContext: { ...context, sha256: 'abcdef123456'.padEnd(64, '1') }, release: { kind: 'deploy' } } };
  const rollbackCtx = (to?: string): PhaseContext => ({ ...installCtx, local: { ...installCtx.local, appContext: undefined, release: { kind: 'rollback', ...(to ? { to } : {}) } } });
  const composeImage = (facts: Facts) => /image: (\S+)/.exec(facts.files['/opt/berth/app/app/compose.yaml']?.content ?? '')?.[1];
  /** vm1 after the install: X runs, no release yet. */
  const installed = () => {
    const first = factsFor(appPhase, installCtx);
    return after(installCtx, first, appPhase.plan(installCtx, first));
  };

  it('a deploy rolls the new image out, records it, and goes back to the previous compose file if it does not become healthy; then nothing', () => {
    const facts = installed();
    const plan = assertConverges(appPhase, deployCtx, facts);
    assert.deepEqual(plan.map((a) => (a.kind === 'file' ? a.path : a.kind)), ['run', '/opt/berth/app/app/compose.yaml', 'run']);
    const [note, roll] = runs(plan);
    assert.equal(note.script, `install -d -m 0755 /var/lib/berth/app && { [ -s /var/lib/berth/app/release-pending ] || echo ${X} > /var/lib/berth/app/release-pending; }`, 'what serves is noted before the compose file changes');
    assert.match(roll.title, new RegExp(`^roll out ${Y}: .*; back to ${X} if it does not become healthy$`));
    assert.ok(roll.script.startsWith(`set +e\n( set -- /opt/berth/app/app/compose.yaml app-app 300 ${Y} `), roll.script.slice(0, 300));
    assert.ok(roll.script.includes(`printf '%s %s %s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" deploy ${Y} ${X} >> /var/lib/berth/app/releases && rm -f /var/lib/berth/app/release-pending`), 'the release is recorded once rolled');
    const back = roll.script.slice(roll.script.indexOf('\nelse\n'));
    assert.ok(back.includes(`cat > /opt/berth/app/app/compose.yaml <<'BERTH_PREVIOUS_COMPOSE'\n${facts.files['/opt/berth/app/app/compose.yaml']!.content}`), 'the compose file as it was, to go back to');
    assert.match(back, new RegExp(`\\( set -- /opt/berth/app/app/compose\\.yaml app-app 300 ${X} [^\\n]* changed '' app-1 app-2\\n`));
    assert.match(back, /exit 1\nfi$/);
    assert.equal(composeImage(after(deployCtx, facts, plan)), Y);
  });

  it('an install after a deploy keeps the deployed image; a rollback goes back to the one before, then --to names any released one', () => {
    const deployed = after(deployCtx, installed(), appPhase.plan(deployCtx, installed()));
    assert.deepEqual(appPhase.plan(installCtx, deployed), [], 'the answers still give X: the install leaves Y running');
    const back = appPhase.plan(rollbackCtx(), deployed);
    assert.ok(runs(back)[1].script.includes(`rollback ${X} ${Y} >> /var/lib/berth/app/releases`));
    const rolledBack = after(rollbackCtx(), deployed, back);
    assert.equal(composeImage(rolledBack), X);
    assert.deepEqual(appPhase.plan(installCtx, rolledBack), [], 'an install after the rollback keeps X');
    assert.throws(() => appPhase.plan(rollbackCtx(), rolledBack), (e: unknown) => e instanceof HostProblem && e.message === `${X} is the first image released here: there is no earlier one`);
    assert.equal(composeImage(after(rollbackCtx('abcdef123456'), rolledBack, appPhase.plan(rollbackCtx('abcdef123456'), rolledBack))), Y);
    assert.throws(() => appPhase.plan(rollbackCtx('0123'), rolledBack), (e: unknown) => e instanceof HostProblem && e.message === 'no released image has the tag 0123 (kept: c0fe2376524b, abcdef123456)');
  });

  it('a deploy killed in the middle (the compose file names the new image, the roll unfinished) is finished by the next deploy, and undone by an install', () => {
    const facts = installed();
    // Killed once what served was noted and the compose file written, before the roll.
    const mid = askedFacts({ ...simulate(facts, appPhase.plan(deployCtx, facts).slice(0, 2)) }, appPhase.query(deployCtx));
    assert.equal(mid.probes.pending.out, `${X}\n`);
    const again = runs(appPhase.plan(deployCtx, mid));
    assert.equal(again.length, 1);
    assert.ok(again[0].script.includes(`deploy ${Y} ${X} >> /var/lib/berth/app/releases`), 'recorded as replacing what served before it, not what the compose file names');
    assert.ok(again[0].script.includes(`<<'BERTH_PREVIOUS_COMPOSE'\n${facts.files['/opt/berth/app/app/compose.yaml']!.content}`), 'and would go back to it');
    const rolledNotRecorded = { ...mid, probes: { ...mid.probes, applied: { code: 0, out: 'yes\n' } } };
    assert.ok(runs(appPhase.plan(deployCtx, rolledNotRecorded))[0].script.includes(`deploy ${Y} ${X} >> /var/lib/berth/app/releases`), 'killed after its roll, before recording it: recorded by the next');
    const undone = appPhase.plan(installCtx, mid);
    assert.equal(composeImage(simulate(mid, undone)), X, 'an install rolls the image of the answers out again');
    assert.match(runs(undone)[0].script, /\nrm -f \/var\/lib\/berth\/app\/release-pending$/);
  });

  it('refuses a rollback before any deploy, and a deploy or rollback where the app was never installed', () => {
    assert.throws(() => appPhase.plan(rollbackCtx(), installed()), (e: unknown) => e instanceof HostProblem && /^nothing was deployed with berth deploy yet/.test(e.message));
    assert.throws(() => appPhase.plan(deployCtx, factsFor(appPhase, deployCtx)), (e: unknown) => e instanceof HostProblem && e.message === 'the app is not installed on vm1 yet, so there is nothing to deploy over' && /Run berth install first/.test(e.hint ?? ''));
  });

  it('the app image phase builds nothing for an install after a deploy, nor for a rollback', () => {
    const releases = { code: 0, out: `2026-12-02T05:00:00Z deploy ${Y} ${X}\n` };
    assert.deepEqual(appImagePhase.plan(installCtx, factsFor(appImagePhase, installCtx, { probes: { releases } })), []);
    assert.deepEqual(appImagePhase.plan(rollbackCtx(), factsFor(appImagePhase, installCtx, { probes: { releases } })), []);
    assert.equal(runs(appImagePhase.plan(deployCtx, factsFor(appImagePhase, deployCtx, { probes: { releases } }))).length, 1, 'a deploy builds its image');
  });

  it('a deploy of a tag a pipeline pushed builds nothing, runs that tag, and is refused while the registry lacks it', () => {
    const tagCtx: PhaseContext = { ...installCtx, local: { ...installCtx.local, appContext: undefined, release: { kind: 'deploy', tag: '3f2a9c1b' } } };
    const releases = { code: 0, out: '' };
    assert.deepEqual(appImagePhase.plan(tagCtx, factsFor(appImagePhase, tagCtx, { probes: { releases, pushed: { code: 0, out: '' } } })), []);
    assert.throws(
      () => appImagePhase.plan(tagCtx, factsFor(appImagePhase, tagCtx, { probes: { releases, pushed: { code: 1, out: '' } } })),
      (e: unknown) => e instanceof HostProblem && e.message === 'the private registry has no image 10.0.0.12:5000/app/app:3f2a9c1b' && /Push it first/.test(e.hint ?? ''),
    );
    const plan = appPhase.plan(tagCtx, installed());
    assert.match(runs(plan).at(-1)!.title, /^roll out 10\.0\.0\.12:5000\/app\/app:3f2a9c1b: .*; back to 10\.0\.0\.12:5000\/app\/app:c0fe2376524b if it does not become healthy$/);
  });
});
