import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { appDirectoryProblem, buildContext, contextTag, demoAppContext, demoAppDir } from '../../src/app/context';
import { BadInputError } from '../../src/errors';

const isRoot = process.getuid?.() === 0;

function tempDir(prefix = 'berth-ctx-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Write files (path → content, or [content, mode]) in the order given. */
function writeTree(dir: string, files: [string, string | [string, number]][]): void {
  for (const [path, spec] of files) {
    const [content, mode] = typeof spec === 'string' ? [spec, 0o644] : spec;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
    chmodSync(join(dir, path), mode);
  }
}

const APP: [string, string | [string, number]][] = [
  ['Dockerfile', 'FROM python:3.12-slim\nCOPY . /app\n'],
  ['manage.py', ['#!/usr/bin/env python\n', 0o755]],
  ['app/__init__.py', ''],
  ['app/settings.py', 'DEBUG = False\n'],
  ['app/static/site.css', 'body { margin: 0 }\n'],
];

function appDir(files = APP): string {
  const dir = tempDir();
  writeTree(dir, files);
  return dir;
}

async function build(dir: string) {
  const out = join(tempDir('berth-ctx-out-'), 'context.tar');
  const result = await buildContext(dir, out);
  return { ...result, out, bytes: readFileSync(out) };
}

/** `tar -tvf` lines, with the columns that matter: mode, owner, size, date, name. */
function listing(file: string): string[] {
  const tar = spawnSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  assert.equal(tar.status, 0, tar.stderr);
  return tar.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [mode, owner, size, date, time, ...name] = line.split(/\s+/);
      return `${mode} ${owner} ${size} ${date} ${time} ${name.join(' ')}`;
    });
}

const names = (file: string) => listing(file).map((l) => l.split(' ').slice(5).join(' '));

async function badInput(dir: string, out?: string): Promise<BadInputError> {
  try {
    await buildContext(dir, out ?? join(tempDir('berth-ctx-out-'), 'context.tar'));
  } catch (err) {
    assert.ok(err instanceof BadInputError, `expected BadInputError, got ${String(err)}`);
    return err;
  }
  assert.fail('buildContext succeeded');
}

describe('app build context: the archive', () => {
  it('lists every entry sorted, directories with a slash, owners 0/0, mtimes 0 and modes 0644/0755 (system tar)', async () => {
    const dir = appDir();
    symlinkSync('app/settings.py', join(dir, 'settings-link'));
    const { out, files } = await build(dir);
    assert.deepEqual(listing(out), [
      '-rw-r--r-- 0/0 34 1970-01-01 00:00 Dockerfile',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 app/',
      '-rw-r--r-- 0/0 0 1970-01-01 00:00 app/__init__.py',
      '-rw-r--r-- 0/0 14 1970-01-01 00:00 app/settings.py',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 app/static/',
      '-rw-r--r-- 0/0 19 1970-01-01 00:00 app/static/site.css',
      '-rwxr-xr-x 0/0 22 1970-01-01 00:00 manage.py',
      'lrwxrwxrwx 0/0 0 1970-01-01 00:00 settings-link -> app/settings.py',
    ]);
    assert.equal(files, 6, 'files and symlinks, not directories');
    const extracted = tempDir();
    const untar = spawnSync('tar', ['-xf', out, '-C', extracted], { encoding: 'utf8' });
    assert.equal(untar.status, 0, untar.stderr);
    assert.equal(readFileSync(join(extracted, 'app/settings.py'), 'utf8'), 'DEBUG = False\n');
  });

  it('is byte-identical for the same tree whatever the mtimes, owners, modes beyond x and creation order', async () => {
    const first = appDir();
    const second = appDir([...APP].reverse().map(([p, spec]) => [p, typeof spec === 'string' ? [spec, 0o600] : [spec[0], 0o700]]));
    for (const path of ['Dockerfile', 'app', 'app/settings.py', 'manage.py']) utimesSync(join(second, path), new Date('2030-05-05'), new Date('2030-05-05'));
    if (isRoot) chownSync(join(second, 'app/settings.py'), 1234, 5678);
    chmodSync(join(second, 'app/static'), 0o700);
    const a = await build(first);
    const b = await build(second);
    assert.equal(a.sha256, b.sha256);
    assert.ok(a.bytes.equals(b.bytes));
    assert.equal(a.size, a.bytes.length);
    assert.equal(b.size, b.bytes.length);
    assert.equal((await build(first)).sha256, a.sha256, 'a second build of the same directory');
  });

  it('hashes the bytes it wrote, and the hash changes with one byte or one exec bit', async () => {
    const dir = appDir();
    const before = await build(dir);
    const { createHash } = await import('node:crypto');
    assert.equal(before.sha256, createHash('sha256').update(before.bytes).digest('hex'));
    writeFileSync(join(dir, 'app/settings.py'), 'DEBUG = Talse\n');
    const oneByte = await build(dir);
    assert.notEqual(oneByte.sha256, before.sha256);
    chmodSync(join(dir, 'app/settings.py'), 0o744);
    const execBit = await build(dir);
    assert.notEqual(execBit.sha256, oneByte.sha256);
    assert.ok(listing(execBit.out).includes('-rwxr-xr-x 0/0 14 1970-01-01 00:00 app/settings.py'));
  });

  it('keeps a symlink that points outside the context as a link, not followed', async () => {
    const dir = appDir();
    symlinkSync('/etc/passwd', join(dir, 'passwd'));
    symlinkSync('../../outside', join(dir, 'app/up'));
    symlinkSync('missing-target', join(dir, 'dangling'));
    const { out } = await build(dir);
    const lines = listing(out);
    assert.ok(lines.includes('lrwxrwxrwx 0/0 0 1970-01-01 00:00 passwd -> /etc/passwd'), lines.join('\n'));
    assert.ok(lines.includes('lrwxrwxrwx 0/0 0 1970-01-01 00:00 app/up -> ../../outside'), lines.join('\n'));
    assert.ok(lines.includes('lrwxrwxrwx 0/0 0 1970-01-01 00:00 dangling -> missing-target'), lines.join('\n'));
  });

  it('gives a long or non-ASCII name in full', async () => {
    const long = `${'deep/'.repeat(30)}file-é.txt`;
    const dir = appDir([...APP, [long, 'x']]);
    const { out } = await build(dir);
    assert.ok(names(out).includes(long));
  });
});

