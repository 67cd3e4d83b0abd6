import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAnswers } from '../../src/answers/load';
import { aptRepoDocker, mergeOverrides, topologyAnswers, writeAnswersFile, type AnswersTarget } from '../../src/sandbox/answers';
import { containerConfigHash, containerRunArgs } from '../../src/sandbox/containers';
import { contextHash, type ContextFile } from '../../src/sandbox/images';
import { addressPlan, E2E_NETWORK, MAX_VMS, SANDBOX_NETWORK, topologyNames, vmIndex, vmNames } from '../../src/sandbox/plan';
import { outsiderSpec, resolverSpec, smartDnsSpec } from '../../src/sandbox/services';
import { sandboxSpec } from '../../src/sandbox/sandbox';
import { vmContainerSpec, type VmSpec } from '../../src/sandbox/vm';

describe('sandbox topology plan', () => {
  it('gives every host of a topology a fixed address on its /24', () => {
    const plan = addressPlan(E2E_NETWORK);
    assert.equal(plan.subnet, '10.213.57.0/24');
    assert.equal(plan.gateway, '10.213.57.1');
    assert.deepEqual([1, 2, 3].map((i) => plan.vm(i)), ['10.213.57.11', '10.213.57.12', '10.213.57.13']);
    assert.deepEqual(
      (['outsider', 'hubmirror', 'aptrepo', 'smartdns', 'resolver'] as const).map((role) => plan.service(role)),
      ['10.213.57.20', '10.213.57.30', '10.213.57.31', '10.213.57.53', '10.213.57.54'],
    );
    assert.equal(addressPlan(SANDBOX_NETWORK).vm(1), '10.213.58.11');
    assert.throws(() => plan.vm(10), /outside 1\.\.9/);
    assert.throws(() => plan.vm(0), /outside 1\.\.9/);
  });

  it('prefixes every name so that the e2e topology and the sandbox never share one', () => {
    const e2e = topologyNames(E2E_NETWORK);
    const sandbox = topologyNames(SANDBOX_NETWORK);
    assert.equal(e2e.network, 'berth-e2e-net');
    assert.equal(e2e.bridge, 'berth-e2e');
    assert.equal(sandbox.bridge, 'berth-sandbox');
    assert.equal(e2e.container('vm1'), 'berth-e2e-vm1');
    assert.equal(sandbox.dockerVolume('vm2'), 'berth-sandbox-vm2-docker');
    assert.throws(() => topologyNames({ prefix: 'a-prefix-far-too-long-' }), /longer than 15/);
  });

  it('names VMs vm1 … vmN and reads the index back', () => {
    assert.deepEqual(vmNames(3), ['vm1', 'vm2', 'vm3']);
    assert.equal(vmIndex('vm7'), 7);
    assert.throws(() => vmIndex('outsider'), /not a VM name/);
    assert.throws(() => vmIndex('vm10'), /not a VM name/);
  });
});

describe('sandbox spec', () => {
  it('runs Debian 13 VMs by default and Debian 12 ones with --debian 12, every VM the same release', () => {
    assert.deepEqual(sandboxSpec('/tmp/s', 2, false).suites, {});
    assert.deepEqual(sandboxSpec('/tmp/s', 3, true, 'bookworm').suites, { vm1: 'bookworm', vm2: 'bookworm', vm3: 'bookworm' });
    assert.equal(sandboxSpec('/tmp/s', 3, true, 'bookworm').prefix, SANDBOX_NETWORK.prefix);
  });
});

