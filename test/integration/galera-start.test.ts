/**
 * assets/scripts/galera-start.sh, the Galera node entrypoint, run for real with
 * bash: stub commands first on PATH (docker-entrypoint.sh records the arguments
 * it was exec'd with, gosu, socat, mariadb, mariadbd --wsrep-recover, chown), a
 * fake datadir, a state directory holding every node's state file, the real
 * galera-http-check.sh serving each node's :9200 on 127.0.0.x (its verdict
 * from the mariadb stub, its state file on GET /state, as socat runs it), and
 * small TCP servers standing in for the peers' Galera port.
 * Every case asserts what the script exec'd (or that it did not) and what it
 * logged, and kills the script's process group (its monitor loop and socat) at
 * the end.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetPath } from '../../src/assets';
import { freePort } from '../support/sshd';

const SCRIPT = assetPath('scripts', 'galera-start.sh');
const CHECK_SCRIPT = assetPath('scripts', 'galera-http-check.sh');
const UUID = 'a08467c9-5b3e-11f0-9d2b-0242ac120002';
const OTHER_UUID = '11111111-5b3e-11f0-9d2b-0242ac120002';
const NIL = '00000000-0000-0000-0000-000000000000';
/** Node names are loopback addresses, so the script's /dev/tcp probes reach this test's servers. */
const [N1, N2, N3] = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
/** How long a node that must not decide is watched: the script's loop runs every 2 s, so 2 to 3 rounds. */
const WAIT_MS = 5000;
/** How long a node that must decide may take (one loop round, or two when peers start together). */
const DECIDE_MS = 6000;
const HTTP_CHECK = '/stub/galera-http-check.sh';

const STUBS: Record<string, string> = {
  // The official image's entrypoint: what galera-start.sh finally execs. One argument per line.
  'docker-entrypoint.sh': 'printf "%s\\n" "$@" >"$STUB_OUT/entrypoint.args"\n',
  gosu: 'shift\nexec "$@"\n',
  // A server that lingers, as the real one does: only the process-group kill ends it.
  socat: 'printf "%s\\n" "$@" >"$STUB_OUT/socat.args"\nexec sleep 600\n',
  // No server is running unless a case has the entrypoint stub "start" one (STUB_STATUS).
  mariadb: 'printf "%s\\n" "$*" >>"$STUB_OUT/mariadb.calls"\n[ -f "$STUB_OUT/status" ] || exit 1\ncat "$STUB_OUT/status"\n',
  mariadbd: [
    'printf "%s\\n" "$@" >"$STUB_OUT/mariadbd.args"',
    'for a in "$@"; do case $a in --log-error=*) log=${a#--log-error=} ;; esac; done',
    'echo "2026-12-01 21:19:51 0 [Note] InnoDB: Starting crash recovery" >"$log"',
    'if [ -n "${STUB_RECOVERED:-}" ]; then echo "2026-12-01 21:19:52 0 [Note] WSREP: Recovered position: $STUB_RECOVERED" >>"$log"; fi',
  ].join('\n'),
  // The mysql user exists in the image, not here.
  chown: 'printf "%s\\n" "$@" >"$STUB_OUT/chown.args"\n',
};

interface Data {
  uuid: string;
  seqno: number;
}

interface Result {
  /** The script's exit code when it ended by itself within the time given; null when it was still running. */
  code: number | null;
  /** What docker-entrypoint.sh was exec'd with, or null when it never was. */
  args: string[] | null;
  stderr: string;
  grastate: string;
  /** This node's own state file. */
  ownState: string;
  out: string;
}

const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const readOr = (path: string, fallback = '') => (existsSync(path) ? readFileSync(path, 'utf8') : fallback);

/** Processes as [pid, ppid, pgrp], from /proc. */
function processes(): Array<[number, number, number]> {
  const list: Array<[number, number, number]> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      list.push([Number(entry), Number(ppid), Number(pgrp)]);
    } catch {
      // gone meanwhile
    }
  }
  return list;
}

/**
 * Kills the process group `pgid` and every descendant of its members (coreutils
 * timeout, used by the script's probes, puts its child in a group of its own).
 * Returns once none is left; throws when some survive.
 */
