import { isMap, isSeq, parseDocument } from 'yaml';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Write a file berth owns on this machine (answers, logs' companions): mode
 * 0600 from the first byte, written beside the target and renamed over it so
 * that a crash never leaves half a file.
 */
export function writePrivateFile(path: string, content: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  // A new file ('wx'), never one left behind or planted there: only a new file gets the mode given here.
  rmSync(temp, { force: true });
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkSync(temp);
    throw err;
  }
}

/**
 * Pin host keys into the answers file (hosts[].hostKey, and
 * ssh.jumpHost.hostKey for the entry named `jumpHostName`), keeping its
 * comments and layout. Returns the names of the hosts pinned.
 */
export function pinHostKeys(path: string, text: string, fingerprints: ReadonlyMap<string, string>, jumpHostName?: string): string[] {
  const doc = parseDocument(text);
  const hosts = doc.get('hosts', true);
  const pinned: string[] = [];
  if (isSeq(hosts)) hosts.items.forEach((item, i) => {
    const name = isMap(item) ? item.get('name') : undefined;
    const fp = typeof name === 'string' ? fingerprints.get(name) : undefined;
    if (fp && doc.getIn(['hosts', i, 'hostKey']) !== fp) {
      doc.setIn(['hosts', i, 'hostKey'], fp);
      pinned.push(name as string);
    }
  });
  const jump = jumpHostName ? fingerprints.get(jumpHostName) : undefined;
  if (jump && doc.hasIn(['ssh', 'jumpHost']) && doc.getIn(['ssh', 'jumpHost', 'hostKey']) !== jump) {
    doc.setIn(['ssh', 'jumpHost', 'hostKey'], jump);
    pinned.push(jumpHostName!);
  }
  // A JSON answers file stays JSON (YAML would still be read, but it is not what the user wrote).
  const json = text.trimStart().startsWith('{');
  if (pinned.length > 0) writePrivateFile(path, json ? `${JSON.stringify(doc.toJS(), null, 2)}\n` : doc.toString({ lineWidth: 0 }));
  return pinned;
}
