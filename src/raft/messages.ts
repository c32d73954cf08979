/**
 * pysyncobj's Raft messages (docs/protocol.md §7): typed messages of the core ↔ the Python dicts on
 * the wire.
 *
 * Encoding produces exactly the keys, key order and Python types pysyncobj emits (int, bool,
 * list of 3-tuples, bytes). Decoding validates every field the message type uses and throws a
 * WireError(BadMessage) on anything malformed — the caller (the driver) logs and ignores that
 * message; a Python peer would have crashed its tick thread instead (docs/protocol.md §7.1). Unknown
 * message types decode to null (ignored, as pysyncobj does).
 */
import { WireError, WireErrorCode } from '../wire/errors.js';
import { type PyDict, type PyDictKey, PyTuple, type PyValue } from '../wire/value.js';
import type {
  AppendEntries,
  AppendEntriesSnapshot,
  AppendEntriesTransmission,
  ApplyCommand,
  ApplyCommandResponse,
  LogEntry,
  NextNodeIdx,
  RaftMessage,
  RequestVote,
  SnapshotChunk,
} from './core/types.js';

function d(entries: [string, PyValue][]): PyDict {
  return new Map<PyDictKey, PyValue>(entries);
}

export function entryToPy(e: LogEntry): PyTuple {
  return new PyTuple([e.command, e.index, e.term]);
}

export function messageToPy(m: RaftMessage): PyDict {
  switch (m.type) {
    case 'request_vote':
      return requestVoteToPy(m);
    case 'response_vote':
      return d([
        ['type', 'response_vote'],
        ['term', m.term],
      ]);
    case 'append_entries':
      return appendEntriesToPy(m);
    case 'append_entries_transmission':
      return appendEntriesTransmissionToPy(m);
    case 'append_entries_snapshot':
      return appendEntriesSnapshotToPy(m);
    case 'next_node_idx':
      return nextNodeIdxToPy(m);
    case 'timeout_now':
      return d([
        ['type', 'timeout_now'],
        ['term', m.term],
      ]);
    case 'apply_command':
      return applyCommandToPy(m);
    case 'apply_command_response':
      return applyCommandResponseToPy(m);
  }
}

/** `transfer` (our extension) last, and only when set. */
function requestVoteToPy(m: RequestVote): PyDict {
  const entries: [string, PyValue][] = [
    ['type', 'request_vote'],
    ['term', m.term],
    ['last_log_index', m.lastLogIndex],
    ['last_log_term', m.lastLogTerm],
  ];
  if (m.transfer === true) entries.push(['transfer', true]);
  return d(entries);
}

function appendEntriesToPy(m: AppendEntries): PyDict {
  return d([
    ['type', 'append_entries'],
    ['term', m.term],
    ['commit_index', m.commitIndex],
    ['entries', m.entries.map(entryToPy)],
    ['prevLogIdx', m.prevLogIdx],
    ['prevLogTerm', m.prevLogTerm],
  ]);
}

function appendEntriesTransmissionToPy(m: AppendEntriesTransmission): PyDict {
  return d([
    ['type', 'append_entries'],
    ['transmission', m.transmission],
    ['data', m.data],
    ['term', m.term],
    ['commit_index', m.commitIndex],
    ['prevLogIdx', m.prevLogIdx],
    ['prevLogTerm', m.prevLogTerm],
  ]);
}

function appendEntriesSnapshotToPy(m: AppendEntriesSnapshot): PyDict {
  const chunk = m.serialized;
  return d([
    ['type', 'append_entries'],
    ['term', m.term],
    ['commit_index', m.commitIndex],
    ['serialized', chunk === null ? null : new PyTuple([chunk.data, chunk.isFirst, chunk.isLast])],
  ]);
}

/** `term` (our extension) last, and only when set. */
function nextNodeIdxToPy(m: NextNodeIdx): PyDict {
  const entries: [string, PyValue][] = [
    ['type', 'next_node_idx'],
    ['next_node_idx', m.nextNodeIdx],
    ['reset', m.reset],
    ['success', m.success],
  ];
  if (m.term !== undefined) entries.push(['term', m.term]);
  return d(entries);
}

