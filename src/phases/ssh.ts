import { everyHost, HostProblem, type Phase } from '../engine/phase';
import type { Action } from '../engine/plan';
import { revertPendingScript } from '../engine/commands';
import { shellCommand, shq } from '../shell';
import { renderSshdDropIn, SSHD_DROP_IN } from '../render/sshd';
import { previousAdminsCleanup, previousAdminsProbes } from './admin';
import { configDigest, fileActions, markerPath, type WantedFile } from './common';

/**
 * SSH hardening, after the admin user's key login was proven (the engine
 * reconnected as it after the admin phase): root's password locked (unless
 * sshHardening.lockRootPassword is false), an sshd drop-in that turns root
 * and password logins off (and moves the port), applied under the lockout
 * guard, root's shell optionally nologin, and what berth made for admin users
 * of earlier runs (admin.user renamed) removed.
 *
 * That cleanup belongs here, not in the admin phase: there berth may still
 * be connected as the former admin user (ssh.user), whose sudo rule it must
 * not take away before the new admin user's login is proven. Here the
 * engine has reconnected as the new one; the user berth is logged in as is
 * never cleaned up, whatever the answers say.
 */

const MARKER = 'sshd';
const ROLLBACK = '/var/lib/berth/rollback/ssh';

function wanted(ctx: Parameters<Phase['plan']>[0]): WantedFile[] {
  return [{ path: SSHD_DROP_IN, content: renderSshdDropIn(ctx.answers.sshHardening), mode: 0o644 }];
}

function reloadActions(socketActivated: boolean): Action[] {
  // With socket activation (Ubuntu 24.04) the listening ports come from ssh.socket, which a generator derives from sshd_config.
  return socketActivated
    ? [
        { kind: 'service', unit: 'ssh.socket', op: 'daemon-reload' },
        { kind: 'service', unit: 'ssh.socket', op: 'restart' },
      ]
    : [{ kind: 'service', unit: 'ssh.service', op: 'reload' }];
}

function reloadScript(socketActivated: boolean): string {
  return socketActivated ? 'systemctl daemon-reload\nsystemctl restart ssh.socket' : 'systemctl reload ssh.service';
}

export function sshdRisk(hardening: Parameters<typeof renderSshdDropIn>[0], admin: string): string {
  const settings = [`Port ${hardening.port}`, `PermitRootLogin ${hardening.rootLogin ? 'prohibit-password' : 'no'}`, `PasswordAuthentication ${hardening.passwordLogin ? 'yes' : 'no'}`];
  return `with ${settings.join(', ')} a new SSH login as ${admin} on port ${hardening.port} did not work`;
}

/**
 * Fails, saying why, when sshd would not run with the hardened settings:
 * sshd keeps the first value it reads, so a file read before berth's
 * drop-in wins, and Port lines add up instead. Reads the files as they are
 * on disk, so it runs before the reload.
 */
export function effectiveSettingsCheckScript(hardening: Parameters<typeof renderSshdDropIn>[0], sshd: readonly string[] = ['/usr/sbin/sshd']): string {
  const wanted: [string, string[]][] = [
    // sshd -T prints prohibit-password by its older name.
    ['permitrootlogin', hardening.rootLogin ? ['prohibit-password', 'without-password'] : ['no']],
    ['passwordauthentication', [hardening.passwordLogin ? 'yes' : 'no']],
    ['kbdinteractiveauthentication', [hardening.passwordLogin ? 'yes' : 'no']],
  ];
  const earlier = `a file read before ${SSHD_DROP_IN} sets it (sshd keeps the first value): remove it there, or move it below the Include line of /etc/ssh/sshd_config`;
  return [
    `effective=$(${shellCommand([...sshd, '-T'])})`,
    'wrong=0',
    `ports=$(awk '$1 == "port" { print $2 }' <<<"$effective" | sort -un | paste -sd ' ')`,
    `if [ "$ports" != ${shq(hardening.port)} ]; then echo "berth: sshd would listen on port(s) $ports, not only on "${shq(`${hardening.port}: Port lines add up, remove the one outside ${SSHD_DROP_IN}`)} >&2; wrong=1; fi`,
    'setting() {',
    `  local value; value=$(awk -v key="$1" '$1 == key { print $2; exit }' <<<"$effective")`,
    `  case " $2 " in *" $value "*) ;; *) echo "berth: sshd would run with $1 $value, not $1 \${2%% *}: "${shq(earlier)} >&2; wrong=1;; esac`,
    '}',
    ...wanted.map(([key, values]) => shellCommand(['setting', key, values.join(' ')])),
    '[ "$wrong" = 0 ]',
  ].join('\n');
}