describe('sandbox containers', () => {
  const vm: VmSpec = {
    topology: 'berth-e2e-',
    name: 'vm1',
    container: 'berth-e2e-vm1',
    dockerVolume: 'berth-e2e-vm1-docker',
    image: 'berth-vm:abc',
    network: 'berth-e2e-net',
    ip: '10.213.57.11',
    nameserver: '10.213.57.54',
    authorizedKey: 'ssh-ed25519 AAAAC3Nza test',
  };

  it('runs a VM with systemd’s needs and without --privileged, its hostname and first-boot metadata', () => {
    const args = containerRunArgs(vmContainerSpec(vm));
    assert.ok(!args.includes('--privileged'));
    const pairs = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
    assert.deepEqual(pairs('--cap-add'), ['ALL']);
    assert.deepEqual(pairs('--cap-drop'), ['SYS_RESOURCE', 'SYS_TIME', 'SYS_MODULE']);
    assert.deepEqual(pairs('--volume'), ['/sys/fs/cgroup:/sys/fs/cgroup:rw', 'berth-e2e-vm1-docker:/var/lib/docker']);
    assert.deepEqual(pairs('--tmpfs'), ['/run', '/run/lock']);
    assert.deepEqual(pairs('--env'), ['container=docker', 'VM_NAMESERVER=10.213.57.54', 'VM_AUTHORIZED_KEYS=ssh-ed25519 AAAAC3Nza test']);
    assert.equal(pairs('--hostname')[0], 'vm1');
    assert.equal(pairs('--cgroupns')[0], 'host');
    assert.deepEqual(pairs('--ip'), ['10.213.57.11']);
    assert.deepEqual(pairs('--label').slice(0, 2), ['berth.topology=berth-e2e-', 'berth.role=vm']);
    // The image comes last: the VM image's CMD (/sbin/init) starts it.
    assert.equal(args[args.length - 1], 'berth-vm:abc');
  });

  it('replaces a container exactly when what docker run is given changes', () => {
    const spec = vmContainerSpec(vm);
    assert.equal(containerConfigHash(spec), containerConfigHash(vmContainerSpec({ ...vm })));
    assert.notEqual(containerConfigHash(spec), containerConfigHash(vmContainerSpec({ ...vm, image: 'berth-vm:def' })));
    assert.notEqual(containerConfigHash(spec), containerConfigHash(vmContainerSpec({ ...vm, authorizedKey: 'ssh-ed25519 other' })));
    assert.ok(containerRunArgs(spec).includes(`berth.config=${containerConfigHash(spec)}`));
  });

  const ctx = (role: string) => ({ topology: 'berth-e2e-', network: 'berth-e2e-net', image: 'berth-tools:1', container: `berth-e2e-${role}`, ip: '10.213.57.53' });

  it('lets the smart DNS answer the mirror names and the ISP resolver refuse them', () => {
    const smart = smartDnsSpec(ctx('smartdns'), [
      { hostname: 'hubmirror.berth.test', ip: '10.213.57.30' },
      { hostname: 'docker-apt.berth.test', ip: '10.213.57.31' },
    ]);
    const resolver = resolverSpec({ ...ctx('resolver'), ip: '10.213.57.54' });
    for (const spec of [smart, resolver]) {
      assert.equal(spec.command[0], 'dnsmasq');
      assert.ok(spec.command.includes('--server=127.0.0.11'), 'forwards to Docker’s embedded DNS');
      assert.ok(spec.command.includes('--domain-needed'), 'never forwards plain container names');
      assert.ok(spec.command.includes('--local=/berth.test/'), 'the test domain is never forwarded');
      assert.ok(spec.command.includes(`--listen-address=${spec.ip}`));
    }
    assert.deepEqual(
      smart.command.filter((a) => a.startsWith('--address=')),
      ['--address=/docker.io/', '--address=/docker.com/', '--address=/hubmirror.berth.test/10.213.57.30', '--address=/docker-apt.berth.test/10.213.57.31'],
    );
    // Both refuse Docker Hub's names, as in the regions berth is for.
    assert.deepEqual(resolver.command.filter((a) => a.startsWith('--address=')), ['--address=/docker.io/', '--address=/docker.com/']);
    assert.deepEqual(outsiderSpec(ctx('outsider')).command, ['sleep', 'infinity']);
  });

  it('hashes build sources with the base image, so either change means a rebuild', () => {
    const files: ContextFile[] = [
      { name: 'Dockerfile', mode: 0o644, content: Buffer.from('FROM x\n') },
      { name: 'script', mode: 0o755, content: Buffer.from('#!/bin/sh\n') },
    ];
    const hash = contextHash('berth-base:trixie-1', files);
    assert.match(hash, /^[0-9a-f]{12}$/);
    assert.equal(contextHash('berth-base:trixie-1', files.map((f) => ({ ...f }))), hash);
    assert.notEqual(contextHash('berth-base:trixie-2', files), hash);
    assert.notEqual(contextHash('berth-base:trixie-1', [files[0], { ...files[1], mode: 0o644 }]), hash);
    assert.notEqual(contextHash('berth-base:trixie-1', [files[0], { ...files[1], content: Buffer.from('#!/bin/bash\n') }]), hash);
  });
});

