import type { Secret } from '../answers/secret';

/**
 * Plans are data. A phase reads facts and returns the actions a host needs,
 * an empty list when it already matches; the executor runs them and `berth
 * plan` prints them. Every action says, in `effects` where needed, which
 * facts it makes true, so that applying a plan to the facts it came from can
 * be simulated and the next plan must be empty.
 */

/** Facts a phase asks for, gathered in one round trip. */
export interface FactsQuery {
  /** Files whose content, mode and owner the phase compares. */
  files?: string[];
  /** Debian packages whose installed version the phase needs. */
  packages?: string[];
  /** systemd units whose active and enabled state the phase needs. */
  units?: string[];
  /** Read-only shell snippets by name; their exit code and output are facts. */
  probes?: Record<string, string>;
  /** Requests made from the installer machine by name (what a user would see from there), not from the host. */
  installer?: Record<string, InstallerCheck>;
}

/** An HTTP(S) request from the installer machine. Certificates are always verified. */
export interface InstallerCheck {
  url: string;
  /** PEM CA to verify the server with, instead of the system's; absent: the system's CAs. */
  caPem?: string;
  /** Basic authentication; the password travels in the request header only. */
  auth?: { user: string; password: Secret };
  timeoutMs?: number;
  /** Make this many requests and collect the values of this header (e.g. X-Served-By: which replicas answered). */
  sample?: { header: string; requests: number };
}

export interface InstallerFact {
  /** The HTTP status, or 0 when no answer came (then `error` says why). */
  status: number;
  headers: Record<string, string>;
  /** The first 4 KiB of the body. */
  body: string;
  error?: string;
  /** With a sample: the distinct values of its header, sorted. */
  seen?: string[];
}

export interface FileFact {
  content: string;
  mode: number;
  owner: string;
  group: string;
}

export interface UnitFact {
  /** `systemctl is-active`: active, inactive, failed, … */
  active: string;
  /** `systemctl is-enabled`: enabled, disabled, masked, static, not-found, … */
  enabled: string;
}

export interface ProbeFact {
  code: number;
  out: string;
}

export interface Facts {
  files: Record<string, FileFact | null>;
  packages: Record<string, string | null>;
  units: Record<string, UnitFact>;
  probes: Record<string, ProbeFact>;
  installer: Record<string, InstallerFact>;
}

export interface ProbeEffect {
  probe: string;
  code: number;
  out: string;
}

export type ServiceOp = 'restart' | 'reload' | 'start' | 'stop' | 'enable' | 'enable-now' | 'disable-now' | 'daemon-reload';

/** A file as a host should have it. */
export interface FileSpec {
  path: string;
  content: string;
  mode: number;
  owner?: string;
  group?: string;
  /** The content holds a secret: plans show no diff, only that it changes. */
  sensitive?: boolean;
  /** A command (argv) that must accept the new file, its staged path appended, before it replaces the old one (e.g. visudo -cf). */
  validate?: readonly string[];
}

export type Action =
  | ({ kind: 'file' } & FileSpec)
  | { kind: 'remove'; path: string }
  | { kind: 'packages'; install: string[] }
  | { kind: 'service'; unit: string; op: ServiceOp }
  | {
      /** A large local file (an image archive, a build context), streamed and checked by its SHA-256 on the host. */
      kind: 'upload';
      localPath: string;
      remotePath: string;
      sha256: string;
      size: number;
      mode: number;
      /** What it is, in a few words. */
      title: string;
      effects?: ProbeEffect[];
    }
  | {
      /** A file written with the content another host has (e.g. the registry's CA certificate), read when the action runs. */
      kind: 'copy';
      from: { host: string; path: string };
      path: string;
      mode: number;
      /** The content as planned (the source's when the plan was made, if it existed): for simulation and diffs. */
      expected?: string;
    }
  | {
      kind: 'run';
      /** What it does, in a few words: shown in plans, progress and errors. */
      title: string;
      /** A bash script; it holds no secret (those travel in `stdin` or files). */
      script: string;
      stdin?: Secret;
      timeoutMs?: number;
      effects?: ProbeEffect[];
      /** What to do when it fails, for the error (e.g. which setting to check). */
      hint?: string;
    }
  | {
      /**
       * Waits until a request from the installer machine gets the answer a
       * user should see (e.g. 401 from the registry without a login), or
       * fails saying what it got. Planned only while the check does not pass.
       */
      kind: 'installer-check';
      title: string;
      /** The installer fact this makes true. */
      fact: string;
      check: InstallerCheck;
      expectStatus: number;
      /** With a sampled check: at least this many distinct header values. */
      expectSeen?: number;
      timeoutMs?: number;
    }
  | {
      /**
       * Changes that could lock the user out (firewall, sshd). The executor
       * schedules `revert` on the host, applies `actions`, proves that a new
       * SSH connection still works and only then cancels the revert.
       */
      kind: 'guarded';
      title: string;
      /** Saves what `revert` restores; runs before the revert is scheduled (skipped while an earlier change of the phase awaits its revert). */
      backup: string;
      actions: Action[];
      /** Runs on the host if the change is not confirmed in time; restores the previous state. */
      revert: string;
      /** What would lock the user out, for the error message. */
      risk: string;
      /** The SSH port the proof connection uses, when the change moves sshd. */
      proofPort?: number;
      /** The user the proof connection logs in as, when the change concerns another user than the one connected (e.g. the admin user's sudo rule). */
      proofUser?: string;
      /** Facts true once the change is confirmed (e.g. no revert pending any more). */
      effects?: ProbeEffect[];
    };

