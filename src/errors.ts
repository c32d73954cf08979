/**
 * The base of raftdcs's coded errors. Every error the library reports for a condition a caller may
 * handle — wire, journal, start-up check, transport, address, utility client, configuration, data
 * model, KV/DCS, proposals — is a `RaftdcsError`: it has a stable `name` (its class's; no two
 * classes share one) and a `code`, a string constant listed next to each class (most messages
 * start with it). `cause` is the standard one (`new X(…, { cause })`).
 *
 * Not here: `RaftInvariantError` (a bug in the pure Raft core, which imports nothing from outside
 * `src/raft/core/`) and the CLI's usage and prompt errors, which only carry text to the operator.
 */
export abstract class RaftdcsError<C extends string = string> extends Error {
  /** the class's name (each subclass sets its own) */
  abstract override readonly name: string;
  /** what went wrong, as a constant callers can compare */
  readonly code: C;

  protected constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The message of an error found at a byte offset of its input: `CODE at offset N: …` (or `CODE: …`). */
export function messageAtOffset(code: string, message: string, offset: number | undefined): string {
  return offset === undefined ? `${code}: ${message}` : `${code} at offset ${offset}: ${message}`;
}
