import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { PhaseContext } from '../../../src/engine/phase';
import { askedFacts, simulate, type Action } from '../../../src/engine/plan';
import { appPhase } from '../../../src/phases/app';
import { deployUserPhase } from '../../../src/phases/deploy-user';
import { composeTemplatePath, TAG_PLACEHOLDER } from '../../../src/render/deploy-user';
import { testAnswers } from '../../support/answers';
import { assertConverges, factsFor, phaseContext } from '../../support/phase-check';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNpZGVwbG95a2V5Zm9ydGVzdHNvbmx5MTIzNDU2Nzg5 ci@gitlab';
const answers = testAnswers({ ci: { deployKeys: [KEY] } });
const ctx = phaseContext(answers, 'vm1');
const files = (plan: Action[]) => Object.fromEntries(plan.flatMap((a) => (a.kind === 'file' ? [[a.path, a]] : [])));

describe('deploy-user phase', () => {
  it('plans nothing where the answers want no deploy user and berth never made one', () => {
    for (const other of [phaseContext(answers, 'vm2'), phaseContext(testAnswers(), 'vm1')]) {
      assert.deepEqual(deployUserPhase.plan(other, factsFor(deployUserPhase, other)), [], other.host.name);
    }
  });

  it('takes the deploy user away when ci.deployKeys is emptied: the sudo rule first, then its keys, program and settings, the account last; then nothing', () => {
    const installed = simulate(factsFor(deployUserPhase, ctx), deployUserPhase.plan(ctx, factsFor(deployUserPhase, ctx)));
    const emptied = phaseContext(testAnswers(), 'vm1');
    const plan = assertConverges(deployUserPhase, emptied, askedFacts(installed, deployUserPhase.query(emptied)));
    assert.deepEqual(
      plan.map((a) => (a.kind === 'remove' ? `remove ${a.path}` : a.kind === 'run' ? a.script : a.kind)),
      [
        'remove /etc/sudoers.d/berth_deploy',
        'remove /var/lib/berth-deploy/.ssh/authorized_keys',
        'remove /usr/local/sbin/berth-deploy',
        'remove /usr/local/lib/berth/app-roll.sh',
        'remove /usr/local/lib/berth/kept-images.awk',
        'remove /etc/berth/app/deploy/compose.template',
        'remove /etc/berth/app/deploy/release.conf',
        'rm -rf -- /etc/berth/app/deploy',
        'userdel berth-deploy\nrm -rf -- /var/lib/berth-deploy',
      ],
    );
  });

  it('on a bare host: the account (no password), then its keys restricted to the forced command, the program, the settings, and the sudo rule last (visudo first); then nothing', () => {
    const plan = assertConverges(deployUserPhase, ctx, factsFor(deployUserPhase, ctx));
    assert.equal(plan[0].kind, 'run');
    assert.match(plan[0].kind === 'run' ? plan[0].script : '', /useradd --system --user-group --no-create-home --home-dir \/var\/lib\/berth-deploy --shell \/bin\/sh berth-deploy\nusermod --home \/var\/lib\/berth-deploy --shell \/bin\/sh --password '\*' berth-deploy\n/);
    const written = files(plan);
    assert.deepEqual(
      Object.values(written).map((f) => f.kind === 'file' && `${f.path} ${f.mode.toString(8)}`),
      ['/var/lib/berth-deploy/.ssh/authorized_keys 644', '/usr/local/sbin/berth-deploy 755', '/usr/local/lib/berth/app-roll.sh 755', '/usr/local/lib/berth/kept-images.awk 644', '/etc/berth/app/deploy/compose.template 600', '/etc/berth/app/deploy/release.conf 600', '/etc/sudoers.d/berth_deploy 440'],
    );
    const at = (path: string) => (written[path]?.kind === 'file' ? written[path].content : '');
    assert.equal(at('/var/lib/berth-deploy/.ssh/authorized_keys').split('\n')[1], `restrict,command="sudo -n /usr/local/sbin/berth-deploy app" ${KEY}`);
    assert.deepEqual(at('/etc/sudoers.d/berth_deploy').split('\n').slice(1), ['Defaults!/usr/local/sbin/berth-deploy env_keep += "SSH_ORIGINAL_COMMAND"', 'berth-deploy ALL=(root) NOPASSWD: /usr/local/sbin/berth-deploy app', '']);
    assert.deepEqual(written['/etc/sudoers.d/berth_deploy'].kind === 'file' && written['/etc/sudoers.d/berth_deploy'].validate, ['visudo', '-cf']);
    const conf = at('/etc/berth/app/deploy/release.conf');
    assert.match(conf, /^repository=10\.0\.0\.12:5000\/app\/app$/m);
    assert.match(conf, /^keep=5$/m);
    assert.match(conf, /^roll\(\) \{ bash \/usr\/local\/lib\/berth\/app-roll\.sh \/opt\/berth\/app\/app\/compose\.yaml app-app 300 "\$1" \/var\/lib\/berth\/applied\/app-migrated lb changed '' app-1 app-2; \}$/m);
    assert.match(conf, /^record_started\(\) \{ install -d -m 0700 \/var\/lib\/berth\/applied && cat .* > \/var\/lib\/berth\/applied\/app; \}$/m);
  });

  it("the compose template, filled in by sed as berth-deploy does, is byte for byte the app phase's compose file of that tag", () => {
    const template = files(deployUserPhase.plan(ctx, factsFor(deployUserPhase, ctx)))[composeTemplatePath(answers)];
    assert.ok(template?.kind === 'file');
    for (const tag of ['3f2a9c1b', '12345678', '1e345678', 'true', 'null', '0x1F', 'v1.2_rc-3']) {
      const sed = spawnSync('sed', [`s/${TAG_PLACEHOLDER}/${tag}/g`], { input: template.content, encoding: 'utf8' });
      const tagCtx: PhaseContext = { ...ctx, local: { ...ctx.local, release: { kind: 'deploy', tag } } };
      const facts = factsFor(appPhase, tagCtx, { probes: { releases: { code: 0, out: '' }, pending: { code: 0, out: '10.0.0.12:5000/app/app:c0fe2376524b\n' } } });
      const compose = files(appPhase.plan(tagCtx, askedFacts(facts, appPhase.query(tagCtx))))['/opt/berth/app/app/compose.yaml'];
      assert.ok(compose?.kind === 'file', tag);
      assert.equal(sed.stdout, compose.content, tag);
    }
  });
});
