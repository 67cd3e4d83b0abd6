import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Secret } from '../../src/answers/secret';
import { BadInputError } from '../../src/errors';
import { clusterOf } from '../../src/engine/cluster';
import { renderCompose } from '../../src/render/compose';
import { appUserExpected, appUserSql, dbComposeSpec, renderDbProxyConfig, renderGaleraCnf } from '../../src/render/db';
import { allowedHosts, appComposeSpec, renderNginxConf, replicaAddress } from '../../src/render/stack';
import { testAnswers, TEST_SECRETS } from '../support/answers';

const cluster = (answers = testAnswers()) => clusterOf(answers, new Map());
/** The cluster and its host named `name`. */
const on = (answers: ReturnType<typeof testAnswers>, name = 'vm1') => {
  const hosts = cluster(answers);
  return [answers, hosts, hosts.find((h) => h.name === name) ?? hosts[0]] as const;
};
/** Three db hosts: vm1 (app, lb, db), vm2 (registry, db), vm3 (db). */
const spreadAnswers = () =>
  testAnswers({
    hosts: [
      { name: 'vm1', address: '10.0.0.11', roles: ['app', 'lb', 'db'] },
      { name: 'vm2', address: '10.0.0.12', roles: ['registry', 'dns', 'db'] },
      { name: 'vm3', address: '10.0.0.13', roles: ['db'] },
    ],
  });

describe('the stack: Galera', () => {
  it('names every node in the cluster address, with the SST by unix socket (no password in any file)', () => {
    const cnf = renderGaleraCnf(...on(testAnswers({ db: { nodes: 5 } })));
    assert.match(cnf, /^wsrep_cluster_address=gcomm:\/\/db1,db2,db3,db4,db5$/m);
    assert.match(cnf, /^wsrep_sst_method=mariabackup\nwsrep_sst_auth=mysql:$/m);
    assert.match(cnf, /^wsrep_provider_options="pc\.recovery=true"$/m);
  });

  it('sends every connection to one node, the others as backups, followed through Docker DNS', () => {
    const cfg = renderDbProxyConfig(testAnswers(), cluster());
    assert.match(cfg, /  server db1 db1:3306\n  server db2 db2:3306 backup\n  server db3 db3:3306 backup\n$/);
    assert.match(cfg, /option httpchk GET \/\n  http-check expect status 200\n  option redispatch\n  retries 2\n  default-server check port 9200 .*observe layer4 error-limit 1 on-error mark-down resolvers docker init-addr last,libc,none/);
    assert.match(cfg, /stick on int\(1\)/, 'no fail-back: the node in use stays until it fails');
  });

  it('starts nodes without a fixed --wsrep-new-cluster, restarts them always, and keeps the secrets in files', () => {
    const spec = dbComposeSpec(...on(testAnswers()));
    assert.deepEqual(Object.keys(spec.services), ['db1', 'db2', 'db3', 'dbproxy']);
    const db2 = spec.services.db2;
    assert.deepEqual(db2.command, ['mariadbd']);
    assert.equal(db2.restart, 'always');
    assert.equal(db2.init, true);
    assert.equal(db2.depends_on, undefined, 'galera-start.sh orders the nodes, not Compose');
    assert.equal(db2.environment?.MARIADB_ROOT_PASSWORD_FILE, '/run/secrets/db_root_password');
    assert.deepEqual(db2.healthcheck?.test, ['CMD', 'healthcheck.sh', '--su-mysql', '--connect', '--galera_online']);
    const text = renderCompose(spec);
    for (const secret of Object.values(TEST_SECRETS)) assert.ok(!text.includes(secret), 'no secret in the compose file');
    assert.match(text, /networks:\n  db:\n    name: app-db\n/);
  });

  it("labels each node with its configuration's digest, so that a changed file recreates it", () => {
    const a = dbComposeSpec(...on(testAnswers())).services.db1.labels?.['berth.config'];
    const b = dbComposeSpec(...on(testAnswers({ project: 'other' }))).services.db1.labels?.['berth.config'];
    assert.match(a ?? '', /^[0-9a-f]{16}$/);
    assert.notEqual(a, b, 'the cluster name is in galera.cnf');
  });
});

