import { everyHost, hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { assetText } from '../assets';
import { managedHeader, managedScript } from '../render/managed';
import { appComposePath } from '../render/stack';
import {
  APP_ROLL_ON_HOST,
  KEPT_IMAGES_ON_HOST,
  composeTemplatePath,
  deployKitDir,
  DEPLOY_HOME,
  DEPLOY_KEYS_PATH,
  DEPLOY_PROGRAM,
  DEPLOY_SUDOERS_PATH,
  DEPLOY_USER,
  releaseConfPath,
  renderDeployAuthorizedKeys,
  renderDeploySudoers,
  renderReleaseConf,
} from '../render/deploy-user';
import { shellCommand, shq } from '../shell';
import { appRepository } from './app-image';
import { unusedImagesScript } from './app-prune';
import { composeTemplate, recordStarted, rollArguments } from './app';
import { fileActions, type WantedFile } from './common';
import { pendingReleasePath, releasesPath } from './release';

/**
 * The deploy user on the app host, when ci.deployKeys lists keys
 * (render/deploy-user.ts): the account (no password, a home of root's),
 * its keys restricted to the forced command, the sudo rule for exactly that
 * command, the program (assets/scripts/berth-deploy.sh) with the roll it
 * shares with the app phase, and the settings of this project's app.
 * Where the answers want no deploy user (no keys, or not the app host), one
 * berth made is taken away, its sudo rule first: a key removed from the
 * answers must not deploy any more.
 */

/** What getent prints for the account as berth makes it: home:shell, then the password field (* : no password, not locked, so key logins work without PAM too). */
const WANTED_ACCOUNT = `${DEPLOY_HOME}:/bin/sh\n*`;

function wantedFiles(ctx: PhaseContext): WantedFile[] {
  const { answers } = ctx;
  return [
    { path: DEPLOY_KEYS_PATH, content: renderDeployAuthorizedKeys(answers), mode: 0o644 },
    { path: DEPLOY_PROGRAM, content: managedScript(assetText('scripts', 'berth-deploy.sh'), 'what the deploy user may do (ci.deployKeys in the answers file)'), mode: 0o755 },
    { path: APP_ROLL_ON_HOST, content: managedScript(assetText('scripts', 'app-roll.sh'), "the app's roll, for berth-deploy"), mode: 0o755 },
    { path: KEPT_IMAGES_ON_HOST, content: `${managedHeader('which app images berth-deploy keeps')}${assetText('scripts', 'kept-images.awk')}`, mode: 0o644 },
    { path: composeTemplatePath(answers), content: composeTemplate(ctx), mode: 0o600 },
    {
      path: releaseConfPath(answers),
      content: renderReleaseConf(answers, {
        composeFile: appComposePath(answers),
        repository: appRepository(ctx),
        releases: releasesPath(answers),
        pending: pendingReleasePath(answers),
        rollArguments: rollArguments(ctx, '"$1"', 'changed'),
        recordStarted: recordStarted(ctx),
        keep: answers.app.keepReleases,
        unusedImages: unusedImagesScript(appRepository(ctx)),
      }),
      mode: 0o600,
    },
    // Last: the rule that lets the keys in goes only where what it runs is in place; visudo checks it first.
    { path: DEPLOY_SUDOERS_PATH, content: renderDeploySudoers(answers), mode: 0o440, validate: ['visudo', '-cf'] },
  ];
}

const wanted = (ctx: PhaseContext) => hostsWithRole('app')(ctx.host) && ctx.answers.ci.deployKeys.length > 0;

/** Everything berth writes for the deploy user, the sudo rule first (the order of removal). */
function writtenPaths(ctx: PhaseContext): string[] {
  const { answers } = ctx;
  return [DEPLOY_SUDOERS_PATH, DEPLOY_KEYS_PATH, DEPLOY_PROGRAM, APP_ROLL_ON_HOST, KEPT_IMAGES_ON_HOST, composeTemplatePath(answers), releaseConfPath(answers)];
}

/** The deploy user and what berth wrote for it, gone: the sudo rule first, then its keys, the program and settings, the account. */
function removalActions(ctx: PhaseContext, facts: Facts): Action[] {
  const actions: Action[] = writtenPaths(ctx)
    .filter((path) => facts.files[path])
    .map((path): Action => ({ kind: 'remove', path }));
  if (actions.length > 0) {
    // berth-deploy's own file there (compose.previous) goes with the directory.
    actions.push({ kind: 'run', title: `remove ${deployKitDir(ctx.answers)}`, script: `rm -rf -- ${shq(deployKitDir(ctx.answers))}` });
  }
  if (facts.probes.account.out.trim() !== '') {
    actions.push({
      kind: 'run',
      title: `remove the user ${DEPLOY_USER} and its home ${DEPLOY_HOME} (ci.deployKeys lists no keys for this host)`,
      script: [shellCommand(['userdel', DEPLOY_USER]), `rm -rf -- ${shq(DEPLOY_HOME)}`].join('\n'),
      effects: [{ probe: 'account', code: 0, out: '' }],
      hint: `A deploy may be running as ${DEPLOY_USER}: wait for it to end, then run berth again.`,
    });
  }
  return actions;
}

export const deployUserPhase: Phase = {
  name: 'deploy-user',
  title: 'deploy user',
  appliesTo: everyHost,
  query(ctx) {
    return {
      files: wanted(ctx) ? wantedFiles(ctx).map((f) => f.path) : writtenPaths(ctx),
      probes: { account: `getent passwd ${DEPLOY_USER} | cut -d: -f6,7; getent shadow ${DEPLOY_USER} | cut -d: -f2` },
    };
  },
  plan(ctx, facts: Facts): Action[] {
    if (!wanted(ctx)) return removalActions(ctx, facts);
    const actions: Action[] = [];
    if (facts.probes.account.out.trim() !== WANTED_ACCOUNT) {
      actions.push({
        kind: 'run',
        title: `create the user ${DEPLOY_USER} (no password; its home ${DEPLOY_HOME} belongs to root)`,
        script: [
          `id -u ${DEPLOY_USER} >/dev/null 2>&1 || ${shellCommand(['useradd', '--system', '--user-group', '--no-create-home', '--home-dir', DEPLOY_HOME, '--shell', '/bin/sh', DEPLOY_USER])}`,
          shellCommand(['usermod', '--home', DEPLOY_HOME, '--shell', '/bin/sh', '--password', '*', DEPLOY_USER]),
          `install -d -m 0755 -o root -g root ${shq(DEPLOY_HOME)} ${shq(`${DEPLOY_HOME}/.ssh`)}`,
        ].join('\n'),
        effects: [{ probe: 'account', code: 0, out: `${WANTED_ACCOUNT}\n` }],
      });
    }
    actions.push(...fileActions(facts, wantedFiles(ctx)));
    return actions;
  },
};
