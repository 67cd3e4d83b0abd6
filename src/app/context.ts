import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, createReadStream, createWriteStream, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Headers, type Pack } from 'tar-stream';
import { assetPath } from '../assets';
import { BadInputError, ioReason } from '../errors';
import { matchIgnore, mayReinclude, parseDockerignore, type IgnoreRule } from './dockerignore';

/**
 * The Docker build context of the app: a tar of its directory, built so that
 * the same tree always gives the same bytes (sorted, mtimes 0, owners 0, modes
 * reduced to 0644/0755). Its sha256 names the image, so a rebuild happens
 * exactly when the app changed.
 */

/** The answers setting the directory comes from, named in every message. */
const FIELD = 'app.path';
const EPOCH = new Date(0);
/** Docker sends these whatever .dockerignore says: the build needs them. */
const ALWAYS_SENT = new Set(['Dockerfile', '.dockerignore']);

export interface ContextArchive {
  /** Hex sha256 of the archive's bytes. */
  sha256: string;
  /** Bytes written to the archive. */
  size: number;
  /** Regular files and symlinks in the archive (directories not counted). */
  files: number;
}

/** The bundled demo app (assets/app). */
export function demoAppDir(): string {
  return assetPath('app');
}

/**
 * The demo app's build context. Inside the packaged binary assets/ is a
 * virtual file system that readFileSync and readdirSync read but open() does
 * not, and whose file modes are not the checkout's: the tree is first copied
 * to `workDir` as plain files with mode 0644, so that berth from a checkout
 * and from the binary archive the same bytes (and name the same image).
 */
export async function demoAppContext(workDir: string, outFile: string): Promise<ContextArchive> {
  const copy = join(workDir, 'demo-app');
  const walk = (from: string, to: string) => {
    mkdirSync(to, { recursive: true, mode: 0o755 });
    for (const name of readdirSync(from).sort()) {
      const source = join(from, name);
      if (lstatSync(source).isDirectory()) walk(source, join(to, name));
      else writeFileSync(join(to, name), readFileSync(source), { mode: 0o644 });
    }
  };
  walk(demoAppDir(), copy);
  return buildContext(copy, outFile);
}

/** The image tag for a context: the first 12 hex characters of its sha256, as Docker shortens ids. */
export function contextTag(sha256: string): string {
  return sha256.slice(0, 12);
}


/** Why `dir` cannot be built as an app (missing, not a directory, no Dockerfile at its top), or null. */
export function appDirectoryProblem(dir: string): string | null {
  let stat: Stats;
  try {
    stat = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${dir} does not exist`;
    return `${dir} cannot be read (${ioReason(err)})`;
  }
  if (!stat.isDirectory()) return `${dir} is not a directory`;
  const dockerfile = join(dir, 'Dockerfile');
  try {
    if (!lstatSync(dockerfile).isFile()) return `${dockerfile} is not a regular file; berth builds the image from it`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${dir} has no Dockerfile at its top; berth builds the image from ${dockerfile}`;
    return `${dockerfile} cannot be read (${ioReason(err)})`;
  }
  return null;
}

interface Entry {
  /** Slash-separated, relative to the context. */
  name: string;
  full: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  linkname?: string;
}

