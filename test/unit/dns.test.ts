import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Action, Facts, FileFact } from '../../src/engine/plan';
import { dnsPhase, resolveCheckScript, resolverFlavour } from '../../src/phases/dns';
import { dnsForwarderPhase, dnsForwarderReleasePhase } from '../../src/phases/dns-forwarder';
import { HostProblem } from '../../src/engine/phase';
import { markerPath } from '../../src/phases/common';
import { FIREWALL_SCRIPT, FIREWALL_UNIT_PATH, RULES_V4, RULES_V6 } from '../../src/render/firewall';
import {
  containerDnsServers,
  DHCLIENT_HOOK,
  DHCPCD_ENTER_HOOK,
  DNSMASQ_CONF,
  DNSMASQ_DROP_IN,
  hostDnsServers,
  namesToVerify,
  renderDhclientHook,
  renderDhcpcdEnterHook,
  renderDnsmasqConf,
  renderNetworkdDropIn,
  renderResolvConf,
  renderResolvedDropIn,
  RESOLV_CONF,
  RESOLVED_DROP_IN,
  SAVED_RESOLV_CONF,
} from '../../src/render/dns';
import { testAnswers } from '../support/answers';
import { assertConverges, factsFor, phaseContext, scriptOf } from '../support/phase-check';

const HEADER = '# Managed by berth: the DNS mirror (dns in the answers file). Changes here are overwritten by the next `berth install`.';
const file = (content: string, mode = 0o644): FileFact => ({ content, mode, owner: 'root', group: 'root' });
const ok = (out = '') => ({ code: 0, out });
const SAVE = `run: keep a copy of ${RESOLV_CONF} in ${SAVED_RESOLV_CONF} (put back when dns.mode is off)`;
const failed = { code: 1, out: '' };
const kinds = (actions: Action[]) => actions.map((a) => (a.kind === 'file' || a.kind === 'remove' ? `${a.kind} ${a.path}` : a.kind === 'service' ? `${a.op} ${a.unit}` : a.kind === 'packages' ? `install ${a.install.join(' ')}` : a.kind === 'run' ? `run: ${a.title}` : a.kind));
const written = (actions: Action[], path: string) => {
  const action = actions.find((a) => a.kind === 'file' && a.path === path);
  assert.ok(action && action.kind === 'file', `no write of ${path}`);
  return action.content;
};

/** vm1 app+lb+db, vm2 registry+dns (forwarder), as in the original layout. */
const forwarder = () => testAnswers({ docker: { registryMirrors: ['https://hubmirror.berth.test', 'https://10.9.9.9:5000'] } });
const direct = () => testAnswers({ dns: { mode: 'direct', upstreams: ['shecan', '9.9.9.9'] } });

/** A fresh host as the e2e VMs are: a plain /etc/resolv.conf, no DHCP client, no systemd-resolved. */
const plainHost: Partial<Facts> = { files: { [RESOLV_CONF]: file('nameserver 10.213.57.54\n') } };

function resolvedHost(networks: string[]): Partial<Facts> {
  return {
    files: { [RESOLV_CONF]: file('nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n') },
    units: { 'systemd-resolved.service': { active: 'active', enabled: 'enabled' }, 'systemd-networkd.service': { active: 'active', enabled: 'enabled' } },
    probes: { resolvConfLink: ok('../run/systemd/resolve/stub-resolv.conf\n'), networks: ok(networks.map((n) => `${n} -`).join('\n')) },
  };
}

