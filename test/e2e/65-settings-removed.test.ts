import assert from 'node:assert/strict';
import type { Role } from '../../src/answers/schema';
import { dnsPhase } from '../../src/phases/dns';
import { dnsForwarderPhase, dnsForwarderReleasePhase } from '../../src/phases/dns-forwarder';
import { dockerPhase } from '../../src/phases/docker';
import { firewallPhase } from '../../src/phases/firewall';
import { preflightPhase } from '../../src/phases/preflight';
import { registryPhase } from '../../src/phases/registry';
import { registryAccessPhase } from '../../src/phases/registry-access';
import { retirePhase } from '../../src/phases/retire';
import { shq } from '../../src/shell';
import { e2eTopology, TOPOLOGY_TIMEOUT_MS, type E2eTopology } from './harness';
import { INSTALL_TIMEOUT_MS, runSomePhases } from './installed';

/**
 * Convergence both ways: settings taken out of the answers leave nothing
 * berth wrote behind. vm3 is set up with the DNS forwarder (dns role and
 * mode), a second registry mirror, the CA of another registry and an open
 * port; then the answers drop all of it (dns.mode off, the hub mirror and
 * its CA only, no port) and berth runs again. vm2, as pristine as vm3 was,
 * runs only the second answers: every file under /etc on vm3 must then be
 * as on vm2. Both VMs have DHCP clients (dhclient, and dhcpcd with an
 * admin's own enter hook) so that berth's hooks are written and must go,
 * and the admin's lines must stay. Then the registry moves from vm3 to vm2.
 */
