import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Answers } from '../answers/schema';
import type { Secret } from '../answers/secret';
import { assetText } from '../assets';
import type { ClusterHost } from '../model';
import { shellCommand, shq } from '../shell';
import type { ComposeService, ComposeSpec } from './compose';
import { managedHeader, managedScript } from './managed';

/**
 * MariaDB Galera: `db.nodes` nodes of the official mariadb image and a
 * single-writer TCP proxy (HAProxy) in front of them. Pure: answers and
 * cluster in, text out.
 *
 * Two layouts (galeraLayout). One db host: every node on it, one Docker
 * Compose project in /opt/berth/<project>/db with the proxy, high availability
 * against a dead container or a crashed mariadbd, not against a dead VM.
 * Three or more db hosts: one node on each (dbN on the Nth db host, on the
 * host's own network at its cluster address), and the proxy next to the app.
 *
 * The nodes decide among themselves how to start (assets/scripts/galera-start.sh:
 * create the cluster once, recover it from the most advanced node after a
 * full outage, join otherwise), from the positions their peers serve on :9200.
 */

export const DB_IMAGE = 'mariadb:11.8';
export const DB_PROXY_IMAGE = 'haproxy:3.0';
/** The proxy's name on the database network: what the app connects to (the demo app's DB_HOST default). */
export const DB_PROXY_HOST = 'db';
/** The proxy's service name, in whichever project runs it. */
export const DB_PROXY_SERVICE = 'dbproxy';
/** Where each node serves its own verdict (200: Synced in a Primary component) for the proxy and its peers. */
export const CHECK_PORT = 9200;
const STATE_DIR = '/galera';
const ROOT_PASSWORD_IN_CONTAINER = '/run/secrets/db_root_password';
/** Privileges of mysql@localhost (unix socket): the SST (mariabackup, as the mysql user), the healthcheck and the :9200 check. No password. */
export const SOCKET_USER_GRANTS = 'RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR';

export function dbDir(answers: Answers): string {
  return `/opt/berth/${answers.project}/db`;
}

export function dbComposePath(answers: Answers): string {
  return `${dbDir(answers)}/compose.yaml`;
}

/** The project's secrets on the host: root-only, mounted read-only into the containers that need them. */
export function secretsDir(answers: Answers): string {
  return `/etc/berth/${answers.project}`;
}

export function dbRootPasswordPath(answers: Answers): string {
  return `${secretsDir(answers)}/db-root-password`;
}

/** The db Compose project's name on every db host. */
export function dbProjectName(answers: Answers): string {
  return `${answers.project}-db`;
}

/** The database network, named so that the app's project can join it. */
export function dbNetworkName(answers: Answers): string {
  return `${answers.project}-db`;
}

export function dbNodeNames(answers: Answers): string[] {
  return Array.from({ length: answers.db.nodes }, (_, i) => `db${i + 1}`);
}

/** Where the nodes run: `spread` with three or more db hosts (dbN on the Nth, preflight checks db.nodes equals their number), else all on the first. */
export interface GaleraLayout {
  spread: boolean;
  nodes: { name: string; host: ClusterHost }[];
}

export function galeraLayout(answers: Answers, cluster: readonly ClusterHost[]): GaleraLayout {
  const dbHosts = cluster.filter((h) => h.roles.includes('db'));
  const spread = dbHosts.length >= 3;
  return { spread, nodes: dbNodeNames(answers).map((name, i) => ({ name, host: dbHosts[spread ? i % dbHosts.length : 0] })) };
}

/** The nodes on `host`, in order. */
export function localNodeNames(answers: Answers, cluster: readonly ClusterHost[], host: ClusterHost): string[] {
  return galeraLayout(answers, cluster)
    .nodes.filter((n) => n.host.name === host.name)
    .map((n) => n.name);
}

/** An address as Galera's gcomm:// and HAProxy's server lines take it: IPv6 in brackets. */
const hostPort = (address: string) => (isIP(address) === 6 ? `[${address}]` : address);