describe('DNS: who resolves through what', () => {
  it('sends hosts to the forwarders, the dns host to itself first, containers always to cluster addresses', () => {
    const answers = testAnswers({
      hosts: [
        { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
        { name: 'vm2', address: '203.0.113.12', privateAddress: '10.0.0.12', roles: ['registry', 'dns'] },
        { name: 'vm3', address: '10.0.0.13', roles: ['dns'] },
      ],
    });
    const cluster = phaseContext(answers, 'vm1').cluster;
    const host = (name: string) => cluster.find((h) => h.name === name)!;
    assert.deepEqual(hostDnsServers(answers, cluster, host('vm1')), ['10.0.0.12', '10.0.0.13']);
    assert.deepEqual(hostDnsServers(answers, cluster, host('vm2')), ['127.0.0.1', '10.0.0.13']);
    assert.deepEqual(containerDnsServers(answers, cluster), ['10.0.0.12', '10.0.0.13']);
  });

  it('uses the expanded upstreams in direct mode and nothing when off', () => {
    const answers = direct();
    const ctx = phaseContext(answers, 'vm1');
    assert.deepEqual(hostDnsServers(answers, ctx.cluster, ctx.host), ['178.22.122.100', '185.51.200.2', '9.9.9.9']);
    assert.deepEqual(containerDnsServers(answers, ctx.cluster), ['178.22.122.100', '185.51.200.2', '9.9.9.9']);
    const off = testAnswers({ dns: { mode: 'off' } });
    assert.deepEqual(containerDnsServers(off, ctx.cluster), []);
    // The dns phase runs with dns.mode off too, to take out what berth wrote; on a host it never touched it plans nothing.
    assert.deepEqual(dnsPhase.plan(phaseContext(off, 'vm1'), factsFor(dnsPhase, phaseContext(off, 'vm1'), plainHost)), []);
    assert.equal(dnsForwarderPhase.appliesTo(phaseContext(off, 'vm2').host, off), false);
    assert.equal(dnsForwarderReleasePhase.appliesTo(phaseContext(off, 'vm2').host, off), true);
  });

  it('verifies the registry mirrors and the Docker apt mirror by name, or the Debian archive', () => {
    assert.deepEqual(namesToVerify(forwarder()), ['hubmirror.berth.test']);
    assert.deepEqual(namesToVerify(testAnswers({ docker: { source: 'official', aptMirror: 'https://docker-apt.example/linux', registryMirrors: ['https://m.example', 'https://m.example:5000'] } })), ['m.example', 'docker-apt.example']);
    assert.deepEqual(namesToVerify(testAnswers({ docker: { source: 'distro', aptMirror: 'https://docker-apt.example/linux' } })), ['deb.debian.org']);
  });
});

describe('DNS forwarder phase (dnsmasq on the dns host)', () => {
  it('renders the forwarder configuration', () => {
    assert.equal(
      renderDnsmasqConf(['127.0.0.1', '10.0.0.12'], ['178.22.122.100', '185.51.200.2']),
      [
        HEADER,
        "# The cluster's DNS forwarder: answers on the addresses below, forwards to the upstreams.",
        'listen-address=127.0.0.1,10.0.0.12',
        'bind-dynamic',
        'no-resolv',
        'no-hosts',
        'strict-order',
        'domain-needed',
        'bogus-priv',
        'cache-size=1000',
        'server=178.22.122.100',
        'server=185.51.200.2',
        '',
      ].join('\n'),
    );
  });

  it('runs on the dns host only, in forwarder mode only', () => {
    const answers = forwarder();
    assert.equal(dnsForwarderPhase.appliesTo(phaseContext(answers, 'vm2').host, answers), true);
    assert.equal(dnsForwarderPhase.appliesTo(phaseContext(answers, 'vm1').host, answers), false);
    const d = direct();
    assert.equal(dnsForwarderPhase.appliesTo(phaseContext(d, 'vm2').host, d), false);
  });

  it('on a fresh host lets only the cluster ask first, then writes the configuration before installing dnsmasq, so it starts right the first time', () => {
    const ctx = phaseContext(forwarder(), 'vm2');
    const actions = assertConverges(dnsForwarderPhase, ctx, factsFor(dnsForwarderPhase, ctx));
    assert.deepEqual(kinds(actions), [
      'install iptables',
      `file ${RULES_V4}`,
      `file ${RULES_V6}`,
      `file ${FIREWALL_SCRIPT}`,
      `file ${FIREWALL_UNIT_PATH}`,
      'daemon-reload berth-firewall.service',
      'enable berth-firewall.service',
      'run: load the rules that let only the cluster ask the DNS forwarder (restart berth-firewall.service)',
      `file ${markerPath('dns-guard')}`,
      `file ${DNSMASQ_CONF}`,
      `file ${DNSMASQ_DROP_IN}`,
      'install dnsmasq',
      `file ${markerPath('dns-forwarder')}`,
      'enable-now dnsmasq.service',
    ]);
    const FW = '# Managed by berth: the IPv4 firewall of vm2. Changes here are overwritten by the next `berth install`.';
    assert.equal(
      written(actions, RULES_V4),
      [
        FW,
        '# Loaded by berth-firewall.service (/usr/local/sbin/berth-firewall) with iptables-restore --noflush, until the firewall',
        '# phase replaces them with the full rules: only the cluster may ask the DNS forwarder.',
        '*filter',
        ':BERTH-INPUT - [0:0]',
        '-A BERTH-INPUT -i lo -j ACCEPT',
        '-A BERTH-INPUT -s 10.0.0.11/32 -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
        '-A BERTH-INPUT -i docker+ -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
        '-A BERTH-INPUT -i br-+ -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
        '-A BERTH-INPUT -s 10.0.0.11/32 -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
        '-A BERTH-INPUT -i docker+ -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
        '-A BERTH-INPUT -i br-+ -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
        '-A BERTH-INPUT -p udp -m udp --dport 53 -m comment --comment "DNS forwarder: nobody else" -j DROP',
        '-A BERTH-INPUT -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder: nobody else" -j DROP',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.doesNotMatch(written(actions, RULES_V6), /-s 10\.0\.0\.11/, 'IPv4 sources stay out of the IPv6 rules');
    assert.match(written(actions, RULES_V6), /^-A BERTH-INPUT -p udp -m udp --dport 53 -m comment --comment "DNS forwarder: nobody else" -j DROP$/m);
    assert.match(written(actions, DNSMASQ_CONF), /^listen-address=127\.0\.0\.1,10\.0\.0\.12$/m);
    assert.match(written(actions, DNSMASQ_CONF), /^server=178\.22\.122\.100\nserver=185\.51\.200\.2\n$/m);
    assert.equal(written(actions, DNSMASQ_DROP_IN), `${HEADER}\n# berth configures the resolver of this host: no resolvconf registration by dnsmasq.\n[Service]\nExecStartPost=\nExecStop=\n`);
  });

  it('leaves the rules files to the firewall phase once it has applied its own', () => {
    const ctx = phaseContext(forwarder(), 'vm2');
    const firewalled = { files: { [markerPath('firewall')]: file('digest\n', 0o600), [RULES_V4]: file('the full rules\n', 0o600) } };
    const actions = assertConverges(dnsForwarderPhase, ctx, factsFor(dnsForwarderPhase, ctx, firewalled));
    assert.deepEqual(kinds(actions), [`file ${DNSMASQ_CONF}`, `file ${DNSMASQ_DROP_IN}`, 'install dnsmasq', `file ${markerPath('dns-forwarder')}`, 'enable-now dnsmasq.service']);
  });

  it('restarts an installed dnsmasq only when its configuration changed, after a daemon-reload for the drop-in', () => {
    const ctx = phaseContext(forwarder(), 'vm2');
    const fresh = factsFor(dnsForwarderPhase, ctx);
    const done = dnsForwarderPhase.plan(ctx, fresh);
    const running = { packages: { dnsmasq: '2.91-1', iptables: '1.8.11-2' }, units: { 'dnsmasq.service': { active: 'active', enabled: 'enabled' } } };
    const converged = { ...running, files: Object.fromEntries(done.flatMap((a) => (a.kind === 'file' ? [[a.path, file(a.content, a.mode)]] : []))) };
    assert.deepEqual(dnsForwarderPhase.plan(ctx, factsFor(dnsForwarderPhase, ctx, converged)), []);

    // Another upstream: rewrite and restart.
    const moved = phaseContext(testAnswers({ dns: { mode: 'forwarder', upstreams: ['electro'] } }), 'vm2');
    const actions = assertConverges(dnsForwarderPhase, moved, factsFor(dnsForwarderPhase, moved, converged));
    assert.deepEqual(kinds(actions), [`file ${DNSMASQ_CONF}`, 'daemon-reload dnsmasq.service', 'restart dnsmasq.service', `file ${markerPath('dns-forwarder')}`]);

    // Stopped by someone: started again, nothing rewritten.
    const stopped = { ...converged, units: { 'dnsmasq.service': { active: 'inactive', enabled: 'enabled' } } };
    assert.deepEqual(kinds(assertConverges(dnsForwarderPhase, ctx, factsFor(dnsForwarderPhase, ctx, stopped))), ['enable-now dnsmasq.service']);
  });
});

describe('DNS phase: the resolver of each host', () => {
  it('tells the flavours apart from the facts', () => {
    const ctx = phaseContext(forwarder(), 'vm1');
    const facts = (known: Partial<Facts>) => factsFor(dnsPhase, ctx, known);
    assert.deepEqual(resolverFlavour(facts(plainHost)), { kind: 'resolv.conf', symlink: null, dhclient: false, dhcpcd: false });
    assert.deepEqual(resolverFlavour(facts({ probes: { dhcpClients: ok('dhclient\ndhcpcd') } })), { kind: 'resolv.conf', symlink: null, dhclient: true, dhcpcd: true });
    assert.deepEqual(resolverFlavour(facts(resolvedHost(['10-netplan-eth0.network']))), { kind: 'resolved', networks: { '10-netplan-eth0.network': null } });
    // A stub link whose resolved is not running is only a dangling link: replaced by a plain file.
    const dangling = resolvedHost([]);
    assert.deepEqual(resolverFlavour(facts({ ...dangling, units: {} })), { kind: 'resolv.conf', symlink: '../run/systemd/resolve/stub-resolv.conf', dhclient: false, dhcpcd: false });
    assert.deepEqual(resolverFlavour(facts({ probes: { resolvConfLink: ok('/run/resolvconf/resolv.conf') } })).kind, 'resolv.conf');
  });

  it('plain resolv.conf: points vm1 at the forwarder, then checks the mirror resolves', () => {
    const ctx = phaseContext(forwarder(), 'vm1');
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, plainHost));
    assert.deepEqual(kinds(actions), [SAVE, `file ${RESOLV_CONF}`, 'run: check that hubmirror.berth.test resolves through 10.0.0.12']);
    assert.equal(written(actions, RESOLV_CONF), `${HEADER}\nnameserver 10.0.0.12\n`);
  });

  it('plain resolv.conf: the dns host asks its own forwarder on 127.0.0.1', () => {
    const ctx = phaseContext(forwarder(), 'vm2');
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, plainHost));
    assert.equal(written(actions, RESOLV_CONF), `${HEADER}\nnameserver 127.0.0.1\n`);
  });

  it('direct mode: at most three upstreams in resolv.conf (all glibc reads)', () => {
    const answers = testAnswers({ dns: { mode: 'direct', upstreams: ['shecan', 'electro'] } });
    assert.equal(renderResolvConf(hostDnsServers(answers, phaseContext(answers, 'vm1').cluster, phaseContext(answers, 'vm1').host)), `${HEADER}\nnameserver 178.22.122.100\nnameserver 185.51.200.2\nnameserver 78.157.42.100\n`);
  });

  it('ifupdown + dhclient (Debian 12): plain resolv.conf and an enter hook that keeps dhclient off it', () => {
    const ctx = phaseContext(forwarder(), 'vm1', { osVersion: '12', osCodename: 'bookworm' });
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, { ...plainHost, probes: { dhcpClients: ok('dhclient') } }));
    assert.deepEqual(kinds(actions).slice(0, 3), [SAVE, `file ${RESOLV_CONF}`, `file ${DHCLIENT_HOOK}`]);
    assert.equal(written(actions, DHCLIENT_HOOK), `${HEADER}\n# dhclient must not rewrite /etc/resolv.conf on a lease or renewal: berth manages it.\nmake_resolv_conf() {\n  :\n}\n`);
  });

  it('ifupdown + dhcpcd (Debian 13): the enter hook skips the resolv.conf hook, keeping the admin\'s own lines', () => {
    const ctx = phaseContext(forwarder(), 'vm1');
    const own = '# my hook\nexport FOO=1\n';
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, { files: { ...plainHost.files, [DHCPCD_ENTER_HOOK]: file(own) }, probes: { dhcpClients: ok('dhcpcd') } }));
    const hook = written(actions, DHCPCD_ENTER_HOOK);
    assert.equal(
      hook,
      `# my hook\nexport FOO=1\n# BEGIN berth\n${HEADER}\n# dhcpcd must not rewrite /etc/resolv.conf on a lease or renewal: berth manages it.\nskip_hooks="\${skip_hooks:+$skip_hooks }resolv.conf"\n# END berth\n`,
    );
    // Rendering over its own output changes nothing: the block is replaced, not added again.
    assert.equal(renderDhcpcdEnterHook(hook), hook);
    assert.equal(renderDhcpcdEnterHook(null), hook.slice(own.length));
  });

  it('the hooks do what they claim when a shell sources them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-dns-'));
    writeFileSync(join(dir, 'dhclient'), renderDhclientHook());
    writeFileSync(join(dir, 'dhcpcd'), renderDhcpcdEnterHook(null));
    // dhclient-script's own make_resolv_conf is defined before the hooks are sourced; the hook's replaces it.
    const dhclient = execFileSync('sh', ['-c', `make_resolv_conf() { echo rewritten; }; . ${dir}/dhclient; make_resolv_conf; echo done`]).toString();
    assert.equal(dhclient, 'done\n');
    const dhcpcd = execFileSync('sh', ['-c', `skip_hooks="lookup-hostname"; . ${dir}/dhcpcd; echo "$skip_hooks"`]).toString();
    assert.equal(dhcpcd, 'lookup-hostname resolv.conf\n');
    assert.equal(execFileSync('sh', ['-c', `unset skip_hooks; . ${dir}/dhcpcd; echo "$skip_hooks"`]).toString(), 'resolv.conf\n');
  });

  it('replaces a resolvconf symlink by a plain file, even when the target already says the same', () => {
    const ctx = phaseContext(forwarder(), 'vm1');
    const same = renderResolvConf(['10.0.0.12']);
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, { files: { [RESOLV_CONF]: file(same) }, probes: { resolvConfLink: ok('/run/resolvconf/resolv.conf'), resolves: ok() } }));
    // The new file is renamed over the link (never a moment without resolv.conf), then checked.
    assert.deepEqual(kinds(actions), [SAVE, `file ${RESOLV_CONF}`, `run: check that ${RESOLV_CONF} is a plain file now (it was a symlink to /run/resolvconf/resolv.conf)`, 'run: check that hubmirror.berth.test resolves through 10.0.0.12']);
  });

  it('systemd-resolved (Ubuntu, netplan): a resolved drop-in, networkd drop-ins for each .network file, then a check', () => {
    const ctx = phaseContext(forwarder(), 'vm1', { osId: 'ubuntu', osVersion: '24.04', osCodename: 'noble' });
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, resolvedHost(['10-netplan-enp1s0.network', '10-netplan-enp7s0.network'])));
    assert.deepEqual(kinds(actions), [
      `file ${RESOLVED_DROP_IN}`,
      'restart systemd-resolved.service',
      `file ${markerPath('dns-resolved')}`,
      'run: keep DHCP from setting DNS servers (drop-ins for 10-netplan-enp1s0.network, 10-netplan-enp7s0.network)',
      'run: check that hubmirror.berth.test resolves through 10.0.0.12',
    ]);
    assert.equal(written(actions, RESOLVED_DROP_IN), `${HEADER}\n[Resolve]\nDNS=10.0.0.12\nDomains=~.\n`);
    const dropIns = actions[3];
    assert.ok(dropIns.kind === 'run');
    assert.match(dropIns.script, /^install -d -m 0755 \/etc\/systemd\/network\/10-netplan-enp1s0\.network\.d$/m);
    assert.match(dropIns.script, /> \/etc\/systemd\/network\/10-netplan-enp7s0\.network\.d\/90-berth-dns\.conf$/m);
    assert.match(dropIns.script, /\nnetworkctl reload$/);
    assert.equal(renderNetworkdDropIn(), `${HEADER}\n[DHCPv4]\nUseDNS=false\n\n[DHCPv6]\nUseDNS=false\n\n[IPv6AcceptRA]\nUseDNS=false\n`);
  });

  it('systemd-resolved in direct mode lists every upstream (resolved has no limit of three)', () => {
    const answers = testAnswers({ dns: { mode: 'direct', upstreams: ['shecan', 'electro'] } });
    const ctx = phaseContext(answers, 'vm2', { osId: 'ubuntu', osVersion: '22.04', osCodename: 'jammy' });
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, resolvedHost([])));
    assert.equal(written(actions, RESOLVED_DROP_IN), renderResolvedDropIn(['178.22.122.100', '185.51.200.2', '78.157.42.100', '78.157.42.101']));
    assert.match(written(actions, RESOLVED_DROP_IN), /^DNS=178\.22\.122\.100 185\.51\.200\.2 78\.157\.42\.100 78\.157\.42\.101$/m);
  });

  it('plans nothing on a converged host that resolves, and only the check when it no longer does', () => {
    const ctx = phaseContext(forwarder(), 'vm1');
    const converged = { files: { [RESOLV_CONF]: file(renderResolvConf(['10.0.0.12'])) }, probes: { resolves: ok() } };
    assert.deepEqual(dnsPhase.plan(ctx, factsFor(dnsPhase, ctx, converged)), []);
    const broken = factsFor(dnsPhase, ctx, { ...converged, probes: { resolves: failed } });
    assert.deepEqual(kinds(assertConverges(dnsPhase, ctx, broken)), ['run: check that hubmirror.berth.test resolves through 10.0.0.12']);
  });

  describe('the resolve check, run by bash with a stand-in getent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-getent-'));
    // Resolves the names listed in $KNOWN; a real getent would ask the resolver.
    writeFileSync(join(dir, 'getent'), '#!/bin/sh\ncase " $KNOWN " in *" $2 "*) echo "10.0.0.1 STREAM $2"; exit 0;; esac\nexit 2\n');
    chmodSync(join(dir, 'getent'), 0o755);
    const run = (script: string, known: string) => spawnSync('bash', ['-c', script], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, KNOWN: known }, encoding: 'utf8' });

    it('passes when every name resolves, and prints nothing', () => {
      const result = run(resolveCheckScript(['hubmirror.berth.test', 'deb.debian.org'], ['10.0.0.12'], 1), 'hubmirror.berth.test deb.debian.org');
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout + result.stderr, '');
    });

    it('fails on the first name that does not resolve, naming it and the servers', () => {
      const result = run(resolveCheckScript(['deb.debian.org', 'hubmirror.berth.test'], ['10.0.0.12', '10.0.0.13'], 2), 'deb.debian.org');
      assert.equal(result.status, 1);
      assert.equal(result.stderr, 'berth: hubmirror.berth.test does not resolve through the DNS servers 10.0.0.12, 10.0.0.13\n');
    });
  });
});

