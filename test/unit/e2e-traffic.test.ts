import assert from 'node:assert/strict';
import { analyseTraffic, describeFlow, hostNameservers, type TrafficPolicy } from '../e2e/traffic';

// Lines as tcpdump -n -A prints them on the topology's bridge (payload bytes trimmed).
const CAPTURE = `tcpdump: verbose output suppressed, use -v[v]... for full protocol decode
10:47:39.775244 IP 10.213.57.12.37072 > 10.213.57.54.53: 40005+ A? deb.debian.org. (32)
E..<.T@.@..p
10:47:39.775300 IP 10.213.57.54.54714 > 10.255.255.53.53: 14225+ [1au] A? deb.debian.org. (43)
10:47:39.775350 IP 10.255.255.53.53 > 10.213.57.54.54714: 14225 1/0/1 A 203.0.113.80 (59)
10:47:39.775408 IP 10.213.57.54.53 > 10.213.57.12.37072: 40005 2/0/0 CNAME debian.map.fastlydns.net., A 203.0.113.80 (48)
.<6
10:47:39.775685 IP 10.213.57.12.40344 > 203.0.113.80.80: Flags [S], seq 1928200975, win 64240, length 0
10:47:39.776104 IP 10.213.57.12.40344 > 203.0.113.80.80: Flags [P.], seq 1:203, ack 1, win 63, length 202: HTTP: GET /debian/dists/trixie/InRelease HTTP/1.1
E...-b@.@..f
G.>>..\\QGET /debian/dists/trixie/InRelease HTTP/1.1
Host: deb.debian.org
User-Agent: Debian APT-HTTP/1.3 (3.0.3)

10:47:40.000000 IP 10.213.57.11.50000 > 10.213.57.30.443: Flags [S], seq 1, win 64240, length 0
10:47:41.000000 IP 10.213.57.20.34032 > 172.17.0.1.9: Flags [S], seq 3137398877, win 64240, length 0
`;

const policy: TrafficPolicy = {
  subnet: '10.213.57.0/24',
  allowedNames: ['deb.debian.org', 'registry.npmjs.org'],
  dnsForwarders: ['10.213.57.53', '10.213.57.54'],
  upstreamNameservers: ['10.255.255.53'],
};

describe('e2e traffic check', () => {
  it('allows HTTP to an address DNS gave for an allowed name, and the resolvers’ forwarding', () => {
    const report = analyseTraffic(CAPTURE, policy);
    assert.deepEqual([...(report.resolved.get('deb.debian.org') ?? [])], ['203.0.113.80']);
    assert.deepEqual(
      report.outbound.map(describeFlow),
      [
        'udp 10.213.57.54 → 10.255.255.53:53',
        'tcp 10.213.57.12 → 203.0.113.80:80 (Host: deb.debian.org)',
        'tcp 10.213.57.20 → 172.17.0.1:9: a TCP connection to port 9, whose destination name cannot be checked',
      ],
    );
    assert.equal(report.violations.length, 1);
  });

  it('flags HTTP for another name on an allowed address, DNS around the resolvers, and other protocols', () => {
    const capture = `${CAPTURE}
10:47:42.000000 IP 10.213.57.12.40400 > 203.0.113.80.80: Flags [P.], seq 1:100, length 99: HTTP: GET /v2/ HTTP/1.1
GET /v2/ HTTP/1.1
Host: registry-1.docker.io

10:47:43.000000 IP 10.213.57.11.40000 > 8.8.8.8.53: 1+ A? registry-1.docker.io. (38)
10:47:44.000000 IP 10.213.57.11 > 1.1.1.1: ICMP echo request, id 1, seq 1, length 64
10:47:45.000000 IP 10.213.57.11.40001 > 198.51.100.7.80: Flags [S], seq 1, win 64240, length 0
10:47:46.000000 IP6 fd00::11.40002 > 2001:db8::1.443: Flags [S], seq 1, win 64240, length 0
`;
    const violations = analyseTraffic(capture, policy).violations.map(describeFlow);
    assert.deepEqual(violations, [
      'tcp 10.213.57.20 → 172.17.0.1:9: a TCP connection to port 9, whose destination name cannot be checked',
      'tcp 10.213.57.12 → 203.0.113.80:80 (Host: registry-1.docker.io): HTTP requests for registry-1.docker.io',
      'udp 10.213.57.11 → 8.8.8.8:53: DNS sent upstream by a host other than the topology’s resolvers',
      'icmp 10.213.57.11 → 1.1.1.1: icmp traffic leaving the test network',
      'tcp 10.213.57.11 → 198.51.100.7:80: no allowed name (deb.debian.org, registry.npmjs.org) resolved to 198.51.100.7',
      'ip6 fd00::11 → 2001:db8::1:443: ip6 traffic leaving the test network',
    ]);
  });

  it('reads the nameservers from resolv.conf', () => {
    assert.deepEqual(hostNameservers('# x\nnameserver 10.255.255.53\nsearch example\n nameserver 192.0.2.1\n'), ['10.255.255.53', '192.0.2.1']);
  });
});
