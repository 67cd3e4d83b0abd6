import { posix } from 'node:path';
import type { LargeUpload, UploadEntry } from '../engine/transport';
import { shellCommand, shq } from '../shell';

/**
 * The command lines and scripts berth sends to hosts, as pure functions.
 *
 * Every command runs as `[sudo] [timeout] bash -c BOOTSTRAP`. Its stdin
 * starts with two NUL-terminated fields: the sudo password line (empty
 * without one) and the script. sudo -S reads the password line byte by byte
 * and stops at its newline; the bootstrap then reads up to the next NUL and
 * throws that away, whether it is empty (sudo took the password) or the
 * password itself (sudo did not ask for it, e.g. because the sudoers rule
 * became NOPASSWD during the run): the password is never run as a command.
 * It reads the script up to the second NUL (bash reads a pipe one byte at a
 * time, so nothing after it is consumed) and evaluates it with errexit,
 * nounset and pipefail; what follows is the script's own stdin. So the
 * command line is always the same short text, scripts of any length fit,
 * and no value ever lands on it.
 */

/** How a command gets its privileges. */
export type Privilege = 'login' | 'sudo' | 'sudo-password';

/** Exit code of the bootstrap when the script did not arrive whole. */
export const SCRIPT_NOT_RECEIVED = 97;

export const BOOTSTRAP = `IFS= read -r -d "" berth_script && IFS= read -r -d "" berth_script || exit ${SCRIPT_NOT_RECEIVED}; set -euo pipefail; eval "$berth_script"`;

/** Seconds the host's `timeout` waits after TERM before it sends KILL. */
export const KILL_AFTER_SECONDS = 10;

/** Exit codes of `timeout` when it stopped the command (TERM, then KILL). */
export const TIMEOUT_EXIT_CODES: readonly number[] = [124, 128 + 9];

export function sudoPrefix(privilege: Privilege): string[] {
  switch (privilege) {
    case 'login':
      return [];
    case 'sudo':
      return ['sudo', '-n', '--'];
    case 'sudo-password':
      // -k: never use cached credentials, so sudo always reads the password line we send first.
      return ['sudo', '-S', '-p', '', '-k', '--'];
  }
}

/** The command line for a script. `timeoutSeconds` 0: no time limit on the host. */
export function scriptCommand(privilege: Privilege, timeoutSeconds: number): string {
  const timeout = timeoutSeconds > 0 ? ['timeout', '-k', KILL_AFTER_SECONDS, timeoutSeconds] : [];
  return shellCommand([...sudoPrefix(privilege), ...timeout, 'bash', '-c', BOOTSTRAP]);
}

/** The line sudo -S reads its password from. */
export function sudoPasswordLine(password: string): Buffer {
  if (/[\n\r]/.test(password)) throw new Error('a sudo password cannot contain a line break');
  return Buffer.from(`${password}\n`);
}

/** What goes on stdin ahead of the script's own input: the sudo password line (if any) and a NUL, the script and a NUL. */
export function scriptPreamble(script: string, sudoPassword?: string): Buffer {
  if (script.includes('\0')) throw new Error('a script cannot contain a NUL byte');
  const nul = Buffer.from([0]);
  return Buffer.concat([sudoPassword === undefined ? Buffer.alloc(0) : sudoPasswordLine(sudoPassword), nul, Buffer.from(script), nul]);
}

/**
 * `sudo -n true`: succeeds when sudo needs no password. In the C locale, because
 * the caller tells "a password is required" from other refusals by its words.
 */
export const SUDO_PROBE = shellCommand(['env', 'LC_ALL=C', 'sudo', '-n', 'true']);
/** Checks a sudo password sent on stdin; fails when sudo refuses it. */
export const SUDO_PASSWORD_CHECK = shellCommand(['sudo', '-S', '-p', '', '-k', 'true']);

function absolute(path: string): string {
  if (!posix.isAbsolute(path) || /[\0\n]/.test(path)) throw new Error(`"${path}" is not an absolute path on the host`);
  return posix.normalize(path);
}

/** Where a file waits beside its target (same directory, so the same filesystem) before the rename. */
export function stagedPath(target: string, tag: string, index: number): string {
  return posix.join(posix.dirname(absolute(target)), `.berth-upload.${tag}.${index}`);
}

