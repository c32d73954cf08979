/**
 * `Failover`: the `failover` key (`docs/dcs.md` §7.5), Patroni 4.x rules:
 *
 * - `""` → all fields null;
 * - JSON: an object gives `leader`, `member` (→ `candidate`) and `scheduled_at`; any other JSON
 *   (`null`, `[]`, `"x"`, `5`) gives all fields null;
 * - not JSON → legacy `leader:candidate` (parts stripped; `candidate` null when there is no `:`);
 * - a truthy `scheduled_at` must be a date-time: naive values (no offset) are kept as naive
 *   (`PyDateTime.isNaive`), and anything unparseable — text that is not a date-time, a number —
 *   throws `ClusterParseError` naming the key and the text (Patroni's whole cluster load fails
 *   there too; ignoring it would turn a scheduled switchover into an immediate one).
 *
 * Immutable; pure: no I/O, no network.
 */

import { pyStrip } from '../../py/numbers.js';
import { type PyDateTime, parseScheduledAt } from './datetime.js';
import { ClusterParseError, ClusterParseErrorCode } from './errors.js';
import { textField } from './fields.js';
import { isJsonObject, pyJsonDumps, pyTruthy, tryParsePyJson } from './json.js';

export class Failover {
  constructor(
    /** KV index of the `failover` key */
    readonly version: number,
    /** switchover from this member (`""` possible from the legacy form) */
    readonly leader: string | null,
    /** the candidate member (`member` in the JSON) */
    readonly candidate: string | null,
    /** when to switch over; null for "now" */
    readonly scheduledAt: PyDateTime | null,
  ) {}

  /** Python `len(failover)`: how many of leader and candidate are non-empty. */
  get length(): number {
    return (this.leader ? 1 : 0) + (this.candidate ? 1 : 0);
  }

  /** Python truthiness: a leader or a candidate is named. `{}` and a bare schedule are falsy. */
  get isTruthy(): boolean {
    return this.length > 0;
  }

  /**
   * @param key the KV key (for the error message), default `failover`
   * @throws ClusterParseError when `scheduled_at` is truthy and not a date-time
   */
  static fromNode(version: number, value: string, key = 'failover'): Failover {
    if (value === '') return new Failover(version, null, null, null);
    const parsed = tryParsePyJson(value);
    if (parsed === undefined) {
      const [leader = '', member = null] = value.split(':').map(pyStrip);
      return new Failover(version, leader, member, null);
    }
    if (!isJsonObject(parsed)) return new Failover(version, null, null, null);
    const raw = parsed['scheduled_at'];
    let scheduledAt: PyDateTime | null = null;
    if (raw !== undefined && pyTruthy(raw)) {
      scheduledAt = typeof raw === 'string' ? parseScheduledAt(raw) : null;
      if (scheduledAt === null) {
        const text = typeof raw === 'string' ? raw : pyJsonDumps(raw);
        throw new ClusterParseError(
          ClusterParseErrorCode.BadScheduledAt,
          key,
          text,
          `${key}: scheduled_at is not a date-time: ${JSON.stringify(text)} (value ${value})`,
        );
      }
    }
    return new Failover(version, textField(parsed['leader']), textField(parsed['member']), scheduledAt);
  }
}
