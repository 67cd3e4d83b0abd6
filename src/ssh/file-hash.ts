import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * SHA-256 of a file computed on a worker thread. ssh2 encrypts on the main
 * thread and is what limits a large upload; hashing beside it there would
 * take a fifth of that thread's time. The worker reads the file on its own
 * (from the page cache, as the upload reads it too), so a file that changes
 * during the upload shows as a mismatch on the host.
 */

// Plain JavaScript source, so that it runs the same from tsx, dist/ and the packaged binary.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { createReadStream } = require('node:fs');
const hash = createHash('sha256');
createReadStream(workerData.path, { highWaterMark: 1 << 20, start: 0, end: workerData.size - 1 })
  .on('data', (chunk) => hash.update(chunk))
  .on('error', (error) => parentPort.postMessage({ error: error.message }))
  .on('end', () => parentPort.postMessage({ sha256: hash.digest('hex') }));
`;

/** The SHA-256 (hex) of the first `size` bytes of `path`. */
export function sha256OfFile(path: string, size: number): Promise<string> {
  if (size === 0) return Promise.resolve(createHash('sha256').digest('hex'));
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, size } });
    worker.once('message', (message: { sha256?: string; error?: string }) => {
      void worker.terminate();
      if (message.sha256) resolve(message.sha256);
      else reject(new Error(message.error ?? 'hashing failed'));
    });
    worker.once('error', reject);
  });
}
