/**
 * The utility commands raftdcs nodes serve beyond pysyncobj's and Patroni's (docs/admin.md,
 * "Backups"): their names, arguments and replies, as Python values on the utility protocol.
 *
 * - `['status', 'raftdcs_features']` — the feature probe. pysyncobj's `status` ignores its
 *   arguments, so every node answers it with its status dict; a raftdcs node adds the key
 *   `raftdcs_features`, the list of these commands it serves. A client asks this first: a
 *   pysyncobj/Patroni node must never be sent a command it does not know (Patroni's Raft thread
 *   dies on one, docs/admin.md).
 * - `['snapshot']` — a dump of the node's state at its applied index (gzip of the pickle, as its
 *   `.dump` file holds it), with its index, term and membership, a SHA-256 of the dump, and its
 *   first chunk of at most SNAPSHOT_CHUNK_BYTES.
 * - `['snapshot_chunk', id, offset]` — the dump's bytes from `offset` (the rest of a large dump;
 *   the node keeps a snapshot for SNAPSHOT_HOLD_MS after its last use).
 * - `['compact']` — compact the log now; replies with the dump's index and the log's length.
 *
 * A failure is a `str` reply starting with `FAIL <COMMAND>` (pysyncobj's style). Chunks keep every
 * reply frame near 1 MiB, far below the 64 MiB frame limit (`maxFrameBytes`), whatever the size
 * of the state: the node compresses each reply frame on its event loop, so small frames also keep
 * the heartbeats on time.
 *
 * Pure: no I/O.
 */
import { RaftdcsError } from '../../errors.js';
import { isDict, type PyDictKey, type PyValue, pyRepr } from '../../wire/value.js';

export const FEATURES_ARGUMENT = 'raftdcs_features';
export const FEATURES_KEY = 'raftdcs_features';
export const SNAPSHOT_COMMAND = 'snapshot';
export const SNAPSHOT_CHUNK_COMMAND = 'snapshot_chunk';
export const COMPACT_COMMAND = 'compact';
/** The commands of this module (the transport accepts them on utility connections). */
export const RAFTDCS_UTILITY_COMMANDS: readonly string[] = Object.freeze([
  SNAPSHOT_COMMAND,
  SNAPSHOT_CHUNK_COMMAND,
  COMPACT_COMMAND,
]);
/** Bytes of the dump per reply. */
export const SNAPSHOT_CHUNK_BYTES = 1 << 20;
/** How long a node keeps a snapshot after its last chunk was asked for. */
export const SNAPSHOT_HOLD_MS = 60_000;

/** A reply that is not what the command answers (a `FAIL …` text, or another shape). */
export class SnapshotProtocolError extends RaftdcsError<'SNAPSHOT_BAD_REPLY'> {
  override readonly name = 'SnapshotProtocolError';
  constructor(message: string) {
    super('SNAPSHOT_BAD_REPLY', message);
  }
}

/** What `snapshot` describes (everything but the bytes). */
export interface SnapshotOffer {
  /** names the snapshot in `snapshot_chunk` requests */
  readonly id: string;
  /** the answering node's address */
  readonly node: string;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly prevIndex: number;
  readonly prevTerm: number;
  /** the voting members as of lastIndex (the dump's cluster) */
  readonly cluster: readonly string[];
  /** the node's current term and commit index when the snapshot was taken */
  readonly raftTerm: number;
  readonly commitIndex: number;
  /** bytes of the dump */
  readonly size: number;
  /** SHA-256 of the dump, hex */
  readonly sha256: string;
}

/** Some bytes of a snapshot's dump. */
export interface SnapshotChunk {
  readonly id: string;
  readonly offset: number;
  readonly data: Uint8Array;
}

/** What `compact` did (the driver's CompactionOutcome). */
export interface CompactionReport {
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** null: a dump at lastIndex was stored already */
  readonly dumpBytes: number | null;
  readonly logLength: number;
}

/** `FAIL <COMMAND>: <reason>` — the reply for a command that could not be served. */
export function failReply(command: string, reason: string): string {
  return `FAIL ${command.toUpperCase()}: ${reason}`;
}

function field(d: Map<PyDictKey, PyValue>, key: string, what: string): PyValue {
  if (!d.has(key)) throw new SnapshotProtocolError(`${what}: no '${key}'`);
  return d.get(key) as PyValue;
}

function intField(d: Map<PyDictKey, PyValue>, key: string, what: string): number {
  const v = field(d, key, what);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new SnapshotProtocolError(`${what}: '${key}' is not a non-negative int: ${pyRepr(v)}`);
  }
  return v;
}

function strField(d: Map<PyDictKey, PyValue>, key: string, what: string): string {
  const v = field(d, key, what);
  if (typeof v !== 'string') throw new SnapshotProtocolError(`${what}: '${key}' is not a str: ${pyRepr(v)}`);
  return v;
}