async function killTree(pgid: number): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const all = processes();
    const doomed = new Set(all.filter(([, , pgrp]) => pgrp === pgid).map(([pid]) => pid));
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, ppid] of all) {
        if (doomed.has(ppid) && !doomed.has(pid)) {
          doomed.add(pid);
          grew = true;
        }
      }
    }
    // Zombies cannot be killed and do not count: they are only waiting for their parent.
    const alive = [...doomed].filter((pid) => !/^\S+ \(.*\) Z/.test(readOr(`/proc/${pid}/stat`, '0 (x) Z')));
    if (alive.length === 0) return;
    for (const pid of alive) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(50);
  }
  throw new Error(`processes of group ${pgid} survive SIGKILL`);
}

/** One node's run of the script. */
class Run {
  private stderrText = '';
  private exitCode: number | null = null;
  private readonly exited: Promise<void>;
  private readonly closed: Promise<void>;
  private result: Result | undefined;

  constructor(
    readonly child: ChildProcess,
    private readonly files: { out: string; datadir: string; state: string; name: string },
  ) {
    child.stderr?.on('data', (chunk: Buffer) => (this.stderrText += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code ?? -1;
        resolve();
      }),
    );
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /** Whether the script ended (exec'd the entrypoint stub, or failed) within `ms`. */
  async endsWithin(ms: number): Promise<boolean> {
    await Promise.race([this.exited, sleep(ms)]);
    return this.exitCode !== null;
  }

  /** Kills the script's process group and what it left running, and gathers what it did. */
  async stop(): Promise<Result> {
    if (this.result) return this.result;
    const code = this.exitCode;
    await killTree(this.child.pid as number);
    await Promise.race([this.closed, sleep(2000)]);
    const argsFile = join(this.files.out, 'entrypoint.args');
    this.result = {
      code,
      args: existsSync(argsFile) ? readFileSync(argsFile, 'utf8').split('\n').slice(0, -1) : null,
      stderr: this.stderrText,
      grastate: readOr(join(this.files.datadir, 'grastate.dat')),
      ownState: readOr(join(this.files.state, this.files.name)),
      out: this.files.out,
    };
    return this.result;
  }
}

const live: Run[] = [];
const servers: Server[] = [];
const roots: string[] = [];
let bin: string;

/** A fixture cluster: a state directory shared by its nodes, and the ports their probes use. */
class Cluster {
  readonly root: string;
  readonly state: string;

  private constructor(
    readonly nodes: string[],
    readonly checkPort: number,
    readonly galeraPort: number,
  ) {
    this.root = mkdtempSync(join(tmpdir(), 'berth-galera-start-'));
    roots.push(this.root);
    this.state = join(this.root, 'state');
    mkdirSync(this.state);
  }

  static async create(nodes = [N1, N2, N3]): Promise<Cluster> {
    const cluster = new Cluster(nodes, await freePort(), await freePort());
    for (const name of nodes) await cluster.serveCheck(name);
    return cluster;
  }

  /** What the mariadb stub of `name` reads: its SHOW STATUS rows (the node's run writes there too). */
  private outOf(name: string): string {
    const out = join(this.root, name, 'out');
    mkdirSync(out, { recursive: true });
    return out;
  }

