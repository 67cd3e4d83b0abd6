import { portProblem } from './fields';
import type { Problem } from './problems';
import { DEFAULT_LAYOUT, ROLES, type Answers, type Role } from './schema';

/**
 * Checks that relate several fields. They run on the raw data, whatever the
 * schema thought of it, so that a wrong type in one place does not hide a
 * duplicate host in another; anything not of the expected shape is skipped
 * here because the schema reports it.
 */

type Raw = Record<string, unknown>;

function isRecord(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function rolesOf(host: Raw): Role[] | undefined {
  return Array.isArray(host.roles) ? host.roles.filter((r): r is Role => (ROLES as readonly unknown[]).includes(r)) : undefined;
}

/**
 * The addresses of the hosts so far, each with the first host that has it: a
 * host may give one address as both address and privateAddress, two hosts may not.
 * Addresses are compared without case (hostnames and IPv6 hex digits).
 */
export class HostAddresses {
  readonly #first = new Map<string, number>();

  /** Why host `i` cannot have `address`, or null. */
  problem(address: string, i: number): string | null {
    const first = this.#first.get(address.toLowerCase());
    return first !== undefined && first !== i ? `${address} is already the address of hosts[${first}]; every host needs its own` : null;
  }

  add(address: string, i: number): void {
    if (!this.#first.has(address.toLowerCase())) this.#first.set(address.toLowerCase(), i);
  }
}

function hostProblems(hosts: Raw[], data: Raw): Problem[] {
  const problems: Problem[] = [];
  const firstByName = new Map<string, number>();
  const addresses = new HostAddresses();
  hosts.forEach((host, i) => {
    if (typeof host.name === 'string') {
      const first = firstByName.get(host.name);
      if (first !== undefined) problems.push({ path: ['hosts', i, 'name'], message: `"${host.name}" is already the name of hosts[${first}]; host names must be unique` });
      else firstByName.set(host.name, i);
    }
    for (const field of ['address', 'privateAddress'] as const) {
      const address = host[field];
      if (typeof address !== 'string') continue;
      const problem = addresses.problem(address, i);
      if (problem) problems.push({ path: ['hosts', i, field], message: problem });
      else addresses.add(address, i);
    }
    const roles = rolesOf(host);
    if (roles) {
      const seen = new Set<string>();
      roles.forEach((role) => {
        if (seen.has(role)) problems.push({ path: ['hosts', i, 'roles'], message: `lists the role "${role}" twice` });
        seen.add(role);
      });
    }
  });

  const withRoles = hosts.filter((h) => h.roles !== undefined);
  if (withRoles.length === 0) {
    if (hosts.length !== DEFAULT_LAYOUT.length) {
      problems.push({ path: ['hosts'], message: `no host lists its roles; the default layout needs exactly ${DEFAULT_LAYOUT.length} hosts, so give each host roles (${ROLES.join(', ')})` });
    }
    return problems;
  }
  hosts.forEach((host, i) => {
    if (host.roles === undefined) problems.push({ path: ['hosts', i], message: 'has no roles while other hosts do; list its roles, e.g. roles: [app, lb, db]' });
  });

  const dnsMode = isRecord(data.dns) ? data.dns.mode : undefined;
  const required: Role[] = ['registry', 'app', 'lb', 'db', ...(dnsMode === undefined || dnsMode === 'forwarder' ? (['dns'] as Role[]) : [])];
  for (const role of required) {
    const holders = hosts.map((h, i) => ({ i, roles: rolesOf(h) ?? [] })).filter((h) => h.roles.includes(role));
    if (holders.length === 0) {
      problems.push({ path: ['hosts'], message: `no host has the role "${role}"${role === 'dns' ? ' (needed by dns.mode: forwarder)' : ''}; add it to one host's roles` });
    } else if (role === 'registry' && holders.length > 1) {
      problems.push({ path: ['hosts', holders[1].i, 'roles'], message: `"registry" is already the role of hosts[${holders[0].i}]; exactly one host runs the registry` });
    }
  }
  return problems;
}

/** `section.needed` must be set when `section.field` is `value`. */
function requiresField(data: Raw, section: string, field: string, value: string, needed: string): Problem[] {
  const sec = data[section];
  if (!isRecord(sec) || sec[field] !== value) return [];
  return sec[needed] === undefined
    ? [{ path: [section, needed], message: `is required when ${section}.${field} is ${value}` }]
    : [];
}

/** Over plain HTTP anyone on the way can swap the key a mirror serves: berth takes it only with the key pinned explicitly. */
function plainHttpMirrorProblems(data: Raw): Problem[] {
  const docker = data.docker;
  if (!isRecord(docker) || typeof docker.aptMirror !== 'string' || !/^http:\/\//i.test(docker.aptMirror) || docker.aptKeyFingerprint !== undefined) return [];
  return [
    {
      path: ['docker', 'aptMirror'],
      message:
        "is an http:// URL, and berth takes a signing key over plain HTTP only when it is pinned: use https://, or set docker.aptKeyFingerprint to the fingerprint of the key the repository signs with (Docker's own: 9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88)",
    },
  ];
}

/** app.path belongs to source: path and app.image to source: image; each needs the other. */
function appProblems(data: Raw): Problem[] {
  const app = data.app;
  if (!isRecord(app)) return [];
  const source = app.source ?? 'demo';
  // An unknown source is the schema's to report; guessing what was meant would only add noise.
  if (source !== 'demo' && source !== 'path' && source !== 'image') return [];
  const sourceText = app.source === undefined ? `${source} (the default)` : source;
  const problems: Problem[] = [];
  const pairs = [
    ['path', "the directory holding the app's Dockerfile, e.g. path: ./myapp"],
    ['image', 'a prebuilt image, e.g. image: ghcr.io/team/app:1.4'],
  ] as const;
  for (const [field, what] of pairs) {
    if (source === field && app[field] === undefined) {
      problems.push({ path: ['app', field], message: `is required when app.source is ${field}: ${what}` });
    } else if (source !== field && app[field] !== undefined) {
      problems.push({ path: ['app', field], message: `is only used with app.source: ${field}, but app.source is ${sourceText}; set source: ${field}, or remove ${field}` });
    }
  }
  return problems;
}

const isPort = (v: unknown): v is number => typeof v === 'number' && portProblem(v) === null;

const section = (data: Raw, name: string): Raw => (isRecord(data[name]) ? data[name] : {});

/** The ports of berth's own services, which neither the registry nor SSH may take. */
const SERVICE_PORTS: readonly [number, string][] = [
  [53, 'the port of the DNS forwarder'],
  [80, "the port of the app's load balancer (80 and 443)"],
  [443, "the port of the app's load balancer (80 and 443)"],
];

/** Ports the registry's port must not share, each with the setting or service that holds it. */
function takenPorts(data: Raw): [number, string][] {
  const ssh = section(data, 'ssh').port ?? 22;
  const hardened = section(data, 'sshHardening').port ?? 22;
  const taken: [number, string][] = [...SERVICE_PORTS];
  if (isPort(ssh)) taken.push([ssh, `already ssh.port${section(data, 'ssh').port === undefined ? ' (the default)' : ''}`]);
  if (isPort(hardened)) taken.push([hardened, `already sshHardening.port${section(data, 'sshHardening').port === undefined ? ' (the default)' : ''}`]);
  const open = section(data, 'firewall').openPorts;
  if (Array.isArray(open)) {
    open.forEach((entry, i) => {
      // The registry speaks TCP; a UDP port of the same number does not collide.
      const port = isRecord(entry) ? (entry.protocol === undefined || entry.protocol === 'tcp' ? entry.port : undefined) : entry;
      if (isPort(port)) taken.push([port, `also listed in firewall.openPorts[${i}], a port for another service`]);
    });
  }
  return taken;
}

function registryPortProblems(data: Raw): Problem[] {
  const registry = isRecord(data.registry) ? data.registry : {};
  const port = registry.port ?? 5000;
  if (!isPort(port)) return [];
  const taken = takenPorts(data);
  const clash = taken.find(([p]) => p === port);
  if (!clash) return [];
  let free = 5000;
  while (free === port || taken.some(([p]) => p === free)) free++;
  const value = registry.port === undefined ? `${port} (the default)` : String(port);
  return [{ path: ['registry', 'port'], message: `${value} is ${clash[1]}; the registry needs a port of its own, e.g. registry.port: ${free}` }];
}

/**
 * SSH after hardening must not take a service's port. The registry's port is
 * checked against it above (reported at registry.port); ssh.port, where berth
 * first connects, is the VM's port before hardening and may be anything.
 */
function sshPortProblems(data: Raw): Problem[] {
  const port = section(data, 'sshHardening').port ?? 22;
  const clash = SERVICE_PORTS.find(([p]) => p === port);
  return clash ? [{ path: ['sshHardening', 'port'], message: `${port} is ${clash[1]}; SSH needs a port of its own, e.g. sshHardening.port: 22` }] : [];
}

export function crossFieldProblems(data: unknown): Problem[] {
  if (!isRecord(data)) return [];
  const problems: Problem[] = [];
  if (Array.isArray(data.hosts)) problems.push(...hostProblems(data.hosts.filter(isRecord), data));
  problems.push(...appProblems(data), ...registryPortProblems(data), ...sshPortProblems(data), ...requiresField(data, 'docker', 'source', 'bundle', 'bundle'), ...plainHttpMirrorProblems(data));
  return problems;
}

/** Hosts that list no roles get the original layout (checked above to be two hosts). */
export function applyDefaultLayout(answers: Answers): Answers {
  if (answers.hosts.some((h) => h.roles !== undefined)) return answers;
  return { ...answers, hosts: answers.hosts.map((h, i) => ({ ...h, roles: [...DEFAULT_LAYOUT[i]] })) };
}
