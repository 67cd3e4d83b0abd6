import type { Answers } from '../answers/schema';
import { HostProblem, hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { assetText } from '../assets';
import { renderCompose } from '../render/compose';
import {
  appUserExpected,
  appUserQuery,
  appUserSql,
  dbComposePath,
  dbComposeSpec,
  dbConfigFiles,
  dbNodeNames,
  dbProjectName,
  DB_PROXY_SERVICE,
  dbRootPasswordPath,
  galeraLayout,
  localNodeNames,
  rootSqlScript,
} from '../render/db';
import { shellCommand, shq } from '../shell';
import { configDigest, fileActions, markerPath, type WantedFile } from './common';

/**
 * MariaDB Galera on the db hosts (render/db.ts), in two phases. `db`, on every
 * db host at once: the configuration, the nodes started (so that nodes spread
 * over hosts meet: assets/scripts/galera-roll.sh start), then the app's
 * database and user. `db-roll`, one db host after another: each node whose
 * configuration changed recreated, never more than one down. A rerun plans
 * nothing while every node is Synced in a cluster of `db.nodes`, the proxy
 * runs and the user is as the answers say.
 */

const ROLL_TIMEOUT_S = 15 * 60;
/** What the nodes last took (a digest of their files but the root password, which only a node's first start reads). */
const ROLL_MARKER = 'db-nodes';

export const localNodes = (ctx: PhaseContext) => localNodeNames(ctx.answers, ctx.cluster, ctx.host);
/** The proxy's service when it runs in this host's db project (one db host), else none. */
export const localProxy = (ctx: PhaseContext) => (galeraLayout(ctx.answers, ctx.cluster).spread ? [] : [DB_PROXY_SERVICE]);

function configFiles(ctx: PhaseContext): WantedFile[] {
  return [...dbConfigFiles(ctx.answers, ctx.cluster, ctx.host), { path: dbComposePath(ctx.answers), content: renderCompose(dbComposeSpec(ctx.answers, ctx.cluster, ctx.host)), mode: 0o644 }];
}

function wantedFiles(ctx: PhaseContext): WantedFile[] {
  const { rootPassword } = ctx.answers.db;
  return [...(rootPassword ? [{ path: dbRootPasswordPath(ctx.answers), content: rootPassword.reveal(), mode: 0o600, sensitive: true }] : []), ...configFiles(ctx)];
}

/** One line per node of this host ("db1 4 Primary 3": local state, cluster status, size) and the proxy's state when it is here. */
export function galeraStateScript(ctx: PhaseContext): string {
  const query = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size') ORDER BY FIELD(VARIABLE_NAME,'wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size')";
  // One docker ps for the project's containers, then every node asked at once: a converged rerun stays quick.
  return [
    `containers=$(docker ps --all --filter ${shq(`label=com.docker.compose.project=${dbProjectName(ctx.answers)}`)} --format '{{.Label "com.docker.compose.service"}} {{.ID}} {{.State}}')`,
    'out=$(mktemp -d)',
    `for node in ${localNodes(ctx).join(' ')}; do`,
    `  id=$(awk -v s="$node" '$1 == s {print $2}' <<<"$containers")`,
    `  { [ -n "$id" ] && docker exec -u mysql "$id" mariadb --protocol=socket -umysql -N -B -e ${shq(query)} 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; } >"$out/$node" &`,
    'done',
    'wait',
    `for node in ${localNodes(ctx).join(' ')}; do echo "$node $(cat "$out/$node")"; done`,
    'rm -rf "$out"',
    ...localProxy(ctx).map((proxy) => `echo "${proxy} $(awk '$1 == "${proxy}" {print $3}' <<<"$containers")"`),
  ].join('\n');
}

export function galeraHealthyState(ctx: PhaseContext): string {
  const size = ctx.answers.db.nodes;
  return [...localNodes(ctx).map((node) => `${node} 4 Primary ${size}`), ...localProxy(ctx).map((proxy) => `${proxy} running`)].join('\n');
}

function rollAction(ctx: PhaseContext, mode: 'start' | 'roll', title: string, effects: NonNullable<Extract<Action, { kind: 'run' }>['effects']>, after: string[] = []): Action {
  return {
    kind: 'run',
    title,
    script: [`set -- ${shellCommand([mode, dbComposePath(ctx.answers), ROLL_TIMEOUT_S, ctx.answers.db.nodes, localProxy(ctx)[0] ?? '', ...localNodes(ctx)])}`, assetText('scripts', 'galera-roll.sh'), ...after].join('\n'),
    timeoutMs: (ROLL_TIMEOUT_S + 120) * 1000,
    hint: `the nodes' logs: docker compose --file ${dbComposePath(ctx.answers)} logs`,
    effects,
  };
}

/** Where the app's database and user are made: the host of the first node (one host suffices, Galera replicates it). */
const holdsFirstNode = (ctx: PhaseContext) => localNodes(ctx).includes(dbNodeNames(ctx.answers)[0]);

function placement(ctx: PhaseContext): string {
  const { spread, nodes } = galeraLayout(ctx.answers, ctx.cluster);
  return spread ? `one node on each of the ${nodes.length} db hosts: they survive a dead VM` : 'all on this host: they survive a dead container or mariadbd, not a dead VM';
}

/** The Galera nodes of this project whose containers are on the host, one a line. */
export function installedNodesScript(answers: Answers): string {
  return `docker ps --all --filter ${shq(`label=com.docker.compose.project=${dbProjectName(answers)}`)} --format '{{.Label "berth.galera.node"}}' 2>/dev/null | sort -u`;
}

export const dbPhase: Phase = {
  name: 'db',
  title: 'MariaDB Galera',
  appliesTo: hostsWithRole('db'),
  query(ctx) {
    return {
      files: wantedFiles(ctx).map((f) => f.path),
      probes: {
        cluster: galeraStateScript(ctx),
        installedNodes: installedNodesScript(ctx.answers),
        ...(holdsFirstNode(ctx) ? { appUser: rootSqlScript(ctx.answers, localNodes(ctx), appUserQuery(ctx.answers)) } : {}),
      },
    };
  },
  plan(ctx, facts: Facts): Action[] {
    const strangers = facts.probes.installedNodes.out.split('\n').filter((node) => node !== '' && !localNodes(ctx).includes(node));
    if (strangers.length > 0) {
      // Another layout would start empty nodes beside the data of the old ones; fewer nodes would leave the others in the cluster.
      throw new HostProblem(
        `this host runs the Galera nodes ${strangers.join(', ')}, which the answers no longer place here (${placement(ctx)}); berth does not move an installed cluster to another layout or shrink it`,
        `Keep the db roles as they were installed, or move the data yourself (a dump, then docker compose --file ${dbComposePath(ctx.answers)} down on the old hosts) and rerun. Nothing was changed for the database on this host.`,
      );
    }
    const actions = fileActions(facts, wantedFiles(ctx));
    if (facts.probes.cluster.out.trim() !== galeraHealthyState(ctx)) {
      const nodes = localNodes(ctx);
      const proxy = localProxy(ctx).length > 0 ? ' and the database proxy' : '';
      actions.push(
        rollAction(ctx, 'start', `start the Galera node${nodes.length > 1 ? 's' : ''} ${nodes.join(', ')}${proxy} (${placement(ctx)})`, [{ probe: 'cluster', code: 0, out: `${galeraHealthyState(ctx)}\n` }]),
      );
    }
    const { password } = ctx.answers.db;
    if (password && holdsFirstNode(ctx) && facts.probes.appUser.out.trim() !== appUserExpected(password)) {
      actions.push({
        kind: 'run',
        title: `make the database ${ctx.answers.db.name} and its user ${ctx.answers.db.user} (privileges on that database only)`,
        script: rootSqlScript(ctx.answers, localNodes(ctx)),
        stdin: appUserSql(ctx.answers, password),
        effects: [{ probe: 'appUser', code: 0, out: `${appUserExpected(password)}\n` }],
      });
    }
    return actions;
  },
};

export const dbRollPhase: Phase = {
  name: 'db-roll',
  title: 'MariaDB Galera: new configuration, one node at a time',
  appliesTo: hostsWithRole('db'),
  // One host after another: a node is recreated only while all the others are Synced.
  sequence: (targets) => [...targets],
  query() {
    return { files: [markerPath(ROLL_MARKER)] };
  },
  plan(ctx, facts: Facts): Action[] {
    const digest = configDigest(configFiles(ctx));
    if (facts.files[markerPath(ROLL_MARKER)]?.content === digest) return [];
    return [
      rollAction(ctx, 'roll', `recreate whichever of ${[...localNodes(ctx), ...localProxy(ctx)].join(', ')} the configuration changed for, one node at a time, each Synced again before the next`, []),
      { kind: 'file', path: markerPath(ROLL_MARKER), content: digest, mode: 0o600 },
    ];
  },
};
