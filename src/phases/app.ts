import { HostProblem, hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { assetText } from '../assets';
import { renderCompose } from '../render/compose';
import { APP_SECRET_FILES, APP_UID, appComposePath, appComposeSpec, appDbProxyConfig, appDependencies, nginxConfPath, renderNginxConf, replicaNames } from '../render/stack';
import { shellCommand, shq } from '../shell';
import { parse as parseYaml } from 'yaml';
import { appImageRef, appRepository } from './app-image';
import { TAG_PLACEHOLDER } from '../render/deploy-user';
import { notePending, parseReleases, pendingReleasePath, pendingReleaseProbe, recordRelease, releaseImage, releasesProbe, tagOf } from './release';
import { fileActions, markerPath, startedWith, type WantedFile } from './common';

/**
 * The app on the app host (render/stack.ts): its secrets as files only its
 * user can read, the Compose project, then a roll (assets/scripts/app-roll.sh):
 * migrations once per image, replicas one at a time, Nginx reloaded. A rerun
 * plans nothing while every replica and the load balancer run healthy with
 * the files the answers give.
 */

const MARKER = 'app';
const LB = 'lb';
const ROLL_TIMEOUT_S = 5 * 60;

/** The app's compose file, running `image` (tagged in the registry by its content: the version it shows). */
function composeFor(ctx: PhaseContext, image: string): string {
  return renderCompose(appComposeSpec(ctx.answers, ctx.cluster, image, tagOf(image)));
}

/** The files of the app running `image`. */
function wantedFiles(ctx: PhaseContext, image: string): WantedFile[] {
  const { secretKey } = ctx.answers.app;
  const { password } = ctx.answers.db;
  const owned = { mode: 0o400, owner: String(APP_UID), group: String(APP_UID), sensitive: true };
  return [
    ...(secretKey ? [{ path: APP_SECRET_FILES.secretKey(ctx.answers), content: secretKey.reveal(), ...owned }] : []),
    ...(password ? [{ path: APP_SECRET_FILES.dbPassword(ctx.answers), content: password.reveal(), ...owned }] : []),
    { path: nginxConfPath(ctx.answers), content: renderNginxConf(ctx.answers), mode: 0o644 },
    ...appDbProxyConfig(ctx.answers, ctx.cluster),
    { path: appComposePath(ctx.answers), content: composeFor(ctx, image), mode: 0o644 },
  ];
}

/** The files the running containers started with (startedWith): all, or the secret ones, which a running container does not read again. */
function startedWithPaths(ctx: PhaseContext, which: 'all' | 'secrets'): string[] {
  // The paths do not depend on the image.
  return wantedFiles(ctx, '')
    .filter((f) => which === 'all' || f.sensitive)
    .map((f) => f.path);
}

/** The image the app's compose file runs now (its first replica's), if berth wrote one. */
export function runningImage(ctx: PhaseContext, facts: Facts): string | undefined {
  const content = facts.files[appComposePath(ctx.answers)]?.content;
  if (!content) return undefined;
  const spec = parseYaml(content) as { services?: Record<string, { image?: string }> } | null;
  return spec?.services?.[replicaNames(ctx.answers)[0]]?.image;
}

const SECRETS_MARKER = `${MARKER}-secrets`;

/** app-roll.sh's arguments (assets/scripts/app-roll.sh), `image` a word of shell (a quoted reference, or "$1" where berth-deploy calls it). */
export function rollArguments(ctx: PhaseContext, image: string, recreate: 'all' | 'changed'): string {
  const after = [markerPath(`${MARKER}-migrated`), LB, recreate, appDependencies(ctx.answers, ctx.cluster).join(' '), ...replicaNames(ctx.answers)];
  return `${shellCommand([appComposePath(ctx.answers), appProjectName(ctx), ROLL_TIMEOUT_S])} ${image} ${shellCommand(after)}`;
}

/** The command that notes the files the app's containers started with, last in a roll. */
export const recordStarted = (ctx: PhaseContext): string => startedWith.record(MARKER, startedWithPaths(ctx, 'all'));

/** The app's compose file with TAG_PLACEHOLDER for the image's tag, which berth-deploy fills in: byte for byte composeFor of that tag. */
export const composeTemplate = (ctx: PhaseContext): string => composeFor(ctx, `${appRepository(ctx)}:${TAG_PLACEHOLDER}`);

export const appProjectName = (ctx: Pick<PhaseContext, 'answers'>) => `${ctx.answers.project}-app`;

/** One line per container of the project but the one-shot migrate ("app-1 running healthy"; "none" without a healthcheck), sorted. */
function servicesScript(ctx: PhaseContext): string {
  const format = '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}';
  return `ids=$(docker ps --all --quiet --filter ${shq(`label=com.docker.compose.project=${appProjectName(ctx)}`)})\n[ -z "$ids" ] || docker inspect --format ${shq(format)} $ids | grep -v '^migrate ' | sort`;
}

/** The long-running services: the replicas, the load balancer, and the database proxy when it is here. */
export const appServices = (ctx: PhaseContext) => [...replicaNames(ctx.answers), LB, ...appDependencies(ctx.answers, ctx.cluster)].sort();

/** Every service, each once, running and not failing its healthcheck (just started counts: Docker brought it back after a reboot); nothing else (a replica too many). */
function servicesRunHealthy(ctx: PhaseContext, out: string): boolean {
  const lines = out.trim().split('\n').filter((line) => line !== '');
  const wanted = appServices(ctx);
  return lines.length === wanted.length && lines.every((line, i) => new RegExp(`^${wanted[i]} running (healthy|starting|none)$`).test(line));
}

/** What the probe shows after a roll: the proxy has no healthcheck. */
const healthyServices = (ctx: PhaseContext) =>
  appServices(ctx)
    .map((s) => `${s} running ${appDependencies(ctx.answers, ctx.cluster).includes(s) ? 'none' : 'healthy'}`)
    .join('\n');

export const appPhase: Phase = {
  name: 'app',
  title: 'app and load balancer',
  appliesTo: hostsWithRole('app'),
  query(ctx) {
    return {
      files: wantedFiles(ctx, '').map((f) => f.path),
      probes: {
        releases: releasesProbe(ctx.answers),
        pending: pendingReleaseProbe(ctx.answers),
        services: servicesScript(ctx),
        applied: startedWith.probe(MARKER, startedWithPaths(ctx, 'all')),
        secrets: startedWith.probe(SECRETS_MARKER, startedWithPaths(ctx, 'secrets')),
      },
    };
  },
  plan(ctx, facts: Facts): Action[] {
    const releases = parseReleases(facts.probes.releases.out);
    // What served before: noted by a release whose run was killed (the compose file then names its image already), else what the compose file runs.
    const pending = facts.probes.pending.out.trim();
    const running = pending || runningImage(ctx, facts);
    const request = ctx.local.release;
    if (request && !running) {
      throw new HostProblem(`the app is not installed on ${ctx.host.name} yet, so there is nothing to ${request.kind === 'deploy' ? 'deploy over' : 'roll back'}`, 'Run berth install first: it installs the app as the answers give it.');
    }
    const image = releaseImage(ctx, releases, () => appImageRef(ctx));
    const files = fileActions(facts, wantedFiles(ctx, image));
    // Noted before the compose file names the new image: a run killed from there on still knows what served.
    const noting: Action[] =
      request && running && running !== image && !pending
        ? [{ kind: 'run', title: `note ${running} as what serves until ${image} is rolled out`, script: notePending(ctx.answers, running), effects: [{ probe: 'pending', code: 0, out: `${running}\n` }] }]
        : [];
    const actions = [...noting, ...files];
    // A release under way (its run killed, maybe after the roll itself) is finished: rolled again, which recreates nothing up to date, and recorded.
    const changed = files.length > 0 || facts.probes.applied.out.trim() !== 'yes' || pending !== '';
    if (changed || !servicesRunHealthy(ctx, facts.probes.services.out)) {
      const released = request && running && running !== image ? { kind: request.kind, previous: running } : undefined;
      const replicas = replicaNames(ctx.answers);
      // A secret file replaced on the host is not what a running container sees (a bind-mounted file keeps its inode), nor what it read at start.
      const secretsChanged = files.some((a) => a.kind === 'file' && a.sensitive) || facts.probes.secrets.out.trim() !== 'yes';
      const roll = (to: string, recreate: 'all' | 'changed') => [`set -- ${rollArguments(ctx, shq(to), recreate)}`, assetText('scripts', 'app-roll.sh')].join('\n');
      const recorded = [
        recordStarted(ctx),
        startedWith.record(SECRETS_MARKER, startedWithPaths(ctx, 'secrets')),
        released ? recordRelease(ctx.answers, released.kind, image, released.previous) : `rm -f ${shq(pendingReleasePath(ctx.answers))}`,
      ];
      const recreate = secretsChanged ? 'all' : 'changed';
      actions.push({
        kind: 'run',
        title: `roll out ${image}: migrations, then ${replicas.length} replicas one at a time${secretsChanged ? ' (each recreated: its secrets changed)' : ''}, then Nginx${released ? `; back to ${released.previous} if it does not become healthy` : ''}`,
        // A deploy or rollback that does not become healthy goes back to what ran before (the compose file as it was); an install stops where it failed.
        // The roll in a subshell of its own, not in an `if`: there bash would ignore its `set -e`.
        script: released
          ? [
              'set +e',
              `( ${roll(image, recreate)}\n)`,
              'rolled=$?',
              'set -e',
              'if [ "$rolled" = 0 ]; then',
              ...recorded,
              'else',
              `  echo ${shq(`berth: ${image} did not become healthy; going back to ${released.previous}, which serves meanwhile`)} >&2`,
              `  cat > ${shq(appComposePath(ctx.answers))} <<'BERTH_PREVIOUS_COMPOSE'\n${composeFor(ctx, released.previous).replace(/\n$/, '')}\nBERTH_PREVIOUS_COMPOSE`,
              '  set +e',
              // Its output only if it fails too: the reason the new image failed stays the last thing said.
              '  back=$(mktemp)',
              `  ( ${roll(released.previous, 'changed')}\n) >"$back" 2>&1`,
              // Back where it was: no release under way any more.
              `  if [ $? = 0 ]; then rm -f ${shq(pendingReleasePath(ctx.answers))}; else tail -n 20 "$back" >&2; echo ${shq(`berth: going back to ${released.previous} failed too`)} >&2; fi`,
              '  rm -f "$back"',
              '  exit 1',
              'fi',
            ].join('\n')
          : [roll(image, recreate), ...recorded].join('\n'),
        timeoutMs: (ROLL_TIMEOUT_S * (replicas.length + 2) * (released ? 2 : 1) + 60) * 1000,
        hint: released
          ? `${released.previous} serves as before. The app's logs: docker compose --file ${appComposePath(ctx.answers)} logs`
          : `The replicas not yet rolled keep serving the previous version. The app's logs: docker compose --file ${appComposePath(ctx.answers)} logs`,
        effects: [
          { probe: 'services', code: 0, out: `${healthyServices(ctx)}\n` },
          { probe: 'applied', code: 0, out: 'yes\n' },
          { probe: 'secrets', code: 0, out: 'yes\n' },
          { probe: 'pending', code: 0, out: '' },
          ...(released ? [{ probe: 'releases', code: 0, out: `${facts.probes.releases.out}${['now', released.kind, image, released.previous].join(' ')}\n` }] : []),
        ],
      });
    }
    return actions;
  },
};
