/**
 * pysyncobj's utility-command reply rules (docs/protocol.md §6.1), for the runtime's handlers, and
 * the checks the transport applies to a utility request before a handler sees it.
 *
 * Reply rules (`TCPTransport._utilityCallback`): a truthy result with no error is sent as it is;
 * otherwise the reply is the `str` `'SUCCESS'` (error 0) or `'FAIL'` (any other error, None
 * included) followed by the upper-cased command word and Python `str()` of each argument, joined by
 * single spaces; a handler that raises replies `str(exception)`.
 *
 * This module must never do I/O.
 */
import { type PyValue, pyRepr, pyStr, truthy } from '../../wire/value.js';

/** pysyncobj's FAIL_REASON.SUCCESS */
export const UTILITY_SUCCESS = 0;

/** The error a utility handler reports: a FAIL_REASON code, None, or an exception (its message is sent). */
export type UtilityHandlerError = number | null | undefined | Error;

/**
 * The reply pysyncobj sends for a handler outcome `(result, error)`; an Error as `error` stands for a
 * handler that raised (the reply is `str(exception)`, i.e. its message).
 */
export function formatUtilityResult(
  command: string,
  args: readonly PyValue[],
  result: PyValue | undefined,
  error: UtilityHandlerError,
): PyValue {
  if (error instanceof Error) return error.message;
  const err = error ?? null;
  if (err === null && result !== undefined && truthy(result)) return result as PyValue;
  const word = err === UTILITY_SUCCESS ? 'SUCCESS' : 'FAIL';
  return [word, command.toUpperCase(), ...args.map((a) => pyStr(a))].join(' ');
}

export type UtilityRequestCheck =
  | { ok: true; command: string; args: readonly PyValue[] }
  | { ok: false; reply: string };

/**
 * Validate a utility request (a list received as the first message of a connection). pysyncobj
 * raises inside its tick on a non-str or unknown command (docs/protocol.md §2.4); we answer with a
 * `str` instead.
 */
export function checkUtilityRequest(
  request: readonly PyValue[],
  known: ReadonlySet<string>,
): UtilityRequestCheck {
  const [command] = request;
  if (command === undefined) return { ok: false, reply: 'invalid utility command: empty list' };
  if (typeof command !== 'string') {
    return {
      ok: false,
      reply: `invalid utility command: the first element must be a str, got ${describe(command)}`,
    };
  }
  if (!known.has(command)) return { ok: false, reply: `unknown command ${describe(command)}` };
  return { ok: true, command, args: request.slice(1) };
}

function describe(v: PyValue): string {
  const r = pyRepr(v);
  return r.length > 80 ? `${r.slice(0, 77)}...` : r;
}
