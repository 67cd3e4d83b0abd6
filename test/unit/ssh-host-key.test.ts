import assert from 'node:assert/strict';
import {
  fingerprint,
  hostFieldMatches,
  hostKeyVerdict,
  keyTypeOf,
  knownHostsName,
  knownKeysFor,
  preferKnownKeyTypes,
  sameFingerprint,
} from '../../src/ssh/host-key';

// Keys made with ssh-keygen; the fingerprints are what `ssh-keygen -l` printed for them.
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIN3BEZIeIsdfgrmRMkjmqdjdPlQyEkgH2YV3Hoj7NZ99';
const ED25519_FP = 'SHA256:737vzL4w76zsX/bOoKZLkeqWVHVnzbPzmTSV/CORDvQ';
const ECDSA = 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBj5NppusHQyxdn64OW5tQyKzCOxtTWHBakPED41AFP4yFrTWQeaSxhGLwpd75utFF261EJTvRBfrScjlbVLnuc=';
const ECDSA_FP = 'SHA256:hOQwVmqheuzhG1PTjLJjXKR/2O+UyAX6Lp594M6qmqU';
// Another ed25519 key (a different host's).
const OTHER_ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIE7qC6kV5bB4bTj3rY7nW7o7lqX3Yk9Wm1sRzWZ2B7uZ';
// `ssh-keygen -H` of "[vm1.example]:2222 ssh-ed25519 <ED25519>".
const HASHED_VM1_2222 = '|1|XwLyJMO3hyJxrLTbpTmOS/MfdC0=|5w/v4HlE0/cg/1R4p7s85w5N0Gg=';

const blob = (base64: string) => Buffer.from(base64, 'base64');

describe('host keys', () => {
  it('computes the fingerprints OpenSSH prints', () => {
    assert.equal(fingerprint(blob(ED25519)), ED25519_FP);
    assert.equal(fingerprint(blob(ECDSA)), ECDSA_FP);
    assert.equal(keyTypeOf(blob(ED25519)), 'ssh-ed25519');
    assert.equal(keyTypeOf(blob(ECDSA)), 'ecdsa-sha2-nistp256');
    assert.ok(sameFingerprint(ED25519_FP, `${ED25519_FP}=`));
    assert.ok(!sameFingerprint(ED25519_FP, ECDSA_FP));
  });

  it('names hosts the way known_hosts does', () => {
    assert.equal(knownHostsName('vm1.example', 22), 'vm1.example');
    assert.equal(knownHostsName('10.0.0.5', 2222), '[10.0.0.5]:2222');
    assert.equal(knownHostsName('2001:db8::1', 2222), '[2001:db8::1]:2222');
  });

  it('matches host fields: lists, wildcards, negation, case, hashed names', () => {
    assert.ok(hostFieldMatches('vm1.example,10.0.0.5', '10.0.0.5'));
    assert.ok(hostFieldMatches('VM1.Example', 'vm1.example'));
    assert.ok(hostFieldMatches('*.example', 'vm1.example'));
    assert.ok(hostFieldMatches('vm?.example', 'vm7.example'));
    assert.ok(!hostFieldMatches('vm?.example', 'vm10.example'));
    assert.ok(!hostFieldMatches('*.example,!vm2.example', 'vm2.example'));
    assert.ok(hostFieldMatches('*.example,!vm2.example', 'vm1.example'));
    assert.ok(!hostFieldMatches('vm1.example', '[vm1.example]:2222'), 'a port makes it another name');
    assert.ok(hostFieldMatches('[vm1.example]:2222', '[vm1.example]:2222'));
    assert.ok(!hostFieldMatches('vm1.example', 'vm1xexample'), 'a dot is no wildcard');
    assert.ok(hostFieldMatches(HASHED_VM1_2222, '[vm1.example]:2222'));
    assert.ok(!hostFieldMatches(HASHED_VM1_2222, 'vm1.example'));
    assert.ok(!hostFieldMatches('|1|bad', 'vm1.example'));
  });

  it('lists the keys a known_hosts file holds for a host, skipping what is not a key line', () => {
    const text = [
      '# a comment',
      '',
      `vm1.example ssh-ed25519 ${ED25519} laptop`,
      `other.example ssh-ed25519 ${OTHER_ED25519}`,
      `@revoked * ssh-ed25519 ${OTHER_ED25519}`,
      `@unknown-marker vm1.example ssh-ed25519 ${OTHER_ED25519}`,
      'vm1.example ssh-ed25519 not!base64',
      `${HASHED_VM1_2222} ssh-ed25519 ${ED25519}`,
      `  vm1.example,10.0.0.5   ecdsa-sha2-nistp256   ${ECDSA}`,
    ].join('\n');
    assert.deepEqual(
      knownKeysFor(text, 'vm1.example').map((k) => [k.marker, k.keyType, fingerprint(k.key), k.line]),
      [
        [undefined, 'ssh-ed25519', ED25519_FP, 3],
        ['revoked', 'ssh-ed25519', fingerprint(blob(OTHER_ED25519)), 5],
        [undefined, 'ecdsa-sha2-nistp256', ECDSA_FP, 9],
      ],
    );
    assert.deepEqual(
      knownKeysFor(text, '[vm1.example]:2222').map((k) => k.line),
      [5, 8],
    );
  });

  describe('verdict on an offered key', () => {
    const known = knownKeysFor(`vm1 ssh-ed25519 ${ED25519}\n@revoked vm1 ssh-ed25519 ${OTHER_ED25519}\n`, 'vm1');

    it('trusts a pinned fingerprint alone', () => {
      assert.deepEqual(hostKeyVerdict(blob(ECDSA), ECDSA_FP, known), { trusted: true, source: 'pinned' });
      assert.deepEqual(hostKeyVerdict(blob(ED25519), ECDSA_FP, known), { trusted: false, reason: 'mismatch', expected: ECDSA_FP, expectedFrom: 'pinned' });
    });

    it('follows known_hosts: same key trusted, same type different key a mismatch, other type not new, revoked refused', () => {
      assert.deepEqual(hostKeyVerdict(blob(ED25519), undefined, known), { trusted: true, source: 'known_hosts' });
      const impostor = knownKeysFor(`vm1 ssh-ed25519 ${ED25519}\n`, 'vm1');
      assert.deepEqual(hostKeyVerdict(blob(OTHER_ED25519), undefined, impostor), { trusted: false, reason: 'mismatch', expected: ED25519_FP, expectedFrom: 'known_hosts' });
      assert.deepEqual(hostKeyVerdict(blob(ECDSA), undefined, impostor), {
        trusted: false,
        reason: 'other-type',
        offeredType: 'ecdsa-sha2-nistp256',
        known: [{ keyType: 'ssh-ed25519', fingerprint: ED25519_FP }],
      });
      assert.deepEqual(hostKeyVerdict(blob(OTHER_ED25519), undefined, known), { trusted: false, reason: 'revoked' });
      assert.deepEqual(hostKeyVerdict(blob(ED25519), undefined, []), { trusted: false, reason: 'unknown' });
    });
  });

  it('prefers the host key algorithms known_hosts can check', () => {
    const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
    assert.deepEqual(preferKnownKeyTypes(all, []), all);
    assert.deepEqual(preferKnownKeyTypes(all, knownKeysFor(`h ecdsa-sha2-nistp256 ${ECDSA}`, 'h')), ['ecdsa-sha2-nistp256', 'ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.deepEqual(preferKnownKeyTypes(all, [{ keyType: 'ssh-rsa', key: Buffer.alloc(0), line: 1 }]), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256']);
  });
});
