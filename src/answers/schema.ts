import { z } from 'zod';
import { LIST_LIMITS, secretTypeProblem, shownUrl, systemAccountProblem, UNIX_NAME, UNIX_NAME_MESSAGE, urlProblem, USERINFO } from './fields';
import { imageReferenceProblem } from './image-ref';
import { addressProblem, cidrProblem, ipProblem, zoneIdProblem } from './net';
import { DNS_PRESET_NAMES, isDnsPreset } from './presets';
import { controlCharacterReason, Secret, weakPasswordReason } from './secret';

/**
 * The answers file: everything berth needs to build the platform, with
 * defaults that reproduce the original two-VM layout. The schema is built by a
 * factory because secret references and key paths are resolved while parsing
 * (so that every problem is found in one pass), and that needs the
 * environment and the file's directory.
 */

export const ANSWERS_VERSION = 1;

export const ROLES = ['registry', 'dns', 'app', 'lb', 'db'] as const;
export type Role = (typeof ROLES)[number];

/** What the schema needs from the outside world to check references. */
export interface AnswersEnvironment {
  /**
   * Resolve a secret reference (literal, env:NAME, file:PATH) or say why it cannot be.
   * A plain value, not yet a Secret: the schema makes the Secret (which registers it
   * for redaction) only once the value is accepted.
   */
  resolveSecret(ref: string): { value: string; source: string } | { error: string };
  /** Why a file the answers point at cannot be read, or null when it can. */
  unreadableFile(path: string): string | null;
  /** The text of a (small, readable) file the answers point at. */
  readText(path: string): string;
  /** Why a directory cannot be built as the app (missing, not a directory, no Dockerfile at its top), or null. */
  appDirectoryProblem(path: string): string | null;
}

/** Resolves nothing: for printing the JSON Schema, where no value is parsed. */
export const SCHEMA_ONLY: AnswersEnvironment = {
  resolveSecret: () => ({ error: 'not resolved' }),
  unreadableFile: () => null,
  readText: () => '',
  appDirectoryProblem: () => null,
};

const HOST_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PROJECT_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const HOST_KEY = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const SIZE = /^[1-9][0-9]*[kmg]$/;
const PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;

function checked<T = string>(problem: (value: T) => string | null) {
  return (value: T, ctx: z.RefinementCtx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  };
}

const port = z.number().int().min(1).max(65535);
const address = z.string().superRefine(checked(addressProblem));
const ip = z.string().superRefine(checked(ipProblem));
const cidr = z.string().superRefine(checked(cidrProblem));
const url = z.string().superRefine(checked(urlProblem));
const unixName = z.string().regex(UNIX_NAME, UNIX_NAME_MESSAGE);
/** A list of at most `max` items (see LIST_LIMITS). */
const list = <T extends z.ZodType>(item: T, max: number) => z.array(item).max(max);

export type SecretStrength = 'password' | 'existing';

/**
 * A secret reference resolved and checked: the value, or why it cannot be
 * used. `password` strength is for passwords berth sets, which must be strong.
 */
export function checkedSecret(env: AnswersEnvironment, ref: string, strength: SecretStrength): { value: string; source: string } | { error: string } {
  const resolved = env.resolveSecret(ref);
  if ('error' in resolved) return resolved;
  // A line break would reach chpasswd or sudo -S as a second line (another account's password).
  const control = controlCharacterReason(resolved.value);
  if (control) return { error: `this secret ${control}` };
  const weak = strength === 'password' ? weakPasswordReason(resolved.value) : null;
  return weak ? { error: `this password ${weak}` } : resolved;
}

const OPENPGP_FINGERPRINT = /^[0-9A-F]{40}$/;

/** Docker's registry client refuses a mirror URL with a user or password in it, so the daemon would not start. */
function registryMirrorProblem(value: string): string | null {
  if (!USERINFO.test(value)) return null;
  return (
    `"${shownUrl(value)}" holds credentials, and Docker takes none in registry-mirrors (dockerd refuses such a mirror: ` +
    '"username/password not allowed in URL"); use a mirror that serves anonymous pulls, reachable only from your hosts (firewall, VPN)'
  );
}