function bytesField(d: Map<PyDictKey, PyValue>, key: string, what: string): Uint8Array {
  const v = field(d, key, what);
  if (!(v instanceof Uint8Array)) throw new SnapshotProtocolError(`${what}: '${key}' is not bytes`);
  return v;
}

function dictOf(v: PyValue, what: string): Map<PyDictKey, PyValue> {
  if (typeof v === 'string')
    throw new SnapshotProtocolError(`${what}: the node replied ${JSON.stringify(v)}`);
  if (!isDict(v)) throw new SnapshotProtocolError(`${what}: expected a dict, got ${shortRepr(v)}`);
  return v;
}

function shortRepr(v: PyValue): string {
  const r = pyRepr(v);
  return r.length > 80 ? `${r.slice(0, 77)}...` : r;
}

/** The `snapshot` reply: the offer and its first chunk. */
export function offerToPy(offer: SnapshotOffer, first: Uint8Array): Map<PyDictKey, PyValue> {
  return new Map<PyDictKey, PyValue>([
    ['id', offer.id],
    ['node', offer.node],
    ['last_index', offer.lastIndex],
    ['last_term', offer.lastTerm],
    ['prev_index', offer.prevIndex],
    ['prev_term', offer.prevTerm],
    ['cluster', [...offer.cluster]],
    ['raft_term', offer.raftTerm],
    ['commit_idx', offer.commitIndex],
    ['size', offer.size],
    ['sha256', offer.sha256],
    ['offset', 0],
    ['data', first],
  ]);
}

/** Parse a `snapshot` reply; SnapshotProtocolError when it is not one (a `FAIL …` text included). */
export function offerFromPy(v: PyValue): { offer: SnapshotOffer; first: SnapshotChunk } {
  const what = 'the snapshot reply';
  const d = dictOf(v, what);
  const clusterValue = field(d, 'cluster', what);
  if (!Array.isArray(clusterValue) || clusterValue.some((n) => typeof n !== 'string')) {
    throw new SnapshotProtocolError(`${what}: 'cluster' is not a list of str`);
  }
  const sha256 = strField(d, 'sha256', what);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new SnapshotProtocolError(`${what}: 'sha256' is not a SHA-256`);
  const offer: SnapshotOffer = {
    id: strField(d, 'id', what),
    node: strField(d, 'node', what),
    lastIndex: intField(d, 'last_index', what),
    lastTerm: intField(d, 'last_term', what),
    prevIndex: intField(d, 'prev_index', what),
    prevTerm: intField(d, 'prev_term', what),
    cluster: clusterValue as string[],
    raftTerm: intField(d, 'raft_term', what),
    commitIndex: intField(d, 'commit_idx', what),
    size: intField(d, 'size', what),
    sha256,
  };
  const first = { id: offer.id, offset: intField(d, 'offset', what), data: bytesField(d, 'data', what) };
  return { offer, first };
}

export function chunkToPy(chunk: SnapshotChunk): Map<PyDictKey, PyValue> {
  return new Map<PyDictKey, PyValue>([
    ['id', chunk.id],
    ['offset', chunk.offset],
    ['data', chunk.data],
  ]);
}

export function chunkFromPy(v: PyValue): SnapshotChunk {
  const what = 'the snapshot_chunk reply';
  const d = dictOf(v, what);
  return {
    id: strField(d, 'id', what),
    offset: intField(d, 'offset', what),
    data: bytesField(d, 'data', what),
  };
}

export function compactionToPy(r: CompactionReport): Map<PyDictKey, PyValue> {
  return new Map<PyDictKey, PyValue>([
    ['last_index', r.lastIndex],
    ['last_term', r.lastTerm],
    ['dump_bytes', r.dumpBytes],
    ['log_len', r.logLength],
  ]);
}

export function compactionFromPy(v: PyValue): CompactionReport {
  const what = 'the compact reply';
  const d = dictOf(v, what);
  const bytes = field(d, 'dump_bytes', what);
  if (bytes !== null && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes))) {
    throw new SnapshotProtocolError(`${what}: 'dump_bytes' is neither an int nor None`);
  }
  return {
    lastIndex: intField(d, 'last_index', what),
    lastTerm: intField(d, 'last_term', what),
    dumpBytes: bytes,
    logLength: intField(d, 'log_len', what),
  };
}

/** The commands a `status` reply to the feature probe lists; null when it lists none (not a raftdcs node, or an older one). */
export function featuresFromStatus(v: PyValue): string[] | null {
  if (!isDict(v)) return null;
  const list = v.get(FEATURES_KEY);
  if (!Array.isArray(list)) return null;
  return list.filter((x): x is string => typeof x === 'string');
}
