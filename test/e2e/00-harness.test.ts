import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { cidrContains } from '../../src/answers/net';
import { parseAnswers } from '../../src/answers/load';
import { docker } from '../../src/sandbox/docker';
import { shellCommand } from '../../src/shell';
import { e2eTopology, TOPOLOGY_TIMEOUT_MS, VM_TIMEOUT_MS, type E2eTopology } from './harness';
import { ALLOWED_NAMES, analyseTraffic, describeFlow, hostNameservers, startCapture, type Capture } from './traffic';

/**
 * Self-tests of the e2e harness: the test hosts behave like fresh VMs, the
 * mirror and the smart DNS work as berth will use them, and the harness's
 * traffic stays on this machine except for the Debian archive. Named to run
 * first. The VMs are recreated before (a kept topology may hold an install)
 * and after whatever changes them, so later specs get pristine hosts.
 */
describe('e2e harness', function () {
  let topo: E2eTopology;
  let capture: Capture;

  before(async function () {
    this.timeout(TOPOLOGY_TIMEOUT_MS);
    topo = await e2eTopology();
    await Promise.all(Object.keys(topo.vms).map((vm) => topo.recreate(vm)));
    // Started before anything below talks to the hosts: the last spec judges all of it.
    capture = await startCapture(topo);
  });

  describe('VM-like hosts', function () {
    this.timeout(60_000);

    for (const name of ['vm1', 'vm2']) {
      it(`${name} takes root's key over SSH, refuses passwords, and sees the installer at the gateway address`, async () => {
        const login = await topo.sshRoot(name, 'id -un; hostname; echo "$SSH_CONNECTION"; passwd --status root | cut -d" " -f2');
        assert.equal(login.code, 0, login.stderr);
        const [user, hostname, connection, passwordState] = login.stdout.trim().split('\n');
        assert.equal(user, 'root');
        assert.equal(hostname, name);
        assert.equal(connection.split(' ')[0], topo.gatewayIp);
        assert.equal(passwordState, 'L', "root's password is locked");
        // Offer no method at all: sshd answers with the methods it would accept.
        const methods = await topo.ssh(name, 'true', { config: ['PreferredAuthentications=none'] });
        assert.notEqual(methods.code, 0);
        assert.match(methods.stderr, /Permission denied \(publickey\)/);
      });

      it(`${name} runs systemd with nothing failed, and has plain /etc files like a VM`, async () => {
        const result = await topo.sshRoot(
          name,
          [
            'systemctl is-system-running',
            'stat --format=%F /etc/resolv.conf /etc/hosts /etc/hostname',
            "awk '$5 ~ /^\\/etc\\//' /proc/self/mountinfo | wc -l",
            'cat /etc/resolv.conf /etc/hostname',
          ].join('\n'),
        );
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(result.stdout.trim().split('\n'), [
          'running',
          'regular file',
          'regular file',
          'regular file',
          '0',
          `nameserver ${topo.resolverIp}`,
          name,
        ]);
      });
    }

    it('reboots on a container restart: sshd is back, resolv.conf keeps its change, iptables starts empty', async function () {
      this.timeout(VM_TIMEOUT_MS);
      const before = await topo.sshRoot(
        'vm2',
        `echo "nameserver ${topo.smartdnsIp}" >/etc/resolv.conf\niptables -A INPUT -p tcp --dport 9 -j DROP\ntouch /run/before-reboot\n`,
      );
      assert.equal(before.code, 0, before.stderr);
      await topo.reboot('vm2');
      const after = await topo.sshRoot('vm2', 'cat /etc/resolv.conf; iptables -S INPUT; ls /run/before-reboot 2>&1 || true; systemctl is-system-running');
      assert.equal(after.code, 0, after.stderr);
      assert.deepEqual(after.stdout.trim().split('\n'), [
        `nameserver ${topo.smartdnsIp}`,
        '-P INPUT ACCEPT',
        'ls: cannot access \'/run/before-reboot\': No such file or directory',
        'running',
      ]);
    });

    after(async function () {
      this.timeout(VM_TIMEOUT_MS);
      await topo?.recreate('vm2');
    });
  });

  describe('nested Docker, the smart DNS and the image mirror', function () {
    this.timeout(VM_TIMEOUT_MS);

    it('vm1 cannot resolve the mirror through its first resolver, which does resolve the Debian archive', async () => {
      const mirror = topo.hubMirror!;
      const result = await topo.sshRoot('vm1', `getent hosts ${mirror.hostname}; echo "mirror $?"; getent hosts deb.debian.org >/dev/null; echo "debian $?"`);
      assert.deepEqual(result.stdout.trim().split('\n'), ['mirror 2', 'debian 0']);
    });

    it('with DNS at the smart DNS and the mirror in daemon.json, vm1 runs a stand-in image pulled through it', async function () {
      const mirror = topo.hubMirror!;
      const registryHost = new URL(mirror.url).host;
      const install = await topo.sshRoot('vm1', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null');
      assert.equal(install.code, 0, install.stderr);
      const daemon = { 'registry-mirrors': [mirror.url], 'userland-proxy': false };
      const configure = await topo.sshRoot(
        'vm1',
        [
          `echo ${shellCommand([`nameserver ${topo.smartdnsIp}`])} >/etc/resolv.conf`,
          `getent hosts ${mirror.hostname}`,
          `mkdir -p /etc/docker/certs.d/${registryHost}`,
          `echo ${shellCommand([readFileSync(mirror.caCertPath, 'utf8')])} >/etc/docker/certs.d/${registryHost}/ca.crt`,
          `echo ${shellCommand([JSON.stringify(daemon)])} >/etc/docker/daemon.json`,
          'systemctl restart docker',
          'docker run --detach --name web --publish 8080:80 nginx:1.26 >/dev/null',
          "docker info --format '{{json .RegistryConfig.Mirrors}}'",
        ].join(' && '),
      );
      assert.equal(configure.code, 0, configure.stderr);
      const [resolved, mirrors] = configure.stdout.trim().split('\n');
      assert.equal(resolved.split(/\s+/)[0], mirror.ip);
      assert.deepEqual(JSON.parse(mirrors), [`${mirror.url.replace(/\/?$/, '/')}`]);
      // Published through the nested dockerd's DNAT (userland-proxy off needs writable net sysctls).
      const page = await topo.exec('outsider', `curl --silent --max-time 5 http://${topo.vms.vm1.ip}:8080/`);
      assert.equal(page.code, 0, page.stderr);
      assert.match(page.stdout, /nginx/i);
      // The outsider also loads HTTP services (hey): one request, answered 200.
      const load = await topo.exec('outsider', `hey -n 1 -c 1 -t 5 http://${topo.vms.vm1.ip}:8080/`);
      assert.equal(load.code, 0, load.stdout + load.stderr);
      assert.match(load.stdout, /\[200\]\s+1 responses/, load.stdout);
      // The image came from the mirror: its registry logged the pull.
      const log = await docker(['logs', `${topo.spec.prefix}hubmirror`]);
      assert.match(log.stdout + log.stderr, /library\/nginx\/manifests\/1\.26/);
    });

    after(async function () {
      this.timeout(VM_TIMEOUT_MS);
      await topo?.recreate('vm1');
    });
  });

  describe('probing ports from the outsider', function () {
    this.timeout(60_000);

    it('reaches an open port on vm1 and not a closed one', async () => {
      // systemd-run returns once the unit started, maybe before it listens: wait (10 s at most) until it does.
      const listen = await topo.sshRoot(
        'vm1',
        'systemd-run --unit=harness-listener systemd-socket-activate --listen=8081 --inetd cat\n' +
          "for _ in $(seq 50); do ss -Htln 'sport = :8081' | grep -q . && exit 0; sleep 0.2; done; exit 1\n",
      );
      assert.equal(listen.code, 0, `the listener on 8081 did not start: ${listen.stdout}${listen.stderr}`);
      try {
        assert.equal(await topo.probe('outsider', topo.vms.vm1.ip, 22), true, 'sshd');
        assert.equal(await topo.probe('outsider', topo.vms.vm1.ip, 8081), true, 'the listener');
        assert.equal(await topo.probe('outsider', topo.vms.vm1.ip, 8082), false, 'nothing listens on 8082');
      } finally {
        // Stopping it makes the unit "failed": forget that, the VM stays as it was.
        await topo.sshRoot('vm1', 'systemctl stop harness-listener; systemctl reset-failed harness-listener');
      }
      assert.equal(await topo.probe('outsider', topo.vms.vm1.ip, 8081), false, 'the listener is gone');
    });

    it('tells a DNS server that answers over UDP from a host that has none', async () => {
      assert.equal(await topo.probe('outsider', topo.smartdnsIp, 53, 'udp'), true);
      assert.equal(await topo.probe('vm2', topo.resolverIp, 53, 'udp'), true, 'from a VM too');
      assert.equal(await topo.probe('outsider', topo.vms.vm1.ip, 53, 'udp'), false);
    });
  });

  describe('answers for the topology', () => {
    it('are valid berth answers pointing at the VMs (host keys pinned), the smart DNS and the mirror', async () => {
      const file = topo.writeAnswers({ project: 'harness' }, 'harness.yaml');
      const { answers } = parseAnswers(readFileSync(file, 'utf8'), file, { env: {} });
      assert.equal(answers.project, 'harness');
      assert.deepEqual(answers.hosts.map((h) => h.address), [topo.vms.vm1.ip, topo.vms.vm2.ip]);
      for (const host of answers.hosts) {
        const offered = await topo.sshRoot(host.name, 'ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub');
        assert.equal(host.hostKey, offered.stdout.split(' ')[1], `${host.name}'s pinned key is the one its sshd offers`);
      }
      assert.equal(answers.ssh.privateKey, topo.sshKeyPath);
      assert.deepEqual(answers.dns.upstreams, [topo.smartdnsIp]);
      assert.deepEqual(answers.docker.registryMirrors, [topo.hubMirror!.url]);
      assert.deepEqual(answers.firewall.adminCidrs, [`${topo.gatewayIp}/32`]);
    });
  });

  describe('traffic', () => {
    it('went only to the topology’s own hosts and the Debian archive (a flow to another address of this machine is the control)', async function () {
      this.timeout(60_000);
      // The control: a connection leaving the subnet for a place not allowed, one of this machine's
      // own addresses outside the topology, so that nothing leaves the machine. The check must find it.
      const control = Object.values(networkInterfaces())
        .flat()
        .find((a) => a && a.family === 'IPv4' && !a.internal && !cidrContains(topo.subnet, a.address))!.address;
      await topo.probe('outsider', control, 9);
      const report = analyseTraffic(await capture.stop(), {
        subnet: topo.subnet,
        allowedNames: ALLOWED_NAMES,
        dnsForwarders: [topo.resolverIp, topo.smartdnsIp],
        upstreamNameservers: hostNameservers(),
      });
      assert.deepEqual(
        report.violations.map(describeFlow),
        [`tcp ${topo.outsider.ip} → ${control}:9: a TCP connection to port 9, whose destination name cannot be checked`],
      );
      const debian = report.outbound.filter((flow) => flow.hosts.includes('deb.debian.org'));
      assert.ok(debian.length > 0, 'the apt-get install above was seen going to deb.debian.org');
    });
  });
});
