import assert from 'node:assert/strict';
import { addressProblem, cidrContains, cidrProblem, ipProblem, normaliseCidr } from '../../src/answers/net';

describe('network notation', () => {
  it('accepts IPv4, IPv6 and hostnames as addresses', () => {
    for (const ok of ['192.168.122.105', '2001:db8::1', 'vm1.example.com', 'localhost']) assert.equal(addressProblem(ok), null, ok);
  });

  it('names what is wrong with a bad address', () => {
    assert.match(addressProblem('300.1.1.1')!, /not a valid IPv4/);
    assert.match(addressProblem('2001:db8:::1')!, /not a valid IPv6/);
    assert.match(addressProblem('bad_host!')!, /hostname/);
  });

  it('checks CIDR blocks and points out host bits', () => {
    assert.equal(cidrProblem('203.0.113.0/24'), null);
    assert.equal(cidrProblem('::/0'), null);
    assert.equal(cidrProblem('10.0.0.7'), null);
    assert.match(cidrProblem('10.0.0.5/24')!, /did you mean 10\.0\.0\.0\/24.*10\.0\.0\.5\/32/);
    assert.match(cidrProblem('10.0.0.0/33')!, /prefix length must be 0 to 32/);
    assert.match(cidrProblem('2001:db8::1/32')!, /host bits/);
    assert.match(cidrProblem('nonsense/8')!, /not an IP address/);
  });

  it('refuses IPv6 zone ids, which name an interface of one machine, as address, IP and CIDR', () => {
    const zone = '"fe80::1%eth0" has an IPv6 zone id (%eth0), which names an interface of one machine; give the address without it, e.g. fe80::1';
    assert.equal(addressProblem('fe80::1%eth0'), zone);
    assert.equal(ipProblem('fe80::1%eth0'), zone);
    assert.equal(cidrProblem('fe80::1%eth0'), zone);
    assert.equal(cidrProblem('fe80::%eth0/64'), '"fe80::%eth0/64" has an IPv6 zone id (%eth0), which names an interface of one machine; give the address without it, e.g. fe80::/64');
    assert.equal(ipProblem('10.0.0.1%eth0'), '"10.0.0.1%eth0" is not a valid IPv4 or IPv6 address', 'only IPv6 has zone ids');
  });

  it('normalises bare addresses and tests containment', () => {
    assert.equal(normaliseCidr('10.0.0.7'), '10.0.0.7/32');
    assert.equal(normaliseCidr('2001:db8::1'), '2001:db8::1/128');
    assert.equal(cidrContains('172.30.0.0/16', '172.30.57.11'), true);
    assert.equal(cidrContains('172.30.57.11/32', '172.30.57.12'), false);
    assert.equal(cidrContains('0.0.0.0/0', '8.8.8.8'), true);
    assert.equal(cidrContains('::/0', '8.8.8.8'), false);
    assert.equal(cidrContains('2001:db8::/32', '2001:db8:1::5'), true);
  });
});
