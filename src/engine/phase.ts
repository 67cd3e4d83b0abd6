import type { Answers, Role } from '../answers/schema';
import type { ClusterHost } from '../model';
import type { Action, Facts, FactsQuery } from './plan';

/** ClusterHost lives in src/model.ts, below the renderers that use it too. */
export type { ClusterHost } from '../model';

/** Facts every phase may use, gathered once per host when the run connects. */
export interface HostInfo {
  /** /etc/os-release ID and VERSION_ID, e.g. debian 13, ubuntu 24.04. */
  osId: string;
  osVersion: string;
  osCodename: string;
  osName: string;
  /** Debian architecture name: amd64, arm64, … */
  arch: string;
  hostname: string;
  /** Global addresses on the host's interfaces. */
  addresses: string[];
  /** The installer's address as the host sees it, and the port sshd took the connection on (from SSH_CONNECTION): behind a NAT mapping, not the port berth connected to. */
  clientAddress: string;
  sshPort: number;
  /** The user the connection is logged in as. */
  loginUser: string;
  /** PID 1's name: systemd on every supported target. */
  init: string;
  cpus: number;
  memoryMb: number;
  /** Free space on / in MB. */
  rootFreeMb: number;
}

/** What berth knows on the installer's machine that phases need, read before the run (phases stay pure). */
export interface LocalFacts {
  /** Public key lines for the admin user's authorized_keys. */
  adminKeys: string[];
  /** The app's build context, archived on this machine before the run (absent when the app is a prebuilt image). */
  appContext?: BuildContextFact;
  /** What `berth deploy` or `berth rollback` asks for (absent for an install). */
  release?: ReleaseRequest;
}

/**
 * A deploy of the answers' app (the command may have set its source), or of
 * an image a pipeline pushed to the private registry under `tag`; or a
 * rollback to an earlier image.
 */
export type ReleaseRequest = { kind: 'deploy'; tag?: string } | { kind: 'rollback'; to?: string };

/** The tag of an image already in the private registry that this run deploys, if it deploys one. */
export const pushedTag = (local: Pick<LocalFacts, 'release'>): string | undefined => (local.release?.kind === 'deploy' ? local.release.tag : undefined);

/** A build context archive on the installer machine, named by its content. */
export interface BuildContextFact {
  localPath: string;
  sha256: string;
  size: number;
}

export interface PhaseContext {
  answers: Answers;
  host: ClusterHost;
  cluster: readonly ClusterHost[];
  info: HostInfo;
  local: LocalFacts;
  /** What the phase's `peers` read from other hosts, by host name (empty when it reads none). */
  peers: Readonly<Record<string, Facts>>;
}

export type PhaseName = 'preflight' | 'admin' | 'dns-forwarder' | 'dns' | 'dns-forwarder-release' | 'docker' | 'firewall' | 'ssh' | 'registry' | 'registry-access' | 'app-image' | 'watchdog' | 'db' | 'db-roll' | 'app' | 'deploy-user' | 'app-prune' | 'registry-prune' | 'retire' | 'verify';

/**
 * Facts a phase reads from other hosts before any of its own hosts plans,
 * e.g. the registry host's CA certificate for every Docker host. The engine
 * reads them once the phases before have applied, hands them to every plan
 * as `ctx.peers`, and names them in the log and in `berth plan`.
 */
export interface PeerFacts {
  /** What is read, in a few words: "the registry's CA certificate". */
  what: string;
  from(cluster: readonly ClusterHost[], answers: Answers): ClusterHost[];
  /** The query, in the context of the peer host it is read from. */
  query(answers: Answers, peer: ClusterHost): FactsQuery;
}

/**
 * One step of the install. `query` says which facts it needs (read-only);
 * `plan` turns them into the actions the host needs, and returns [] when the
 * host already matches. `plan` may throw a HostProblem when the host cannot
 * be brought to the wanted state (e.g. an unsupported OS).
 */
export interface Phase {
  name: PhaseName;
  title: string;
  appliesTo(host: ClusterHost, answers: Answers): boolean;
  peers?: PeerFacts;
  /**
   * Where correctness needs it (a bootstrap node first, then the joiners):
   * the hosts in the order they must run, one after another, each reading its
   * facts only once the one before has applied. Absent: all at once.
   */
  sequence?(targets: readonly ClusterHost[], peers: Readonly<Record<string, Facts>>, answers: Answers): ClusterHost[];
  query(ctx: PhaseContext): FactsQuery;
  plan(ctx: PhaseContext, facts: Facts): Action[];
  /** The user the engine connects as once this phase applied (the admin phase creates it); a new connection also when that user stays but the phase changed something (its sudo rule). */
  reconnectAs?(answers: Answers): string;
}

/** A host is not in a state berth can work with; the message says what to do. */
export class HostProblem extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'HostProblem';
  }
}

export const everyHost = (): boolean => true;

export const hostsWithRole =
  (...roles: Role[]) =>
  (host: ClusterHost): boolean =>
    roles.some((r) => host.roles.includes(r));
