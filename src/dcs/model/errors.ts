/**
 * Errors raised while building the Patroni data model from KV values. Building a cluster fails only
 * where Patroni's own load fails and carrying on would be unsafe (a `failover.scheduled_at` that is
 * not a date-time: ignoring it would turn a scheduled switchover into an immediate one).
 *
 * Pure: no I/O, no network.
 */
import { RaftdcsError } from '../../errors.js';

export const ClusterParseErrorCode = {
  /** `failover.scheduled_at` is present and truthy but not a date-time */
  BadScheduledAt: 'BAD_SCHEDULED_AT',
} as const;
export type ClusterParseErrorCode = (typeof ClusterParseErrorCode)[keyof typeof ClusterParseErrorCode];

export class ClusterParseError extends RaftdcsError<ClusterParseErrorCode> {
  override readonly name = 'ClusterParseError';
  constructor(
    code: ClusterParseErrorCode,
    /** the KV key whose value is bad (absolute when the loader knows the path, else relative) */
    readonly key: string,
    /** the offending text (for a non-string value: its JSON form) */
    readonly text: string,
    message: string,
  ) {
    super(code, message);
  }
}
