import { hostsWithRole, type Phase, type PhaseContext } from '../engine/phase';
import type { Action, Facts } from '../engine/plan';
import { assetText } from '../assets';
import { renderCompose } from '../render/compose';
import { appUserExpected, appUserQuery, appUserSql, dbComposePath, dbComposeSpec, dbConfigFiles, dbNodeNames, dbRootPasswordPath, rootSqlScript } from '../render/db';
import { shellCommand, shq } from '../shell';
import { fileActions, startedWith, type WantedFile } from './common';

/**
 * MariaDB Galera on the db host (render/db.ts): the configuration, the nodes
 * started or brought to a new configuration one at a time
 * (assets/scripts/galera-roll.sh), then the app's database and user. A rerun
 * plans nothing while every node is Synced in a cluster of `db.nodes`, the
 * proxy runs and the user is as the answers say.
 */

const MARKER = 'db';
const PROXY = 'dbproxy';
const ROLL_TIMEOUT_S = 15 * 60;

function wantedFiles(ctx: PhaseContext): WantedFile[] {
  const { rootPassword } = ctx.answers.db;
  return [
    ...(rootPassword ? [{ path: dbRootPasswordPath(ctx.answers), content: rootPassword.reveal(), mode: 0o600, sensitive: true }] : []),
    ...dbConfigFiles(ctx.answers),
    { path: dbComposePath(ctx.answers), content: renderCompose(dbComposeSpec(ctx.answers)), mode: 0o644 },
  ];
}

/** One line per node ("db1 4 Primary 3": local state, cluster status, size) and the proxy's state. */
export function galeraStateScript(ctx: PhaseContext): string {
  const query = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size') ORDER BY FIELD(VARIABLE_NAME,'wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size')";
  // One docker ps for the project's containers, then every node asked at once: a converged rerun stays quick.
  return [
    `containers=$(docker ps --all --filter ${shq(`label=com.docker.compose.project=${dbComposeSpec(ctx.answers).name}`)} --format '{{.Label "com.docker.compose.service"}} {{.ID}} {{.State}}')`,
    'out=$(mktemp -d)',
    `for node in ${dbNodeNames(ctx.answers).join(' ')}; do`,
    `  id=$(awk -v s="$node" '$1 == s {print $2}' <<<"$containers")`,
    `  { [ -n "$id" ] && docker exec -u mysql "$id" mariadb --protocol=socket -umysql -N -B -e ${shq(query)} 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; } >"$out/$node" &`,
    'done',
    'wait',
    `for node in ${dbNodeNames(ctx.answers).join(' ')}; do echo "$node $(cat "$out/$node")"; done`,
    'rm -rf "$out"',
    `echo "${PROXY} $(awk '$1 == "${PROXY}" {print $3}' <<<"$containers")"`,
  ].join('\n');
}

export function galeraHealthyState(ctx: PhaseContext): string {
  const size = ctx.answers.db.nodes;
  return [...dbNodeNames(ctx.answers).map((node) => `${node} 4 Primary ${size}`), `${PROXY} running`].join('\n');
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
        applied: startedWith.probe(MARKER, wantedFiles(ctx).map((f) => f.path)),
        appUser: rootSqlScript(ctx.answers, appUserQuery(ctx.answers)),
      },
    };
  },
  plan(ctx, facts: Facts): Action[] {
    const actions = fileActions(facts, wantedFiles(ctx));
    const changed = actions.length > 0 || facts.probes.applied.out.trim() !== 'yes';
    const healthy = facts.probes.cluster.out.trim() === galeraHealthyState(ctx);
    if (changed || !healthy) {
      const nodes = dbNodeNames(ctx.answers);
      actions.push({
        kind: 'run',
        title: `start the ${nodes.length} Galera nodes and the database proxy, one node at a time (all on this host: they survive a dead container or mariadbd, not a dead VM)`,
        script: [
          `set -- ${shellCommand([dbComposePath(ctx.answers), ROLL_TIMEOUT_S, PROXY, ...nodes])}`,
          assetText('scripts', 'galera-roll.sh'),
          startedWith.record(MARKER, wantedFiles(ctx).map((f) => f.path)),
        ].join('\n'),
        timeoutMs: (ROLL_TIMEOUT_S + 120) * 1000,
        hint: `the nodes' logs: docker compose --file ${dbComposePath(ctx.answers)} logs`,
        effects: [
          { probe: 'cluster', code: 0, out: `${galeraHealthyState(ctx)}\n` },
          { probe: 'applied', code: 0, out: 'yes\n' },
        ],
      });
    }
    const { password } = ctx.answers.db;
    if (password && facts.probes.appUser.out.trim() !== appUserExpected(password)) {
      actions.push({
        kind: 'run',
        title: `make the database ${ctx.answers.db.name} and its user ${ctx.answers.db.user} (privileges on that database only)`,
        script: rootSqlScript(ctx.answers),
        stdin: appUserSql(ctx.answers, password),
        effects: [{ probe: 'appUser', code: 0, out: `${appUserExpected(password)}\n` }],
      });
    }
    return actions;
  },
};
