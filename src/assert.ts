/**
 * `assert(cond, message)`: a condition the code relies on, checked. When it does not hold raftdcs
 * has a bug (bad input gets its module's own coded error, never this one), and carrying on would
 * act on a state that cannot be: it throws an `InvariantError` (code `INVARIANT_VIOLATED`) instead.
 *
 * Not for `src/raft/core/`, which imports nothing from outside it: the core's `invariant()`
 * (`src/raft/core/invariant.ts`) throws `RaftInvariantError` the same way.
 *
 * On a hot path pass a constant message, or a function that builds it: a template literal
 * argument is built on every call, true or not.
 */
import { RaftdcsError } from './errors.js';

/** A condition raftdcs relies on does not hold (a bug in raftdcs). */
export class InvariantError extends RaftdcsError<'INVARIANT_VIOLATED'> {
  override readonly name = 'InvariantError';
  constructor(message: string) {
    super('INVARIANT_VIOLATED', `INVARIANT_VIOLATED: ${message}`);
  }
}

export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new InvariantError(typeof message === 'string' ? message : message());
}
