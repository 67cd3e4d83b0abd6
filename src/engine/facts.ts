import { shq } from '../shell';
import type { Facts, FactsQuery } from './plan';
import { emptyFacts } from './plan';
import type { HostInfo } from './phase';

/**
 * Facts are gathered by one read-only script per phase and host. It prints
 * one record per line, with payloads base64-encoded so that any content
 * survives: `F path exists mode owner group content`, `P package version`,
 * `U unit active enabled`, `R probe code output`.
 */

const b64 = (text: string) => Buffer.from(text).toString('base64');
const unb64 = (text: string) => Buffer.from(text, 'base64').toString();

export function factsScript(query: FactsQuery): string {
  const lines: string[] = [];
  for (const path of query.files ?? []) {
    lines.push(
      `if [ -f ${shq(path)} ]; then printf 'F %s 1 %s %s\\n' ${shq(b64(path))} "$(stat -c '%a %U %G %u %g' ${shq(path)})" "$(base64 -w0 < ${shq(path)})"; else printf 'F %s 0\\n' ${shq(b64(path))}; fi`,
    );
  }
  for (const pkg of query.packages ?? []) {
    lines.push(`printf 'P %s %s\\n' ${shq(pkg)} "$(dpkg-query -W -f='\${db:Status-Status} \${Version}' ${shq(pkg)} 2>/dev/null | awk '$1=="installed"{print $2}')"`);
  }
  for (const unit of query.units ?? []) {
    lines.push(`printf 'U %s %s %s\\n' ${shq(unit)} "$(systemctl is-active ${shq(unit)} 2>/dev/null | head -n1)" "$(systemctl is-enabled ${shq(unit)} 2>/dev/null | head -n1)"`);
  }
  for (const [name, snippet] of Object.entries(query.probes ?? {})) {
    lines.push(`out=$(bash -c ${shq(snippet)} 2>&1) && code=0 || code=$?; printf 'R %s %s %s\\n' ${shq(name)} "$code" "$(printf '%s' "$out" | base64 -w0)"`);
  }
  return lines.join('\n');
}

export function parseFacts(output: string, query: FactsQuery): Facts {
  const facts = emptyFacts();
  for (const line of output.split('\n')) {
    const [tag, ...f] = line.split(' ');
    if (tag === 'F') {
      const path = unb64(f[0]);
      // An id without a name on the host (a container's user, e.g. uid 10001) reads as the number.
      const named = (name: string, id: string) => (name === 'UNKNOWN' ? id : name);
      facts.files[path] = f[1] === '1' ? { mode: parseInt(f[2], 8), owner: named(f[3], f[5]), group: named(f[4], f[6]), content: unb64(f[7] ?? '') } : null;
    } else if (tag === 'P') {
      facts.packages[f[0]] = f[1] ? f[1] : null;
    } else if (tag === 'U') {
      facts.units[f[0]] = { active: f[1] || 'unknown', enabled: f[2] || 'not-found' };
    } else if (tag === 'R') {
      facts.probes[f[0]] = { code: Number(f[1]), out: unb64(f[2] ?? '') };
    }
  }
  // Anything the script did not report (it should) reads as absent, never as undefined.
  for (const path of query.files ?? []) if (!(path in facts.files)) facts.files[path] = null;
  for (const pkg of query.packages ?? []) if (!(pkg in facts.packages)) facts.packages[pkg] = null;
  for (const unit of query.units ?? []) facts.units[unit] ??= { active: 'unknown', enabled: 'not-found' };
  for (const name of Object.keys(query.probes ?? {})) facts.probes[name] ??= { code: 127, out: '' };
  return facts;
}

/**
 * One query that asks what all of `queries` ask, each file, package, unit and
 * probe once (probes by their script: the same check asked by two phases runs
 * once), so that a host answers several phases in one round trip. factsFor
 * hands each query its part of the answer.
 */
export function mergedQuery(queries: readonly FactsQuery[]): FactsQuery {
  const once = (lists: (readonly string[] | undefined)[]) => [...new Set(lists.flatMap((list) => list ?? []))];
  const scripts = once(queries.map((q) => Object.values(q.probes ?? {})));
  return {
    files: once(queries.map((q) => q.files)),
    packages: once(queries.map((q) => q.packages)),
    units: once(queries.map((q) => q.units)),
    probes: Object.fromEntries(scripts.map((script, i) => [`p${i}`, script])),
  };
}

/** The facts `query` asked for, out of the answer to a mergedQuery that included it (the installer's checks are not the host's). */
export function factsFor(merged: Facts, mergedWith: FactsQuery, query: FactsQuery): Facts {
  const nameOf = new Map(Object.entries(mergedWith.probes ?? {}).map(([name, script]) => [script, name]));
  const pick = <T>(record: Record<string, T>, keys: readonly string[] | undefined) => Object.fromEntries((keys ?? []).map((key) => [key, record[key]]));
  return {
    files: pick(merged.files, query.files),
    packages: pick(merged.packages, query.packages),
    units: pick(merged.units, query.units),
    probes: Object.fromEntries(Object.entries(query.probes ?? {}).map(([name, script]) => [name, merged.probes[nameOf.get(script) ?? ''] ?? { code: 127, out: '' }])),
    installer: {},
  };
}

/** Run as the login user (not through sudo), so that SSH_CONNECTION is still set. */
export const HOST_INFO_SCRIPT = [
  '. /etc/os-release 2>/dev/null || true',
  'echo "osId=${ID:-unknown}"',
  'echo "osVersion=${VERSION_ID:-}"',
  'echo "osCodename=${VERSION_CODENAME:-}"',
  'echo "osName=${PRETTY_NAME:-unknown}"',
  'echo "arch=$(dpkg --print-architecture 2>/dev/null || uname -m)"',
  'echo "hostname=$(hostname)"',
  `echo "addresses=$(ip -o addr show scope global 2>/dev/null | awk '{split($4,a,"/"); printf "%s ", a[1]}')"`,
  'echo "ssh=${SSH_CONNECTION:-}"',
  'echo "loginUser=$(id -un)"',
  'echo "init=$(cat /proc/1/comm 2>/dev/null)"',
  'echo "cpus=$(nproc)"',
  `echo "memoryMb=$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)"`,
  `echo "rootFreeMb=$(df -Pm / | awk 'NR==2{print $4}')"`,
].join('\n');

export function parseHostInfo(output: string): HostInfo {
  const v: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) v[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  // SSH_CONNECTION: client-address client-port server-address server-port
  const ssh = (v.ssh ?? '').split(' ');
  return {
    osId: v.osId ?? 'unknown',
    osVersion: v.osVersion ?? '',
    osCodename: v.osCodename ?? '',
    osName: v.osName ?? 'unknown',
    arch: v.arch ?? 'unknown',
    hostname: v.hostname ?? '',
    addresses: (v.addresses ?? '').split(' ').filter(Boolean),
    clientAddress: ssh[0] ?? '',
    sshPort: Number(ssh[3] ?? 22),
    loginUser: v.loginUser ?? '',
    init: v.init ?? '',
    cpus: Number(v.cpus ?? 0),
    memoryMb: Number(v.memoryMb ?? 0),
    rootFreeMb: Number(v.rootFreeMb ?? 0),
  };
}
