/**
 * Public resolvers users pick by name. The first five are the "smart DNS"
 * services used in regions where Docker Hub and Docker's apt repository refuse
 * connections: they answer with addresses of their own proxies for blocked
 * names and resolve everything else normally.
 */
export const DNS_PRESETS = {
  shecan: ['178.22.122.100', '185.51.200.2'],
  '403': ['10.202.10.202', '10.202.10.102'],
  electro: ['78.157.42.100', '78.157.42.101'],
  begzar: ['185.55.226.26', '185.55.225.25'],
  radar: ['10.202.10.10', '10.202.10.11'],
  cloudflare: ['1.1.1.1', '1.0.0.1'],
  google: ['8.8.8.8', '8.8.4.4'],
} as const satisfies Record<string, readonly string[]>;

export type DnsPreset = keyof typeof DNS_PRESETS;

/** In the order people are offered them (Object.keys would put "403" first: integer-like keys sort ahead). */
export const DNS_PRESET_NAMES: DnsPreset[] = ['shecan', '403', 'electro', 'begzar', 'radar', 'cloudflare', 'google'];

export function isDnsPreset(name: string): name is DnsPreset {
  return Object.hasOwn(DNS_PRESETS, name);
}

/** Presets expanded to their addresses, duplicates removed, order kept. */
export function expandUpstreams(upstreams: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of upstreams) {
    for (const ip of isDnsPreset(entry) ? DNS_PRESETS[entry] : [entry]) {
      if (!out.includes(ip)) out.push(ip);
    }
  }
  return out;
}