describe('the stack: Galera spread over three db hosts', () => {
  it('puts dbN on the Nth db host, at its cluster address, on the host network, naming its peers by address', () => {
    const cnf = renderGaleraCnf(...on(spreadAnswers(), 'vm2'));
    assert.match(cnf, /^wsrep_cluster_address=gcomm:\/\/10\.0\.0\.11,10\.0\.0\.12,10\.0\.0\.13\nwsrep_node_name=db2\nwsrep_node_address=10\.0\.0\.12$/m);
    const spec = dbComposeSpec(...on(spreadAnswers(), 'vm2'));
    assert.deepEqual(Object.keys(spec.services), ['db2'], 'one node, and no proxy: it runs next to the app');
    assert.equal(spec.services.db2.network_mode, 'host');
    assert.equal(spec.services.db2.hostname, undefined, 'Docker refuses a hostname on the host network');
    assert.deepEqual(spec.services.db2.extra_hosts, { db1: '10.0.0.11', db2: '10.0.0.12', db3: '10.0.0.13' });
    assert.equal(spec.services.db2.environment?.GALERA_NODES, 'db1 db2 db3');
    assert.equal(spec.networks, undefined);
    assert.deepEqual(Object.keys(spec.volumes ?? {}), ['db2-data', 'galera-state']);
    assert.match(renderCompose(spec), /network_mode: host\n    extra_hosts:\n      db1: 10\.0\.0\.11\n/);
  });

  it("runs the proxy in the app's project, pointed at the db hosts' addresses (no Docker DNS)", () => {
    const answers = spreadAnswers();
    const spec = appComposeSpec(answers, cluster(answers), '10.0.0.12:5000/app/app:abc', 'abc');
    assert.deepEqual(Object.keys(spec.services), ['migrate', 'app-1', 'app-2', 'dbproxy', 'lb']);
    assert.deepEqual(spec.services.dbproxy.networks, { db: { aliases: ['db'] } });
    assert.deepEqual(spec.networks?.db, {}, "the app project's own network, not the db project's");
    assert.equal(spec.services.dbproxy.volumes?.[0].source, '/opt/berth/app/app/dbproxy/haproxy.cfg');
    const cfg = renderDbProxyConfig(answers, cluster(answers));
    assert.match(cfg, /  server db1 10\.0\.0\.11:3306\n  server db2 10\.0\.0\.12:3306 backup\n  server db3 10\.0\.0\.13:3306 backup\n$/);
    assert.doesNotMatch(cfg, /resolvers/);
  });
});

