import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { loadAnswersFile } from '../../src/answers/load';
import { localFacts } from '../../src/cli/commands/hosts';
import type { RunEvent } from '../../src/engine/events';
import { memoryLog } from '../../src/engine/log';
import { runPhases } from '../../src/engine/run';
import { dnsForwarderPhase } from '../../src/phases/dns-forwarder';
import { preflightPhase } from '../../src/phases/preflight';
import { sshConnector } from '../../src/ssh/connector';
import { e2eTopology, TOPOLOGY_TIMEOUT_MS, VM_TIMEOUT_MS, type E2eTopology } from './harness';

/**
 * A run that stops right after the DNS forwarder (the firewall phase comes
 * only after Docker's install) leaves no open resolver: on a fresh vm3 as the
 * dns host, with vm1 the other host of its cluster, the forwarder answers vm1
 * and not the outsider, also after a reboot.
 */
describe('the DNS forwarder answers only the cluster from the start (e2e)', function () {
  this.timeout(TOPOLOGY_TIMEOUT_MS);
  let topo: E2eTopology;

  before(async function () {
    topo = await e2eTopology({ vms: 3 });
    await topo.recreate('vm3');
  });

  after(async function () {
    this.timeout(VM_TIMEOUT_MS);
    // Later specs take vm3 as a fresh VM.
    await topo.recreate('vm3');
  });

  it('after the phases up to dns-forwarder only, vm1 gets answers from vm3 and the outsider none, also after a reboot', async function () {
    const { vm1, vm3 } = topo.vms;
    const answersFile = topo.writeAnswers(
      {
        hosts: [
          { name: 'vm1', address: vm1.ip, hostKey: vm1.hostKey, roles: ['app', 'lb', 'db'] },
          { name: 'vm3', address: vm3.ip, hostKey: vm3.hostKey, roles: ['registry', 'dns'] },
        ],
      },
      'dns-guard.yaml',
    );
    const loaded = loadAnswersFile(answersFile);
    const log = memoryLog();
    const events: RunEvent[] = [];
    const result = await runPhases({
      answers: loaded.answers,
      phases: [preflightPhase, dnsForwarderPhase],
      connector: sshConnector(loaded.answers, dirname(answersFile), { env: process.env, onNewHostKey: async () => true }),
      mode: 'apply',
      local: localFacts(loaded),
      reporter: { handle: (e) => events.push(e), close: async () => undefined },
      log,
      owner: { owner: 'e2e', machine: 'e2e', pid: process.pid },
    });
    assert.ok(result.ok, log.lines.join('\n'));
    const asked = async () => ({ vm1: await topo.probe('vm1', vm3.ip, 53, 'udp'), outsider: await topo.probe('outsider', vm3.ip, 53, 'udp'), outsiderTcp: await topo.probe('outsider', vm3.ip, 53, 'tcp') });
    assert.deepEqual(await asked(), { vm1: true, outsider: false, outsiderTcp: false });
    // Nothing else closed: sshd still takes the outsider's connections (the full firewall comes later).
    assert.equal(await topo.probe('outsider', vm3.ip, 22), true);
    const running = await topo.exec('vm3', 'systemctl is-active dnsmasq berth-firewall');
    assert.equal(running.stdout, 'active\nactive\n', running.stdout + running.stderr);

    await topo.reboot('vm3');
    let after = await asked();
    // dnsmasq may need a moment after sshd is up.
    for (let i = 0; i < 10 && !after.vm1; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      after = await asked();
    }
    assert.deepEqual(after, { vm1: true, outsider: false, outsiderTcp: false }, 'after a reboot');
  });
});
