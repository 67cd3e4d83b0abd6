import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildContext, contextTag, demoAppContext, demoAppDir } from '../../src/app/context';
import { e2eWorkDir } from './harness';
import { changedPhases, stackSettled, INSTALL_TIMEOUT_MS, installedPlatform, runBerth, WORK_DIR, type InstalledPlatform } from './installed';

/**
 * The private registry on vm2 and the app image, as `berth install` leaves
 * them: TLS with berth's CA, htpasswd authentication, the app image in the
 * catalog under its content tag; all of it through a reboot and a rerun from
 * a machine that has nothing but the answers file.
 */
describe('e2e: the private registry and the app image', function () {
  this.timeout(INSTALL_TIMEOUT_MS);
  let p: InstalledPlatform;
  let registry: string;
  let password: string;
  let secrets: string[];

  before(async () => {
    p = await installedPlatform();
    registry = `${p.topo.vms.vm2.ip}:5000`;
    const all = JSON.parse(readFileSync(join(p.topo.spec.stateDir, 'secrets.json'), 'utf8')) as Record<string, string>;
    password = all.registryPassword;
    secrets = Object.values(all);
  });

  /** A docker login on vm1 with a configuration of its own, the password on stdin. */
  const login = (pass: string) => p.topo.exec('vm1', `export DOCKER_CONFIG=$(mktemp -d); printf '%s' '${pass}' | docker login --username berth --password-stdin ${registry} && rc=0 || rc=$?; echo "config=$DOCKER_CONFIG"; exit $rc`);

  it('takes a login with the right password, and push and pull work with certificate verification', async () => {
    const ok = await login(password);
    assert.equal(ok.code, 0, ok.stderr);
    const config = /config=(\S+)/.exec(ok.stdout)![1];
    const ref = `${registry}/e2e/pushed:1`;
    const r = await p.topo.exec('vm1', `export DOCKER_CONFIG=${config}; set -e; docker tag $(docker images -q | head -n1) ${ref}; docker push -q ${ref}; docker rmi ${ref}; docker pull -q ${ref}; rm -rf ${config}`);
    assert.equal(r.code, 0, r.stderr);
    const insecure = await p.topo.exec('vm1', "cat /etc/docker/daemon.json; docker info --format '{{json .RegistryConfig.InsecureRegistryCIDRs}} {{json .RegistryConfig.IndexConfigs}}'");
    assert.doesNotMatch(insecure.stdout, /insecure-registries/);
    assert.doesNotMatch(insecure.stdout, new RegExp(`"${registry.replace(/\./g, '\\.')}":\\{[^}]*"Secure":false`), 'the registry is not treated as insecure');
  });

  it('refuses a wrong password and anonymous pulls (401)', async () => {
    const wrong = await login(`${password}x`);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401|unauthorized/i);
    const anonymous = await p.topo.exec('vm1', `DOCKER_CONFIG=$(mktemp -d) docker pull ${registry}/app/app:latest`);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /no basic auth credentials|unauthorized|401/i);
    const status = await p.topo.exec('vm1', `curl -s -o /dev/null -w '%{http_code}' --cacert /etc/docker/certs.d/${registry}/ca.crt https://${registry}/v2/`);
    assert.equal(status.stdout, '401');
  });

  it("curl trusts it with berth's CA and refuses it without", async () => {
    const ca = `/etc/docker/certs.d/${registry}/ca.crt`;
    const withCa = await p.topo.exec('vm1', `printf 'user = "berth:%s"\\n' '${password}' | curl -sf -K - --cacert ${ca} https://${registry}/v2/_catalog`);
    assert.equal(withCa.code, 0, withCa.stderr);
    const withoutCa = await p.topo.exec('vm1', `curl -s -o /dev/null https://${registry}/v2/`);
    assert.equal(withoutCa.code, 60, 'curl: the peer certificate cannot be verified');
    const key = await p.topo.exec('vm2', "stat -c '%a %U' /etc/berth/registry-ca /etc/berth/registry-ca/ca.key /etc/berth/registry /etc/berth/registry/server.key /etc/berth/registry/htpasswd");
    assert.deepEqual(key.stdout.trim().split('\n'), ['700 root', '600 root', '700 root', '600 root', '600 root']);
    const mounted = await p.topo.exec('vm2', "docker inspect --format '{{range .Mounts}}{{.Source}} {{end}}' $(docker ps -q --filter label=com.docker.compose.service=registry)");
    assert.doesNotMatch(mounted.stdout, /registry-ca/, 'the CA key is never inside the registry container');
  });

  it('does not answer on its port from outside the cluster', async () => {
    assert.equal(await p.topo.probe('outsider', p.topo.vms.vm2.ip, 5000), false);
  });

  it('holds the app image under its content tag, and the image answers /healthz (503 without a database)', async () => {
    const catalog = await p.topo.exec('vm1', `printf 'user = "berth:%s"\\n' '${password}' | curl -sf -K - --cacert /etc/docker/certs.d/${registry}/ca.crt https://${registry}/v2/app/app/tags/list`);
    assert.equal(catalog.code, 0, catalog.stderr);
    const tags = (JSON.parse(catalog.stdout) as { tags: string[] }).tags;
    // The tag is the content hash of the bundled app's build context, as archived on this machine.
    const tmp = mkdtempSync(join(tmpdir(), 'berth-e2e-context-'));
    const demoTag = contextTag((await demoAppContext(tmp, join(tmp, 'context.tar'))).sha256);
    rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(tags, [demoTag], catalog.stdout);
    const ref = `${registry}/app/app:${demoTag}`;
    const run = await p.topo.exec(
      'vm1',
      `set -e; docker rm -f berth-e2e-app >/dev/null 2>&1 || true
       key=$(mktemp); head -c 48 /dev/urandom | base64 > "$key"; chown 10001 "$key"; chmod 0400 "$key"
       docker run -d --name berth-e2e-app -p 127.0.0.1:18000:8000 -v "$key:/run/secrets/django_secret_key:ro" -e DB_HOST=127.0.0.1 ${ref} >/dev/null
       for i in $(seq 30); do code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18000/healthz || true); [ "$code" != 000 ] && break; sleep 1; done
       echo "$code"; docker exec berth-e2e-app id -u; docker rm -f berth-e2e-app >/dev/null; rm -f "$key"`,
    );
    assert.equal(run.code, 0, run.stderr);
    const [code, uid] = run.stdout.trim().split('\n');
    assert.equal(code, '503');
    assert.notEqual(uid, '0', 'the app runs as a non-root user');
  });

  it('keeps no secret in docker inspect, the image history or the logs', async () => {
    const inspect = await p.topo.exec('vm2', 'docker inspect $(docker ps -aq)');
    const history = await p.topo.exec('vm1', `docker history --no-trunc --format '{{.CreatedBy}}' $(docker images --format '{{.Repository}}:{{.Tag}}' | grep '/app/app:' | head -n1)`);
    assert.equal(history.code, 0, history.stderr);
    const logs = readdirSync(join(WORK_DIR, 'berth-logs')).map((f) => readFileSync(join(WORK_DIR, 'berth-logs', f), 'utf8'));
    const journal = await p.topo.exec('vm2', 'cat /var/lib/berth/state.json');
    const plan = await p.berth('plan');
    assert.equal(plan.code, 0, plan.output);
    for (const text of [inspect.stdout, history.stdout, journal.stdout, p.firstRun.output, plan.output, ...logs]) {
      for (const s of secrets) assert.ok(!text.includes(s), 'a secret leaked');
    }
    const caKey = (await p.topo.exec('vm2', 'sed -n 2p /etc/berth/registry-ca/ca.key')).stdout.trim();
    assert.ok(caKey.length > 20);
    for (const text of [p.firstRun.output, ...logs]) assert.ok(!text.includes(caKey), 'the CA key leaked');
  });

  it('a rerun from another working directory, with only the answers file, changes nothing: no build, no push', async () => {
    const elsewhere = e2eWorkDir('elsewhere');
    rmSync(elsewhere, { recursive: true, force: true });
    mkdirSync(elsewhere, { recursive: true });
    const answers = join(elsewhere, 'berth.yaml');
    copyFileSync(p.answersFile, answers);
    const again = await runBerth(['install', '--answers', answers, '--yes', '--output', 'plain'], { cwd: elsewhere });
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
    assert.doesNotMatch(again.output, /build and push|docker login/);
  });

  it('comes back by itself after both VMs restart, with its images', async () => {
    await Promise.all(['vm1', 'vm2'].map((vm) => p.topo.reboot(vm)));
    let code = '';
    for (let i = 0; i < 60 && code !== '401'; i++) {
      code = (await p.topo.exec('vm1', `curl -s -o /dev/null -w '%{http_code}' --cacert /etc/docker/certs.d/${registry}/ca.crt https://${registry}/v2/`)).stdout;
      if (code !== '401') await new Promise((r) => setTimeout(r, 2000));
    }
    assert.equal(code, '401', 'the registry answers again');
    const catalog = await p.topo.exec('vm1', `printf 'user = "berth:%s"\\n' '${password}' | curl -sf -K - --cacert /etc/docker/certs.d/${registry}/ca.crt https://${registry}/v2/_catalog`);
    assert.match(catalog.stdout, /"app\/app"/);
    // The stack on vm1 comes back by itself too (50-stack.test.ts drills that): the rerun waits for it, as a user would.
    await stackSettled(p);
    const again = await p.berth('install');
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /Done: 0 changed\./);
  });

  it("an app of the user's own: a run killed while its image builds is finished by the next run, which builds nothing more after", async () => {
    const dir = e2eWorkDir('myapp');
    rmSync(dir, { recursive: true, force: true });
    cpSync(demoAppDir(), dir, { recursive: true });
    writeFileSync(join(dir, 'VERSION'), `${Date.now()}\n`);
    const answers = p.topo.writeAnswers({ app: { source: 'path', path: dir } }, 'myapp.yaml');
    const install = (extra: string[] = [], onOutput?: (text: string, child: { kill(signal: NodeJS.Signals): void }) => void) => runBerth(['install', '--answers', answers, '--yes', '--output', 'plain', ...extra], { onOutput });
    let killed = false;
    await install([], (text, child) => {
      if (!killed && /vm1: app-image: build and push /.test(text)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    assert.ok(killed, 'the run never reached the build');
    // A killed run leaves its lock behind; its process is gone from this machine, so a plain rerun takes the lock over.
    const resumed = await install();
    assert.equal(resumed.code, 0, resumed.output);
    assert.match(resumed.output, /vm1: took over the lock of a berth run that is gone: .* \(process \d+ on .* that took it no longer runs\)/);
    assert.match(resumed.output, /vm1\s+app-image\s+changed/);
    const again = await install();
    assert.match(again.output, /Done: 0 changed\./, again.output);
    const tmp = mkdtempSync(join(tmpdir(), 'berth-e2e-context-'));
    const tag = contextTag((await buildContext(dir, join(tmp, 'context.tar'))).sha256);
    rmSync(tmp, { recursive: true, force: true });
    const pulled = await p.topo.exec('vm1', `docker pull -q ${registry}/app/app:${tag}`);
    assert.equal(pulled.code, 0, pulled.stderr);
    // Back to the bundled app: its image is still in the registry, so nothing is built; only the app goes back to it,
    // and the other app's image, no longer used and never released (no rollback target), is pruned on vm1.
    const back = await p.berth('install');
    assert.equal(back.code, 0, back.output);
    assert.deepEqual(changedPhases(back.output), ['vm1 app', 'vm1 app-prune'], back.output);
    assert.match(back.output, new RegExp(`app-prune: remove 1 old app image \\(${registry.replace(/\./g, '\\.')}/app/app:${tag}\\)`));
    assert.match((await p.berth('install')).output, /Done: 0 changed\./);
  });
});