const KINDS: [(s: Stats) => boolean, string][] = [
  [(s) => s.isSocket(), 'a socket'],
  [(s) => s.isFIFO(), 'a named pipe (FIFO)'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
];

/**
 * Every entry the archive will hold, in order (names sorted in each
 * directory, a directory before its contents), and every path that cannot go
 * in: all problems are found before a byte is written.
 */
function collect(root: string, rules: readonly IgnoreRule[]): { entries: Entry[]; problems: string[] } {
  const entries: Entry[] = [];
  const problems: string[] = [];
  // Excluded directories walked into for a `!` rule; emitted only if something inside is kept.
  const pending: Entry[] = [];
  const emit = (entry: Entry) => {
    entries.push(...pending.splice(0), entry);
  };

  const walk = (rel: string, parentMatched: boolean[] | undefined) => {
    const full = rel ? join(root, rel) : root;
    let names: string[];
    try {
      names = readdirSync(full);
    } catch (err) {
      problems.push(`${full}: cannot be read (${ioReason(err)})`);
      return;
    }
    for (const name of names.sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const fullPath = join(root, path);
      let stat: Stats;
      try {
        stat = lstatSync(fullPath);
      } catch (err) {
        problems.push(`${fullPath}: cannot be read (${ioReason(err)})`);
        continue;
      }
      const match = matchIgnore(rules, path, parentMatched);
      const excluded = match.excluded && !(rel === '' && ALWAYS_SENT.has(name));
      if (stat.isDirectory()) {
        const entry: Entry = { name: `${path}/`, full: fullPath, type: 'directory', mode: 0o755, size: 0 };
        if (!excluded) {
          emit(entry);
          walk(path, match.matched);
        } else if (mayReinclude(rules, path)) {
          pending.push(entry);
          walk(path, match.matched);
          if (pending[pending.length - 1] === entry) pending.pop();
        }
        continue;
      }
      if (excluded) continue;
      if (stat.isSymbolicLink()) {
        let linkname: string;
        try {
          linkname = readlinkSync(fullPath);
        } catch (err) {
          problems.push(`${fullPath}: cannot be read (${ioReason(err)})`);
          continue;
        }
        // Kept as a link, wherever it points: Docker never follows links in a context.
        emit({ name: path, full: fullPath, type: 'symlink', mode: 0o777, size: 0, linkname });
      } else if (stat.isFile()) {
        try {
          closeSync(openSync(fullPath, 'r'));
        } catch (err) {
          problems.push(`${fullPath}: cannot be read (${ioReason(err)})`);
          continue;
        }
        // Hard links are stored as plain copies: simpler, and the image gets the same content.
        emit({ name: path, full: fullPath, type: 'file', mode: stat.mode & 0o111 ? 0o755 : 0o644, size: stat.size });
      } else {
        const kind = KINDS.find(([is]) => is(stat))?.[1] ?? 'not a file, directory or symlink';
        problems.push(`${fullPath}: is ${kind}, which cannot go in a build context; list it in .dockerignore`);
      }
    }
  };
  walk('', undefined);
  return { entries, problems };
}

function readRules(root: string): { rules: IgnoreRule[]; problems: string[] } {
  const file = join(root, '.dockerignore');
  let text: string;
  try {
    if (!lstatSync(file).isFile()) return { rules: [], problems: [`${file}: is not a regular file`] };
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { rules: [], problems: [] };
    return { rules: [], problems: [`${file}: cannot be read (${ioReason(err)})`] };
  }
  const parsed = parseDockerignore(text);
  return { rules: parsed.rules, problems: parsed.problems.map((p) => `${file} ${p}`) };
}

function addEntry(pack: Pack, entry: Entry): Promise<void> {
  const header: Headers = { name: entry.name, type: entry.type, mode: entry.mode, size: entry.size, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '', linkname: entry.linkname };
  return new Promise<void>((resolveEntry, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolveEntry()));
    // The callback above reports the entry's failure; streamx would also emit it, unheard.
    sink.on('error', () => undefined);
    if (entry.type !== 'file') return;
    (async () => {
      for await (const chunk of createReadStream(entry.full)) {
        if (!sink.write(chunk)) await once(sink, 'drain');
      }
      sink.end();
    })().catch((err: unknown) => {
      sink.destroy(err as Error);
      reject(err);
    });
  }).catch((err: unknown) => {
    const reason = err instanceof Error && err.message === 'Size mismatch' ? 'it changed while berth was reading it' : `cannot be read (${ioReason(err)})`;
    throw new BadInputError(`${FIELD}: ${entry.full}: ${reason}`, [], 'Run the command again once the app directory is settled.');
  });
}

/**
 * Write the build context of `dir` to `outFile` (which must lie outside
 * `dir`) and return its sha256. `.dockerignore` is honoured as Docker does;
 * the Dockerfile and .dockerignore are always sent. Paths that cannot go in
 * (unreadable files, sockets, FIFOs, devices) are refused together, before
 * anything is written, as bad input naming app.path.
 */
export async function buildContext(dir: string, outFile: string): Promise<ContextArchive> {
  const root = resolve(dir);
  const fromRoot = relative(root, resolve(outFile));
  const outside = fromRoot === '..' || fromRoot.startsWith(`..${sep}`) || isAbsolute(fromRoot);
  if (!outside) throw new Error(`the context archive ${outFile} must be written outside ${root}`);
  const problem = appDirectoryProblem(root);
  if (problem) throw new BadInputError(`${FIELD}: ${problem}`, [], 'Set app.path to the directory that holds your app and its Dockerfile.');
  const ignore = readRules(root);
  const { entries, problems } = collect(root, ignore.rules);
  problems.unshift(...ignore.problems);
  if (problems.length > 0) {
    throw new BadInputError(
      `${FIELD}: ${root} cannot be sent as a build context (${problems.length} problem${problems.length === 1 ? '' : 's'})`,
      problems,
      'Fix the permissions or remove these paths, or list them in .dockerignore so that berth leaves them out.',
    );
  }

  const hash = createHash('sha256');
  let size = 0;
  const pack = tarPack();
  const out = createWriteStream(outFile);
  // A failure to write is berth's, not the app's: it must not be reported as an unreadable app file.
  let writeError: Error | undefined;
  out.on('error', (err) => (writeError ??= err));
  const written = pipeline(
    pack,
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    }),
    out,
  );
  // Awaited below; this only keeps an early failure from counting as unhandled.
  written.catch(() => undefined);
  try {
    for (const entry of entries) await addEntry(pack, entry);
    pack.finalize();
    await written;
  } catch (err) {
    pack.destroy();
    await written.catch(() => undefined);
    rmSync(outFile, { force: true });
    throw writeError ?? err;
  }
  return { sha256: hash.digest('hex'), size, files: entries.filter((e) => e.type !== 'directory').length };
}