function applyCommandToPy(m: ApplyCommand): PyDict {
  const entries: [string, PyValue][] = [
    ['type', 'apply_command'],
    ['command', m.command],
  ];
  if (m.requestId !== undefined) entries.push(['request_id', m.requestId]);
  return d(entries);
}

function applyCommandResponseToPy(m: ApplyCommandResponse): PyDict {
  return 'error' in m
    ? d([
        ['type', 'apply_command_response'],
        ['request_id', m.requestId],
        ['error', m.error],
      ])
    : d([
        ['type', 'apply_command_response'],
        ['request_id', m.requestId],
        ['log_idx', m.logIdx],
        ['log_term', m.logTerm],
      ]);
}

// ----------------------------------------------------------------------------------------------
// decoding

function bad(what: string): never {
  throw new WireError(WireErrorCode.BadMessage, what);
}

function field(m: PyDict, key: string, type: string): PyValue {
  if (!m.has(key)) bad(`${type} message lacks '${key}'`);
  return m.get(key) as PyValue;
}

/** A non-negative Python int that fits a JS number (indexes and terms). */
function intField(m: PyDict, key: string, type: string): number {
  const v = field(m, key, type);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'boolean') return v ? 1 : 0; // Python bools are ints
  return bad(`${type}.${key} must be a non-negative int, got ${describe(v)}`);
}

function boolField(m: PyDict, key: string, type: string): boolean {
  const v = field(m, key, type);
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return bad(`${type}.${key} must be a bool, got ${describe(v)}`);
}

function bytesField(m: PyDict, key: string, type: string): Uint8Array {
  const v = field(m, key, type);
  if (v instanceof Uint8Array) return v;
  // Python 2 era peers may send str; pysyncobj's unpickler fallback keeps non-ASCII as bytes
  if (typeof v === 'string' && isAscii(v)) return Buffer.from(v, 'latin1');
  return bad(`${type}.${key} must be bytes, got ${describe(v)}`);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function describe(v: PyValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return 'tuple';
  return typeof v === 'object' ? v.constructor.name : typeof v;
}

export function entryFromPy(v: PyValue): LogEntry {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (items === undefined || items.length !== 3) bad(`a log entry must be a 3-tuple, got ${describe(v)}`);
  const [command, index, term] = items as [PyValue, PyValue, PyValue];
  if (!(command instanceof Uint8Array) || command.length === 0)
    bad('a log entry command must be non-empty bytes');
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 1)
    bad('a log entry index must be an int ≥ 1');
  if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0)
    bad('a log entry term must be an int ≥ 0');
  return { command, index, term };
}

function snapshotChunkFromPy(v: PyValue): SnapshotChunk | null {
  if (v === null) return null;
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (items === undefined || items.length !== 3)
    bad(`serialized must be a 3-tuple or None, got ${describe(v)}`);
  const [data, isFirst, isLast] = items as [PyValue, PyValue, PyValue];
  if (!(data instanceof Uint8Array)) bad('serialized data must be bytes');
  if (typeof isFirst !== 'boolean' || typeof isLast !== 'boolean') bad('serialized flags must be bools');
  return { data, isFirst, isLast };
}

/** Decode a message dict; null for a dict whose type we do not know (ignored, like pysyncobj). */
export function messageFromPy(v: PyValue): RaftMessage | null {
  if (!(v instanceof Map)) bad(`a message must be a dict, got ${describe(v)}`);
  const type = v.get('type');
  if (typeof type !== 'string') bad("a message lacks a str 'type'");
  const decode = DECODERS.get(type);
  return decode === undefined ? null : decode(v);
}

type MessageDecoder = (v: PyDict) => RaftMessage;

/**
 * The decoder of each message type pysyncobj sends, and of raftdcs's `timeout_now`, by its `type`
 * key (a Map, not an object: a `type` such as 'constructor' must not find a prototype property).
 */
