import assert from 'node:assert/strict';
import { dnsForwarderPhase } from '../../src/phases/dns-forwarder';
import { preflightPhase } from '../../src/phases/preflight';
import { writeAnswersFile } from '../../src/sandbox/answers';
import { execIn, rebootTopologyVm, recreateTopologyVm, upTopology, type Topology } from '../../src/sandbox/topology';
import { e2eAnswers, e2eSpec, probeScript, TOPOLOGY_TIMEOUT_MS, VM_TIMEOUT_MS } from './harness';
import { runSomePhases } from './installed';

/**
 * A run that stops right after the DNS forwarder (the firewall phase comes
 * only after Docker's install) leaves no open resolver: on a fresh vm3 as the
 * dns host, with vm1 the other host of its cluster, the forwarder answers vm1
 * and not the outsider, also after a reboot.
 */
describe('the DNS forwarder answers only the cluster from the start (e2e)', function () {
  this.timeout(TOPOLOGY_TIMEOUT_MS);
  let topology: Topology;
  const probe = async (from: string, ip: string, port: number, proto: 'tcp' | 'udp' = 'tcp') => (await execIn(`${topology.spec.prefix}${from}`, probeScript(ip, port, proto))).code === 0;

  before(async function () {
    // Its own topology object: vm3 joins the same network, and the platform's two-host answers stay as they are.
    topology = await upTopology(e2eSpec(3));
    await recreateTopologyVm(topology, 'vm3');
  });

  after(async function () {
    this.timeout(VM_TIMEOUT_MS);
    // Later specs take vm3 as a fresh VM.
    await recreateTopologyVm(topology, 'vm3');
  });

  it('after the phases up to dns-forwarder only, vm1 gets answers from vm3 and the outsider none, also after a reboot', async function () {
    const { vm1, vm3 } = topology.vms;
    const answersFile = `${topology.spec.stateDir}/answers/dns-guard.yaml`;
    writeAnswersFile(
      answersFile,
      e2eAnswers(topology, {
        hosts: [
          { name: 'vm1', address: vm1.ip, hostKey: vm1.hostKey, roles: ['app', 'lb', 'db'] },
          { name: 'vm3', address: vm3.ip, hostKey: vm3.hostKey, roles: ['registry', 'dns'] },
        ],
      }),
      'vm3 the dns host, vm1 the other host of its cluster: only the phases up to the DNS forwarder run.',
    );
    const result = await runSomePhases(answersFile, [preflightPhase, dnsForwarderPhase]);
    assert.ok(result.ok, result.log);
    const asked = async () => ({ vm1: await probe('vm1', vm3.ip, 53, 'udp'), outsider: await probe('outsider', vm3.ip, 53, 'udp'), outsiderTcp: await probe('outsider', vm3.ip, 53, 'tcp') });
    assert.deepEqual(await asked(), { vm1: true, outsider: false, outsiderTcp: false });
    // Nothing else closed: sshd still takes the outsider's connections (the full firewall comes later).
    assert.equal(await probe('outsider', vm3.ip, 22), true);
    const running = await execIn(vm3.container, 'systemctl is-active dnsmasq berth-firewall');
    assert.equal(running.stdout, 'active\nactive\n', running.stdout + running.stderr);

    await rebootTopologyVm(topology, 'vm3');
    let after = await asked();
    // dnsmasq may need a moment after sshd is up.
    for (let i = 0; i < 10 && !after.vm1; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      after = await asked();
    }
    assert.deepEqual(after, { vm1: true, outsider: false, outsiderTcp: false }, 'after a reboot');
  });
});
