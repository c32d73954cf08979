/**
 * SyncObjError — how a SyncObj proposal fails: one of pysyncobj's FAIL_REASON codes, or a reason of
 * our own (a timeout, a destroyed node, a failed apply, an outcome the node cannot know).
 *
 * It must never carry anything but the reason and its message (callers and the utility commands
 * map it back to pysyncobj's answers by `reason`).
 */
import { RaftdcsError } from '../errors.js';
import { FAIL_REASON_NAMES, type FailReason } from './core/types.js';

/**
 * Why a proposal failed: one of pysyncobj's FAIL_REASON codes, or one of raftdcs's own outcomes
 * (the call's timeout ran out; the node was destroyed; applying the command threw; whether the
 * command was applied cannot be known here). A leadership transfer (`transferLeadership`) fails
 * with `transfer_refused` (it did not start: nothing changed) or `transfer_failed` (it started and
 * the target did not take over: abandoned, another node won, or no new leader within the time).
 */
export type SyncObjErrorReason =
  | FailReason
  | 'timeout'
  | 'destroyed'
  | 'apply_error'
  | 'unknown_outcome'
  | 'transfer_refused'
  | 'transfer_failed';

/**
 * A proposal failed. `reason` says why; `code` is its name in capitals (`MISSING_LEADER`,
 * `TIMEOUT`, `UNKNOWN_OUTCOME`, …).
 */
export class SyncObjError extends RaftdcsError<string> {
  override readonly name = 'SyncObjError';
  constructor(
    readonly reason: SyncObjErrorReason,
    message?: string,
  ) {
    const code = typeof reason === 'number' ? FAIL_REASON_NAMES[reason] : reason.toUpperCase();
    super(
      code,
      message ??
        (typeof reason === 'number'
          ? `command failed: ${FAIL_REASON_NAMES[reason]}`
          : `command failed: ${reason}`),
    );
  }
}

export const UNKNOWN_OUTCOME_MESSAGE =
  'command failed: unknown_outcome (a snapshot or a lost result hides whether the command was applied)';
