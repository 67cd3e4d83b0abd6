import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveUserPath } from '../answers/load';
import type { Answers, HostAnswers } from '../answers/schema';
import type { Secret } from '../answers/secret';

/** The host to connect to. */
export interface SshTarget {
  /** The host's name in the answers file, used in every message. */
  name: string;
  address: string;
  /** Default 22. */
  port?: number;
  /** Pinned `SHA256:…` fingerprint: the only key accepted when set. */
  hostKey?: string;
}

/** The host a new key belongs to, as shown when asking whether to trust it. */
export interface HostKeyQuestion {
  name: string;
  address: string;
  port: number;
  /** Set when the question is about a jump host: the host it leads to. */
  jumpFor?: string;
}

export interface JumpHost {
  address: string;
  port?: number;
  /** Default: the login user. */
  user?: string;
  /** Pinned fingerprint of the jump host. */
  hostKey?: string;
}

/** How to log in and act on hosts; shared by every host of a run. */
export interface SshSettings {
  /** The login user. */
  user: string;
  privateKeyPath?: string;
  passphrase?: Secret;
  /** Asked only when the private key is encrypted and `passphrase` is not set. */
  askPassphrase?: (keyPath: string) => Promise<Secret | undefined>;
  password?: Secret;
  /** ssh-agent socket (SSH_AUTH_SOCK) whose keys are offered too. */
  agentSocket?: string;
  /** Default 20 s; covers the TCP connection, the SSH handshake and login. */
  connectTimeoutMs?: number;
  /** Default 15 s: a keepalive after this much silence… */
  keepaliveIntervalMs?: number;
  /** …and the connection counts as lost after this many unanswered (default 4). */
  keepaliveCountMax?: number;
  jumpHost?: JumpHost;
  /** sudo's password for the login user when sudo asks for one. */
  sudoPassword?: Secret;
  /** Asked when sudo needs a password and `sudoPassword` is not set. */
  askSudoPassword?: (host: SshTarget, user: string) => Promise<Secret | undefined>;
  /** An OpenSSH known_hosts file consulted for hosts without a pinned key. Default ~/.ssh/known_hosts; null: none. */
  knownHostsPath?: string | null;
  /** Asked when a host offers a key nothing vouches for. Absent: such a key is refused. */
  onNewHostKey?: (host: HostKeyQuestion, fingerprint: string) => Promise<boolean>;
  /** Tests only: changes a large upload's bytes after they were hashed, to prove that the host's check catches it. */
  tamperLargeUpload?: (chunk: Buffer) => Buffer;
}

export const DEFAULT_KNOWN_HOSTS = join(homedir(), '.ssh', 'known_hosts');

/** The prompts and choices that do not come from the answers file. */
export interface InteractiveChoices {
  askPassphrase?: SshSettings['askPassphrase'];
  askSudoPassword?: SshSettings['askSudoPassword'];
  onNewHostKey?: SshSettings['onNewHostKey'];
  /** The environment to read SSH_AUTH_SOCK from. */
  env?: NodeJS.ProcessEnv;
}

/** SshSettings from the answers file's `ssh` section; `answersDir` is the directory relative key paths start from. */
export function sshSettingsFromAnswers(ssh: Answers['ssh'], answersDir: string, choices: InteractiveChoices = {}): SshSettings {
  const env = choices.env ?? process.env;
  return {
    user: ssh.user,
    privateKeyPath: ssh.privateKey && resolveUserPath(ssh.privateKey, answersDir),
    passphrase: ssh.passphrase,
    askPassphrase: choices.askPassphrase,
    password: ssh.password,
    agentSocket: ssh.agent ? env.SSH_AUTH_SOCK || undefined : undefined,
    connectTimeoutMs: ssh.connectTimeout * 1000,
    jumpHost: ssh.jumpHost && { address: ssh.jumpHost.address, port: ssh.jumpHost.port, user: ssh.jumpHost.user, hostKey: ssh.jumpHost.hostKey },
    sudoPassword: ssh.sudoPassword,
    askSudoPassword: choices.askSudoPassword,
    onNewHostKey: choices.onNewHostKey,
  };
}

export function sshTargetFromAnswers(host: HostAnswers, ssh: Answers['ssh']): SshTarget {
  return { name: host.name, address: host.address, port: ssh.port, hostKey: host.hostKey };
}
