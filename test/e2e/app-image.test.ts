import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetPath } from '../../src/assets';
import { ensureNetwork, removeTopologyObjects } from '../../src/sandbox/containers';
import { docker } from '../../src/sandbox/docker';
import { addressPlan, TOPOLOGY_LABEL, topologyNames } from '../../src/sandbox/plan';
import { ensureStandin } from '../../src/sandbox/standins';
import { e2eSideNetwork, KEEP } from './harness';
import { waitFor } from './wait';

/**
 * The demo Django app berth ships (assets/app), really built on the
 * python:3.13-slim stand-in (offline: Debian's packages satisfy its
 * requirements) and run against a real MariaDB stand-in container.
 */

const SIDE = e2eSideNetwork('apptest', 98);
const PREFIX = SIDE.prefix;
const NAMES = topologyNames(SIDE);
const NETWORK = NAMES.network;
const LABEL = ['--label', `${TOPOLOGY_LABEL}=${PREFIX}`];
const IMAGE = `${PREFIX}app:test`;
const APP_UID = '10001';

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const answers = (port: number, path: string) => http(port, path).then(
  (r) => r.status,
  () => 0,
);

/** Runs a detached container of the test, labelled for cleanup. */
async function run(name: string, args: readonly string[]): Promise<string> {
  await docker(['rm', '--force', `${PREFIX}${name}`], { allowFailure: true });
  await docker(['run', '--detach', '--name', `${PREFIX}${name}`, ...LABEL, ...args]);
  return `${PREFIX}${name}`;
}


async function hostPort(container: string): Promise<number> {
  const out = await docker(['port', container, '8000/tcp']);
  return Number(out.stdout.trim().split('\n')[0]!.split(':').pop());
}

const health = async (container: string) =>
  (await docker(['inspect', '--format', '{{if .State.Health}}{{.State.Health.Status}}{{end}}', container])).stdout.trim();

