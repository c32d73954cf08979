/**
 * Log commands (docs/protocol.md §8): the type byte and pickled payload of REGULAR (replicated
 * method calls), NO_OP, MEMBERSHIP and VERSION entries — encoding for proposals, decoding for apply
 * and for the core's membership tracking. Decoding never throws anything but WireError.
 */
import { WireError, WireErrorCode } from '../wire/errors.js';
import { decodePickle, encodePickle } from '../wire/pickle/index.js';
import { type PyDict, PyObject, PyTuple, type PyValue, tcpNode } from '../wire/value.js';
import { CommandType, type LogEntry, type MembershipChange } from './core/types.js';
import { entryFromPy } from './messages.js';

/**
 * The type byte followed by the pickle of `value`, in one buffer: log commands are kept for as long
 * as the log holds them, so no short-lived copy is allocated next to them in the Buffer pool.
 */
function withType(type: CommandType, value: PyValue): Uint8Array {
  return encodePickle(value, { prefix: type });
}

// ----------------------------------------------------------------------------------------------
// REGULAR

export interface MethodCall {
  readonly funcId: number;
  readonly args: readonly PyValue[];
  /** keyword arguments in call order; undefined = none given (a 2-tuple or a bare id) */
  readonly kwargs: PyDict | undefined;
}

/**
 * Encode a replicated method call as pysyncobj does: the bare id when there are neither args nor
 * kwargs, `(id, args)` without kwargs, `(id, args, kwargs)` with them (an empty dict still counts,
 * see `cmd_set_sync_kw_only`).
 */
export function encodeMethodCall(call: MethodCall): Uint8Array {
  let value: PyValue;
  if (call.kwargs !== undefined) value = new PyTuple([call.funcId, new PyTuple(call.args), call.kwargs]);
  else if (call.args.length > 0) value = new PyTuple([call.funcId, new PyTuple(call.args)]);
  else value = call.funcId;
  return withType(CommandType.Regular, value);
}

export function decodeMethodCall(command: Uint8Array): MethodCall {
  if (command[0] !== CommandType.Regular) {
    throw new WireError(WireErrorCode.BadMessage, `not a REGULAR command (type ${command[0]})`);
  }
  const v = decodePickle(command.subarray(1));
  if (typeof v === 'number') return { funcId: v, args: [], kwargs: undefined };
  if (!(v instanceof PyTuple) || v.items.length < 2 || v.items.length > 3) {
    throw new WireError(WireErrorCode.BadMessage, 'a REGULAR command must be an int or a 2-/3-tuple');
  }
  const [funcId, args, kwargs] = v.items as [PyValue, PyValue, PyValue | undefined];
  if (typeof funcId !== 'number' || !Number.isSafeInteger(funcId)) {
    throw new WireError(WireErrorCode.BadMessage, 'a REGULAR command needs an int function id');
  }
  const argList = args instanceof PyTuple ? args.items : Array.isArray(args) ? args : undefined;
  if (argList === undefined)
    throw new WireError(WireErrorCode.BadMessage, 'REGULAR command args must be a tuple');
  if (kwargs !== undefined && !(kwargs instanceof Map)) {
    throw new WireError(WireErrorCode.BadMessage, 'REGULAR command kwargs must be a dict');
  }
  return { funcId, args: argList, kwargs };
}

// ----------------------------------------------------------------------------------------------
// MEMBERSHIP

/**
 * `['add', id, TCPNode]` (the full form pysyncobj emits; Python needs all four TCPNode state keys).
 */
export function encodeMembership(change: MembershipChange): Uint8Array {
  return withType(CommandType.Membership, [change.op, change.node, tcpNode(change.node)]);
}

/** Decode `['add'|'rem', id]` or `['add'|'rem', id, node]`; null when it is not a valid change. */
export function decodeMembership(command: Uint8Array): MembershipChange | null {
  if (command[0] !== CommandType.Membership) return null;
  let v: PyValue;
  try {
    v = decodePickle(command.subarray(1));
  } catch {
    return null;
  }
  const items = Array.isArray(v) ? v : v instanceof PyTuple ? v.items : undefined;
  if (items === undefined || items.length < 2) return null;
  const [op, id, node] = items as [PyValue, PyValue, PyValue | undefined];
  if (op !== 'add' && op !== 'rem') return null;
  // like pysyncobj, the node object (when present) is what identifies the node
  if (node instanceof PyObject) {
    const nid = node.state.get('_id');
    if (typeof nid === 'string') return { op, node: nid };
  }
  if (typeof node === 'string') return { op, node };
  if (typeof id === 'string') return { op, node: id };
  return null;
}

// ----------------------------------------------------------------------------------------------
// VERSION

export function encodeVersion(version: number): Uint8Array {
  return withType(CommandType.Version, version);
}

export function decodeVersion(command: Uint8Array): number {
  const v = decodePickle(command.subarray(1));
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new WireError(WireErrorCode.BadMessage, 'a VERSION command must hold a non-negative int');
  }
  return v;
}

// ----------------------------------------------------------------------------------------------
// big-entry transmission (follower side)

/** Decode a reassembled transmission buffer: the pickle of `(command, idx, term)`. */
export function decodeTransmittedEntry(data: Uint8Array): LogEntry {
  return entryFromPy(decodePickle(data));
}
