import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256OfFile } from '../../src/ssh/file-hash';

describe('SHA-256 of a file on a worker thread', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'berth-hash-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('hashes the first size bytes, an empty range too, and reports an unreadable file', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 'berth');
    writeFileSync(join(dir, 'data'), data);
    const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    assert.equal(await sha256OfFile(join(dir, 'data'), data.length), sha256(data));
    assert.equal(await sha256OfFile(join(dir, 'data'), 1000), sha256(data.subarray(0, 1000)));
    assert.equal(await sha256OfFile(join(dir, 'data'), 0), sha256(Buffer.alloc(0)));
    await assert.rejects(sha256OfFile(join(dir, 'missing'), 10), /ENOENT/);
  });
});
