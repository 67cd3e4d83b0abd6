import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_RECIPE, baseImageTag, findDebootstrap } from '../../src/sandbox/base-image';
import { contextHash, readContext } from '../../src/sandbox/images';
import { hubRepository } from '../../src/sandbox/mirror';
import { STANDINS, STANDINS_DIR } from '../../src/sandbox/standins';

describe('image caching keys', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-sources-'));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM x\n');
    writeFileSync(join(dir, 'sub', 'entrypoint.sh'), 'echo hi\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const sourcesHash = (baseTag: string) => contextHash(baseTag, readContext(dir));

  it('reads a build context directory, subdirectories included, and hashes it: same files, same hash', () => {
    assert.deepEqual(readContext(dir).map((file) => [file.name, file.mode]), [['Dockerfile', 0o644], ['sub/entrypoint.sh', 0o644]]);
    const first = sourcesHash('base:1');
    assert.match(first, /^[0-9a-f]{12}$/);
    assert.equal(sourcesHash('base:1'), first);
  });

  it('changes the hash with the base image, a file content, its executable bit, or a new file', () => {
    const first = sourcesHash('base:1');
    const seen = new Set([first]);
    const changed = (what: string) => {
      const hash = sourcesHash(what === 'base' ? 'base:2' : 'base:1');
      assert.ok(!seen.has(hash), `${what} changes the hash`);
      seen.add(hash);
    };
    changed('base');
    chmodSync(join(dir, 'sub', 'entrypoint.sh'), 0o755);
    changed('mode');
    writeFileSync(join(dir, 'sub', 'entrypoint.sh'), 'echo hello\n');
    changed('content');
    writeFileSync(join(dir, 'extra.conf'), '');
    changed('new file');
  });

  it('names the base image after its suite and a hash of its recipe', () => {
    assert.match(baseImageTag(), /^berth-base:trixie-[0-9a-f]{12}$/);
    assert.equal(baseImageTag(), baseImageTag(BASE_RECIPE));
    assert.notEqual(baseImageTag({ ...BASE_RECIPE, variant: 'buildd' } as unknown as typeof BASE_RECIPE), baseImageTag());
  });

  it('finds debootstrap on PATH, else in /usr/sbin or /sbin (a plain `su` leaves them off PATH)', () => {
    const path = process.env.PATH;
    try {
      writeFileSync(join(dir, 'debootstrap'), '');
      process.env.PATH = `/nonexistent:${dir}`;
      assert.equal(findDebootstrap(), join(dir, 'debootstrap'));
      process.env.PATH = '/nonexistent';
      assert.match(findDebootstrap() ?? '/usr/sbin/debootstrap', /^\/(usr\/)?sbin\/debootstrap$/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('maps official image names to the repositories a Docker Hub mirror serves', () => {
    assert.deepEqual(hubRepository('nginx:1.26'), { repository: 'library/nginx', reference: '1.26' });
    assert.deepEqual(hubRepository('python:3.13-slim'), { repository: 'library/python', reference: '3.13-slim' });
    assert.deepEqual(hubRepository('haproxy:3.0'), { repository: 'library/haproxy', reference: '3.0' });
    assert.throws(() => hubRepository('nginx'), /not an official image name/);
    assert.throws(() => hubRepository('someone/app:1'), /not an official image name/);
  });
});

describe('the stand-in list', () => {
  it('names official images, each once, with sources FROM the base image (ARG BASE), its shell scripts executable', () => {
    assert.deepEqual(
      STANDINS.map((standin) => standin.tag),
      ['registry:2', 'mariadb:11.8', 'nginx:1.26', 'python:3.13-slim', 'haproxy:3.0'],
    );
    assert.equal(new Set(STANDINS.map((standin) => standin.dir)).size, STANDINS.length);
    for (const { tag, dir } of STANDINS) {
      assert.doesNotThrow(() => hubRepository(tag), tag);
      const sources = join(STANDINS_DIR, dir);
      const dockerfile = readFileSync(join(sources, 'Dockerfile'), 'utf8');
      assert.match(dockerfile, /^ARG BASE\nFROM \$\{BASE\}$/m, `${dir}/Dockerfile starts FROM the base image`);
      for (const script of readdirSync(sources).filter((name) => name.endsWith('.sh'))) {
        assert.ok((statSync(join(sources, script)).mode & 0o111) !== 0, `${dir}/${script} is executable`);
      }
    }
  });

  it('has a row in the stand-ins README for each, and no directory outside the list', () => {
    const readme = readFileSync(join(STANDINS_DIR, 'README.md'), 'utf8');
    for (const { tag } of STANDINS) assert.match(readme, new RegExp(`^\\| \`${tag.replace(/[.]/g, '\\.')}\` \\|`, 'm'), tag);
    const dirs = readdirSync(STANDINS_DIR).filter((name) => existsSync(join(STANDINS_DIR, name, 'Dockerfile')));
    assert.deepEqual(dirs.sort(), STANDINS.map((standin) => standin.dir).sort());
  });
});
