import { isIP } from 'node:net';
import type { Answers } from '../answers/schema';
import type { ClusterHost } from '../model';
import type { ComposeService, ComposeSpec } from './compose';
import { dbNetworkName, DB_PROXY_HOST, DB_PROXY_SERVICE, dbProxyConfigPath, dbProxyService, galeraLayout, renderDbProxyConfig, secretsDir } from './db';
import { managedHeader } from './managed';

/**
 * The app on its host: a one-shot migrate service, `app.replicas` containers
 * of the app image, and Nginx on :80 in front of them, one Docker Compose
 * project in /opt/berth/<project>/app. Pure: answers in, text out.
 *
 * Each replica has a fixed address on the app network (app.subnet), so Nginx
 * names them by address: a replica recreated by a deploy or restarted by the
 * watchdog is where Nginx expects it (Nginx 1.26 resolves names only once).
 */

export const LB_IMAGE = 'nginx:1.26';
/** The app's user in the demo image and the contract (assets/app/README.md): its secret files belong to it. */
export const APP_UID = 10001;
const APP_PORT = 8000;
const SECRET_KEY_IN_CONTAINER = '/run/secrets/django_secret_key';
const DB_PASSWORD_IN_CONTAINER = '/run/secrets/db_password';

export function appDir(answers: Answers): string {
  return `/opt/berth/${answers.project}/app`;
}

export function appComposePath(answers: Answers): string {
  return `${appDir(answers)}/compose.yaml`;
}

/** Nginx reads the whole directory: a file replaced by rename is seen there (a single bind-mounted file would keep the old one). */
export function nginxConfPath(answers: Answers): string {
  return `${appDir(answers)}/nginx/default.conf`;
}

export const APP_SECRET_FILES = {
  secretKey: (answers: Answers) => `${secretsDir(answers)}/django-secret-key`,
  dbPassword: (answers: Answers) => `${secretsDir(answers)}/db-password`,
};

export function replicaNames(answers: Answers): string[] {
  return Array.from({ length: answers.app.replicas }, (_, i) => `app-${i + 1}`);
}

/** Replica n (from 1) at .(10 + n) of the /24; Docker gives other containers addresses from the upper half only. */
export function replicaAddress(answers: Answers, n: number): string {
  const [a, b, c] = answers.app.subnet.split('/')[0].split('.');
  return `${a}.${b}.${c}.${10 + n}`;
}

function dynamicRange(answers: Answers): string {
  const [a, b, c] = answers.app.subnet.split('/')[0].split('.');
  return `${a}.${b}.${c}.128/25`;
}

/** The names the site answers to: every lb host's addresses, app.domain and app.allowedHosts (Django's ALLOWED_HOSTS). */
export function allowedHosts(answers: Answers, cluster: readonly ClusterHost[]): string[] {
  const lbAddresses = cluster.filter((h) => h.roles.includes('lb')).flatMap((h) => [h.address, h.clusterAddress]);
  const names = [...lbAddresses, ...(answers.app.domain ? [answers.app.domain] : []), ...answers.app.allowedHosts];
  return [...new Set(names.map((name) => (isIP(name) === 6 ? `[${name}]` : name)))];
}

export function renderNginxConf(answers: Answers): string {
  // Three failures before a replica is left out for 5 s: a request that fails on one is passed on anyway, and a
  // database failover (every replica answering 503 for a moment) must not leave Nginx with no replica at all.
  const servers = replicaNames(answers).map((_, i) => `  server ${replicaAddress(answers, i + 1)}:${APP_PORT} max_fails=3 fail_timeout=5s;`);
  const lines = [
    'upstream app {',
    ...servers,
    '  keepalive 16;',
    '}',
    'server {',
    '  listen 80 default_server;',
    '  server_name _;',
    '  location = /nginx-health {',
    '    access_log off;',
    '    return 200 "ok\\n";',
    '  }',
    '  location / {',
    '    proxy_pass http://app;',
    '    proxy_http_version 1.1;',
    '    proxy_set_header Connection "";',
    '    proxy_set_header Host $host;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '    proxy_set_header X-Forwarded-Proto $scheme;',
    '    proxy_connect_timeout 2s;',
    '    proxy_read_timeout 30s;',
    // Nginx passes a request on only while it is idempotent or was not sent yet (no non_idempotent): a POST is never sent twice.
    '    proxy_next_upstream error timeout http_502 http_503 http_504;',
    '    proxy_next_upstream_tries 3;',
    '  }',
    '}',
    '',
  ];
  return `${managedHeader('the load balancer in front of the app (app in the answers file)')}${lines.join('\n')}`;
}

