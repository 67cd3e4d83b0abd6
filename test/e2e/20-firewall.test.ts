import assert from 'node:assert/strict';
import { shellCommand } from '../../src/shell';
import { INSTALL_TIMEOUT_MS, installedPlatform, runBerth, type BerthRun, type InstalledPlatform } from './installed';

/**
 * What the firewall phase promises, on the test VMs after one install
 * (vm1 app+lb+db, vm2 registry+dns; admin network: this machine's address
 * only). Listeners are put on the probed ports first, both kinds: host
 * processes (INPUT) and published container ports (Docker's DNAT, FORWARD),
 * so that a closed port means the firewall closed it.
 */

const PROBED_TCP = [22, 80, 443, 53, 5000, 3306, 4567, 2375, 2376, 8080];
/** Listened on by a process in the host's own network namespace (the INPUT path). */
const HOST_LISTENED = [3306, 4567];
/** Listened on through a published container port (the FORWARD path), where nothing listens yet. */
const PUBLISHED = [80, 443, 53, 5000, 2375, 2376, 8080];
const TEST_CONTAINERS = ['berth-fwtest-published', 'berth-fwtest-host'];

/** One HTTP server thread per port, in the host's network namespace. */
const PY_LISTEN = `import http.server, socketserver, sys, threading
for port in sys.argv[1:]:
    server = socketserver.ThreadingTCPServer(("", int(port)), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever).start()`;

/** Waits (up to 20 s a port) until every probed port answers on the host's own address. */
function waitForListeners(ip: string): string {
  return `for port in ${PROBED_TCP.join(' ')}; do
  for _ in $(seq 40); do timeout 1 bash -c "exec 3<>/dev/tcp/${ip}/$port" 2>/dev/null && break; sleep 0.5; done
done
`;
}

/**
 * Starts the test listeners on the ports nothing uses yet (a process, or a
 * container port Docker publishes: with userland-proxy off no process
 * listens for those). They come back after a reboot.
 */
function listenersScript(ip: string): string {
  const free = (ports: number[], into: string) => ports.map((port) => `in_use ${port} || ${into}+=(${port})`).join('\n');
  return `set -e
in_use() { ss -Htln "sport = :$1" | grep -q . || docker ps --format '{{.Ports}}' | grep -q ":$1->"; }
docker rm -f ${TEST_CONTAINERS.join(' ')} >/dev/null 2>&1 || true
published=(); host=()
${free(PUBLISHED, 'published')}
${free(HOST_LISTENED, 'host')}
args=(); for port in "\${published[@]}"; do args+=(-p "$port:80"); done
if [ \${#args[@]} -gt 0 ]; then docker run -d --name ${TEST_CONTAINERS[0]} --restart unless-stopped "\${args[@]}" nginx:1.26 >/dev/null; fi
if [ \${#host[@]} -gt 0 ]; then ${shellCommand(['docker', 'run', '-d', '--name', TEST_CONTAINERS[1], '--restart', 'unless-stopped', '--network', 'host', 'python:3.13-slim', 'python3', '-c', PY_LISTEN])} "\${host[@]}" >/dev/null; fi
${waitForListeners(ip)}`;
}

