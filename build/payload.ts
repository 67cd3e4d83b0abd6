import { closeSync, openSync, writeSync } from 'node:fs';

/** A file of `megabytes` MB for upload benchmarks: each 1 MB block numbered, so that no two blocks are alike. */
export function writePayload(file: string, megabytes: number): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(1_000_000);
  for (let i = 0; i < megabytes; i++) {
    block.fill(i % 251).writeUInt32BE(i, 0);
    writeSync(fd, block);
  }
  closeSync(fd);
}
