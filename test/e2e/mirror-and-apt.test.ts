import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startAptRepo, type AptRepo } from '../../src/sandbox/aptrepo';
import { ensureBaseImage } from '../../src/sandbox/base-image';
import { createVolume, ensureNetwork, removeTopologyObjects } from '../../src/sandbox/containers';
import { docker } from '../../src/sandbox/docker';
import { startHubMirror, type HubMirror } from '../../src/sandbox/mirror';
import { addressPlan, TOPOLOGY_LABEL, topologyNames } from '../../src/sandbox/plan';
import { ensureStandin } from '../../src/sandbox/standins';
import { e2eSideNetwork, e2eWorkDir, KEEP } from './harness';

/**
 * The offline image world on its own little network: the Docker apt stand-in
 * installs Docker's package names on a Debian 13 client, and that client's
 * Docker Engine pulls official image names through the TLS mirror.
 */

const SIDE = e2eSideNetwork('imgtest', 97);
const PREFIX = SIDE.prefix;
const NAMES = topologyNames(SIDE);
const NETWORK = NAMES.network;
const NET24 = SIDE.net24;
const STATE_DIR = e2eWorkDir('imgtest');
const CLIENT = `${PREFIX}client`;
const DOCKER_PACKAGES = ['docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin'];

async function sh(container: string, script: string, input?: string) {
  const args = input === undefined ? ['exec', container, 'bash', '-ec', script] : ['exec', '-i', container, 'bash', '-ec', script];
  return docker(args, { allowFailure: true, input });
}

