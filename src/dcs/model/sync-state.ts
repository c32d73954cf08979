/**
 * `SyncState`: the `sync` key (synchronous / quorum replication state), Patroni 4.x rules
 * (`docs/dcs.md` §7.6):
 *
 * - key absent → version null, empty; `""`, invalid JSON or non-object JSON → empty with the key's
 *   version;
 * - object: `leader`, `sync_standby`, and `quorum` = Python `int()` of `quorum` when both leader and
 *   quorum are truthy, else 0; if that conversion fails the whole state is empty (version kept);
 * - matching is case-insensitive; `isEmpty` = leader falsy (`""` counts as empty).
 *
 * Immutable; pure: no I/O, no network.
 */

import { pyStrip } from '../../py/numbers.js';
import { textField } from './fields.js';
import { isJsonObject, type JsonObject, pyTruthy, tryParsePyJson } from './json.js';
import { pyInt } from './pyint.js';

function strToList(value: string): string[] {
  return value
    .split(',')
    .map(pyStrip)
    .filter((s) => s !== '');
}

export class SyncState {
  constructor(
    /** KV index of the `sync` key; null when the key is absent */
    readonly version: number | null,
    readonly leader: string | null,
    /** comma-separated standby names as stored */
    readonly syncStandby: string | null,
    readonly quorum: number,
  ) {}

  static empty(version: number | null = null): SyncState {
    return new SyncState(version, null, null, 0);
  }

  /**
   * @param value the key's value (or an already parsed object, as `write_sync_state` passes the
   *   dict it wrote), or null when the key is absent (then `version` should be null)
   */
  static fromNode(version: number | null, value: string | JsonObject | null): SyncState {
    if (!value) return SyncState.empty(version);
    const parsed = typeof value === 'string' ? tryParsePyJson(value) : value;
    if (!isJsonObject(parsed)) return SyncState.empty(version);
    const leaderRaw = parsed['leader'];
    const quorumRaw = parsed['quorum'];
    let quorum = 0;
    if (pyTruthy(leaderRaw) && pyTruthy(quorumRaw)) {
      const q = pyInt(quorumRaw);
      if (q === null) return SyncState.empty(version);
      quorum = Number(q);
    }
    return new SyncState(version, textField(leaderRaw), textField(parsed['sync_standby']), quorum);
  }

  /** No (truthy) leader: the key is absent or unusable. */
  get isEmpty(): boolean {
    return !this.leader;
  }

  /** `syncStandby` split on `,`, trimmed, empties dropped; `[]` when empty. */
  get voters(): string[] {
    return !this.isEmpty && this.syncStandby ? strToList(this.syncStandby) : [];
  }

  /** `[leader, ...voters]`, or `[]` when empty. */
  get members(): string[] {
    return this.leader ? [this.leader, ...this.voters] : [];
  }

  /** Case-insensitive: is `name` among the voters (and the leader, with `checkLeader`)? */
  matches(name: string | null | undefined, checkLeader = false): boolean {
    if (!name || this.isEmpty) return false;
    const search = (this.syncStandby ?? '') + (checkLeader ? `,${this.leader ?? ''}` : '');
    return strToList(search.toLowerCase()).includes(name.toLowerCase());
  }

  /** Case-insensitive equality with the leader. */
  leaderMatches(name: string | null | undefined): boolean {
    return Boolean(name && !this.isEmpty && name.toLowerCase() === (this.leader ?? '').toLowerCase());
  }
}
