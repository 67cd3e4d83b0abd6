import { hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { assetText } from '../assets';
import { renderCompose } from '../render/compose';
import { APP_SECRET_FILES, APP_UID, appComposePath, appComposeSpec, appDbProxyConfig, appDependencies, nginxConfPath, renderNginxConf, replicaNames } from '../render/stack';
import { shellCommand, shq } from '../shell';
import { appImageRef, appImageTag } from './app-image';
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

function wantedFiles(ctx: PhaseContext): WantedFile[] {
  const { secretKey } = ctx.answers.app;
  const { password } = ctx.answers.db;
  const owned = { mode: 0o400, owner: String(APP_UID), group: String(APP_UID), sensitive: true };
  return [
    ...(secretKey ? [{ path: APP_SECRET_FILES.secretKey(ctx.answers), content: secretKey.reveal(), ...owned }] : []),
    ...(password ? [{ path: APP_SECRET_FILES.dbPassword(ctx.answers), content: password.reveal(), ...owned }] : []),
    { path: nginxConfPath(ctx.answers), content: renderNginxConf(ctx.answers), mode: 0o644 },
    ...appDbProxyConfig(ctx.answers, ctx.cluster),
    { path: appComposePath(ctx.answers), content: renderCompose(appComposeSpec(ctx.answers, ctx.cluster, appImageRef(ctx), appImageTag(ctx))), mode: 0o644 },
  ];
}

/** The files the running containers started with (startedWith): all, or the secret ones, which a running container does not read again. */
function startedWithPaths(ctx: PhaseContext, which: 'all' | 'secrets'): string[] {
  return wantedFiles(ctx)
    .filter((f) => which === 'all' || f.sensitive)
    .map((f) => f.path);
}

const SECRETS_MARKER = `${MARKER}-secrets`;

const projectName = (ctx: PhaseContext) => `${ctx.answers.project}-app`;

/** One line per container of the project but the one-shot migrate ("app-1 running healthy"; "none" without a healthcheck), sorted. */
function servicesScript(ctx: PhaseContext): string {
  const format = '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}';
  return `ids=$(docker ps --all --quiet --filter ${shq(`label=com.docker.compose.project=${projectName(ctx)}`)})\n[ -z "$ids" ] || docker inspect --format ${shq(format)} $ids | grep -v '^migrate ' | sort`;
}

/** The long-running services: the replicas, the load balancer, and the database proxy when it is here. */
const services = (ctx: PhaseContext) => [...replicaNames(ctx.answers), LB, ...appDependencies(ctx.answers, ctx.cluster)].sort();

/** Every service, each once, running and not failing its healthcheck (just started counts: Docker brought it back after a reboot); nothing else (a replica too many). */
function servicesRunHealthy(ctx: PhaseContext, out: string): boolean {
  const lines = out.trim().split('\n').filter((line) => line !== '');
  const wanted = services(ctx);
  return lines.length === wanted.length && lines.every((line, i) => new RegExp(`^${wanted[i]} running (healthy|starting|none)$`).test(line));
}

/** What the probe shows after a roll: the proxy has no healthcheck. */
const healthyServices = (ctx: PhaseContext) =>
  services(ctx)
    .map((s) => `${s} running ${appDependencies(ctx.answers, ctx.cluster).includes(s) ? 'none' : 'healthy'}`)
    .join('\n');

export const appPhase: Phase = {
  name: 'app',
  title: 'app and load balancer',
  appliesTo: hostsWithRole('app'),
  query(ctx) {
    return {
      files: wantedFiles(ctx).map((f) => f.path),
      probes: {
        services: servicesScript(ctx),
        applied: startedWith.probe(MARKER, startedWithPaths(ctx, 'all')),
        secrets: startedWith.probe(SECRETS_MARKER, startedWithPaths(ctx, 'secrets')),
      },
    };
  },
  plan(ctx, facts: Facts): Action[] {
    const actions = fileActions(facts, wantedFiles(ctx));
    const changed = actions.length > 0 || facts.probes.applied.out.trim() !== 'yes';
    if (changed || !servicesRunHealthy(ctx, facts.probes.services.out)) {
      const image = appImageRef(ctx);
      const replicas = replicaNames(ctx.answers);
      // A secret file replaced on the host is not what a running container sees (a bind-mounted file keeps its inode), nor what it read at start.
      const secretsChanged = actions.some((a) => a.kind === 'file' && a.sensitive) || facts.probes.secrets.out.trim() !== 'yes';
      actions.push({
        kind: 'run',
        title: `roll out ${image}: migrations, then ${replicas.length} replicas one at a time${secretsChanged ? ' (each recreated: its secrets changed)' : ''}, then Nginx`,
        script: [
          `set -- ${shellCommand([appComposePath(ctx.answers), projectName(ctx), ROLL_TIMEOUT_S, image, markerPath(`${MARKER}-migrated`), LB, secretsChanged ? 'all' : 'changed', appDependencies(ctx.answers, ctx.cluster).join(' '), ...replicas])}`,
          assetText('scripts', 'app-roll.sh'),
          startedWith.record(MARKER, startedWithPaths(ctx, 'all')),
          startedWith.record(SECRETS_MARKER, startedWithPaths(ctx, 'secrets')),
        ].join('\n'),
        timeoutMs: (ROLL_TIMEOUT_S * (replicas.length + 2) + 60) * 1000,
        hint: `The replicas not yet rolled keep serving the previous version. The app's logs: docker compose --file ${appComposePath(ctx.answers)} logs`,
        effects: [
          { probe: 'services', code: 0, out: `${healthyServices(ctx)}\n` },
          { probe: 'applied', code: 0, out: 'yes\n' },
          { probe: 'secrets', code: 0, out: 'yes\n' },
        ],
      });
    }
    return actions;
  },
};
