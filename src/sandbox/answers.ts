import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Document } from 'yaml';
import { DEFAULT_LAYOUT, ROLES, type AnswersInput, type Role } from '../answers/schema';
import { generateSecret } from '../answers/secret';

/**
 * An answers file pointing berth at a topology: its VMs, its key, the smart
 * DNS as upstream, the image mirror with its CA, and the test machine's own
 * address as the only admin network.
 */

export interface TopologySecrets {
  registryPassword: string;
  appSecretKey: string;
  dbRootPassword: string;
  dbPassword: string;
}

const SECRETS_FILE = 'secrets.json';

/** Strong random secrets, made once per topology and kept, so that a rerun of berth sees the same answers. */
export function ensureSecrets(stateDir: string): TopologySecrets {
  const file = join(stateDir, SECRETS_FILE);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as TopologySecrets;
  const secrets: TopologySecrets = {
    registryPassword: generateSecret(),
    appSecretKey: generateSecret(36),
    dbRootPassword: generateSecret(),
    dbPassword: generateSecret(),
  };
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

export interface AnswersTarget {
  /** hostKey: the SHA256 fingerprint berth pins, known here without a first connection. */
  vms: readonly { name: string; ip: string; hostKey?: string }[];
  sshKeyPath: string;
  gatewayIp: string;
  smartdnsIp: string;
  /** Absent when Docker Hub is used directly. */
  hubMirror?: { hostname: string; url: string; caCertPath: string };
  secrets: TopologySecrets;
}

/** docker.source: official from the stand-in of Docker's apt repository, its own key pinned (plain HTTP needs the pin). */
export function aptRepoDocker(aptRepo: { url: string; fingerprint: string }): AnswersOverrides['docker'] {
  return { source: 'official', aptMirror: aptRepo.url, aptKeyFingerprint: aptRepo.fingerprint };
}

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Changes to the generated answers: objects are merged key by key, arrays and values replace. */
export type AnswersOverrides = DeepPartial<AnswersInput>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function mergeOverrides(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    merged[key] = isPlainObject(value) && isPlainObject(merged[key]) ? mergeOverrides(merged[key], value) : value;
  }
  return merged;
}

/**
 * The roles of VM `index` (0-based) of `count`, so that the answers install as they
 * are for every count: one VM holds every role; two or more, the original layout on
 * the first two, and the others are hardened hosts without a role, so that one more
 * VM changes no other VM's roles (a third db host would move Galera's nodes).
 */
export function sandboxRoles(index: number, count: number): Role[] {
  if (count === 1) return [...ROLES];
  return index < DEFAULT_LAYOUT.length ? [...DEFAULT_LAYOUT[index]] : [];
}

export function topologyAnswers(target: AnswersTarget, overrides: AnswersOverrides = {}): AnswersInput {
  const base: AnswersInput = {
    version: 1,
    project: 'app',
    ssh: { user: 'root', port: 22, privateKey: target.sshKeyPath, agent: false },
    hosts: target.vms.map((vm, i) => ({ name: vm.name, address: vm.ip, roles: sandboxRoles(i, target.vms.length), ...(vm.hostKey ? { hostKey: vm.hostKey } : {}) })),
    dns: { mode: 'forwarder', upstreams: [target.smartdnsIp] },
    docker: {
      source: 'distro',
      registryMirrors: target.hubMirror ? [target.hubMirror.url] : [],
      trustedCAs: target.hubMirror ? [{ registry: target.hubMirror.hostname, ca: target.hubMirror.caCertPath }] : [],
    },
    firewall: { adminCidrs: [`${target.gatewayIp}/32`] },
    registry: { password: target.secrets.registryPassword },
    app: { secretKey: target.secrets.appSecretKey },
    db: { rootPassword: target.secrets.dbRootPassword, password: target.secrets.dbPassword },
  };
  return mergeOverrides(base as Record<string, unknown>, overrides as Record<string, unknown>) as AnswersInput;
}

/** Writes the answers as YAML with a header comment; mode 0600, since the file holds secrets. */
export function writeAnswersFile(file: string, answers: AnswersInput, header: string): void {
  const document = new Document(answers);
  document.commentBefore = header
    .split('\n')
    .map((line) => ` ${line}`)
    .join('\n');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, document.toString({ lineWidth: 0 }), { mode: 0o600 });
  chmodSync(file, 0o600);
}
