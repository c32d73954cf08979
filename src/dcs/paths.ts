/**
 * Where Patroni keeps a cluster's keys (`docs/dcs.md` §6): the base path from namespace and
 * scope, the cluster path (with the MPP group when MPP is enabled), the relative key names, and the
 * validation of the `citus` (MPP) configuration section.
 *
 *   base path     "/" + namespace + "/" + scope, runs of "/" collapsed   → /service/batman
 *   cluster path  base path [+ "/" + group] + "/"                          → /service/batman/1/
 *   key           cluster path + relative key (leading "/" stripped)      → /service/batman/1/leader
 *
 * Pure string functions: no I/O, no network, no KV access.
 */
import { patroniParseInt, pyInt } from './model/pyint.js';

export const DEFAULT_NAMESPACE = 'service';

/** Relative key names under a cluster path (Patroni's `_INITIALIZE`, `_CONFIG`, …). */
export const ClusterKey = {
  initialize: 'initialize',
  config: 'config',
  /** prefix of the member keys: `members/<name>` */
  members: 'members/',
  leader: 'leader',
  failover: 'failover',
  history: 'history',
  status: 'status',
  /** legacy optime key, written only while a member runs Patroni < 2.1.0 */
  leaderOptime: 'optime/leader',
  sync: 'sync',
  failsafe: 'failsafe',
} as const;
export type ClusterKey = (typeof ClusterKey)[keyof typeof ClusterKey];

/** The MPP coordinator's group number. */
export const MPP_COORDINATOR_GROUP = 0;

/** The base path: `"/" + namespace + "/" + scope` with every run of `/` collapsed into one. */
export function basePath(scope: string, namespace: string = DEFAULT_NAMESPACE): string {
  return `/${namespace}/${scope}`.replace(/\/+/g, '/');
}

/** The cluster path (Patroni's `client_path('')`): base path, the group if given, and `/`. */
export function clusterPath(base: string, group: number | null = null): string {
  return group === null ? `${base}/` : `${base}/${group}/`;
}

/** A key under a cluster path; leading `/` of the relative name are stripped. */
export function clientPath(clusterPathWithSlash: string, relative: string): string {
  return clusterPathWithSlash + relative.replace(/^\/+/, '');
}

/** The relative key of a member. */
export function memberKey(name: string): string {
  return ClusterKey.members + name;
}

/**
 * The group number of an MPP group path segment, or null when it is not a group name. Python's
 * `re.match('^(0|[1-9][0-9]*)$', s)` also accepts one trailing newline (`$` matches before it) and
 * `int()` then ignores it; we do the same so every node groups keys alike. Group numbers beyond
 * 2^53 − 1 are not accepted (they could not be map keys without loss).
 */
export function parseMppGroupName(segment: string): number | null {
  const m = /^(0|[1-9][0-9]*)\n?$/.exec(segment);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

export interface MppConfig {
  readonly group: number;
  readonly database: string;
}

export type MppValidation =
  | { readonly enabled: true; readonly config: MppConfig }
  | { readonly enabled: false; readonly reason: string };

/**
 * Validate a `citus` configuration section (Patroni 4.x): MPP is enabled when it is an object with
 * a string `database` and an integer `group`. Besides a real integer, a string that both
 * Patroni's `parse_int` and Python's `int()` accept (`"1"`, `" 2 "`) is taken as the group, as
 * 4.x's `Citus.validate_config` does; booleans, floats and other values disable MPP.
 */
export function validateMppConfig(citus: unknown): MppValidation {
  if (citus === null || typeof citus !== 'object' || Array.isArray(citus)) {
    return { enabled: false, reason: 'citus is not a mapping' };
  }
  const c = citus as Record<string, unknown>;
  const database = c['database'];
  if (typeof database !== 'string') return { enabled: false, reason: 'citus.database is not a string' };
  const g = c['group'];
  let group: bigint | null = null;
  if (typeof g === 'bigint') group = g;
  else if (typeof g === 'number' && Number.isInteger(g)) group = BigInt(g);
  else if (typeof g === 'string' && patroniParseInt(g) !== null) group = pyInt(g);
  if (group === null) return { enabled: false, reason: 'citus.group is not an integer' };
  const n = Number(group);
  if (!Number.isSafeInteger(n)) return { enabled: false, reason: 'citus.group is out of range' };
  return { enabled: true, config: { group: n, database } };
}

export interface DcsPathsOptions {
  /** default `service` */
  readonly namespace?: string;
  readonly scope: string;
  /** this node's member name */
  readonly name: string;
  /** the validated MPP configuration, or null/absent when MPP is disabled */
  readonly mpp?: MppConfig | null;
}

/** Every absolute key one Patroni node uses, Patroni's `*_path` properties. */
export class DcsPaths {
  /** `/service/batman` */
  readonly base: string;
  /** this node's cluster path: `/service/batman/` or `/service/batman/<group>/` */
  readonly cluster: string;
  /** where the MPP loader reads all groups: `/service/batman/` */
  readonly mppRoot: string;
  /** the coordinator's cluster path: `/service/batman/0/` */
  readonly coordinator: string;
  readonly name: string;
  readonly mpp: MppConfig | null;

  constructor(o: DcsPathsOptions) {
    this.base = basePath(o.scope, o.namespace ?? DEFAULT_NAMESPACE);
    this.mpp = o.mpp ?? null;
    this.cluster = clusterPath(this.base, this.mpp ? this.mpp.group : null);
    this.mppRoot = `${this.base}/`;
    this.coordinator = clusterPath(this.base, MPP_COORDINATOR_GROUP);
    this.name = o.name;
  }

  /** MPP enabled and this node is in group 0. */
  get isMppCoordinator(): boolean {
    return this.mpp !== null && this.mpp.group === MPP_COORDINATOR_GROUP;
  }

  /** Patroni's `client_path(relative)`. */
  client(relative: string): string {
    return clientPath(this.cluster, relative);
  }

  get initialize(): string {
    return this.client(ClusterKey.initialize);
  }
  get config(): string {
    return this.client(ClusterKey.config);
  }
  /** the members prefix: `…/members/` */
  get members(): string {
    return this.client(ClusterKey.members);
  }
  /** this node's member key */
  get member(): string {
    return this.client(memberKey(this.name));
  }
  get leader(): string {
    return this.client(ClusterKey.leader);
  }
  get failover(): string {
    return this.client(ClusterKey.failover);
  }
  get history(): string {
    return this.client(ClusterKey.history);
  }
  get status(): string {
    return this.client(ClusterKey.status);
  }
  get leaderOptime(): string {
    return this.client(ClusterKey.leaderOptime);
  }
  get sync(): string {
    return this.client(ClusterKey.sync);
  }
  get failsafe(): string {
    return this.client(ClusterKey.failsafe);
  }

  memberOf(name: string): string {
    return this.client(memberKey(name));
  }
}