  /** The node's :9200: the real galera-http-check.sh per connection, as socat SYSTEM: runs it. */
  private async serveCheck(name: string): Promise<void> {
    const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, GALERA_NODE: name, GALERA_STATE: this.state, STUB_OUT: this.outOf(name) };
    await this.listen(name, this.checkPort, (socket) => {
      const child = spawn('bash', [CHECK_SCRIPT], { env, stdio: ['pipe', 'pipe', 'ignore'] });
      child.stdin.on('error', () => undefined);
      socket.pipe(child.stdin);
      child.stdout.pipe(socket);
    });
  }

  /** A peer's state file, as its script or monitor writes it: `phase time uuid seqno ...`. */
  peer(name: string, phase: string, uuid: string, seqno: number, ageSeconds = 0): void {
    writeFileSync(join(this.state, name), `${phase} ${now() - ageSeconds} ${uuid} ${seqno}\n`);
  }

  /** Every node but `name` recovering at the given seqnos (same cluster UUID unless given). */
  peers(positions: Record<string, number | Data>): void {
    for (const [name, pos] of Object.entries(positions)) {
      const { uuid, seqno } = typeof pos === 'number' ? { uuid: UUID, seqno: pos } : pos;
      this.peer(name, 'recovering', uuid, seqno);
    }
  }

  /** A peer's mariadbd as its :9200 check sees it: Synced in a Primary component (200) or joining (503). */
  check(name: string, status: '200 OK' | '503 Service Unavailable'): void {
    const rows = status.startsWith('200') ? 'wsrep_local_state\t4\nwsrep_cluster_status\tPrimary\n' : 'wsrep_local_state\t1\nwsrep_cluster_status\tnon-Primary\n';
    writeFileSync(join(this.outOf(name), 'status'), rows);
  }

  /** A peer whose Galera port accepts connections (a node of a running cluster). */
  async galera(name: string): Promise<void> {
    await this.listen(name, this.galeraPort, (socket) => socket.destroy());
  }

  private async listen(host: string, port: number, onConnection: (socket: Socket) => void): Promise<void> {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      onConnection(socket);
    });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
  }

  /**
   * Starts `galera-start.sh mariadbd` as node `name` in a process group of its
   * own. `data`: the grastate.dat position (the datadir then holds mysql/), or
   * none for an empty datadir. `recovered`: what mariadbd --wsrep-recover logs.
   * `status`: the SHOW STATUS rows the mariadb stub returns once the entrypoint ran.
   */
  start(name: string, opts: { data?: Data; recovered?: string; status?: string; args?: string[]; env?: Record<string, string> } = {}): Run {
    const dir = join(this.root, name);
    const datadir = join(dir, 'data');
    const out = join(dir, 'out');
    const tmp = join(dir, 'tmp');
    for (const d of [datadir, out, tmp]) mkdirSync(d, { recursive: true });
    if (opts.data) {
      mkdirSync(join(datadir, 'mysql'));
      writeFileSync(
        join(datadir, 'grastate.dat'),
        `# GALERA saved state\nversion: 2.1\nuuid:    ${opts.data.uuid}\nseqno:   ${opts.data.seqno}\nsafe_to_bootstrap: 0\n`,
      );
    }
    const env: Record<string, string> = {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      TMPDIR: tmp,
      GALERA_NODE: name,
      GALERA_NODES: this.nodes.join(' '),
      GALERA_STATE: this.state,
      GALERA_DATADIR: datadir,
      GALERA_CHECK_PORT: String(this.checkPort),
      GALERA_PORT: String(this.galeraPort),
      GALERA_HTTP_CHECK: HTTP_CHECK,
      STUB_OUT: out,
      ...opts.env,
    };
    if (opts.recovered) env.STUB_RECOVERED = opts.recovered;
    if (opts.status) {
      // The entrypoint stub "starts mariadbd": from then on the mariadb client gets these rows.
      writeFileSync(join(dir, 'status'), opts.status);
      env.STUB_STATUS = join(dir, 'status');
    }
    const child = spawn('bash', [SCRIPT, ...(opts.args ?? ['mariadbd'])], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const run = new Run(child, { out, datadir, state: this.state, name });
    live.push(run);
    return run;
  }

  lock(): string | null {
    const path = join(this.state, 'bootstrap.lock');
    return existsSync(path) ? readFileSync(path, 'utf8') : null;
  }
}

/** Runs a node for `ms` and stops it. */
async function watch(run: Run, ms = WAIT_MS): Promise<Result> {
  await run.endsWithin(ms);
  return run.stop();
}

function assertWaited(r: Result, what: string): void {
  assert.equal(r.code, null, `${what}: the script ended (${r.code}):\n${r.stderr}`);
  assert.equal(r.args, null, `${what}: exec'd docker-entrypoint.sh ${r.args?.join(' ')}:\n${r.stderr}`);
}

function assertExeced(r: Result, args: string[], what: string): void {
  assert.equal(r.code, 0, `${what}: did not exec within the time given:\n${r.stderr}`);
  assert.deepEqual(r.args, args, `${what}:\n${r.stderr}`);
}

const safeToBootstrap = (r: Result) => /^safe_to_bootstrap: (\d)$/m.exec(r.grastate)?.[1];

