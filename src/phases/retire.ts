import { dirname } from 'node:path';
import { hostsWithRole, type ClusterHost, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { secretsDir } from '../render/db';
import { REGISTRY_CA_DIR, REGISTRY_DIR, registryComposePath, registryComposeSpec } from '../render/registry';
import { APP_SECRET_FILES, appComposePath, appDir } from '../render/stack';
import { WATCHDOG_UNIT, watchdogFiles } from '../render/watchdog';
import { shellCommand, shq } from '../shell';
import { appRepository } from './app-image';
import { appProjectName } from './app';
import { unusedImagesScript } from './app-prune';
import { markerPath } from './common';
import { releasesPath } from './release';

/**
 * What a host's roles no longer need, taken away once the roles' new hosts
 * serve (this phase comes after the app's): the private registry and the
 * app, each a Compose project stopped and removed with the files berth
 * wrote for it, and the container watchdog where no stack is left. Named
 * volumes with data stay (the registry's images), and the plan names them
 * with the command that frees them. A Galera node is never taken away here:
 * preflight refuses that before any change.
 */

/** A Compose project berth runs for a role, and everything it writes for it on the host. */
interface RoleProject {
  key: string;
  what: string;
  wanted: (host: ClusterHost) => boolean;
  project: (ctx: PhaseContext) => string;
  composeFile: (ctx: PhaseContext) => string;
  /** Files and directories berth wrote for the project: removed once it is down. */
  paths: (ctx: PhaseContext) => string[];
  /** Named volumes (their Docker names) with data that outlives the project. */
  keptVolumes: (ctx: PhaseContext) => string[];
  /** Run once the project is down: images of berth's that nothing else uses. */
  cleanup?: (ctx: PhaseContext) => string;
}

const registryProject = (ctx: PhaseContext) => registryComposeSpec(ctx.answers).name;

const PROJECTS: readonly RoleProject[] = [
  {
    key: 'registry',
    what: 'the private registry',
    wanted: hostsWithRole('registry'),
    project: registryProject,
    composeFile: (ctx) => registryComposePath(ctx.answers),
    // With its CA and key: a registry set up again makes its own, which every host then trusts.
    paths: (ctx) => [dirname(registryComposePath(ctx.answers)), REGISTRY_DIR, REGISTRY_CA_DIR, markerPath('registry')],
    keptVolumes: (ctx) => [`${registryProject(ctx)}_data`],
  },
  {
    key: 'app',
    what: 'the app and its load balancer',
    wanted: hostsWithRole('app'),
    project: appProjectName,
    composeFile: (ctx) => appComposePath(ctx.answers),
    paths: (ctx) => [
      appDir(ctx.answers),
      APP_SECRET_FILES.secretKey(ctx.answers),
      APP_SECRET_FILES.dbPassword(ctx.answers),
      // The release history, and what else the app host keeps there (release.ts, app-image.ts).
      dirname(releasesPath(ctx.answers)),
      ...['app', 'app-secrets', 'app-migrated'].map(markerPath),
    ],
    keptVolumes: () => [],
    cleanup: (ctx) => `{ ${unusedImagesScript(appRepository(ctx))}\n} | xargs -r docker image rm --`,
  },
];

/** The directories the projects share, removed once empty. */
const sharedDirs = (ctx: PhaseContext) => [dirname(dirname(appComposePath(ctx.answers))), '/opt/berth', secretsDir(ctx.answers)];

/** Prints what is left of the project on the host: its containers' ids and the paths that exist. */
function leftoversScript(ctx: PhaseContext, p: RoleProject): string {
  return [
    `docker ps --all --quiet --filter ${shq(`label=com.docker.compose.project=${p.project(ctx)}`)} 2>/dev/null`,
    `for path in ${[p.composeFile(ctx), ...p.paths(ctx)].map(shq).join(' ')}; do if [ -e "$path" ]; then echo "$path"; fi; done`,
  ].join('\n');
}

function retireAction(ctx: PhaseContext, p: RoleProject): Action {
  const compose = p.composeFile(ctx);
  const volumes = p.keptVolumes(ctx);
  const kept = volumes.length > 0 ? `; the volume ${volumes.join(', ')} with its data stays (docker volume rm ${volumes.join(' ')} frees it)` : '';
  return {
    kind: 'run',
    title: `stop and remove ${p.what}, which the answers no longer place on this host (docker compose down, berth's files${p.cleanup ? ', its images' : ''})${kept}`,
    script: [
      `if [ -f ${shq(compose)} ]; then ${shellCommand(['docker', 'compose', '--file', compose, 'down', '--remove-orphans'])}; fi`,
      // Containers left without their compose file (removed by hand).
      `docker ps --all --quiet --filter ${shq(`label=com.docker.compose.project=${p.project(ctx)}`)} | xargs -r docker rm --force >/dev/null`,
      ...(p.cleanup ? [p.cleanup(ctx)] : []),
      shellCommand(['rm', '-rf', '--', ...p.paths(ctx)]),
      `for dir in ${sharedDirs(ctx).map(shq).join(' ')}; do if [ -d "$dir" ]; then rmdir --ignore-fail-on-non-empty -- "$dir"; fi; done`,
    ].join('\n'),
    effects: [{ probe: p.key, code: 0, out: '' }],
  };
}

const WATCHDOG_TIMER = `${WATCHDOG_UNIT}.timer`;
const runsAStack = hostsWithRole('app', 'lb', 'db');

function watchdogActions(facts: Facts): Action[] {
  const present = [...watchdogFiles().map((f) => f.path), markerPath('watchdog')].filter((path) => facts.files[path]);
  if (present.length === 0) return [];
  const timer = facts.units[WATCHDOG_TIMER];
  return [
    ...(timer.enabled === 'enabled' || timer.active === 'active' ? [{ kind: 'service' as const, unit: WATCHDOG_TIMER, op: 'disable-now' as const }] : []),
    ...present.map((path): Action => ({ kind: 'remove', path })),
    { kind: 'service', unit: WATCHDOG_TIMER, op: 'daemon-reload' },
  ];
}

export const retirePhase: Phase = {
  name: 'retire',
  title: 'roles taken away',
  appliesTo: (host) => PROJECTS.some((p) => !p.wanted(host)) || !runsAStack(host),
  query(ctx) {
    const retired = PROJECTS.filter((p) => !p.wanted(ctx.host));
    const watchdog = !runsAStack(ctx.host);
    return {
      probes: Object.fromEntries(retired.map((p) => [p.key, leftoversScript(ctx, p)])),
      ...(watchdog ? { files: [...watchdogFiles().map((f) => f.path), markerPath('watchdog')], units: [WATCHDOG_TIMER] } : {}),
    };
  },
  plan(ctx, facts): Action[] {
    const actions = PROJECTS.filter((p) => !p.wanted(ctx.host) && facts.probes[p.key].out.trim() !== '').map((p) => retireAction(ctx, p));
    if (!runsAStack(ctx.host)) actions.push(...watchdogActions(facts));
    return actions;
  },
};
