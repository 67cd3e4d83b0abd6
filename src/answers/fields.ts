import { REDACTED } from '../engine/redact';

/**
 * Checks of single answers, each returning why a value is refused or null
 * when it is fine. The schema applies them to the file and the wizard to each
 * answer as it is typed, so that both refuse the same things in the same words.
 */

export const UNIX_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
export const UNIX_NAME_MESSAGE = 'must be a Unix user name: lowercase letters, digits, _ and -, at most 32, not starting with a digit or -';

export function unixNameProblem(value: string): string | null {
  return UNIX_NAME.test(value) ? null : UNIX_NAME_MESSAGE;
}

/**
 * Accounts a Debian 12 system has or may get, by name: the static ones of
 * base-passwd (/usr/share/base-passwd/passwd.master: root … nobody), then
 * those packages of a server create (_apt by apt, messagebus by dbus, sshd by
 * openssh-server, systemd-* by systemd). Making one of them the sudo user
 * berth logs in as would hand a service's account a shell and sudo. This
 * catches the names only: whether an account exists on a host, with which
 * uid, is for the host to say (the admin phase refuses an existing account
 * whose home is not the one berth gives its admin user).
 */
const SYSTEM_ACCOUNTS: readonly string[] = [
  'root', 'daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy',
  'www-data', 'backup', 'list', 'irc', 'nobody', '_apt', 'messagebus', 'sshd',
];

/** The account berth makes on the app host for the pipelines' key (ci.deployKeys). */
export const DEPLOY_USER = 'berth-deploy';

export function systemAccountProblem(value: string): string | null {
  if (value === DEPLOY_USER) return `${value} is the deploy user berth makes for the pipelines (ci.deployKeys), allowed only to deploy; choose another name such as berth`;
  return SYSTEM_ACCOUNTS.includes(value) || value.startsWith('systemd-')
    ? `${value} is a system account of Debian; berth creates the admin user as a new account, so choose a name of your own such as berth`
    : null;
}

/** admin.user: a Unix name (the schema checks its form with UNIX_NAME, keeping the pattern in the JSON Schema) and no system account. */
export function adminUserProblem(value: string): string | null {
  return unixNameProblem(value) ?? systemAccountProblem(value);
}

export function portProblem(value: number): string | null {
  return Number.isInteger(value) && value >= 1 && value <= 65535 ? null : 'must be a port number, 1 to 65535';
}

/** The user and password part of a URL (https://USER:PASSWORD@host/…). */
export const USERINFO = /^(https?:\/\/)([^\s/@]*)@/;

/** A URL as it may appear in a message: credentials in it masked. */
export const shownUrl = (value: string): string => value.replace(USERINFO, `$1${REDACTED}@`);

export function urlProblem(value: string): string | null {
  return /^https?:\/\/[^\s/]+(\/\S*)?$/.test(value) ? null : `"${shownUrl(value)}" is not an http:// or https:// URL`;
}

/**
 * The most items each list takes. Every host is connected to at once and
 * every list becomes rules or lines of config on each host, so a list far
 * longer than any real platform needs is a mistake (or a generated file gone wrong).
 */
export const LIST_LIMITS = {
  hosts: 32,
  authorizedKeys: 32,
  upstreams: 8,
  registryMirrors: 16,
  trustedCAs: 32,
  adminCidrs: 64,
  openPorts: 64,
  from: 64,
  allowedHosts: 32,
} as const;

export function listLengthProblem(count: number, max: number): string | null {
  return count > max ? `lists ${count} items; berth takes at most ${max}` : null;
}

/** Why a secret's value cannot be shown: YAML read it as something else than text. */
export function secretTypeProblem(value: unknown): string {
  if (value === null) return 'is empty; give the secret itself, env:NAME or file:PATH (or remove the line)';
  return `must be text, but YAML reads it as ${Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'a mapping' : `a ${typeof value}`} (the value is not shown: it is a secret); put it in quotes ("…")`;
}
