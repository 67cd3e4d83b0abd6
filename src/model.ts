import type { Role } from './answers/schema';

/**
 * What berth knows about the cluster once it has talked to the hosts, shared
 * by the renderers (pure) and the engine.
 */

/** The host as the engine sees it: from the answers, completed with what the host said about itself. */
export interface ClusterHost {
  name: string;
  /** Where berth connects to. */
  address: string;
  /** Where the other hosts reach this one (privateAddress, or the host's own address on the route to the others). */
  clusterAddress: string;
  roles: Role[];
}