export const sshPhase: Phase = {
  name: 'ssh',
  title: 'SSH hardening',
  appliesTo: everyHost,
  query: (ctx) => ({
    files: [...wanted(ctx).map((f) => f.path), markerPath(MARKER)],
    units: ['ssh.socket'],
    probes: {
      include: "grep -Eiq '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\\.d/\\*\\.conf' /etc/ssh/sshd_config && echo yes",
      rootPassword: "passwd -S root | cut -d' ' -f2",
      rootShell: 'getent passwd root | cut -d: -f7',
      revert: revertPendingScript('ssh'),
      ...previousAdminsProbes,
    },
  }),
  plan(ctx, facts) {
    const { sshHardening, admin } = ctx.answers;
    if (facts.probes.include.out.trim() !== 'yes') {
      throw new HostProblem('/etc/ssh/sshd_config does not include /etc/ssh/sshd_config.d/*.conf, so berth cannot harden sshd with a drop-in', 'Add "Include /etc/ssh/sshd_config.d/*.conf" at the top of /etc/ssh/sshd_config.');
    }
    const actions: Action[] = [];
    if (sshHardening.lockRootPassword && facts.probes.rootPassword.out.trim() !== 'L') {
      actions.push({ kind: 'run', title: "lock root's password", script: 'passwd -l root', effects: [{ probe: 'rootPassword', code: 0, out: 'L\n' }] });
    }
    const files = wanted(ctx);
    const digest = configDigest(files);
    const changed = fileActions(facts, files);
    // A revert left pending by a killed run would undo the settings a minute from now: apply (and confirm) again.
    const pendingRevert = facts.probes.revert.out.trim() === 'pending';
    if (changed.length > 0 || pendingRevert || facts.files[markerPath(MARKER)]?.content !== digest) {
      const socket = facts.units['ssh.socket'].active === 'active';
      const saved = `${ROLLBACK}/${SSHD_DROP_IN.split('/').pop()}`;
      actions.push({
        kind: 'guarded',
        title: 'apply the sshd settings',
        backup: [`rm -rf ${ROLLBACK}`, `install -d -m 0700 ${ROLLBACK}`, `if [ -e ${shq(SSHD_DROP_IN)} ]; then cp -a ${shq(SSHD_DROP_IN)} ${shq(saved)}; fi`].join('\n'),
        actions: [
          ...changed,
          // sshd refuses to start with a broken configuration: test it before the reload, not after.
          { kind: 'run', title: 'check the sshd configuration (sshd -t)', script: 'install -d -m 0755 /run/sshd\n/usr/sbin/sshd -t' },
          { kind: 'run', title: 'check that sshd would take the hardened settings (sshd -T)', script: effectiveSettingsCheckScript(sshHardening) },
          ...reloadActions(socket),
          { kind: 'file', path: markerPath(MARKER), content: digest, mode: 0o600 },
        ],
        revert: [`if [ -e ${shq(saved)} ]; then cp -a ${shq(saved)} ${shq(SSHD_DROP_IN)}; else rm -f ${shq(SSHD_DROP_IN)}; fi`, `rm -f ${shq(markerPath(MARKER))}`, reloadScript(socket)].join('\n'),
        risk: sshdRisk(sshHardening, admin.user),
        // Unmoved, the proof goes where berth reached the host (behind a NAT mapping, not the port sshd reports). Moved, berth
        // only knows the new port itself: the proof works when nothing maps it, e.g. no NAT port forwarding in front of the host.
        ...(sshHardening.port !== ctx.info.sshPort ? { proofPort: sshHardening.port } : {}),
        effects: [{ probe: 'revert', code: 0, out: '' }],
      });
    }
    if (sshHardening.rootNologin && facts.probes.rootShell.out.trim() !== '/usr/sbin/nologin') {
      actions.push({ kind: 'run', title: "set root's shell to /usr/sbin/nologin", script: 'usermod -s /usr/sbin/nologin root', effects: [{ probe: 'rootShell', code: 0, out: '/usr/sbin/nologin\n' }] });
    }
    actions.push(...previousAdminsCleanup(facts, [admin.user, ctx.info.loginUser]));
    return actions;
  },
};
