import type { Answers, HostAnswers } from '../answers/schema';
import { remoteAgent, type HostAgent } from '../engine/agent';
import type { Connector } from '../engine/run';
import { SshError } from '../engine/transport';
import { connectHost, type SshConnection } from './connection';
import { sshSettingsFromAnswers, sshTargetFromAnswers, type InteractiveChoices, type SshSettings } from './settings';

/**
 * The engine's Connector over SSH. Which login works changes as the install
 * goes on: on a fresh VM only ssh.user (often root) on ssh.port; once the
 * admin phase ran, the admin user; once SSH is hardened, the admin user on
 * sshHardening.port, with root refused. So a connection tries the likely
 * logins in that order and uses the first that works.
 */
export interface SshConnector extends Connector {
  /** Host keys the user (or --accept-new-host-keys) accepted during this run, to pin into the answers file; the jump host's under JUMP_HOST. */
  readonly acceptedHostKeys: Map<string, string>;
}

/** The key under which acceptedHostKeys holds the jump host's fingerprint (no host name has a space). */
export const JUMP_HOST = 'jump host';

interface Login {
  user: string;
  port: number;
}

/** The logins to try, most converged first, without duplicates. */
export function loginCandidates(answers: Answers): Login[] {
  const { ssh, admin, sshHardening } = answers;
  const all: Login[] = [
    { user: admin.user, port: sshHardening.port },
    { user: admin.user, port: ssh.port },
    { user: ssh.user, port: ssh.port },
    { user: ssh.user, port: sshHardening.port },
  ];
  return all.filter((l, i) => all.findIndex((o) => o.user === l.user && o.port === l.port) === i);
}

/** The first answer to a question, reused for the same key (by default, any arguments). */
function once<A extends unknown[], R>(ask: (...args: A) => Promise<R>, keyOf: (...args: A) => string = () => ''): (...args: A) => Promise<R> {
  const answers = new Map<string, Promise<R>>();
  return (...args) => {
    const key = keyOf(...args);
    if (!answers.has(key)) answers.set(key, ask(...args));
    return answers.get(key)!;
  };
}

/** Failures after which another login may still work. */
const TRY_NEXT = new Set(['auth', 'refused', 'timeout']);

export function sshConnector(answers: Answers, answersDir: string, choices: InteractiveChoices): SshConnector {
  const acceptedHostKeys = new Map<string, string>();
  // Every host and every reconnection loads the key again: ask for a passphrase or sudo password once. Each
  // login tried is a new connection that shows the host key again: ask about a host's new key once.
  const base = sshSettingsFromAnswers(answers.ssh, answersDir, {
    ...choices,
    askPassphrase: choices.askPassphrase && once(choices.askPassphrase),
    askSudoPassword: choices.askSudoPassword && once(choices.askSudoPassword, (_host, user) => user),
    onNewHostKey: choices.onNewHostKey && once(choices.onNewHostKey, (question, fp) => `${question.jumpFor ? JUMP_HOST : question.name} ${fp}`),
  });

  const open = async (host: HostAnswers, user: string, port: number): Promise<SshConnection> => {
    // The admin user's sudo password is admin.password when it has one.
    const sudoPassword = user === answers.admin.user && answers.admin.password ? answers.admin.password : base.sudoPassword;
    const settings: SshSettings = { ...base, user, sudoPassword };
    const target = { ...sshTargetFromAnswers(host, answers.ssh), port, hostKey: host.hostKey ?? acceptedHostKeys.get(host.name) };
    const jumpKey = acceptedHostKeys.get(JUMP_HOST);
    if (settings.jumpHost && jumpKey && !settings.jumpHost.hostKey) settings.jumpHost = { ...settings.jumpHost, hostKey: jumpKey };
    const conn = await connectHost(target, settings);
    if (conn.hostKey.source === 'accepted') acceptedHostKeys.set(host.name, conn.hostKey.fingerprint);
    if (conn.jumpHostKey?.source === 'accepted') acceptedHostKeys.set(JUMP_HOST, conn.jumpHostKey.fingerprint);
    return conn;
  };

  const connect = async (host: HostAnswers): Promise<HostAgent> => {
    const failures: { login: Login; error: SshError }[] = [];
    for (const login of loginCandidates(answers)) {
      try {
        return remoteAgent(await open(host, login.user, login.port));
      } catch (err) {
        if (!(err instanceof SshError) || !TRY_NEXT.has(err.kind)) throw err;
        failures.push({ login, error: err });
      }
    }
    // The most telling failure: a refused login says more than a closed port. Of those alike, the one of the
    // login the user configured (ssh.user on ssh.port), not of a login berth only tried in passing.
    const kind = (['auth', 'timeout'] as const).find((k) => failures.some((f) => f.error.kind === k)) ?? failures[0].error.kind;
    const alike = failures.filter((f) => f.error.kind === kind);
    const best = (alike.find((f) => f.login.user === answers.ssh.user && f.login.port === answers.ssh.port) ?? alike[0]).error;
    throw new SshError(
      best.kind,
      `${best.message}${failures.length > 1 ? `\n(tried ${loginCandidates(answers).map((l) => `${l.user} on port ${l.port}`).join(', ')})` : ''}`,
      best.hint,
    );
  };

  return {
    acceptedHostKeys,
    connect,
    connectAs: async (host, user) => {
      const ports = [...new Set([answers.sshHardening.port, answers.ssh.port])];
      let last: unknown;
      for (const port of ports) {
        try {
          return remoteAgent(await open(host, user, port));
        } catch (err) {
          last = err;
          if (!(err instanceof SshError) || !TRY_NEXT.has(err.kind)) throw err;
        }
      }
      throw last;
    },
    open: (host, user, port) => open(host, user, port ?? answers.ssh.port),
  };
}
