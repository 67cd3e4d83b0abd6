import type { Answers } from '../answers/schema';
import { DEPLOY_USER } from '../answers/fields';
import { shellCommand, shq } from '../shell';
import { managedHeader } from './managed';

/**
 * The deploy user on the app host (ci.deployKeys): berth-deploy, whose key
 * runs one command whatever the client asks, `sudo -n berth-deploy
 * <project>` (assets/scripts/berth-deploy.sh), which reads the request
 * ("deploy TAG") from SSH_ORIGINAL_COMMAND and deploys that tag as berth
 * deploy --tag does, with the settings berth writes beside it. Pure.
 */

export { DEPLOY_USER };
/** Its home: root's, so that it can change neither its keys nor anything else there. */
export const DEPLOY_HOME = '/var/lib/berth-deploy';
export const DEPLOY_KEYS_PATH = `${DEPLOY_HOME}/.ssh/authorized_keys`;
/** Not berth-<name>: that is where an admin user's rule goes (admin.user deploy would meet it). */
export const DEPLOY_SUDOERS_PATH = '/etc/sudoers.d/berth_deploy';
/** The forced command's program, and the roll it shares with berth's app phase (assets/scripts/app-roll.sh). */
export const DEPLOY_PROGRAM = '/usr/local/sbin/berth-deploy';
export const APP_ROLL_ON_HOST = '/usr/local/lib/berth/app-roll.sh';
/** Which app images a pruning keeps (assets/scripts/kept-images.awk, the rule of release.ts). */
export const KEPT_IMAGES_ON_HOST = '/usr/local/lib/berth/kept-images.awk';
/** Stands for the tag in the compose template; berth-deploy puts the tag in its place (letters and _ only: a tag's characters need no quoting where it stands). */
export const TAG_PLACEHOLDER = 'BERTH_DEPLOY_TAG';

export const deployKitDir = (answers: Pick<Answers, 'project'>): string => `/etc/berth/${answers.project}/deploy`;
export const composeTemplatePath = (answers: Pick<Answers, 'project'>): string => `${deployKitDir(answers)}/compose.template`;
export const releaseConfPath = (answers: Pick<Answers, 'project'>): string => `${deployKitDir(answers)}/release.conf`;

/** What sudo may run for the deploy user, and the forced command that runs it. */
const deployProgram = (answers: Pick<Answers, 'project'>) => `${DEPLOY_PROGRAM} ${answers.project}`;
const forcedCommand = (answers: Pick<Answers, 'project'>) => `sudo -n ${deployProgram(answers)}`;

/** authorized_keys: every key restricted (no shell, PTY or forwarding) to the forced command. */
export function renderDeployAuthorizedKeys(answers: Pick<Answers, 'project' | 'ci'>): string {
  return `${managedHeader('the deploy keys (ci.deployKeys in the answers file)')}${answers.ci.deployKeys.map((key) => `restrict,command="${forcedCommand(answers)}" ${key}\n`).join('')}`;
}

/** sudo: exactly the forced command, keeping SSH_ORIGINAL_COMMAND (sudo drops it otherwise). */
export function renderDeploySudoers(answers: Pick<Answers, 'project'>): string {
  return [
    managedHeader('what the deploy user may run (ci.deployKeys in the answers file)').trimEnd(),
    `Defaults!${DEPLOY_PROGRAM} env_keep += "SSH_ORIGINAL_COMMAND"`,
    `${DEPLOY_USER} ALL=(root) NOPASSWD: ${deployProgram(answers)}`,
    '',
  ].join('\n');
}

/** What berth-deploy needs of the app, all from berth's app phase (phases/app.ts). */
export interface ReleaseSettings {
  composeFile: string;
  repository: string;
  releases: string;
  pending: string;
  /** app-roll.sh's arguments, the image's place taken by the word "$1". */
  rollArguments: string;
  /** The command that notes what the app's containers were started with. */
  recordStarted: string;
  /** app.keepReleases. */
  keep: number;
  /** The command that lists the app's images no container uses (the app-prune phase's probe). */
  unusedImages: string;
}

/** release.conf, sourced by berth-deploy (bash): plain settings and two functions. */
export function renderReleaseConf(answers: Pick<Answers, 'project'>, s: ReleaseSettings): string {
  const settings: [string, string][] = [
    ['compose_file', s.composeFile],
    ['template', composeTemplatePath(answers)],
    ['placeholder', TAG_PLACEHOLDER],
    ['repository', s.repository],
    ['releases', s.releases],
    ['pending', s.pending],
    ['previous_compose', `${deployKitDir(answers)}/compose.previous`],
    ['kept_images', KEPT_IMAGES_ON_HOST],
    ['keep', String(s.keep)],
  ];
  return [
    managedHeader(`what ${DEPLOY_PROGRAM} needs to deploy the app of the project ${answers.project}`).trimEnd(),
    ...settings.map(([name, value]) => `${name}=${shq(value)}`),
    `roll() { bash ${shellCommand([APP_ROLL_ON_HOST])} ${s.rollArguments}; }`,
    `record_started() { ${s.recordStarted}; }`,
    `unused_images() {\n${s.unusedImages}\n}`,
    '',
  ].join('\n');
}