describe("the stack: the app's database user", () => {
  it('grants privileges on its own database only, with quotes in the password escaped, and knows the hash to expect', () => {
    const answers = testAnswers();
    const sql = appUserSql(answers, new Secret("it's a \\ secret", 'literal')).reveal();
    assert.match(sql, /PASSWORD\('it\\'s a \\\\ secret'\)/);
    assert.match(sql, /^GRANT ALTER, CREATE, CREATE TEMPORARY TABLES, DELETE, DROP, INDEX, INSERT, LOCK TABLES, REFERENCES, SELECT, UPDATE ON `app`\.\* TO 'app'@'%';$/m);
    assert.match(sql, /^REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'app'@'%';$/m);
    // MariaDB's PASSWORD() as documented: '*' and the upper-case hex of SHA1(SHA1(password)). (Not the word
    // "password" itself: a Secret is masked in every message of this process, the other tests' too.)
    const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest();
    const stored = `*${sha1(sha1('Hash-Vector-9')).toString('hex').toUpperCase()}`;
    const auth = createHash('sha256').update(stored).digest('hex');
    assert.equal(appUserExpected(new Secret('Hash-Vector-9', 'literal')), `database=1\nauth=${auth}\nschema=ALTER,CREATE,CREATE TEMPORARY TABLES,DELETE,DROP,INDEX,INSERT,LOCK TABLES,REFERENCES,SELECT,UPDATE\nglobal=0`);
  });
});

describe('the stack: the app and Nginx', () => {
  it('balances the replicas at their fixed addresses, passing on only what may be sent again', () => {
    const conf = renderNginxConf(testAnswers({ app: { replicas: 3 } }));
    assert.match(conf, /upstream app \{\n  server 172\.30\.253\.11:8000 max_fails=3 fail_timeout=5s;\n  server 172\.30\.253\.12:8000 max_fails=3 fail_timeout=5s;\n  server 172\.30\.253\.13:8000 max_fails=3 fail_timeout=5s;\n  keepalive 16;\n\}/);
    assert.match(conf, /proxy_next_upstream error timeout http_502 http_503 http_504;/);
    assert.doesNotMatch(conf, /non_idempotent/);
  });

  it('gives each replica its address, the secrets as read-only files, and the lb hosts as allowed hosts', () => {
    const answers = testAnswers({ app: { allowedHosts: ['shop.example'], subnet: '10.99.7.0/24' } });
    const spec = appComposeSpec(answers, cluster(answers), '10.0.0.12:5000/app/app:abc', 'abc');
    assert.deepEqual(Object.keys(spec.services), ['migrate', 'app-1', 'app-2', 'lb']);
    assert.deepEqual(spec.services['app-2'].networks, { db: {}, front: { ipv4_address: '10.99.7.12' } });
    assert.equal(replicaAddress(answers, 2), '10.99.7.12');
    assert.deepEqual(spec.networks?.front, { ipam: { config: [{ subnet: '10.99.7.0/24', ip_range: '10.99.7.128/25' }] } });
    assert.deepEqual(spec.networks?.db, { name: 'app-db', external: true });
    assert.equal(spec.services['app-1'].environment?.DJANGO_ALLOWED_HOSTS, '10.0.0.11,shop.example');
    assert.deepEqual(spec.services['app-1'].depends_on, { migrate: { condition: 'service_completed_successfully' } });
    const text = renderCompose(spec);
    for (const secret of Object.values(TEST_SECRETS)) assert.ok(!text.includes(secret), 'no secret in the compose file');
    assert.deepEqual(allowedHosts(testAnswers({ app: { domain: 'www.example' } }), cluster()), ['10.0.0.11', 'www.example']);
  });

  it('refuses an app subnet that is not an IPv4 /24', () => {
    assert.throws(
      () => testAnswers({ app: { subnet: '10.0.0.0/16' } }),
      (e: unknown) => e instanceof BadInputError && e.details.some((line) => /app\.subnet.*must be an IPv4 \/24/.test(line)),
    );
  });
});

describe('the stack: bad input', () => {
  const problemsOf = (overrides: Record<string, unknown>): string[] => {
    try {
      testAnswers(overrides);
    } catch (e) {
      if (e instanceof BadInputError) return e.details;
      throw e;
    }
    return [];
  };

  it('refuses db.nodes of 2 (no quorum after a failure) and of 1, saying what to use', () => {
    assert.match(problemsOf({ db: { nodes: 2 } }).join('\n'), /db\.nodes.*2 Galera nodes lose quorum when either one fails.*use 3 \(or 5, 7, 9\); berth runs no arbitrator/);
    assert.match(problemsOf({ db: { nodes: 1 } }).join('\n'), /db\.nodes.*1 Galera node is no cluster/);
    assert.match(problemsOf({ db: { nodes: 4 } }).join('\n'), /db\.nodes.*must be odd, from 3 to 9/);
    assert.deepEqual(problemsOf({ db: { nodes: 5 } }), []);
  });

  it('refuses app.replicas 0, saying why', () => {
    assert.match(problemsOf({ app: { replicas: 0 } }).join('\n'), /app\.replicas.*must be at least 1/);
  });
});