/** The files the db project on `host` reads, by their place there; the scripts come from assets/scripts. */
export function dbConfigFiles(answers: Answers, cluster: readonly ClusterHost[], host: ClusterHost): { path: string; content: string; mode: number }[] {
  const dir = dbDir(answers);
  return [
    { path: `${dir}/galera.cnf`, content: renderGaleraCnf(answers, cluster, host), mode: 0o644 },
    ...(galeraLayout(answers, cluster).spread ? [] : [{ path: dbProxyConfigPath(dir), content: renderDbProxyConfig(answers, cluster), mode: 0o644 }]),
    { path: `${dir}/galera-start.sh`, content: managedScript(assetText('scripts', 'galera-start.sh'), 'the Galera node entrypoint'), mode: 0o755 },
    { path: `${dir}/galera-http-check.sh`, content: managedScript(assetText('scripts', 'galera-http-check.sh'), 'the Galera node check'), mode: 0o755 },
  ];
}

/** The proxy's configuration file, in the directory of the project that runs it. */
export const dbProxyConfigPath = (dir: string) => `${dir}/haproxy.cfg`;

/**
 * conf.d/galera.cnf of the nodes on `host`. The SST logs in as mysql@localhost
 * by unix socket: no password in any file. Spread, the node is at its host's
 * cluster address (SST, IST and Galera's port there).
 */
export function renderGaleraCnf(answers: Answers, cluster: readonly ClusterHost[], host: ClusterHost): string {
  const layout = galeraLayout(answers, cluster);
  const members = layout.spread ? layout.nodes.map((n) => hostPort(n.host.clusterAddress)) : layout.nodes.map((n) => n.name);
  const lines = [
    '[galera]',
    'wsrep_on=ON',
    'wsrep_provider=/usr/lib/galera/libgalera_smm.so',
    `wsrep_cluster_name=${answers.project}`,
    `wsrep_cluster_address=gcomm://${members.join(',')}`,
    ...(layout.spread ? [`wsrep_node_name=${localNodeNames(answers, cluster, host)[0]}`, `wsrep_node_address=${hostPort(host.clusterAddress)}`] : []),
    'wsrep_sst_method=mariabackup',
    'wsrep_sst_auth=mysql:',
    // The last view is kept on disk, so that a cluster killed whole can re-form from it as well.
    'wsrep_provider_options="pc.recovery=true"',
    'binlog_format=ROW',
    'innodb_autoinc_lock_mode=2',
    // An acknowledged write is on disk on the node that committed it: recovery picks the most advanced node.
    'innodb_flush_log_at_trx_commit=1',
    '',
  ];
  return `${managedHeader('the Galera configuration (db in the answers file)')}${lines.join('\n')}`;
}

/**
 * haproxy.cfg: every connection to one Synced node, the others as backups,
 * and a node in use kept until it fails (no fail-back). On one host the nodes
 * are names Docker's DNS resolves at run time, so the proxy starts and follows
 * a node while it is down or recreated; spread, they are their hosts' addresses.
 */
export function renderDbProxyConfig(answers: Answers, cluster: readonly ClusterHost[]): string {
  const { spread, nodes } = galeraLayout(answers, cluster);
  const [first, ...others] = nodes.map((n) => `${n.name} ${spread ? hostPort(n.host.clusterAddress) : n.name}:3306`);
  const lines = [
    'global',
    '  log stdout format raw local0',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  timeout connect 3s',
    '  timeout client 8h',
    '  timeout server 8h',
    '  timeout check 2s',
    ...(spread ? [] : ['resolvers docker', '  nameserver dns 127.0.0.11:53', '  hold valid 2s', '  hold nx 2s', '  hold obsolete 2s']),
    'frontend mysql',
    '  bind :3306',
    '  default_backend galera',
    'backend galera',
    '  option httpchk GET /',
    '  http-check expect status 200',
    // A connection the node in use refuses or lets time out (it died) marks it down at once and is retried on the next one,
    // so that the app does not wait for the next two failed checks.
    '  option redispatch',
    '  retries 2',
    `  default-server check port ${CHECK_PORT} inter 2s fall 2 rise 2 on-marked-down shutdown-sessions observe layer4 error-limit 1 on-error mark-down${spread ? '' : ' resolvers docker init-addr last,libc,none'}`,
    '  stick-table type integer size 1',
    '  stick on int(1)',
    `  server ${first}`,
    ...others.map((server) => `  server ${server} backup`),
    '',
  ];
  return `${managedHeader('the database proxy (db in the answers file)')}${lines.join('\n')}`;
}

