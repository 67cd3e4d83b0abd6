import { randomBytes, createHash } from 'node:crypto';
import { everyHost, HostProblem, type Phase } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { revertPendingScript } from '../engine/commands';
import { shellCommand, shq } from '../shell';
import { renderAuthorizedKeys, renderSudoers, SUDOERS_HEADER_BRE } from '../render/admin';
import { MANAGED_BLOCK } from '../render/managed';
import { fileActions, fileMatches, type WantedFile } from './common';

/**
 * The admin user: the sudo user berth creates and from then on connects as
 * (the engine reconnects after this phase, which proves the key login works
 * before the SSH phase turns root and password logins off).
 *
 * sudo must work at every moment, also when berth is connected as the admin
 * user itself (a cloud image's login user such as debian, whose NOPASSWD rule
 * berth's sudoers file overrides): the password is set first, the sudoers
 * rule last, checked by visudo before it replaces the old one, under the
 * lockout guard: a brand-new login as the admin user must get root through
 * sudo (with admin.password when sudo asks), or the old rule comes back.
 */

const PASSWORD_MARKER = '/var/lib/berth/applied/admin-password';
const ROLLBACK = '/var/lib/berth/rollback/admin';

/** A salted digest of the admin password, to know whether the host already has it without storing it. */
export function passwordDigest(password: string, salt: string): string {
  return createHash('sha256').update(`${salt}\0${password}`).digest('hex');
}

function home(user: string): string {
  return `/home/${user}`;
}

function keysPath(user: string): string {
  return `${home(user)}/.ssh/authorized_keys`;
}

function sudoersPath(user: string): string {
  return `/etc/sudoers.d/berth-${user}`;
}

function keysFile(ctx: Parameters<Phase['plan']>[0], facts: Facts): WantedFile {
  const { user } = ctx.answers.admin;
  const path = keysPath(user);
  return { path, content: renderAuthorizedKeys(facts.files[path]?.content ?? null, ctx.local.adminKeys), mode: 0o600, owner: user, group: user };
}

function sudoersFile(admin: Parameters<typeof renderSudoers>[0]): WantedFile {
  // sudo ignores files in /etc/sudoers.d whose name holds a dot, so the staged upload is never read before visudo accepted it.
  return { path: sudoersPath(admin.user), content: renderSudoers(admin), mode: 0o440, validate: ['visudo', '-cf'] };
}

/** The sudoers rule, written under the lockout guard: a new login as the admin user must reach root through sudo. */
function sudoersChange(file: WantedFile, user: string): Action {
  const saved = `${ROLLBACK}/sudoers`;
  return {
    kind: 'guarded',
    title: `apply the sudo rule of ${user}`,
    backup: [`rm -rf ${ROLLBACK}`, `install -d -m 0700 ${ROLLBACK}`, `if [ -e ${shq(file.path)} ]; then cp -a ${shq(file.path)} ${shq(saved)}; fi`].join('\n'),
    actions: [{ kind: 'file', ...file }],
    revert: `if [ -e ${shq(saved)} ]; then cp -a ${shq(saved)} ${shq(file.path)}; else rm -f ${shq(file.path)}; fi`,
    risk: `with ${file.path} a new SSH login as ${user} could not run commands as root through sudo`,
    proofUser: user,
    effects: [{ probe: 'revert', code: 0, out: '' }],
  };
}

/**
 * The admin users of earlier runs (admin.user renamed since), found by
 * berth's own sudoers files: one name a line. For the query of the phase
 * that cleans up after them (the SSH phase, once berth is connected as the
 * current admin user).
 */
export const previousAdminsProbes = {
  previousAdmins: `sed -s -n ${shq(`1s/${SUDOERS_HEADER_BRE}/\\1/p`)} /etc/sudoers.d/berth-* 2>/dev/null || true`,
};

/**
 * Removes what berth made for earlier admin users, except those in `keep`
 * (the admin user, the user berth is logged in as), and nothing else: berth's
 * block in their authorized_keys (other lines stay; a symlink is left
 * alone), then berth's sudoers file, last, as it is what finds the user
 * again after an interruption. The accounts, their homes and other keys stay.
 */
