import { createHash } from 'node:crypto';
import type { Action, Facts, FileFact, FileSpec } from '../engine/plan';
import { shq } from '../shell';

/**
 * Building blocks phases share: comparing wanted files with the host's, and
 * "apply this configuration" that survives an interruption between writing
 * a file and reloading the service that reads it.
 */

export type WantedFile = FileSpec;

export function fileMatches(fact: FileFact | null | undefined, wanted: WantedFile): boolean {
  return (
    fact !== null &&
    fact !== undefined &&
    fact.content === wanted.content &&
    fact.mode === wanted.mode &&
    fact.owner === (wanted.owner ?? 'root') &&
    fact.group === (wanted.group ?? wanted.owner ?? 'root')
  );
}

/** File actions for the wanted files that differ from the host's. */
export function fileActions(facts: Facts, files: readonly WantedFile[]): Action[] {
  return files.filter((f) => !fileMatches(facts.files[f.path], f)).map((f) => ({ kind: 'file', ...f }));
}

export function markerPath(name: string): string {
  return `/var/lib/berth/applied/${name}`;
}

/**
 * What a service (e.g. a Compose project) was started with, for services whose
 * files hold what berth must not see again (secrets, the host's certificate):
 * a hash of the files made on the host, and a marker holding it once the
 * start finished, so that a run stopped between a change and the restart is
 * finished by the next.
 */
export const startedWith = {
  /** The hash of the files as they are now. */
  digest: (paths: readonly string[]): string => `cat ${paths.map((p) => shq(p)).join(' ')} 2>/dev/null | sha256sum | cut -d' ' -f1`,
  /** A probe printing yes when the marker holds that hash. */
  probe: (marker: string, paths: readonly string[]): string => `[ "$(cat ${shq(markerPath(marker))} 2>/dev/null)" = "$(${startedWith.digest(paths)})" ] && echo yes`,
  /** The command that records it, last in the script that started the service. */
  record: (marker: string, paths: readonly string[]): string => `install -d -m 0700 /var/lib/berth/applied && ${startedWith.digest(paths)} > ${shq(markerPath(marker))}`,
};

/**
 * A record of what berth wrote on a host, for a later run to take away what
 * the answers no longer ask for: read from the facts (null when there is
 * none, or it cannot be read: nothing is known to be berth's), and written
 * as a root-only file.
 */
export const record = {
  read: <T>(facts: Facts, path: string): Partial<T> | null => {
    try {
      const value = JSON.parse(facts.files[path]?.content ?? 'null') as unknown;
      return typeof value === 'object' && value !== null ? (value as Partial<T>) : null;
    } catch {
      return null;
    }
  },
  file: (path: string, value: object): WantedFile => ({ path, content: `${JSON.stringify(value, null, 2)}\n`, mode: 0o600 }),
};

/** A fingerprint of the configuration a service was last (re)started with. */
export function configDigest(files: readonly WantedFile[], extra = ''): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.path}\0${f.mode}\0${f.content}\0`);
  hash.update(extra);
  return `${hash.digest('hex')}\n`;
}

/**
 * Write configuration files and apply them: the `apply` actions (restart,
 * reload, load rules…) run when a file changed, or when the marker shows
 * the service never took the current configuration (a run stopped between
 * writing and reloading). The marker is written last.
 */
export function configuredService(facts: Facts, marker: string, files: readonly WantedFile[], apply: readonly Action[]): Action[] {
  const digest = configDigest(files);
  const markerFile = markerPath(marker);
  const changed = fileActions(facts, files);
  if (changed.length === 0 && facts.files[markerFile]?.content === digest) return [];
  return [...changed, ...apply, { kind: 'file', path: markerFile, content: digest, mode: 0o600 }];
}

/** Files a configuredService phase must ask for. */
export function configuredServiceFiles(marker: string, files: readonly WantedFile[]): string[] {
  return [...files.map((f) => f.path), markerPath(marker)];
}

export interface PackagedService {
  /** Names the marker of the configuration the service last (re)started with. */
  marker: string;
  files: readonly WantedFile[];
  packages: readonly string[];
  /** The systemd unit, and the package that brings it. */
  unit: string;
  unitPackage: string;
}

/**
 * Configuration first, then the packages that read it, then the service:
 * on a fresh host the package starts the service with berth's configuration
 * the first time; where it was installed before, the service restarts only
 * when its configuration changed or never took (configuredService), after a
 * daemon-reload when unit drop-ins are among the files. It ends enabled and
 * running either way.
 */
export function packagedService(facts: Facts, service: PackagedService): Action[] {
  const missing = service.packages.filter((p) => !facts.packages[p]);
  const install: Action[] = missing.length > 0 ? [{ kind: 'packages', install: missing }] : [];
  const fresh = !facts.packages[service.unitPackage];
  const reload: Action[] = service.files.some((f) => f.path.startsWith('/etc/systemd/')) ? [{ kind: 'service', unit: service.unit, op: 'daemon-reload' }] : [];
  const restart: Action[] = fresh ? [] : [...reload, { kind: 'service', unit: service.unit, op: 'restart' }];
  const configured = configuredService(facts, service.marker, service.files, [...install, ...restart]);
  const actions = configured.length > 0 ? configured : install;
  const unit = facts.units[service.unit];
  if (unit.enabled !== 'enabled' || (unit.active !== 'active' && !actions.some((a) => a.kind === 'service' && a.op === 'restart'))) {
    actions.push({ kind: 'service', unit: service.unit, op: 'enable-now' });
  }
  return actions;
}

