/**
 * `Cluster`: one Patroni cluster as read from the DCS (`docs/dcs.md` §7.11) — the parsed keys
 * plus the helpers the HA loop relies on. For the MPP coordinator view, `workers` maps every other
 * group number to that group's cluster.
 *
 * Immutable; pure: no I/O, no network.
 */
import type { ClusterConfig } from './config.js';
import type { Failover } from './failover.js';
import type { TimelineHistory } from './history.js';
import type { JsonValue } from './json.js';
import { compareVersionTuples, type Leader, type Member } from './member.js';
import { patroniParseInt } from './pyint.js';
import { Status } from './status.js';
import { SyncState } from './sync-state.js';

export interface ClusterFields {
  /** `initialize` value: null when the key is absent, `""` when present and empty */
  readonly initialize: string | null;
  readonly config: ClusterConfig | null;
  readonly leader: Leader | null;
  readonly status: Status;
  readonly members: readonly Member[];
  readonly failover: Failover | null;
  readonly sync: SyncState;
  readonly history: TimelineHistory | null;
  /** the `failsafe` value as parsed JSON, whatever its type; null when absent or invalid */
  readonly failsafe: JsonValue;
  readonly workers?: ReadonlyMap<number, Cluster>;
}

const NO_WORKERS: ReadonlyMap<number, Cluster> = new Map();

export class Cluster implements ClusterFields {
  readonly initialize: string | null;
  readonly config: ClusterConfig | null;
  readonly leader: Leader | null;
  readonly status: Status;
  readonly members: readonly Member[];
  readonly failover: Failover | null;
  readonly sync: SyncState;
  readonly history: TimelineHistory | null;
  readonly failsafe: JsonValue;
  readonly workers: ReadonlyMap<number, Cluster>;

  constructor(f: ClusterFields) {
    this.initialize = f.initialize;
    this.config = f.config;
    this.leader = f.leader;
    this.status = f.status;
    this.members = Object.freeze([...f.members]);
    this.failover = f.failover;
    this.sync = f.sync;
    this.history = f.history;
    this.failsafe = f.failsafe;
    this.workers = f.workers && f.workers.size > 0 ? new Map(f.workers) : NO_WORKERS;
    Object.freeze(this);
  }

  /** The cluster of an empty DCS: nothing set, empty status and sync (sync version null). */
  static empty(): Cluster {
    return new Cluster({
      initialize: null,
      config: null,
      leader: null,
      status: Status.empty(),
      members: [],
      failover: null,
      sync: SyncState.empty(),
      history: null,
      failsafe: null,
    });
  }

  /** A copy with the given workers (the MPP coordinator view). */
  withWorkers(workers: ReadonlyMap<number, Cluster>): Cluster {
    return new Cluster({ ...this, workers });
  }

  /** True iff nothing at all is known: Python's `not cluster`. Workers make a cluster non-empty. */
  isEmpty(): boolean {
    return (
      this.initialize === null &&
      this.config === null &&
      this.leader === null &&
      this.status.isEmpty() &&
      this.members.length === 0 &&
      this.failover === null &&
      this.sync.version === null &&
      this.history === null &&
      this.failsafe === null &&
      this.workers.size === 0
    );
  }

  /** The leader's name (possibly `""`), or null without a leader key. */
  get leaderName(): string | null {
    return this.leader ? this.leader.name : null;
  }

  /** No leader key, or one whose value is `""`. */
  isUnlocked(): boolean {
    return !this.leaderName;
  }

  hasMember(name: string): boolean {
    return this.members.some((m) => m.name === name);
  }

  /** The first member with that name; else the leader (if `fallbackToLeader`) or null. */
  getMember(name: string, fallbackToLeader = true): Member | Leader | null {
    return this.members.find((m) => m.name === name) ?? (fallbackToLeader ? this.leader : null);
  }

  /** The current timeline per the `history` key: 0 without one (or when unreadable), 1 for `[]`. */
  get timeline(): number {
    return this.history ? this.history.timeline().timeline : 0;
  }

  /** The lowest Patroni version among members that report one, or null. */
  get minVersion(): readonly number[] | null {
    let min: readonly number[] | null = null;
    for (const m of this.members) {
      const v = m.patroniVersion;
      if (v && (min === null || compareVersionTuples(v, min) < 0)) min = v;
    }
    return min;
  }

  /** `status.slots` with every value through Patroni's `parse_int` (unparseable → 0). */
  get slots(): Readonly<Record<string, bigint>> {
    const out = Object.create(null) as Record<string, bigint>;
    const slots = this.status.slots;
    if (slots) for (const k of Object.keys(slots)) out[k] = patroniParseInt(slots[k]) ?? 0n;
    return Object.freeze(out);
  }
}