describe('settings removed from the answers leave nothing behind (e2e)', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  const PHASES = [preflightPhase, dnsForwarderPhase, dnsPhase, dnsForwarderReleasePhase, dockerPhase, firewallPhase];
  const ROLES: Role[] = ['registry', 'app', 'lb', 'db'];
  const OWN_HOOK = "# the admin's own dhcpcd hook\nexport BERTH_E2E_OWN=1\n";
  const OTHER_REGISTRY = 'old-registry.berth.test:5000';
  const OTHER_MIRROR = (ip: string) => `https://${ip}:8443`;
  let topo: E2eTopology;

  const host = (vm: string, roles: Role[]) => ({ name: vm, address: topo.vms[vm].ip, hostKey: topo.vms[vm].hostKey, roles });
  /**
   * The harness's answers (the DNS forwarder, the registry mirror and its CA)
   * for vm3 as the dns host, with a second mirror, the CA of another
   * registry, and an open port.
   */
  const given = () => {
    const hub = topo.hubMirror!;
    return topo.writeAnswers(
      {
        hosts: [host('vm3', [...ROLES, 'dns'])],
        docker: { registryMirrors: [hub.url, OTHER_MIRROR(hub.ip)], trustedCAs: [{ registry: hub.hostname, ca: hub.caCertPath }, { registry: OTHER_REGISTRY, ca: hub.caCertPath }] },
        firewall: { openPorts: [8443] },
      },
      'settings-given.yaml',
    );
  };
  /**
   * The same host without the DNS mirror (dns.mode off, no dns role), the
   * second mirror, the other CA and the port. The hub mirror stays (images
   * must come from somewhere): the VMs find it (and the apt stand-in) by /etc/hosts from then on.
   */
  const removed = (vm: string) => topo.writeAnswers({ hosts: [host(vm, ROLES)], dns: { mode: 'off' } }, `settings-removed-${vm}.yaml`);

  async function sh(vm: string, script: string): Promise<string> {
    const result = await topo.exec(vm, `set -euo pipefail\n${script}`);
    assert.equal(result.code, 0, `on ${vm}:\n${script}\n→ exit ${result.code}\n${result.stdout}${result.stderr}`);
    return result.stdout;
  }

  /**
   * Every path under /etc: type, mode, owner, and the link target or the
   * content's hash, with the VM's own address and name written as SELF in
   * berth's files.
   * Left out: what differs between any two VMs (host name and keys, machine
   * id, the identity key Docker 20.10 makes on Debian 12), the loader's cache, the account files' backups, and `skipped`: the
   * dnsmasq package's paths (with its account), which stays installed,
   * disabled, on vm3, as berth cannot tell whether it was there before.
   * berth's own dnsmasq files are checked apart.
   */
  async function etcSnapshot(vm: string, skipped: readonly string[]): Promise<string[]> {
    const self = topo.vms[vm].ip.replace(/\./g, '\\.');
    const out = await sh(
      vm,
      [
        // The account files' backups hold the state before the last change, which depends on the order packages came in.
        `skip=${shq([...skipped, '/etc/passwd-', '/etc/group-', '/etc/shadow-', '/etc/gshadow-', '/etc/subuid-', '/etc/subgid-'].join(' '))}`,
        // The account files as the names they hold: the ids too depend on that order (dnsmasq's account came before docker's group on vm3).
        'content() {',
        '  case "$1" in',
        "    /etc/passwd* | /etc/group* | /etc/shadow* | /etc/gshadow* | /etc/subuid* | /etc/subgid*) cut -d: -f1 \"$1\" | grep -vx dnsmasq | sort ;;",
        // berth's own files name the host (a certificate's base64 may hold "vm3" too, so only these).
        `    /etc/berth/*) sed 's/${self}/SELF/g; s/\\b${vm}\\b/SELF/g' "$1" ;;`,
        '    *) cat "$1" ;;',
        '  esac',
        '}',
        "find /etc -xdev \\( -path '/etc/ssh/ssh_host_*' -o -path /etc/hostname -o -path /etc/hosts -o -path /etc/machine-id -o -path /etc/docker/key.json -o -path /etc/ld.so.cache -o -path /etc/.pwd.lock -o -name '*dnsmasq*' \\) -prune -o -print0 |",
        'sort -z | while IFS= read -r -d "" path; do',
        '  case " $skip " in *" $path "*) continue ;; esac',
        '  meta=$(stat -c "%F %a %U:%G" "$path")',
        '  if [ -L "$path" ]; then what=$(readlink "$path")',
        '  elif [ -f "$path" ]; then what=$({ content "$path" || true; } | sha256sum | cut -d" " -f1)',
        '  else what=-; fi',
        '  printf "%s %s %s\\n" "$path" "$meta" "$what"',
        'done',
      ].join('\n'),
    );
    return out.trim().split('\n');
  }

  before(async function () {
    this.timeout(TOPOLOGY_TIMEOUT_MS + INSTALL_TIMEOUT_MS);
    topo = await e2eTopology({ vms: 3 });
    await Promise.all(['vm2', 'vm3'].map((vm) => topo.recreate(vm)));
    await Promise.all(
      ['vm2', 'vm3'].map((vm) =>
        sh(vm, `export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq isc-dhcp-client dhcpcd-base >/dev/null\nprintf '%s' ${shq(OWN_HOOK)} > /etc/dhcpcd.enter-hook`),
      ),
    );
  });

  it("with the settings given: vm3 forwards DNS, its resolver and DHCP hooks are berth's, Docker has both mirrors, the other CA and berth's DNS, port 8443 is open", async function () {
    const run = await runSomePhases(given(), PHASES);
    assert.ok(run.ok, run.log);
    const state = await sh(
      'vm3',
      [
        'systemctl is-active dnsmasq',
        `ls /etc/dnsmasq.d/berth.conf /etc/systemd/system/dnsmasq.service.d/berth.conf /etc/dhcp/dhclient-enter-hooks.d/berth-keep-resolv-conf /etc/docker/certs.d/${OTHER_REGISTRY}/ca.crt`,
        "sed -n 's/^nameserver //p' /etc/resolv.conf",
        'grep -c "BEGIN berth" /etc/dhcpcd.enter-hook',
        "docker info --format '{{json .RegistryConfig.Mirrors}}'",
        "grep -A1 '\"dns\"' /etc/docker/daemon.json | sed -n 2p | tr -d ' \"'",
        'iptables -S | grep -c -- "--dport 8443"',
      ].join('\n'),
    );
    assert.deepEqual(state.trim().split('\n'), [
      'active',
      '/etc/dhcp/dhclient-enter-hooks.d/berth-keep-resolv-conf',
      '/etc/dnsmasq.d/berth.conf',
      `/etc/docker/certs.d/${OTHER_REGISTRY}/ca.crt`,
      '/etc/systemd/system/dnsmasq.service.d/berth.conf',
      '127.0.0.1',
      '1',
      JSON.stringify(['https://hubmirror.berth.test/', `${OTHER_MIRROR(topo.hubMirror!.ip)}/`]),
      topo.vms.vm3.ip,
      '1',
    ]);
  });

  it('with them removed: vm3 resolves through its own resolver again, dnsmasq is off, and every file under /etc is as on vm2, which never had them', async function () {
    // And the stand-in of Docker's apt repository, which the answers name under BERTH_E2E_DEBIAN=12.
    const byName = [topo.hubMirror!, topo.aptRepo!].map((m) => `${m.ip} ${m.hostname}`).join('\n');
    await Promise.all(['vm2', 'vm3'].map((vm) => sh(vm, `printf '%s\\n' ${shq(byName)} >> /etc/hosts`)));
    const [vm3, vm2] = await Promise.all([runSomePhases(removed('vm3'), PHASES), runSomePhases(removed('vm2'), PHASES)]);
    assert.ok(vm3.ok, vm3.log);
    assert.ok(vm2.ok, vm2.log);
    const state = await sh(
      'vm3',
      [
        'systemctl is-active dnsmasq || true',
        'systemctl is-enabled dnsmasq || true',
        `ls /etc/dnsmasq.d/berth.conf /etc/systemd/system/dnsmasq.service.d /var/lib/berth/dns /etc/docker/certs.d/${OTHER_REGISTRY} 2>&1 | sed "s/^ls: cannot access //" || true`,
        "docker info --format '{{json .RegistryConfig.Mirrors}}'",
        'cat /etc/resolv.conf',
        'cat /etc/dhcpcd.enter-hook',
        "getent ahosts deb.debian.org >/dev/null && echo resolves",
        'iptables -S | grep -c -- "--dport 8443" || true',
      ].join('\n'),
    );
    assert.equal(
      state,
      [
        'inactive',
        'disabled',
        "'/etc/dnsmasq.d/berth.conf': No such file or directory",
        "'/etc/systemd/system/dnsmasq.service.d': No such file or directory",
        "'/var/lib/berth/dns': No such file or directory",
        `'/etc/docker/certs.d/${OTHER_REGISTRY}': No such file or directory`,
        '["https://hubmirror.berth.test/"]',
        `nameserver ${topo.resolverIp}`,
        OWN_HOOK.trimEnd(),
        'resolves',
        '0',
        '',
      ].join('\n'),
    );
    // What the dnsmasq packages brought, directories shared with other packages too: left out on both VMs.
    const dnsmasqPaths = (await sh('vm3', "dpkg-query -L dnsmasq dnsmasq-base | grep '^/etc/'")).trim().split('\n');
    const [on3, on2] = await Promise.all([etcSnapshot('vm3', dnsmasqPaths), etcSnapshot('vm2', dnsmasqPaths)]);
    assert.ok(on2.some((line) => line.startsWith('/etc/docker/daemon.json ')) && on2.length > 500, on2.slice(0, 20).join('\n'));
    const only3 = on3.filter((line) => !on2.includes(line));
    const only2 = on2.filter((line) => !on3.includes(line));
    assert.deepEqual({ only3, only2 }, { only3: [], only2: [] });
  });

  it('the run after changes nothing', async function () {
    const again = await runSomePhases(removed('vm3'), PHASES);
    assert.ok(again.ok, again.log);
    assert.deepEqual(
      again.summary.map((row) => `${row.phase} ${row.changed}`),
      ['preflight', 'dns', 'dns-forwarder-release', 'docker', 'firewall'].map((phase) => `${phase} 0`),
      again.log,
    );
  });

  describe('a role moved to another host', function () {
    const WITH_REGISTRY = [...PHASES, registryPhase, registryAccessPhase, retirePhase];
    /** vm2 the app host, the registry on `registryOn`; the other settings as above. */
    const layout = (registryOn: 'vm2' | 'vm3', project?: string) =>
      topo.writeAnswers(
        { hosts: [host('vm2', ['app', 'lb', 'db', ...(registryOn === 'vm2' ? (['registry'] as Role[]) : [])]), host('vm3', registryOn === 'vm3' ? ['registry'] : [])], dns: { mode: 'off' }, ...(project ? { project } : {}) },
        `registry-on-${registryOn}${project ? `-${project}` : ''}.yaml`,
      );
    /** The registries a host trusts besides the hub mirror. */
    const certsD = async (vm: string) => (await sh(vm, 'ls /etc/docker/certs.d')).trim().split('\n').filter((name) => name !== topo.hubMirror!.hostname);
    const logins = async (vm: string) => (await sh(vm, "grep -o '\"[0-9.]*:5000\"' /root/.docker/config.json || true")).trim();

    it('the registry on vm3: every host trusts it, the app host vm2 is logged in to it', async function () {
      const run = await runSomePhases(layout('vm3'), WITH_REGISTRY);
      assert.ok(run.ok, run.log);
      const vm3Registry = `${topo.vms.vm3.ip}:5000`;
      assert.deepEqual(await certsD('vm2'), [vm3Registry]);
      assert.deepEqual(await certsD('vm3'), [vm3Registry]);
      assert.equal(await logins('vm2'), `"${vm3Registry}"`);
      assert.equal((await sh('vm3', 'docker compose --file /opt/berth/app/registry/compose.yaml ps --format "{{.Service}} {{.State}}"')).trim(), 'registry running');
    });

    it("moved to vm2: vm3's registry is stopped and removed with berth's files, its volume kept and named in the plan; the former CA and login are taken back; the run after changes nothing", async function () {
      await sh('vm3', "docker run --rm --entrypoint sh -v app-registry_data:/data registry:2 -c 'echo kept > /data/e2e-marker'");
      const run = await runSomePhases(layout('vm2'), WITH_REGISTRY);
      assert.ok(run.ok, run.log);
      assert.match(run.log, /stop and remove the private registry, which the answers no longer place on this host .*the volume app-registry_data with its data stays \(docker volume rm app-registry_data frees it\)/);
      const vm2Registry = `${topo.vms.vm2.ip}:5000`;
      assert.deepEqual(await certsD('vm2'), [vm2Registry]);
      assert.deepEqual(await certsD('vm3'), [vm2Registry]);
      assert.equal(await logins('vm2'), `"${vm2Registry}"`);
      const left = await sh(
        'vm3',
        [
          "docker ps --all --quiet --filter label=com.docker.compose.project=app-registry | wc -l",
          'ls -d /opt/berth /etc/berth/registry /etc/berth/registry-ca /var/lib/berth/applied/registry 2>&1 | sed "s/^ls: cannot access //" || true',
          "docker run --rm --entrypoint cat -v app-registry_data:/data registry:2 /data/e2e-marker",
          `timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5000' 2>/dev/null && echo open || echo closed`,
        ].join('\n'),
      );
      assert.equal(
        left,
        [
          '0',
          "'/opt/berth': No such file or directory",
          "'/etc/berth/registry': No such file or directory",
          "'/etc/berth/registry-ca': No such file or directory",
          "'/var/lib/berth/applied/registry': No such file or directory",
          'kept',
          'closed',
          '',
        ].join('\n'),
      );
      const again = await runSomePhases(layout('vm2'), WITH_REGISTRY);
      assert.ok(again.ok, again.log);
      assert.deepEqual(again.summary.filter((row) => row.changed !== 0), [], again.log);
    });

    it('a project renamed (project: shop) is refused in preflight on the host that runs the old one, before any change', async function () {
      const running = () => sh('vm2', 'docker compose --file /opt/berth/app/registry/compose.yaml ps --format "{{.Service}} {{.State}}"; ls /opt/berth');
      const before = await running();
      const run = await runSomePhases(layout('vm2', 'shop'), WITH_REGISTRY);
      assert.equal(run.ok, false, run.log);
      assert.match(run.log, /this host runs the berth project "app" \(\/opt\/berth\/app\), and the answers name the project "shop": berth does not rename a project/);
      assert.match(run.log, /Set project: app back in the answers file/);
      assert.deepEqual(run.summary.filter((row) => row.changed !== 0), [], run.log);
      assert.equal(await running(), before);
      assert.match(before, /^registry running\napp\n$/);
    });
  });
});
