/**
 * SyncObjError — how a SyncObj proposal fails: one of pysyncobj's FAIL_REASON codes, or a reason of
 * our own (a timeout, a destroyed node, a failed apply, an outcome the node cannot know).
 *
 * It must never carry anything but the reason and its message (callers and the utility commands
 * map it back to pysyncobj's answers by `reason`).
 */
import { FAIL_REASON_NAMES, type FailReason } from './core/types.js';

/** A proposal failed with one of pysyncobj's FAIL_REASON codes. */
export class SyncObjError extends Error {
  override readonly name = 'SyncObjError';
  constructor(
    readonly reason: FailReason | 'timeout' | 'destroyed' | 'apply_error' | 'unknown_outcome',
    message?: string,
  ) {
    super(
      message ??
        (typeof reason === 'number'
          ? `command failed: ${FAIL_REASON_NAMES[reason]}`
          : `command failed: ${reason}`),
    );
  }
}
