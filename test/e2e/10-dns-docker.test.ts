import assert from 'node:assert/strict';
import { dnsPhase } from '../../src/phases/dns';
import { dockerPhase } from '../../src/phases/docker';
import { preflightPhase } from '../../src/phases/preflight';
import { DOCKER_APT_AUTH, DOCKER_KEY_FINGERPRINT, DOCKER_KEYRING, DOCKER_SOURCES } from '../../src/render/docker';
import { aptRepoDocker, writeAnswersFile } from '../../src/sandbox/answers';
import { ensureStandin } from '../../src/sandbox/standins';
import { answersFor, execIn, recreateTopologyVm, upTopology, type Topology } from '../../src/sandbox/topology';
import { DEBIAN12, e2eSpec, VM_TIMEOUT_MS, type E2eTopology } from './harness';
import { installedPlatform, INSTALL_TIMEOUT_MS, runSomePhases, type InstalledPlatform } from './installed';

/**
 * The DNS mirror and Docker as `berth install` leaves them: vm2 forwards DNS
 * to the smart DNS, vm1 resolves the mirror's name only through vm2, Docker
 * pulls official image names through the TLS mirror with the settings from
 * daemon.json, all of it still in force after a reboot. And the `official`
 * Docker source, through the stand-in of Docker's apt repository, on a fresh
 * VM whose resolver is systemd-resolved.
 */

const MIRROR = 'hubmirror.berth.test';

