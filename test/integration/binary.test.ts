/**
 * The packaged executables (build/out/berth-linux-*), run as real processes from an
 * empty directory outside the project, with a bare environment: no node_modules,
 * no dist/ and no assets/ anywhere near them.
 */
import { strict as assert } from 'node:assert';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ELF_MACHINE, readElfIdentity } from '../../build/elf';
import { BUILD_NODE, ROOT, runnerFor } from '../../build/package';
import { ensureBinaries } from '../support/binary';

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};
const RUNTIME_DEPENDENCIES = Object.keys(packageJson.dependencies);

// Deliberate problems, each at a known line and column.
const BAD_ANSWERS = `version: 1
hostz: []
hosts:
  - name: vm1
    address: 10.0.0.300
    roles: [app, lb, db]
  - name: vm1
    address: 10.0.0.2
    roles: [registry, dns]
ssh:
  port: 70000
`;

describe('the packaged binary', function () {
  let x64 = '';
  let arm64 = '';
  let dir = '';
  let berth = '';

  before(async function () {
    this.timeout(300_000);
    [x64, arm64] = await ensureBinaries(['x64', 'arm64']);
    dir = mkdtempSync(join(tmpdir(), 'berth-binary-'));
    assert.ok(relative(ROOT, dir).startsWith('..'), `${dir} must lie outside the project`);
    berth = join(dir, 'berth');
    copyFileSync(x64, berth);
    copyFileSync(join(ROOT, 'test', 'support', 'binary-probe.cjs'), join(dir, 'probe.cjs'));
    writeFileSync(join(dir, 'bad.yaml'), BAD_ANSWERS);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the copied binary in the empty directory with a bare environment. */
  function runBerth(args: string[], extraEnv: NodeJS.ProcessEnv = {}, cwd = dir): SpawnSyncReturns<string> {
    return spawnSync(berth, args, { cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: '/usr/bin:/bin', HOME: dir, NO_COLOR: '1', ...extraEnv } });
  }

  /** The same command through Node and dist/, the reference the binary must match. */
  function runDist(args: string[]): SpawnSyncReturns<string> {
    return spawnSync(BUILD_NODE, [join(ROOT, 'dist', 'cli', 'main.js'), ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { PATH: '/usr/bin:/bin', HOME: dir, NO_COLOR: '1' } });
  }

  describe('build/out/berth-linux-x64', () => {
    it('is a 64-bit little-endian x86-64 ELF executable', () => {
      assert.deepEqual(readElfIdentity(x64), { bits: 64, endian: 'little', machine: ELF_MACHINE.x64 });
    });

    it('prints its version, whatever the working directory', () => {
      for (const cwd of [dir, '/']) {
        const result = runBerth(['--version'], {}, cwd);
        assert.equal(result.status, 0, result.stderr);
        assert.equal(result.stdout, `${packageJson.version}\n`);
      }
    });

    it('prints the example answers file it carries from assets/', () => {
      const result = runBerth(['answers', 'example']);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout.trimEnd(), readFileSync(join(ROOT, 'assets', 'answers.example.yaml'), 'utf8').trimEnd());
    });

    it('prints the JSON Schema of the answers file, the same as dist/ does', () => {
      const result = runBerth(['answers', 'schema']);
      assert.equal(result.status, 0, result.stderr);
      const schema = JSON.parse(result.stdout) as { $schema?: string; properties?: Record<string, unknown> };
      assert.match(schema.$schema ?? '', /json-schema\.org/);
      assert.ok(schema.properties?.hosts, 'the schema describes hosts');
      assert.deepEqual(schema, JSON.parse(runDist(['answers', 'schema']).stdout));
    });

    it('reports every problem of a bad answers file with its line and column, exit code 2', () => {
      const result = runBerth(['answers', 'validate', 'bad.yaml']);
      assert.equal(result.status, 2, result.stderr);
      for (const location of ['bad.yaml:2:1:', 'bad.yaml:5:14:', 'bad.yaml:7:11:', 'bad.yaml:11:9:']) {
        assert.ok(result.stderr.includes(location), `${location} in:\n${result.stderr}`);
      }
      assert.match(result.stderr, /did you mean "hosts"/);
      const reference = runDist(['answers', 'validate', 'bad.yaml']);
      assert.deepEqual([result.status, result.stdout, result.stderr], [reference.status, reference.stdout, reference.stderr]);
    });

    describe('runtime dependencies, loaded from inside the executable', () => {
      type ProbeReport = {
        entrypoint: string;
        modules: Record<string, { loaded: boolean; resolved?: string; use?: unknown; error?: string }>;
      };
      let report: ProbeReport;

      before(() => {
        const reportFile = join(dir, 'probe-report.json');
        const result = runBerth(['--version'], {
          NODE_OPTIONS: '--require ./probe.cjs',
          BERTH_PROBE_REPORT: reportFile,
          BERTH_PROBE_MODULES: JSON.stringify(RUNTIME_DEPENDENCIES),
        });
        assert.equal(result.status, 0, result.stderr);
        report = JSON.parse(readFileSync(reportFile, 'utf8')) as ProbeReport;
        assert.match(report.entrypoint, /^\/snapshot\//);
      });

      for (const name of RUNTIME_DEPENDENCIES) {
        it(`loads ${name} from the bundle`, () => {
          const probe = report.modules[name];
          assert.ok(probe.loaded, probe.error);
          assert.match(probe.resolved ?? '', new RegExp(`^/snapshot/.*/node_modules/${name}/`));
        });
      }

      it('puts the libraries to use: zod, yaml, fastest-levenshtein, diff, tar-stream, enquirer, listr2, chalk', () => {
        const use = (name: string) => report.modules[name].use;
        assert.deepEqual(use('zod'), { rejects: true, jsonSchemaType: 'object' });
        assert.deepEqual(use('yaml'), { hosts: [{ name: 'vm1' }] });
        assert.equal(use('fastest-levenshtein'), 1);
        assert.match(String(use('diff')), /^-two\n\+2$/m);
        assert.deepEqual(use('tar-stream'), { 'hello.txt': 'hi' });
        assert.match(String(use('enquirer')), /\bInput:function\b.*\bPassword:function\b.*\bSelect:function\b/);
        assert.doesNotMatch(String(use('enquirer')), /:undefined/);
        assert.equal(use('listr2'), 'ran');
        assert.equal(use('chalk'), '\u001b[31mx\u001b[39m');
      });

      it('runs ssh2 in pure JavaScript, its native addon left out, and signs with a key', () => {
        assert.deepEqual(report.modules.ssh2.use, { bindingAvailable: false, type: 'ssh-ed25519', verified: true });
      });
    });
  });

  describe('build/out/berth-linux-arm64', () => {
    it('is a 64-bit little-endian AArch64 ELF executable', () => {
      assert.deepEqual(readElfIdentity(arm64), { bits: 64, endian: 'little', machine: ELF_MACHINE.arm64 });
    });

    it('prints its version under qemu user-mode emulation (skipped without qemu-aarch64)', function () {
      const runner = runnerFor('arm64');
      if (!runner) this.skip();
      this.timeout(60_000);
      const copy = join(dir, 'berth-arm64');
      copyFileSync(arm64, copy);
      const [command, ...args] = [...(runner as string[]), copy, '--version'];
      const result = spawnSync(command, args, { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { PATH: '/usr/bin:/bin', HOME: dir } });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${packageJson.version}\n`);
    });
  });

  it('refuses to read a file that is not ELF', () => {
    assert.throws(() => readElfIdentity(join(dir, 'bad.yaml')), /is not an ELF file/);
  });
});