describe('offline image world: docker-apt and hubmirror', function () {
  this.timeout(15 * 60_000);
  let mirror: HubMirror;
  let repo: AptRepo;

  before(async function () {
    const plan = addressPlan(SIDE);
    await ensureNetwork(PREFIX, NETWORK, NAMES.bridge, plan.subnet, plan.gateway);
    const services = { network: NETWORK, prefix: PREFIX, stateDir: STATE_DIR };
    [mirror, repo] = await Promise.all([
      startHubMirror({ ...services, ip: `${NET24}.30` }),
      startAptRepo({ ...services, ip: `${NET24}.31` }),
    ]);
    const volume = `${PREFIX}client-docker`;
    await createVolume(PREFIX, volume);
    await docker(['rm', '--force', CLIENT], { allowFailure: true });
    // A Debian 13 host able to run its own Docker Engine (the flags of the e2e VMs, without systemd).
    await docker([
      'run', '--detach', '--init', '--name', CLIENT, '--label', `${TOPOLOGY_LABEL}=${PREFIX}`,
      '--network', NETWORK, '--ip', `${NET24}.40`,
      '--add-host', `${repo.hostname}:${repo.ip}`, '--add-host', `${mirror.hostname}:${mirror.ip}`,
      // Docker Hub is this container itself, where nothing listens: a pull the mirror cannot serve falls back
      // to Docker Hub, and that attempt must not leave the container (the topology's resolvers refuse the name).
      '--add-host', 'registry-1.docker.io:127.0.0.1',
      '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
      '--cgroupns', 'host', '--volume', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--volume', `${volume}:/var/lib/docker`, '--tmpfs', '/run',
      await ensureBaseImage(), 'sleep', 'infinity',
    ]);
  });

  after(async function () {
    if (!KEEP) await removeTopologyObjects(PREFIX);
  });

  it('starts idempotently: a second start reuses both services as they are', async function () {
    const ids = async () => (await docker(['ps', '--quiet', '--no-trunc', '--filter', `label=${TOPOLOGY_LABEL}=${PREFIX}`, '--filter', 'label=berth.role'])).stdout;
    const before = await ids();
    const services = { network: NETWORK, prefix: PREFIX, stateDir: STATE_DIR };
    const again = await Promise.all([startHubMirror({ ...services, ip: `${NET24}.30` }), startAptRepo({ ...services, ip: `${NET24}.31` })]);
    assert.deepEqual(again, [mirror, repo]);
    assert.equal(await ids(), before);
    assert.equal(before.trim().split('\n').length, 2);
  });

  it('refuses the repository while its key is not trusted', async function () {
    const result = await sh(
      CLIENT,
      `echo "deb ${repo.url}/debian trixie stable" > /etc/apt/sources.list.d/docker.list
       apt-get update 2>&1`,
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stdout, /NO_PUBKEY|not signed|Missing key/);
  });

  it('installs Docker with apt as Docker documents it, from the stand-in repository', async function () {
    const result = await sh(
      CLIENT,
      `export DEBIAN_FRONTEND=noninteractive
       rm -f /etc/apt/sources.list.d/docker.list
       apt-get update -qq
       apt-get install -y -qq --no-install-recommends ca-certificates curl >/dev/null
       install -m 0755 -d /etc/apt/keyrings
       curl -fsSL ${repo.url}/debian/gpg -o /etc/apt/keyrings/docker.asc
       echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] ${repo.url}/debian trixie stable" > /etc/apt/sources.list.d/docker.list
       apt-get update -qq
       apt-get install -y -qq --no-install-recommends ${DOCKER_PACKAGES.join(' ')} >/dev/null
       dpkg-query -W -f '\${Package} \${Status}\\n' ${DOCKER_PACKAGES.join(' ')} containerd runc docker-buildx docker-compose docker.io docker-cli || true
       dockerd --version
       docker --version
       docker compose version
       docker buildx version`,
    );
    assert.equal(result.code, 0, result.stderr);
    const status = (pkg: string) => new RegExp(`^${pkg.replace('.', '\\.')} (\\S+ ){2}(\\S+)$`, 'm').exec(result.stdout)?.[2];
    for (const pkg of [...DOCKER_PACKAGES, 'containerd', 'runc', 'docker-buildx', 'docker-compose']) assert.equal(status(pkg), 'installed', pkg);
    // As with Docker's own packages, Debian's engine and CLI packages are replaced, not installed beside them.
    for (const pkg of ['docker.io', 'docker-cli']) assert.equal(status(pkg), 'not-installed', pkg);
    assert.match(result.stdout, /^Docker version 26\.1\.5/m);
    assert.match(result.stdout, /Docker Compose version v?2\./);
    assert.match(result.stdout, /buildx v?0\./);
  });

  it("pulls official image names through the mirror once the mirror's CA is in certs.d", async function () {
    const start = await sh(
      CLIENT,
      `mkdir -p /etc/docker
       echo '{"registry-mirrors": ["${mirror.url}"]}' > /etc/docker/daemon.json
       (dockerd >/var/log/dockerd.log 2>&1 &)
       for i in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done
       tail -20 /var/log/dockerd.log; exit 1`,
    );
    assert.equal(start.code, 0, start.stdout + start.stderr);

    // Without the CA the mirror's certificate is refused and Docker Hub itself is unreachable.
    const untrusted = await sh(CLIENT, 'docker pull nginx:1.26 2>&1');
    assert.notEqual(untrusted.code, 0);
    const log = await sh(CLIENT, 'cat /var/log/dockerd.log');
    assert.match(log.stdout, /signed by unknown authority/);

    const trust = await sh(
      CLIENT,
      `mkdir -p /etc/docker/certs.d/${mirror.hostname} && cat > /etc/docker/certs.d/${mirror.hostname}/ca.crt`,
      readFileSync(mirror.caCertPath, 'utf8'),
    );
    assert.equal(trust.code, 0, trust.stderr);
    for (const tag of ['nginx:1.26', 'python:3.13-slim'] as const) {
      const pulled = await sh(CLIENT, `docker pull ${tag} >/dev/null && docker image inspect --format '{{.Id}}' ${tag}`);
      assert.equal(pulled.code, 0, pulled.stdout + pulled.stderr);
      assert.equal(pulled.stdout.trim(), (await ensureStandin(tag)).id, `${tag} pulled through the mirror is the local stand-in`);
    }
    const run = await sh(CLIENT, `docker run --rm --network none python:3.13-slim python -c 'import django; print(django.get_version())'`);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^4\.2\./);
  });
});