/** The user and password before the @ of a URL, percent-decoded; null without any. */
function userinfoOf(value: string): { scheme: string; login: string; password: string } | null {
  const match = USERINFO.exec(value);
  if (!match) return null;
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const colon = match[2].indexOf(':');
  const [login, password] = colon < 0 ? [match[2], ''] : [match[2].slice(0, colon), match[2].slice(colon + 1)];
  return { scheme: match[1], login: decode(login), password: decode(password) };
}

/** apt reads a mirror's credentials from /etc/apt/auth.conf.d, so they may be given in the URL; never over plain HTTP. */
function aptMirrorProblem(value: string): string | null {
  const userinfo = userinfoOf(value);
  if (!userinfo) return null;
  if (userinfo.scheme === 'http://') return `"${shownUrl(value)}" would send its credentials in the clear over http://: use https://`;
  if (userinfo.login === '' || userinfo.password === '') return `"${shownUrl(value)}" needs both a user and a password before the @ (https://USER:PASSWORD@host/…)`;
  if (/\s/.test(userinfo.login + userinfo.password)) return `"${shownUrl(value)}": the user and password must not hold whitespace (apt's auth.conf cannot store it)`;
  return null;
}

/** The mirror's credentials move out of its URL into a secret, which only apt's auth.conf.d and curl's stdin get. */
function aptCredentials<T extends { aptMirror?: string }>(docker: T): T & { aptAuth?: { login: string; password: Secret } } {
  const userinfo = docker.aptMirror === undefined ? null : userinfoOf(docker.aptMirror);
  if (!docker.aptMirror || !userinfo) return docker;
  return { ...docker, aptMirror: docker.aptMirror.replace(USERINFO, '$1'), aptAuth: { login: userinfo.login, password: new Secret(userinfo.password, 'docker.aptMirror') } };
}

