import { binaryPath, packageBerth, type Arch } from '../../build/package';

/** One build per test process: later calls get the binary the first call made. */
const ready = new Map<Arch, Promise<string>>();

/**
 * Builds the packaged executables for `arches` unless they are up to date with
 * their sources (see build/package.ts), and resolves to their paths. Packaging
 * takes 15-40 s when something changed: give the calling hook a long timeout.
 */
export function ensureBinaries(arches: readonly Arch[]): Promise<string[]> {
  const missing = arches.filter((arch) => !ready.has(arch));
  if (missing.length > 0) {
    const build = packageBerth({ arches: missing, log: (line) => process.stderr.write(`      (packaging) ${line}\n`) });
    for (const arch of missing) ready.set(arch, build.then(() => binaryPath(arch)));
  }
  return Promise.all(arches.map((arch) => ready.get(arch) as Promise<string>));
}

/** build/out/berth-linux-x64, built first when missing or older than its sources. */
export async function ensureBinary(): Promise<string> {
  const [x64] = await ensureBinaries(['x64']);
  return x64;
}
