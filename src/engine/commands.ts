import type { ServiceOp } from './plan';
import { shellCommand, shq } from '../shell';

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

/** The units that restore the previous state unless the change is confirmed in time. */
export function revertUnitName(phase: string): string {
  return `berth-revert-${phase}`;
}

export const REVERT_DIR = '/var/lib/berth/revert';

/**
 * A guarded change's revert lives in unit files, not in a transient unit: an
 * enabled timer starts again at boot, so a reboot inside the window reverts
 * too (the window then counts from the boot). Its state file says pending,
 * reverted or cancelled; the revert and the confirmation each claim it under
 * flock, so exactly one of them wins, and berth learns which.
 */
export function revertPaths(phase: string) {
  const unit = revertUnitName(phase);
  return {
    timer: `${unit}.timer`,
    service: `${unit}.service`,
    timerPath: `/etc/systemd/system/${unit}.timer`,
    servicePath: `/etc/systemd/system/${unit}.service`,
    script: `${REVERT_DIR}/${phase}.sh`,
    state: `${REVERT_DIR}/${phase}.state`,
    lock: `${REVERT_DIR}/${phase}.lock`,
  };
}

const claimRevertState = (phase: string) => [`exec 9> ${shq(revertPaths(phase).lock)}`, 'flock 9'];

export function revertTimerUnit(phase: string, seconds: number): string {
  return `[Unit]
Description=berth: revert the unconfirmed ${phase} change

[Timer]
OnActiveSec=${seconds}
AccuracySec=1s
RemainAfterElapse=no

[Install]
WantedBy=timers.target
`;
}

export function revertServiceUnit(phase: string): string {
  return `[Unit]
Description=berth: revert the unconfirmed ${phase} change

[Service]
Type=oneshot
ExecStart=/bin/bash ${revertPaths(phase).script}
`;
}

/** What the revert unit runs: the phase's revert, only while the change is still pending. */
export function revertUnitScript(phase: string, revert: string): string {
  const p = revertPaths(phase);
  return [
    '#!/bin/bash',
    `# berth: restores the state from before an unconfirmed ${phase} change, unless berth confirmed it first.`,
    ...claimRevertState(phase),
    `[ "$(cat ${shq(p.state)} 2>/dev/null)" = pending ] || exit 0`,
    `echo reverted > ${shq(p.state)}`,
    '# Not again at the next boot.',
    `systemctl disable ${shq(p.timer)} 2>/dev/null`,
    revert,
    '',
  ].join('\n');
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
  const p = revertPaths(phase);
  return [
    `install -d -m 0700 ${REVERT_DIR}`,
    // Waits for a revert under way; one left over from an interrupted run must not fire in the middle of this one.
    ...claimRevertState(phase),
    `systemctl disable --now ${shq(p.timer)} 2>/dev/null || true`,
    `systemctl reset-failed ${shq(p.service)} ${shq(p.timer)} 2>/dev/null || true`,
    `printf '%s' ${shq(revertUnitScript(phase, revert))} > ${shq(p.script)}`,
    `printf '%s' ${shq(revertServiceUnit(phase))} > ${shq(p.servicePath)}`,
    `printf '%s' ${shq(revertTimerUnit(phase, seconds))} > ${shq(p.timerPath)}`,
    `echo pending > ${shq(p.state)}`,
    'systemctl daemon-reload',
    `systemctl enable --now ${shq(p.timer)}`,
  ].join('\n');
}

/** A probe: prints "pending" while a change of this phase waits for its automatic revert (a run was killed before confirming it). */
export function revertPendingScript(phase: string): string {
  return `if systemctl is-active --quiet ${shq(`${revertUnitName(phase)}.timer`)}; then echo pending; fi`;
}

/**
 * Confirms the change: prints "confirmed", or "reverted" when the revert
 * claimed it first (it fired between berth's last check and now). Either way
 * the units are gone afterwards.
 */
export function cancelRevertScript(phase: string): string {
  const p = revertPaths(phase);
  return [
    `install -d -m 0700 ${REVERT_DIR}`,
    ...claimRevertState(phase),
    `state=$(cat ${shq(p.state)} 2>/dev/null || true)`,
    `systemctl disable --now ${shq(p.timer)} 2>/dev/null || true`,
    `rm -f ${shq(p.timerPath)} ${shq(p.servicePath)} ${shq(p.script)}`,
    'systemctl daemon-reload',
    `systemctl reset-failed ${shq(p.service)} ${shq(p.timer)} 2>/dev/null || true`,
    `if [ "$state" = reverted ]; then echo reverted; else echo cancelled > ${shq(p.state)}; echo confirmed; fi`,
  ].join('\n');
}

/** Has the scheduled revert run? Prints done or pending (waiting for a revert under way to finish). */
export function revertStateScript(phase: string): string {
  return [...claimRevertState(phase), `if [ "$(cat ${shq(revertPaths(phase).state)} 2>/dev/null)" = reverted ]; then echo 'done'; else echo pending; fi`].join('\n');
}
