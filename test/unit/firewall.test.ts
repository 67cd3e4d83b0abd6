import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { assetPath } from '../../src/assets';
import { HostProblem } from '../../src/engine/phase';
import { simulate, type Action, type Facts, type FileFact } from '../../src/engine/plan';
import { markerPath } from '../../src/phases/common';
import { firewallPhase } from '../../src/phases/firewall';
import {
  FIREWALL_FILES,
  FIREWALL_SCRIPT,
  FIREWALL_UNIT_PATH,
  firewallBackupScript,
  firewallPolicy,
  firewallRevertScript,
  lockoutRisk,
  renderFirewallScript,
  renderFirewallUnit,
  renderRules,
  RULES_V4,
  RULES_V6,
} from '../../src/render/firewall';
import { testAnswers } from '../support/answers';
import { assertConverges, factsFor, phaseContext } from '../support/phase-check';

/** The original layout: vm1 10.0.0.11 app+lb+db, vm2 10.0.0.12 registry+dns (forwarder). */
const THREE_HOSTS = [
  { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
  { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns'] },
  { name: 'vm3', address: '203.0.113.13', privateAddress: '10.0.0.13', roles: ['db'] },
];

function rules(overrides: Record<string, unknown>, host: string, family: 4 | 6, sshPort = 22): string {
  const answers = testAnswers(overrides);
  const ctx = phaseContext(answers, host);
  return renderRules(firewallPolicy({ answers, host: ctx.host, cluster: ctx.cluster, currentSshPort: sshPort }), family, host);
}

const header = (family: 4 | 6, host: string) => `# Managed by berth: the IPv${family} firewall of ${host}. Changes here are overwritten by the next \`berth install\`.
# Loaded by berth-firewall.service (/usr/local/sbin/berth-firewall) with ip${family === 6 ? '6' : ''}tables-restore --noflush:
# the chains declared here are replaced whole, every other chain (Docker's) is left as it is.
*filter
`;

/** The start of BERTH-INPUT in every IPv6 file: loopback, then the ICMPv6 IPv6 needs, then state, then DHCPv6 replies. */
const V6_INPUT_START = `-A BERTH-INPUT -i lo -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type destination-unreachable -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type packet-too-big -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type time-exceeded -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type parameter-problem -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type router-solicitation -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type router-advertisement -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT
-A BERTH-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-advertisement -j ACCEPT
-A BERTH-INPUT -s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 130 -j ACCEPT
-A BERTH-INPUT -s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 131 -j ACCEPT
-A BERTH-INPUT -s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 132 -j ACCEPT
-A BERTH-INPUT -s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate INVALID -j DROP
-A BERTH-INPUT -s fe80::/10 -d fe80::/10 -p udp -m udp --sport 547 --dport 546 -m comment --comment "DHCPv6 replies" -j ACCEPT
`;

const DOCKER_USER_START = `-A BERTH-DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A BERTH-DOCKER-USER -i docker+ -j RETURN
-A BERTH-DOCKER-USER -i br-+ -j RETURN
`;

describe('firewall rules', () => {
  describe('the default two-host layout (admin CIDRs: anywhere)', () => {
    it('vm1 (app, lb, db): SSH and web in, web to published containers, nothing else', () => {
      assert.equal(
        rules({}, 'vm1', 4),
        `${header(4, 'vm1')}:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
:BERTH-INPUT - [0:0]
:BERTH-DOCKER-USER - [0:0]
-A BERTH-INPUT -i lo -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate INVALID -j DROP
-A BERTH-INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A BERTH-INPUT -p udp -m udp --sport 67 --dport 68 -m comment --comment "DHCP replies" -j ACCEPT
-A BERTH-INPUT -p tcp -m tcp --dport 22 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -p tcp -m multiport --dports 80,443 -m comment --comment "web (lb)" -j ACCEPT
-A BERTH-INPUT -j DROP
${DOCKER_USER_START}-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 80 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 443 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -j DROP
COMMIT
`,
      );
      assert.equal(
        rules({}, 'vm1', 6),
        `${header(6, 'vm1')}:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
:BERTH-INPUT - [0:0]
:BERTH-DOCKER-USER - [0:0]
${V6_INPUT_START}-A BERTH-INPUT -p tcp -m tcp --dport 22 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -p tcp -m multiport --dports 80,443 -m comment --comment "web (lb)" -j ACCEPT
-A BERTH-INPUT -j DROP
${DOCKER_USER_START}-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 80 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 443 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -j DROP
COMMIT
`,
      );
    });

    it('vm2 (registry, dns): the registry from vm1 and admins, DNS from vm1 and its own containers', () => {
      assert.equal(
        rules({}, 'vm2', 4),
        `${header(4, 'vm2')}:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
:BERTH-INPUT - [0:0]
:BERTH-DOCKER-USER - [0:0]
-A BERTH-INPUT -i lo -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate INVALID -j DROP
-A BERTH-INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A BERTH-INPUT -p udp -m udp --sport 67 --dport 68 -m comment --comment "DHCP replies" -j ACCEPT
-A BERTH-INPUT -p tcp -m tcp --dport 22 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -p tcp -m tcp --dport 5000 -m comment --comment "registry from the cluster and firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -s 10.0.0.11/32 -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -i docker+ -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -i br-+ -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -s 10.0.0.11/32 -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -i docker+ -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -i br-+ -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -j DROP
${DOCKER_USER_START}-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 5000 -m comment --comment "registry from the cluster and firewall.adminCidrs" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p udp -m conntrack --ctstate DNAT --ctorigdstport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j RETURN
-A BERTH-DOCKER-USER -j DROP
COMMIT
`,
      );
      // IPv6: vm1 has no IPv6 cluster address, so DNS is only for the containers; the registry stays open to ::/0.
      assert.equal(
        rules({}, 'vm2', 6),
        `${header(6, 'vm2')}:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
:BERTH-INPUT - [0:0]
:BERTH-DOCKER-USER - [0:0]
${V6_INPUT_START}-A BERTH-INPUT -p tcp -m tcp --dport 22 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -p tcp -m tcp --dport 5000 -m comment --comment "registry from the cluster and firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -i docker+ -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -i br-+ -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -i docker+ -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -i br-+ -p tcp -m tcp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT
-A BERTH-INPUT -j DROP
${DOCKER_USER_START}-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 5000 -m comment --comment "registry from the cluster and firewall.adminCidrs" -j RETURN
-A BERTH-DOCKER-USER -j DROP
COMMIT
`,
      );
    });
  });

  it('strict egress: OUTPUT DROP but DNS, DHCP, NTP, HTTP(S), ping, the cluster and the own containers', () => {
    const strict = { firewall: { adminCidrs: ['203.0.113.0/24'], egress: 'strict' } };
    assert.equal(
      rules(strict, 'vm1', 4),
      `${header(4, 'vm1')}:INPUT DROP [0:0]
:OUTPUT DROP [0:0]
:BERTH-INPUT - [0:0]
:BERTH-DOCKER-USER - [0:0]
:BERTH-OUTPUT - [0:0]
-A BERTH-INPUT -i lo -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate INVALID -j DROP
-A BERTH-INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A BERTH-INPUT -p udp -m udp --sport 67 --dport 68 -m comment --comment "DHCP replies" -j ACCEPT
-A BERTH-INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -p tcp -m multiport --dports 80,443 -m comment --comment "web (lb)" -j ACCEPT
-A BERTH-INPUT -j DROP
${DOCKER_USER_START}-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 80 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 443 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -j DROP
-A BERTH-OUTPUT -o lo -j ACCEPT
-A BERTH-OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-OUTPUT -p udp -m multiport --dports 53,67,123 -m comment --comment "DNS, DHCP and NTP" -j ACCEPT
-A BERTH-OUTPUT -p tcp -m multiport --dports 53,80,443 -m comment --comment "DNS, HTTP(S) and mirrors" -j ACCEPT
-A BERTH-OUTPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A BERTH-OUTPUT -d 10.0.0.12/32 -m comment --comment "cluster host" -j ACCEPT
-A BERTH-OUTPUT -o docker+ -j ACCEPT
-A BERTH-OUTPUT -o br-+ -j ACCEPT
-A BERTH-OUTPUT -j DROP
COMMIT
`,
    );
    // IPv6 keeps neighbour discovery going out; no admin network and no cluster host has IPv6 here.
    const v6 = rules(strict, 'vm1', 6);
    assert.equal(
      v6.split('\n').filter((l) => l.includes('OUTPUT') || l.includes('--dport 22')).join('\n'),
      `:OUTPUT DROP [0:0]
:BERTH-OUTPUT - [0:0]
-A BERTH-OUTPUT -o lo -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type destination-unreachable -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type packet-too-big -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type time-exceeded -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type parameter-problem -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type router-solicitation -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type router-advertisement -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-advertisement -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 130 -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 131 -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 132 -j ACCEPT
-A BERTH-OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j ACCEPT
-A BERTH-OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-OUTPUT -p udp -m multiport --dports 53,123,547 -m comment --comment "DNS, DHCP and NTP" -j ACCEPT
-A BERTH-OUTPUT -p tcp -m multiport --dports 53,80,443 -m comment --comment "DNS, HTTP(S) and mirrors" -j ACCEPT
-A BERTH-OUTPUT -o docker+ -j ACCEPT
-A BERTH-OUTPUT -o br-+ -j ACCEPT
-A BERTH-OUTPUT -j DROP`,
    );
  });

  it('strict egress also lets the Docker daemon reach mirrors on other ports', () => {
    const v4 = rules({ firewall: { egress: 'strict' }, docker: { registryMirrors: ['https://hub.example:5443', 'https://other.example'], aptMirror: 'http://apt.example:3142/docker', aptKeyFingerprint: '9DC858229FC7DD38854AE2D88D81803C0EBFCD88' } }, 'vm2', 4);
    assert.ok(v4.includes('-A BERTH-OUTPUT -p tcp -m multiport --dports 53,80,443,3142,5443 -m comment --comment "DNS, HTTP(S) and mirrors" -j ACCEPT\n'), v4);
  });

  it('openPorts: a bare number is TCP from anywhere; from splits by family, into INPUT and DOCKER-USER', () => {
    const open = { firewall: { openPorts: [8443, { port: 51820, protocol: 'udp', from: ['198.51.100.0/24', '2001:db8:1::/48'] }, { port: 9100, from: ['10.0.0.0/8'] }] } };
    const only = (text: string) => text.split('\n').filter((l) => l.includes('openPorts')).join('\n');
    assert.equal(
      only(rules(open, 'vm2', 4)),
      `-A BERTH-INPUT -p tcp -m tcp --dport 8443 -m comment --comment "firewall.openPorts" -j ACCEPT
-A BERTH-INPUT -s 198.51.100.0/24 -p udp -m udp --dport 51820 -m comment --comment "firewall.openPorts" -j ACCEPT
-A BERTH-INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 9100 -m comment --comment "firewall.openPorts" -j ACCEPT
-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8443 -m comment --comment "firewall.openPorts" -j RETURN
-A BERTH-DOCKER-USER -s 198.51.100.0/24 -p udp -m conntrack --ctstate DNAT --ctorigdstport 51820 -m comment --comment "firewall.openPorts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.0/8 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 9100 -m comment --comment "firewall.openPorts" -j RETURN`,
    );
    assert.equal(
      only(rules(open, 'vm2', 6)),
      `-A BERTH-INPUT -p tcp -m tcp --dport 8443 -m comment --comment "firewall.openPorts" -j ACCEPT
-A BERTH-INPUT -s 2001:db8:1::/48 -p udp -m udp --dport 51820 -m comment --comment "firewall.openPorts" -j ACCEPT
-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8443 -m comment --comment "firewall.openPorts" -j RETURN
-A BERTH-DOCKER-USER -s 2001:db8:1::/48 -p udp -m conntrack --ctstate DNAT --ctorigdstport 51820 -m comment --comment "firewall.openPorts" -j RETURN`,
    );
    // The rest of the file is what it is without openPorts.
    const without = (text: string) => text.split('\n').filter((l) => !l.includes('openPorts')).join('\n');
    assert.equal(without(rules(open, 'vm2', 4)), rules({}, 'vm2', 4));
  });

  describe('Galera spread over three db hosts (the nodes on the host network)', () => {
    const spread = {
      hosts: [
        { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
        { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns', 'db'] },
        { name: 'vm3', address: '10.0.0.13', roles: ['db'] },
      ],
    };

    it("lets the proxy next to the app reach MariaDB and the node's check: from the app host, and on the app host from its Docker networks", () => {
      const vm3 = rules(spread, 'vm3', 4);
      assert.ok(vm3.includes('-A BERTH-INPUT -s 10.0.0.11/32 -p tcp -m multiport --dports 3306,9200 -m comment --comment "MariaDB from the database proxy (app)" -j ACCEPT\n'), vm3);
      assert.doesNotMatch(vm3, /-i (docker|br-)\+ .*MariaDB from the database proxy/, 'no app here: no Docker network of this host needs it');
      const vm1 = rules(spread, 'vm1', 4);
      for (const bridge of ['docker+', 'br-+']) {
        assert.ok(vm1.includes(`-A BERTH-INPUT -i ${bridge} -p tcp -m multiport --dports 3306,9200 -m comment --comment "MariaDB from the database proxy (app)" -j ACCEPT\n`), vm1);
      }
      assert.doesNotMatch(vm1, /-s 10\.0\.0\.11\/32 .*3306/, 'not from itself by address');
      assert.ok(vm1.includes('-A BERTH-INPUT -s 10.0.0.12/32 -p tcp -m multiport --dports 3306,4444,4567,4568,9200 -m comment --comment "MariaDB Galera between db hosts" -j ACCEPT\n'));
    });
  });

  describe('three hosts, two of them db', () => {
    const three = { hosts: THREE_HOSTS, firewall: { adminCidrs: ['203.0.113.0/24'] } };

    it('vm1 lets Galera in from vm3 only, by its cluster (private) address', () => {
      assert.equal(
        rules(three, 'vm1', 4),
        `${header(4, 'vm1')}:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
:BERTH-INPUT - [0:0]
:BERTH-DOCKER-USER - [0:0]
-A BERTH-INPUT -i lo -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate INVALID -j DROP
-A BERTH-INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A BERTH-INPUT -p udp -m udp --sport 67 --dport 68 -m comment --comment "DHCP replies" -j ACCEPT
-A BERTH-INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -p tcp -m multiport --dports 80,443 -m comment --comment "web (lb)" -j ACCEPT
-A BERTH-INPUT -s 10.0.0.13/32 -p tcp -m multiport --dports 3306,4444,4567,4568,9200 -m comment --comment "MariaDB Galera between db hosts" -j ACCEPT
-A BERTH-INPUT -s 10.0.0.13/32 -p udp -m udp --dport 4567 -m comment --comment "MariaDB Galera between db hosts" -j ACCEPT
-A BERTH-INPUT -j DROP
${DOCKER_USER_START}-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 80 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 443 -m comment --comment "web (lb)" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.13/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 3306 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.13/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 4444 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.13/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 4567 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.13/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 4568 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.13/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 9200 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.13/32 -p udp -m conntrack --ctstate DNAT --ctorigdstport 4567 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -j DROP
COMMIT
`,
      );
    });

    it('vm3 (db only) opens nothing but SSH and Galera from vm1; vm2 serves the registry and DNS to both', () => {
      assert.equal(
        rules(three, 'vm3', 4),
        `${header(4, 'vm3')}:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
:BERTH-INPUT - [0:0]
:BERTH-DOCKER-USER - [0:0]
-A BERTH-INPUT -i lo -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-INPUT -m conntrack --ctstate INVALID -j DROP
-A BERTH-INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A BERTH-INPUT -p udp -m udp --sport 67 --dport 68 -m comment --comment "DHCP replies" -j ACCEPT
-A BERTH-INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT
-A BERTH-INPUT -s 10.0.0.11/32 -p tcp -m multiport --dports 3306,4444,4567,4568,9200 -m comment --comment "MariaDB Galera between db hosts" -j ACCEPT
-A BERTH-INPUT -s 10.0.0.11/32 -p udp -m udp --dport 4567 -m comment --comment "MariaDB Galera between db hosts" -j ACCEPT
-A BERTH-INPUT -j DROP
${DOCKER_USER_START}-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 3306 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 4444 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 4567 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 4568 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 9200 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -s 10.0.0.11/32 -p udp -m conntrack --ctstate DNAT --ctorigdstport 4567 -m comment --comment "MariaDB Galera between db hosts" -j RETURN
-A BERTH-DOCKER-USER -j DROP
COMMIT
`,
      );
      const vm2 = rules(three, 'vm2', 4).split('\n');
      assert.deepEqual(
        vm2.filter((l) => l.startsWith('-A BERTH-INPUT') && l.includes('--dport 5000')),
        [
          '-A BERTH-INPUT -s 10.0.0.11/32 -p tcp -m tcp --dport 5000 -m comment --comment "registry from the cluster and firewall.adminCidrs" -j ACCEPT',
          '-A BERTH-INPUT -s 10.0.0.13/32 -p tcp -m tcp --dport 5000 -m comment --comment "registry from the cluster and firewall.adminCidrs" -j ACCEPT',
          '-A BERTH-INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 5000 -m comment --comment "registry from the cluster and firewall.adminCidrs" -j ACCEPT',
        ],
      );
      assert.deepEqual(
        vm2.filter((l) => l.startsWith('-A BERTH-INPUT -s') && l.includes('-p udp -m udp --dport 53')),
        [
          '-A BERTH-INPUT -s 10.0.0.11/32 -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
          '-A BERTH-INPUT -s 10.0.0.13/32 -p udp -m udp --dport 53 -m comment --comment "DNS forwarder for the cluster and containers" -j ACCEPT',
        ],
      );
    });

    it('an IPv6 cluster address lands in rules.v6 only', () => {
      const hosts = THREE_HOSTS.map((h) => (h.name === 'vm3' ? { ...h, privateAddress: 'fd00::13' } : h));
      const v4 = rules({ hosts }, 'vm1', 4);
      const v6 = rules({ hosts }, 'vm1', 6);
      assert.ok(!v4.includes('Galera'), v4);
      assert.ok(v6.includes('-A BERTH-INPUT -s fd00::13/128 -p tcp -m multiport --dports 3306,4444,4567,4568,9200 -m comment --comment "MariaDB Galera between db hosts" -j ACCEPT\n'), v6);
    });
  });

  it('SSH is open on the port of this connection and on the hardened port, so that the SSH phase can move sshd', () => {
    const moving = rules({ sshHardening: { port: 2222 } }, 'vm1', 4, 22);
    assert.ok(moving.includes('-A BERTH-INPUT -p tcp -m multiport --dports 22,2222 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT\n'), moving);
    const moved = rules({ sshHardening: { port: 2222 } }, 'vm1', 4, 2222);
    assert.ok(moved.includes('-A BERTH-INPUT -p tcp -m tcp --dport 2222 -m comment --comment "SSH from firewall.adminCidrs" -j ACCEPT\n'), moved);
  });

  it('a /0 of one family opens to anywhere in that family only', () => {
    const v4 = rules({ firewall: { adminCidrs: ['0.0.0.0/0'] } }, 'vm1', 4);
    const v6 = rules({ firewall: { adminCidrs: ['0.0.0.0/0'] } }, 'vm1', 6);
    assert.ok(v4.includes('-A BERTH-INPUT -p tcp -m tcp --dport 22 -m comment'), v4);
    assert.ok(!v6.includes('--dport 22 '), v6);
  });

  it('the web ports never reach a non-lb host, the registry port a non-registry host', () => {
    const vm2 = rules({}, 'vm2', 4);
    const vm1 = rules({}, 'vm1', 4);
    assert.ok(!/--dports 80,443|ctorigdstport (80|443) /.test(vm2), vm2);
    assert.ok(!/5000|--dport 53 /.test(vm1), vm1);
  });
});

describe('firewall unit and loader', () => {
  it('the unit runs the loader once at boot, before the network and Docker, and keeps the rules on stop', () => {
    assert.equal(
      renderFirewallUnit(),
      `# Managed by berth: the firewall. Changes here are overwritten by the next \`berth install\`.
[Unit]
Description=berth firewall (iptables rules in /etc/berth/firewall)
# Before any interface is up and before Docker adds its own chains, like netfilter-persistent.
# After the loaders that replace whole tables at boot (nftables.conf starts with "flush ruleset"), where enabled.
DefaultDependencies=no
Wants=network-pre.target systemd-modules-load.service local-fs.target
After=systemd-modules-load.service local-fs.target nftables.service netfilter-persistent.service
Before=network-pre.target docker.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/berth-firewall start /etc/berth/firewall INPUT:BERTH-INPUT DOCKER-USER:BERTH-DOCKER-USER OUTPUT:BERTH-OUTPUT

[Install]
WantedBy=multi-user.target
`,
    );
  });

  // Its behaviour with real iptables: test/integration/firewall-script.test.ts.
  it('the loader is the shipped script with berth\'s header after its #! line, and refuses an unknown command or missing arguments', () => {
    const loader = renderFirewallScript();
    const shipped = readFileSync(assetPath('scripts', 'berth-firewall.sh'), 'utf8');
    const installed = shipped
      .replace(/^(#!\/bin\/bash\n)/, '$1# Managed by berth: the firewall. Changes here are overwritten by the next `berth install`.\n')
      .replace('\nDEFAULT_ARGS=()\n', '\nDEFAULT_ARGS=(/etc/berth/firewall INPUT:BERTH-INPUT DOCKER-USER:BERTH-DOCKER-USER OUTPUT:BERTH-OUTPUT)\n');
    assert.equal(loader, installed);
    assert.notEqual(loader, shipped);
    for (const args of [['stop', '/etc/berth/firewall', 'INPUT:BERTH-INPUT'], ['start', '/etc/berth/firewall']]) {
      const usage = spawnSync('bash', ['-s', ...args], { input: loader, encoding: 'utf8' });
      assert.equal(usage.status, 2, args.join(' '));
      assert.match(usage.stderr, /^usage: .* start\|check RULES_DIR FROM:CHAIN\.\.\.$/m);
    }
  });
});

describe('firewall rollback scripts', () => {
  const saved = [...FIREWALL_FILES, markerPath('firewall')];

  it('the backup saves both filter tables (an accepting one where none exists yet), the unit state and the files', () => {
    assert.equal(
      firewallBackupScript(saved),
      `set -euo pipefail
install -d -m 0700 /var/lib/berth/firewall/rollback
cd /var/lib/berth/firewall/rollback
for family in 4 6; do
  tool=iptables; [ "$family" = 4 ] || tool=ip6tables
  "$tool-save" -t filter > "rules.v$family" 2>/dev/null || true
  grep -q '^\\*filter' "rules.v$family" || printf '*filter\\n:INPUT ACCEPT [0:0]\\n:FORWARD ACCEPT [0:0]\\n:OUTPUT ACCEPT [0:0]\\nCOMMIT\\n' > "rules.v$family"
done
systemctl is-enabled berth-firewall.service > unit-enabled 2>/dev/null || true
cat /proc/sys/kernel/random/boot_id > boot-id
tar -C / --ignore-failed-read -cf files.tar etc/berth/firewall/rules.v4 etc/berth/firewall/rules.v6 usr/local/sbin/berth-firewall etc/systemd/system/berth-firewall.service var/lib/berth/applied/firewall 2>/dev/null`,
    );
  });

  it('the revert puts the files back before the live rules; after a reboot inside the window it keeps this boot\'s Docker rules', () => {
    const revert = firewallRevertScript(saved);
    assert.equal(
      revert,
      `cd /var/lib/berth/firewall/rollback || exit 1
systemctl disable berth-firewall.service 2>/dev/null
rm -f /etc/berth/firewall/rules.v4 /etc/berth/firewall/rules.v6 /usr/local/sbin/berth-firewall /etc/systemd/system/berth-firewall.service /var/lib/berth/applied/firewall
tar -C / -xpf files.tar
systemctl daemon-reload
if grep -qx enabled unit-enabled; then systemctl enable berth-firewall.service; fi
if [ "$(cat /proc/sys/kernel/random/boot_id)" = "$(cat boot-id 2>/dev/null)" ]; then
  iptables-restore -w < rules.v4
  if [ -e /proc/net/if_inet6 ]; then ip6tables-restore -w < rules.v6; fi
elif grep -qx enabled unit-enabled; then
  systemctl restart berth-firewall.service
else
  for tool in iptables ip6tables; do
    [ "$tool" = iptables ] || [ -e /proc/net/if_inet6 ] || continue
    "$tool" -w -P INPUT ACCEPT; "$tool" -w -P OUTPUT ACCEPT
    for jump in INPUT:BERTH-INPUT DOCKER-USER:BERTH-DOCKER-USER OUTPUT:BERTH-OUTPUT; do
      while "$tool" -w -D "\${jump%%:*}" -j "\${jump#*:}" 2>/dev/null; do :; done
      if "$tool" -w -F "\${jump#*:}" 2>/dev/null; then "$tool" -w -X "\${jump#*:}"; fi
    done
  done
fi`,
    );
  });
});

describe('the lockout risk', () => {
  const answers = testAnswers({ firewall: { adminCidrs: ['203.0.113.0/24', '2001:db8::/32'] } });

  it('names the address berth connects from when the admin CIDRs leave it out', () => {
    assert.equal(
      lockoutRisk(answers, { address: '10.213.57.1', sshPort: 22 }),
      'SSH (port 22) would be closed to 10.213.57.1, the address berth connects from, which is outside firewall.adminCidrs [203.0.113.0/24, 2001:db8::/32]',
    );
    assert.equal(
      lockoutRisk(answers, { address: '::ffff:10.213.57.1', sshPort: 2222 }),
      'SSH (port 2222) would be closed to 10.213.57.1, the address berth connects from, which is outside firewall.adminCidrs [203.0.113.0/24, 2001:db8::/32]',
    );
  });

  it('says something else is in the way when the rules let that address in', () => {
    assert.equal(
      lockoutRisk(answers, { address: '2001:db8::7', sshPort: 22 }),
      'the new rules allow SSH (port 22) from 2001:db8::7, the address berth connects from, yet a new connection failed: look for another firewall on the way or on the host',
    );
    assert.equal(
      lockoutRisk(answers, { address: '', sshPort: 22 }),
      'SSH (port 22) might be closed to the address berth connects from, which the host did not report',
    );
  });
});

describe('firewall phase', () => {
  const answers = testAnswers({ firewall: { adminCidrs: ['10.0.0.0/24'] } });
  const ctx = phaseContext(answers, 'vm1', { clientAddress: '10.0.0.1', sshPort: 22 });
  const fresh = () => factsFor(firewallPhase, ctx);
  const describeKinds = (actions: Action[]): string[] =>
    actions.flatMap((a) =>
      a.kind === 'guarded'
        ? [`guarded: ${a.title}`, ...describeKinds(a.actions).map((d) => `  ${d}`)]
        : [a.kind === 'file' ? `file ${a.path}` : a.kind === 'service' ? `${a.op} ${a.unit}` : a.kind === 'packages' ? `install ${a.install.join(' ')}` : a.kind === 'run' ? `run: ${a.title}` : a.kind],
    );
  const guarded = (actions: Action[]) => {
    const g = actions.find((a) => a.kind === 'guarded');
    assert.ok(g && g.kind === 'guarded', 'no guarded action');
    return g;
  };

  it('on a fresh host: installs iptables, then writes, enables and loads everything under the lockout guard', () => {
    const plan = assertConverges(firewallPhase, ctx, fresh());
    assert.deepEqual(describeKinds(plan), [
      'install iptables',
      'guarded: apply the firewall rules',
      `  file ${RULES_V4}`,
      `  file ${RULES_V6}`,
      `  file ${FIREWALL_SCRIPT}`,
      `  file ${FIREWALL_UNIT_PATH}`,
      '  daemon-reload berth-firewall.service',
      '  enable berth-firewall.service',
      '  run: load the firewall rules (restart berth-firewall.service)',
      `  file ${markerPath('firewall')}`,
    ]);
    const g = guarded(plan);
    // The executor skips it while an earlier change awaits its revert (engine/commands.ts backupUnlessRevertPending).
    assert.equal(g.backup, firewallBackupScript([...FIREWALL_FILES, markerPath('firewall')]));
    assert.equal(g.revert, firewallRevertScript([...FIREWALL_FILES, markerPath('firewall')]));
    assert.equal(g.risk, 'the new rules allow SSH (port 22) from 10.0.0.1, the address berth connects from, yet a new connection failed: look for another firewall on the way or on the host');
    assert.equal(g.proofPort, undefined);
    const load = g.actions.find((a) => a.kind === 'run');
    assert.ok(load && load.kind === 'run');
    // The load fails (and the guard restores the old rules at once) when the rules did not take.
    assert.equal(load.script, 'systemctl restart berth-firewall.service\n/usr/local/sbin/berth-firewall check /etc/berth/firewall INPUT:BERTH-INPUT DOCKER-USER:BERTH-DOCKER-USER OUTPUT:BERTH-OUTPUT');
  });

  it('reads the files, the package and whether the live rules are the loaded, confirmed ones', () => {
    assert.deepEqual(firewallPhase.query(ctx), {
      files: [RULES_V4, RULES_V6, FIREWALL_SCRIPT, FIREWALL_UNIT_PATH, markerPath('firewall')],
      packages: ['iptables'],
      probes: {
        live: [
          "if systemctl is-active --quiet berth-revert-firewall.timer; then echo 'an unconfirmed change waits for its automatic revert'; exit 1; fi",
          "systemctl is-enabled --quiet berth-firewall.service || { echo 'berth-firewall.service is not enabled'; exit 1; }",
          "systemctl is-active --quiet berth-firewall.service || { echo 'berth-firewall.service is not active'; exit 1; }",
          '/usr/local/sbin/berth-firewall check /etc/berth/firewall INPUT:BERTH-INPUT DOCKER-USER:BERTH-DOCKER-USER OUTPUT:BERTH-OUTPUT',
        ].join('\n'),
      },
    });
  });

  it('does nothing on a converged host', () => {
    const converged = simulate(fresh(), firewallPhase.plan(ctx, fresh()));
    assert.deepEqual(firewallPhase.plan(ctx, converged), []);
    assertConverges(firewallPhase, ctx, converged);
  });

  /** The host after a good run: files, marker, package, live rules. */
  function convergedFacts(): Facts {
    return simulate(fresh(), firewallPhase.plan(ctx, fresh()));
  }

  for (const [why, out] of [
    ['the live rules are gone (a failed boot, a flush by hand)', 'iptables: BERTH-INPUT has 0 rules, /etc/berth/firewall/rules.v4 has 7\n'],
    ['a killed run left its change unconfirmed, the revert pending', 'an unconfirmed change waits for its automatic revert\n'],
  ]) {
    it(`reloads under the guard, without rewriting, when ${why}`, () => {
      const facts = convergedFacts();
      facts.probes.live = { code: 1, out };
      const plan = assertConverges(firewallPhase, ctx, facts);
      assert.deepEqual(describeKinds(plan), [
        'guarded: apply the firewall rules',
        '  daemon-reload berth-firewall.service',
        '  enable berth-firewall.service',
        '  run: load the firewall rules (restart berth-firewall.service)',
      ]);
    });
  }

  it('loads the rules when a run stopped after writing them but before loading them', () => {
    const facts = convergedFacts();
    facts.files[markerPath('firewall')] = { content: 'an older digest\n', mode: 0o600, owner: 'root', group: 'root' };
    const plan = assertConverges(firewallPhase, ctx, facts);
    assert.deepEqual(describeKinds(plan), [
      'guarded: apply the firewall rules',
      '  daemon-reload berth-firewall.service',
      '  enable berth-firewall.service',
      '  run: load the firewall rules (restart berth-firewall.service)',
      `  file ${markerPath('firewall')}`,
    ]);
  });

  it('rewrites only the changed rules file when the admin networks change, and names the lockout when they leave berth out', () => {
    const facts = convergedFacts();
    // IPv4 networks only, before and after: rules.v6 stays as it is.
    const elsewhere = phaseContext(testAnswers({ firewall: { adminCidrs: ['192.0.2.0/24'] } }), 'vm1', { clientAddress: '10.0.0.1', sshPort: 22 });
    const plan = assertConverges(firewallPhase, elsewhere, facts);
    assert.deepEqual(describeKinds(plan), [
      'guarded: apply the firewall rules',
      `  file ${RULES_V4}`,
      '  daemon-reload berth-firewall.service',
      '  enable berth-firewall.service',
      '  run: load the firewall rules (restart berth-firewall.service)',
      `  file ${markerPath('firewall')}`,
    ]);
    assert.equal(guarded(plan).risk, 'SSH (port 22) would be closed to 10.0.0.1, the address berth connects from, which is outside firewall.adminCidrs [192.0.2.0/24]');
  });

  it('writes the rules owner-only and the loader executable', () => {
    const writes = guarded(firewallPhase.plan(ctx, fresh())).actions.filter((a): a is Extract<Action, { kind: 'file' }> => a.kind === 'file');
    assert.deepEqual(
      writes.map((w) => [w.path, w.mode.toString(8)]),
      [
        [RULES_V4, '600'],
        [RULES_V6, '600'],
        [FIREWALL_SCRIPT, '755'],
        [FIREWALL_UNIT_PATH, '644'],
        [markerPath('firewall'), '600'],
      ],
    );
  });

  it('refuses a cluster whose addresses are names, not IPs, before changing anything', () => {
    const named = testAnswers({ hosts: [{ name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] }, { name: 'vm2', address: 'registry.example.org', roles: ['registry', 'dns'] }] });
    const c = phaseContext(named, 'vm1');
    assert.throws(
      () => firewallPhase.query(c),
      (err: unknown) => err instanceof HostProblem && /"registry\.example\.org" is not one/.test(err.message) && /privateAddress of vm2/.test(err.hint ?? ''),
    );
  });

  it('keeps a converged host converged whatever file the host had before (mode, owner)', () => {
    const facts = convergedFacts();
    const rulesFact = facts.files[RULES_V4] as FileFact;
    facts.files[RULES_V4] = { ...rulesFact, mode: 0o644 };
    const plan = assertConverges(firewallPhase, ctx, facts);
    assert.deepEqual(describeKinds(plan).slice(0, 2), ['guarded: apply the firewall rules', `  file ${RULES_V4}`]);
  });
});
