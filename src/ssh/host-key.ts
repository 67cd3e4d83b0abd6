import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Host key trust: fingerprints, OpenSSH known_hosts files (plain, wildcard
 * and hashed host names, @revoked), and the verdict on a key a host offers.
 * Pure functions; the connection reads the file and asks the user.
 */

/** OpenSSH's `SHA256:…` fingerprint of a public key blob (base64 without padding). */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Fingerprints compare without their optional base64 padding. */
export function sameFingerprint(a: string, b: string): boolean {
  return a.replace(/=+$/, '') === b.replace(/=+$/, '');
}

/** The key type named at the start of a public key blob, e.g. `ssh-ed25519`. */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return '';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/** The name known_hosts files use for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

export interface KnownHostKey {
  marker?: 'revoked' | 'cert-authority';
  keyType: string;
  key: Buffer;
  /** 1-based line in the file, for messages. */
  line: number;
}

interface KnownHostsLine extends KnownHostKey {
  hosts: string;
}

const MARKERS: Record<string, KnownHostKey['marker']> = { '@revoked': 'revoked', '@cert-authority': 'cert-authority' };

function parseLines(text: string): KnownHostsLine[] {
  const entries: KnownHostsLine[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostKey['marker'];
    if (fields[0].startsWith('@')) {
      marker = MARKERS[fields.shift()!];
      if (!marker) return; // an unknown marker: OpenSSH skips the line too
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return;
    entries.push({ marker, hosts, keyType, key: Buffer.from(base64, 'base64'), line: index + 1 });
  });
  return entries;
}

/** OpenSSH's wildcard patterns: `*` any run of characters, `?` one character, case-insensitive. */
function wildcardMatch(name: string, pattern: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 'i').test(name);
}

/** `|1|salt|hash`: HMAC-SHA1 of the name keyed with the salt, both base64. */
function hashedMatch(name: string, field: string): boolean {
  const [, kind, salt, hash] = field.split('|');
  if (kind !== '1' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Whether a known_hosts host field names `name`: one negated pattern that matches excludes it. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatch(name, field);
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcardMatch(name, pattern.slice(1))) return false;
    } else if (wildcardMatch(name, pattern)) {
      matched = true;
    }
  }
  return matched;
}

/** The keys a known_hosts text lists for `name` (see knownHostsName). */
export function knownKeysFor(text: string, name: string): KnownHostKey[] {
  return parseLines(text)
    .filter((entry) => hostFieldMatches(entry.hosts, name))
    .map(({ hosts: _hosts, ...key }) => key);
}

export type HostKeyVerdict =
  | { trusted: true; source: 'pinned' | 'known_hosts' }
  | { trusted: false; reason: 'mismatch'; expected: string; expectedFrom: 'pinned' | 'known_hosts' }
  | { trusted: false; reason: 'revoked' }
  /** known_hosts knows the host by keys of other types only: not a new host, so never trusted as one. */
  | { trusted: false; reason: 'other-type'; offeredType: string; known: { keyType: string; fingerprint: string }[] }
  | { trusted: false; reason: 'unknown' };

/**
 * What to make of the key a host offers. A pinned fingerprint decides alone;
 * otherwise known_hosts does the way OpenSSH does: the same key is trusted, a
 * different key of the same type is a mismatch. A key of a type it has no
 * entry for, while it has entries of other types, is not a new host's key:
 * the verdict names the keys known instead (OpenSSH asks again there; berth
 * never accepts it as new). Only a host known_hosts does not list is unknown.
 */
export function hostKeyVerdict(offered: Buffer, pinned: string | undefined, known: readonly KnownHostKey[]): HostKeyVerdict {
  if (pinned !== undefined) {
    return sameFingerprint(fingerprint(offered), pinned)
      ? { trusted: true, source: 'pinned' }
      : { trusted: false, reason: 'mismatch', expected: pinned, expectedFrom: 'pinned' };
  }
  if (known.some((entry) => entry.marker === 'revoked' && entry.key.equals(offered))) return { trusted: false, reason: 'revoked' };
  const plain = known.filter((entry) => entry.marker === undefined);
  if (plain.some((entry) => entry.key.equals(offered))) return { trusted: true, source: 'known_hosts' };
  const sameType = plain.find((entry) => entry.keyType === keyTypeOf(offered));
  if (sameType) return { trusted: false, reason: 'mismatch', expected: fingerprint(sameType.key), expectedFrom: 'known_hosts' };
  if (plain.length > 0) return { trusted: false, reason: 'other-type', offeredType: keyTypeOf(offered), known: plain.map((entry) => ({ keyType: entry.keyType, fingerprint: fingerprint(entry.key) })) };
  return { trusted: false, reason: 'unknown' };
}

/** The host key signature algorithms that verify each known_hosts key type. */
const ALGORITHMS_OF_TYPE: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * `algorithms` reordered so that the types known_hosts holds for the host
 * come first, as OpenSSH does, so that the host offers a key we can check.
 */
export function preferKnownKeyTypes(algorithms: readonly string[], known: readonly KnownHostKey[]): string[] {
  const wanted = new Set(known.filter((entry) => entry.marker === undefined).flatMap((entry) => ALGORITHMS_OF_TYPE[entry.keyType] ?? [entry.keyType]));
  return [...algorithms.filter((a) => wanted.has(a)), ...algorithms.filter((a) => !wanted.has(a))];
}