describe('the demo app image (assets/app)', function () {
  this.timeout(10 * 60_000);
  let scratch: string;
  const secretKey = randomBytes(32).toString('base64');
  const dbPassword = `db-${randomBytes(12).toString('hex')}`;
  /** The secrets as files owned by the app's uid, mode 0400, as berth should write them. */
  let secretMounts: string[];
  /** The database password for the MariaDB container (its entrypoint reads it as user mysql). */
  let dbSecretMount: string[];
  /** A secret key file only root may read: what a mistaken chown/chmod gives. */
  let unreadableKeyMount: string[];

  before(async function () {
    const [python] = await Promise.all([ensureStandin('python:3.13-slim'), ensureStandin('mariadb:11.8')]);
    const plan = addressPlan(SIDE);
    await ensureNetwork(PREFIX, NETWORK, NAMES.bridge, plan.subnet, plan.gateway);
    scratch = mkdtempSync(join(tmpdir(), 'berth-apptest-'));
    const secret = (name: string, value: string, owner = Number(APP_UID), mode = 0o400) => {
      const file = join(scratch, `${name}.${owner}`);
      writeFileSync(file, `${value}\n`, { mode });
      chownSync(file, owner, owner);
      return ['--volume', `${file}:/run/secrets/${name}:ro`];
    };
    secretMounts = [...secret('django_secret_key', secretKey), ...secret('db_password', dbPassword)];
    dbSecretMount = secret('db_password', dbPassword, 0, 0o444);
    unreadableKeyMount = secret('django_secret_key', secretKey, 0, 0o400);
    // FROM the stand-in's image id: another run retagging python:3.13-slim meanwhile cannot change the base.
    await docker(['build', '--build-arg', `PYTHON_IMAGE=${python!.id}`, ...LABEL, '--tag', IMAGE, assetPath('app')]);
  });

  after(async function () {
    if (KEEP) return;
    await removeTopologyObjects(PREFIX);
    await docker(['rmi', IMAGE], { allowFailure: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('builds offline with no secret: requirements already satisfied, non-root user, Python healthcheck, no secret in any layer', async function () {
    const config = JSON.parse((await docker(['image', 'inspect', IMAGE])).stdout)[0].Config;
    assert.equal(config.User, `${APP_UID}:${APP_UID}`);
    assert.deepEqual(config.Entrypoint, ['/bin/sh', '/app/entrypoint.sh']);
    assert.deepEqual(config.Cmd, ['serve']);
    assert.deepEqual(Object.keys(config.ExposedPorts), ['8000/tcp']);
    assert.deepEqual(config.Healthcheck.Test, ['CMD', 'python', '/app/healthcheck.py']);
    const history = (await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', IMAGE])).stdout;
    const env = (config.Env as string[]).join('\n');
    for (const text of [history, env]) {
      assert.doesNotMatch(text, /(SECRET|PASSWORD|_KEY)\w*=/i);
      assert.ok(!text.includes(secretKey) && !text.includes(dbPassword));
    }
    const inside = await docker([
      'run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-ec',
      `pip install --no-index --quiet -r requirements.txt && echo no-index-ok
       ls -A /run/secrets 2>/dev/null | wc -l
       test -f /app/static/counter/style.css && echo static-collected
       stat -c '%u %a' /app /app/manage.py
       touch /app/x 2>/dev/null || echo code-read-only`,
    ], { allowFailure: true });
    assert.equal(inside.code, 0, inside.stdout + inside.stderr);
    assert.deepEqual(inside.stdout.trim().split('\n'), ['no-index-ok', '0', 'static-collected', '0 755', '0 755', 'code-read-only']);
  });

  it('refuses to serve without a readable secret key file, saying why', async function () {
    const result = await docker(['run', '--rm', ...LABEL, IMAGE], { allowFailure: true });
    assert.equal(result.code, 78);
    assert.match(result.stderr, /no Django secret key: \/run\/secrets\/django_secret_key is missing or empty/);
    const unreadable = await docker(['run', '--rm', ...LABEL, ...unreadableKeyMount, IMAGE], { allowFailure: true });
    assert.equal(unreadable.code, 78);
    assert.match(unreadable.stderr, /django_secret_key is not readable by uid 10001/);
    // gunicorn started directly, bypassing entrypoint.sh: the WSGI module refuses too.
    const direct = await docker(['run', '--rm', ...LABEL, '--entrypoint', 'timeout', IMAGE, '60', 'gunicorn', 'berthapp.wsgi:application'], { allowFailure: true });
    assert.equal(direct.code, 3, 'gunicorn halts: "Worker failed to boot"');
    assert.match(direct.stderr, /no Django secret key: \/run\/secrets\/django_secret_key is missing or empty/);
  });

  it('with no database: /healthz answers 503 and the container stays up, unhealthy', async function () {
    const container = await run('nodb', [
      '--network', NETWORK, '--publish', '127.0.0.1::8000', ...secretMounts,
      '--health-interval', '2s', '--health-start-period', '1s',
      // Nothing listens on 3306 in the app's own network namespace: connections are refused at once.
      '-e', 'DB_HOST=127.0.0.1', IMAGE,
    ]);
    const port = await hostPort(container);
    await waitFor(container, 'gunicorn answering', async () => (await answers(port, '/healthz')) !== 0);
    const started = Date.now();
    const healthz = await http(port, '/healthz');
    assert.equal(healthz.status, 503);
    assert.ok(Date.now() - started < 4000, 'the check fails fast');
    assert.deepEqual(JSON.parse(healthz.body), { status: 'fail', db: 'error: OperationalError', served_by: healthz.headers['x-served-by'], version: 'dev' });
    assert.equal((await http(port, '/')).status, 503);
    await waitFor(container, 'Docker marking it unhealthy', async () => (await health(container)) === 'unhealthy', 30);
    assert.equal((await docker(['inspect', '--format', '{{.State.Running}} {{.RestartCount}}', container])).stdout.trim(), 'true 0');
  });

  it('against MariaDB: migrate, then / counts visits, /healthz 200, numbered writes, static files, as uid 10001 on a read-only root', async function () {
    const db = await run('db', [
      '--network', NETWORK, ...dbSecretMount,
      '-e', 'MARIADB_RANDOM_ROOT_PASSWORD=1', '-e', 'MARIADB_DATABASE=app', '-e', 'MARIADB_USER=app',
      '-e', 'MARIADB_PASSWORD_FILE=/run/secrets/db_password', 'mariadb:11.8',
    ]);
    const dbEnv = ['--network', NETWORK, ...secretMounts, '-e', `DB_HOST=${db}`];
    // The one-shot migrate service: it waits for the database itself (entrypoint.sh migrate).
    const migrate = await docker(['run', '--rm', ...LABEL, ...dbEnv, IMAGE, 'migrate'], { allowFailure: true });
    assert.equal(migrate.code, 0, migrate.stdout + migrate.stderr);
    assert.match(migrate.stdout, /Applying counter\.0001_initial\.\.\. OK/);
    const again = await docker(['run', '--rm', ...LABEL, ...dbEnv, IMAGE, 'migrate']);
    assert.match(again.stdout, /No migrations to apply/);
    // The committed migrations match the models.
    const makemigrations = await docker(['run', '--rm', ...LABEL, ...dbEnv, IMAGE, 'python', 'manage.py', 'makemigrations', '--check', '--dry-run'], { allowFailure: true });
    assert.equal(makemigrations.code, 0, makemigrations.stdout + makemigrations.stderr);

    const app = await run('app1', [
      ...dbEnv, '--hostname', 'app1', '--publish', '127.0.0.1::8000',
      // As hardened as a stack may run it: nothing to write but /dev/shm, no capabilities.
      '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
      '--health-interval', '2s', '--health-start-period', '1s',
      '-e', 'APP_VERSION=1.2.3', '-e', 'GUNICORN_WORKERS=2', IMAGE,
    ]);
    const port = await hostPort(app);
    await waitFor(app, '/healthz 200', async () => (await answers(port, '/healthz')) === 200);
    const healthz = await http(port, '/healthz');
    assert.deepEqual(JSON.parse(healthz.body), { status: 'ok', db: 'ok', served_by: 'app1', version: '1.2.3' });
    // Any Host header: a load balancer's probe is not subject to ALLOWED_HOSTS.
    assert.equal((await http(port, '/healthz', 'GET', { host: 'app1:8000' })).status, 200);

    const visits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const page = await http(port, '/');
      assert.equal(page.status, 200);
      assert.equal(page.headers['x-served-by'], 'app1');
      assert.equal(page.headers['x-app-version'], '1.2.3');
      assert.match(page.body, new RegExp(`Visits: <strong class="visits">${page.headers['x-visits']}</strong>`));
      assert.match(page.body, /Served by <strong class="served-by">app1<\/strong>/);
      visits.push(Number(page.headers['x-visits']));
    }
    assert.deepEqual(visits, [1, 2, 3]);
    // Concurrent requests (two workers): each gets its own increment, none is lost.
    const concurrent = await Promise.all(Array.from({ length: 16 }, () => http(port, '/')));
    assert.deepEqual(
      concurrent.map((page) => Number(page.headers['x-visits'])).sort((a, b) => a - b),
      Array.from({ length: 16 }, (_, i) => 4 + i),
    );
    assert.equal((await http(port, '/healthz')).status, 200);
    assert.equal(Number((await http(port, '/')).headers['x-visits']), 20, '/healthz does not count or write');
    assert.equal((await http(port, '/', 'GET', { host: 'elsewhere.example' })).status, 400, 'ALLOWED_HOSTS applies to pages');

    const css = await http(port, '/static/counter/style.css');
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /^text\/css/);

    assert.equal((await http(port, '/writes/7', 'POST')).status, 201);
    assert.equal((await http(port, '/writes/7', 'POST')).status, 200);
    assert.equal((await http(port, '/writes/8', 'POST')).status, 201);
    assert.deepEqual(JSON.parse((await http(port, '/writes/count')).body), { count: 2 });
    assert.equal((await http(port, '/writes/7')).status, 200);
    assert.equal((await http(port, '/writes/9')).status, 404);

    const uids = await docker(['exec', app, 'sh', '-c', 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = gunicorn ] && stat -c %u $p; done | sort | uniq -c']);
    assert.equal(uids.stdout.trim(), '3 10001', 'the master and two workers, all as uid 10001');
    await waitFor(app, "Docker's healthcheck passing", async () => (await health(app)) === 'healthy', 30);
    const logs = await docker(['logs', app]);
    assert.match(logs.stdout + logs.stderr, /"GET \/writes\/count HTTP\/1.1" 200/, 'access log on stdout/stderr');
  });
});