describe('e2e: the firewall', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let p: InstalledPlatform;
  let vm1 = '';
  let vm2 = '';

  /** Which of the probed TCP ports answer on `ip` from `from`. */
  async function openPorts(from: string, ip: string): Promise<number[]> {
    const open = await Promise.all(PROBED_TCP.map((port) => p.topo.probe(from, ip, port)));
    return PROBED_TCP.filter((_, i) => open[i]);
  }

  /** `berth plan` with the platform's answers says the firewall is up to date on both hosts. */
  async function assertFirewallUpToDate(): Promise<void> {
    const plan = await p.berth('plan');
    assert.equal(plan.code, 0, plan.output);
    assert.match(plan.output, /vm1 · firewall: up to date/, plan.output);
    assert.match(plan.output, /vm2 · firewall: up to date/, plan.output);
  }

  before(async function () {
    p = await installedPlatform();
    vm1 = p.topo.vms.vm1.ip;
    vm2 = p.topo.vms.vm2.ip;
    await Promise.all(
      ['vm1', 'vm2'].map(async (vm) => {
        const r = await p.topo.exec(vm, listenersScript(p.topo.vms[vm].ip));
        assert.equal(r.code, 0, `${vm}: starting the test listeners failed:\n${r.stdout}${r.stderr}`);
      }),
    );
  });

  after(async () => {
    await Promise.all(['vm1', 'vm2'].map((vm) => p?.topo.exec(vm, `docker rm -f ${TEST_CONTAINERS.join(' ')} >/dev/null 2>&1 || true`)));
  });

  /** From outsider: the web ports of the lb host answer, nothing else (TCP and DNS over UDP). */
  async function assertOutsiderSeesOnlyWeb(): Promise<void> {
    const [onVm1, onVm2, udp1, udp2] = await Promise.all([
      openPorts('outsider', vm1),
      openPorts('outsider', vm2),
      p.topo.probe('outsider', vm1, 53, 'udp'),
      p.topo.probe('outsider', vm2, 53, 'udp'),
    ]);
    assert.deepEqual(onVm1, [80, 443], 'vm1');
    assert.deepEqual(onVm2, [], 'vm2');
    assert.deepEqual([udp1, udp2], [false, false], 'udp 53');
  }

  it('from outsider only the web ports of the lb host answer', async () => {
    await assertOutsiderSeesOnlyWeb();
  });

  it('something listens behind every probed port: each answers on the host itself', async () => {
    for (const [vm, ip] of [['vm1', vm1], ['vm2', vm2]]) assert.deepEqual(await openPorts(vm, ip), PROBED_TCP, vm);
  });

  it('the registry port and the DNS forwarder on vm2 answer vm1, and SSH and the registry answer the admin network', async () => {
    assert.equal(await p.topo.probe('vm1', vm2, 5000), true, 'registry from vm1');
    assert.equal(await p.topo.probe('vm1', vm2, 53), true, 'DNS over TCP from vm1');
    assert.equal(await p.topo.probe('vm1', vm2, 53, 'udp'), true, 'DNS over UDP from vm1');
    assert.deepEqual(await openPorts('vm1', vm2), [53, 5000], 'nothing else on vm2 for vm1 (SSH is for the admin network)');
    // This machine is the admin network (the topology's gateway).
    for (const vm of ['vm1', 'vm2']) {
      const ssh = await p.topo.ssh(vm, 'true', { user: 'berth' });
      assert.equal(ssh.code, 0, `${vm}: ${ssh.stderr}`);
    }
    const registry = await p.topo.exec('outsider', `curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://${vm2}:5000/ || true`);
    assert.equal(registry.stdout, '000', 'the registry port from outsider');
  });

  it('a container port published on vm1 without being allowed serves vm1 itself but nobody outside', async () => {
    const local = await p.topo.exec('vm1', `curl -s -o /dev/null -w '%{http_code}' http://${vm1}:8080/`);
    assert.equal(local.stdout, '200');
    assert.equal(await p.topo.probe('outsider', vm1, 8080), false, 'from outsider');
    assert.equal(await p.topo.probe('vm2', vm1, 8080), false, 'from vm2');
  });

  it("leaves Docker's own chains working: published ports, DNAT, container traffic out", async () => {
    const r = await p.topo.exec('vm1', 'iptables -S FORWARD; iptables -S DOCKER-USER; iptables -S DOCKER; iptables -t nat -S DOCKER');
    const lines = r.stdout.split('\n');
    assert.equal(lines.filter((l) => l.startsWith('-A FORWARD'))[0], '-A FORWARD -j DOCKER-USER', r.stdout);
    assert.equal(lines.filter((l) => l.startsWith('-A DOCKER-USER'))[0], '-A DOCKER-USER -j BERTH-DOCKER-USER', r.stdout);
    assert.equal(lines.filter((l) => l === '-A DOCKER-USER -j BERTH-DOCKER-USER').length, 1);
    assert.ok(lines.some((l) => l.startsWith('-A DOCKER ') && l.includes('--dport 80 -j ACCEPT')), `no accept rule of Docker's for the published container:\n${r.stdout}`);
    assert.ok(lines.some((l) => l.includes('--dport 8080 -j DNAT')), `no DNAT of Docker's for port 8080:\n${r.stdout}`);
    // A container reaches out (the image mirror's port) through FORWARD, which berth leaves to Docker.
    const out = await p.topo.exec('vm1', `docker exec ${TEST_CONTAINERS[0]} curl -s -o /dev/null -w '%{http_code}' -k --max-time 5 https://${p.topo.hubMirror?.hostname ?? 'hubmirror.berth.test'}/v2/`);
    assert.match(out.stdout, /^(200|401)$/, out.stdout + out.stderr);
  });

  it('berth-firewall.service restores everything after a reboot, before Docker starts', async function () {
    await Promise.all(['vm1', 'vm2'].map((vm) => p.topo.reboot(vm)));
    for (const vm of ['vm1', 'vm2']) {
      const r = await p.topo.exec(
        vm,
        `systemctl is-active berth-firewall.service
/usr/local/sbin/berth-firewall check && echo check=ok
firewall=$(systemctl show -p ExecMainExitTimestampMonotonic --value berth-firewall.service)
docker=$(systemctl show -p ExecMainStartTimestampMonotonic --value docker.service)
[ "$firewall" -lt "$docker" ] && echo order=ok
iptables -S DOCKER | grep -c -- '-j ACCEPT'`,
      );
      const [active, check, order, dockerRules] = r.stdout.trim().split('\n');
      assert.equal(active, 'active', `${vm}: ${r.stdout}${r.stderr}`);
      assert.equal(check, 'check=ok', `${vm}: ${r.stdout}`);
      assert.equal(order, 'order=ok', `${vm}: berth-firewall.service did not finish before docker.service started`);
      assert.ok(Number(dockerRules) > 0, `${vm}: Docker's chain is empty after the reboot`);
    }
    // The test listeners came back with their containers; the same ports answer as before.
    await Promise.all(['vm1', 'vm2'].map((vm) => p.topo.exec(vm, waitForListeners(p.topo.vms[vm].ip))));
    for (const [vm, ip] of [['vm1', vm1], ['vm2', vm2]]) assert.deepEqual(await openPorts(vm, ip), PROBED_TCP, vm);
    await assertOutsiderSeesOnlyWeb();
    assert.equal(await p.topo.probe('vm1', vm2, 5000), true);
    await assertFirewallUpToDate();
  });

  it('lockout drill: admin networks without the installer are reverted automatically and the error says why', async () => {
    const file = p.topo.writeAnswers({ firewall: { adminCidrs: ['203.0.113.0/24'] } }, 'lockout.yaml');
    const run = await runBerth(['install', '--answers', file, '--yes', '--output', 'plain']);
    assert.equal(run.code, 1, run.output);
    const gateway = p.topo.gatewayIp.replace(/\./g, '\\.');
    for (const vm of ['vm1', 'vm2']) {
      assert.match(run.output, new RegExp(`${vm}: firewall: "apply the firewall rules" failed`), run.output);
    }
    assert.match(run.output, new RegExp(`SSH \\(port 22\\) would be closed to ${gateway}, the address berth connects from, which is outside firewall\\.adminCidrs \\[203\\.0\\.113\\.0/24\\]`));
    assert.match(run.output, /The previous state was restored automatically and the host is reachable again/);
    for (const vm of ['vm1', 'vm2']) {
      const ssh = await p.topo.ssh(vm, 'sudo -n /usr/local/sbin/berth-firewall check && sudo -n grep -c 203.0.113 /etc/berth/firewall/rules.v4 || true', { user: 'berth' });
      assert.equal(ssh.code, 0, `${vm}: SSH after the drill: ${ssh.stderr}`);
      assert.equal(ssh.stdout.trim(), '0', `${vm}: the bad rules are still in the files`);
    }
    await assertFirewallUpToDate();
  });

  it('a reboot inside the revert window reverts the unconfirmed change too (the run was killed before it could)', async function () {
    const file = p.topo.writeAnswers({ firewall: { adminCidrs: ['203.0.113.0/24'] } }, 'lockout-reboot.yaml');
    let seen = '';
    let loaded = 0;
    await runBerth(['install', '--answers', file, '--yes', '--output', 'plain'], {
      onOutput(text, child) {
        seen += text;
        // Both hosts loaded the rules that lock the installer out; a moment later berth is only trying to log in again.
        if (loaded === 0 && /vm1: firewall: load the firewall rules/.test(seen) && /vm2: firewall: load the firewall rules/.test(seen)) {
          loaded = Date.now();
          setTimeout(() => child.kill('SIGKILL'), 3000);
        }
      },
    });
    assert.ok(loaded > 0, seen);
    for (const vm of ['vm1', 'vm2']) {
      const r = await p.topo.exec(vm, 'grep -q 203.0.113 /etc/berth/firewall/rules.v4 && echo unconfirmed; systemctl is-enabled berth-revert-firewall.timer');
      assert.equal(r.stdout, 'unconfirmed\nenabled\n', `${vm}: the unconfirmed change is not in place: ${r.stdout}${r.stderr}`);
    }
    await Promise.all(['vm1', 'vm2'].map((vm) => p.topo.reboot(vm)));
    // The timer starts again at boot and reverts 60 s later.
    for (const vm of ['vm1', 'vm2']) {
      let ssh = await p.topo.ssh(vm, 'sudo -n /usr/local/sbin/berth-firewall check && sudo -n grep -c 203.0.113 /etc/berth/firewall/rules.v4 || true', { user: 'berth' });
      for (let i = 0; i < 30 && !(ssh.code === 0 && ssh.stdout.trim() === '0'); i++) {
        await new Promise((r) => setTimeout(r, 5000));
        ssh = await p.topo.ssh(vm, 'sudo -n /usr/local/sbin/berth-firewall check && sudo -n grep -c 203.0.113 /etc/berth/firewall/rules.v4 || true', { user: 'berth' });
      }
      assert.equal(ssh.code, 0, `${vm}: no SSH after the reboot: ${ssh.stderr}`);
      assert.equal(ssh.stdout.trim(), '0', `${vm}: the unconfirmed rules are still there after the reboot`);
      const timer = await p.topo.exec(vm, 'systemctl is-active berth-revert-firewall.timer; systemctl is-enabled berth-revert-firewall.timer');
      assert.equal(timer.stdout, 'inactive\ndisabled\n', `${vm}: the revert would run again at the next boot`);
    }
    await assertOutsiderSeesOnlyWeb();
    await assertFirewallUpToDate();
  });

  it('a run killed in the middle of the firewall phase converges when started again', async () => {
    const file = p.topo.writeAnswers({ firewall: { adminCidrs: [`${p.topo.gatewayIp}/32`], openPorts: [9999] } }, 'killed.yaml');
    const args = ['install', '--answers', file, '--yes', '--output', 'plain'];
    let seen = '';
    const killed = await runBerth(args, {
      onOutput(text, child) {
        seen += text;
        if (/firewall: write \/etc\/berth\/firewall\/rules\.v4/.test(seen)) child.kill('SIGKILL');
      },
    });
    assert.notEqual(killed.code, 0, killed.output);
    assert.match(killed.output, /firewall: write \/etc\/berth\/firewall\/rules\.v4/);
    assert.doesNotMatch(killed.output, /Done:/, 'the run was not killed in time');

    let again: BerthRun | undefined;
    try {
      // The killed run's process is gone from this machine: the rerun takes its lock over by itself.
      again = await runBerth(args);
      assert.equal(again.code, 0, again.output);
      const further = await runBerth(args);
      assert.equal(further.code, 0, further.output);
      assert.match(further.output, /Done: 0 changed\./, further.output);
      for (const vm of ['vm1', 'vm2']) {
        const r = await p.topo.exec(vm, 'iptables -S BERTH-INPUT | grep -c -- "--dport 9999"; systemctl is-active berth-revert-firewall.timer || true');
        assert.equal(r.stdout, '1\ninactive\n', `${vm}: ${r.stdout}`);
      }
    } finally {
      const restored = await p.berth('install', ['--force-unlock']);
      assert.equal(restored.code, 0, `${again?.output ?? ''}\n---\n${restored.output}`);
    }
    await assertFirewallUpToDate();
  });
});