/** The proxy's service, in the project of the host it runs on (the db project on one host, the app's when spread); `aliases`: its names on its network. */
export function dbProxyService(configPath: string, files: readonly { path: string; content: string }[]): ComposeService {
  return {
    image: DB_PROXY_IMAGE,
    volumes: [{ type: 'bind', source: configPath, target: '/usr/local/etc/haproxy/haproxy.cfg', read_only: true }],
    read_only: true,
    cap_drop: ['ALL'],
    security_opt: ['no-new-privileges:true'],
    restart: 'always',
    labels: { 'berth.keep-running': 'true', 'berth.config': digestOf(files.filter((f) => f.path === configPath)) },
    networks: { db: { aliases: [DB_PROXY_HOST] } },
  };
}

/** A digest of the files a service reads, as a label: Compose recreates a service when its labels change, not when a mounted file does. */
export function digestOf(files: readonly { content: string }[]): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.content}\0`);
  return hash.digest('hex').slice(0, 16);
}

/** The db project on `host`: its nodes, and on one host the proxy. */
export function dbComposeSpec(answers: Answers, cluster: readonly ClusterHost[], host: ClusterHost): ComposeSpec {
  const dir = dbDir(answers);
  const layout = galeraLayout(answers, cluster);
  const files = dbConfigFiles(answers, cluster, host);
  const local = localNodeNames(answers, cluster, host);
  const nodeDigest = digestOf(files.filter((f) => f.path !== dbProxyConfigPath(dir)));
  const node = (name: string): ComposeService => ({
    image: DB_IMAGE,
    ...(layout.spread ? {} : { hostname: name }),
    init: true,
    entrypoint: ['/usr/local/bin/galera-start.sh'],
    command: ['mariadbd'],
    environment: {
      GALERA_NODE: name,
      GALERA_NODES: dbNodeNames(answers).join(' '),
      GALERA_STATE: STATE_DIR,
      MARIADB_ROOT_PASSWORD_FILE: ROOT_PASSWORD_IN_CONTAINER,
      MARIADB_MYSQL_LOCALHOST_USER: '1',
      MARIADB_MYSQL_LOCALHOST_GRANTS: SOCKET_USER_GRANTS,
      MARIADB_INITDB_SKIP_TZINFO: '1',
    },
    volumes: [
      { type: 'volume', source: `${name}-data`, target: '/var/lib/mysql' },
      { type: 'volume', source: 'galera-state', target: STATE_DIR },
      { type: 'bind', source: `${dir}/galera.cnf`, target: '/etc/mysql/conf.d/galera.cnf', read_only: true },
      { type: 'bind', source: `${dir}/galera-start.sh`, target: '/usr/local/bin/galera-start.sh', read_only: true },
      { type: 'bind', source: `${dir}/galera-http-check.sh`, target: '/usr/local/bin/galera-http-check.sh', read_only: true },
      { type: 'bind', source: dbRootPasswordPath(answers), target: ROOT_PASSWORD_IN_CONTAINER, read_only: true },
    ],
    // mysql@localhost by socket survives an SST, which replaces the datadir and the image's .my-healthcheck.cnf in it.
    healthcheck: { test: ['CMD', 'healthcheck.sh', '--su-mysql', '--connect', '--galera_online'], interval: '5s', timeout: '5s', retries: 3, start_period: '30m' },
    // Every exit but a manual stop; berth-watchdog.timer starts what `docker kill` left down.
    restart: 'always',
    stop_grace_period: '2m',
    labels: { 'berth.keep-running': 'true', 'berth.config': nodeDigest, 'berth.galera.node': name },
    // Spread: the peers by name (galera-start.sh asks them on :9200) at their hosts' addresses.
    ...(layout.spread ? { network_mode: 'host' as const, extra_hosts: Object.fromEntries(layout.nodes.map((n) => [n.name, n.host.clusterAddress])) } : { networks: ['db'] }),
  });
  return {
    name: dbProjectName(answers),
    services: {
      ...Object.fromEntries(local.map((name) => [name, node(name)])),
      ...(layout.spread ? {} : { [DB_PROXY_SERVICE]: dbProxyService(dbProxyConfigPath(dir), files) }),
    },
    ...(layout.spread ? {} : { networks: { db: { name: dbNetworkName(answers) } } }),
    volumes: Object.fromEntries([...local.map((name) => [`${name}-data`, {}]), ['galera-state', {}]]),
  };
}

// ---------------------------------------------------------------------------
// The app's database and user

/** What the app's user may do: its own database, tables and indexes in it; nothing on any other database, no global privilege. */
export const APP_PRIVILEGES = ['ALTER', 'CREATE', 'CREATE TEMPORARY TABLES', 'DELETE', 'DROP', 'INDEX', 'INSERT', 'LOCK TABLES', 'REFERENCES', 'SELECT', 'UPDATE'];

const sqlString = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const sqlName = (value: string) => `\`${value}\``;
const appAccount = (answers: Answers) => `${sqlString(answers.db.user)}@'%'`;