describe('app build context: .dockerignore', () => {
  it('leaves out what it names, with ! exceptions and **, but always sends the Dockerfile and .dockerignore', async () => {
    const dir = appDir([
      ...APP,
      ['.dockerignore', '# local clutter\nDockerfile\n.dockerignore\n**/*.pyc\n**/__pycache__\n*.log\n!keep.log\nnode_modules\n!node_modules/kept/index.js\n.git\n/secrets\n'],
      ['app/cache.pyc', 'x'],
      ['app/__pycache__/settings.cpython-312.pyc', 'x'],
      ['debug.log', 'x'],
      ['keep.log', 'x'],
      ['app/nested.log', 'nested logs are not matched by *.log'],
      ['node_modules/kept/index.js', 'x'],
      ['node_modules/kept/other.js', 'x'],
      ['node_modules/gone/index.js', 'x'],
      ['.git/HEAD', 'ref: refs/heads/main\n'],
      ['secrets/key', 'x'],
    ]);
    const { out, files } = await build(dir);
    assert.deepEqual(names(out), [
      '.dockerignore',
      'Dockerfile',
      'app/',
      'app/__init__.py',
      'app/nested.log',
      'app/settings.py',
      'app/static/',
      'app/static/site.css',
      'keep.log',
      'manage.py',
      'node_modules/',
      'node_modules/kept/',
      'node_modules/kept/index.js',
    ]);
    assert.equal(files, 9);
  });

  it('does not walk into an excluded directory that no ! rule names, so what is inside cannot fail the build', async () => {
    const dir = appDir([...APP, ['.dockerignore', 'run\n']]);
    mkdirSync(join(dir, 'run'));
    const server = await listen(join(dir, 'run', 'app.sock'));
    try {
      assert.deepEqual(names((await build(dir)).out), ['.dockerignore', 'Dockerfile', 'app/', 'app/__init__.py', 'app/settings.py', 'app/static/', 'app/static/site.css', 'manage.py']);
    } finally {
      server.close();
    }
  });

  it('refuses a .dockerignore line that is not a pattern, naming the file and line', async () => {
    const dir = appDir([...APP, ['.dockerignore', 'ok\n[oops\n!\n']]);
    const err = await badInput(dir);
    assert.equal(err.message, `app.path: ${dir} cannot be sent as a build context (2 problems)`);
    assert.deepEqual(err.details, [
      `${dir}/.dockerignore line 2: "[oops" is not a valid pattern (a [ is not closed)`,
      `${dir}/.dockerignore line 3: "!" alone excludes nothing; write the path to re-include after it, e.g. !README.md`,
    ]);
  });
});

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