/** Spread over three or more db hosts (render/db.ts), the database proxy runs next to the app: its configuration file there, else none. */
export function appDbProxyConfig(answers: Answers, cluster: readonly ClusterHost[]): { path: string; content: string; mode: number }[] {
  if (!galeraLayout(answers, cluster).spread) return [];
  return [{ path: dbProxyConfigPath(`${appDir(answers)}/dbproxy`), content: renderDbProxyConfig(answers, cluster), mode: 0o644 }];
}

/** The services the replicas and migrations need, started before them: the database proxy when it is in this project. */
export function appDependencies(answers: Answers, cluster: readonly ClusterHost[]): string[] {
  return galeraLayout(answers, cluster).spread ? [DB_PROXY_SERVICE] : [];
}

/** The app's environment: plain values only (the secrets are files). */
function appEnvironment(answers: Answers, cluster: readonly ClusterHost[], version: string): Record<string, string> {
  return {
    APP_VERSION: version,
    DB_HOST: DB_PROXY_HOST,
    DB_PORT: '3306',
    DB_NAME: answers.db.name,
    DB_USER: answers.db.user,
    DB_PASSWORD_FILE: DB_PASSWORD_IN_CONTAINER,
    DJANGO_SECRET_KEY_FILE: SECRET_KEY_IN_CONTAINER,
    DJANGO_ALLOWED_HOSTS: allowedHosts(answers, cluster).join(','),
  };
}

const hardened: Pick<ComposeService, 'cap_drop' | 'security_opt'> = { cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'] };

/** The Compose project "<project>-app". `image` is the app image in the private registry, `version` its tag. */
export function appComposeSpec(answers: Answers, cluster: readonly ClusterHost[], image: string, version: string): ComposeSpec {
  const proxyConfig = appDbProxyConfig(answers, cluster);
  const environment = appEnvironment(answers, cluster, version);
  const dbPassword = { type: 'bind' as const, source: APP_SECRET_FILES.dbPassword(answers), target: DB_PASSWORD_IN_CONTAINER, read_only: true };
  const replica = (n: number): ComposeService => ({
    image,
    hostname: `app-${n}`,
    environment,
    volumes: [dbPassword, { type: 'bind', source: APP_SECRET_FILES.secretKey(answers), target: SECRET_KEY_IN_CONTAINER, read_only: true }],
    ...hardened,
    depends_on: { migrate: { condition: 'service_completed_successfully' } },
    restart: 'always',
    stop_grace_period: '30s',
    labels: { 'berth.keep-running': 'true' },
    networks: { db: {}, front: { ipv4_address: replicaAddress(answers, n) } },
  });
  return {
    name: `${answers.project}-app`,
    services: {
      // One-shot: berth runs it before the replicas start or change (never two at once); `docker compose up` runs it first too.
      migrate: { image, command: ['migrate'], environment, volumes: [dbPassword], ...hardened, restart: 'no', networks: ['db'] },
      ...Object.fromEntries(replicaNames(answers).map((name, i) => [name, replica(i + 1)])),
      ...(proxyConfig.length > 0 ? { [DB_PROXY_SERVICE]: dbProxyService(proxyConfig[0].path, proxyConfig) } : {}),
      lb: {
        image: LB_IMAGE,
        ports: [{ target: 80, published: 80, protocol: 'tcp' }],
        volumes: [{ type: 'bind', source: `${appDir(answers)}/nginx`, target: '/etc/nginx/conf.d', read_only: true }],
        healthcheck: { test: ['CMD', 'curl', '-fsS', '-o', '/dev/null', 'http://127.0.0.1/nginx-health'], interval: '10s', timeout: '3s', retries: 3, start_period: '5s' },
        restart: 'always',
        labels: { 'berth.keep-running': 'true' },
        networks: ['front'],
      },
    },
    networks: {
      // The db project's network on its host; spread, one of this project's own, where the proxy is.
      db: proxyConfig.length > 0 ? {} : { name: dbNetworkName(answers), external: true },
      front: { ipam: { config: [{ subnet: answers.app.subnet, ip_range: dynamicRange(answers) }] } },
    },
  };
}
