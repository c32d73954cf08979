/**
 * Full dumps in pysyncobj's format (docs/protocol.md §9.2): gzip of the protocol-2 pickle of the 4-tuple
 * `(data, lastEntry, prevEntry, cluster)` — `data` the state machine's attributes, the entries as
 * `(command, idx, term)` tuples, `cluster` a Python set of `pysyncobj.node.TCPNode`.
 *
 * Encoding is incremental: large dicts and lists are written in batches of 1,000 items (each
 * item pickled on its own and spliced in — a loader does not need memo entries to be shared), so
 * the caller can yield to the event loop between chunks and compress them off the main thread.
 * Decoding accepts any dump Python writes. Never does file I/O itself.
 */

import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { WireError, WireErrorCode } from '../../wire/errors.js';
import { decodePickle, encodePickle } from '../../wire/pickle/index.js';
import { nodeId, type PyDictKey, PyObject, PySet, PyTuple, type PyValue, tcpNode } from '../../wire/value.js';
import type { LogEntry, NodeId } from '../core/types.js';
import { entryFromPy, entryToPy } from '../messages.js';

const gunzipAsync = promisify(gunzip);

const PROTO2 = Buffer.from([0x80, 0x02]);
const MARK = 0x28;
const TUPLE = 0x74;
const EMPTY_DICT = 0x7d;
const EMPTY_LIST = 0x5d;
const APPEND = 0x61;
const APPENDS = 0x65;
const SETITEM = 0x73;
const STOP = 0x2e;
const BATCH = 1000;

export interface Dump {
  /** the state machine's attributes (a dict; with consumers a list `[self, consumer1, …]`) */
  readonly data: PyValue;
  readonly lastEntry: LogEntry;
  readonly prevEntry: LogEntry;
  /** every voting node including the one that wrote the dump */
  readonly cluster: readonly NodeId[];
}

/** The items of a dict pickled as a body that sets them on the dict on top of the stack. */
function dictItems(sub: Map<PyDictKey, PyValue>): Buffer {
  const p = encodePickle(sub);
  // PROTO 2 (2 bytes), EMPTY_DICT, BINPUT 0 (2 bytes) … STOP
  if (p[2] !== EMPTY_DICT || p[3] !== 0x71 || p[4] !== 0x00) {
    throw new Error('dump encoding: unexpected dict header');
  }
  return p.subarray(5, p.length - 1);
}

/** The pickle body of one value (without PROTO and STOP). */
function body(v: PyValue): Buffer {
  const p = encodePickle(v);
  return p.subarray(2, p.length - 1);
}

/**
 * Whether `v` holds a dict or list of more than BATCH items (itself or nested a few levels down):
 * pickled in one call it would make one chunk of the whole state — the KVStoreTTL's 100,000 keys
 * sit in `{'_SyncObj__enabledCodeVersion': 0, '_KVStoreTTL__data': {…}}`, and with consumers the
 * state is a list of such dicts.
 */
function holdsLarge(v: PyValue, depth = 0): boolean {
  if (v instanceof Map) {
    if (v.size > BATCH) return true;
    if (depth < 4) for (const x of v.values()) if (holdsLarge(x, depth + 1)) return true;
    return false;
  }
  if (Array.isArray(v)) {
    if (v.length > BATCH) return true;
    if (depth < 4) for (const x of v) if (holdsLarge(x, depth + 1)) return true;
  }
  return false;
}

function* encodeValue(v: PyValue): Generator<Buffer> {
  if (v instanceof Map && v.size <= BATCH && holdsLarge(v)) {
    // a small dict around a large value: set its items one by one (key, value chunks, SETITEM)
    yield Buffer.of(EMPTY_DICT);
    for (const [k, x] of v) {
      yield body(k);
      yield* encodeValue(x);
      yield Buffer.of(SETITEM);
    }
    return;
  }
  if (Array.isArray(v) && v.length <= BATCH && holdsLarge(v)) {
    yield Buffer.of(EMPTY_LIST);
    for (const x of v) {
      yield* encodeValue(x);
      yield Buffer.of(APPEND);
    }
    return;
  }
  if (v instanceof Map && v.size > BATCH) {
    yield Buffer.of(EMPTY_DICT);
    // each batch of items is pickled as a dict of its own, then spliced in without its dict
    // header: the MARK … SETITEMS body sets the items on the dict already on the stack
    let sub = new Map<PyDictKey, PyValue>();
    for (const [k, x] of v) {
      sub.set(k, x);
      if (sub.size === BATCH) {
        yield dictItems(sub);
        sub = new Map();
      }
    }
    if (sub.size > 0) yield dictItems(sub);
    return;
  }
  if (Array.isArray(v) && v.length > BATCH) {
    yield Buffer.of(EMPTY_LIST);
    for (let i = 0; i < v.length; i += BATCH) {
      const parts: Buffer[] = [Buffer.of(MARK)];
      for (const x of v.slice(i, i + BATCH)) for (const part of encodeValue(x)) parts.push(part);
      parts.push(Buffer.of(APPENDS));
      yield Buffer.concat(parts);
    }
    return;
  }
  yield body(v);
}

/**
 * The dump's pickle as a sequence of chunks (concatenated: one valid protocol-2 pickle). Iterate
 * it lazily to spread the work over several event-loop turns.
 */
export function* encodeDumpChunks(dump: Dump): Generator<Buffer> {
  yield Buffer.concat([PROTO2, Buffer.of(MARK)]);
  yield* encodeValue(dump.data);
  yield body(entryToPy(dump.lastEntry));
  yield body(entryToPy(dump.prevEntry));
  yield body(new PySet(dump.cluster.map((n) => tcpNode(n))));
  yield Buffer.of(TUPLE, STOP);
}

export function encodeDumpPickle(dump: Dump): Buffer {
  return Buffer.concat([...encodeDumpChunks(dump)]);
}

function bad(msg: string): never {
  throw new WireError(WireErrorCode.BadMessage, `not a pysyncobj dump: ${msg}`);
}

/** Decode a dump's pickle (after gunzip). */
export function decodeDumpPickle(pickle: Uint8Array): Dump {
  const v = decodePickle(pickle, { maxExpandedSize: 500_000_000, maxDepth: 1000 });
  if (!(v instanceof PyTuple) || v.items.length !== 4) bad('expected a 4-tuple');
  const [data, last, prev, cluster] = v.items as [PyValue, PyValue, PyValue, PyValue];
  const lastEntry = entryFromPy(last);
  const prevEntry = entryFromPy(prev);
  const items =
    cluster instanceof PySet ? cluster.items : Array.isArray(cluster) ? cluster : bad('cluster is not a set');
  const nodes: NodeId[] = [];
  for (const n of items) {
    const id = n instanceof PyObject ? nodeId(n) : typeof n === 'string' ? n : undefined;
    if (id === undefined) bad('cluster holds something that is not a node');
    nodes.push(id);
  }
  return { data, lastEntry, prevEntry, cluster: nodes };
}

/** gunzip + decode (async: the inflate runs off the main thread). */
export async function decodeDump(gz: Uint8Array): Promise<Dump> {
  let pickle: Buffer;
  try {
    pickle = await gunzipAsync(gz);
  } catch (e) {
    throw new WireError(WireErrorCode.BadZlib, `dump is not gzip: ${(e as Error).message}`);
  }
  return decodeDumpPickle(pickle);
}