describe('dns.mode off, or a host that lost the dns role: what berth wrote goes', () => {
  const off = () => testAnswers({ dns: { mode: 'off' } });
  const BERTHS = renderResolvConf(['10.0.0.12']);
  /** A host berth set up in forwarder mode: its resolv.conf (the original kept), the dhclient hook, its block in the admin's dhcpcd hook. */
  const takenOver: Partial<Facts> = {
    files: {
      [RESOLV_CONF]: file(BERTHS),
      [DHCLIENT_HOOK]: file(renderDhclientHook()),
      [DHCPCD_ENTER_HOOK]: file(renderDhcpcdEnterHook('# my hook\nexport FOO=1\n'), 0o600),
    },
    probes: { berthResolvConf: ok(), savedResolvConf: ok() },
  };

  it('keeps the resolv.conf it replaces once, and not again when it only changes its own', () => {
    const ctx = phaseContext(forwarder(), 'vm1');
    assert.equal(kinds(dnsPhase.plan(ctx, factsFor(dnsPhase, ctx, plainHost)))[0], SAVE);
    const ownOutdated = { files: { [RESOLV_CONF]: file(renderResolvConf(['10.0.0.99'])) }, probes: { berthResolvConf: ok(), savedResolvConf: ok(), resolves: ok() } };
    assert.deepEqual(kinds(dnsPhase.plan(ctx, factsFor(dnsPhase, ctx, ownOutdated))), [`file ${RESOLV_CONF}`, 'run: check that hubmirror.berth.test resolves through 10.0.0.12']);
  });

  it('puts the kept resolv.conf back first, then takes out the hooks, keeping the admin\'s own lines and mode', () => {
    const ctx = phaseContext(off(), 'vm1');
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, takenOver));
    assert.deepEqual(kinds(actions), [`run: put back the ${RESOLV_CONF} berth replaced (kept in ${SAVED_RESOLV_CONF})`, `remove ${DHCLIENT_HOOK}`, `file ${DHCPCD_ENTER_HOOK}`]);
    assert.equal(
      scriptOf(actions[0]),
      'cp -a --no-dereference /var/lib/berth/dns/resolv.conf /etc/resolv.conf.berth-restore\nmv -Tf /etc/resolv.conf.berth-restore /etc/resolv.conf\nrm -rf -- /var/lib/berth/dns',
    );
    assert.deepEqual(actions[2], { kind: 'file', path: DHCPCD_ENTER_HOOK, content: '# my hook\nexport FOO=1\n', mode: 0o600, owner: 'root', group: 'root' });
  });

  it('removes a dhcpcd hook that held only its block', () => {
    const ctx = phaseContext(off(), 'vm1');
    const actions = assertConverges(dnsPhase, ctx, factsFor(dnsPhase, ctx, { files: { [DHCPCD_ENTER_HOOK]: file(renderDhcpcdEnterHook(null)) } }));
    assert.deepEqual(kinds(actions), [`remove ${DHCPCD_ENTER_HOOK}`]);
  });

  it('refuses, before any change, to leave a host with its resolv.conf and no copy of the original', () => {
    const ctx = phaseContext(off(), 'vm1');
    assert.throws(
      () => dnsPhase.plan(ctx, factsFor(dnsPhase, ctx, { ...takenOver, probes: { berthResolvConf: ok() } })),
      (e: unknown) => e instanceof HostProblem && /no copy of the one it replaced/.test(e.message) && new RegExp(`into ${RESOLV_CONF}`).test(e.hint ?? ''),
    );
  });

  it('systemd-resolved: the drop-ins go, resolved restarts, networkd reloads', () => {
    const ctx = phaseContext(off(), 'vm1', { osId: 'ubuntu', osVersion: '24.04', osCodename: 'noble' });
    const host = resolvedHost(['10-netplan-enp1s0.network']);
    const facts = factsFor(dnsPhase, ctx, {
      ...host,
      files: { ...host.files, [RESOLVED_DROP_IN]: file(renderResolvedDropIn(['10.0.0.12'])), [markerPath('dns-resolved')]: file('x\n', 0o600) },
      probes: { ...host.probes, networks: ok('10-netplan-enp1s0.network 0123abcd\n20-other.network -') },
    });
    const actions = assertConverges(dnsPhase, ctx, facts);
    assert.deepEqual(kinds(actions), [
      `remove ${RESOLVED_DROP_IN}`,
      'restart systemd-resolved.service',
      `remove ${markerPath('dns-resolved')}`,
      'run: let DHCP set DNS servers again (remove the drop-ins for 10-netplan-enp1s0.network)',
    ]);
    assert.equal(
      scriptOf(actions[3]),
      'rm -f -- /etc/systemd/network/10-netplan-enp1s0.network.d/90-berth-dns.conf\nrmdir --ignore-fail-on-non-empty -- /etc/systemd/network/10-netplan-enp1s0.network.d\nnetworkctl reload',
    );
  });

  it('the forwarder: dnsmasq stopped and disabled, berth\'s files and markers gone; nothing where berth never configured it', () => {
    const ctx = phaseContext(off(), 'vm2');
    const configured = {
      files: { [DNSMASQ_CONF]: file('x'), [DNSMASQ_DROP_IN]: file('y'), [markerPath('dns-forwarder')]: file('z', 0o600), [markerPath('dns-guard')]: file('w', 0o600) },
      units: { 'dnsmasq.service': { active: 'active', enabled: 'enabled' } },
    };
    assert.deepEqual(kinds(assertConverges(dnsForwarderReleasePhase, ctx, factsFor(dnsForwarderReleasePhase, ctx, configured))), [
      'disable-now dnsmasq.service',
      `remove ${DNSMASQ_CONF}`,
      `remove ${DNSMASQ_DROP_IN}`,
      'run: remove /etc/systemd/system/dnsmasq.service.d if empty',
      'daemon-reload dnsmasq.service',
      `remove ${markerPath('dns-forwarder')}`,
      `remove ${markerPath('dns-guard')}`,
    ]);
    // An operator's own dnsmasq, which berth never configured, keeps running.
    const own = factsFor(dnsForwarderReleasePhase, ctx, { units: { 'dnsmasq.service': { active: 'active', enabled: 'enabled' } } });
    assert.deepEqual(dnsForwarderReleasePhase.plan(ctx, own), []);
  });
});
