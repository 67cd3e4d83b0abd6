import assert from 'node:assert/strict';
import { askedFacts, simulate, type Action, type Facts } from '../../../src/engine/plan';
import { HostProblem, type PhaseContext } from '../../../src/engine/phase';
import { appPhase } from '../../../src/phases/app';
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