/** mysql_native_password's stored form: *HEX(SHA1(SHA1(password))). */
function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

/** The SQL that makes the app's database and user what the answers say (run as root; it holds the password, so it travels on stdin). */
export function appUserSql(answers: Answers, password: Secret): Secret {
  const account = appAccount(answers);
  return password.map((pw) =>
    [
      `CREATE DATABASE IF NOT EXISTS ${sqlName(answers.db.name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      `CREATE USER IF NOT EXISTS ${account} IDENTIFIED VIA mysql_native_password USING PASSWORD(${sqlString(pw)});`,
      `ALTER USER ${account} IDENTIFIED VIA mysql_native_password USING PASSWORD(${sqlString(pw)});`,
      `REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${account};`,
      `GRANT ${APP_PRIVILEGES.join(', ')} ON ${sqlName(answers.db.name)}.* TO ${account};`,
      '',
    ].join('\n'),
  );
}

/** The query whose answer shows the app's database and user as they are: the password only as a hash of its hash. */
export function appUserQuery(answers: Answers): string {
  const grantee = sqlString(`'${answers.db.user}'@'%'`);
  return [
    `SELECT CONCAT('database=', COUNT(*)) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${sqlString(answers.db.name)};`,
    `SELECT CONCAT('auth=', IFNULL((SELECT SHA2(authentication_string, 256) FROM mysql.user WHERE User = ${sqlString(answers.db.user)} AND Host = '%'), '-'));`,
    `SELECT CONCAT('schema=', IFNULL(GROUP_CONCAT(PRIVILEGE_TYPE ORDER BY PRIVILEGE_TYPE SEPARATOR ','), '')) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ${grantee} AND TABLE_SCHEMA = ${sqlString(answers.db.name)};`,
    `SELECT CONCAT('global=', COUNT(*)) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ${grantee} AND PRIVILEGE_TYPE <> 'USAGE';`,
  ].join(' ');
}

/** What appUserQuery prints when the database and user are as the answers say. */
export function appUserExpected(password: Secret): string {
  const auth = createHash('sha256').update(nativePasswordHash(password.reveal())).digest('hex');
  return ['database=1', `auth=${auth}`, `schema=${APP_PRIVILEGES.join(',')}`, 'global=0'].join('\n');
}

/**
 * A script that runs SQL as root in the first of `nodes` (this host's) that
 * answers: `query`, or the script's stdin (SQL holding a password). The root
 * password stays in the container: read from its secret file there.
 */
export function rootSqlScript(answers: Answers, nodes: readonly string[], query?: string): string {
  const mariadb = shellCommand(['mariadb', '--protocol=socket', '-uroot', '-N', '-B', ...(query === undefined ? [] : ['-e', query])]);
  const login = `MYSQL_PWD="$(cat ${ROOT_PASSWORD_IN_CONTAINER})" exec ${mariadb}`;
  // docker exec by the project's labels: quicker than docker compose exec, for a probe of every rerun.
  const container = `"$(docker ps --quiet --filter ${shq(`label=com.docker.compose.project=${dbProjectName(answers)}`)} --filter "label=com.docker.compose.service=$node")"`;
  const exec = `docker exec${query === undefined ? ' -i' : ''} ${container} sh -c ${shq(login)}`;
  return query === undefined
    ? `sql=$(cat)\nfor node in ${nodes.join(' ')}; do printf '%s\\n' "$sql" | ${exec} && exit 0; done\nexit 1`
    : `for node in ${nodes.join(' ')}; do ${exec} && exit 0; done 2>/dev/null\nexit 1`;
}