async function sh(topo: E2eTopology, vm: string, script: string): Promise<string> {
  const result = await topo.exec(vm, `set -e\n${script}`);
  assert.equal(result.code, 0, `on ${vm}:\n${script}\n→ exit ${result.code}\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

/** Whether `name` resolves on the VM, and to what (getent: the host's resolver as any program sees it). */
async function resolves(topo: E2eTopology, vm: string, name: string): Promise<string | null> {
  const result = await topo.exec(vm, `timeout 20 getent ahosts ${name} | awk 'NR==1{print $1}'; exit \${PIPESTATUS[0]}`);
  return result.code === 0 ? result.stdout.trim() : null;
}

describe('DNS mirror and Docker (e2e)', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let platform: InstalledPlatform;
  let topo: E2eTopology;

  before(async function () {
    platform = await installedPlatform();
    topo = platform.topo;
  });

  it('vm2 runs the forwarder on its own addresses only; each host resolves through it', async function () {
    const vm2 = topo.vms.vm2.ip;
    const nameservers = async (vm: string) => (await sh(topo, vm, "sed -n 's/^nameserver //p' /etc/resolv.conf")).trim().split('\n');
    assert.deepEqual(await nameservers('vm1'), [vm2]);
    assert.deepEqual(await nameservers('vm2'), ['127.0.0.1']);
    const sockets = (await sh(topo, 'vm2', "ss -Hlnu 'sport = :53' | awk '{print $4}'")).trim().split('\n');
    assert.deepEqual(sockets.sort(), [`${vm2}:53`, '127.0.0.1:53'].sort());
    // The resolver the VMs started with (the "ISP's") does not know the mirror: these answers come from the smart DNS, through vm2.
    assert.equal(await resolves(topo, 'vm1', MIRROR), topo.hubMirror!.ip);
    assert.equal(await resolves(topo, 'vm2', MIRROR), topo.hubMirror!.ip);
  });

  it('vm1 resolves the mirror only through the forwarder: stop it and resolution fails, start it and it works', async function () {
    try {
      await sh(topo, 'vm2', 'systemctl stop dnsmasq');
      assert.equal(await resolves(topo, 'vm1', MIRROR), null, 'vm1 still resolves the mirror with the forwarder stopped');
      assert.equal(await resolves(topo, 'vm1', 'deb.debian.org'), null, 'vm1 still resolves names with the forwarder stopped: it has another resolver');
    } finally {
      await sh(topo, 'vm2', 'systemctl start dnsmasq');
    }
    assert.equal(await resolves(topo, 'vm1', MIRROR), topo.hubMirror!.ip);
  });

  it('Docker pulls an official image name through the mirror, and containers resolve through the forwarder', async function () {
    const standin = await ensureStandin('nginx:1.26');
    for (const vm of ['vm1', 'vm2']) {
      const id = await sh(topo, vm, "docker pull -q nginx:1.26 >/dev/null && docker image inspect --format '{{.Id}}' nginx:1.26");
      assert.equal(id.trim(), standin.id, `${vm} pulled nginx:1.26 from somewhere other than the mirror`);
      // A container's 127.0.0.1 is its own: even on vm2 containers ask the forwarder at vm2's cluster address.
      const inContainer = await sh(topo, vm, `docker run --rm nginx:1.26 sh -c 'grep ^nameserver /etc/resolv.conf; getent ahosts ${MIRROR} | head -n1'`);
      assert.match(inContainer, new RegExp(`^nameserver ${topo.vms.vm2.ip.replace(/\./g, '\\.')}\\n${topo.hubMirror!.ip.replace(/\./g, '\\.')} `));
    }
  });

  it('docker info shows the mirror and berth\'s daemon settings; published ports need no userland proxy', async function () {
    const info = JSON.parse(await sh(topo, 'vm1', "docker info --format '{{json .}}'")) as {
      RegistryConfig: { Mirrors: string[] };
      LiveRestoreEnabled: boolean;
      LoggingDriver: string;
    };
    assert.deepEqual(info.RegistryConfig.Mirrors, [`https://${MIRROR}/`]);
    assert.equal(info.LiveRestoreEnabled, true);
    assert.equal(info.LoggingDriver, 'json-file');
    // What no-new-privileges does to every container (Docker 20.10, the stand-in's engine on Debian 12, does not list it in SecurityOptions).
    assert.match(await sh(topo, 'vm1', 'docker run --rm --entrypoint cat nginx:1.26 /proc/self/status'), /^NoNewPrivs:\s+1$/m);
    const daemon = JSON.parse(await sh(topo, 'vm1', 'cat /etc/docker/daemon.json')) as Record<string, unknown>;
    assert.deepEqual(daemon['log-opts'], { 'max-size': '10m', 'max-file': '3' });
    assert.equal(daemon['userland-proxy'], false);
    const proxies = await sh(
      topo,
      'vm1',
      'docker run -d --name berth-e2e-proxycheck -p 127.0.0.1:18080:80 nginx:1.26 >/dev/null\n' +
        'trap "docker rm -f berth-e2e-proxycheck >/dev/null" EXIT\n' +
        'for i in $(seq 20); do curl -fsS -o /dev/null http://127.0.0.1:18080/ && break; sleep 0.5; done\n' +
        'curl -fsS -o /dev/null http://127.0.0.1:18080/\n' +
        'pgrep -c docker-proxy || true',
    );
    assert.equal(proxies.trim(), '0', 'a published port started docker-proxy');
  });

  it('Compose v2 works on every host', async function () {
    for (const vm of ['vm1', 'vm2']) {
      const version = await sh(topo, vm, 'docker compose version --short');
      assert.match(version, /^v?2\.\d+/);
      const config = await sh(topo, vm, "printf 'services:\\n  web:\\n    image: nginx:1.26\\n' | docker compose -p berth-e2e-check -f - config --images");
      assert.equal(config.trim(), 'nginx:1.26');
    }
  });

  it('after a reboot of both VMs the DNS and Docker settings are still in force', async function () {
    this.timeout(VM_TIMEOUT_MS * 2);
    await Promise.all(['vm1', 'vm2'].map((vm) => topo.reboot(vm)));
    assert.equal((await sh(topo, 'vm2', 'systemctl is-active dnsmasq')).trim(), 'active');
    assert.match(await sh(topo, 'vm1', 'cat /etc/resolv.conf'), new RegExp(`^nameserver ${topo.vms.vm2.ip.replace(/\./g, '\\.')}$`, 'm'));
    assert.equal(await resolves(topo, 'vm1', MIRROR), topo.hubMirror!.ip);
    for (const vm of ['vm1', 'vm2']) {
      const info = (await sh(topo, vm, "docker info --format '{{json .RegistryConfig.Mirrors}} {{.LiveRestoreEnabled}} {{.LoggingDriver}}'")).trim();
      assert.equal(info, `["https://${MIRROR}/"] true json-file`, `${vm} after the reboot`);
    }
  });

  describe('source: official on a fresh systemd-resolved VM (vm3, outside the installed platform)', function () {
    let topology: Topology;
    let answersFile: string;

    /** preflight, dns and docker only: what this spec is about, without the other phases. */
    const installDnsAndDocker = (file = answersFile) => runSomePhases(file, [preflightPhase, dnsPhase, dockerPhase]);

    const vm3Only = () => ({
      hosts: [{ name: 'vm3', address: topology.vms.vm3.ip, hostKey: topology.vms.vm3.hostKey, roles: ['registry' as const, 'app' as const, 'lb' as const, 'db' as const] }],
      dns: { mode: 'direct' as const, upstreams: [topology.smartdnsIp] },
    });

    before(async function () {
      // Its own topology object: vm3 joins the same network, and the platform's two-host answers stay as they are.
      topology = await upTopology(e2eSpec(3));
      await recreateTopologyVm(topology, 'vm3');
      const vm3 = topology.vms.vm3;
      // What an Ubuntu or Debian cloud image has: resolved owning /etc/resolv.conf, networkd .network files (netplan's name).
      const prepared = await execIn(
        vm3.container,
        'set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq systemd-resolved >/dev/null\n' +
          "mkdir -p /etc/systemd/network; printf '[Match]\\nName=ens9\\n\\n[Network]\\nDHCP=yes\\n' > /etc/systemd/network/10-netplan-ens9.network\n" +
          'readlink /etc/resolv.conf',
      );
      assert.equal(prepared.code, 0, prepared.stdout + prepared.stderr);
      assert.equal(prepared.stdout.trim(), '../run/systemd/resolve/stub-resolv.conf');
      answersFile = `${topology.spec.stateDir}/answers/official.yaml`;
      writeAnswersFile(
        answersFile,
        answersFor(topology, { ...vm3Only(), docker: aptRepoDocker(topology.aptRepo!) }),
        'vm3 alone: Docker from the stand-in of its apt repository, DNS straight to the smart DNS.',
      );
    });

    it("refuses a mirror whose key is not the pinned one (Docker's, by default), naming both fingerprints; nothing is installed", async function () {
      const unpinned = `${topology.spec.stateDir}/answers/official-docker-key.yaml`;
      const docker = { ...aptRepoDocker(topology.aptRepo!), aptKeyFingerprint: DOCKER_KEY_FINGERPRINT };
      writeAnswersFile(unpinned, answersFor(topology, { ...vm3Only(), docker }), "vm3 alone: the stand-in apt repository with Docker's key pinned, which it does not have.");
      const refused = await installDnsAndDocker(unpinned);
      assert.equal(refused.ok, false, refused.log);
      assert.ok(refused.log.includes(`is ${topology.aptRepo!.fingerprint}, not the pinned ${DOCKER_KEY_FINGERPRINT}`), refused.log);
      assert.match(refused.log, /set docker\.aptKeyFingerprint/);
      const left = await execIn(topology.vms.vm3.container, "ls /etc/apt/keyrings/; dpkg-query -W -f '${db:Status-Status}\\n' docker-ce 2>&1 || true");
      assert.equal(left.stdout.trim(), 'dpkg-query: no packages found matching docker-ce', left.stdout + left.stderr);
    });

    it("installs Docker's packages from the mirror with its key, resolving through systemd-resolved; a second run changes nothing", async function () {
      const first = await installDnsAndDocker();
      assert.ok(first.ok, first.log);
      const vm3 = topology.vms.vm3.container;
      const check = await execIn(
        vm3,
        [
          'set -e',
          'readlink /etc/resolv.conf',
          "resolvectl dns | sed -n 's/^Global: //p'",
          `getent ahosts ${MIRROR} | awk 'NR==1{print $1}'`,
          'grep -c UseDNS=false /etc/systemd/network/10-netplan-ens9.network.d/90-berth-dns.conf',
          "for p in docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin; do dpkg-query -W -f '${Package} ${db:Status-Status}\\n' $p; done",
          "sed -n 's/^URIs: //p' /etc/apt/sources.list.d/docker.sources",
          "docker pull -q nginx:1.26 >/dev/null && docker image inspect --format '{{.Id}}' nginx:1.26",
          'docker compose version --short',
        ].join('\n'),
      );
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const standin = await ensureStandin('nginx:1.26');
      assert.deepEqual(check.stdout.trim().split('\n').slice(0, 11), [
        '../run/systemd/resolve/stub-resolv.conf',
        topology.smartdnsIp,
        topology.hubMirror!.ip,
        '3',
        'docker-ce installed',
        'docker-ce-cli installed',
        'containerd.io installed',
        'docker-buildx-plugin installed',
        'docker-compose-plugin installed',
        `${topology.aptRepo!.url}/debian`,
        standin.id,
      ]);
      assert.match(check.stdout.trim().split('\n')[11], /^v?2\./);

      const second = await installDnsAndDocker();
      assert.ok(second.ok, second.log);
      assert.deepEqual(
        second.summary.map((row) => `${row.phase} ${row.changed}`),
        ['preflight 0', 'dns 0', 'docker 0'],
        second.log,
      );
    });

    it("takes a mirror's login from its URL as a secret: apt reads it from auth.conf.d (0600), the source and the log have none of it", async function () {
      const token = 'Apt-Login-Tok3n-e2e';
      // An address, not a name: the dns phase checks that the mirror's name resolves through the smart DNS, which knows none for vm3.
      const name = '127.0.0.1';
      const vm3 = topology.vms.vm3.container;
      // A login-protected HTTPS mirror on vm3 itself: nginx (the stand-in, pulled through the hub mirror) in front of the stand-in apt repository.
      const mirror = await execIn(
        vm3,
        [
          'set -e',
          'dir=/root/login-mirror; mkdir -p $dir',
          `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=${name} -addext subjectAltName=IP:${name} -keyout $dir/key.pem -out $dir/cert.pem 2>/dev/null`,
          'cp $dir/cert.pem /usr/local/share/ca-certificates/berth-login-mirror.crt && update-ca-certificates >/dev/null 2>&1',
          `printf 'ci:%s\\n' "$(openssl passwd -apr1 '${token}')" > $dir/htpasswd`,
          `printf '%s\\n' 'server {' '  listen 8443 ssl;' '  ssl_certificate /m/cert.pem;' '  ssl_certificate_key /m/key.pem;' '  auth_basic berth;' '  auth_basic_user_file /m/htpasswd;' '  location / { proxy_pass http://${topology.aptRepo!.ip}; proxy_set_header Host ${topology.aptRepo!.hostname}; }' '}' > $dir/login.conf`,
          'docker rm -f login-mirror >/dev/null 2>&1 || true',
          'docker run -d --name login-mirror --network host -v $dir:/m:ro -v $dir/login.conf:/etc/nginx/conf.d/default.conf:ro nginx:1.26 >/dev/null',
          `for try in $(seq 20); do curl -so /dev/null -w '%{http_code}' https://${name}:8443/linux/debian/gpg | grep -q 401 && break; sleep 0.5; done`,
          `curl -so /dev/null -w '%{http_code}\\n' https://${name}:8443/linux/debian/gpg`,
        ].join('\n'),
      );
      assert.equal(mirror.code, 0, mirror.stdout + mirror.stderr);
      assert.equal(mirror.stdout.trim(), '401', 'the mirror wants a login');

      const withLogin = `${topology.spec.stateDir}/answers/official-login.yaml`;
      const docker = { ...aptRepoDocker(topology.aptRepo!), aptMirror: `https://ci:${token}@${name}:8443/linux` };
      writeAnswersFile(withLogin, answersFor(topology, { ...vm3Only(), docker }), 'vm3 alone: the stand-in apt repository behind a login.');
      const run = await installDnsAndDocker(withLogin);
      assert.ok(run.ok, run.log);
      assert.ok(!run.log.includes(token), run.log);
      const check = await execIn(
        vm3,
        [
          'set -e',
          "stat -c '%a %U' /etc/apt/auth.conf.d/berth-docker.conf",
          "sed -n 's/^URIs: //p' /etc/apt/sources.list.d/docker.sources",
          `grep -c '${token}' /etc/apt/sources.list.d/docker.sources || true`,
          `apt-get update 2>&1 | grep -E '${name}.* InRelease' | grep -oE '^(Hit|Get|Err|Ign)'`,
          `docker logs login-mirror 2>&1 | grep -cE ' - ci \\[.*"GET /linux/debian/(gpg|dists/[a-z]+/InRelease) HTTP/1.1" 200 '`,
          'docker rm -f login-mirror >/dev/null',
        ].join('\n'),
      );
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const [mode, uri, inSources, update, logins] = check.stdout.trim().split('\n');
      assert.deepEqual([mode, uri, inSources], ['600 root', `https://${name}:8443/linux/debian`, '0']);
      assert.match(update, /^(Get|Hit)$/, check.stdout);
      assert.ok(Number(logins) >= 2, `the key and InRelease were fetched with the login:\n${check.stdout}`);
    });

    it("refuses to swap Docker's packages for Debian's (docker.source: distro) before any change; once they are removed by hand as it says, installs Debian's and takes Docker's apt key, source and login away; a second run changes nothing", async function () {
      // Debian 12 has no distro source to switch to (70-debian12 shows its refusal).
      if (DEBIAN12) this.skip();
      const vm3 = topology.vms.vm3.container;
      const distro = `${topology.spec.stateDir}/answers/distro.yaml`;
      writeAnswersFile(distro, answersFor(topology, vm3Only()), "vm3 alone, docker.source distro: Debian's Docker.");
      const APT_FILES = [DOCKER_KEYRING, DOCKER_SOURCES, DOCKER_APT_AUTH].join(' ');
      const state = async () => {
        const r = await execIn(vm3, `for p in docker-ce docker.io; do if [ "$(dpkg-query -W -f '\${db:Status-Status}' $p 2>/dev/null)" = installed ]; then echo "$p installed"; else echo "$p"; fi; done; for f in ${APT_FILES}; do [ -e $f ] && echo "$f"; done; docker image inspect --format '{{.Id}}' nginx:1.26; true`);
        return r.stdout.trim().split('\n');
      };
      const before = await state();
      assert.deepEqual(before.slice(0, 5), ['docker-ce installed', 'docker.io', ...APT_FILES.split(' ')]);

      const refused = await installDnsAndDocker(distro);
      assert.equal(refused.ok, false, refused.log);
      assert.match(refused.log, /Docker Engine on this host comes from Docker's apt repository \(docker-ce [^)]+\), and the answers say docker\.source: distro: berth does not swap a running Docker Engine/);
      assert.match(refused.log, /Set docker\.source: official back in the answers file\. To switch: .*apt-get remove docker-ce docker-ce-cli containerd\.io docker-buildx-plugin docker-compose-plugin/);
      assert.doesNotMatch(refused.log, /\n\s+at /, 'no stack trace');
      assert.deepEqual(await state(), before, 'nothing changed');

      const removed = await execIn(vm3, 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin >/dev/null');
      assert.equal(removed.code, 0, removed.stderr);
      const switched = await installDnsAndDocker(distro);
      assert.ok(switched.ok, switched.log);
      // Debian's engine, none of Docker's apt files, and the images kept in /var/lib/docker.
      assert.deepEqual(await state(), ['docker-ce', 'docker.io installed', before[5]]);
      const compose = await execIn(vm3, 'docker compose version --short');
      assert.match(compose.stdout, /^v?2\./, compose.stdout + compose.stderr);
      const again = await installDnsAndDocker(distro);
      assert.ok(again.ok, again.log);
      assert.deepEqual(again.summary.map((row) => `${row.phase} ${row.changed}`), ['preflight 0', 'dns 0', 'docker 0'], again.log);
    });
  });
});
