import assert from 'node:assert/strict';
import type { Action } from '../../../src/engine/plan';
import { markerPath } from '../../../src/phases/common';
import { retirePhase } from '../../../src/phases/retire';
import { watchdogFiles } from '../../../src/render/watchdog';
import { testAnswers } from '../../support/answers';
import { assertConverges, factsFor, phaseContext, scriptOf } from '../../support/phase-check';

const host = (name: string, ...roles: string[]) => ({ name, address: `10.0.0.${10 + Number(name.slice(2))}`, roles });
const left = (out: string) => ({ code: 0, out });
const script = (action: Action) => scriptOf(action).split('\n');

describe('retire phase: what a host\'s roles no longer need', () => {
  it('the registry on a host that lost the role: down, berth\'s files gone, the volume with the images kept and named', () => {
    const ctx = phaseContext(testAnswers({ hosts: [host('vm1', 'app', 'lb', 'db', 'registry'), host('vm2', 'dns')] }), 'vm2');
    const actions = assertConverges(retirePhase, ctx, factsFor(retirePhase, ctx, { probes: { leftovers: left('app-db\napp-registry\n/opt/berth/app/registry/compose.yaml\n') } }));
    assert.equal(actions.length, 1);
    assert.ok(actions[0].kind === 'run');
    assert.equal(
      actions[0].title,
      "stop and remove the private registry, which the answers no longer place on this host (docker compose down, berth's files); the volume app-registry_data with its data stays (docker volume rm app-registry_data frees it)",
    );
    assert.deepEqual(script(actions[0]), [
      'if [ -f /opt/berth/app/registry/compose.yaml ]; then docker compose --file /opt/berth/app/registry/compose.yaml down --remove-orphans; fi',
      "docker ps --all --quiet --filter label=com.docker.compose.project=app-registry | xargs -r docker rm --force >/dev/null",
      `rm -rf -- /opt/berth/app/registry /etc/berth/registry /etc/berth/registry-ca ${markerPath('registry')}`,
      'for dir in /opt/berth/app /opt/berth /etc/berth/app; do if [ -d "$dir" ]; then rmdir --ignore-fail-on-non-empty -- "$dir"; fi; done',
    ]);
  });

  it('the app on a host that lost it: its images, secrets, history and markers go too; the watchdog stays while the host runs a Galera node', () => {
    const ctx = phaseContext(testAnswers({ hosts: [host('vm1', 'db'), host('vm2', 'registry', 'dns', 'app', 'lb')] }), 'vm1');
    const actions = assertConverges(retirePhase, ctx, factsFor(retirePhase, ctx, { probes: { leftovers: left('/opt/berth/app/app\n') }, files: {} }));
    assert.equal(actions.length, 1);
    const lines = script(actions[0]);
    assert.match(lines.join('\n'), /docker image ls --format '\{\{\.Repository\}\}:\{\{\.Tag\}\}' 10\.0\.0\.12:5000\/app\/app [^\n]*\n\} \| xargs -r docker image rm --/);
    assert.equal(
      lines.find((line) => line.startsWith('rm -rf')),
      `rm -rf -- /opt/berth/app/app /etc/berth/app/django-secret-key /etc/berth/app/db-password /var/lib/berth/app ${['app', 'app-secrets', 'app-migrated'].map(markerPath).join(' ')}`,
    );
    assert.deepEqual(retirePhase.query(ctx).units, undefined, 'no watchdog question on a db host');
  });

  it('the watchdog on a host with no stack left: timer stopped and disabled, its files gone; nothing on a host that never had one', () => {
    const ctx = phaseContext(testAnswers({ hosts: [host('vm1', 'app', 'lb', 'db'), host('vm2', 'registry', 'dns'), host('vm3')] }), 'vm3');
    const installed = Object.fromEntries([...watchdogFiles(), { path: markerPath('watchdog'), content: 'x', mode: 0o600 }].map((f) => [f.path, { content: f.content, mode: f.mode, owner: 'root', group: 'root' }]));
    const facts = factsFor(retirePhase, ctx, { files: installed, units: { 'berth-watchdog.timer': { active: 'active', enabled: 'enabled' } }, probes: { leftovers: left('') } });
    const actions = assertConverges(retirePhase, ctx, facts);
    assert.deepEqual(
      actions.map((a) => (a.kind === 'service' ? `${a.op} ${a.unit}` : a.kind === 'remove' ? `remove ${a.path}` : a.kind)),
      ['disable-now berth-watchdog.timer', ...Object.keys(installed).map((path) => `remove ${path}`), 'daemon-reload berth-watchdog.timer'],
    );
    assert.deepEqual(retirePhase.plan(ctx, factsFor(retirePhase, ctx, { probes: { leftovers: left('') } })), []);
  });

  it('applies to no host that keeps every role it had', () => {
    const answers = testAnswers({ hosts: [host('vm1', 'app', 'lb', 'db', 'registry', 'dns')] });
    assert.equal(retirePhase.appliesTo(phaseContext(answers, 'vm1').host, answers), false);
  });
});