describe('sandbox answers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sandbox-answers-'));
  const keyPath = join(dir, 'id_ed25519');
  const caPath = join(dir, 'hubmirror-ca.pem');
  writeFileSync(keyPath, 'not parsed here\n');
  const caPem = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';
  writeFileSync(caPath, caPem);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const target: AnswersTarget = {
    vms: [
      { name: 'vm1', ip: '10.213.57.11', hostKey: 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8' },
      { name: 'vm2', ip: '10.213.57.12' },
    ],
    sshKeyPath: keyPath,
    gatewayIp: '10.213.57.1',
    smartdnsIp: '10.213.57.53',
    hubMirror: { hostname: 'hubmirror.berth.test', url: 'https://hubmirror.berth.test', caCertPath: caPath },
    secrets: { registryPassword: 'Reg1stry-sandbox-pw', appSecretKey: 'x7-app-secret-key-sandbox', dbRootPassword: 'R00t-db-sandbox-pw', dbPassword: 'App-db-sandbox-pw9' },
  };

  it('point berth at the topology: its VMs, key, smart DNS, mirror and the installer’s address', () => {
    const file = join(dir, 'answers.yaml');
    writeAnswersFile(file, topologyAnswers(target), 'test header');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /^# test header\n/);
    const { answers } = parseAnswers(readFileSync(file, 'utf8'), file, { env: {} });
    assert.deepEqual(
      answers.hosts.map((h) => [h.name, h.address, h.roles]),
      [
        ['vm1', '10.213.57.11', ['app', 'lb', 'db']],
        ['vm2', '10.213.57.12', ['registry', 'dns']],
      ],
    );
    assert.deepEqual(answers.hosts.map((h) => h.hostKey), ['SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8', undefined]);
    assert.equal(answers.ssh.user, 'root');
    assert.equal(answers.ssh.privateKey, keyPath);
    assert.equal(answers.ssh.agent, false);
    assert.deepEqual(answers.dns.upstreams, ['10.213.57.53']);
    assert.equal(answers.docker.source, 'distro');
    assert.deepEqual(answers.docker.registryMirrors, ['https://hubmirror.berth.test']);
    assert.deepEqual(answers.docker.trustedCAs, [{ registry: 'hubmirror.berth.test', ca: { path: caPath, pem: caPem } }]);
    assert.deepEqual(answers.firewall.adminCidrs, ['10.213.57.1/32']);
    assert.equal(answers.db.password?.reveal(), 'App-db-sandbox-pw9');
  });

  it('install as they are for every count of VMs `berth sandbox up --vms` accepts, each host with its roles', () => {
    const rolesFor = (count: number) => {
      const vms = vmNames(count).map((name, i) => ({ name, ip: addressPlan(SANDBOX_NETWORK).vm(i + 1) }));
      const file = join(dir, `answers-${count}.yaml`);
      writeAnswersFile(file, topologyAnswers({ ...target, vms }), 'test header');
      // The real loader: it throws, naming every problem, on answers berth would refuse.
      const { answers } = parseAnswers(readFileSync(file, 'utf8'), file, { env: {} });
      assert.deepEqual(answers.hosts.map((h) => h.address), vms.map((vm) => vm.ip));
      return answers.hosts.map((h) => `${h.name}: ${h.roles!.join(' ')}`);
    };
    assert.deepEqual(rolesFor(1), ['vm1: registry dns app lb db']);
    assert.deepEqual(rolesFor(2), ['vm1: app lb db', 'vm2: registry dns']);
    // The others are hardened hosts without a role: one more VM changes no other VM's roles (a third db host would move Galera's nodes).
    for (let count = 3; count <= MAX_VMS; count++) {
      assert.deepEqual(rolesFor(count), [...rolesFor(2), ...vmNames(count).slice(2).map((name) => `${name}: `)]);
    }
  });

  it("take Docker from the stand-in apt repository over plain HTTP with its own key pinned, as berth requires", () => {
    const fingerprint = '0123456789ABCDEF0123456789ABCDEF01234567';
    const file = join(dir, 'answers-official.yaml');
    writeAnswersFile(file, topologyAnswers(target, { docker: aptRepoDocker({ url: 'http://docker-apt.berth.test/linux', fingerprint }) }), 'test header');
    const { docker } = parseAnswers(readFileSync(file, 'utf8'), file, { env: {} }).answers;
    assert.deepEqual([docker.source, docker.aptMirror, docker.aptKeyFingerprint], ['official', 'http://docker-apt.berth.test/linux', fingerprint]);
  });

  it('leave the mirror out when Docker Hub is used directly', () => {
    const answers = topologyAnswers({ ...target, hubMirror: undefined });
    assert.deepEqual(answers.docker?.registryMirrors, []);
    assert.deepEqual(answers.docker?.trustedCAs, []);
  });

  it('take overrides: objects merge key by key, arrays and values replace', () => {
    const answers = topologyAnswers(target, { docker: { source: 'official', aptMirror: 'http://docker-apt.berth.test/linux' }, hosts: [{ name: 'vm1', address: '10.213.57.11' }] });
    assert.equal(answers.docker?.source, 'official');
    assert.equal(answers.docker?.aptMirror, 'http://docker-apt.berth.test/linux');
    assert.deepEqual(answers.docker?.registryMirrors, ['https://hubmirror.berth.test']);
    assert.deepEqual(answers.hosts, [{ name: 'vm1', address: '10.213.57.11' }], 'the hosts were replaced, pinned key and all');
    assert.deepEqual(mergeOverrides({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: undefined }), { a: { b: 1, c: [3] }, d: 1 });
  });
});
