import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetPath } from '../../src/assets';
import { ensureBaseImage } from '../../src/sandbox/base-image';
import { ensureNetwork, removeTopologyObjects } from '../../src/sandbox/containers';
import { docker } from '../../src/sandbox/docker';
import { addressPlan, TOPOLOGY_LABEL, topologyNames } from '../../src/sandbox/plan';
import { ensureStandins, type StandinImage } from '../../src/sandbox/standins';
import { e2eSideNetwork, KEEP } from './harness';
import { waitFor } from './wait';

/**
 * The stand-in images really built, run and checked against what the
 * official images do and berth relies on.
 */

const SIDE = e2eSideNetwork('standins', 96);
const PREFIX = SIDE.prefix;
const NAMES = topologyNames(SIDE);
const NETWORK = NAMES.network;
const LABEL = ['--label', `${TOPOLOGY_LABEL}=${PREFIX}`];

/** Runs a detached container of the test, labelled for cleanup. */
async function run(name: string, args: readonly string[]): Promise<string> {
  await docker(['rm', '--force', `${PREFIX}${name}`], { allowFailure: true });
  await docker(['run', '--detach', '--name', `${PREFIX}${name}`, ...LABEL, ...args]);
  return `${PREFIX}${name}`;
}

function exec(container: string, args: readonly string[], input?: string) {
  return docker(['exec', ...(input === undefined ? [] : ['-i']), container, ...args], { allowFailure: true, input });
}


function httpStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends one line over TCP and resolves to everything the peer sends until it closes ('' on any error). */
function tcpExchange(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port, timeout: 5_000 }, () => socket.write(`${line}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('timeout', () => socket.destroy());
    socket.on('error', () => resolve(''));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

async function hostPort(container: string, port: string): Promise<number> {
  const out = await docker(['port', container, port]);
  return Number(out.stdout.trim().split('\n')[0]!.split(':').pop());
}

describe('stand-in images', function () {
  this.timeout(20 * 60_000);
  let images: StandinImage[];
  let scratch: string;

  before(async function () {
    images = await ensureStandins();
    const plan = addressPlan(SIDE);
    await ensureNetwork(PREFIX, NETWORK, NAMES.bridge, plan.subnet, plan.gateway);
    scratch = mkdtempSync(join(tmpdir(), 'berth-standins-'));
  });

  after(async function () {
    if (KEEP) return;
    await removeTopologyObjects(PREFIX);
    rmSync(scratch, { recursive: true, force: true });
  });

  describe('caching', function () {
    it('is a Debian 13 minbase image without package lists, built once', async function () {
      const tag = await ensureBaseImage();
      const id = (await docker(['image', 'inspect', '--format', '{{.Id}}', tag])).stdout;
      const out = await docker(['run', '--rm', tag, 'bash', '-c', '. /etc/os-release; echo $VERSION_CODENAME; ls /var/lib/apt/lists']);
      assert.deepEqual(out.stdout.trim().split('\n'), ['trixie', 'partial']);
      // This machine's resolver must not be baked in (Docker mounts its own over it in containers).
      const created = (await docker(['create', tag])).stdout.trim();
      try {
        await docker(['cp', `${created}:/etc/resolv.conf`, join(scratch, 'resolv.conf')]);
        assert.equal(statSync(join(scratch, 'resolv.conf')).size, 0);
      } finally {
        await docker(['rm', created]);
      }
      assert.equal(await ensureBaseImage(), tag);
      assert.equal((await docker(['image', 'inspect', '--format', '{{.Id}}', tag])).stdout, id);
    });

    it('builds each stand-in once: a second ensure keeps every image id', async function () {
      assert.deepEqual(
        images.map((image) => image.tag),
        ['registry:2', 'mariadb:11.8', 'nginx:1.26', 'python:3.13-slim', 'haproxy:3.0'],
      );
      assert.deepEqual(await ensureStandins(), images);
    });
  });

  describe('registry:2', function () {
    it('keeps the official layout: /bin/registry, config path, `registry serve` by default, volume, port', async function () {
      const inspect = JSON.parse((await docker(['image', 'inspect', 'registry:2'])).stdout)[0].Config;
      assert.deepEqual(inspect.Entrypoint, ['/entrypoint.sh']);
      assert.deepEqual(inspect.Cmd, ['/etc/docker/registry/config.yml']);
      assert.deepEqual(Object.keys(inspect.Volumes), ['/var/lib/registry']);
      assert.deepEqual(Object.keys(inspect.ExposedPorts), ['5000/tcp']);
      const version = await docker(['run', '--rm', 'registry:2', '--version']);
      assert.match(version.stdout, /^registry github.com\/docker\/distribution v?2\.8\./);
      const config = await docker(['run', '--rm', '--entrypoint', 'cat', 'registry:2', '/etc/docker/registry/config.yml']);
      assert.match(config.stdout, /rootdirectory: \/var\/lib\/registry/);
    });

    it('takes htpasswd auth from REGISTRY_* variables: 401 without credentials, 200 with them', async function () {
      // bcrypt as `htpasswd -B` writes it ($2y$), made by the C library's crypt() in the base image.
      const hash = await docker(['run', '--rm', '-e', 'PW=s3cret pass', await ensureBaseImage(), 'perl', '-e',
        'my @c = ("a".."z", "A".."Z", 0..9, ".", "/"); my $salt = join "", map { $c[rand @c] } 1..22; print crypt($ENV{PW}, "\\$2y\\$05\\$$salt")']);
      assert.match(hash.stdout, /^\$2y\$05\$.{53}$/);
      writeFileSync(join(scratch, 'htpasswd'), `berth:${hash.stdout}\n`);
      const container = await run('registry', [
        '--publish', '127.0.0.1::5000',
        '--volume', `${scratch}:/auth:ro`,
        '-e', 'REGISTRY_AUTH=htpasswd',
        '-e', 'REGISTRY_AUTH_HTPASSWD_REALM=Registry Realm',
        '-e', 'REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd',
        '-e', 'REGISTRY_STORAGE_DELETE_ENABLED=true',
        'registry:2',
      ]);
      const port = await hostPort(container, '5000/tcp');
      await waitFor(container, 'the registry answering', async () => (await httpStatus(port, '/v2/').catch(() => ({ status: 0 }))).status !== 0);
      const anonymous = await httpStatus(port, '/v2/');
      assert.equal(anonymous.status, 401);
      const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
      assert.equal((await httpStatus(port, '/v2/', basic('berth', 'wrong'))).status, 401);
      assert.equal((await httpStatus(port, '/v2/', basic('berth', 's3cret pass'))).status, 200);
    });
  });

  describe('mariadb:11.8', function () {
    it('initialises from MARIADB_* variables, _FILE secrets and initdb.d, then runs mariadbd as mysql', async function () {
      writeFileSync(join(scratch, 'root-password'), "r00t'pw\n");
      writeFileSync(join(scratch, 'app-password'), 'app pw');
      const initdb = join(scratch, 'initdb');
      mkdirSync(initdb);
      writeFileSync(join(initdb, '01-schema.sql'), 'CREATE TABLE greeting (text VARCHAR(20)); INSERT INTO greeting VALUES ("hello");\n');
      writeFileSync(join(initdb, '02-more.sh'), 'docker_process_sql <<<"INSERT INTO greeting VALUES (\'from sh\')"\n');
      const container = await run('mariadb', [
        '--volume', `${scratch}:/run/secrets:ro`,
        '--volume', `${initdb}:/docker-entrypoint-initdb.d:ro`,
        '-e', 'MARIADB_ROOT_PASSWORD_FILE=/run/secrets/root-password',
        '-e', 'MARIADB_DATABASE=app',
        '-e', 'MARIADB_USER=app',
        '-e', 'MARIADB_PASSWORD_FILE=/run/secrets/app-password',
        'mariadb:11.8',
      ]);
      const healthy = async () => (await exec(container, ['healthcheck.sh', '--connect', '--innodb_initialized'])).code === 0;
      await waitFor(container, 'healthcheck --connect --innodb_initialized', healthy);
      const asApp = await exec(container, ['mariadb', '-uapp', '-papp pw', '-h127.0.0.1', '-N', 'app', '-e', 'SELECT text FROM greeting ORDER BY text']);
      assert.equal(asApp.stdout, 'from sh\nhello\n', asApp.stderr);
      const asRoot = await exec(container, ['mariadb', '-uroot', "-pr00t'pw", '-h127.0.0.1', '-N', '-e', "SELECT COUNT(*) FROM mysql.user WHERE user='healthcheck'"]);
      assert.equal(asRoot.stdout, '3\n', asRoot.stderr);
      assert.equal((await exec(container, ['stat', '-c', '%U', '/proc/1'])).stdout, 'mysql\n');
      assert.equal((await exec(container, ['stat', '-c', '%U %a', '/var/lib/mysql/.my-healthcheck.cnf'])).stdout, 'mysql 600\n');
      assert.equal((await exec(container, ['cat', '/proc/1/comm'])).stdout, 'mariadbd\n');

      // A restart keeps the datadir and does not initialise again.
      await docker(['restart', container]);
      await waitFor(container, 'healthy after a restart', healthy);
      const logs = await docker(['logs', container]);
      assert.equal(`${logs.stdout}${logs.stderr}`.split('Initializing database files').length - 1, 1);
      const rows = await exec(container, ['mariadb', '-uapp', '-papp pw', '-h127.0.0.1', '-N', 'app', '-e', 'SELECT COUNT(*) FROM greeting']);
      assert.equal(rows.stdout, '2\n');
    });

    it('generates a random root password, allows an empty one, and refuses to start without a choice', async function () {
      const random = await run('mariadb-random', ['-e', 'MARIADB_RANDOM_ROOT_PASSWORD=1', 'mariadb:11.8']);
      const empty = await run('mariadb-empty', ['-e', 'MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=yes', 'mariadb:11.8']);
      for (const container of [random, empty]) {
        await waitFor(container, 'healthy', async () => (await exec(container, ['healthcheck.sh', '--connect', '--innodb_initialized'])).code === 0);
      }
      const logs = await docker(['logs', random]);
      const password = /GENERATED ROOT PASSWORD: (\S+)/.exec(logs.stdout + logs.stderr)?.[1];
      assert.ok(password, 'the generated password is logged');
      assert.equal((await exec(random, ['mariadb', '-uroot', `-p${password}`, '-N', '-e', 'SELECT 1'])).stdout, '1\n');
      assert.equal((await exec(random, ['mariadb', '-uroot', '-N', '-e', 'SELECT 1'])).code, 1);
      assert.equal((await exec(empty, ['mariadb', '-uroot', '-h127.0.0.1', '-N', '-e', 'SELECT 1'])).stdout, '1\n');

      const refused = await docker(['run', '--rm', ...LABEL, 'mariadb:11.8'], { allowFailure: true });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Database is uninitialized and password option is not specified/);
    });

    it('forms a three-node Galera cluster with the extra arguments passed to mariadbd', async function () {
      const config = join(scratch, 'galera');
      mkdirSync(config);
      const nodes = ['galera1', 'galera2', 'galera3'].map((name) => `${PREFIX}${name}`);
      writeFileSync(
        join(config, 'galera.cnf'),
        [
          '[galera]',
          'wsrep_on=ON',
          'wsrep_provider=/usr/lib/galera/libgalera_smm.so',
          'wsrep_cluster_name=berth-standins',
          'wsrep_sst_method=mariabackup',
          'wsrep_sst_auth=root:galera-pw',
          'binlog_format=ROW',
          'innodb_autoinc_lock_mode=2',
          '',
        ].join('\n'),
      );
      const common = (name: string) => [
        '--network', NETWORK, '--hostname', name,
        '--volume', `${config}:/etc/mysql/conf.d:ro`,
        '-e', 'MARIADB_ROOT_PASSWORD=galera-pw',
        '-e', 'MARIADB_MYSQL_LOCALHOST_USER=1',
        'mariadb:11.8',
        `--wsrep_cluster_address=gcomm://${nodes.join(',')}`,
      ];
      const [first, ...joiners] = nodes as [string, string, string];
      await run('galera1', [...common(first), '--wsrep-new-cluster']);
      // The healthcheck as one would use it for Galera: mysql@localhost by socket survives the SST.
      const online = (node: string) => async () => (await exec(node, ['healthcheck.sh', '--su-mysql', '--connect', '--galera_online'])).code === 0;
      await waitFor(first, 'the first node Synced', online(first));
      for (const node of joiners) await run(node.slice(PREFIX.length), common(node));
      for (const node of joiners) await waitFor(node, 'Synced after joining', online(node), 180);
      for (const node of nodes) {
        const size = await exec(node, ['mariadb', '-uroot', '-pgalera-pw', '-N', '-e', "SHOW STATUS LIKE 'wsrep_cluster_size'"]);
        assert.equal(size.stdout, 'wsrep_cluster_size\t3\n', node);
      }
      const sql = (node: string, statement: string) => exec(node, ['mariadb', '-uroot', '-pgalera-pw', '-N', '-e', statement]);
      assert.equal((await sql(nodes[2]!, 'CREATE DATABASE replicated; CREATE TABLE replicated.t (id INT PRIMARY KEY); INSERT INTO replicated.t VALUES (7)')).code, 0);
      assert.equal((await sql(nodes[0]!, 'SELECT id FROM replicated.t')).stdout, '7\n');
    });
  });

  describe('nginx:1.26', function () {
    it('serves conf.d with the official layout, as user nginx, logging to stdout, stopping on SIGQUIT', async function () {
      const config = JSON.parse((await docker(['image', 'inspect', 'nginx:1.26'])).stdout)[0].Config;
      assert.equal(config.StopSignal, 'SIGQUIT');
      assert.deepEqual(config.Cmd, ['nginx', '-g', 'daemon off;']);
      const templates = join(scratch, 'templates');
      mkdirSync(templates);
      writeFileSync(join(templates, 'hello.conf.template'), 'server { listen 8080; location / { return 200 "hello $GREETING from $host\\n"; } }\n');
      const container = await run('nginx', ['--publish', '127.0.0.1::80', '--publish', '127.0.0.1::8080', '--volume', `${templates}:/etc/nginx/templates:ro`, '-e', 'GREETING=berth', 'nginx:1.26']);
      const port = await hostPort(container, '80/tcp');
      await waitFor(container, 'nginx answering', async () => (await httpStatus(port, '/').catch(() => ({ status: 0 }))).status === 200);
      assert.match((await httpStatus(port, '/')).body, /Welcome to nginx!/);
      // Environment variables are substituted; nginx's own $host is left alone.
      assert.equal((await httpStatus(await hostPort(container, '8080/tcp'), '/')).body, 'hello berth from 127.0.0.1\n');
      const owners = await exec(container, ['bash', '-c', 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = nginx ] && stat -c %U $p; done | sort | uniq -c']);
      assert.match(owners.stdout, /^\s+1 root$/m, 'one master, as root');
      assert.match(owners.stdout, /^\s+[1-9]\d* nginx$/m, 'workers as nginx');
      const include = await exec(container, ['grep', '-c', 'include /etc/nginx/conf.d/\\*.conf;', '/etc/nginx/nginx.conf']);
      assert.equal(include.stdout, '1\n');
      await waitFor(container, 'the access log on stdout', async () => /"GET \/ HTTP\/1.1" 200/.test((await docker(['logs', container])).stdout));
    });
  });

  describe('python:3.13-slim', function () {
    it("has python and pip in /usr/local/bin and satisfies the demo app's requirements with no network at all", async function () {
      const requirements = assetPath('app', 'requirements.txt');
      const result = await docker([
        'run', '--rm', '--network', 'none', '--volume', `${requirements}:/app/requirements.txt:ro`, 'python:3.13-slim', 'bash', '-ec',
        `readlink -f /usr/local/bin/python /usr/local/bin/pip
         python --version
         ls /usr/lib/python3.13/EXTERNALLY-MANAGED 2>/dev/null || echo no-marker
         pip install --no-cache-dir -r /app/requirements.txt
         pip install --no-index --quiet -r /app/requirements.txt && echo no-index-ok
         python -c 'import django, gunicorn, pymysql; print(django.get_version(), gunicorn.__version__, ".".join(map(str, pymysql.VERSION[:3])))'
         python -c 'import urllib.request; print("urllib ok")'`,
      ], { allowFailure: true });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const lines = result.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 2), ['/usr/bin/python3.13', '/usr/bin/pip3']);
      assert.match(lines[2]!, /^Python 3\.13\./);
      assert.equal(lines[3], 'no-marker');
      for (const requirement of ['Django<4.3,>=4.2', 'gunicorn>=21.2', 'PyMySQL>=1.0.2']) {
        assert.match(result.stdout, new RegExp(`Requirement already satisfied: ${requirement.replace(/[.<>=]/g, '\\$&')} in /usr/lib/python3/dist-packages`));
      }
      assert.match(result.stdout, /^no-index-ok$/m);
      assert.match(result.stdout, /^4\.2\.\d+ \d+\.\d+\.\d+ 1\.\d+\.\d+$/m);
      // The same run with a requirement Debian does not provide fails: the check above is real.
      writeFileSync(join(scratch, 'requirements.txt'), 'Django>=4.2,<5.0\nrequests-toolbelt-not-installed\n');
      const missing = await docker(
        ['run', '--rm', '--network', 'none', '--volume', `${scratch}/requirements.txt:/r.txt:ro`, 'python:3.13-slim', 'pip', 'install', '--retries', '0', '-r', '/r.txt'],
        { allowFailure: true },
      );
      assert.notEqual(missing.code, 0);
    });
  });
  describe('haproxy:3.0', function () {
    /** A config directory the haproxy user can read (the scratch directory above it is 0700). */
    let configDir: string;
    const TCP_CONFIG = (backend: string) => [
      'global',
      '  log stdout format raw local0',
      'defaults',
      '  mode tcp',
      '  log global',
      '  option tcplog',
      '  timeout connect 3s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend db',
      '  bind :3306',
      '  default_backend echo',
      'backend echo',
      `  server echo1 ${backend}:7000`,
      '',
    ].join('\n');

    before(function () {
      configDir = join(scratch, 'haproxy');
      mkdirSync(configDir);
      chmodSync(configDir, 0o755);
    });

    const writeConfig = (name: string, text: string) => {
      writeFileSync(join(configDir, name), text);
      chmodSync(join(configDir, name), 0o644);
    };

    it('keeps the official layout and entrypoint: config path, -W -db added, options alone run haproxy, `haproxy -c` validates', async function () {
      const config = JSON.parse((await docker(['image', 'inspect', 'haproxy:3.0'])).stdout)[0].Config;
      assert.equal(config.StopSignal, 'SIGUSR1');
      assert.deepEqual(config.Entrypoint, ['docker-entrypoint.sh']);
      assert.deepEqual(config.Cmd, ['haproxy', '-f', '/usr/local/etc/haproxy/haproxy.cfg']);
      assert.equal(config.User, 'haproxy');
      assert.equal(config.WorkingDir, '/var/lib/haproxy');
      assert.equal(config.ExposedPorts, undefined);
      const layout = await docker(['run', '--rm', '--entrypoint', 'sh', 'haproxy:3.0', '-c',
        'id -un; stat -c "%U %G" /var/lib/haproxy; command -v haproxy; ls /usr/local/etc/haproxy; ls /usr/local/etc/haproxy/errors | head -n1']);
      assert.deepEqual(layout.stdout.trim().split('\n'), ['haproxy', 'haproxy haproxy', '/usr/local/sbin/haproxy', 'errors', '400.http']);
      // First argument an option: haproxy with it (and -W -db: `haproxy -W -db -v`).
      assert.match((await docker(['run', '--rm', 'haproxy:3.0', '-v'])).stdout, /^HAProxy version 3\.0\./);

      writeConfig('haproxy.cfg', TCP_CONFIG('127.0.0.1'));
      writeConfig('broken.cfg', TCP_CONFIG('127.0.0.1').replace('default_backend echo', 'default_backend nowhere'));
      const check = (file: string) =>
        docker(['run', '--rm', '--network', 'none', '--volume', `${configDir}:/usr/local/etc/haproxy:ro`, 'haproxy:3.0',
          'haproxy', '-c', '-V', '-f', `/usr/local/etc/haproxy/${file}`], { allowFailure: true });
      const valid = await check('haproxy.cfg');
      assert.equal(valid.code, 0, valid.stderr);
      // Debian's haproxy 3.0 says so only with -V; the exit code is what counts.
      assert.match(valid.stdout, /Configuration file is valid/);
      const broken = await check('broken.cfg');
      assert.notEqual(broken.code, 0);
      assert.match(broken.stderr, /unable to find required default_backend: 'nowhere'/);
    });

    it('proxies TCP to a server in another container, as user haproxy (master and worker), and stops gracefully on SIGUSR1', async function () {
      const backend = `${PREFIX}haproxy-echo`;
      writeConfig('haproxy.cfg', TCP_CONFIG(backend));
      await run('haproxy-echo', ['--network', NETWORK, '--hostname', 'echo-backend', 'python:3.13-slim', 'python', '-c', [
        'import socket, socketserver',
        'class Echo(socketserver.StreamRequestHandler):',
        '    def handle(self):',
        '        self.wfile.write(b"echo from " + socket.gethostname().encode() + b": " + self.rfile.readline())',
        'socketserver.ThreadingTCPServer(("", 7000), Echo).serve_forever()',
      ].join('\n')]);
      const container = await run('haproxy', [
        '--network', NETWORK, '--publish', '127.0.0.1::3306', '--volume', `${configDir}:/usr/local/etc/haproxy:ro`, 'haproxy:3.0',
      ]);
      const port = await hostPort(container, '3306/tcp');
      // Until the echo server listens, haproxy closes the connection without an answer.
      await waitFor(container, 'an answer through haproxy', async () => (await tcpExchange(port, 'ping')) !== '', 30);
      assert.equal(await tcpExchange(port, 'hello haproxy'), 'echo from echo-backend: hello haproxy\n');
      await waitFor(container, 'the connection in the tcplog on stdout', async () => / db echo\/echo1 /.test((await docker(['logs', container])).stdout));

      const processes = await exec(container, ['sh', '-c', 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = haproxy ] && echo "$(stat -c %U $p) $(tr "\\0" " " <$p/cmdline)"; done']);
      const lines = processes.stdout.trim().split('\n').map((line) => line.trimEnd());
      assert.equal(lines.length, 2, `a master and one worker: ${processes.stdout}`);
      for (const line of lines) assert.equal(line, 'haproxy haproxy -W -db -f /usr/local/etc/haproxy/haproxy.cfg');
      assert.equal((await exec(container, ['cat', '/proc/1/comm'])).stdout, 'haproxy\n');

      const started = Date.now();
      await docker(['stop', '--time', '10', container]);
      assert.ok(Date.now() - started < 5_000, 'stopped by SIGUSR1, not killed after the timeout');
      assert.equal((await docker(['inspect', '--format', '{{.State.ExitCode}}', container])).stdout.trim(), '0');
      const logs = await docker(['logs', container]);
      assert.match(logs.stderr, /All workers exited\. Exiting\.\.\. \(0\)/);
    });
  });
});