export function emptyFacts(): Facts {
  return { files: {}, packages: {}, units: {}, probes: {}, installer: {} };
}

/** A fact was read that the phase's query did not ask for: a planner bug, caught in every test and run. */
export class UnaskedFactError extends Error {
  constructor(kind: string, key: string) {
    super(`the plan read ${kind} "${key}", which its query did not ask for`);
    this.name = 'UnaskedFactError';
  }
}

/**
 * The facts as a planner may see them: only what the query asked for.
 * Reading anything else throws, so that a fact missing from a query cannot
 * make a plan (or a convergence test) pass by reading `undefined`.
 */
export function askedFacts(facts: Facts, query: FactsQuery): Facts {
  const only = <T>(kind: string, record: Record<string, T>, keys: readonly string[]): Record<string, T> => {
    const allowed = new Set(keys);
    return new Proxy(record, {
      get(target, key, receiver) {
        // Names every object answers to (JSON.stringify's toJSON, a Promise check's then) are not facts.
        if (typeof key === 'string' && !allowed.has(key) && !(key in Object.prototype) && key !== 'toJSON' && key !== 'then') throw new UnaskedFactError(kind, key);
        return Reflect.get(target, key, receiver);
      },
    });
  };
  return {
    files: only('file', facts.files, query.files ?? []),
    packages: only('package', facts.packages, query.packages ?? []),
    units: only('unit', facts.units, query.units ?? []),
    probes: only('probe', facts.probes, Object.keys(query.probes ?? {})),
    installer: only('installer check', facts.installer, Object.keys(query.installer ?? {})),
  };
}

function clone(facts: Facts): Facts {
  return {
    files: { ...facts.files },
    packages: { ...facts.packages },
    units: Object.fromEntries(Object.entries(facts.units).map(([k, v]) => [k, { ...v }])),
    probes: { ...facts.probes },
    installer: { ...facts.installer },
  };
}

/** The facts as they will be after the actions ran: the basis of the "second plan is empty" check. */
export function simulate(facts: Facts, actions: readonly Action[]): Facts {
  const next = clone(facts);
  for (const action of actions) {
    switch (action.kind) {
      case 'file':
        next.files[action.path] = { content: action.content, mode: action.mode, owner: action.owner ?? 'root', group: action.group ?? action.owner ?? 'root' };
        break;
      case 'remove':
        next.files[action.path] = null;
        break;
      case 'packages':
        for (const p of action.install) next.packages[p] = next.packages[p] ?? 'installed';
        break;
      case 'service': {
        const unit = (next.units[action.unit] ??= { active: 'inactive', enabled: 'disabled' });
        if (action.op === 'enable' || action.op === 'enable-now') unit.enabled = 'enabled';
        if (action.op === 'disable-now') unit.enabled = 'disabled';
        if (['restart', 'reload', 'start', 'enable-now'].includes(action.op)) unit.active = 'active';
        if (action.op === 'stop' || action.op === 'disable-now') unit.active = 'inactive';
        break;
      }
      case 'run':
      case 'upload':
        for (const e of action.effects ?? []) next.probes[e.probe] = { code: e.code, out: e.out };
        break;
      case 'copy':
        next.files[action.path] = { content: action.expected ?? '', mode: action.mode, owner: 'root', group: 'root' };
        break;
      case 'installer-check':
        next.installer[action.fact] = { status: action.expectStatus, headers: {}, body: '', ...(action.expectSeen ? { seen: Array.from({ length: action.expectSeen }, (_, i) => `seen-${i + 1}`) } : {}) };
        break;
      case 'guarded':
        Object.assign(next, simulate(next, action.actions));
        for (const e of action.effects ?? []) next.probes[e.probe] = { code: e.code, out: e.out };
        break;
    }
  }
  return next;
}

/** A short line per action, for plans, progress and the journal. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'file':
      return `write ${action.path} (mode ${action.mode.toString(8).padStart(4, '0')}${action.owner ? `, ${action.owner}` : ''})`;
    case 'remove':
      return `remove ${action.path}`;
    case 'packages':
      return `install packages: ${action.install.join(' ')}`;
    case 'service':
      return `${action.op} ${action.unit}`;
    case 'run':
      return action.title;
    case 'upload':
      return `upload ${action.title} to ${action.remotePath} (${(action.size / 1e6).toFixed(1)} MB, sha256 ${action.sha256.slice(0, 12)})`;
    case 'installer-check':
      return `check from this machine: ${action.title}`;
    case 'copy':
      return `write ${action.path} (mode ${action.mode.toString(8).padStart(4, '0')}) with the content of ${action.from.host}:${action.from.path}`;
    case 'guarded':
      return `${action.title} (reverted automatically unless a new SSH login works)`;
  }
}
