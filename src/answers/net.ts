import { isIP } from 'node:net';

/** Pure checks of network notation, each returning why a value is invalid or null when it is fine. */

const HOSTNAME_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * An IPv6 zone id (fe80::1%eth0) names an interface of one machine: node's isIP
 * accepts it, but iptables, resolv.conf and the other hosts cannot use it.
 */
export function zoneIdProblem(value: string): string | null {
  const zone = /%[^/]*/.exec(value);
  if (!zone || isIP(value.split('/')[0]) !== 6) return null;
  return `"${value}" has an IPv6 zone id (${zone[0]}), which names an interface of one machine; give the address without it, e.g. ${value.replace(zone[0], '')}`;
}

export function addressProblem(value: string): string | null {
  const zone = zoneIdProblem(value);
  if (zone) return zone;
  if (isIP(value)) return null;
  if (/^[0-9.]+$/.test(value)) return `"${value}" is not a valid IPv4 address`;
  if (value.includes(':')) return `"${value}" is not a valid IPv6 address`;
  if (value.length > 253 || !value.split('.').every((label) => HOSTNAME_LABEL.test(label))) {
    return `"${value}" is not a valid IPv4 address, IPv6 address or hostname`;
  }
  return null;
}

export function ipProblem(value: string): string | null {
  return zoneIdProblem(value) ?? (isIP(value) ? null : `"${value}" is not a valid IPv4 or IPv6 address`);
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // An embedded IPv4 address (e.g. ::ffff:192.0.2.1) becomes two hextets.
    const n = ipv4ToInt(tail);
    text = `${text.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const headParts = head ? head.split(':') : [];
  const restParts = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const missing = 8 - headParts.length - restParts.length;
  const parts = rest === undefined ? headParts : [...headParts, ...Array(missing).fill('0'), ...restParts];
  return parts.reduce((acc, part) => (acc << 16n) + BigInt(parseInt(part, 16)), 0n);
}

function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}

/**
 * A CIDR block such as 203.0.113.0/24 or 2001:db8::/32. A bare address is
 * accepted as a single host. Host bits set below the prefix are refused,
 * since 10.0.0.5/24 is most often a typo for 10.0.0.5/32 or 10.0.0.0/24.
 */
export function cidrProblem(value: string): string | null {
  const zone = zoneIdProblem(value);
  if (zone) return zone;
  const [addr, prefixText, extra] = value.split('/');
  if (extra !== undefined) return `"${value}" is not a CIDR block (one "/" at most)`;
  const family = isIP(addr);
  if (!family) return `"${value}" is not a CIDR block: "${addr}" is not an IP address`;
  if (prefixText === undefined) return null;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return `"${value}" is not a CIDR block: the prefix length must be 0 to ${max}`;
  }
  const prefix = Number(prefixText);
  if (family === 4) {
    const n = ipv4ToInt(addr);
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    const network = (n & mask) >>> 0;
    if (network !== n) {
      return `"${value}" has host bits set; did you mean ${formatIpv4(network)}/${prefix} (the network) or ${addr}/32 (this host only)?`;
    }
  } else {
    const n = ipv6ToBigInt(addr);
    const hostBits = 128n - BigInt(prefix);
    if (hostBits > 0n && n % (1n << hostBits) !== 0n) {
      return `"${value}" has host bits set below /${prefix}; use ${addr}/128 for this host only`;
    }
  }
  return null;
}

/** The normal form iptables is given: a bare address becomes /32 or /128. */
export function normaliseCidr(value: string): string {
  if (value.includes('/')) return value;
  return isIP(value) === 6 ? `${value}/128` : `${value}/32`;
}

export function cidrFamily(value: string): 4 | 6 {
  return isIP(value.split('/')[0]) === 6 ? 6 : 4;
}

/** Does the CIDR block contain the address? Both of one family; false across families. */
export function cidrContains(cidr: string, address: string): boolean {
  const [net, prefixText] = normaliseCidr(cidr).split('/');
  const family = isIP(net);
  if (family !== isIP(address)) return false;
  const prefix = Number(prefixText);
  if (family === 4) {
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    return ((ipv4ToInt(net) & mask) >>> 0) === ((ipv4ToInt(address) & mask) >>> 0);
  }
  const shift = 128n - BigInt(prefix);
  return ipv6ToBigInt(net) >> shift === ipv6ToBigInt(address) >> shift;
}
