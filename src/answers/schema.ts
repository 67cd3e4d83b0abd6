import { z } from 'zod';
import { imageReferenceProblem } from './image-ref';
import { addressProblem, cidrProblem, ipProblem } from './net';
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

const UNIX_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const HOST_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PROJECT_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const HOST_KEY = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const SIZE = /^[1-9][0-9]*[kmg]$/;
const PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;

function checked(problem: (value: string) => string | null) {
  return (value: string, ctx: z.RefinementCtx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  };
}

const port = z.number().int().min(1).max(65535);
const address = z.string().superRefine(checked(addressProblem));
const ip = z.string().superRefine(checked(ipProblem));
const cidr = z.string().superRefine(checked(cidrProblem));
const url = z.string().superRefine(
  checked((value) => (/^https?:\/\/[^\s/]+(\/\S*)?$/.test(value) ? null : `"${value}" is not an http:// or https:// URL`)),
);

export function answersSchema(env: AnswersEnvironment) {
  /** A secret: written literally, or as env:NAME or file:PATH. `strength` checks passwords berth sets. */
  const secret = (strength: 'password' | 'existing') =>
    z
      .string()
      .min(1)
      .transform((ref, ctx) => {
        const resolved = env.resolveSecret(ref);
        if ('error' in resolved) {
          ctx.addIssue({ code: 'custom', message: resolved.error });
          return z.NEVER;
        }
        // A line break would reach chpasswd or sudo -S as a second line (another account's password).
        const control = controlCharacterReason(resolved.value);
        if (control) {
          ctx.addIssue({ code: 'custom', message: `this secret ${control}` });
          return z.NEVER;
        }
        // A refused value is never used, so it is not registered for redaction: a common
        // word such as "password" would otherwise be masked in every message, field names included.
        const weak = strength === 'password' ? weakPasswordReason(resolved.value) : null;
        if (weak) {
          ctx.addIssue({ code: 'custom', message: `this password ${weak}` });
          return z.NEVER;
        }
        return new Secret(resolved.value, resolved.source);
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
      user: z.string().regex(UNIX_NAME).default('root').meta({ description: 'The user berth connects as on a fresh VM (often root).' }),
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
          user: z.string().regex(UNIX_NAME).optional().meta({ description: 'Defaults to ssh.user.' }),
          hostKey: z.string().regex(HOST_KEY, 'must be an SSH host key fingerprint, SHA256:… (43 characters)').optional().meta({ description: "Pinned SHA256 fingerprint of the jump host's key, filled in on first connect." }),
        })
        .optional()
        .meta({ description: 'A bastion to connect through, like OpenSSH ProxyJump.' }),
      connectTimeout: z.number().int().min(1).max(300).default(20).meta({ description: 'Seconds to wait for a connection.' }),
    })
    .prefault({});

  const admin = z
    .strictObject({
      user: z.string().regex(UNIX_NAME).default('berth').meta({ description: 'The sudo user berth creates and then connects as.' }),
      authorizedKeys: z
        .array(z.string().regex(PUBLIC_KEY, 'must be one public key line, e.g. "ssh-ed25519 AAAA… me@laptop"'))
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
    roles: z.array(z.enum(ROLES)).optional().meta({ description: 'What runs here. Omit on every host of a two-host file for the original layout: the first app+lb+db, the second registry+dns.' }),
    hostKey: z.string().regex(HOST_KEY, 'must be an SSH host key fingerprint, SHA256:… (43 characters)').optional().meta({ description: 'Pinned SHA256 host key fingerprint, filled in on first connect.' }),
  });

  const upstream = z.string().superRefine(
    checked((value) =>
      isDnsPreset(value) || !ipProblem(value)
        ? null
        : `"${value}" is neither a DNS preset (${DNS_PRESET_NAMES.join(', ')}) nor an IP address`,
    ),
  );

  const dns = z
    .strictObject({
      mode: z.enum(['forwarder', 'direct', 'off']).default('forwarder').meta({
        description: 'forwarder: the dns host forwards to the upstreams and every other host resolves through it; direct: every host uses the upstreams; off: resolvers are left alone.',
      }),
      upstreams: z.array(upstream).min(1).default(['shecan']).meta({ description: `Presets (${DNS_PRESET_NAMES.join(', ')}) or IP addresses.` }),
    })
    .prefault({});

  const docker = z
    .strictObject({
      source: z.enum(['official', 'distro', 'bundle']).default('official').meta({
        description: "official: Docker's apt repository (or aptMirror); distro: the distribution's docker.io; bundle: packages from an offline bundle.",
      }),
      aptMirror: url.optional().meta({ description: "Base URL of a mirror of https://download.docker.com/linux, for regions that cannot reach Docker's site." }),
      bundle: filePath.optional().meta({ description: 'Offline bundle of Docker packages (source: bundle).' }),
      registryMirrors: z.array(url).default([]).meta({ description: 'Docker Hub mirrors for the daemon (registry-mirrors).' }),
      trustedCAs: z
        .array(
          z.strictObject({
            registry: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be host or host:port'),
            ca: certificateFile.meta({ description: 'PEM file of the CA certificate.' }),
          }),
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
    .prefault({});

  const openPort = z.union([
    port,
    z.strictObject({
      port,
      protocol: z.enum(['tcp', 'udp']).default('tcp'),
      from: z.array(cidr).optional().meta({ description: 'Source CIDRs; anywhere when omitted.' }),
    }),
  ]);

  const firewall = z
    .strictObject({
      adminCidrs: z.array(cidr).min(1).default(['0.0.0.0/0', '::/0']).meta({ description: 'Who may reach SSH and the registry from outside the cluster.' }),
      openPorts: z.array(openPort).default([]).meta({ description: 'Extra ports to open on every host.' }),
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
      replicas: z.number().int().min(1).max(20).default(2),
      domain: address.optional().meta({ description: 'The name the app is served under.' }),
      allowedHosts: z.array(z.string().min(1)).default([]),
      secretKey: secret('password').optional().meta({ description: "Django's SECRET_KEY." }),
    })
    .prefault({});

  const db = z
    .strictObject({
      nodes: z
        .number()
        .int()
        .min(3)
        .max(9)
        .refine((n) => n % 2 === 1, 'must be odd (3, 5, 7 or 9) so that a majority survives a failure')
        .default(3)
        .meta({ description: 'MariaDB Galera nodes, spread over the db hosts.' }),
      name: z.string().regex(/^[A-Za-z0-9_]{1,64}$/).default('app'),
      user: z.string().regex(/^[A-Za-z0-9_]{1,32}$/).default('app'),
      rootPassword: secret('password').optional(),
      password: secret('password').optional(),
    })
    .prefault({});

  return z.strictObject({
    version: z
      .literal(ANSWERS_VERSION, { error: `this berth reads answers files of version ${ANSWERS_VERSION}` })
      .default(ANSWERS_VERSION),
    project: z.string().regex(PROJECT_NAME, 'must be lowercase letters, digits and -').default('app').meta({ description: 'Names /opt/berth/<project> on the hosts.' }),
    ssh,
    admin,
    hosts: z.array(host).min(1),
    dns,
    docker,
    firewall,
    sshHardening,
    registry,
    app,
    db,
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
