import { hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { shellCommand } from '../shell';
import { renderCompose } from '../render/compose';
import { htpasswdFor, htpasswdMatches, REGISTRY_FILES, registryComposePath, registryComposeSpec, registryTlsScript, renderRegistryConfig } from '../render/registry';
import { fileActions, startedWith, type WantedFile } from './common';

/**
 * The private registry on the registry host: a Docker Compose project in
 * /opt/berth/<project>/registry, TLS from a CA berth makes once on this host
 * (the keys never leave it), htpasswd (bcrypt) authentication. The registry
 * is recreated when its configuration, login or certificate changed, and
 * started when it is not running healthy.
 */

const MARKER = 'registry';
const PREREQUISITES = ['openssl'];

function composeCommand(ctx: PhaseContext, ...args: string[]): string {
  return shellCommand(['docker', 'compose', '--file', registryComposePath(ctx.answers), ...args]);
}

/** Prints the registry container's health (healthy, starting, unhealthy), nothing when it does not exist. */
function healthScript(ctx: PhaseContext): string {
  return `id=$(${composeCommand(ctx, 'ps', '--quiet', 'registry')} 2>/dev/null) && [ -n "$id" ] && docker inspect --format '{{.State.Health.Status}}' "$id"`;
}

/** What the running registry was started with: its files and certificate (startedWith). */
function startedWithPaths(ctx: PhaseContext): string[] {
  return [REGISTRY_FILES.config.path, REGISTRY_FILES.htpasswd.path, registryComposePath(ctx.answers), REGISTRY_FILES.serverCert.path];
}

function wantedFiles(ctx: PhaseContext, facts: Facts): WantedFile[] {
  const { user, password } = ctx.answers.registry;
  const existing = facts.files[REGISTRY_FILES.htpasswd.path]?.content ?? null;
  // A password that still matches keeps its hash (and salt): nothing changes; a new one rotates it.
  const htpasswd = password && htpasswdMatches(existing, user, password) ? existing! : password ? htpasswdFor(user, password) : '';
  return [
    { path: REGISTRY_FILES.config.path, content: renderRegistryConfig(), mode: REGISTRY_FILES.config.mode },
    { path: REGISTRY_FILES.htpasswd.path, content: htpasswd, mode: REGISTRY_FILES.htpasswd.mode, sensitive: true },
    { path: registryComposePath(ctx.answers), content: renderCompose(registryComposeSpec(ctx.answers)), mode: 0o644 },
  ];
}

export const registryPhase: Phase = {
  name: 'registry',
  title: 'private registry',
  appliesTo: hostsWithRole('registry'),
  query(ctx) {
    return {
      packages: PREREQUISITES,
      files: [REGISTRY_FILES.config.path, REGISTRY_FILES.htpasswd.path, registryComposePath(ctx.answers)],
      probes: {
        tls: registryTlsScript('check', ctx.host),
        health: healthScript(ctx),
        applied: startedWith.probe(MARKER, startedWithPaths(ctx)),
      },
    };
  },
  plan(ctx, facts): Action[] {
    const actions: Action[] = [];
    const missing = PREREQUISITES.filter((p) => !facts.packages[p]);
    if (missing.length > 0) actions.push({ kind: 'packages', install: missing });
    const tlsOk = facts.probes.tls.out.trim() === 'ok';
    if (!tlsOk) {
      actions.push({ kind: 'run', title: 'make the registry CA (once) and its server certificate', script: registryTlsScript('issue', ctx.host), effects: [{ probe: 'tls', code: 0, out: 'ok\n' }] });
    }
    const files = wantedFiles(ctx, facts);
    actions.push(...fileActions(facts, files));
    const changed = actions.length > 0 || facts.probes.applied.out.trim() !== 'yes';
    // Just after a reboot the container runs but has not been checked yet ("starting"): Docker brought it back, nothing to do.
    const running = ['healthy', 'starting'].includes(facts.probes.health.out.trim());
    if (changed || !running) {
      actions.push({
        kind: 'run',
        title: changed ? 'start the registry with its new configuration (docker compose up)' : 'start the registry (docker compose up)',
        script: [
          composeCommand(ctx, 'up', '--detach', '--wait', '--quiet-pull', ...(changed ? ['--force-recreate'] : [])),
          startedWith.record(MARKER, startedWithPaths(ctx)),
        ].join('\n'),
        timeoutMs: 15 * 60 * 1000,
        effects: [
          { probe: 'health', code: 0, out: 'healthy\n' },
          { probe: 'applied', code: 0, out: 'yes\n' },
        ],
      });
    }
    return actions;
  },
};