describe('app build context: bad input', () => {
  const hint = 'Set app.path to the directory that holds your app and its Dockerfile.';

  it('a directory that does not exist', async () => {
    const dir = join(tempDir(), 'nope');
    const err = await badInput(dir);
    assert.equal(err.message, `app.path: ${dir} does not exist`);
    assert.equal(err.hint, hint);
  });

  it('a file instead of a directory', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const err = await badInput(join(dir, 'file'));
    assert.equal(err.message, `app.path: ${dir}/file is not a directory`);
  });

  it('no Dockerfile at the top (one below does not count), or one that is not a file', async () => {
    const dir = appDir([['src/Dockerfile', 'FROM scratch\n']]);
    assert.equal((await badInput(dir)).message, `app.path: ${dir} has no Dockerfile at its top; berth builds the image from ${dir}/Dockerfile`);
    mkdirSync(join(dir, 'Dockerfile'));
    assert.equal((await badInput(dir)).message, `app.path: ${dir}/Dockerfile is not a regular file; berth builds the image from it`);
  });

  it('sockets and FIFOs, all named at once, with the fix', async function () {
    const dir = appDir();
    const server = await listen(join(dir, 'app', 'dev.sock'));
    try {
      const fifo = spawnSync('mkfifo', [join(dir, 'pipe')]);
      if (fifo.status !== 0) this.skip();
      const err = await badInput(dir);
      assert.equal(err.message, `app.path: ${dir} cannot be sent as a build context (2 problems)`);
      assert.deepEqual(err.details, [
        `${dir}/app/dev.sock: is a socket, which cannot go in a build context; list it in .dockerignore`,
        `${dir}/pipe: is a named pipe (FIFO), which cannot go in a build context; list it in .dockerignore`,
      ]);
      assert.equal(err.hint, 'Fix the permissions or remove these paths, or list them in .dockerignore so that berth leaves them out.');
    } finally {
      server.close();
    }
  });

  it('a place the archive cannot be written is berth’s own error, not bad input', async () => {
    const out = join(tempDir('berth-ctx-out-'), 'missing-dir', 'context.tar');
    await assert.rejects(buildContext(appDir(), out), (err: unknown) => !(err instanceof BadInputError) && (err as NodeJS.ErrnoException).code === 'ENOENT');
  });

  it('an archive path inside the context is a mistake of the caller', async () => {
    const dir = appDir();
    await assert.rejects(buildContext(dir, join(dir, 'ctx.tar')), { message: `the context archive ${join(dir, 'ctx.tar')} must be written outside ${dir}` });
  });
});

describe('app build context: names', () => {
  it('tags an image with the first 12 hex characters of the context hash', () => {
    assert.equal(contextTag('ef80f1702ad5443281fde9204bc0b9d3a414e3304f707c22a78516bbec08d139'), 'ef80f1702ad5');
  });

  it('finds the demo app among the assets', () => {
    assert.match(demoAppDir(), /[/\\]assets[/\\]app$/);
  });

  it('archives the demo app as plain 0644 files, the same bytes wherever berth runs from', async () => {
    const archives = [];
    for (let i = 0; i < 2; i++) {
      const work = mkdtempSync(join(tmpdir(), 'berth-demo-'));
      archives.push({ work, ...(await demoAppContext(work, join(work, 'context.tar'))) });
    }
    assert.equal(archives[0].sha256, archives[1].sha256);
    const listing = spawnSync('tar', ['-tvf', join(archives[0].work, 'context.tar')], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.ok(listing.some((l) => l.endsWith(' entrypoint.sh')), listing.join('\n'));
    for (const line of listing) assert.match(line, line.endsWith('/') ? /^drwxr-xr-x 0\/0 / : /^-rw-r--r-- 0\/0 /, line);
  });

  it('says why a directory cannot be an app, or null', () => {
    const dir = appDir();
    assert.equal(appDirectoryProblem(dir), null);
    assert.equal(appDirectoryProblem(join(dir, 'none')), `${dir}/none does not exist`);
  });
});