const DECODERS: ReadonlyMap<string, MessageDecoder> = new Map<string, MessageDecoder>([
  ['request_vote', requestVoteFromPy],
  ['response_vote', (v) => ({ type: 'response_vote', term: intField(v, 'term', 'response_vote') })],
  ['append_entries', appendEntriesFromPy],
  ['next_node_idx', nextNodeIdxFromPy],
  ['timeout_now', (v) => ({ type: 'timeout_now', term: intField(v, 'term', 'timeout_now') })],
  ['apply_command', applyCommandFromPy],
  ['apply_command_response', applyCommandResponseFromPy],
]);

function requestVoteFromPy(v: PyDict): RequestVote {
  const type = 'request_vote';
  const base = {
    type,
    term: intField(v, 'term', type),
    lastLogIndex: intField(v, 'last_log_index', type),
    lastLogTerm: intField(v, 'last_log_term', type),
  } as const;
  return v.has('transfer') && boolField(v, 'transfer', type) ? { ...base, transfer: true } : base;
}

/**
 * pysyncobj's three kinds of `append_entries`: entries (or one chunk of a big entry, with
 * `transmission`) after `prevLogIdx`, or, without `prevLogIdx`, a chunk of a full dump.
 */
function appendEntriesFromPy(v: PyDict): AppendEntries | AppendEntriesTransmission | AppendEntriesSnapshot {
  const type = 'append_entries';
  const term = intField(v, 'term', type);
  const commitIndex = intField(v, 'commit_index', type);
  if (!v.has('prevLogIdx')) {
    return {
      type: 'append_entries_snapshot',
      term,
      commitIndex,
      serialized: snapshotChunkFromPy(v.has('serialized') ? (v.get('serialized') as PyValue) : null),
    };
  }
  const prevLogIdx = intField(v, 'prevLogIdx', type);
  const prevLogTerm = intField(v, 'prevLogTerm', type);
  const transmission = v.get('transmission');
  if (transmission !== undefined && transmission !== null) {
    if (transmission !== 'start' && transmission !== 'process' && transmission !== 'finish') {
      bad(`append_entries.transmission must be start/process/finish, got ${describe(transmission)}`);
    }
    return {
      type: 'append_entries_transmission',
      term,
      commitIndex,
      prevLogIdx,
      prevLogTerm,
      transmission,
      data: bytesField(v, 'data', type),
    };
  }
  const raw = v.has('entries') ? v.get('entries') : [];
  if (!Array.isArray(raw)) bad('append_entries.entries must be a list');
  return { type, term, commitIndex, prevLogIdx, prevLogTerm, entries: (raw as PyValue[]).map(entryFromPy) };
}

function nextNodeIdxFromPy(v: PyDict): NextNodeIdx {
  const type = 'next_node_idx';
  const base = {
    type,
    nextNodeIdx: intField(v, 'next_node_idx', type),
    reset: boolField(v, 'reset', type),
    success: boolField(v, 'success', type),
  } as const;
  return v.has('term') ? { ...base, term: intField(v, 'term', type) } : base;
}

function applyCommandFromPy(v: PyDict): ApplyCommand {
  const type = 'apply_command';
  const command = bytesField(v, 'command', type);
  if (command.length === 0) bad('apply_command.command must not be empty');
  return v.has('request_id')
    ? { type, command, requestId: intField(v, 'request_id', type) }
    : { type, command };
}

function applyCommandResponseFromPy(v: PyDict): ApplyCommandResponse {
  const type = 'apply_command_response';
  const requestId = intField(v, 'request_id', type);
  const error = v.get('error');
  if (error !== undefined && error !== null) {
    if (typeof error !== 'number' || !Number.isInteger(error))
      bad('apply_command_response.error must be an int');
    return { type, requestId, error };
  }
  return {
    type,
    requestId,
    logIdx: intField(v, 'log_idx', type),
    logTerm: intField(v, 'log_term', type),
  };
}
