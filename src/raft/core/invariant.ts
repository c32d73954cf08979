/**
 * The pure core's invariant check: `invariant(cond, message)` throws a `RaftInvariantError` when a
 * condition the Raft algorithm relies on does not hold — a bug, never a peer's bad message (those
 * are ignored or reported as anomalies). The core imports nothing from outside `src/raft/core/`,
 * so this is its own twin of `assert` in `src/assert.ts`, and `RaftInvariantError` is a plain
 * `Error` rather than a coded `RaftdcsError` (docs/architecture.md, "Invariants").
 *
 * On a hot path pass a constant message, or a function that builds it: a template literal
 * argument is built on every call, true or not.
 */

export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
}

export function invariant(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
