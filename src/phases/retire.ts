import { dirname } from 'node:path';
import { hostsWithRole, type ClusterHost, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { secretsDir } from '../render/db';
import { REGISTRY_CA_DIR, REGISTRY_DIR, registryComposePath, registryComposeSpec } from '../render/registry';
import { APP_SECRET_FILES, appComposePath, appDir } from '../render/stack';
import { WATCHDOG_UNIT, watchdogFiles } from '../render/watchdog';
import { removeEmptyDirs, shellCommand, shq } from '../shell';
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
    what: 'the private registry',
    wanted: hostsWithRole('registry'),
    project: registryProject,
    composeFile: (ctx) => registryComposePath(ctx.answers),
    // With its CA and key: a registry set up again makes its own, which every host then trusts.
    paths: (ctx) => [dirname(registryComposePath(ctx.answers)), REGISTRY_DIR, REGISTRY_CA_DIR, markerPath('registry')],
    keptVolumes: (ctx) => [`${registryProject(ctx)}_data`],
  },
  {
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

/** What is left of these projects on the host, a line each: the Compose projects that have containers (one docker call for all), then the paths that exist. */
function leftoversScript(ctx: PhaseContext, projects: readonly RoleProject[]): string {
  const paths = projects.flatMap((p) => [p.composeFile(ctx), ...p.paths(ctx)]);
  return [
    `docker ps --all --format '{{.Label "com.docker.compose.project"}}' 2>/dev/null | sort -u`,
    `for path in ${paths.map(shq).join(' ')}; do if [ -e "$path" ]; then echo "$path"; fi; done`,
  ].join('\n');
}

/** The lines of leftoversScript that belong to the project. */
const leftoverLines = (ctx: PhaseContext, p: RoleProject) => new Set([p.project(ctx), p.composeFile(ctx), ...p.paths(ctx)]);

function retireAction(ctx: PhaseContext, p: RoleProject, leftAfter: readonly string[]): Action {
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
      removeEmptyDirs(sharedDirs(ctx)),
    ].join('\n'),
    effects: [{ probe: 'leftovers', code: 0, out: leftAfter.join('\n') }],
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
      ...(retired.length > 0 ? { probes: { leftovers: leftoversScript(ctx, retired) } } : {}),
      ...(watchdog ? { files: [...watchdogFiles().map((f) => f.path), markerPath('watchdog')], units: [WATCHDOG_TIMER] } : {}),
    };
  },
  plan(ctx, facts): Action[] {
    const retired = PROJECTS.filter((p) => !p.wanted(ctx.host));
    let left = retired.length > 0 ? facts.probes.leftovers.out.split('\n').filter((line) => line !== '') : [];
    const actions: Action[] = [];
    for (const p of retired) {
      const mine = leftoverLines(ctx, p);
      if (!left.some((line) => mine.has(line))) continue;
      left = left.filter((line) => !mine.has(line));
      actions.push(retireAction(ctx, p, left));
    }
    if (!runsAStack(ctx.host)) actions.push(...watchdogActions(facts));
    return actions;
  },
};