export function answersSchema(env: AnswersEnvironment) {
  /** A secret: written literally, or as env:NAME or file:PATH. `strength` checks passwords berth sets. */
  const secret = (strength: SecretStrength) =>
    z
      // A value YAML reads as a number (password: 12345678901234567890) is refused without being shown.
      .string({ error: (issue) => (issue.code === 'invalid_type' && issue.input !== undefined ? secretTypeProblem(issue.input) : undefined) })
      .min(1)
      .transform((ref, ctx) => {
        const checked = checkedSecret(env, ref, strength);
        if ('error' in checked) {
          ctx.addIssue({ code: 'custom', message: checked.error });
          return z.NEVER;
        }
        // A refused value is never used, so it is not registered for redaction: a common
        // word such as "password" would otherwise be masked in every message, field names included.
        return new Secret(checked.value, checked.source);
      })
      .meta({ description: 'A secret: the value itself, env:NAME (an environment variable) or file:PATH (a file holding it).' });

  const filePath = z.string().min(1).superRefine(checked((path) => env.unreadableFile(path)));

  /** A PEM certificate file, read while parsing so that phases stay pure. */
  const certificateFile = filePath.transform((path, ctx) => {
    if (env.unreadableFile(path)) return z.NEVER;
    const pem = env.readText(path);
    if (!/^-----BEGIN CERTIFICATE-----\r?\n[\s\S]+-----END CERTIFICATE-----\s*$/.test(pem.trim() + '\n')) {
      ctx.addIssue({ code: 'custom', message: `${path} is not a PEM certificate (-----BEGIN CERTIFICATE----- …)` });
      return z.NEVER;
    }
    return { path, pem: `${pem.trim()}\n` };
  });

  const ssh = z
    .strictObject({
      user: unixName.default('root').meta({ description: 'The user berth connects as on a fresh VM (often root).' }),
      port: port.default(22),
      privateKey: filePath.optional().meta({ description: 'Path to the private key; ~ and paths relative to this file work.' }),
      passphrase: secret('existing').optional().meta({ description: "The private key's passphrase (prompted when missing and needed)." }),
      password: secret('existing').optional().meta({ description: 'Password login, for VMs that have no key yet.' }),
      agent: z.boolean().default(true).meta({ description: 'Also offer keys from ssh-agent (SSH_AUTH_SOCK).' }),
      sudoPassword: secret('existing').optional().meta({ description: "sudo's password, when the user is not root and sudo asks for one." }),
      jumpHost: z
        .strictObject({
          address,
          port: port.default(22),
          user: unixName.optional().meta({ description: 'Defaults to ssh.user.' }),
          hostKey: z.string().regex(HOST_KEY, 'must be an SSH host key fingerprint, SHA256:… (43 characters)').optional().meta({ description: "Pinned SHA256 fingerprint of the jump host's key, filled in on first connect." }),
        })
        .optional()
        .meta({ description: 'A bastion to connect through, like OpenSSH ProxyJump.' }),
      connectTimeout: z.number().int().min(1).max(300).default(20).meta({ description: 'Seconds to wait for a connection.' }),
    })
    .prefault({});

  const admin = z
    .strictObject({
      user: unixName.superRefine(checked(systemAccountProblem)).default('berth').meta({ description: 'The sudo user berth creates and then connects as.' }),
      authorizedKeys: list(z.string().regex(PUBLIC_KEY, 'must be one public key line, e.g. "ssh-ed25519 AAAA… me@laptop"'), LIST_LIMITS.authorizedKeys)
        .default([])
        .meta({ description: "Public keys allowed to log in as the admin user. Empty: the public half of ssh.privateKey." }),
      password: secret('password')
        .optional()
        .meta({ description: 'When set, sudo asks the admin user for this password; otherwise sudo needs none (key login only).' }),
    })
    .prefault({});

  const host = z.strictObject({
    name: z.string().regex(HOST_NAME, 'must be a short lowercase name such as vm1 (letters, digits, -)'),
    address: address.meta({ description: 'IPv4, IPv6 or hostname berth connects to.' }),
    privateAddress: ip.optional().meta({ description: 'Address the other hosts reach this one at, when not the same as address.' }),
    roles: list(z.enum(ROLES), ROLES.length).optional().meta({ description: 'What runs here. Omit on every host of a two-host file for the original layout: the first app+lb+db, the second registry+dns.' }),
    hostKey: z.string().regex(HOST_KEY, 'must be an SSH host key fingerprint, SHA256:… (43 characters)').optional().meta({ description: 'Pinned SHA256 host key fingerprint, filled in on first connect.' }),
  });

  const upstream = z.string().superRefine(
    checked((value) =>
      zoneIdProblem(value) ??
      (isDnsPreset(value) || !ipProblem(value)
        ? null
        : `"${value}" is neither a DNS preset (${DNS_PRESET_NAMES.join(', ')}) nor an IP address`),
    ),
  );

  const dns = z
    .strictObject({
      mode: z.enum(['forwarder', 'direct', 'off']).default('forwarder').meta({
        description: 'forwarder: the dns host forwards to the upstreams and every other host resolves through it; direct: every host uses the upstreams; off: resolvers are left alone.',
      }),
      upstreams: list(upstream, LIST_LIMITS.upstreams).min(1).default(['shecan']).meta({ description: `Presets (${DNS_PRESET_NAMES.join(', ')}) or IP addresses.` }),
    })
    .prefault({});

  const docker = z
    .strictObject({
      source: z.enum(['official', 'distro', 'bundle']).default('official').meta({
        description: "official: Docker's apt repository (or aptMirror); distro: the distribution's docker.io; bundle: packages from an offline bundle.",
      }),
      aptMirror: url
        .superRefine(checked(aptMirrorProblem))
        .optional()
        .meta({
          description:
            "Base URL of a mirror of https://download.docker.com/linux, for regions that cannot reach Docker's site. https://USER:PASSWORD@host/… for a mirror with a login (written to /etc/apt/auth.conf.d, mode 0600). http:// only with aptKeyFingerprint.",
        }),
      aptKeyFingerprint: z
        .string()
        .transform((value, ctx) => {
          const fingerprint = value.replace(/\s+/g, '').toUpperCase();
          if (OPENPGP_FINGERPRINT.test(fingerprint)) return fingerprint;
          ctx.addIssue({ code: 'custom', message: 'must be an OpenPGP key fingerprint: 40 hex digits (spaces allowed)' });
          return z.NEVER;
        })
        .optional()
        .meta({ description: "Fingerprint of the key the apt repository signs with, when it is not Docker's own (9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88): a mirror that re-signs." }),
      bundle: filePath.optional().meta({ description: 'Offline bundle of Docker packages (source: bundle).' }),
      registryMirrors: list(url.superRefine(checked(registryMirrorProblem)), LIST_LIMITS.registryMirrors)
        .default([])
        .meta({ description: 'Docker Hub mirrors for the daemon (registry-mirrors); without credentials, which Docker does not take there.' }),
      trustedCAs: list(
        z.strictObject({
          registry: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be host or host:port'),
          ca: certificateFile.meta({ description: 'PEM file of the CA certificate.' }),
        }),
        LIST_LIMITS.trustedCAs,
      )
        .default([])
        .meta({ description: 'Extra CA certificates Docker trusts, per registry host (/etc/docker/certs.d/).' }),
      dataRoot: z.string().regex(/^\/\S*$/, 'must be an absolute path').optional(),
      log: z
        .strictObject({
          maxSize: z.string().regex(SIZE, 'must be a size such as 10m').default('10m'),
          maxFile: z.number().int().min(1).max(100).default(3),
        })
        .prefault({}),
    })
    .transform(aptCredentials)
    .prefault({});

  const openPort = z.union([
    port,
    z.strictObject({
      port,
      protocol: z.enum(['tcp', 'udp']).default('tcp'),
      from: list(cidr, LIST_LIMITS.from).optional().meta({ description: 'Source CIDRs; anywhere when omitted.' }),
    }),
  ]);

  const firewall = z
    .strictObject({
      adminCidrs: list(cidr, LIST_LIMITS.adminCidrs).min(1).default(['0.0.0.0/0', '::/0']).meta({ description: 'Who may reach SSH and the registry from outside the cluster.' }),
      openPorts: list(openPort, LIST_LIMITS.openPorts).default([]).meta({ description: 'Extra ports to open on every host.' }),
      egress: z.enum(['open', 'strict']).default('open').meta({ description: 'strict: outgoing traffic only to DNS, NTP, HTTP(S) and the cluster.' }),
    })
    .prefault({});

  const sshHardening = z
    .strictObject({
      port: port.default(22).meta({ description: 'The SSH port after hardening; the firewall opens it first.' }),
      rootLogin: z.boolean().default(false).meta({ description: 'PermitRootLogin.' }),
      passwordLogin: z.boolean().default(false).meta({ description: 'PasswordAuthentication; turned off only once key login of the admin user is proven.' }),
      rootNologin: z.boolean().default(false).meta({ description: "Set root's shell to /usr/sbin/nologin." }),
      lockRootPassword: z
        .boolean()
        .default(true)
        .meta({ description: "Lock root's password (passwd -l root). false leaves it as it is, e.g. to log in as root on the provider's console; berth never unlocks it." }),
    })
    .prefault({});

  const registry = z
    .strictObject({
      port: port.default(5000),
      user: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('berth'),
      password: secret('password').optional(),
    })
    .prefault({});

  const app = z
    .strictObject({
      source: z.enum(['demo', 'path', 'image']).default('demo').meta({ description: 'demo: the bundled Django app; path: build from a local directory; image: a prebuilt image.' }),
      path: z
        .string()
        .min(1)
        .superRefine(checked((path) => env.appDirectoryProblem(path)))
        .optional()
        .meta({ description: 'The app directory, with its Dockerfile at the top (source: path); ~ and paths relative to this file work.' }),
      image: z
        .string()
        .min(1)
        .superRefine(checked(imageReferenceProblem))
        .optional()
        .meta({ description: 'The image reference, e.g. ghcr.io/team/app:1.4 (source: image).' }),
      replicas: z
        .number()
        .int()
        .min(1, 'must be at least 1 (the app container count behind Nginx; 2 or more to survive a dead container)')
        .max(20)
        .default(2)
        .meta({ description: 'App containers behind Nginx.' }),
      keepReleases: z
        .number()
        .int()
        .min(1, 'must be at least 1 (the images kept to roll back to; 0 would leave no way back)')
        .max(50)
        .default(5)
        .meta({ description: 'Earlier app images kept on the app host and in the registry besides the one running: the rollback targets. Older released images are pruned.' }),
      domain: address.optional().meta({ description: 'The name the app is served under.' }),
      allowedHosts: list(z.string().min(1), LIST_LIMITS.allowedHosts).default([]),
      secretKey: secret('password').optional().meta({ description: "Django's SECRET_KEY." }),
      subnet: z
        .string()
        .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){2}\.0\/24$/, 'must be an IPv4 /24 such as 172.30.253.0/24')
        .default('172.30.253.0/24')
        .meta({ description: "The app's Docker network on its host: each replica gets a fixed address in it. Change it only if it overlaps a network your hosts use." }),
    })
    .prefault({});

  const db = z
    .strictObject({
      nodes: z
        .number()
        .int()
        .superRefine(
          checked<number>((n) =>
            n < 3
              ? `${n} Galera ${n === 1 ? 'node is no cluster' : 'nodes lose quorum when either one fails, and the other stops too'}: use 3 (or 5, 7, 9); berth runs no arbitrator (garbd)`
              : n > 9 || n % 2 === 0
                ? 'must be odd, from 3 to 9 (3, 5, 7 or 9), so that a majority survives a failure'
                : null,
          ),
        )
        .default(3)
        .meta({ description: 'MariaDB Galera nodes: all on the db host, or one on each of three or more db hosts (then their number).' }),
      name: z.string().regex(/^[A-Za-z0-9_]{1,64}$/).default('app'),
      user: z.string().regex(/^[A-Za-z0-9_]{1,32}$/).default('app'),
      rootPassword: secret('password').optional(),
      password: secret('password').optional(),
    })
    .prefault({});

  const ci = z
    .strictObject({
      deployKeys: list(z.string().regex(PUBLIC_KEY, 'must be one public key line, e.g. "ssh-ed25519 AAAA… ci@gitlab"'), LIST_LIMITS.authorizedKeys)
        .default([])
        .meta({
          description:
            "Public keys of the pipeline's deploy key (berth ci). Set: the app host gets the user berth-deploy, whose key may only deploy an image the private registry holds (berth-deploy, no shell); the pipelines connect as that user.",
        }),
    })
    .prefault({});

  return z.strictObject({
    version: z
      .literal(ANSWERS_VERSION, { error: `this berth reads answers files of version ${ANSWERS_VERSION}` })
      .default(ANSWERS_VERSION),
    project: z.string().regex(PROJECT_NAME, 'must be lowercase letters, digits and -').default('app').meta({ description: 'Names /opt/berth/<project> on the hosts.' }),
    ssh,
    admin,
    hosts: list(host, LIST_LIMITS.hosts).min(1),
    dns,
    docker,
    firewall,
    sshHardening,
    registry,
    app,
    db,
    ci,
  });
}

export type Answers = z.output<ReturnType<typeof answersSchema>>;
export type AnswersInput = z.input<ReturnType<typeof answersSchema>>;
export type HostAnswers = Answers['hosts'][number];

/** Secrets berth needs before it can install, by their path in the file. */
export const REQUIRED_SECRETS = [
  ['registry', 'password'],
  ['app', 'secretKey'],
  ['db', 'rootPassword'],
  ['db', 'password'],
] as const;

/** The original two-VM layout, used when no host lists roles. */
export const DEFAULT_LAYOUT: readonly Role[][] = [
  ['app', 'lb', 'db'],
  ['registry', 'dns'],
];