export function previousAdminsCleanup(facts: Facts, keep: readonly string[]): Action[] {
  const listed = facts.probes.previousAdmins.out.split('\n').filter(Boolean);
  const former = listed.filter((user) => !keep.includes(user));
  if (former.length === 0) return [];
  const block = `/^${MANAGED_BLOCK.begin}$/,/^${MANAGED_BLOCK.end}$/d`;
  return [
    {
      kind: 'run',
      title: `remove berth's sudo rule and keys of the former admin user${former.length > 1 ? 's' : ''} ${former.join(', ')}`,
      script: former
        .flatMap((user) => {
          const keys = keysPath(user);
          return [`if [ -f ${shq(keys)} ] && [ ! -L ${shq(keys)} ]; then ${shellCommand(['sed', '-i', block, keys])}; fi`, shellCommand(['rm', '-f', '--', sudoersPath(user)])];
        })
        .join('\n'),
      effects: [{ probe: 'previousAdmins', code: 0, out: listed.filter((user) => keep.includes(user)).map((user) => `${user}\n`).join('') }],
    },
  ];
}

export const adminPhase: Phase = {
  name: 'admin',
  title: 'admin user',
  appliesTo: everyHost,
  // From here on berth connects as the user this phase created: the proof that its key login works.
  reconnectAs: (answers) => answers.admin.user,
  query(ctx) {
    const user = ctx.answers.admin.user;
    return {
      packages: ['sudo'],
      files: [keysPath(user), sudoersPath(user)],
      probes: {
        account: `getent passwd ${shq(user)} | cut -d: -f6,7`,
        sshDir: `stat -c '%a %U %G' ${shq(`${home(user)}/.ssh`)}`,
        password: `cat ${PASSWORD_MARKER}`,
        revert: revertPendingScript('admin'),
      },
    };
  },
  plan(ctx, facts) {
    const { admin } = ctx.answers;
    const user = admin.user;
    const actions: Action[] = [];
    if (!facts.packages.sudo) actions.push({ kind: 'packages', install: ['sudo'] });
    const account = facts.probes.account.out.trim();
    const wantedAccount = `${home(user)}:/bin/bash`;
    if (account === '') {
      actions.push({
        kind: 'run',
        title: `create the user ${user}`,
        script: shellCommand(['useradd', '--create-home', '--home-dir', home(user), '--shell', '/bin/bash', '--user-group', user]),
        effects: [{ probe: 'account', code: 0, out: `${wantedAccount}\n` }],
      });
    } else if (!account.startsWith(`${home(user)}:`)) {
      throw new HostProblem(`the user ${user} exists with the home directory ${account.split(':')[0]}, not ${home(user)}`, 'Choose another admin.user; berth creates and manages it.');
    }
    const wantedSshDir = `700 ${user} ${user}`;
    if (facts.probes.sshDir.out.trim() !== wantedSshDir) {
      actions.push({
        kind: 'run',
        title: `create ${home(user)}/.ssh`,
        script: shellCommand(['install', '-d', '-m', '0700', '-o', user, '-g', user, `${home(user)}/.ssh`]),
        effects: [{ probe: 'sshDir', code: 0, out: `${wantedSshDir}\n` }],
      });
    }
    actions.push(...fileActions(facts, [keysFile(ctx, facts)]));
    // The password before the sudo rule that asks for it: until the rule is in place, sudo works as it did.
    if (admin.password) {
      const [salt, digest] = facts.probes.password.out.trim().split(' ');
      // Of the user too: a renamed admin user with the same password still needs it set.
      const secret = `${user}:${admin.password.reveal()}`;
      if (!salt || passwordDigest(secret, salt) !== digest) {
        const newSalt = randomBytes(16).toString('hex');
        const marker = `${newSalt} ${passwordDigest(secret, newSalt)}`;
        actions.push({
          kind: 'run',
          title: `set the password of ${user}`,
          // chpasswd reads "user:password" from stdin: the password is never on a command line.
          script: `chpasswd\ninstall -d -m 0700 /var/lib/berth/applied\necho ${shq(marker)} > ${PASSWORD_MARKER}\nchmod 600 ${PASSWORD_MARKER}`,
          stdin: admin.password.map((pw) => `${user}:${pw}\n`),
          effects: [{ probe: 'password', code: 0, out: `${marker}\n` }],
        });
      }
    }
    const sudoers = sudoersFile(admin);
    // A revert left pending by a killed run would bring the old rule back a minute from now: apply (and confirm) again.
    if (!fileMatches(facts.files[sudoers.path], sudoers) || facts.probes.revert.out.trim() === 'pending') actions.push(sudoersChange(sudoers, user));
    return actions;
  },
};