describe('galera-start.sh (the Galera node entrypoint) run with bash and stubs', function () {
  this.timeout(20000);

  before(() => {
    bin = mkdtempSync(join(tmpdir(), 'berth-galera-stubs-'));
    roots.push(bin);
    // docker-entrypoint.sh also "starts mariadbd" when a case gave SHOW STATUS rows for its monitor.
    const stubs = { ...STUBS, 'docker-entrypoint.sh': `${STUBS['docker-entrypoint.sh']}if [ -n "\${STUB_STATUS:-}" ]; then cp "$STUB_STATUS" "$STUB_OUT/status"; fi\n` };
    for (const [name, body] of Object.entries(stubs)) {
      writeFileSync(join(bin, name), `#!/bin/bash\n${body}`);
      chmodSync(join(bin, name), 0o755);
    }
  });

  afterEach(async () => {
    const runs = live.splice(0);
    await Promise.all(runs.map((run) => run.stop()));
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  after(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  it('keeps the production defaults for the overrides the tests use', () => {
    const text = readFileSync(SCRIPT, 'utf8');
    for (const line of [
      'state=${GALERA_STATE:-/galera}',
      'datadir=${GALERA_DATADIR:-/var/lib/mysql}',
      'check_port=${GALERA_CHECK_PORT:-9200}',
      'galera_port=${GALERA_PORT:-4567}',
      'http_check=${GALERA_HTTP_CHECK:-/usr/local/bin/galera-http-check.sh}',
    ]) {
      assert.ok(text.split('\n').includes(line), line);
    }
  });

  it('passes any other command straight to docker-entrypoint.sh, deciding nothing', async () => {
    const c = await Cluster.create();
    const run = c.start(N1, { args: ['mariadb-admin', '--version'] });
    assert.ok(await run.endsWithin(DECIDE_MS));
    const r = await run.stop();
    assertExeced(r, ['mariadb-admin', '--version'], 'passthrough');
    assert.equal(r.ownState, '');
    assert.ok(!existsSync(join(r.out, 'socat.args')), 'no check server for a command that is not mariadbd');
  });

  describe('an empty datadir (first start)', () => {
    it('1. the first node creates a new cluster when no marker, no peer data and no Galera peer exist', async () => {
      const c = await Cluster.create();
      // Peers that wait for an SST hold no data: they do not count.
      c.peer(N2, 'waiting-sst', '-', -1);
      const run = c.start(N1);
      assert.ok(await run.endsWithin(DECIDE_MS));
      const r = await run.stop();
      assertExeced(r, ['mariadbd', '--wsrep-new-cluster'], 'first node, first start');
      assert.match(r.stderr, /galera-start\[127\.0\.0\.11\] \S+: a new cluster: creating it \(--wsrep-new-cluster\)/);
      assert.match(r.ownState, /^new \d+ - -1\n$/);
      // The :9200 check is served on the check port, with the check script given.
      assert.deepEqual(readFileSync(join(r.out, 'socat.args'), 'utf8').split('\n'), [`TCP-LISTEN:${c.checkPort},reuseaddr,fork`, `SYSTEM:${HTTP_CHECK}`, '']);
    });

    it('2. the first node does not create a second cluster when the marker, a peer with data or a Galera peer shows one exists', async () => {
      const marker = await Cluster.create();
      writeFileSync(join(marker.state, 'cluster'), `${UUID}\n`);
      const running = await Cluster.create();
      running.peer(N3, 'running', UUID, 120);
      const galera = await Cluster.create();
      await galera.galera(N2);
      const runs = [marker, running, galera].map((c) => c.start(N1));
      const results = await Promise.all(runs.map((run) => watch(run)));
      for (const [i, what] of ['cluster marker', 'peer running', 'peer on the Galera port'].entries()) {
        assertWaited(results[i], what);
        assert.doesNotMatch(results[i].stderr, /new cluster/, what);
        assert.match(results[i].ownState, /^waiting-sst \d+ - -1\n$/, what);
      }
    });

    it('2b. ... and then joins by SST once the next node is Synced; a second node waits for the one before it', async () => {
      const c = await Cluster.create();
      writeFileSync(join(c.state, 'cluster'), `${UUID}\n`);
      const first = c.start(N1);
      const third = c.start(N3);
      assert.equal(await first.endsWithin(3000), false, 'N1 waits while N2 is not Synced');
      c.check(N2, '200 OK');
      assert.ok(await first.endsWithin(DECIDE_MS), 'N1 joins once N2 is Synced');
      const r = await first.stop();
      assertExeced(r, ['mariadbd'], 'empty node joining');
      assert.match(r.stderr, /empty datadir: joining by SST now that 127\.0\.0\.12 is Synced/);
      // N3 waits for N2 too, and joins by SST as well.
      assert.ok(await third.endsWithin(DECIDE_MS), 'N3 joins once N2 is Synced');
      assertExeced(await third.stop(), ['mariadbd'], 'third node');
    });
  });

  describe('a datadir with data, after a full outage', () => {
    it('3. the node with the highest seqno of all three bootstraps: safe_to_bootstrap 1, the lock, --wsrep-new-cluster', async () => {
      const c = await Cluster.create();
      c.peers({ [N1]: 40, [N3]: 41 });
      const run = c.start(N2, { data: { uuid: UUID, seqno: 42 } });
      assert.ok(await run.endsWithin(DECIDE_MS));
      const r = await run.stop();
      assertExeced(r, ['mariadbd', '--wsrep-new-cluster'], 'most advanced node');
      assert.match(r.stderr, new RegExp(`position ${UUID}:42\\n`));
      assert.match(r.stderr, new RegExp(`the most advanced node \\(${UUID}:42; all: ${UUID} ${UUID} ${UUID}\\): bootstrapping the cluster again`));
      assert.equal(safeToBootstrap(r), '1');
      assert.match(c.lock() ?? '', new RegExp(`^127\\.0\\.0\\.12 ${UUID} 42 \\d+\\n$`));
      assert.match(r.ownState, new RegExp(`^recovering \\d+ ${UUID} 42\\n$`));
    });

    it('4. a node that another one is ahead of waits and touches nothing', async () => {
      const c = await Cluster.create();
      c.peers({ [N1]: 40, [N3]: 43 });
      const r = await watch(c.start(N2, { data: { uuid: UUID, seqno: 42 } }));
      assertWaited(r, 'behind N3');
      assert.doesNotMatch(r.stderr, /bootstrapping/);
      assert.equal(safeToBootstrap(r), '0');
      assert.equal(c.lock(), null);
      assert.match(r.ownState, new RegExp(`^recovering \\d+ ${UUID} 42\\n$`), 'it publishes its position for the others');
    });

    it('5. a tie: the first of the tied nodes in GALERA_NODES bootstraps, the other one does not (both running)', async () => {
      // The order is GALERA_NODES', not the names': N3 comes first.
      const c = await Cluster.create([N3, N1, N2]);
      c.peers({ [N2]: 49 });
      const winner = c.start(N3, { data: { uuid: UUID, seqno: 50 } });
      const other = c.start(N1, { data: { uuid: UUID, seqno: 50 } });
      assert.ok(await winner.endsWithin(DECIDE_MS), 'N3 decides');
      const w = await winner.stop();
      assertExeced(w, ['mariadbd', '--wsrep-new-cluster'], 'the first of the tied');
      assert.equal(safeToBootstrap(w), '1');
      assert.match(c.lock() ?? '', /^127\.0\.0\.13 /);
      const o = await watch(other, 3000);
      assertWaited(o, 'the second of the tied');
      assert.equal(safeToBootstrap(o), '0');
      assert.doesNotMatch(o.stderr, /bootstrapping|lock/);
    });

    it('6. nobody bootstraps while one position is missing or stale (> 10 s); a fresh one then decides', async () => {
      const missing = await Cluster.create();
      missing.peers({ [N2]: 40 });
      const stale = await Cluster.create();
      stale.peers({ [N2]: 40 });
      stale.peer(N3, 'recovering', UUID, 41, 30);
      const runs = [missing, stale].map((c) => c.start(N1, { data: { uuid: UUID, seqno: 42 } }));
      assert.deepEqual(await Promise.all(runs.map((run) => run.endsWithin(WAIT_MS))), [false, false]);
      for (const c of [missing, stale]) assert.equal(c.lock(), null);
      // N3's position arrives: now the (same) node bootstraps, so the wait above was for that file alone.
      missing.peers({ [N3]: 41 });
      assert.ok(await runs[0].endsWithin(DECIDE_MS), 'decides once every position is in');
      assertExeced(await runs[0].stop(), ['mariadbd', '--wsrep-new-cluster'], 'all positions in');
      const s = await runs[1].stop();
      assertWaited(s, 'stale peer file');
      assert.equal(safeToBootstrap(s), '0');
      assert.doesNotMatch(s.stderr, /bootstrapping/);
    });

    it('7. REFUSES to bootstrap when the cluster UUIDs differ or are nil', async () => {
      const differ = await Cluster.create();
      differ.peers({ [N2]: 40, [N3]: { uuid: OTHER_UUID, seqno: 41 } });
      const nil = await Cluster.create();
      nil.peers({ [N2]: { uuid: NIL, seqno: 40 }, [N3]: { uuid: NIL, seqno: 41 } });
      const results = await Promise.all([
        watch(differ.start(N1, { data: { uuid: UUID, seqno: 42 } })),
        watch(nil.start(N1, { data: { uuid: NIL, seqno: 42 } })),
      ]);
      for (const [i, what] of ['UUIDs differ', 'nil UUID'].entries()) {
        const r = results[i];
        assertWaited(r, what);
        assert.match(r.stderr, /REFUSING to bootstrap: the nodes' cluster UUIDs differ or are nil \(.+\); a human must decide which data to keep/, what);
        assert.doesNotMatch(r.stderr, /bootstrapping/, what);
        assert.equal(safeToBootstrap(r), '0', what);
      }
      assert.match(results[0].stderr, new RegExp(`\\( ${UUID} ${UUID} ${OTHER_UUID}\\)`));
      assert.equal(differ.lock(), null);
      assert.equal(nil.lock(), null);
    });

    it('8. seqno -1: the position comes from mariadbd --wsrep-recover and is passed as --wsrep_start_position', async () => {
      const c = await Cluster.create();
      // -1 would lose to 55 and 56; the recovered 57 wins.
      c.peers({ [N1]: 55, [N3]: 56 });
      const run = c.start(N2, { data: { uuid: UUID, seqno: -1 }, recovered: `${UUID}:57` });
      assert.ok(await run.endsWithin(DECIDE_MS));
      const r = await run.stop();
      assertExeced(r, ['mariadbd', `--wsrep_start_position=${UUID}:57`, '--wsrep-new-cluster'], 'recovered node');
      assert.match(r.stderr, /grastate\.dat gives no position \(seqno -1\): mariadbd --wsrep-recover/);
      assert.match(r.stderr, new RegExp(`position ${UUID}:57\\n`));
      const recoverArgs = readFileSync(join(r.out, 'mariadbd.args'), 'utf8').split('\n');
      assert.equal(recoverArgs[0], '--wsrep-recover');
      assert.match(recoverArgs[1], /^--log-error=\//);
      assert.deepEqual(readFileSync(join(r.out, 'chown.args'), 'utf8').split('\n'), ['mysql', recoverArgs[1].slice('--log-error='.length), '']);
      assert.match(r.ownState, new RegExp(`^recovering \\d+ ${UUID} 57\\n$`));
    });

    it('8b. seqno -1 and --wsrep-recover finds no position: it stops with the log, and execs nothing', async () => {
      const c = await Cluster.create();
      const run = c.start(N2, { data: { uuid: UUID, seqno: -1 } });
      assert.ok(await run.endsWithin(DECIDE_MS));
      const r = await run.stop();
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.args, null);
      assert.match(r.stderr, /mariadbd --wsrep-recover gave no position; its log:\n.*InnoDB: Starting crash recovery/);
    });

    it('9. a peer answering 200 on its check (a Primary exists): it joins, never bootstraps; 503 is no Primary', async () => {
      const synced = await Cluster.create();
      synced.peers({ [N2]: 40, [N3]: 41 });
      synced.check(N3, '200 OK');
      const notSynced = await Cluster.create();
      notSynced.peers({ [N2]: 40, [N3]: 41 });
      notSynced.check(N2, '503 Service Unavailable');
      notSynced.check(N3, '503 Service Unavailable');
      const runs = [synced, notSynced].map((c) => c.start(N1, { data: { uuid: UUID, seqno: 42 } }));
      assert.deepEqual(await Promise.all(runs.map((run) => run.endsWithin(DECIDE_MS))), [true, true]);
      const [joined, booted] = await Promise.all(runs.map((run) => run.stop()));
      assertExeced(joined, ['mariadbd'], 'a Primary exists');
      assert.match(joined.stderr, /a Primary component exists \(127\.0\.0\.13 is Synced\): joining it/);
      assert.doesNotMatch(joined.stderr, /bootstrapping/);
      assert.equal(safeToBootstrap(joined), '0');
      assert.equal(synced.lock(), null);
      assertExeced(booted, ['mariadbd', '--wsrep-new-cluster'], 'peers answer 503');
    });

    it('9b. a Synced peer running in another cluster (one made anew while this node was down): it REFUSES to join; a peer of its own cluster it joins', async () => {
      const foreign = await Cluster.create();
      foreign.peer(N3, 'running', OTHER_UUID, 5);
      foreign.check(N3, '200 OK');
      const own = await Cluster.create();
      own.peer(N3, 'running', UUID, 50);
      own.check(N3, '200 OK');
      const [refusing, joining] = [foreign, own].map((c) => c.start(N1, { data: { uuid: UUID, seqno: 42 } }));
      const [refused, joined] = await Promise.all([watch(refusing), watch(joining, DECIDE_MS)]);
      assertWaited(refused, 'a Primary of another cluster');
      assert.match(refused.stderr, new RegExp(`REFUSING to join: 127\\.0\\.0\\.13 is Synced in the cluster ${OTHER_UUID}, this node's data is of the cluster ${UUID}`));
      assertExeced(joined, ['mariadbd'], 'a Primary of its own cluster');
    });

    it("serves a node's state on GET /state with its age, not its time: hosts whose clocks differ compare ages", async () => {
      const c = await Cluster.create();
      c.peer(N2, 'recovering', UUID, 40, 7);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = createConnection({ host: N2, port: c.checkPort }, () => socket.write('GET /state HTTP/1.0\r\n\r\n'));
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(reply.split('\r\n\r\n')[1], new RegExp(`^recovering [78] ${UUID} 40\n$`));
    });

    it('10. the bootstrap lock just taken by another node: the winner does not bootstrap a second time; its own lock (a restart) does not stop it', async () => {
      const other = await Cluster.create();
      other.peers({ [N2]: 40, [N3]: 41 });
      writeFileSync(join(other.state, 'bootstrap.lock'), `${N3} ${UUID} 41 ${now()}\n`);
      const own = await Cluster.create();
      own.peers({ [N2]: 40, [N3]: 41 });
      writeFileSync(join(own.state, 'bootstrap.lock'), `${N1} ${UUID} 42 ${now() - 60}\n`);
      const runs = [other, own].map((c) => c.start(N1, { data: { uuid: UUID, seqno: 42 } }));
      const [held, mine] = await Promise.all(runs.map((run) => watch(run)));
      assertWaited(held, 'lock held by N3');
      assert.match(held.stderr, new RegExp(`the bootstrap lock is held by 127\\.0\\.0\\.13 ${UUID} 41 \\d+: waiting`));
      assert.doesNotMatch(held.stderr, /bootstrapping/);
      assert.equal(safeToBootstrap(held), '0');
      assert.match(other.lock() ?? '', /^127\.0\.0\.13 /, 'the lock is left as it was');
      assertExeced(mine, ['mariadbd', '--wsrep-new-cluster'], 'own lock');
      assert.equal(safeToBootstrap(mine), '1');
    });

    it('10b. a lock of an earlier outage, whose holder is recovering like everyone: the winner removes it and bootstraps', async () => {
      const stale = await Cluster.create();
      stale.peers({ [N2]: 40, [N3]: 41 });
      writeFileSync(join(stale.state, 'bootstrap.lock'), `${N3} ${UUID} 30 ${now() - 600}\n`);
      const run = stale.start(N1, { data: { uuid: UUID, seqno: 42 } });
      assert.ok(await run.endsWithin(DECIDE_MS));
      const r = await run.stop();
      assert.match(r.stderr, /removing the bootstrap lock of an earlier outage \(127\.0\.0\.13 /);
      assertExeced(r, ['mariadbd', '--wsrep-new-cluster'], 'stale lock');
      assert.match(stale.lock() ?? '', /^127\.0\.0\.11 /, 'the winner holds it now');
    });

    it('a running node outside a Primary component (the quorum lost), the most advanced of all positions: its monitor makes its component Primary; with one position missing, never', async () => {
      const nonPrimary = `wsrep_local_state\t0\nwsrep_cluster_size\t1\nwsrep_cluster_state_uuid\t${UUID}\nwsrep_cluster_status\tnon-Primary\nwsrep_last_committed\t42\n`;
      const all = await Cluster.create();
      all.peers({ [N2]: 40, [N3]: 41 });
      const missing = await Cluster.create();
      missing.peers({ [N2]: 40, [N3]: 41 });
      const rootPassword = join(all.root, 'root-password');
      writeFileSync(rootPassword, 'Root-Secret-Of-This-Test\n');
      const env = { GALERA_NONPRIMARY_GRACE: '0', MARIADB_ROOT_PASSWORD_FILE: rootPassword };
      const runs = [all, missing].map((c) => c.start(N1, { data: { uuid: UUID, seqno: 42 }, status: nonPrimary, env }));
      assert.deepEqual(await Promise.all(runs.map((run) => run.endsWithin(DECIDE_MS))), [true, true]);
      rmSync(join(missing.state, N3));
      await sleep(4500);
      const [made, waited] = await Promise.all(runs.map((run) => run.stop()));
      const bootstraps = (r: Result) => readOr(join(r.out, 'mariadb.calls')).split('\n').filter((call) => call.includes('pc.bootstrap'));
      // Once per grace while the component stays non-Primary (here the stub's status never changes). The password travels in the environment only.
      assert.ok(bootstraps(made).length >= 1, made.stderr);
      for (const call of bootstraps(made)) assert.equal(call, "--protocol=socket -uroot -e SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'");
      assert.doesNotMatch(made.stderr, /No such file|Root-Secret/);
      assert.match(made.stderr, /the quorum is lost and this node is the most advanced of all/);
      assert.deepEqual(bootstraps(waited), [], waited.stderr);
    });

    it("the bootstrapped node's monitor publishes running, writes the cluster marker, and releases the lock only once all have joined", async () => {
      const status = (size: number) =>
        `wsrep_local_state\t4\nwsrep_cluster_size\t${size}\nwsrep_cluster_state_uuid\t${UUID}\nwsrep_cluster_status\tPrimary\nwsrep_last_committed\t42\n`;
      const all = await Cluster.create();
      all.peers({ [N2]: 40, [N3]: 41 });
      const partial = await Cluster.create();
      partial.peers({ [N2]: 40, [N3]: 41 });
      const runs = [
        all.start(N1, { data: { uuid: UUID, seqno: 42 }, status: status(3) }),
        partial.start(N1, { data: { uuid: UUID, seqno: 42 }, status: status(2) }),
      ];
      assert.deepEqual(await Promise.all(runs.map((run) => run.endsWithin(DECIDE_MS))), [true, true]);
      // The monitor outlives the exec, as in the container (where mariadbd is what runs then): two rounds of 2 s.
      await sleep(4500);
      const [full, half] = await Promise.all(runs.map((run) => run.stop()));
      for (const r of [full, half]) assertExeced(r, ['mariadbd', '--wsrep-new-cluster'], 'bootstrap');
      assert.match(full.ownState, new RegExp(`^running \\d+ ${UUID} 42 4 Primary 3\\n$`));
      assert.equal(readOr(join(all.state, 'cluster')), `${UUID}\n`);
      assert.equal(all.lock(), null, 'released at size 3');
      assert.match(half.ownState, new RegExp(`^running \\d+ ${UUID} 42 4 Primary 2\\n$`));
      assert.match(partial.lock() ?? '', /^127\.0\.0\.11 /, 'kept at size 2');
    });
  });
});