function ownerSpec(owner?: string, group?: string): string | undefined {
  if (owner && group) return `${owner}:${group}`;
  if (owner) return owner;
  if (group) return `:${group}`;
  return undefined;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/** chmod, then chown when an owner or group is given. */
function modeLines(path: string, mode: number, owner?: string, group?: string): string[] {
  const spec = ownerSpec(owner, group);
  return [shellCommand(['chmod', octal(mode), '--', path]), ...(spec ? [shellCommand(['chown', spec, '--', path])] : [])];
}

/** Removes the staged files if the script stops before renaming them. */
function cleanupTrap(staged: readonly string[]): string[] {
  if (staged.length === 0) return [];
  return [`berth_staged=(${staged.map(shq).join(' ')})`, `trap 'rm -f -- "\${berth_staged[@]}"' EXIT`];
}

export interface UploadPlan {
  script: string;
  /** tar member name (relative to /) for each entry with content, in entry order. */
  members: { name: string; content: Buffer | string }[];
}

/**
 * The script that places `entries`: directories first (created, then mode
 * and owner), then files: tar on stdin extracts each beside its target,
 * then mode, owner, the entry's `validate` command on the staged file (the
 * old file stays when it refuses) and an atomic rename. Run as root.
 */
export function uploadPlan(entries: readonly UploadEntry[], tag: string): UploadPlan {
  const directories = entries.filter((entry) => entry.content === undefined);
  const files = entries
    .map((entry, index) => ({ entry, target: absolute(entry.path), staged: stagedPath(entry.path, tag, index) }))
    .filter(({ entry }) => entry.content !== undefined);
  const parents = [...new Set(files.map(({ target }) => posix.dirname(target)))];
  const lines = [
    ...cleanupTrap(files.map((file) => file.staged)),
    ...directories.flatMap((dir) => [shellCommand(['mkdir', '-p', '--', absolute(dir.path)]), ...modeLines(absolute(dir.path), dir.mode, dir.owner, dir.group)]),
    ...(parents.length ? [shellCommand(['mkdir', '-p', '--', ...parents])] : []),
    ...(files.length ? [shellCommand(['tar', '-x', '-f', '-', '-C', '/', '--no-same-owner', '--no-same-permissions'])] : []),
    ...files.flatMap(({ entry, target, staged }) => [
      ...modeLines(staged, entry.mode, entry.owner, entry.group),
      ...(entry.validate ? [shellCommand([...entry.validate, staged])] : []),
      shellCommand(['mv', '-f', '-T', '--', staged, target]),
    ]),
    ...(files.length ? ['trap - EXIT'] : []),
  ];
  return {
    script: `${lines.join('\n')}\n`,
    members: files.map(({ entry, staged }) => ({ name: staged.slice(1), content: entry.content! })),
  };
}

/** Exit codes of the large upload script, so that the caller can say what went wrong. */
export const LARGE_UPLOAD_SHORT = 98;
export const LARGE_UPLOAD_CHECKSUM = 99;

/**
 * The script that receives a large file: exactly `size` bytes from stdin
 * (dd with count_bytes never reads past its count; blocks of 64 KiB, a
 * pipe's capacity, keep the bytes flowing instead of waiting for 1 MiB to
 * gather), written to a staged file beside the target by tee, which also
 * feeds them to `openssl dgst` (several times faster than sha256sum, which
 * stands in when openssl is missing): the SHA-256 is ready when the last byte
 * lands, instead of costing a second pass over the file afterwards. Then the
 * byte count, one line with the SHA-256 the sender computed, which must
 * match, then mode, owner and an atomic rename.
 */
export function largeUploadScript(upload: Pick<LargeUpload, 'remotePath' | 'mode' | 'owner' | 'group'>, size: number, tag: string): string {
  const target = absolute(upload.remotePath);
  const staged = stagedPath(target, tag, 0);
  return [
    ...cleanupTrap([staged]),
    shellCommand(['mkdir', '-p', '--', posix.dirname(target)]),
    `if command -v openssl >/dev/null 2>&1; then berth_sha256() { openssl dgst -sha256 -r; }; else berth_sha256() { sha256sum; }; fi`,
    `actual=$(umask 077 && dd bs=64K iflag=fullblock,count_bytes count=${size} status=none | tee -- ${shq(staged)} | berth_sha256)`,
    `received=$(stat -c %s -- ${shq(staged)})`,
    `if [ "$received" != ${size} ]; then echo "berth: received $received of ${size} bytes" >&2; exit ${LARGE_UPLOAD_SHORT}; fi`,
    `IFS= read -r expected || true`,
    `actual=\${actual%% *}`,
    `if [ "$actual" != "$expected" ]; then echo "berth: checksum mismatch: sent $expected, received $actual" >&2; exit ${LARGE_UPLOAD_CHECKSUM}; fi`,
    ...modeLines(staged, upload.mode, upload.owner, upload.group),
    shellCommand(['mv', '-f', '-T', '--', staged, target]),
    'trap - EXIT',
    '',
  ].join('\n');
}
