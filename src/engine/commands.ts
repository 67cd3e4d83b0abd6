import type { ServiceOp } from './plan';
import { shellCommand, shq } from './shell';

/**
 * Pure builders of the shell the executor sends for each kind of action.
 * Unit tests pin them by exact string.
 */

const APT_OPTIONS = ['-o', 'DPkg::Lock::Timeout=600', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'];
export const APT_STAMP = '/var/lib/berth/apt-updated';

/**
 * First finish what an interrupted dpkg left half done (a run killed while
 * installing: apt-get refuses to go on until `dpkg --configure -a` ran; dpkg
 * keeps its pending work in /var/lib/dpkg/updates). Then apt-get update only
 * when the package lists are older than an hour or than any change to the
 * apt sources (so a repository berth just added is seen), and install
 * without recommends, keeping existing config files.
 */
export function installPackagesScript(packages: readonly string[]): string {
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    'if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then',
    `  ${shellCommand(['dpkg', '--force-confdef', '--force-confold', '--configure', '-a'])}`,
    'fi',
    `install -d -m 0700 ${shq('/var/lib/berth')}`,
    `if [ ! -e ${APT_STAMP} ] || [ -n "$(find ${APT_STAMP} -mmin +60)" ] || [ -n "$(find /etc/apt/sources.list /etc/apt/sources.list.d /etc/apt/keyrings -newer ${APT_STAMP} 2>/dev/null | head -n1)" ]; then`,
    `  ${shellCommand(['apt-get', ...APT_OPTIONS, '-q', 'update'])}`,
    `  touch ${APT_STAMP}`,
    'fi',
    shellCommand(['apt-get', ...APT_OPTIONS, '-q', '-y', 'install', '--no-install-recommends', ...packages]),
  ].join('\n');
}

export function serviceScript(unit: string, op: ServiceOp): string {
  switch (op) {
    case 'daemon-reload':
      return 'systemctl daemon-reload';
    case 'enable-now':
      return shellCommand(['systemctl', 'enable', '--now', unit]);
    case 'disable-now':
      return shellCommand(['systemctl', 'disable', '--now', unit]);
    default:
      return shellCommand(['systemctl', op, unit]);
  }
}

export function removeFileScript(path: string): string {
  return shellCommand(['rm', '-f', '--', path]);
}

/** The transient unit that restores the previous state unless the change is confirmed in time. */
export function revertUnitName(phase: string): string {
  return `berth-revert-${phase}`;
}

/**
 * The backup step of a guarded change, skipped while a change of the same
 * phase still waits for its automatic revert (a run was killed before
 * confirming it): what that change's backup saved is the last confirmed
 * state, and the host may now hold the unconfirmed change itself, which a
 * new backup would make the state to return to.
 */
export function backupUnlessRevertPending(phase: string, backup: string): string {
  return [
    `if systemctl is-active --quiet ${shq(`${revertUnitName(phase)}.timer`)}; then`,
    "  echo 'an unconfirmed change waits for its automatic revert: keeping the state saved before it'",
    'else',
    backup,
    'fi',
  ].join('\n');
}

export function scheduleRevertScript(phase: string, revert: string, seconds: number): string {
  const unit = revertUnitName(phase);
  return [
    // A revert left over from an interrupted run must not fire in the middle of this one.
    `systemctl stop ${shq(`${unit}.timer`)} ${shq(`${unit}.service`)} 2>/dev/null || true`,
    `systemctl reset-failed ${shq(`${unit}.service`)} ${shq(`${unit}.timer`)} 2>/dev/null || true`,
    // systemd expands $VAR and ${VAR} in the command of a unit; $$ is its escape for a literal $.
    shellCommand(['systemd-run', `--unit=${unit}`, `--on-active=${seconds}`, '--timer-property=AccuracySec=1s', '/bin/bash', '-c', revert.replace(/\$/g, '$$$$')]),
  ].join('\n');
}

/** A probe: prints "pending" while a change of this phase waits for its automatic revert (a run was killed before confirming it). */
export function revertPendingScript(phase: string): string {
  return `if systemctl is-active --quiet ${shq(`${revertUnitName(phase)}.timer`)}; then echo pending; fi`;
}

export function cancelRevertScript(phase: string): string {
  const unit = revertUnitName(phase);
  return `systemctl stop ${shq(`${unit}.timer`)} 2>/dev/null || true\nsystemctl reset-failed ${shq(`${unit}.service`)} ${shq(`${unit}.timer`)} 2>/dev/null || true`;
}

/** Has the scheduled revert run (its timer gone and its service finished)? Prints done or pending. */
export function revertStateScript(phase: string): string {
  const unit = revertUnitName(phase);
  return `if systemctl is-active --quiet ${shq(`${unit}.timer`)} || systemctl is-active --quiet ${shq(`${unit}.service`)}; then echo pending; else echo done; fi`;
}
