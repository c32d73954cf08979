/**
 * Helpers for tests that drive one real SyncObj step by step: a Counter state machine, a transport
 * the test scripts (messages injected, sends recorded), a journal whose fsyncs complete when the
 * test says, and a dump codec and dump store gated the same way.
 */
import { encodeMethodCall } from '../../src/raft/commands.js';
import type { LogEntry, RaftMessage } from '../../src/raft/core/types.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import type { Journal, JournalState } from '../../src/raft/journal/types.js';
import { messageFromPy, messageToPy } from '../../src/raft/messages.js';
import { type ReplicatedCall, replicated } from '../../src/raft/replicated.js';
import { type DumpCodec, realDumpCodec } from '../../src/raft/runtime/dump-codec.js';
import type { Dump } from '../../src/raft/snapshot/dump.js';
import type { DumpStore } from '../../src/raft/snapshot/dump-store.js';
import { SyncObj } from '../../src/raft/syncobj.js';
import type { PeerId, Transport, TransportHandler } from '../../src/raft/transport/types.js';
import { decodePickle, encodePickle } from '../../src/wire/pickle/index.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';

export const FAST = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 5, // no election of its own during a test
  raftMaxTimeout: 6,
  connectionTimeout: 10,
  autoTick: false,
  appendEntriesUseBatch: false,
  dynamicMembershipChange: true,
  commandsWaitLeader: false,
};

export class Counter extends SyncObj {
  value = 0;

  @replicated({ name: 'incr' })
  incr(call: ReplicatedCall): number {
    this.value += call.args[0] as number;
    return this.value;
  }

  protected override serializeAttributes(): Map<PyDictKey, PyValue> {
    const m = super.serializeAttributes();
    m.set('value', this.value);
    return m;
  }

  protected override restoreAttributes(data: Map<PyDictKey, PyValue>): void {
    super.restoreAttributes(data);
    this.value = (data.get('value') as number | undefined) ?? 0;
  }
}

/** `incr(n)` as a log command (Counter has one replicated method: function id 0). */
export const incr = (n: number) => encodeMethodCall({ funcId: 0, args: [n], kwargs: undefined });

/** A transport the test drives: it injects messages and reads what the node sent. */
export class ScriptedTransport implements Transport {
  handler!: TransportHandler;
  readonly connected = new Set<string>();
  readonly sent: { to: string; message: RaftMessage; note: unknown }[] = [];
  /** called at each send; its value is stored with the message (e.g. the journal's durable state) */
  noteOnSend: () => unknown = () => null;

  readonly factory = (handler: TransportHandler): Transport => {
    this.handler = handler;
    return this;
  };

  async start(): Promise<void> {}
  addNode(_address: PeerId): void {}
  dropNode(_address: PeerId): void {}
  send(peer: PeerId, message: PyValue): boolean {
    return this.sendPickled(peer, encodePickle(message));
  }
  sendPickled(peer: PeerId, pickle: Uint8Array): boolean {
    if (!this.connected.has(peer)) return false;
    const message = messageFromPy(decodePickle(pickle)) as RaftMessage;
    this.sent.push({ to: peer, message, note: this.noteOnSend() });
    return true;
  }
  isConnected(peer: PeerId): boolean {
    return this.connected.has(peer);
  }
  async destroy(): Promise<void> {
    this.connected.clear();
  }

  connect(peer: string): void {
    this.connected.add(peer);
    this.handler.onPeerConnected(peer, false);
  }

  deliver(from: string, message: RaftMessage): void {
    this.handler.onMessage(from, messageToPy(message));
  }
}

/** A journal whose fsyncs complete only when `release()` is called; tracks what is durable. */
export class GatedJournal implements Journal {
  readonly durableImmediately = false;
  readonly inner = new MemoryJournal();
  /** the journal contents as of the last completed fsync */
  durable: JournalState = this.inner.snapshot();
  private waiting: { state: JournalState; resolve: () => void }[] = [];
  /** from now on every fsync completes at once (for shutting down) */
  autoRelease = false;

  open(): Promise<JournalState> {
    return this.inner.open();
  }
  writeHardState(h: Parameters<Journal['writeHardState']>[0]): void {
    this.inner.writeHardState(h);
  }
  truncateFrom(from: number): void {
    this.inner.truncateFrom(from);
  }
  append(entries: readonly LogEntry[]): void {
    this.inner.append(entries);
  }
  reset(entries: readonly LogEntry[]): void {
    this.inner.reset(entries);
  }
  compact(index: number): void {
    this.inner.compact(index);
  }
  setCommitIndex(index: number): void {
    this.inner.setCommitIndex(index);
  }
  sync(): Promise<void> {
    const state = this.inner.snapshot();
    const p = new Promise<void>((resolve) => this.waiting.push({ state, resolve }));
    if (this.autoRelease) this.release();
    return p;
  }
  /** complete every fsync requested so far */
  release(): void {
    for (const w of this.waiting.splice(0)) {
      this.durable = w.state;
      w.resolve();
    }
  }
  get pendingSyncs(): number {
    return this.waiting.length;
  }
  async close(): Promise<void> {
    this.release();
  }
}

export const lastIndexOf = (s: JournalState) => (s.entries[s.entries.length - 1] as LogEntry).index;
export const turn = () => new Promise<void>((r) => setImmediate(r));
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}
export async function until(cond: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const ae = (
  term: number,
  prevLogIdx: number,
  prevLogTerm: number,
  entries: LogEntry[],
  commitIndex: number,
): RaftMessage => ({ type: 'append_entries', term, commitIndex, prevLogIdx, prevLogTerm, entries });

/** A dump codec whose decodes complete only when the test releases them (in any order). */
export class GatedCodec implements DumpCodec {
  readonly decodes: { gz: Uint8Array; release: () => void }[] = [];

  encode(dump: Dump): Promise<Uint8Array> {
    return realDumpCodec.encode(dump);
  }

  decode(gz: Uint8Array): Promise<Dump> {
    return new Promise<Dump>((resolve, reject) => {
      this.decodes.push({
        gz,
        release: () => {
          realDumpCodec.decode(gz).then(resolve, reject);
        },
      });
    });
  }
}

/** A dump store whose writes complete only when the test releases them. */
export class GatedDumpStore implements DumpStore {
  readonly description = 'gated memory';
  gz: Uint8Array | null = null;
  readonly writes: { gz: Uint8Array; release: () => void }[] = [];
  /** complete writes at once */
  open = true;

  writeGz(gz: Uint8Array): Promise<void> {
    if (this.open) {
      this.gz = gz;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.writes.push({
        gz,
        release: () => {
          this.gz = gz;
          resolve();
        },
      });
    });
  }

  read(): Promise<Uint8Array | null> {
    return Promise.resolve(this.gz);
  }
}

/** The chunks a leader sends for the dump `gz`: the data, then the empty last chunk. */
export function snapshotChunks(term: number, commitIndex: number, gz: Uint8Array): RaftMessage[] {
  return [
    {
      type: 'append_entries_snapshot',
      term,
      commitIndex,
      serialized: { data: gz, isFirst: true, isLast: false },
    },
    {
      type: 'append_entries_snapshot',
      term,
      commitIndex,
      serialized: { data: new Uint8Array(0), isFirst: false, isLast: true },
    },
  ];
}
