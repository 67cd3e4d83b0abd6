import { randomBytes, createHash } from 'node:crypto';
import { everyHost, HostProblem, type Phase } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { shellCommand, shq } from '../engine/shell';
import { renderAuthorizedKeys, renderSudoers } from '../render/admin';
import { fileActions, type WantedFile } from './common';

/**
 * The admin user: the sudo user berth creates and from then on connects as
 * (the engine reconnects after this phase, which proves the key login works
 * before the SSH phase turns root and password logins off).
 */

const PASSWORD_MARKER = '/var/lib/berth/applied/admin-password';

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

function wantedFiles(ctx: Parameters<Phase['plan']>[0], facts: Facts): WantedFile[] {
  const { admin } = ctx.answers;
  const path = keysPath(admin.user);
  return [
    { path, content: renderAuthorizedKeys(facts.files[path]?.content ?? null, ctx.local.adminKeys), mode: 0o600, owner: admin.user, group: admin.user },
    { path: sudoersPath(admin.user), content: renderSudoers(admin), mode: 0o440 },
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
    actions.push(...fileActions(facts, wantedFiles(ctx, facts)));
    if (admin.password) {
      const [salt, digest] = facts.probes.password.out.trim().split(' ');
      if (!salt || passwordDigest(admin.password.reveal(), salt) !== digest) {
        const newSalt = randomBytes(16).toString('hex');
        const marker = `${newSalt} ${passwordDigest(admin.password.reveal(), newSalt)}`;
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
    return actions;
  },
};
