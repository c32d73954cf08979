/**
 * What a proposal's callback is told: pysyncobj's FAIL_REASON (`FailReason`, the codes that travel
 * in `apply_command_response`), or one of the outcomes only this node's runtime reports
 * (`RuntimeFailReason`). Those never travel on the wire; they are negative, so no pysyncobj code
 * can be mistaken for one.
 *
 * Pure: no I/O.
 */
import type { PyValue } from '../../wire/value.js';
import { FAIL_REASON_NAMES, type FailReason } from '../core/types.js';

export const RuntimeFailReason = {
  /** the node was destroyed, or stopped on a fatal error, before the proposal's outcome was known */
  Destroyed: -1,
  /** the entry was applied here but applying it threw (it still counts as applied) */
  ApplyFailed: -2,
  /**
   * whether the proposal's command was applied cannot be known here: a snapshot received from the
   * leader covered its log index before the entry reached this node, or the index was applied so
   * long before it was assigned that its result is no longer remembered (the command may or may not
   * be in the log: the caller must read the state to learn it)
   */
  UnknownOutcome: -3,
} as const;
export type RuntimeFailReason = (typeof RuntimeFailReason)[keyof typeof RuntimeFailReason];

/** The outcome a proposal's callback gets. */
export type ResultReason = FailReason | RuntimeFailReason;

/** `(result, failReason)`: the apply result with `FailReason.Success`, else `undefined`. */
export type ResultCallback = (result: PyValue | undefined, failReason: ResultReason) => void;

const RESULT_REASON_NAMES: Record<ResultReason, string> = {
  ...FAIL_REASON_NAMES,
  [RuntimeFailReason.Destroyed]: 'DESTROYED',
  [RuntimeFailReason.ApplyFailed]: 'APPLY_FAILED',
  [RuntimeFailReason.UnknownOutcome]: 'UNKNOWN_OUTCOME',
};

/** `SUCCESS`, `QUEUE_FULL`, …, `DESTROYED`, `APPLY_FAILED`, `UNKNOWN_OUTCOME`. */
export function resultReasonName(reason: ResultReason): string {
  return RESULT_REASON_NAMES[reason];
}
