import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_RECIPE, baseImageTag, findDebootstrap } from '../../src/sandbox/base-image';
import { contextHash, readContext } from '../../src/sandbox/images';
import { hubRepository } from '../../src/sandbox/mirror';

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
    assert.throws(() => hubRepository('nginx'), /not an official image name/);
    assert.throws(() => hubRepository('someone/app:1'), /not an official image name/);
  });
});
